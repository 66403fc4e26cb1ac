import Foundation

extension JSONSchema {
    /// The type names a schema may use.
    public static let typeNames = ["string", "integer", "number", "boolean", "array", "object", "null"]

    /// What is wrong with a schema itself (an unknown type, `required` that is not a list, a
    /// pattern that does not compile, a `$ref` that leads nowhere), each naming where, starting
    /// from `path` (e.g. `output`). Empty when it is usable. Unknown keywords are allowed: they
    /// are annotations to a validator.
    public static func problems(in schema: JSONValue, at path: String = "schema") -> [String] {
        var problems: [String] = []
        SchemaShape(root: schema).check(schema, at: path, into: &problems, depth: 0)
        return problems
    }
}

/// Walks a schema checking each keyword's own shape.
private struct SchemaShape {
    let root: JSONValue

    func check(_ schema: JSONValue, at path: String, into problems: inout [String], depth: Int) {
        guard depth < SchemaValidator.maxDepth else { return problems.append("\(path): nested too deeply") }
        switch schema {
        case .bool: return
        case .object: break
        default: return problems.append("\(path): a schema must be a table (or true/false), got \(schema.excerpt())")
        }
        func problem(_ key: String, _ message: String) { problems.append("\(path).\(key): \(message)") }
        switch schema["type"] {
        case nil: break
        case .string(let name)?:
            if !JSONSchema.typeNames.contains(name) { problem("type", unknownType(name)) }
        case .array(let names)?:
            if names.isEmpty { problem("type", "must list at least one type") }
            for case let name in names {
                guard let s = name.stringValue else { problem("type", "must be type names, got \(name.excerpt())"); continue }
                if !JSONSchema.typeNames.contains(s) { problem("type", unknownType(s)) }
            }
        case let other?: problem("type", "must be a type name or a list of them, got \(other.excerpt())")
        }
        if let required = schema["required"], required.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
            problem("required", "must be a list of property names")
        }
        if let values = schema["enum"], values.arrayValue == nil { problem("enum", "must be a list of the allowed values") }
        for key in ["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"] {
            if let v = schema[key], (v.intValue ?? -1) < 0 { problem(key, "must be an integer, 0 or more") }
        }
        for key in ["minimum", "maximum"] where schema[key] != nil && schema[key]?.doubleValue == nil {
            problem(key, "must be a number")
        }
        for key in ["exclusiveMinimum", "exclusiveMaximum"] where schema[key] != nil {
            if schema[key]?.doubleValue == nil && schema[key]?.boolValue == nil { problem(key, "must be a number") }
        }
        if let step = schema["multipleOf"], (step.doubleValue ?? 0) <= 0 { problem("multipleOf", "must be a number above 0") }
        if let pattern = schema["pattern"] {
            if let text = pattern.stringValue {
                if (try? NSRegularExpression(pattern: text)) == nil { problem("pattern", "\(pattern.excerpt()) is not a valid regular expression") }
            } else {
                problem("pattern", "must be a string")
            }
        }
        if let ref = schema["$ref"] {
            if let text = ref.stringValue {
                if SchemaValidator.resolve(text, in: root) == nil {
                    problem("$ref", "\(ref.excerpt()) does not point at a schema in this one (only local refs like \"#/$defs/name\" are followed)")
                }
            } else {
                problem("$ref", "must be a string")
            }
        }
        for key in ["properties", "$defs", "definitions", "patternProperties"] {
            guard let members = schema[key] else { continue }
            guard let object = members.objectValue else { problem(key, "must be a table of name = schema"); continue }
            for name in object.keys.sorted() { check(object[name]!, at: "\(path).\(key).\(name)", into: &problems, depth: depth + 1) }
        }
        for key in ["additionalProperties", "items", "additionalItems", "not", "if", "then", "else", "contains"] {
            guard let sub = schema[key] else { continue }
            if key == "items", let list = sub.arrayValue {
                for (i, item) in list.enumerated() { check(item, at: "\(path).items[\(i + 1)]", into: &problems, depth: depth + 1) }
            } else {
                check(sub, at: "\(path).\(key)", into: &problems, depth: depth + 1)
            }
        }
        for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
            guard let sub = schema[key] else { continue }
            guard let list = sub.arrayValue, !list.isEmpty else { problem(key, "must be a non-empty list of schemas"); continue }
            for (i, item) in list.enumerated() { check(item, at: "\(path).\(key)[\(i + 1)]", into: &problems, depth: depth + 1) }
        }
    }

    private func unknownType(_ name: String) -> String {
        "unknown type \"\(name)\" (use \(JSONSchema.typeNames.joined(separator: ", ")))"
    }
}
