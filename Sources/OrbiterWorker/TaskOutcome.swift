import OrbiterCore
import OrbiterQueue
import OrbiterRedis

/// How one run of a task ended: decided once, from what the run returned or threw and why it was
/// stopped, then recorded once (`Worker.record`). The lifecycle's transitions out of `running`
/// (docs/architecture.md) are exactly these cases.
enum TaskOutcome: Sendable, Equatable {
    /// finish.lua: `completed` with the run's result (`{output, usage, steps, parsed?}` JSON);
    /// `parsed` (structured output) also rides on the terminal status event.
    case completed(result: String, parsed: JSONValue? = nil)
    /// finish.lua: `failed` (and dead-lettered). `report`: publish the error event first (the run
    /// did not report it itself).
    case failed(message: String, errorType: String, report: Bool)
    /// retry.lua: a retryable failure with attempts left; the task waits in the delayed set.
    case retry(message: String)
    /// finish.lua: `cancelled` on request.
    case cancelled
    /// handback.lua: the worker is stopping and its drain time ran out; the task goes back on the
    /// queue for another worker to resume.
    case handBack
    /// park.lua: the run waits for a person (`request`); the task parks, holding nothing, with
    /// the checkpoint to resume from, for at most `waitTimeout` seconds.
    case park(request: InputRequest, checkpoint: Checkpoint?, waitTimeout: Double)
    /// Nothing: the run lost its lease, another worker owns the task and records its outcome.
    case abandoned

    /// The same outcome with granted secret values redacted from its result and message.
    func redacted(by secrets: SecretStore) -> TaskOutcome {
        guard !secrets.isEmpty else { return self }
        switch self {
        case .completed(let result, let parsed): return .completed(result: secrets.redact(result), parsed: parsed.map { secrets.redact($0) })
        case .failed(let message, let type, let report): return .failed(message: secrets.redact(message), errorType: type, report: report)
        case .retry(let message): return .retry(message: secrets.redact(message))
        case .cancelled, .handBack, .abandoned, .park: return self // a park's request and checkpoint are redacted where stored
        }
    }

    /// The outcome of a run that threw `error`.
    /// - Parameters:
    ///   - stopReason: why the worker stopped the run early, if it did.
    ///   - attempt: this run's attempt (1 for the first); `maxRetries`: retries the task allows.
    ///   - timeout: the task's timeout, for the message when it ran out.
    ///   - reported: whether the run already published an `error` event for this failure.
    ///   - waitTimeout: how long the task may wait for a person when the run parked.
    static func of(error: any Error, stopReason: StopReason?, attempt: Int, maxRetries: Int, timeout: Double,
                   reported: Bool, waitTimeout: Double = TaskPayload.defaultWaitTimeout) -> TaskOutcome {
        let cancelled = error is CancellationError
        switch (stopReason, cancelled) {
        case (.leaseLost?, _):
            return .abandoned
        case (.timeout?, true):
            let error = OrbiterError.timeout(seconds: timeout)
            return .failed(message: error.description, errorType: error.typeName, report: true)
        case (.requested?, true):
            return .cancelled
        case (.shutdown?, true):
            return .handBack
        default:
            if let parked = error as? RunParked {
                return .park(request: parked.request, checkpoint: parked.checkpoint, waitTimeout: waitTimeout)
            }
            let message = errorMessage(error)
            if isRetryable(error), attempt <= maxRetries { return .retry(message: message) }
            return .failed(message: message, errorType: errorTypeName(error), report: !reported)
        }
    }

    /// Provider failures that may pass (rate limits, 5xx, network) are worth another attempt, and
    /// so is a lost Redis connection inside the run (a tenant's budget could not be read or charged);
    /// script errors, bad configuration, bad payloads and `BudgetExceeded` are not.
    static func isRetryable(_ error: any Error) -> Bool {
        if case RedisError.connection? = error as? RedisError { return true }
        return (error as? ModelError)?.retryable ?? false
    }
}
