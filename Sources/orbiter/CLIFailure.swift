import ArgumentParser
import OrbiterQueue
import OrbiterRedis

/// The one path from an error to an exit status. Commands throw; `Orbiter.main` prints the
/// message and exits with the status, so no command prints and exits on its own.
///
/// Statuses: 1 the work failed (a run, a task, a missing task, a full queue), 2 usage, script or
/// connection errors. Errors thrown by the libraries are mapped by `CLIFailure(error)`.
struct CLIFailure: Error {
    /// Printed on stderr as it is (commands write `orbiter: …` or `path:line: …`); `nil`: say nothing.
    var message: String?
    var exitCode: ExitCode

    /// The run or task failed (status 1).
    static func failed(_ message: String? = nil) -> CLIFailure { CLIFailure(message: message, exitCode: Exit.failed) }
    /// Usage, script or connection error (status 2).
    static func usage(_ message: String?) -> CLIFailure { CLIFailure(message: message, exitCode: Exit.usage) }

    init(message: String?, exitCode: ExitCode) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A library error as the CLI reports it: `orbiter: <error>`, status 1 for a task that does not
    /// exist or a full queue (the request was fine, the answer is no), else 2.
    init(_ error: any Error) {
        if let failure = error as? CLIFailure {
            self = failure
            return
        }
        if let denied = PermissionDenied.message(for: error) {
            self.init(message: denied, exitCode: Exit.usage)
            return
        }
        let failed: Bool
        switch error {
        case DistributedError.taskNotFound, DistributedError.queueFull, DistributedError.notAcknowledged: failed = true
        default: failed = false
        }
        self.init(message: "orbiter: \(error)", exitCode: failed ? Exit.failed : Exit.usage)
    }
}
