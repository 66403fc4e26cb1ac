import Synchronization

/// An answer that arrives from elsewhere (a pool thread) for one caller to await. Cancelling
/// the caller ends its wait at once; an answer that comes later is dropped.
final class PendingAnswer<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Value, any Error>)
        case done(Result<Value, any Error>)
        case taken
    }

    private let state = Mutex(State.idle)

    /// The answer, or `CancellationError` as soon as the caller is cancelled. Once only.
    var value: Value {
        get async throws {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let early: Result<Value, any Error>? = state.withLock { state in
                        guard case .done(let result) = state else {
                            state = .waiting(continuation)
                            return nil
                        }
                        state = .taken
                        return result
                    }
                    if let early { continuation.resume(with: early) }
                }
            } onCancel: {
                complete(.failure(CancellationError()))
            }
        }
    }

    /// Gives the answer; only the first of answers and cancellations counts.
    func complete(_ result: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .taken
                return continuation
            case .done, .taken:
                return nil
            }
        }
        waiter?.resume(with: result)
    }
}
