import OrbiterCore

/// Errors of the distributed layer, each written for the person who has to act on it.
public enum DistributedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A task id, queue name or option is malformed.
    case invalidArgument(String)
    /// No task with this id (it never existed or its TTL expired).
    case taskNotFound(String)
    /// The task ended `failed`: "Task <id> failed: <error>", as the original says.
    case taskFailed(id: String, error: String)
    /// The task was cancelled.
    case taskCancelled(String)
    /// Waiting for a result took longer than the caller allowed.
    case waitTimedOut(id: String, seconds: Double)
    /// A payload could not be read (corrupt, unknown version, missing bundle).
    case badPayload(String)
    /// The queue holds its `maxPending` tasks already; the submit stored nothing.
    case queueFull(queue: String, message: String)

    public var description: String {
        switch self {
        case .invalidArgument(let m): return m
        case .taskNotFound(let id): return "task \(id) not found (it never existed, or its results expired)"
        case .taskFailed(let id, let error): return "Task \(id) failed: \(error)"
        case .taskCancelled(let id): return "Task \(id) was cancelled"
        case .waitTimedOut(let id, let s): return "timed out after \(s) s waiting for task \(id)"
        case .badPayload(let m): return "bad task payload: \(m)"
        case .queueFull(let queue, let m): return "queue '\(queue)' is full: \(m)"
        }
    }
}
