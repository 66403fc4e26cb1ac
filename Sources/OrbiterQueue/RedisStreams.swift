import OrbiterCore
import OrbiterRedis

/// One entry of a Redis Stream holding events.
public struct StoredEvent: Sendable {
    /// The stream entry id (`1700000000000-0`): pass it as `from:` to resume after this event.
    public var id: String
    public var event: StreamEvent
}

package enum StreamReplies {
    /// Entries of an `XRANGE` reply or of one stream in an `XREAD` reply: `[[id, [field, value, ...]], ...]`.
    package static func entries(_ reply: RedisReply) -> [(id: String, fields: [String: String])] {
        (reply.array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { return nil }
            var fields: [String: String] = [:]
            let items = parts[1].array ?? []
            var i = 0
            while i + 1 < items.count {
                if let k = items[i].string { fields[k] = items[i + 1].string ?? "" }
                i += 2
            }
            return (id, fields)
        }
    }

    /// The entries of the first stream in an `XREAD`/`XREADGROUP` reply (null when the block timed out).
    package static func firstStream(_ reply: RedisReply) -> [(id: String, fields: [String: String])] {
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { return [] }
        return entries(first[1])
    }

    /// Events of a stream's entries; an unreadable entry becomes an `error` event saying so, so a
    /// consumer is told instead of silently losing it.
    package static func events(_ entries: [(id: String, fields: [String: String])]) -> [StoredEvent] {
        entries.map { entry in
            let text = entry.fields["event"] ?? ""
            if let json = try? JSONValue.parse(text), let event = try? StreamEvent(json: json) {
                return StoredEvent(id: entry.id, event: event)
            }
            return StoredEvent(id: entry.id, event: .error(ErrorEvent(error: "unreadable event \(entry.id): \(text.prefix(200))",
                                                                      errorType: "CorruptEvent", agentName: "")))
        }
    }
}
