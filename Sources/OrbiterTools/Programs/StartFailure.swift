import Foundation
import Subprocess

/// Why swift-subprocess could not start a program, as the cause a person reads.
enum StartFailure {
    static func cause(_ error: SubprocessError, program: String, workingDirectory: String?) -> ProgramRunError.Cause {
        let errno = error.underlyingError?.rawValue
        switch error.code {
        case .executableNotFound where program.contains("/"):
            // swift-subprocess says "not found" for a path too: tell a missing file from a mode.
            return FileManager.default.fileExists(atPath: program) ? .notExecutable(program: program) : .doesNotExist(program: program)
        case .executableNotFound:
            return .notFound(program: program)
        case .failedToChangeWorkingDirectory:
            let directory = workingDirectory ?? ""
            if errno == ENOTDIR { return .notADirectory(directory) }
            if errno == ENOENT || errno == nil { return .noWorkingDirectory(directory) }
            return .cannotStart(program: program, reason: "working directory '\(directory)': \(String(cString: strerror(errno!)))")
        case .spawnFailed where errno == ENOENT:
            return program.contains("/") ? .doesNotExist(program: program) : .notFound(program: program)
        case .spawnFailed where errno == EACCES || errno == ENOEXEC:
            return .notExecutable(program: program)
        default:
            return .cannotStart(program: program, reason: error.description)
        }
    }
}
