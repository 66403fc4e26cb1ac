import Synchronization

/// Group commit: items that arrive while `lanes` calls are under way go out together in the next
/// call, so a busy worker pays one `finish_many.lua` call (one XACK/XDEL pair, one counter write)
/// per batch instead of per task, and a client submitting many tasks at once one
/// `submit_many.lua` call. An idle caller's item is sent at once, alone. More than one lane, so an
/// item waits for less than a whole call: with one, every finish of a busy worker waited for the
/// call ahead of it, and the tasks held their slots that much longer.
///
/// No task of its own: a caller that finds a lane free leads — it sends its item and whatever
/// queued meanwhile, answers the others, and hands its lane to the first item queued during its
/// call, so no caller keeps sending other callers' batches.
final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    private enum Turn { case done(Result<Output, any Error>), lead }
    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Turn, Never>
    }
    private struct State {
        var queue: [Waiting] = []
        var sending = 0
    }
    private let state = Mutex(State())
    /// The most items one call carries, and the most calls under way at once.
    let limit: Int
    let lanes: Int

    init(limit: Int, lanes: Int) {
        self.limit = limit
        self.lanes = lanes
    }

    /// Sends `item` (in a batch with what queued) with `send`, which returns one output per item,
    /// in order. A batch that failed is the error of each of its items — except cancellation of
    /// the leading caller, which makes the others send alone.
    func run(_ item: Item, send: @Sendable ([Item]) async throws -> [Output]) async throws -> Output {
        let turn = await withCheckedContinuation { (c: CheckedContinuation<Turn, Never>) in
            let leads = state.withLock { s -> Bool in
                if s.sending >= lanes {
                    s.queue.append(Waiting(item: item, continuation: c))
                    return false
                }
                s.sending += 1
                return true
            }
            if leads { c.resume(returning: .lead) }
        }
        switch turn {
        case .done(let result):
            if case .failure(let error) = result, error is CancellationError { return try await send([item])[0] }
            return try result.get()
        case .lead:
            let others = state.withLock { s -> [Waiting] in
                let taken = Array(s.queue.prefix(limit - 1))
                s.queue.removeFirst(taken.count)
                return taken
            }
            let result: Result<[Output], any Error>
            do { result = .success(try await send([item] + others.map(\.item))) } catch { result = .failure(error) }
            for (i, waiting) in others.enumerated() {
                waiting.continuation.resume(returning: .done(result.map { $0[i + 1] }))
            }
            let next = state.withLock { s -> Waiting? in
                if s.queue.isEmpty {
                    s.sending -= 1
                    return nil
                }
                return s.queue.removeFirst()
            }
            next?.continuation.resume(returning: .lead)
            return try result.get()[0]
        }
    }
}
