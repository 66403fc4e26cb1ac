import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterTestSupport
import XCTest

/// Metrics over real HTTP, JSON logs from the real binary, and the traceparent hop.
final class ObservabilityTests: DistributedTestCase {
    private func get(_ port: Int, _ path: String) async throws -> (Int, String) {
        let url = URL(string: "http://127.0.0.1:\(port)\(path)")!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The value of the first sample line starting with `series` (name plus labels).
    private func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    func testMetricsEndpointCountsTasksAndHealthzFollowsTheWorker() async throws {
        let exporter = PrometheusExporter()
        let worker = try Worker(configuration: WorkerConfiguration(
            redisURL: redisURL, queue: queue, workerID: "w-metrics", heartbeatTTL: 3, drainTimeout: .seconds(5),
            metricsFactory: exporter.factory))
        let task = Task { try await worker.run() }
        workers.append((worker, task))
        let server = try await MetricsServer.start(host: "127.0.0.1", port: 0, metrics: { exporter.render() },
                                                   healthy: { worker.isHealthy })
        defer { Task { await server.stop() } }

        try await eventually("healthz 200") { try await get(server.port, "/healthz").0 == 200 }
        let completed = "orbiter_tasks_completed_total{queue=\"\(queue)\"}"
        let (status, before) = try await get(server.port, "/metrics")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(sample(before, completed), 0, before)

        let (_, agent) = try load(try calculator())
        for i in 1...3 {
            let handle = try await distributed(agent, "\(i) + 1", redisURL: redisURL, detailed: true, queue: queue)
            _ = try await handle.result()
        }
        try await eventually("3 completed") { sample(try await get(server.port, "/metrics").1, completed) == 3 }
        let after = try await get(server.port, "/metrics").1
        XCTAssertEqual(sample(after, "orbiter_task_duration_seconds_count{queue=\"\(queue)\",status=\"completed\"}"), 3, after)
        XCTAssertEqual(sample(after, "orbiter_task_wait_seconds_count{queue=\"\(queue)\"}"), 3, after)
        XCTAssertEqual(sample(after, "orbiter_tool_duration_seconds_count{queue=\"\(queue)\",tool=\"add\"}"), 3, after)
        XCTAssertEqual(sample(after, "orbiter_tasks_in_flight{queue=\"\(queue)\"}"), 0, after)
        XCTAssertEqual(sample(after, "orbiter_tasks_failed_total{queue=\"\(queue)\"}"), 0, after)
        XCTAssertTrue(after.contains("orbiter_llm_tokens_total{queue=\"\(queue)\""), after)
        XCTAssertTrue(after.contains("direction=\"output\""), after)
        XCTAssertTrue(after.contains("orbiter_redis_latency_seconds_count{queue=\"\(queue)\",op=\"finish\"}"), after)
        XCTAssertFalse(after.contains("task_id"), "no task ids in labels")
        let notFound = try await get(server.port, "/nope").0
        XCTAssertEqual(notFound, 404)

        worker.stop()
        _ = await task.result
        let afterStop = try await get(server.port, "/healthz").0
        XCTAssertEqual(afterStop, 503)
    }

    func testTraceparentSurvivesTheHopIntoTheWorkersJSONLogs() async throws {
        let process = try OrbiterBinary.start(["start", "worker", "--redis-url", redisURL, "--queue", queue, "--worker-id", "w-json",
                                               "--log-format", "json", "--log-level", "debug", "--heartbeat-ttl", "3"])
        defer { process.signal(SIGKILL) }
        try await process.waitFor { _, err in err.contains("started") }

        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let (_, agent) = try load(try calculator())
        let handle = try await distributed(agent, "2 + 3", redisURL: redisURL, queue: queue,
                                           traceparent: "00-\(traceID)-00f067aa0ba902b7-01")
        let fetched = try await handle.status()
        let status = try XCTUnwrap(fetched)
        let stored = try XCTUnwrap(status.metadata["traceparent"])
        let context = try XCTUnwrap(TraceContext(traceparent: stored))
        XCTAssertEqual(context.traceID, traceID)
        XCTAssertNotEqual(context.spanID, "00f067aa0ba902b7", "the task gets a span of its own")
        XCTAssertEqual(status.traceID, traceID)
        _ = try await handle.result()

        try await process.waitFor { _, err in err.contains("\"task_id\":\"\(handle.taskID)\"") && err.contains("completed in") }
        process.signal(SIGTERM)
        let outcome = try await process.finish(timeout: .seconds(20))
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        var taskLines: [JSONValue] = []
        for line in outcome.stderr.split(separator: "\n") {
            let json = try JSONValue.parse(String(line))
            XCTAssertNotNil(json["timestamp"]?.stringValue, String(line))
            XCTAssertNotNil(json["level"]?.stringValue, String(line))
            XCTAssertNotNil(json["message"]?.stringValue, String(line))
            if json["task_id"]?.stringValue == handle.taskID { taskLines.append(json) }
        }
        XCTAssertFalse(taskLines.isEmpty, outcome.stderr)
        for line in taskLines {
            XCTAssertEqual(line["trace_id"]?.stringValue, traceID)
            XCTAssertEqual(line["worker_id"]?.stringValue, "w-json")
            XCTAssertEqual(line["agent"]?.stringValue, "calculator")
        }
    }

    func testDistributedStartsOrContinuesATrace() async throws {
        let (_, agent) = try load(try calculator())
        let broker = try broker()
        let fresh = try await distributed(agent, "1 + 1", broker: broker)
        let freshStatus = try await fresh.status()
        let freshContext = try XCTUnwrap(freshStatus?.metadata["traceparent"].flatMap(TraceContext.init(traceparent:)))
        XCTAssertEqual(freshContext.flags, "01")
        XCTAssertTrue(freshContext.traceparent.hasPrefix("00-"))

        let current = TraceContext.generate()
        let continued = try await TraceContext.$current.withValue(current) {
            try await distributed(agent, "1 + 1", broker: broker)
        }
        let continuedStatus = try await continued.status()
        XCTAssertEqual(continuedStatus?.traceID, current.traceID)

        XCTAssertNil(TraceContext(traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"))
        XCTAssertNil(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"))
        XCTAssertNil(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"))
        XCTAssertNil(TraceContext(traceparent: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        XCTAssertNil(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"))
        XCTAssertNil(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"))
        // Upper case and surrounding blanks are accepted and normalised; a later version may add fields.
        let upper = try XCTUnwrap(TraceContext(traceparent: "  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 "))
        XCTAssertEqual(upper.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        XCTAssertNotNil(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"))
        let generated = Set((0..<100).map { _ in TraceContext.generate().traceparent })
        XCTAssertEqual(generated.count, 100)
        XCTAssertTrue(generated.allSatisfy { TraceContext(traceparent: $0)?.traceparent == $0 })
        do {
            _ = try await distributed(agent, "1 + 1", broker: broker, traceparent: "nope")
            XCTFail("an invalid traceparent is refused")
        } catch DistributedError.invalidArgument {}
    }
}
