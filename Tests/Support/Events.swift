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
