import OrbiterCore

/// Turns one provider's server-sent events into `ModelStreamEvent`s.
///
/// Each provider has its own event grammar; the transport (HTTP, retries, timeouts, SSE framing) is
/// shared, so a decoder only knows what the JSON in each event means.
protocol StreamDecoder: SendableMetatype {
    /// The events one SSE event yields, in order.
    mutating func decode(_ event: SSEEvent) throws -> [ModelStreamEvent]
    /// Whether the protocol's end marker arrived, so the rest of the body can be ignored.
    var isComplete: Bool { get }
    /// Called when the body ends: the events still held back, or an error if the reply was cut short.
    mutating func finish() throws -> [ModelStreamEvent]
}

/// A failure found while reading a stream, before the transport names provider and model.
struct StreamFailure: Error {
    var message: String
    /// Whether a fresh attempt may succeed (never honoured once output has been forwarded).
    var retryable: Bool

    /// The reply stopped without the protocol's end marker.
    static let endedEarly = StreamFailure(message: "stream ended before the reply was complete", retryable: true)

    /// An event larger than the transport takes: a broken server or proxy, so trying again will not help.
    static func oversized(limit: Int) -> StreamFailure {
        StreamFailure(message: "a server-sent event over \(limit >> 20) MiB (no line or event end): the reply was dropped",
                      retryable: false)
    }

    /// A chunk whose JSON does not parse: a broken server or proxy, so trying again will not help.
    static func malformed(_ data: String, _ error: any Error) -> StreamFailure {
        let excerpt = data.count > 200 ? String(data.prefix(200)) + "…" : data
        return StreamFailure(message: "malformed JSON in stream chunk (\(error)): \(excerpt)", retryable: false)
    }
}

extension StreamDecoder {
    /// Parses the JSON of an event's data, naming the chunk when it is broken.
    func parseJSON(_ event: SSEEvent) throws -> JSONValue {
        do { return try JSONValue.parse(event.data) } catch { throw StreamFailure.malformed(event.data, error) }
    }
}
