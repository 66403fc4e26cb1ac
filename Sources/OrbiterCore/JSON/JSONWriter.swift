/// Writes compact JSON text.
///
/// Object keys of `JSONValue.object` are written sorted so the same value always gives the same
/// bytes (bundle hashes and signatures depend on it); `writeObject(_:)` keeps a caller's order for
/// human-facing output such as events, where `type` comes first.
public struct JSONWriter: Sendable {
    /// The UTF-8 bytes written so far (appending bytes is much cheaper than growing a `String`).
    private var bytes: [UInt8] = []

    /// The text written so far.
    public var output: String { String(decoding: bytes, as: UTF8.self) }

    /// Starts an empty writer.
    public init() { bytes.reserveCapacity(256) }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// Appends one value.
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): if b { append("true") } else { append("false") }
        case .int(let i): append(String(i))
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let items):
            append("[")
            var first = true
            for item in items {
                if !first { append(",") }
                first = false
                write(item)
            }
            append("]")
        case .object(let members):
            writeMembers(members.sorted(by: { $0.key < $1.key }).lazy.map { ($0.key, Optional($0.value)) })
        }
    }

    /// Appends an object whose members keep the given order; `nil` members are left out.
    public mutating func writeObject(_ members: [(String, JSONValue?)]) {
        writeMembers(members)
    }

    private mutating func writeMembers(_ members: some Sequence<(String, JSONValue?)>) {
        append("{")
        var first = true
        for (key, value) in members {
            guard let value else { continue }
            if !first { append(",") }
            first = false
            writeString(key)
            append(":")
            write(value)
        }
        append("}")
    }

    /// Floats always carry a fraction or exponent, so `3.0` reads back as a float, not an integer.
    /// Non-finite values have no JSON form and are written as `null`.
    mutating func writeDouble(_ d: Double) {
        guard d.isFinite else { append("null"); return }
        if d.rounded() == d && abs(d) < 1e16 {
            append(String(Int64(d))); append(".0")
        } else {
            append("\(d)")
        }
    }

    mutating func writeString(_ s: String) {
        bytes.append(0x22)
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C { needsEscape = true; break }
        if !needsEscape {
            append(s)
        } else {
            // Escapes are ASCII, so a byte loop is exact; other UTF-8 bytes pass through.
            for b in s.utf8 {
                switch b {
                case 0x22: append(#"\""#)
                case 0x5C: append(#"\\"#)
                case 0x0A: append(#"\n"#)
                case 0x0D: append(#"\r"#)
                case 0x09: append(#"\t"#)
                case 0x08: append(#"\b"#)
                case 0x0C: append(#"\f"#)
                case ..<0x20:
                    let hex = String(b, radix: 16)
                    append(#"\u"# + String(repeating: "0", count: 4 - hex.count) + hex)
                default: bytes.append(b)
                }
            }
        }
        bytes.append(0x22)
    }
}

extension JSONValue {
    /// Indented JSON for people (keys sorted, two spaces).
    public var prettyString: String {
        var out = ""
        func write(_ v: JSONValue, _ indent: String) {
            switch v {
            case .array(let items) where !items.isEmpty:
                out += "[\n"
                for (i, item) in items.enumerated() {
                    out += indent + "  "
                    write(item, indent + "  ")
                    out += i + 1 < items.count ? ",\n" : "\n"
                }
                out += indent + "]"
            case .object(let members) where !members.isEmpty:
                out += "{\n"
                let sorted = members.sorted { $0.key < $1.key }
                for (i, (k, item)) in sorted.enumerated() {
                    out += indent + "  " + JSONValue.string(k).jsonString + ": "
                    write(item, indent + "  ")
                    out += i + 1 < sorted.count ? ",\n" : "\n"
                }
                out += indent + "}"
            default:
                out += v.jsonString
            }
        }
        write(self, "")
        return out
    }
}
