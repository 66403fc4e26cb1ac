/// The lines of a chat's stdin, shared by the conversation and, when stdin is the terminal, the
/// questions a turn asks (two readers of one terminal would race for each line). Lines typed while
/// no one waits are kept for the next reader.
actor ChatLines {
    private var buffered: [String] = []
    private var ended = false
    private var waiters: [(id: Int, continuation: CheckedContinuation<String?, Never>)] = []
    private var nextID = 0

    /// Starts reading `lines` (stdin) in the background.
    init(_ lines: AsyncStream<String>) {
        Task { [weak self] in
            for await line in lines { await self?.deliver(line) }
            await self?.finish()
        }
    }

    private func deliver(_ line: String) {
        if waiters.isEmpty { buffered.append(line) } else { waiters.removeFirst().continuation.resume(returning: line) }
    }

    private func finish() {
        ended = true
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        waiters = []
    }

    /// The next line, or nil at end of input (or when the waiting task is cancelled).
    func next() async -> String? {
        if !buffered.isEmpty { return buffered.removeFirst() }
        if ended { return nil }
        nextID += 1
        let id = nextID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume(returning: nil) } else { waiters.append((id, continuation)) }
            }
        } onCancel: {
            Task { await self.cancel(id) }
        }
    }

    private func cancel(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(returning: nil)
    }
}
