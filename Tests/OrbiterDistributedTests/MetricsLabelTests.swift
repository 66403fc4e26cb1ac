import Foundation
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import XCTest

/// Tool and model names come from payloads: only names the worker knows, plus a capped number of
/// others, become label values; the rest are counted as `other`.
final class MetricsLabelTests: XCTestCase {
    private func tool(_ name: String) -> StreamEvent {
        .toolResult(ToolResultEvent(toolName: name, toolCallID: "c", arguments: [:], result: "", error: nil, success: true,
                                    durationMs: 1, agentName: "a"))
    }

    private func usage(_ model: String) -> StreamEvent {
        .usage(UsageEvent(usage: Usage(inputTokens: 1, outputTokens: 1), agentName: "a", stepNumber: 1, model: model))
    }

    private func count(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") { return Double(line.dropFirst(series.count + 1)) }
        return nil
    }

    func testLabelsAreBoundedToKnownNamesAndTheFirstFew() {
        let exporter = PrometheusExporter()
        let metrics = WorkerMetrics(factory: exporter.factory, queue: "q",
                                    labels: MetricsLabelPolicy(limit: 2, knownModels: ["openai:gpt-4o"]),
                                    isKnownTool: { $0 == "search" })
        for name in ["t1", "t2", "t3", "t4", "t1", String(repeating: "x", count: 500)] { metrics.observe(tool(name)) }
        metrics.observe(tool("search")) // the worker's own tool: labelled even past the cap
        for model in ["lua:m1", "lua:m2", "lua:m3", "openai:gpt-4o"] { metrics.observe(usage(model)) }
        let text = String(decoding: exporter.render(), as: UTF8.self)

        XCTAssertEqual(count(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="t1"}"#), 2, text)
        XCTAssertEqual(count(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="t2"}"#), 1, text)
        XCTAssertEqual(count(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="other"}"#), 3, "t3, t4 and the long name: \(text)")
        XCTAssertEqual(count(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="search"}"#), 1, text)
        XCTAssertFalse(text.contains(#"tool="t3""#), text)
        XCTAssertFalse(text.contains("xxxx"), text)

        XCTAssertTrue(text.contains(#"model="lua:m1""#) && text.contains(#"model="lua:m2""#), text)
        XCTAssertFalse(text.contains(#"model="lua:m3""#), text)
        XCTAssertTrue(text.contains(#"model="other""#), text)
        XCTAssertTrue(text.contains(#"model="openai:gpt-4o""#), "a configured model is always labelled: \(text)")
    }

    func testAThousandDistinctToolNamesMakeAtMostTheLimitPlusOther() {
        let exporter = PrometheusExporter()
        let metrics = WorkerMetrics(factory: exporter.factory, queue: "q")
        for i in 0..<1000 { metrics.observe(tool("tool-\(i)")) }
        let text = String(decoding: exporter.render(), as: UTF8.self)
        let series = text.split(separator: "\n").filter { $0.hasPrefix("orbiter_tool_duration_seconds_count{") }
        XCTAssertEqual(series.count, MetricsLabelPolicy().limit + 1, "100 names and other")
        XCTAssertEqual(count(text, #"orbiter_tool_duration_seconds_count{queue="q",tool="other"}"#), 900)
    }

    func testProviderPolicyRefusesEndpointSettingsItDoesNotAllowAnywhereInTheTree() throws {
        let agent: JSONValue = ["type": "agent", "name": "a", "model": "openai:gpt-4o", "base_url": "http://evil.example/v1"]
        let swarm: JSONValue = ["type": "swarm", "name": "s", "agents": [["type": "parallel", "name": "g", "agents": [agent]]]]
        XCTAssertThrowsError(try ProviderPolicy().check(swarm)) { error in
            XCTAssertEqual(errorTypeName(error), "ConfigurationError")
            XCTAssertTrue("\(error)".contains("configuration: agent 'a' sets base_url \"http://evil.example/v1\""), "\(error)")
            XCTAssertTrue("\(error)".contains("--allow-base-url http://evil.example/v1"), "\(error)")
        }
        XCTAssertNoThrow(try ProviderPolicy(allowedBaseURLs: ["http://evil.example/v1/"]).check(swarm))
        let keyed: JSONValue = ["type": "agent", "name": "k", "model": "openai:gpt-4o", "api_key_env": "HOME"]
        XCTAssertThrowsError(try ProviderPolicy(allowedBaseURLs: ["http://evil.example/v1"]).check(keyed)) { error in
            XCTAssertTrue("\(error)".contains("api_key_env \"HOME\"") && "\(error)".contains("--allow-api-key-env HOME"), "\(error)")
        }
        XCTAssertNoThrow(try ProviderPolicy(allowedAPIKeyEnvs: ["HOME"]).check(keyed))
        XCTAssertNoThrow(try ProviderPolicy().check(["type": "agent", "name": "plain", "model": "openai:gpt-4o"]))
    }
}
