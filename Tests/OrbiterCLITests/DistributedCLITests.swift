import Foundation
import OrbiterTestSupport
import XCTest

/// `orbiter submit`, `start worker`, `task ...`, `worker list`, driven as processes against the
/// private Redis of scripts/test.sh.
final class DistributedCLITests: XCTestCase {
    var env: [String: String] = [:]
    var queue = ""

    override func setUp() async throws {
        env = ["ORBITER_REDIS_URL": try TestRedis.url()]
        queue = "cli-" + UUID().uuidString.prefix(8).lowercased()
    }

    func orbiter(_ args: [String], stdin: String? = nil) async throws -> OrbiterBinary.Outcome {
        try await OrbiterBinary.run(args, stdin: stdin, environment: env)
    }

    func testSubmitToAWorkerProcessAndInspectTheTask() async throws {
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "cli-\(queue)", "--concurrency", "2"], environment: env)
        try await worker.waitFor { _, err in err.contains("worker cli-\(self.queue) started") }
        XCTAssertTrue(worker.stderr.contains("queue '\(queue)'"), worker.stderr)

        let streamed = try await orbiter(["submit", "examples/calculator.lua", "2 + 40", "--stream", "--queue", queue])
        XCTAssertEqual(streamed.status, 0, streamed.stderr)
        XCTAssertEqual(streamed.stdout, "The answer is 42.\n")
        XCTAssertTrue(streamed.stderr.contains("calling add"), streamed.stderr)

        let waited = try await orbiter(["submit", "examples/weather.lua", "--wait", "--queue", queue, "--metadata", "user=ada"],
                                       stdin: "Weather in Paris?")
        // weather.lua needs a real model: without OPENAI_API_KEY the task fails, and says why.
        XCTAssertEqual(waited.status, 1)
        XCTAssertTrue(waited.stderr.contains("failed:"), waited.stderr)

        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let submitted = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--queue", queue,
                                           "--traceparent", "00-\(traceID)-00f067aa0ba902b7-01"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(id.count, 32)
        let result = try await orbiter(["task", "result", id, "--queue", queue, "--timeout", "10"])
        XCTAssertEqual(result.stdout, "The answer is 3.\n")
        let status = try await orbiter(["task", "status", id, "--queue", queue, "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["status"] as? String, "completed")
        XCTAssertEqual(json["worker_id"] as? String, "cli-\(queue)")
        let traceparent = (json["metadata"] as? [String: Any])?["traceparent"] as? String
        XCTAssertTrue(traceparent?.hasPrefix("00-\(traceID)-") == true, "submit --traceparent continues the trace: \(String(describing: traceparent))")
        let events = try await orbiter(["task", "events", id, "--queue", queue, "--json"])
        let lines = events.stdout.split(separator: "\n")
        XCTAssertTrue(lines.last?.contains(#""status":"completed""#) == true, events.stdout)
        let list = try await orbiter(["task", "list", "--queue", queue, "--json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [Any]).count, 3)
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        XCTAssertEqual(cancel.status, 0)
        XCTAssertTrue(cancel.stdout.contains("was already completed"), cancel.stdout)
        let workers = try await orbiter(["worker", "list", "--queue", queue, "--json"])
        XCTAssertTrue(workers.stdout.contains("cli-\(queue)"), workers.stdout)

        worker.signal(SIGTERM)
        let end = try await worker.finish(timeout: .seconds(10))
        XCTAssertEqual(end.status, 0)
        XCTAssertTrue(end.stderr.contains("stopped after 3 tasks"), end.stderr)
    }

    func testErrorsAndExitStatuses() async throws {
        let notFound = try await orbiter(["task", "cancel", String(repeating: "ab", count: 16), "--queue", queue])
        XCTAssertEqual(notFound.status, 1)
        XCTAssertTrue(notFound.stdout.contains("not found"))
        let badID = try await orbiter(["task", "status", "nope", "--queue", queue])
        XCTAssertEqual(badID.status, 2)
        XCTAssertTrue(badID.stderr.contains("invalid task id"), badID.stderr)
        let start = ContinuousClock.now
        let down = try await OrbiterBinary.run(["submit", "examples/calculator.lua", "1 + 1", "--redis-url", "redis://:secret@127.0.0.1:1"])
        XCTAssertEqual(down.status, 2)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10), "a down Redis fails fast")
        XCTAssertTrue(down.stderr.contains("127.0.0.1:1"), down.stderr)
        XCTAssertFalse(down.stderr.contains("secret"), "passwords are never printed: \(down.stderr)")
        let badTrace = try await orbiter(["submit", "examples/calculator.lua", "1 + 1", "--queue", queue, "--traceparent", "nope"])
        XCTAssertNotEqual(badTrace.status, 0)
        XCTAssertTrue(badTrace.stderr.contains("traceparent"), badTrace.stderr)
        let badScript = try await orbiter(["submit", "/nonexistent.lua", "x", "--queue", queue])
        XCTAssertEqual(badScript.status, 2)
    }

    func testPendingTaskCancelledFromTheCLINeverRuns() async throws {
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let submitted = try await orbiter(["submit", "examples/calculator.lua", "1 + 2", "--queue", queue,
                                           "--traceparent", "00-\(traceID)-00f067aa0ba902b7-01"])
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cancel = try await orbiter(["task", "cancel", id, "--queue", queue])
        XCTAssertTrue(cancel.stdout.contains("cancelled; it will not run"), cancel.stdout)
        let result = try await orbiter(["task", "result", id, "--queue", queue])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("was cancelled"), result.stderr)
    }
}
