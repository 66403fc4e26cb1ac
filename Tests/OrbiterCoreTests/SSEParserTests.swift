import OrbiterCore
import Testing

@Suite("SSE parser")
struct SSEParserTests {
    @Test("handles any split of the bytes")
    func handlesAnySplitOfTheBytes() {
        let body = ": comment\r\nevent: message_start\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: é\n\ndata: [DONE]\r\r"
        let expected = [SSEEvent(name: "message_start", data: "{\"a\":\n1}"), SSEEvent(name: nil, data: "é"),
                         SSEEvent(name: nil, data: "[DONE]")]
        let bytes = Array(body.utf8)
        for split in 0...bytes.count {
            var parser = SSEParser()
            var events = parser.feed(bytes[..<split])
            events += parser.feed(bytes[split...])
            if let last = parser.finish() { events.append(last) }
            #expect(events == expected, "split at \(split)")
        }
    }

    @Test("delivers an unterminated last event")
    func deliversAnUnterminatedLastEvent() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data:x".utf8)).isEmpty)
        #expect(parser.finish() == SSEEvent(name: nil, data: "x"))
    }
}
