import OrbiterCore

/// Every event of a run's stream and the error it ended with (nil when it finished): tests
/// assert on both, so a failed run still shows what it sent first.
public func collect(_ stream: AsyncThrowingStream<StreamEvent, any Error>) async -> (events: [StreamEvent], error: (any Error)?) {
    var events: [StreamEvent] = []
    do {
        for try await e in stream { events.append(e) }
        return (events, nil)
    } catch {
        return (events, error)
    }
}

/// Every event of a stream that must end cleanly: the error it ends with, if any, is thrown.
public func collectOrThrow(_ stream: AsyncThrowingStream<StreamEvent, any Error>) async throws -> [StreamEvent] {
    let (events, error) = await collect(stream)
    if let error { throw error }
    return events
}
