import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import Testing

/// Tool and model names come from payloads: only names the worker knows, plus a capped number of
/// others, become label values; the rest are counted as `other`.
@Suite("Metrics labels")
struct MetricsLabelTests {
    private func tool(_ name: String) -> StreamEvent {
        .toolResult(ToolResultEvent(toolName: name, toolCallID: "c", arguments: [:], result: "", error: nil, success: true,
                                    durationMs: 1, agentName: "a"))
    }

    private func usage(_ model: String) -> StreamEvent {
        .usage(UsageEvent(usage: Usage(inputTokens: 1, outputTokens: 1), agentName: "a", stepNumber: 1, model: model))
    }

    @Test("labels are bounded to known names and the first few")
    func labelsAreBoundedToKnownNamesAndTheFirstFew() {
        let exporter = PrometheusExporter()
        let metrics = WorkerMetrics(factory: exporter.factory, queue: "q",
                                    labels: MetricsLabelPolicy(limit: 2, knownModels: ["openai:gpt-4o"]),
                                    isKnownTool: { $0 == "search" })
        for name in ["t1", "t2", "t3", "t4", "t1", String(repeating: "x", count: 500)] { metrics.observe(tool(name)) }
        metrics.observe(tool("search")) // the worker's own tool: labelled even past the cap
        for model in ["lua:m1", "lua:m2", "lua:m3", "openai:gpt-4o"] { metrics.observe(usage(model)) }
        let text = String(decoding: exporter.render(), as: UTF8.self)

        #expect(sample(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="t1"}"#) == 2, "\(text)")
        #expect(sample(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="t2"}"#) == 1, "\(text)")
        #expect(sample(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="other"}"#) == 3, "t3, t4 and the long name: \(text)")
        #expect(sample(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="search"}"#) == 1, "\(text)")
        #expect(!text.contains(#"tool="t3""#), "\(text)")
        #expect(!text.contains("xxxx"), "\(text)")

        #expect(text.contains(#"model="lua:m1""#) && text.contains(#"model="lua:m2""#), "\(text)")
        #expect(!text.contains(#"model="lua:m3""#), "\(text)")
        #expect(text.contains(#"model="other""#), "\(text)")
        #expect(text.contains(#"model="openai:gpt-4o""#), "a configured model is always labelled: \(text)")
    }

    @Test("a thousand distinct tool names make at most the limit plus `other`")
    func aThousandDistinctToolNamesMakeAtMostTheLimitPlusOther() {
        let exporter = PrometheusExporter()
        let metrics = WorkerMetrics(factory: exporter.factory, queue: "q")
        for i in 0..<1000 { metrics.observe(tool("tool-\(i)")) }
        let text = String(decoding: exporter.render(), as: UTF8.self)
        let series = text.split(separator: "\n").filter { $0.hasPrefix("orbiter_tool_duration_seconds_count{") }
        #expect(series.count == MetricsLabelPolicy().limit + 1, "100 names and other")
        #expect(sample(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="other"}"#) == 900)
    }

    @Test("the provider policy refuses endpoint settings it does not allow anywhere in the tree")
    func providerPolicyRefusesEndpointSettingsItDoesNotAllowAnywhereInTheTree() throws {
        let agent: JSONValue = ["type": "agent", "name": "a", "model": "openai:gpt-4o", "base_url": "http://evil.example/v1"]
        let swarm: JSONValue = ["type": "swarm", "name": "s", "agents": [["type": "parallel", "name": "g", "agents": [agent]]]]
        let unallowed = #expect(throws: (any Error).self) { try ProviderPolicy().check(swarm) }
        if let error = unallowed {
            #expect(errorTypeName(error) == "ConfigurationError")
            #expect("\(error)".contains("configuration: agent 'a' sets base_url \"http://evil.example/v1\""), "\(error)")
            #expect("\(error)".contains("--allow-base-url http://evil.example/v1"), "\(error)")
        }
        #expect(throws: Never.self) { try ProviderPolicy(allowedBaseURLs: ["http://evil.example/v1/"]).check(swarm) }
        let keyed: JSONValue = ["type": "agent", "name": "k", "model": "openai:gpt-4o", "api_key_env": "HOME"]
        let keyEnv = #expect(throws: (any Error).self) { try ProviderPolicy(allowedBaseURLs: ["http://evil.example/v1"]).check(keyed) }
        if let error = keyEnv {
            #expect("\(error)".contains("api_key_env \"HOME\"") && "\(error)".contains("--allow-api-key-env HOME"), "\(error)")
        }
        #expect(throws: Never.self) { try ProviderPolicy(allowedAPIKeyEnvs: ["HOME"]).check(keyed) }
        #expect(throws: Never.self) { try ProviderPolicy().check(["type": "agent", "name": "plain", "model": "openai:gpt-4o"]) }
    }
}
