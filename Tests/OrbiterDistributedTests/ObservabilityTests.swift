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
import Testing

/// Metrics over real HTTP, JSON logs from the real binary, and the traceparent hop.
@Suite("Observability", .serialized)
struct ObservabilityTests {
    private func get(_ port: Int, _ path: String) async throws -> (Int, String) {
        let url = URL(string: "http://127.0.0.1:\(port)\(path)")!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test("/metrics counts tasks and /healthz follows the worker")
    func metricsEndpointCountsTasksAndHealthzFollowsTheWorker() async throws {
        try await withDistributedFixture { fixture in
            let exporter = PrometheusExporter()
            let worker = try fixture.start(WorkerConfiguration(
                redisURL: fixture.redisURL, queue: fixture.queue, workerID: "w-metrics", heartbeatTTL: 3, drainTimeout: .seconds(5),
                metricsFactory: exporter.factory))
            let server = try await MetricsServer.start(host: "127.0.0.1", port: 0, metrics: { exporter.render() },
                                                       healthy: { worker.isHealthy })
            defer { Task { await server.stop() } }

            try await eventually("healthz 200") { try await get(server.port, "/healthz").0 == 200 }
            let completed = "orbiter_tasks_completed_total{queue=\"\(fixture.queue)\"}"
            let (status, before) = try await get(server.port, "/metrics")
            #expect(status == 200)
            #expect(sample(before, completed) == 0, "\(before)")

            let (_, agent) = try load(try calculator())
            for i in 1...3 {
                let handle = try await distributed(agent, "\(i) + 1", redisURL: fixture.redisURL, detailed: true, queue: fixture.queue)
                _ = try await handle.result()
            }
            try await eventually("3 completed") { sample(try await get(server.port, "/metrics").1, completed) == 3 }
            let after = try await get(server.port, "/metrics").1
            #expect(sample(after, "orbiter_task_duration_seconds_count{queue=\"\(fixture.queue)\",status=\"completed\"}") == 3, "\(after)")
            #expect(sample(after, "orbiter_task_wait_seconds_count{queue=\"\(fixture.queue)\"}") == 3, "\(after)")
            #expect(sample(after, "orbiter_tool_duration_seconds_count{queue=\"\(fixture.queue)\",tool=\"add\"}") == 3, "\(after)")
            #expect(sample(after, "orbiter_tasks_in_flight{queue=\"\(fixture.queue)\"}") == 0, "\(after)")
            #expect(sample(after, "orbiter_tasks_failed_total{queue=\"\(fixture.queue)\"}") == 0, "\(after)")
            #expect(after.contains("orbiter_llm_tokens_total{queue=\"\(fixture.queue)\""), "\(after)")
            #expect(after.contains("direction=\"output\""), "\(after)")
            #expect(after.contains("orbiter_redis_latency_seconds_count{queue=\"\(fixture.queue)\",op=\"finish\"}"), "\(after)")
            #expect(!after.contains("task_id"), "no task ids in labels")
            let notFound = try await get(server.port, "/nope").0
            #expect(notFound == 404)

            await fixture.stop(worker)
            let afterStop = try await get(server.port, "/healthz").0
            #expect(afterStop == 503)
        }
    }

    @Test("the traceparent survives the hop into the worker's JSON logs")
    func traceparentSurvivesTheHopIntoTheWorkersJSONLogs() async throws {
        try await withDistributedFixture { fixture in
            let process = try OrbiterBinary.start(["start", "worker", "--redis-url", fixture.redisURL, "--queue", fixture.queue, "--worker-id", "w-json",
                                                   "--log-format", "json", "--log-level", "debug", "--heartbeat-ttl", "3"])
            defer { process.signal(SIGKILL) }
            try await process.waitFor { _, err in err.contains("started") }

            let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
            let (_, agent) = try load(try calculator())
            let handle = try await distributed(agent, "2 + 3", redisURL: fixture.redisURL, queue: fixture.queue,
                                               traceparent: "00-\(traceID)-00f067aa0ba902b7-01")
            let status = try #require(try await handle.status())
            let stored = try #require(status.metadata["traceparent"])
            let context = try #require(TraceContext(traceparent: stored))
            #expect(context.traceID == traceID)
            #expect(context.spanID != "00f067aa0ba902b7", "the task gets a span of its own")
            #expect(status.traceID == traceID)
            _ = try await handle.result()

            try await process.waitFor { _, err in err.contains("\"task_id\":\"\(handle.taskID)\"") && err.contains("completed in") }
            process.signal(SIGTERM)
            let outcome = try await process.finish(timeout: .seconds(20))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            var taskLines: [JSONValue] = []
            for line in outcome.stderr.split(separator: "\n") {
                let json = try JSONValue.parse(String(line))
                #expect(json["timestamp"]?.stringValue != nil, "\(line)")
                #expect(json["level"]?.stringValue != nil, "\(line)")
                #expect(json["message"]?.stringValue != nil, "\(line)")
                if json["task_id"]?.stringValue == handle.taskID { taskLines.append(json) }
            }
            #expect(!taskLines.isEmpty, "\(outcome.stderr)")
            for line in taskLines {
                #expect(line["trace_id"]?.stringValue == traceID)
                #expect(line["worker_id"]?.stringValue == "w-json")
                #expect(line["agent"]?.stringValue == "calculator")
            }
        }
    }

    @Test("distributed() starts or continues a trace")
    func distributedStartsOrContinuesATrace() async throws {
        try await withDistributedFixture { fixture in
            let (_, agent) = try load(try calculator())
            let broker = try fixture.broker()
            let fresh = try await distributed(agent, "1 + 1", broker: broker)
            let freshStatus = try await fresh.status()
            let freshContext = try #require(freshStatus?.metadata["traceparent"].flatMap(TraceContext.init(traceparent:)))
            #expect(freshContext.flags == "01")
            #expect(freshContext.traceparent.hasPrefix("00-"))

            let current = TraceContext.generate()
            let continued = try await TraceContext.$current.withValue(current) {
                try await distributed(agent, "1 + 1", broker: broker)
            }
            let continuedStatus = try await continued.status()
            #expect(continuedStatus?.traceID == current.traceID)

            #expect(TraceContext(traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
            #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7") == nil)
            #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01") == nil)
            #expect(TraceContext(traceparent: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == nil)
            #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01") == nil)
            #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") == nil)
            // Upper case and surrounding blanks are accepted and normalised; a later version may add fields.
            let upper = try #require(TraceContext(traceparent: "  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 "))
            #expect(upper.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") != nil)
            let generated = Set((0..<100).map { _ in TraceContext.generate().traceparent })
            #expect(generated.count == 100)
            #expect(generated.allSatisfy { TraceContext(traceparent: $0)?.traceparent == $0 })
            do {
                _ = try await distributed(agent, "1 + 1", broker: broker, traceparent: "nope")
                Issue.record("an invalid traceparent is refused")
            } catch DistributedError.invalidArgument {}
        }
    }
}
