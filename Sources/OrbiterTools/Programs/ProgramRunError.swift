/// Why a program could not run to its end: `orbiter.exec: program 'nosuchprog' not found on PATH`.
/// A program that runs and fails is not an error: its result carries the code.
public struct ProgramRunError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        case noProgram
        case notFound(program: String)
        case doesNotExist(program: String)
        case notExecutable(program: String)
        case noWorkingDirectory(String)
        case notADirectory(String)
        /// The timeout passed; the program and everything it started were killed.
        case timedOut(Duration)
        case cannotStart(program: String, reason: String)
    }

    public var cause: Cause

    public init(_ cause: Cause) {
        self.cause = cause
    }

    public var description: String {
        let why: String
        switch cause {
        case .noProgram: why = "no program given"
        case .notFound(let program): why = "program '\(program)' not found on PATH"
        case .doesNotExist(let program): why = "program '\(program)' does not exist"
        case .notExecutable(let program): why = "program '\(program)' is not executable"
        case .noWorkingDirectory(let path): why = "working directory '\(path)' does not exist"
        case .notADirectory(let path): why = "working directory '\(path)' is not a directory"
        case .timedOut(let timeout): why = "timed out after \(timeout.secondsText) s (killed)"
        case .cannotStart(let program, let reason): why = "cannot start '\(program)': \(reason)"
        }
        return "orbiter.exec: \(why)"
    }
}
