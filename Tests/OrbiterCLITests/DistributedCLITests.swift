import Foundation
import OrbiterTestSupport
import Testing

/// `orbiter submit`, `start worker`, `task ...`, `worker list`, driven as processes against the
/// private Redis of scripts/test.sh.
@Suite("Distributed CLI", .serialized)
struct DistributedCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("cli") }

    @Test("submit to a worker process and inspect the task")
    func submitToAWorkerProcessAndInspectTheTask() async throws {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "cli-\(queue)", "--concurrency", "2"], environment: env)
        try await worker.waitFor { _, err in err.contains("worker cli-\(self.queue) started") }
        #expect(worker.stderr.contains("queue '\(queue)'"), "\(worker.stderr)")

        let streamed = try await orbiter(["submit", "examples/calculator.lua", "2 + 40", "--stream", "--queue", queue])
        #expect(streamed.status == 0, "\(streamed.stderr)")
        #expect(streamed.stdout == "The answer is 42.\n")
        #expect(streamed.stderr.contains("calling add"), "\(streamed.stderr)")

        let waited = try await orbiter(["submit", "examples/weather.lua", "--wait", "--queue", queue, "--metadata", "user=ada"],
                                       stdin: "Weather in Paris?")
        // weather.lua needs a real model: without OPENAI_API_KEY the task fails, and says why.
        #expect(waited.status == 1)
        #expect(waited.stderr.contains("failed:"), "\(waited.stderr)")

        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let submitted = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--queue", queue,
                                           "--traceparent", "00-\(traceID)-00f067aa0ba902b7-01"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 32)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "10"])
        #expect(result.stdout == "The answer is 3.\n")
        let status = try await orbiter(["task", "status", id, "--queue", queue, "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as! [String: Any]
        #expect(json["status"] as? String == "completed")
        #expect(json["worker_id"] as? String == "cli-\(queue)")
        let traceparent = (json["metadata"] as? [String: Any])?["traceparent"] as? String
        #expect(traceparent?.hasPrefix("00-\(traceID)-") == true, "submit --traceparent continues the trace: \(String(describing: traceparent))")
        let events = try await orbiter(["task", "events", id, "--queue", queue, "--json"])
        let lines = events.stdout.split(separator: "\n")
        #expect(lines.last?.contains(#""status":"completed""#) == true, "\(events.stdout)")
        let list = try await orbiter(["task", "list", "--queue", queue, "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [Any]).count == 3)
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        #expect(cancel.status == 0)
        #expect(cancel.stdout.contains("was already completed"), "\(cancel.stdout)")
        let workers = try await orbiter(["worker", "list", "--queue", queue, "--json"])
        #expect(workers.stdout.contains("cli-\(queue)"), "\(workers.stdout)")

        worker.signal(SIGTERM)
        let end = try await worker.finish(timeout: .seconds(10))
        #expect(end.status == 0)
        #expect(end.stderr.contains("stopped after 3 tasks"), "\(end.stderr)")
    }

    @Test("errors and exit statuses")
    func errorsAndExitStatuses() async throws {
        let notFound = try await orbiter(["task", "cancel", String(repeating: "ab", count: 16), "--queue", queue])
        #expect(notFound.status == 1)
        #expect(notFound.stdout.contains("not found"))
        let badID = try await orbiter(["task", "status", "nope", "--queue", queue])
        #expect(badID.status == 2)
        #expect(badID.stderr.contains("invalid task id"), "\(badID.stderr)")
        let start = ContinuousClock.now
        let down = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--redis-url", "redis://:secret@127.0.0.1:1"])
        #expect(down.status == 2)
        #expect(ContinuousClock.now - start < .seconds(10), "a down Redis fails fast")
        #expect(down.stderr.contains("127.0.0.1:1"), "\(down.stderr)")
        #expect(!down.stderr.contains("secret"), "passwords are never printed: \(down.stderr)")
        let badTrace = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--traceparent", "nope"])
        #expect(badTrace.status != 0)
        #expect(badTrace.stderr.contains("traceparent"), "\(badTrace.stderr)")
        let badScript = try await orbiter(["submit", "/nonexistent.lua", "x", "--queue", queue])
        #expect(badScript.status == 2)
    }

    @Test("a pending task cancelled from the CLI never runs")
    func pendingTaskCancelledFromTheCLINeverRuns() async throws {
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let submitted = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--queue", queue,
                                           "--traceparent", "00-\(traceID)-00f067aa0ba902b7-01"])
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        #expect(cancel.stdout.contains("cancelled; it will not run"), "\(cancel.stdout)")
        let result = try await orbiter(["task", "result", id, "--queue", queue])
        #expect(result.status == 1)
        #expect(result.stderr.contains("was cancelled"), "\(result.stderr)")
    }
}
