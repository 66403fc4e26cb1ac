import AsyncHTTPClient
import Foundation
import NIOCore
import OrbiterCore
import OrbiterTestSupport
import Synchronization
import Testing

/// `GET /v1/tasks/{id}/events` live: resuming after a dropped connection, heartbeats, the end.
@Suite("HTTP API event streams", .serialized)
struct APIEventStreamTests {
    /// Reads an SSE response as it arrives; `stop` says when to drop the connection.
    final class Reader: Sendable {
        let received = Mutex<String>("")
        var events: [SSE.Event] { SSE.parse(received.withLock { $0 }) }
        var text: String { received.withLock { $0 } }

        /// Follows `path` until the server ends the stream (true) or `stop` holds (false: dropped).
        func follow(_ s: ServerFixture, _ path: String, lastEventID: String? = nil,
                    stop: @escaping @Sendable (String) -> Bool = { _ in false }) async throws -> Bool {
            var request = HTTPClientRequest(url: s.baseURL + path)
            request.headers.add(name: "Authorization", value: "Bearer \(ServerFixture.read)")
            if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
            let response = try await s.http.execute(request, timeout: .seconds(60))
            guard response.status == .ok else { throw TestFailure("events answered \(response.status)") }
            for try await chunk in response.body {
                let text = received.withLock { $0 += String(buffer: chunk); return $0 }
                if stop(text) { return false }
            }
            return true
        }
    }

    @Test("a dropped connection resumes with Last-Event-ID: no gap, no duplicate")
    func resumeAfterDrop() async throws {
        try await withServer { s in
            try s.startWorker()
            let id = try await s.submit(Scripts.ticker(ticks: 8, seconds: 0.15), input: "go", extra: ["detailed": true])
            // Drop after the third event, while the task still runs.
            let first = Reader()
            let ended = try await first.follow(s, "/v1/tasks/\(id)/events") { SSE.parse($0).count >= 3 }
            #expect(!ended)
            let before = first.events
            #expect(before.count >= 3)
            let statusNow = try await s.call(.GET, "/v1/tasks/\(id)").json?["status"]?.stringValue
            #expect(statusNow == "running" || statusNow == "pending", "the task was still running when the connection dropped")
            let second = Reader()
            #expect(try await second.follow(s, "/v1/tasks/\(id)/events", lastEventID: before.last!.id), "the stream ends after the terminal status")
            let after = second.events
            // The whole stream, read once the task has finished, is exactly the two halves.
            let whole = SSE.parse(try await s.call(.GET, "/v1/tasks/\(id)/events").text)
            #expect(before.map(\.id) + after.map(\.id) == whole.map(\.id))
            #expect(Set(whole.map(\.id)).count == whole.count)
            #expect(whole.filter { $0.event == "tool_result" }.count == 8, "\(whole.map(\.event))")
            #expect(after.last?.event == "status" && after.last?.data.contains("completed") == true)
        }
    }

    @Test("an idle stream sends heartbeats, and ends when the task is cancelled")
    func heartbeatsAndEnd() async throws {
        try await withServer({ $0.heartbeat = .milliseconds(200) }) { s in
            let id = try await s.submit(try Scripts.calculator, input: "1 + 1") // no worker: it stays pending
            let reader = Reader()
            let following = Task { try await reader.follow(s, "/v1/tasks/\(id)/events") }
            let deadline = ContinuousClock.now + .seconds(10)
            while !reader.text.contains(": heartbeat\n\n") && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(reader.text.contains(": heartbeat\n\n"), "\(reader.text)")
            let cancelled = try await s.call(.POST, "/v1/tasks/\(id)/cancel")
            #expect(cancelled.json?["outcome"]?.stringValue == "cancelled")
            #expect(try await following.value, "the stream ends after the cancelled status")
            #expect(reader.events.last?.data.contains(#""status":"cancelled""#) == true, "\(reader.text)")
        }
    }

    @Test("JSON lines follow a live task to its end")
    func ndjsonLive() async throws {
        try await withServer { s in
            try s.startWorker()
            let id = try await s.submit(Scripts.ticker(ticks: 3, seconds: 0.1), input: "go")
            var request = HTTPClientRequest(url: s.baseURL + "/v1/tasks/\(id)/events")
            request.headers.add(name: "Authorization", value: "Bearer \(ServerFixture.read)")
            request.headers.add(name: "Accept", value: "application/x-ndjson")
            let response = try await s.http.execute(request, timeout: .seconds(60))
            #expect(response.headers["Content-Type"] == ["application/x-ndjson"])
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let lines = text.split(separator: "\n").map { try? JSONValue.parse(String($0)) }
            #expect(lines.allSatisfy { $0?["id"]?.stringValue != nil }, "\(text)")
            #expect(lines.last??["status"]?.stringValue == "completed", "\(text)")
        }
    }
}
