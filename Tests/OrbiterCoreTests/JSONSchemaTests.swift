import OrbiterCore
import Testing

/// The validator structured output is checked with: every keyword, and paths in messages.
@Suite("JSON Schema validator")
struct JSONSchemaTests {
    func problems(_ value: JSONValue, _ schema: JSONValue) -> [String] {
        JSONSchema(schema).violations(of: value).map(\.description)
    }

    static let triage: JSONValue = [
        "type": "object",
        "properties": [
            "items": ["type": "array", "items": [
                "type": "object",
                "properties": ["label": ["type": "string", "enum": ["bug", "question"]], "score": ["type": "integer"]],
                "required": ["label"], "additionalProperties": false]],
        ],
        "required": ["items"],
    ]

    @Test("a nested violation names its JSON path")
    func nestedPath() {
        let value: JSONValue = ["items": [["label": "bug"], ["label": "question"], ["label": "x"]]]
        #expect(problems(value, Self.triage) == [#"$.items[2].label: "x" is not one of "bug", "question""#])
        #expect(JSONSchema(Self.triage).accepts(["items": [["label": "bug", "score": 3]]]))
    }

    @Test("integer is not number: 2.5 fails integer, 2 and 2.0 pass; number takes both")
    func integerVersusNumber() {
        #expect(problems(2.5, ["type": "integer"]) == ["$: 2.5 is a number, not an integer"])
        #expect(problems(2, ["type": "integer"]).isEmpty)
        #expect(problems(2.0, ["type": "integer"]).isEmpty)
        #expect(problems(2, ["type": "number"]).isEmpty)
        #expect(problems("2", ["type": "number"]) == [#"$: "2" is a string, not a number"#])
        #expect(problems(nil, ["type": ["string", "null"]]).isEmpty)
        #expect(problems(true, ["type": ["string", "null"]]) == ["$: true is a boolean, not one of string, null"])
    }

    @Test("required, additionalProperties false and as a schema")
    func objects() {
        let schema: JSONValue = ["type": "object", "properties": ["a": ["type": "string"]], "required": ["a", "b"],
                                 "additionalProperties": false]
        #expect(problems(["c": 1], schema) == [#"$: missing required property "a""#, #"$: missing required property "b""#,
                                               "$.c: is not allowed (additionalProperties is false)"])
        let typedExtras: JSONValue = ["type": "object", "additionalProperties": ["type": "integer"]]
        #expect(problems(["n": 1, "odd key": "x"], typedExtras) == [#"$["odd key"]: "x" is a string, not an integer"#])
        #expect(problems(["a": "x", "z": [1]], ["type": "object", "properties": ["a": ["type": "string"]]]).isEmpty,
                "extra properties are allowed unless the schema says otherwise")
    }

    @Test("const, lengths, bounds, pattern, counts, uniqueness")
    func constraints() {
        #expect(problems("bug", ["const": "bug"]).isEmpty)
        #expect(problems(1.0, ["const": 1]).isEmpty, "1.0 equals 1")
        #expect(problems("q", ["const": "bug"]) == [#"$: "q" is not the allowed value "bug""#])
        #expect(problems("ab", ["type": "string", "minLength": 3]) == [#"$: "ab" is shorter than 3 characters"#])
        #expect(problems("héllo", ["type": "string", "maxLength": 5]).isEmpty, "lengths count characters, not bytes")
        #expect(problems("abcdef", ["maxLength": 5]) == [#"$: "abcdef" is longer than 5 characters"#])
        #expect(problems(0, ["minimum": 1]) == ["$: 0 is less than the minimum 1"])
        #expect(problems(11, ["maximum": 10]) == ["$: 11 is greater than the maximum 10"])
        #expect(problems(1, ["exclusiveMinimum": 1]) == ["$: 1 is not greater than 1"])
        #expect(problems(0.5, ["exclusiveMaximum": 0.5]) == ["$: 0.5 is not less than 0.5"])
        #expect(problems(7, ["multipleOf": 2]) == ["$: 7 is not a multiple of 2"])
        #expect(problems(0.3, ["multipleOf": 0.1]).isEmpty)
        #expect(problems("abc", ["pattern": "^[0-9]+$"]) == [#"$: "abc" does not match the pattern "^[0-9]+$""#])
        #expect(problems([1], ["minItems": 2]) == ["$: has 1 item, fewer than the minimum 2"])
        #expect(problems([1, 2, 3], ["maxItems": 2]) == ["$: has 3 items, more than the maximum 2"])
        #expect(problems([1, 2, 1], ["uniqueItems": true]) == ["$: items 0 and 2 are equal, but items must be unique"])
        #expect(problems(["a": 1], ["minProperties": 2]) == ["$: has 1 property, fewer than the minimum 2"])
    }

    @Test("arrays: items, prefixItems, and every bad item reported")
    func arrays() {
        #expect(problems([1, "x", 3, "y"], ["type": "array", "items": ["type": "integer"]])
                == [#"$[1]: "x" is a string, not an integer"#, #"$[3]: "y" is a string, not an integer"#])
        let tuple: JSONValue = ["prefixItems": [["type": "string"], ["type": "integer"]], "items": false]
        #expect(problems(["a", 1], tuple).isEmpty)
        #expect(problems(["a", 1, 2], tuple) == ["$[2]: no value is allowed here (the schema is false)"])
    }

    @Test("anyOf, oneOf, allOf, not, if/then, and local $refs")
    func combinators() {
        let anyOf: JSONValue = ["anyOf": [["type": "string"], ["type": "integer", "minimum": 0]]]
        #expect(problems(-1, anyOf) == ["$: matches none of the anyOf schemas (closest: $: -1 is less than the minimum 0)"])
        #expect(problems("x", anyOf).isEmpty)
        #expect(problems(1, ["oneOf": [["type": "integer"], ["type": "number"]]])
                == ["$: matches 2 of the oneOf schemas; exactly one must match"])
        #expect(problems(5, ["allOf": [["minimum": 0], ["maximum": 3]]]) == ["$: 5 is greater than the maximum 3"])
        #expect(problems("x", ["not": ["type": "string"]]) == [#"$: must not match the schema under "not""#])
        let conditional: JSONValue = ["if": ["properties": ["kind": ["const": "bug"]]], "then": ["required": ["steps"]]]
        #expect(problems(["kind": "bug"], conditional) == [#"$: missing required property "steps""#])
        #expect(problems(["kind": "question"], conditional).isEmpty)
        let refs: JSONValue = ["$defs": ["label": ["enum": ["a", "b"]]], "type": "array", "items": ["$ref": "#/$defs/label"]]
        #expect(problems(["a", "c"], refs) == [#"$[1]: "c" is not one of "a", "b""#])
        let loop: JSONValue = ["$defs": ["x": ["$ref": "#/$defs/x"]], "$ref": "#/$defs/x"]
        #expect(problems(1, loop).first?.contains("$ref loop") == true)
    }

    @Test("problems of a schema itself name where they are")
    func schemaProblems() {
        #expect(JSONSchema.problems(in: ["type": "object", "properties": ["label": ["type": "strin"]]], at: "output")
                == [#"output.properties.label.type: unknown type "strin" (use string, integer, number, boolean, array, object, null)"#])
        #expect(JSONSchema.problems(in: ["required": "label"], at: "output") == ["output.required: must be a list of property names"])
        #expect(JSONSchema.problems(in: ["pattern": "(("], at: "output").first?.contains("not a valid regular expression") == true)
        #expect(JSONSchema.problems(in: ["items": ["$ref": "#/$defs/none"]], at: "output").first?.hasPrefix("output.items.$ref:") == true)
        #expect(JSONSchema.problems(in: ["minLength": -1], at: "o") == ["o.minLength: must be an integer, 0 or more"])
        #expect(JSONSchema.problems(in: Self.triage, at: "output").isEmpty)
        #expect(JSONSchema.problems(in: "string", at: "output") == [#"output: a schema must be a table (or true/false), got "string""#])
    }
}
