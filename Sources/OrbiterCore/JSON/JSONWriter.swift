/// Writes compact JSON text.
///
/// Object keys of `JSONValue.object` are written sorted so the same value always gives the same
/// bytes (bundle hashes and signatures depend on it); `writeObject(_:)` keeps a caller's order for
/// human-facing output such as events, where `type` comes first.
public struct JSONWriter: Sendable {
    /// The text written so far.
    public private(set) var output: String = ""

    /// Starts an empty writer.
    public init() { output.reserveCapacity(128) }

    /// Appends one value.
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: output += "null"
        case .bool(let b): output += b ? "true" : "false"
        case .int(let i): output += String(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let items):
            output += "["
            var first = true
            for item in items {
                if !first { output += "," }
                first = false
                write(item)
            }
            output += "]"
        case .object(let members):
            writeObject(members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }

    /// Appends an object whose members keep the given order; `nil` members are left out.
    public mutating func writeObject(_ members: [(String, JSONValue?)]) {
        output += "{"
        var first = true
        for (key, value) in members {
            guard let value else { continue }
            if !first { output += "," }
            first = false
            writeString(key)
            output += ":"
            write(value)
        }
        output += "}"
    }

    /// Floats always carry a fraction or exponent, so `3.0` reads back as a float, not an integer.
    /// Non-finite values have no JSON form and are written as `null`.
    mutating func writeDouble(_ d: Double) {
        guard d.isFinite else { output += "null"; return }
        if d.rounded() == d && abs(d) < 1e16 {
            output += String(Int64(d)) + ".0"
        } else {
            output += "\(d)"
        }
    }

    mutating func writeString(_ s: String) {
        output += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C { needsEscape = true; break }
        if !needsEscape {
            output += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": output += "\\\""
                case "\\": output += "\\\\"
                case "\n": output += "\\n"
                case "\r": output += "\\r"
                case "\t": output += "\\t"
                case "\u{08}": output += "\\b"
                case "\u{0C}": output += "\\f"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        output.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        output += "\""
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
