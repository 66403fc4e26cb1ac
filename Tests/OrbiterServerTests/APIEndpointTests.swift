import AsyncHTTPClient
import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// Every endpoint of `orbiter serve` through real HTTP, against a real Redis and worker.
@Suite("HTTP API endpoints", .serialized)
struct APIEndpointTests {
    @Test("submit with modules, then status, result, events, list, workers, queues, stats, dead, metrics")
    func submitAndRead() async throws {
        try await withServer { s in
            try s.startWorker()
            let submitted = try await s.call(.POST, "/v1/tasks", json: [
                "script": .string(Scripts.greeter), "modules": ["lib.greet": .string(Scripts.greetModule)],
                "input": "ada", "metadata": ["user": "ada"], "priority": 7, "detailed": true])
            #expect(submitted.status == 201, "\(submitted.text)")
            #expect(submitted.json?["status"]?.stringValue == "pending")
            let id = try #require(submitted.json?["task_id"]?.stringValue)
            let sha = try #require(submitted.json?["bundle"]?.stringValue)

            let result = try await s.call(.GET, "/v1/tasks/\(id)/result?wait=20")
            #expect(result.status == 200, "\(result.text)")
            #expect(result.json?["status"]?.stringValue == "completed")
            #expect(result.json?["result"]?["output"]?.stringValue == "hello, ada")

            let status = try await s.call(.GET, "/v1/tasks/\(id)", token: ServerFixture.read)
            #expect(status.status == 200)
            #expect(status.json?["status"]?.stringValue == "completed")
            #expect(status.json?["priority"]?.intValue == 7)
            #expect(status.json?["metadata"]?["user"]?.stringValue == "ada")

            // The same script again by its stored bundle: no sources sent.
            let again = try await s.call(.POST, "/v1/tasks", json: ["bundle": .string(sha), "input": "bob"])
            #expect(again.status == 201, "\(again.text)")
            let second = try #require(again.json?["task_id"]?.stringValue)
            let secondResult = try await s.call(.GET, "/v1/tasks/\(second)/result?wait=20")
            #expect(secondResult.json?["result"]?["output"]?.stringValue == "hello, bob", "\(secondResult.text)")

            // Events as SSE: one per stream entry, the last the terminal status; the stream ends.
            let sse = try await s.call(.GET, "/v1/tasks/\(id)/events", token: ServerFixture.read)
            #expect(sse.status == 200)
            #expect(sse.headers["Content-Type"].first?.hasPrefix("text/event-stream") == true)
            let events = SSE.parse(sse.text)
            #expect(events.count >= 2, "\(sse.text)")
            #expect(events.last?.event == "status")
            #expect(events.last?.data.contains(#""status":"completed""#) == true, "\(sse.text)")
            #expect(events.allSatisfy { $0.id.contains("-") })
            // The same as JSON lines, with the ids inside.
            let ndjson = try await s.call(.GET, "/v1/tasks/\(id)/events", token: ServerFixture.read, headers: [("Accept", "application/x-ndjson")])
            let lines = ndjson.text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
            #expect(lines.map { $0["id"]?.stringValue ?? "" } == events.map(\.id))
            // Resuming after the second-to-last event gives the last one only.
            let tail = try await s.call(.GET, "/v1/tasks/\(id)/events?after=\(events[events.count - 2].id)")
            #expect(SSE.parse(tail.text).map(\.id) == [events.last!.id])

            // Lists: pages through a cursor, newest first.
            _ = try await s.call(.GET, "/v1/tasks/\(second)/result?wait=20")
            let third = try await s.submit(try Scripts.calculator, input: "1 + 2")
            _ = try await s.call(.GET, "/v1/tasks/\(third)/result?wait=20")
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await s.call(.GET, "/v1/tasks?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: ServerFixture.read)
                #expect(page.status == 200, "\(page.text)")
                seen += page.json?["tasks"]?.arrayValue?.compactMap { $0["task_id"]?.stringValue } ?? []
                cursor = page.json?["next_cursor"]?.stringValue
            } while cursor != nil && seen.count < 10
            #expect(seen == [third, second, id])
            let completed = try await s.call(.GET, "/v1/tasks?status=completed&limit=10")
            #expect(completed.json?["tasks"]?.arrayValue?.count == 3)
            #expect(completed.json?["tasks"]?.arrayValue?.map { $0["agent"]?.stringValue ?? "-" } == ["calculator", "greeter", "greeter"], "\(completed.text)")

            // Filters: by agent (kept at submit) and by age (the time index's range).
            let fourth = try await s.submit(try Scripts.calculator, input: "2 + 2")
            func listed(_ query: String) async throws -> [String] {
                let page = try await s.call(.GET, "/v1/tasks?" + query, token: ServerFixture.read)
                #expect(page.status == 200, "\(query): \(page.text)")
                return page.json?["tasks"]?.arrayValue?.compactMap { $0["task_id"]?.stringValue } ?? []
            }
            #expect(try await listed("agent=calculator") == [fourth, third])
            #expect(try await listed("agent=greeter") == [second, id])
            #expect(try await listed("agent=nobody").isEmpty)
            #expect(try await listed("agent=greeter&limit=1&newer_than=1h") == [second])
            #expect(try await listed("newer_than=1h&limit=10").count == 4)
            #expect(try await listed("older_than=1h").isEmpty)
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await listed("older_than=10ms&agent=greeter&status=completed&limit=10") == [second, id])
            var agentPages: [String] = []
            var agentCursor: String?
            repeat {
                let page = try await s.call(.GET, "/v1/tasks?agent=greeter&limit=1" + (agentCursor.map { "&cursor=\($0)" } ?? ""), token: ServerFixture.read)
                agentPages += page.json?["tasks"]?.arrayValue?.compactMap { $0["task_id"]?.stringValue } ?? []
                agentCursor = page.json?["next_cursor"]?.stringValue
            } while agentCursor != nil && agentPages.count < 10
            #expect(agentPages == [second, id], "a filtered list pages through its cursor")
            // An age far beyond any time (schemathesis found this one crashing) reads as "any time".
            #expect(try await listed("newer_than=1e300d&agent=greeter") == [second, id])
            #expect(try await listed("older_than=1e300d").isEmpty)
            let badAge = try await s.call(.GET, "/v1/tasks?older_than=soon", token: ServerFixture.read)
            #expect(badAge.status == 400 && badAge.text.contains("older_than"), "\(badAge.text)")
            _ = try await s.call(.GET, "/v1/tasks/\(fourth)/result?wait=20")

            let workers = try await s.call(.GET, "/v1/workers", token: ServerFixture.read)
            #expect(workers.json?.arrayValue?.first?["alive"]?.boolValue == true, "\(workers.text)")
            let queues = try await s.call(.GET, "/v1/queues", token: ServerFixture.read)
            let mine = queues.json?.arrayValue?.first { $0["queue"]?.stringValue == s.queue }
            #expect(mine?["completed_last_hour"]?.intValue == 4, "\(queues.text)")
            // The last hour per minute, for the dashboard's throughput chart.
            let perMinute = mine?["per_minute"]?["completed"]?.arrayValue?.compactMap(\.intValue) ?? []
            #expect(perMinute.count == 60 && perMinute.reduce(0, +) == 4, "\(queues.text)")
            let stats = try await s.call(.GET, "/v1/queues/\(s.queue)/stats", token: ServerFixture.read)
            #expect(stats.json?["workers_alive"]?.intValue == 1, "\(stats.text)")
            #expect(stats.json?["models_last_hour"]?.arrayValue != nil)
            let dead = try await s.call(.GET, "/v1/dead", token: ServerFixture.read)
            #expect(dead.status == 200 && dead.json?.arrayValue?.isEmpty == true, "\(dead.text)")
            let metrics = try await s.call(.GET, "/metrics", token: ServerFixture.read)
            #expect(metrics.text.contains("orbiter_queue_workers_alive{queue=\"\(s.queue)\"} 1"), "\(metrics.text)")
            #expect(metrics.text.contains("orbiter_http_responses_total{code=\"201\"}"))
            let health = try await s.call(.GET, "/healthz", token: nil)
            #expect(health.status == 200 && health.json?["redis"]?.stringValue == "ok")
            let openapi = try await s.call(.GET, "/openapi.json", token: nil)
            #expect(openapi.json?["openapi"]?.stringValue == "3.1.0")

            // Purge: the four completed tasks, then nothing listed.
            let purged = try await s.call(.DELETE, "/v1/tasks?status=completed&older_than=0s")
            #expect(purged.json?["purged"]?.intValue == 4, "\(purged.text)")
            let gone = try await s.call(.GET, "/v1/tasks/\(id)")
            #expect(gone.status == 404 && gone.code == "not_found")
        }
    }

    @Test("idempotency keys return the first task; other work with the key is a 409")
    func idempotency() async throws {
        try await withServer { s in
            let body: [String: JSONValue] = ["script": .string(try Scripts.calculator), "input": "2 + 2", "idempotency_key": "order-42"]
            let first = try await s.call(.POST, "/v1/tasks", json: .object(body))
            #expect(first.status == 201)
            let repeated = try await s.call(.POST, "/v1/tasks", json: .object(body))
            #expect(repeated.status == 200, "\(repeated.text)")
            #expect(repeated.json?["created"]?.boolValue == false)
            #expect(repeated.json?["task_id"] == first.json?["task_id"])
            var other = body
            other["input"] = "3 + 3"
            let conflict = try await s.call(.POST, "/v1/tasks", json: .object(other))
            #expect(conflict.status == 409 && conflict.code == "idempotency_conflict", "\(conflict.text)")
        }
    }

    @Test("a script that does not load is a 422 with path:line: message, for the entry and for a module")
    func scriptThatDoesNotLoad() async throws {
        try await withServer { s in
            let broken = try await s.call(.POST, "/v1/tasks", json: ["script": "local orbiter = require \"orbiter\"\nreturn orbiter.agent {"])
            #expect(broken.status == 422 && broken.code == "script_error", "\(broken.text)")
            #expect(broken.message.contains("script.lua:2:"), "\(broken.message)")
            let module = try await s.call(.POST, "/v1/tasks", json: [
                "script": .string(Scripts.greeter), "modules": ["lib.greet": "return {\n  hello = function(\n}"]])
            #expect(module.status == 422, "\(module.text)")
            #expect(module.message.contains("lib/greet.lua:3:"), "\(module.message)")
            let nothing = try await s.call(.POST, "/v1/tasks", json: ["script": "return 42"])
            #expect(nothing.status == 422, "\(nothing.text)")
            // Scripts run sandboxed, as on a worker: io is not there.
            let io = try await s.call(.POST, "/v1/tasks", json: ["script": "io.open('/etc/passwd')\nreturn nil"])
            #expect(io.status == 422, "\(io.text)")
            let unknownBundle = try await s.call(.POST, "/v1/tasks", json: ["bundle": .string(String(repeating: "ab", count: 32))])
            #expect(unknownBundle.status == 422 && unknownBundle.code == "unknown_bundle", "\(unknownBundle.text)")
            let tasks = try await s.call(.GET, "/v1/tasks")
            #expect(tasks.json?["tasks"]?.arrayValue?.isEmpty == true, "nothing was stored: \(tasks.text)")
        }
    }

    @Test("cancel, retry, and replies to a task that is not parked")
    func cancelRetryAndReplies() async throws {
        try await withServer { s in
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1", token: ServerFixture.submit)
            let notWaiting = try await s.call(.POST, "/v1/tasks/\(id)/approve", token: ServerFixture.submit)
            #expect(notWaiting.status == 409 && notWaiting.code == "not_waiting", "\(notWaiting.text)")
            let noText = try await s.call(.POST, "/v1/tasks/\(id)/reply", token: ServerFixture.submit, json: [:])
            #expect(noText.status == 400 && noText.message.contains("'text'"), "\(noText.text)")
            let cancelled = try await s.call(.POST, "/v1/tasks/\(id)/cancel", token: ServerFixture.submit)
            #expect(cancelled.json?["outcome"]?.stringValue == "cancelled", "\(cancelled.text)")
            let twice = try await s.call(.POST, "/v1/tasks/\(id)/cancel", token: ServerFixture.submit)
            #expect(twice.json?["outcome"]?.stringValue == "already_cancelled")
            let pending = try await s.call(.GET, "/v1/tasks/\(id)/result")
            #expect(pending.status == 200 && pending.json?["status"]?.stringValue == "cancelled", "\(pending.text)")
            let byApp = try await s.call(.POST, "/v1/tasks/\(id)/retry", token: ServerFixture.submit)
            #expect(byApp.status == 403, "retry needs admin: \(byApp.text)")
            let retried = try await s.call(.POST, "/v1/tasks/\(id)/retry")
            #expect(retried.json?["outcome"]?.stringValue == "requeued", "\(retried.text)")
            let notRetryable = try await s.call(.POST, "/v1/tasks/\(id)/retry")
            #expect(notRetryable.status == 409 && notRetryable.code == "not_retryable", "\(notRetryable.text)")
            // Nobody works the queue: the result request answers 202 after its wait.
            let start = ContinuousClock.now
            let waiting = try await s.call(.GET, "/v1/tasks/\(id)/result?wait=0.5")
            #expect(waiting.status == 202 && waiting.json?["status"]?.stringValue == "pending", "\(waiting.text)")
            #expect(ContinuousClock.now - start >= .milliseconds(450))
            try s.startWorker()
            let done = try await s.call(.GET, "/v1/tasks/\(id)/result?wait=20")
            #expect(done.json?["result"]?["output"]?.stringValue == "The answer is 2.", "\(done.text)")
        }
    }

    @Test("a parked task is approved over HTTP and resumes")
    func parkedTaskApproved() async throws {
        try await withServer { s in
            try s.startWorker()
            let script = try String(contentsOf: OrbiterBinary.repositoryRoot.appendingPathComponent("examples/approval.lua"), encoding: .utf8)
            let id = try await s.submit(script, input: "Refund 30", token: ServerFixture.submit)
            try await s.waitForStatus(id, "waiting")
            let parked = try await s.call(.GET, "/v1/tasks?status=waiting", token: ServerFixture.read)
            #expect(parked.json?["tasks"]?.arrayValue?.first?["pending"]?["tool_name"]?.stringValue == "refund", "\(parked.text)")
            let approved = try await s.call(.POST, "/v1/tasks/\(id)/approve", token: ServerFixture.submit)
            #expect(approved.status == 200 && approved.json?["outcome"]?.stringValue == "resumed", "\(approved.text)")
            let result = try await s.call(.GET, "/v1/tasks/\(id)/result?wait=20")
            #expect(result.json?["status"]?.stringValue == "completed", "\(result.text)")
        }
    }
}

/// Server-Sent Events read back from a body.
enum SSE {
    struct Event: Equatable {
        var id: String
        var event: String
        var data: String
    }

    static func parse(_ text: String) -> [Event] {
        text.components(separatedBy: "\n\n").compactMap { block in
            var event = Event(id: "", event: "", data: "")
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { event.data = String(line.dropFirst(6)) }
            }
            return event.data.isEmpty ? nil : event
        }
    }
}
