import OrbiterCore

/// An output schema in the form a provider's constrained decoding accepts.
///
/// Providers that enforce a schema while the model writes accept only part of JSON Schema, and
/// want every object closed. What is sent is adjusted to that; Orbiter still checks the answer
/// against the schema as written, so a dropped keyword (a `maxLength`, a `minimum`) is still
/// enforced, by a repair turn instead of by the provider.
struct StrictSchema {
    /// Objects without `additionalProperties` get `false`.
    var closeObjects = true
    /// Every property of an object is listed in `required` (OpenAI's strict mode wants that).
    var requireAll = false
    /// Keywords left out.
    var dropped: Set<String> = []
    /// `minItems` above this is left out (Anthropic supports 0 and 1 only).
    var maxMinItems: Int?

    /// OpenAI strict mode (also sent to OpenAI-compatible servers and Ollama).
    static let openAI = StrictSchema(requireAll: true, dropped: [
        "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "patternProperties",
        "not", "if", "then", "else",
    ])

    /// Anthropic structured outputs.
    static let anthropic = StrictSchema(dropped: [
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
        "maxItems", "uniqueItems", "minProperties", "maxProperties", "patternProperties", "not", "if", "then", "else",
    ], maxMinItems: 1)

    func apply(_ schema: JSONValue) -> JSONValue {
        guard case .object(var members) = schema else { return schema }
        for key in dropped { members[key] = nil }
        if let maxMinItems, let min = members["minItems"]?.intValue, min > maxMinItems { members["minItems"] = nil }
        for key in ["properties", "$defs", "definitions"] {
            if case .object(let subs)? = members[key] { members[key] = .object(subs.mapValues(apply)) }
        }
        for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
            if case .array(let subs)? = members[key] { members[key] = .array(subs.map(apply)) }
        }
        if case .array(let subs)? = members["items"] {
            members["items"] = .array(subs.map(apply))
        } else if let items = members["items"] {
            members["items"] = apply(items)
        }
        if let additional = members["additionalProperties"], additional.objectValue != nil {
            members["additionalProperties"] = apply(additional)
        }
        let isObject = members["type"] == "object" || members["type"]?.arrayValue?.contains("object") == true
            || members["properties"] != nil
        if isObject {
            if closeObjects, members["additionalProperties"] == nil { members["additionalProperties"] = false }
            if requireAll, let properties = members["properties"]?.objectValue {
                members["required"] = .array(properties.keys.sorted().map(JSONValue.string))
            }
        }
        return .object(members)
    }

    /// A provider-safe name for the schema (`[a-zA-Z0-9_-]{1,64}`).
    static func name(_ name: String) -> String {
        let kept = String(name.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
            .map(Character.init).prefix(64))
        return kept.isEmpty ? "output" : kept
    }
}

/// A request a provider cannot express, refused before anything is sent; names the provider and
/// the field.
func unsupported(_ provider: String, _ request: ModelRequest, _ message: String) -> ModelError {
    ModelError(provider: provider, model: request.model, message: message, retryable: false)
}
