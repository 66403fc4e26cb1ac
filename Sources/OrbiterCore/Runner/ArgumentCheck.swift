/// Checks tool arguments against the simple JSON Schema subset tools declare: an object with
/// `properties`, `required`, and primitive `type`s. Returns a message for the model, or `nil`.
///
/// Models do send wrong arguments; a clear message lets them correct themselves next step.
func argumentProblem(_ arguments: JSONValue, schema: JSONValue) -> String? {
    guard let args = arguments.objectValue else { return "arguments must be a JSON object" }
    if let required = schema["required"]?.arrayValue {
        for case .string(let name) in required where args[name] == nil || args[name] == .null {
            return "missing required argument '\(name)'"
        }
    }
    guard let properties = schema["properties"]?.objectValue else { return nil }
    for (name, value) in args {
        guard let property = properties[name] else {
            if schema["additionalProperties"] == .bool(false) { return "unknown argument '\(name)'" }
            continue
        }
        if let type = property["type"]?.stringValue, !value.matches(schemaType: type) {
            return "argument '\(name)' must be of type \(type), got \(value.jsonString.prefix(60))"
        }
    }
    return nil
}

extension JSONValue {
    func matches(schemaType: String) -> Bool {
        switch (schemaType, self) {
        case ("string", .string), ("boolean", .bool), ("array", .array), ("object", .object), ("null", .null): return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        case ("string", _), ("boolean", _), ("array", _), ("object", _), ("null", _), ("integer", _), ("number", _): return false
        default: return true
        }
    }
}
