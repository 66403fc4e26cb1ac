import Testing
@testable import OrbiterTools

@Suite("Answers from a pool thread")
struct PendingAnswerTests {
    @Test("an answer given before or after the caller waits reaches it")
    func answers() async throws {
        let early = PendingAnswer<Int>()
        early.complete(.success(1))
        #expect(try await early.value == 1)
        let late = PendingAnswer<Int>()
        async let value = late.value
        try await Task.sleep(for: .milliseconds(20))
        late.complete(.success(2))
        late.complete(.success(3))
        #expect(try await value == 2)
    }

    @Test("a cancelled caller stops waiting at once; the answer that comes later is dropped")
    func cancellation() async throws {
        let answer = PendingAnswer<Int>()
        let waiter = Task { try await answer.value }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        answer.complete(.success(1))
    }
}
