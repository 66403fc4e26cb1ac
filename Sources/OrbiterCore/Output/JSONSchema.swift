/// A JSON Schema and the validator structured output is checked with.
///
/// The keywords output schemas use are all here: `type` (with `integer` apart from `number`),
/// `enum`, `const`, `properties`, `required`, `additionalProperties` (false or a schema),
/// `items`/`prefixItems`, lengths, counts and bounds, `pattern`, `uniqueItems`, the combinators
/// (`anyOf`, `oneOf`, `allOf`, `not`, `if`/`then`/`else`) and local `$ref`s (`#/$defs/...`).
/// Annotations (`description`, `title`, `format`, `default`, `examples`) are not checked.
/// Every violation names its JSON path (`$.items[2].label`), so a model told about it can fix it.
public struct JSONSchema: Sendable, Hashable {
    /// The schema as written.
    public let schema: JSONValue

    public init(_ schema: JSONValue) { self.schema = schema }

    /// What is wrong with `value`, each naming where; empty when it is valid. At most `limit`.
    public func violations(of value: JSONValue, limit: Int = 20) -> [SchemaViolation] {
        Array(SchemaValidator(root: schema).check(value, against: schema, at: .root, depth: 0).prefix(limit))
    }

    /// Whether `value` is valid.
    public func accepts(_ value: JSONValue) -> Bool { violations(of: value, limit: 1).isEmpty }
}

/// One reason a value does not match its schema.
public struct SchemaViolation: Sendable, Hashable, CustomStringConvertible {
    /// Where, as a JSON path: `$`, `$.items[2].label`, `$["odd key"]`.
    public var path: String
    /// What is wrong, for a person (or a model) to fix.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `$.items[2].label: "x" is not one of "bug", "question"`.
    public var description: String { "\(path): \(message)" }
}

/// A JSON path as violations name it.
struct JSONPath: Sendable {
    let text: String

    static let root = JSONPath(text: "$")

    func member(_ key: String) -> JSONPath {
        let plain = key.first.map { $0 == "_" || $0.isLetter } == true
            && key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        return JSONPath(text: plain ? "\(text).\(key)" : "\(text)[\(JSONValue.string(key).jsonString)]")
    }

    func index(_ i: Int) -> JSONPath { JSONPath(text: "\(text)[\(i)]") }
}

extension JSONValue {
    /// JSON equality as schemas mean it: `1` equals `1.0`; objects compare by members.
    func schemaEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.int, .double), (.double, .int), (.double, .double):
            return doubleValue == other.doubleValue
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.schemaEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map(value.schemaEquals) ?? false }
        default:
            return self == other
        }
    }

    /// The schema type name of this value: `integer` for integers, `number` for other numbers.
    var schemaTypeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// The value's JSON text, cut to `limit` characters for messages.
    func excerpt(_ limit: Int = 60) -> String {
        let text = jsonString
        return text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
    }
}
