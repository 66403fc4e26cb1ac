/// One server-sent event: its `event:` name, if any, and its `data:` lines joined by newlines.
public struct SSEEvent: Sendable, Hashable {
    public var name: String?
    public var data: String

    public init(name: String?, data: String) {
        self.name = name
        self.data = data
    }
}

/// An incremental parser for `text/event-stream` bodies.
///
/// Bytes arrive in arbitrary pieces (a line, or even a UTF-8 character, may be split between two
/// network reads), so the parser keeps the unfinished line and event between calls. It follows the
/// WHATWG rules that matter for model APIs: `\n`, `\r\n` and `\r` line ends, comment lines starting
/// with `:`, one optional space after the field colon, and multi-line `data:` joined with `\n`.
public struct SSEParser {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var eventName: String?
    private var dataLines: [String] = []
    private var dataBytes = 0

    public init() {}

    /// Bytes held for the event being built (its unfinished line and its `data:` lines so far): a
    /// caller reading from the network bounds it, since a body without line ends would grow it
    /// without limit.
    public var bufferedBytes: Int { line.count + dataBytes }

    /// Feeds the next bytes of the body; returns the events they completed.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [SSEEvent] {
        if let events = bytes.withContiguousStorageIfAvailable({ feed(buffer: $0) }) { return events }
        return Array(bytes).withUnsafeBufferPointer { feed(buffer: $0) }
    }

    /// Line by line, copying each line's bytes at once: a model streaming thousands of deltas a
    /// second comes through here, and a byte at a time cost a worker more than decoding the JSON.
    private mutating func feed(buffer: UnsafeBufferPointer<UInt8>) -> [SSEEvent] {
        var events: [SSEEvent] = []
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        guard !buffer.isEmpty else { return events }
        var start = 0
        // The second half of a CRLF split between two reads: the CR already ended the line.
        if lastWasCR, buffer.first == lf { start = 1 }
        lastWasCR = false
        while start < buffer.count {
            var end = start
            while end < buffer.count, buffer[end] != lf, buffer[end] != cr { end += 1 }
            line.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<end]))
            guard end < buffer.count else { break }  // the line goes on in the next read
            if let event = endLine() { events.append(event) }
            if buffer[end] == cr {
                if end + 1 == buffer.count { lastWasCR = true } else if buffer[end + 1] == lf { end += 1 }
            }
            start = end + 1
        }
        return events
    }

    /// Ends the body: an event still being built is delivered even without its closing blank line.
    public mutating func finish() -> SSEEvent? {
        if !line.isEmpty { _ = endLine() }
        return dispatch()
    }

    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }  // comment, e.g. ": OPENROUTER PROCESSING"
        let field: String
        let value: String
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            var start = colon + 1
            if start < line.endIndex, line[start] == UInt8(ascii: " ") { start += 1 }
            value = String(decoding: line[start...], as: UTF8.self)
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "data":
            dataLines.append(value)
            dataBytes += value.utf8.count
        case "event": eventName = value
        default: break  // `id:` and `retry:` do not matter for one-shot model streams
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer { eventName = nil; dataLines.removeAll(); dataBytes = 0 }
        guard !dataLines.isEmpty else { return nil }
        return SSEEvent(name: eventName, data: dataLines.joined(separator: "\n"))
    }
}
