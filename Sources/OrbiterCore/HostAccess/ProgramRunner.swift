/// A program a trusted tool runs (`orbiter.exec`).
public struct ProgramRequest: Sendable {
    /// The program (looked up on PATH when it has no `/`) and its arguments.
    public var arguments: [String]
    public var workingDirectory: String?
    /// Added to (or replacing) the host's environment for this program.
    public var environment: [String: String]
    public var standardInput: [UInt8]?
    /// The program is killed (its whole process group) when this passes.
    public var timeout: Duration
    /// Output kept per stream; the rest is dropped and the result says so.
    public var maxOutputBytes: Int

    public init(arguments: [String], workingDirectory: String? = nil, environment: [String: String] = [:],
                standardInput: [UInt8]? = nil, timeout: Duration = .seconds(60), maxOutputBytes: Int = 10 << 20) {
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.standardInput = standardInput
        self.timeout = timeout
        self.maxOutputBytes = maxOutputBytes
    }
}

/// How a program ended.
public struct ProgramResult: Sendable {
    /// The exit code, or 128 + the signal number when a signal ended it (as shells report it).
    public var code: Int
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]
    /// Whether output beyond `maxOutputBytes` was dropped.
    public var truncated: Bool

    public init(code: Int, standardOutput: [UInt8], standardError: [UInt8], truncated: Bool = false) {
        self.code = code
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.truncated = truncated
    }
}

/// Runs programs for trusted code without blocking a thread. Cancelling the calling task, or the
/// timeout, kills the program and everything it started.
public protocol ProgramRunner: Sendable {
    /// Throws when the program cannot be started (not found, not executable, bad directory) or
    /// its timeout passes; a program that runs and fails returns its code.
    func run(_ request: ProgramRequest) async throws -> ProgramResult
}
