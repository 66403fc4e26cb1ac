import OrbiterCore

extension FakeModelServer {
    /// One scripted answer to one request, taken from the server's queue in order.
    public enum Turn: Sendable {
        /// A `200` server-sent-event stream: each chunk is written (and flushed) after its delay.
        case stream([Chunk], status: Int = 200, headers: [String: String] = [:])
        /// An HTTP error with this body and headers (e.g. `Retry-After`).
        case error(status: Int, body: String, headers: [String: String] = [:])
        /// Starts a stream, sends these chunks, then closes the connection mid-body.
        case cut(after: [Chunk])
        /// Starts a stream, sends these chunks, then sends nothing until the client gives up.
        case stall(after: [Chunk])
        /// Takes the request and answers nothing, not even a head, until the client gives up.
        case silent

        /// An OpenAI Chat Completions stream; `data: [DONE]` is appended unless `done` is false.
        public static func openAIStream(_ chunks: [Chunk], done: Bool = true) -> Turn {
            .stream(done ? chunks + [OpenAIChunk.done] : chunks)
        }

        /// An Anthropic Messages stream (the events as given).
        public static func anthropicStream(_ chunks: [Chunk]) -> Turn { .stream(chunks) }

        /// An error in the shape both OpenAI and Anthropic use: `{"error":{"message":…,"type":…}}`.
        public static func httpError(_ status: Int, message: String, type: String = "api_error",
                                     headers: [String: String] = [:]) -> Turn {
            let body: JSONValue = ["type": "error", "error": ["message": .string(message), "type": .string(type)]]
            return .error(status: status, body: body.jsonString, headers: headers)
        }

        /// A whole OpenAI reply: the text in pieces, then `stop`, usage and `[DONE]`.
        public static func openAIReply(_ pieces: String..., promptTokens: Int = 10, completionTokens: Int = 5) -> Turn {
            openAIStream(pieces.map { OpenAIChunk.text($0) }
                         + [OpenAIChunk.finish("stop"), OpenAIChunk.usage(prompt: promptTokens, completion: completionTokens)])
        }

        /// A whole OpenAI reply that calls tools: `(id, name, arguments JSON)` each, then `tool_calls`.
        public static func openAIToolCalls(_ calls: [(id: String, name: String, arguments: String)]) -> Turn {
            let chunks = calls.enumerated().map { index, call in
                OpenAIChunk.toolCall(index: index, id: call.id, name: call.name, arguments: call.arguments)
            }
            return openAIStream(chunks + [OpenAIChunk.finish("tool_calls"), OpenAIChunk.usage(prompt: 10, completion: 5)])
        }

        /// A whole Anthropic reply: one text block in pieces, `end_turn`, usage.
        public static func anthropicReply(_ pieces: String..., inputTokens: Int = 10, outputTokens: Int = 5) -> Turn {
            .stream([AnthropicEvent.messageStart(inputTokens: inputTokens), AnthropicEvent.textStart(index: 0)]
                    + pieces.map { AnthropicEvent.text($0, index: 0) }
                    + [AnthropicEvent.blockStop(index: 0),
                       AnthropicEvent.messageDelta(stopReason: "end_turn", outputTokens: outputTokens),
                       AnthropicEvent.messageStop])
        }
    }

    /// Raw bytes of a streamed body, sent after `delay`.
    public struct Chunk: Sendable {
        /// The bytes, usually one or more complete SSE events.
        public var text: String
        /// Wait before writing this chunk.
        public var delay: Duration

        /// A chunk sent `delay` after the previous one.
        public init(_ text: String, delay: Duration = .zero) {
            self.text = text
            self.delay = delay
        }

        /// Text sent as it is (for broken chunks, comments, CRLF framing …).
        public static func raw(_ text: String) -> Chunk { Chunk(text) }
        /// One `data:` event.
        public static func data(_ json: JSONValue) -> Chunk { Chunk("data: \(json.jsonString)\n\n") }
        /// One named event, as Anthropic sends them.
        public static func event(_ name: String, _ json: JSONValue) -> Chunk {
            Chunk("event: \(name)\ndata: \(json.jsonString)\n\n")
        }

        /// The same chunk, sent `delay` after the previous one.
        public func after(_ delay: Duration) -> Chunk { Chunk(text, delay: delay) }
    }

    /// What the server received, for assertions.
    public struct RecordedRequest: Sendable {
        /// `POST`, `GET`, ….
        public var method: String
        /// Path and query, e.g. `/v1/chat/completions`.
        public var path: String
        /// Header names lowercased; repeated headers joined with `, `.
        public var headers: [String: String]
        /// The raw body text.
        public var body: String

        /// The body parsed as JSON, or nil when it is not JSON.
        public var json: JSONValue? { try? JSONValue.parse(body) }

        /// A header by name, case-insensitively.
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }
}
