import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

@Suite("OpenAI-compatible provider")
struct OpenAIProviderTests {
    @Test("plain text streams and the request is well formed")
    func plainTextStreamsAndSendsAWellFormedRequest() async throws {
        try await withServer { server in
            server.enqueue(.openAIStream([OpenAIChunk.delta(["role": "assistant", "content": ""]),
                                          OpenAIChunk.text("Hel"), OpenAIChunk.text("lo"),
                                          OpenAIChunk.finish("stop"), OpenAIChunk.usage(prompt: 11, completion: 2)]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            var request = weatherRequest()
            request.temperature = 0.5
            request.maxTokens = 50
            let outcome = await complete(provider, request)

            #expect(outcome.error == nil)
            #expect(outcome.events == [.text("Hel"), .text("lo"), .usage(Usage(inputTokens: 11, outputTokens: 2)), .finish("stop")])

            let sent = try #require(server.requests.first)
            #expect(server.requests.count == 1)
            #expect(sent.method == "POST")
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.header("Authorization") == "Bearer sk-test-openai")
            #expect(sent.header("Content-Type") == "application/json")
            let body = try #require(sent.json)
            #expect(body["model"] == "gpt-4o")
            #expect(body["stream"] == true)
            #expect(body["stream_options"] == ["include_usage": true])
            #expect(body["temperature"] == 0.5)
            #expect(body["max_tokens"] == 50)  // a compatible server: not api.openai.com
            #expect(body["messages"] == [["role": "system", "content": "You are helpful."],
                                         ["role": "user", "content": "Weather in Paris?"]])
            #expect(body["tools"] == [["type": "function", "function": [
                "name": "get_weather", "description": "Current weather for a city",
                "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]]]])
        }
    }

    @Test("interleaved tool calls are assembled by index and results go back")
    func interleavedToolCallsAreAssembledByIndexAndResultsGoBack() async throws {
        try await withServer { server in
            server.enqueue(.openAIStream([
                OpenAIChunk.toolCall(index: 0, id: "call_a", name: "get_weather"),
                OpenAIChunk.toolCall(index: 1, id: "call_b", name: "get_time"),
                OpenAIChunk.toolCall(index: 0, arguments: "{\"city\":"),
                OpenAIChunk.toolCall(index: 1, arguments: "{\"tz\":\"UTC\"}"),
                OpenAIChunk.toolCall(index: 0, arguments: "\"Paris\"}"),
                OpenAIChunk.finish("tool_calls"),
                OpenAIChunk.usage(prompt: 20, completion: 9),
            ]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let history: [Message] = [
                .user("Weather and time?"),
                .assistant("", toolCalls: [ToolCall(id: "call_0", name: "get_weather", arguments: "{\"city\":\"Rome\"}")]),
                .tool("Sunny in Rome", callID: "call_0", name: "get_weather"),
            ]
            let outcome = await complete(provider, weatherRequest(messages: history))

            #expect(outcome.error == nil)
            #expect(outcome.events == [
                .toolCall(ToolCall(id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}")),
                .toolCall(ToolCall(id: "call_b", name: "get_time", arguments: "{\"tz\":\"UTC\"}")),
                .usage(Usage(inputTokens: 20, outputTokens: 9)),
                .finish("tool_calls"),
            ])
            let messages = try #require(server.requests.first?.json?["messages"])
            #expect(messages == [
                ["role": "user", "content": "Weather and time?"],
                ["role": "assistant", "content": nil, "tool_calls": [
                    ["id": "call_0", "type": "function", "function": ["name": "get_weather", "arguments": "{\"city\":\"Rome\"}"]]]],
                ["role": "tool", "tool_call_id": "call_0", "content": "Sunny in Rome"],
            ])
        }
    }

    @Test("reasoning deltas become reasoning events")
    func reasoningDeltasBecomeReasoningEvents() async throws {
        try await withServer { server in
            server.enqueue(.openAIStream([OpenAIChunk.reasoning("Think"), OpenAIChunk.reasoning("ing…"),
                                          OpenAIChunk.text("42"), OpenAIChunk.finish("stop")]))
            let provider = try makeProvider("openai:deepseek-r1", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "deepseek-r1"))
            #expect(outcome.error == nil)
            #expect(outcome.events == [.reasoning("Think"), .reasoning("ing…"), .text("42"), .finish("stop")])
            #expect(server.requests.first?.json?["model"] == "deepseek-r1")
        }
    }

    @Test("the connection is reused across replies")
    func connectionIsReusedAcrossReplies() async throws {
        try await withServer { server in
            server.enqueue(.openAIReply("one"), .anthropicReply("two"))
            let openAI = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let anthropic = try makeProvider("anthropic:claude-haiku", environment: environment(for: server))
            #expect(await complete(openAI, weatherRequest()).texts == ["one"])
            #expect(await complete(anthropic, weatherRequest(model: "claude-haiku")).texts == ["two"])
            // The body is read to its end after the end marker, so the pooled connection is reused.
            #expect(server.acceptedConnections == 1)
        }
    }

    @Test("SSE framing with CRLF, comments and split lines")
    func sseFramingWithCRLFCommentsAndSplitLines() async throws {
        try await withServer { server in
            let chunk = OpenAIChunk.text("Hi").text.replacingCRLF()
            let middle = chunk.index(chunk.startIndex, offsetBy: 20)
            server.enqueue(.stream([
                .raw(": keep-alive comment\r\n\r\n"),
                .raw(String(chunk[..<middle])), .raw(String(chunk[middle...])),
                .raw("data: {\"choices\":[{\"index\":0,\r\ndata: \"delta\":{\"content\":\" there\"}}]}\r\n\r\n"),
                .raw(OpenAIChunk.finish().text.replacingCRLF()),
                .raw("data: [DONE]\r\n\r\n"),
            ]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.error == nil)
            #expect(outcome.events == [.text("Hi"), .text(" there"), .finish("stop")])
        }
    }
}

extension String {
    func replacingCRLF() -> String { replacing("\n", with: "\r\n") }
}
