import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

@Suite("Anthropic provider")
struct AnthropicProviderTests {
    @Test("thinking, text and tool use stream, and the request is translated")
    func thinkingTextAndToolUseStreamAndTheRequestIsTranslated() async throws {
        try await withServer { server in
            server.enqueue(.anthropicStream([
                AnthropicEvent.messageStart(inputTokens: 12),
                AnthropicEvent.thinkingStart(index: 0), AnthropicEvent.thinking("Let me check", index: 0),
                AnthropicEvent.blockStop(index: 0),
                AnthropicEvent.textStart(index: 1), AnthropicEvent.text("Checking", index: 1), AnthropicEvent.blockStop(index: 1),
                AnthropicEvent.ping,
                AnthropicEvent.toolUseStart(index: 2, id: "toolu_1", name: "get_weather"),
                AnthropicEvent.inputJSON("{\"city\":", index: 2), AnthropicEvent.inputJSON("\"Paris\"}", index: 2),
                AnthropicEvent.blockStop(index: 2),
                AnthropicEvent.messageDelta(stopReason: "tool_use", outputTokens: 30),
                AnthropicEvent.messageStop,
            ]))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let history: [Message] = [
                .system("You are helpful."),
                .user("Weather in Rome and Oslo?"),
                .assistant("Looking.", toolCalls: [ToolCall(id: "toolu_a", name: "get_weather", arguments: "{\"city\":\"Rome\"}"),
                                                   ToolCall(id: "toolu_b", name: "get_weather", arguments: "{\"city\":\"Oslo\"}")]),
                .tool("Sunny", callID: "toolu_a", name: "get_weather"),
                .tool("Snow", callID: "toolu_b", name: "get_weather"),
            ]
            let outcome = await complete(provider, weatherRequest(model: "claude-sonnet-4-5", messages: history))

            #expect(outcome.error == nil)
            #expect(outcome.events == [
                .reasoning("Let me check"), .text("Checking"),
                .toolCall(ToolCall(id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}")),
                .usage(Usage(inputTokens: 12, outputTokens: 30)), .finish("tool_calls"),
            ])

            let sent = try #require(server.requests.first)
            #expect(sent.path == "/v1/messages")
            #expect(sent.header("x-api-key") == "sk-ant-test")
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("authorization") == nil)
            let body = try #require(sent.json)
            #expect(body["model"] == "claude-sonnet-4-5")
            #expect(body["max_tokens"] == 4096)
            #expect(body["stream"] == true)
            #expect(body["system"] == "You are helpful.")
            #expect(body["tools"] == [["name": "get_weather", "description": "Current weather for a city",
                                       "input_schema": ["type": "object", "properties": ["city": ["type": "string"]],
                                                        "required": ["city"]]]])
            #expect(body["messages"] == [
                ["role": "user", "content": "Weather in Rome and Oslo?"],
                ["role": "assistant", "content": [
                    ["type": "text", "text": "Looking."],
                    ["type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": ["city": "Rome"]],
                    ["type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": ["city": "Oslo"]]]],
                ["role": "user", "content": [
                    ["type": "tool_result", "tool_use_id": "toolu_a", "content": "Sunny"],
                    ["type": "tool_result", "tool_use_id": "toolu_b", "content": "Snow"]]],
            ])
        }
    }

    @Test("an error event mid-stream throws its message")
    func errorEventMidStreamThrowsItsMessage() async throws {
        try await withServer { server in
            server.enqueue(.anthropicStream([AnthropicEvent.messageStart(inputTokens: 5), AnthropicEvent.textStart(index: 0),
                                             AnthropicEvent.text("Hel", index: 0),
                                             AnthropicEvent.error(type: "overloaded_error", message: "Overloaded")]))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "claude-sonnet-4-5"))
            let error = try #require(outcome.modelError)
            #expect(outcome.events == [.text("Hel")])
            #expect(error.provider == "anthropic")
            #expect(error.message.contains("Overloaded"))
            #expect(error.retryable == false)
            #expect(server.requests.count == 1)
        }
    }

    @Test("overloaded before any output is retried")
    func overloadedBeforeAnyOutputIsRetried() async throws {
        try await withServer { server in
            server.enqueue(.anthropicStream([AnthropicEvent.messageStart(inputTokens: 5),
                                             AnthropicEvent.error(type: "overloaded_error", message: "Overloaded")]),
                           .anthropicReply("fine now"))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "claude-sonnet-4-5"))
            #expect(outcome.error == nil)
            #expect(outcome.texts == ["fine now"])
            #expect(server.requests.count == 2)
        }
    }

    @Test("an HTTP error body's message is named")
    func httpErrorBodyMessageIsNamed() async throws {
        try await withServer { server in
            server.enqueue(.httpError(404, message: "model: claude-nope", type: "not_found_error"))
            let provider = try makeProvider("anthropic:claude-nope", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "claude-nope"))
            let error = try #require(outcome.modelError)
            #expect(error.description == "anthropic:claude-nope HTTP 404: model: claude-nope")
            #expect(server.requests.count == 1)
        }
    }

    @Test("a stream without message_stop is an error")
    func streamWithoutMessageStopIsAnError() async throws {
        try await withServer { server in
            server.enqueue(.anthropicStream([AnthropicEvent.messageStart(inputTokens: 5), AnthropicEvent.textStart(index: 0),
                                             AnthropicEvent.text("half", index: 0)]))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "claude-sonnet-4-5"))
            #expect(outcome.events == [.text("half")])
            #expect(outcome.modelError?.message.contains("stream ended before the reply was complete") == true)
            #expect(server.requests.count == 1)
        }
    }

    @Test("max_tokens, and a user turn after tool results")
    func maxTokensAndUserTurnAfterToolResults() async throws {
        try await withServer { server in
            server.enqueue(.anthropicReply("ok"))
            let provider = try makeProvider("anthropic:claude-haiku", environment: environment(for: server))
            var request = weatherRequest(model: "claude-haiku", messages: [
                .user("hi"),
                .assistant("", toolCalls: [ToolCall(id: "t1", name: "get_weather", arguments: "not json")]),
                .tool("Sunny", callID: "t1", name: "get_weather"),
                .user("and tomorrow?"),
            ])
            request.maxTokens = 100
            let outcome = await complete(provider, request)
            #expect(outcome.events == [.text("ok"), .usage(Usage(inputTokens: 10, outputTokens: 5)), .finish("stop")])
            let body = try #require(server.requests.first?.json)
            #expect(body["max_tokens"] == 100)
            #expect(body["system"] == nil)
            #expect(body["messages"] == [
                ["role": "user", "content": "hi"],
                ["role": "assistant", "content": [["type": "tool_use", "id": "t1", "name": "get_weather", "input": [:]]]],
                ["role": "user", "content": [["type": "tool_result", "tool_use_id": "t1", "content": "Sunny"],
                                             ["type": "text", "text": "and tomorrow?"]]],
            ])
        }
    }
}
