import Foundation

/// Checks a value against a schema, keyword by keyword, collecting every violation.
///
/// A pure recursive function: the combinators (`anyOf`, `oneOf`, `not`, `if`) need a branch's
/// violations without reporting them, so each call returns its own list.
struct SchemaValidator {
    /// The whole schema, for `$ref`s.
    let root: JSONValue
    /// Deeper than this is a `$ref` loop, not a schema anyone writes.
    static let maxDepth = 64

    func check(_ value: JSONValue, against schema: JSONValue, at path: JSONPath, depth: Int) -> [SchemaViolation] {
        func fail(_ message: String, at where_: JSONPath = path) -> [SchemaViolation] {
            [SchemaViolation(path: where_.text, message: message)]
        }
        guard depth < Self.maxDepth else { return fail("the schema nests deeper than \(Self.maxDepth) levels (a $ref loop?)") }
        switch schema {
        case .bool(true): return []
        case .bool(false): return fail("no value is allowed here (the schema is false)")
        case .object: break
        default: return []
        }
        if let ref = schema["$ref"]?.stringValue {
            guard let target = Self.resolve(ref, in: root) else { return fail("the schema's $ref \"\(ref)\" does not resolve") }
            // Keywords beside a $ref apply too (2019-09 and later).
            var rest = schema.objectValue ?? [:]
            rest["$ref"] = nil
            return check(value, against: target, at: path, depth: depth + 1)
                + (rest.isEmpty ? [] : check(value, against: .object(rest), at: path, depth: depth + 1))
        }
        if let problem = typeProblem(value, schema["type"]) { return fail(problem) }
        var found: [SchemaViolation] = []
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(where: value.schemaEquals) {
            found += fail("\(value.excerpt()) is not one of \(allowed.map { $0.excerpt() }.joined(separator: ", "))")
        }
        if let constant = schema["const"], !value.schemaEquals(constant) {
            found += fail("\(value.excerpt()) is not the allowed value \(constant.excerpt())")
        }
        switch value {
        case .string(let s): found += stringProblems(s, schema).map { SchemaViolation(path: path.text, message: $0) }
        case .int, .double: found += numberProblems(value, schema).map { SchemaViolation(path: path.text, message: $0) }
        case .array(let items): found += arrayProblems(items, schema, at: path, depth: depth)
        case .object(let members): found += objectProblems(members, schema, at: path, depth: depth)
        default: break
        }
        found += combinatorProblems(value, schema, at: path, depth: depth)
        return found
    }

    /// `nil` when `value` has one of the schema's types (or the schema names none).
    private func typeProblem(_ value: JSONValue, _ type: JSONValue?) -> String? {
        let names: [String]
        switch type {
        case .string(let name)?: names = [name]
        case .array(let list)?: names = list.compactMap(\.stringValue)
        default: return nil
        }
        if names.isEmpty || names.contains(where: value.matches(schemaType:)) { return nil }
        let expected = names.count == 1 ? article(names[0]) : "one of " + names.joined(separator: ", ")
        return "\(value.excerpt()) is \(article(value.schemaTypeName)), not \(expected)"
    }

    private func article(_ type: String) -> String {
        (["integer", "array", "object"].contains(type) ? "an " : "a ") + type
    }

    private func stringProblems(_ s: String, _ schema: JSONValue) -> [String] {
        var problems: [String] = []
        // Lengths count characters as JSON Schema does: Unicode code points.
        let length = s.unicodeScalars.count
        let quoted = JSONValue.string(s).excerpt()
        if let min = schema["minLength"]?.intValue, length < min {
            problems.append("\(quoted) is shorter than \(min) character\(min == 1 ? "" : "s")")
        }
        if let max = schema["maxLength"]?.intValue, length > max {
            problems.append("\(quoted) is longer than \(max) character\(max == 1 ? "" : "s")")
        }
        if let pattern = schema["pattern"]?.stringValue, let regex = try? NSRegularExpression(pattern: pattern) {
            let range = NSRange(s.startIndex..., in: s)
            if regex.firstMatch(in: s, range: range) == nil {
                problems.append("\(quoted) does not match the pattern \(JSONValue.string(pattern).jsonString)")
            }
        }
        return problems
    }

    private func numberProblems(_ value: JSONValue, _ schema: JSONValue) -> [String] {
        guard let n = value.doubleValue else { return [] }
        let shown = value.excerpt()
        var problems: [String] = []
        if let min = schema["minimum"], let m = min.doubleValue {
            if n < m { problems.append("\(shown) is less than the minimum \(min.excerpt())") }
            else if schema["exclusiveMinimum"] == .bool(true), n == m { problems.append("\(shown) is not greater than \(min.excerpt())") }
        }
        if let max = schema["maximum"], let m = max.doubleValue {
            if n > m { problems.append("\(shown) is greater than the maximum \(max.excerpt())") }
            else if schema["exclusiveMaximum"] == .bool(true), n == m { problems.append("\(shown) is not less than \(max.excerpt())") }
        }
        if let bound = schema["exclusiveMinimum"], let m = bound.doubleValue, n <= m {
            problems.append("\(shown) is not greater than \(bound.excerpt())")
        }
        if let bound = schema["exclusiveMaximum"], let m = bound.doubleValue, n >= m {
            problems.append("\(shown) is not less than \(bound.excerpt())")
        }
        if let step = schema["multipleOf"], let d = step.doubleValue, d > 0 {
            let quotient = n / d
            if abs(quotient - quotient.rounded()) > 1e-9 * max(1, abs(quotient)) {
                problems.append("\(shown) is not a multiple of \(step.excerpt())")
            }
        }
        return problems
    }

    private func arrayProblems(_ items: [JSONValue], _ schema: JSONValue, at path: JSONPath, depth: Int) -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        func count(_ n: Int) -> String { "\(n) item\(n == 1 ? "" : "s")" }
        if let min = schema["minItems"]?.intValue, items.count < min {
            found.append(SchemaViolation(path: path.text, message: "has \(count(items.count)), fewer than the minimum \(min)"))
        }
        if let max = schema["maxItems"]?.intValue, items.count > max {
            found.append(SchemaViolation(path: path.text, message: "has \(count(items.count)), more than the maximum \(max)"))
        }
        if schema["uniqueItems"] == .bool(true) {
            outer: for i in items.indices {
                for j in items.indices where j > i && items[i].schemaEquals(items[j]) {
                    found.append(SchemaViolation(path: path.text, message: "items \(i) and \(j) are equal, but items must be unique"))
                    break outer
                }
            }
        }
        // `prefixItems` (or the older array form of `items`) checks by position; `items` the rest.
        let prefix = schema["prefixItems"]?.arrayValue ?? schema["items"]?.arrayValue ?? []
        let rest: JSONValue? = schema["items"]?.arrayValue == nil ? schema["items"] : schema["additionalItems"]
        for (i, item) in items.enumerated() {
            if i < prefix.count {
                found += check(item, against: prefix[i], at: path.index(i), depth: depth + 1)
            } else if let rest {
                found += check(item, against: rest, at: path.index(i), depth: depth + 1)
            }
        }
        return found
    }

    private func objectProblems(_ members: [String: JSONValue], _ schema: JSONValue, at path: JSONPath,
                                depth: Int) -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        for name in (schema["required"]?.arrayValue ?? []).compactMap(\.stringValue) where members[name] == nil {
            found.append(SchemaViolation(path: path.text, message: "missing required property \(JSONValue.string(name).jsonString)"))
        }
        func count(_ n: Int) -> String { "\(n) propert\(n == 1 ? "y" : "ies")" }
        if let min = schema["minProperties"]?.intValue, members.count < min {
            found.append(SchemaViolation(path: path.text, message: "has \(count(members.count)), fewer than the minimum \(min)"))
        }
        if let max = schema["maxProperties"]?.intValue, members.count > max {
            found.append(SchemaViolation(path: path.text, message: "has \(count(members.count)), more than the maximum \(max)"))
        }
        let properties = schema["properties"]?.objectValue ?? [:]
        let additional = schema["additionalProperties"]
        for name in members.keys.sorted() {
            let value = members[name]!
            if let property = properties[name] {
                found += check(value, against: property, at: path.member(name), depth: depth + 1)
            } else if additional == .bool(false) {
                found.append(SchemaViolation(path: path.member(name).text, message: "is not allowed (additionalProperties is false)"))
            } else if let additional, additional.objectValue != nil {
                found += check(value, against: additional, at: path.member(name), depth: depth + 1)
            }
        }
        return found
    }

    private func combinatorProblems(_ value: JSONValue, _ schema: JSONValue, at path: JSONPath, depth: Int) -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        func branches(_ key: String) -> [[SchemaViolation]]? {
            schema[key]?.arrayValue?.map { check(value, against: $0, at: path, depth: depth + 1) }
        }
        for all in branches("allOf") ?? [] { found += all }
        if let any = branches("anyOf"), !any.contains(where: \.isEmpty) {
            found.append(SchemaViolation(path: path.text, message: "matches none of the anyOf schemas" + closest(any, value, schema["anyOf"])))
        }
        if let one = branches("oneOf") {
            let matching = one.filter(\.isEmpty).count
            if matching == 0 {
                found.append(SchemaViolation(path: path.text, message: "matches none of the oneOf schemas" + closest(one, value, schema["oneOf"])))
            } else if matching > 1 {
                found.append(SchemaViolation(path: path.text, message: "matches \(matching) of the oneOf schemas; exactly one must match"))
            }
        }
        if let not = schema["not"], check(value, against: not, at: path, depth: depth + 1).isEmpty {
            found.append(SchemaViolation(path: path.text, message: "must not match the schema under \"not\""))
        }
        if let condition = schema["if"] {
            let branch = check(value, against: condition, at: path, depth: depth + 1).isEmpty ? schema["then"] : schema["else"]
            if let branch { found += check(value, against: branch, at: path, depth: depth + 1) }
        }
        return found
    }

    /// The first problem of the branch that came closest, as a hint: one whose type matched,
    /// with the fewest problems.
    private func closest(_ branches: [[SchemaViolation]], _ value: JSONValue, _ schemas: JSONValue?) -> String {
        let list = schemas?.arrayValue ?? []
        func rank(_ i: Int) -> (Int, Int) {
            let typeMatches = i < list.count && typeProblem(value, list[i]["type"]) == nil
            return (typeMatches ? 0 : 1, branches[i].count)
        }
        guard let best = branches.indices.min(by: { rank($0) < rank($1) }), let first = branches[best].first else { return "" }
        return " (closest: \(first))"
    }

    /// The schema a local `$ref` (`#`, `#/$defs/name`, `#/definitions/name`) points at.
    static func resolve(_ ref: String, in root: JSONValue) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node = root
        for token in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                .removingPercentEncoding ?? String(token)
            if let list = node.arrayValue, let i = Int(key), list.indices.contains(i) {
                node = list[i]
            } else if let next = node[key] {
                node = next
            } else {
                return nil
            }
        }
        return node
    }
}
