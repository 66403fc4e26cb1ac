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

    @Test("handles the bytes one at a time, with empty reads between them, and from a non-contiguous sequence")
    func handlesSingleBytesAndEmptyReads() {
        let body = "data: a\r\n\r\nevent: e\rdata: b\r\rdata: c\n\n"
        let expected = [SSEEvent(name: nil, data: "a"), SSEEvent(name: "e", data: "b"), SSEEvent(name: nil, data: "c")]
        var parser = SSEParser()
        var events: [SSEEvent] = []
        for byte in body.utf8 {
            events += parser.feed([byte])
            events += parser.feed([UInt8]())
        }
        #expect(events == expected)
        var lazy = SSEParser()
        #expect(lazy.feed(body.utf8.lazy.map { $0 }) == expected, "a sequence without contiguous storage")
    }

    @Test("delivers an unterminated last event")
    func deliversAnUnterminatedLastEvent() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data:x".utf8)).isEmpty)
        #expect(parser.finish() == SSEEvent(name: nil, data: "x"))
    }
}
