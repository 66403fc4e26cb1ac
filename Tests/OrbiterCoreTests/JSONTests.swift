import Testing
@testable import OrbiterCore

@Suite("JSON values")
struct JSONTests {
    @Test("integers and floats stay apart")
    func integersAndFloatsStayApart() throws {
        #expect(try JSONValue.parse("3") == .int(3))
        #expect(try JSONValue.parse("3.0") == .double(3.0))
        #expect(try JSONValue.parse("-1e2") == .double(-100))
        #expect(JSONValue.double(3).jsonString == "3.0")
        #expect(JSONValue.int(3).jsonString == "3")
        #expect(try JSONValue.parse(JSONValue.double(0.1).jsonString) == .double(0.1))
    }

    @Test("nested values round-trip")
    func roundTripOfNestedValues() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", nil, true, ["b": [:]]], "empty": [], "unicode": "héllo ✓ 🌍", "esc": "line\n\t\"q\"\\"]
        #expect(try JSONValue.parse(value.jsonString) == value)
        #expect(try JSONValue.parse(value.prettyString) == value)
    }

    @Test("unicode escapes, surrogate pairs included")
    func unicodeEscapesIncludingSurrogatePairs() throws {
        #expect(try JSONValue.parse(#""\u00e9\ud83c\udf0d""#) == .string("é🌍"))
        #expect(throws: (any Error).self) { try JSONValue.parse(#""\ud83c""#) }
    }

    @Test("object keys are sorted, so equal values give equal text")
    func objectKeysAreSortedSoEqualValuesGiveEqualText() {
        let a: JSONValue = ["b": 1, "a": 2]
        #expect(a.jsonString == #"{"a":2,"b":1}"#)
    }

    @Test("errors name the offset")
    func errorsNameTheOffset() {
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a": 1,}"#) }
        if let error {
            #expect(error.offset == 8)
            #expect(error.description.contains("byte 8"), "\(error.description)")
        }
        #expect(throws: (any Error).self) { try JSONValue.parse("[1, 2") }
        #expect(throws: (any Error).self) { try JSONValue.parse("01") }
        #expect(throws: (any Error).self) { try JSONValue.parse("\"a\u{01}\"") }
        #expect(throws: (any Error).self) {
            try JSONValue.parse(String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000))
        }
    }

    @Test("invalid UTF-8 is rejected")
    func invalidUTF8IsRejected() throws {
        #expect(throws: (any Error).self) { try JSONValue.parse(bytes: [0x22, 0xff, 0x22]) }
        // Sequences a repairing decoder would turn into U+FFFD of the same length: overlong, surrogate, truncated.
        #expect(throws: (any Error).self) { try JSONValue.parse(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22]) }
        #expect(throws: (any Error).self) { try JSONValue.parse(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22]) }
        #expect(throws: (any Error).self) { try JSONValue.parse(bytes: [0x22, 0x61, 0xE2, 0x82, 0x22]) }
        #expect(throws: (any Error).self) { try JSONValue.parse(bytes: [0x22, 0x5C, 0x6E, 0xC3, 0x22]) } // after an escape
        #expect(try JSONValue.parse(bytes: [0x22, 0xC3, 0xA9, 0x5C, 0x6E, 0x22]) == .string("é\n"))
    }

    @Test("integer edges and control-character escapes")
    func integerEdgesAndControlCharacterEscapes() throws {
        #expect(try JSONValue.parse("-0") == .int(0))
        #expect(try JSONValue.parse("999999999999999999") == .int(999_999_999_999_999_999))
        #expect(try JSONValue.parse("-99999999999999999") == .int(-99_999_999_999_999_999))
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(JSONValue.string("a\u{01}\u{1f}\u{08}\u{0C}é\"").jsonString == #""a\u0001\u001f\b\fé\"""#)
        #expect(try JSONValue.parse(JSONValue.string("\u{00}x\r").jsonString) == .string("\u{00}x\r"))
    }

    @Test("the content hash is SHA-256")
    func contentHashIsSHA256() {
        #expect(ContentHash.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(ContentHash.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentHash.sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(ContentHash.sha256Hex(String(repeating: "a", count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("event JSON uses the original field names")
    func eventJSONUsesTheOriginalFieldNames() throws {
        let event = StreamEvent.toolResult(ToolResultEvent(toolName: "add", toolCallID: "c1", arguments: ["a": 1], result: "2",
                                                            error: nil, success: true, durationMs: 1.5, agentName: "calc"))
        let json = try JSONValue.parse(event.jsonString)
        #expect(json["type"] == "tool_result")
        #expect(json["tool_name"] == "add")
        #expect(json["tool_call_id"] == "c1")
        #expect(json["duration_ms"] == .double(1.5))
        #expect(json["error"] == .null)
        #expect(event.jsonString.hasPrefix(#"{"type":"tool_result""#))
        #expect(try StreamEvent(json: json) == event)
        #expect(throws: (any Error).self) { try StreamEvent(json: ["type": "nope"]) }
    }

    @Test("every event type round-trips through JSON", arguments: [
        StreamEvent.text(TextEvent(text: "hi", agentName: "a")),
        .step(StepEvent(stepNumber: 2, agentName: "a", status: .completed, startedAt: 1, completedAt: 2, usage: Usage(inputTokens: 1, outputTokens: 2))),
        .status(StatusEvent(status: .waitingForTool, agentName: "a", message: "m")),
        .error(ErrorEvent(error: "boom", errorType: "X", agentName: "a", stepNumber: 3, recoverable: true)),
        .usage(UsageEvent(usage: Usage(inputTokens: 5, outputTokens: 6), agentName: "a", stepNumber: 1, model: "m")),
        .reasoning(ReasoningEvent(text: "hmm", agentName: "a")),
        .toolCall(ToolCallEvent(toolName: "t", toolCallID: "i", agentName: "a")),
    ])
    func everyEventTypeRoundTrips(event: StreamEvent) throws {
        #expect(try StreamEvent(json: try JSONValue.parse(event.jsonString)) == event)
    }
}
