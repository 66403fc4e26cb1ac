import Synchronization

/// Group commit for `finish`: outcomes that arrive while a finish call is under way go out
/// together in the next one (`finish_many.lua`), so a busy worker pays one script call, one
/// XACK/XDEL pair and one counter write per batch instead of per task. An idle worker's finish is
/// sent at once, alone: batching adds no wait, only the queueing that the round trip in flight
/// causes anyway.
///
/// No task of its own: the caller that finds no call under way leads — it sends its outcome and
/// whatever queued meanwhile, answers the others, and hands the lead to the first outcome queued
/// during its call, so no caller keeps sending other callers' batches.
final class FinishBatcher<Item: Sendable>: Sendable {
    private enum Turn { case done(Result<Bool, any Error>), lead }
    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Turn, Never>
    }
    private struct State {
        var queue: [Waiting] = []
        var sending = false
    }
    private let state = Mutex(State())
    /// The most outcomes one call carries.
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Sends `item` (in a batch with what queued) with `send`, which returns one flag per item,
    /// in order. A batch that failed is the error of each of its items — except cancellation of
    /// the leading caller, which makes the others send alone.
    func run(_ item: Item, send: @Sendable ([Item]) async throws -> [Bool]) async throws -> Bool {
        let turn = await withCheckedContinuation { (c: CheckedContinuation<Turn, Never>) in
            let leads = state.withLock { s -> Bool in
                if s.sending {
                    s.queue.append(Waiting(item: item, continuation: c))
                    return false
                }
                s.sending = true
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
            let result: Result<[Bool], any Error>
            do { result = .success(try await send([item] + others.map(\.item))) } catch { result = .failure(error) }
            for (i, waiting) in others.enumerated() {
                waiting.continuation.resume(returning: .done(result.map { $0[i + 1] }))
            }
            let next = state.withLock { s -> Waiting? in
                if s.queue.isEmpty {
                    s.sending = false
                    return nil
                }
                return s.queue.removeFirst()
            }
            next?.continuation.resume(returning: .lead)
            return try result.get()[0]
        }
    }
}
