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
    /// The idempotency key was given before (within the task TTL) for other work: another agent,
    /// script or input. Nothing was stored.
    case idempotencyConflict(key: String, taskID: String)
    /// Another live worker holds this worker id (its heartbeat is fresh); the worker did not start.
    case workerIDInUse(workerID: String, queue: String, detail: String)
    /// A reply (approve, reject, answer) to a task that is not waiting for one; nothing changed.
    case notWaitingForInput(id: String, status: TaskStatus)
    /// A reply that does not fit what the task waits for (approve for a question, an answer for an
    /// approval); nothing changed.
    case replyDoesNotFit(id: String, waitsFor: InputRequest.Kind)
    /// A write (`what`: submit, finish, park) was made on the Redis master but the acknowledgement
    /// asked for by `--durability` did not come: the write MAY survive or MAY be lost in a failover.
    case notAcknowledged(taskID: String, what: String, detail: String)
    /// The server cannot give the durability asked for (e.g. `aof` before Redis 7.2).
    case durabilityUnsupported(String)

    public var description: String {
        switch self {
        case .invalidArgument(let m): return m
        case .taskNotFound(let id): return "task \(id) not found (it never existed, or its results expired)"
        case .taskFailed(let id, let error): return "Task \(id) failed: \(error)"
        case .taskCancelled(let id): return "Task \(id) was cancelled"
        case .waitTimedOut(let id, let s): return "timed out after \(s) s waiting for task \(id)"
        case .badPayload(let m): return "bad task payload: \(m)"
        case .queueFull(let queue, let m): return "queue '\(queue)' is full: \(m)"
        case .idempotencyConflict(let key, let id):
            return "idempotency key '\(key)' was already used for task \(id) with a different agent or input; "
                + "use a new key for new work (the same agent and input with this key return that task)"
        case .notWaitingForInput(let id, let status):
            return "task \(id) is not waiting for input (it is \(status.rawValue)); nothing changed"
        case .replyDoesNotFit(let id, .approval):
            return "task \(id) waits for the approval of a tool call, not an answer: orbiter task approve \(id), "
                + "or orbiter task reject \(id) --reason TEXT; nothing changed"
        case .replyDoesNotFit(let id, .question):
            return "task \(id) waits for the answer to a question, not an approval: orbiter task reply \(id) TEXT, "
                + "or orbiter task reject \(id); nothing changed"
        case .notAcknowledged(let id, "submit", let detail):
            return "task \(id) was written but its durability was not acknowledged: \(detail). The task MAY still exist "
                + "(and run) or MAY be lost in a failover: check with `orbiter task status \(id)` before submitting again "
                + "(an --idempotency-key makes a second submit safe)"
        case .notAcknowledged(let id, let what, let detail):
            return "task \(id): \(what) was written but its durability was not acknowledged: \(detail)"
        case .durabilityUnsupported(let m): return m
        case .workerIDInUse(let worker, let queue, let detail):
            return "worker id '\(worker)' is in use by a live worker on queue '\(queue)' (\(detail)); "
                + "start this one with another --worker-id, or stop that worker first"
        }
    }
}
