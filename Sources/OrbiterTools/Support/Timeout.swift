/// Runs `body` until it returns or `timeout` passes; nil when the time ran out (`body` has then
/// been cancelled and has finished). A cancelled caller gets `CancellationError`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    do {
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    } catch {
        if Task.isCancelled { throw CancellationError() }
        throw error
    }
}
