import Foundation

/// Runs the built `orbiter` binary as a separate process, the way a user would.
public enum OrbiterBinary {
    /// `.build/<config>/orbiter`, next to the test bundle (or `ORBITER_BIN`).
    public static var path: String {
        if let env = ProcessInfo.processInfo.environment["ORBITER_BIN"] { return env }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var dir = testBinary.deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("orbiter").path
    }

    /// The repository root (for `examples/`).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// What a finished process left.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `orbiter args...` to the end, feeding `stdin`, with extra environment variables.
    public static func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:],
                           timeout: Duration = .seconds(60)) async throws -> Outcome {
        let process = try start(args, environment: environment, stdin: stdin)
        return try await process.finish(timeout: timeout)
    }

    /// Runs `bash -c command` in the repository root with `$ORBITER` set to the binary (for pipes,
    /// raw bytes and terminals: `script -qec "$ORBITER run …" /dev/null`).
    public static func shell(_ command: String, environment: [String: String] = [:]) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = repositoryRoot
        var env = ProcessInfo.processInfo.environment
        env["ORBITER"] = path
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts `orbiter args...` in the background; call `finish` or `terminate` on the result.
    public static func start(_ args: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> Running {
        let (running, input) = try launch(args, environment: environment)
        if let stdin { input.write(Data(stdin.utf8)) }
        try? input.close()
        return running
    }

    /// Starts the binary in the repository root with extra environment variables; returns the
    /// running process and the write end of its stdin (still open). `through` runs it under another
    /// program (whose arguments then come first and name the binary).
    static func launch(_ args: [String], environment: [String: String], through wrapper: String? = nil) throws -> (Running, FileHandle) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper ?? path)
        process.arguments = args
        process.currentDirectoryURL = repositoryRoot
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        let running = Running(process: process, out: out, err: err)
        try process.run()
        return (running, input.fileHandleForWriting)
    }

    /// A started process whose output is collected as it comes.
    public final class Running: @unchecked Sendable {
        public let process: Process
        private let lock = NSLock()
        private var outData = Data()
        private var errData = Data()
        private let out: Pipe
        private let err: Pipe

        init(process: Process, out: Pipe, err: Pipe) {
            self.process = process
            self.out = out
            self.err = err
            out.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                guard let self else { return }
                self.lock.lock(); self.outData.append(d); self.lock.unlock()
            }
            err.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                guard let self else { return }
                self.lock.lock(); self.errData.append(d); self.lock.unlock()
            }
        }

        /// Output so far.
        public var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outData, as: UTF8.self) }
        public var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errData, as: UTF8.self) }

        /// Waits until `condition` holds for the output so far (polling every 20 ms), or fails after `timeout`.
        public func waitFor(timeout: Duration = .seconds(20), _ condition: (String, String) -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            while !condition(stdout, stderr) {
                guard ContinuousClock.now < deadline else {
                    throw TestFailure("timed out waiting; stdout: \(stdout)\nstderr: \(stderr)")
                }
                guard process.isRunning || condition(stdout, stderr) else {
                    throw TestFailure("process exited (\(process.terminationStatus)) before the condition held; stdout: \(stdout)\nstderr: \(stderr)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        /// Sends a signal (e.g. SIGTERM, SIGKILL).
        public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

        /// Waits for the exit, killing the process after `timeout`.
        public func finish(timeout: Duration = .seconds(60)) async throws -> Outcome {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning {
                if ContinuousClock.now > deadline {
                    process.terminate()
                    throw TestFailure("orbiter did not exit within \(timeout); stdout: \(stdout)\nstderr: \(stderr)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            // Stop the handlers, let one under way finish, then read what is left: a process that
            // wrote megabytes just before exiting has most of them still in the pipe.
            out.fileHandleForReading.readabilityHandler = nil
            err.fileHandleForReading.readabilityHandler = nil
            try await Task.sleep(for: .milliseconds(30))
            let restOut = out.fileHandleForReading.readDataToEndOfFile(), restErr = err.fileHandleForReading.readDataToEndOfFile()
            lock.withLock { outData.append(restOut); errData.append(restErr) }
            return Outcome(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        }
    }
}

/// A test failure with a message (for helpers that throw).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The private Redis started by scripts/test.sh.
public enum TestRedis {
    /// `ORBITER_TEST_REDIS_URL`; a clear failure when the tests were started without scripts/test.sh.
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["ORBITER_TEST_REDIS_URL"], !url.isEmpty else {
            throw TestFailure("ORBITER_TEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts a private redis-server")
        }
        return url
    }
}
