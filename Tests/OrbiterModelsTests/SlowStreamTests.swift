import OrbiterCore
import OrbiterModels
import OrbiterTestSupport
import Testing

@Suite("Streaming latency", .serialized)
struct SlowStreamTests {
    @Test("many streams to one HTTP/1.1 host run at once, not 8 at a time")
    func manyStreamsToOneHostRunAtOnce() async throws {
        try await withServer { server in
            let calls = 24
            // Each answer takes 400 ms; a pool capped at 8 connections would reuse 8 and make the rest wait.
            for _ in 0..<calls {
                server.enqueue(.openAIStream([OpenAIChunk.text("slow").after(.milliseconds(400)), OpenAIChunk.finish("stop")]))
            }
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcomes = await withTaskGroup(of: Outcome.self) { group in
                for _ in 0..<calls { group.addTask { await complete(provider, weatherRequest()) } }
                return await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            #expect(outcomes.allSatisfy { $0.error == nil && $0.texts == ["slow"] })
            // A new connection is opened only while every open one is busy: 24 connections means 24 calls in flight at once.
            #expect(server.acceptedConnections == calls, "\(server.acceptedConnections) connections for \(calls) concurrent calls")
        }
    }

    @Test("text is forwarded as each chunk arrives")
    func textIsForwardedAsEachChunkArrives() async throws {
        try await withServer { server in
            let gap = Duration.milliseconds(150)
            server.enqueue(.openAIStream([OpenAIChunk.text("one "), OpenAIChunk.text("two ").after(gap),
                                          OpenAIChunk.text("three").after(gap), OpenAIChunk.finish("stop").after(gap)]))
            let provider = try makeProvider("openai:gpt-4o", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest())
            #expect(outcome.error == nil)
            #expect(outcome.texts == ["one ", "two ", "three"])
            let times = outcome.times
            // Each piece arrives about one gap (150 ms) after the previous one, not all together at the
            // end; the margins allow for a loaded 2-core machine delaying one chunk's delivery.
            #expect((times[1] - times[0]).inSeconds >= 0.05)
            #expect((times[2] - times[1]).inSeconds >= 0.05)
            #expect((times[2] - times[0]).inSeconds >= 0.2)
            #expect((outcome.finishedAt - times[0]).inSeconds >= 0.3)
        }
    }

    @Test("Anthropic text is forwarded as each event arrives")
    func anthropicTextIsForwardedAsEachEventArrives() async throws {
        try await withServer { server in
            let gap = Duration.milliseconds(150)
            server.enqueue(.anthropicStream([AnthropicEvent.messageStart(inputTokens: 3), AnthropicEvent.textStart(index: 0),
                                             AnthropicEvent.text("a", index: 0), AnthropicEvent.text("b", index: 0).after(gap),
                                             AnthropicEvent.blockStop(index: 0).after(gap),
                                             AnthropicEvent.messageDelta(stopReason: "end_turn", outputTokens: 2),
                                             AnthropicEvent.messageStop]))
            let provider = try makeProvider("anthropic:claude-sonnet-4-5", environment: environment(for: server))
            let outcome = await complete(provider, weatherRequest(model: "claude-sonnet-4-5"))
            #expect(outcome.error == nil)
            #expect(outcome.texts == ["a", "b"])
            #expect((outcome.times[1] - outcome.times[0]).inSeconds >= 0.05)
            #expect((outcome.finishedAt - outcome.times[0]).inSeconds >= 0.2)
        }
    }
}
