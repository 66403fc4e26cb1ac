import Synchronization

/// An answer a caller awaits that arrives from elsewhere (a pool thread) and that cancellation
/// may pre-empt; whichever comes first resumes the caller, once.
final class PendingAnswer<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Value, any Error>)
        case done(Result<Value, any Error>)
        case resumed
    }

    private let state = Mutex(State.idle)

    /// Registers the caller; false when the answer (or a cancellation) came first and the
    /// caller has been resumed already.
    func wait(_ continuation: CheckedContinuation<Value, any Error>) -> Bool {
        let early: Result<Value, any Error>? = state.withLock { state in
            if case .done(let result) = state {
                state = .resumed
                return result
            }
            state = .waiting(continuation)
            return nil
        }
        guard let early else { return true }
        continuation.resume(with: early)
        return false
    }

    func complete(_ result: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .resumed
                return continuation
            case .done, .resumed:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    func fail(_ error: any Error) { complete(.failure(error)) }
}
