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

    public init() {}

    /// Feeds the next bytes of the body; returns the events they completed.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n") where lastWasCR:
                lastWasCR = false  // the second half of a CRLF already ended the line
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                lastWasCR = byte == UInt8(ascii: "\r")
                if let event = endLine() { events.append(event) }
            default:
                lastWasCR = false
                line.append(byte)
            }
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
        case "data": dataLines.append(value)
        case "event": eventName = value
        default: break  // `id:` and `retry:` do not matter for one-shot model streams
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer { eventName = nil; dataLines.removeAll() }
        guard !dataLines.isEmpty else { return nil }
        return SSEEvent(name: eventName, data: dataLines.joined(separator: "\n"))
    }
}
