import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import OrbiterClient
import OrbiterCore
import OrbiterQueue
import ServiceLifecycle

/// `GET /v1/tasks/{id}/events`: the task's event stream as Server-Sent Events (`id:` the stream
/// entry id, `event:` the type, `data:` the event JSON) or, with `Accept: application/x-ndjson`,
/// JSON lines (`task events --json`). Resumes after `Last-Event-ID` (or `?after=`), so a
/// reconnecting client gets every event once; ends after the terminal status; an idle stream
/// sends a `: heartbeat` comment every `heartbeat` so proxies keep it open.
struct EventFeed {
    let broker: TaskBroker
    let heartbeat: Duration

    /// What the merged loop hands the writer.
    private enum Item: Sendable {
        case event(StoredEvent)
        case heartbeat
        case end
        case failed(String)
    }

    func response(_ request: Request, taskID: String) async throws -> Response {
        let after = try resumePoint(request)
        let ndjson = request.headers[.accept]?.contains("application/x-ndjson") == true
        guard let state = try await broker.status(taskID) else { throw APIError.taskNotFound(taskID, queue: broker.keys.queue) }
        let subscriber = EventSubscriber(broker: broker)
        // A finished task's stream is complete: replay it (a follow would wait for a terminal
        // event the client may already have had).
        let stored: [StoredEvent]? = state.status.isFinished ? try await subscriber.replay(taskID, from: after) : nil
        var headers = HTTPFields()
        headers[.contentType] = ndjson ? "application/x-ndjson" : "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        let heartbeat = self.heartbeat
        let body = ResponseBody { writer in
            if let stored {
                for event in stored { try await writer.write(Self.encode(event, ndjson: ndjson)) }
                try await writer.finish(nil)
                return
            }
            let (items, sink) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(10_000))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await event in subscriber.stream(taskID, from: after) { sink.yield(.event(event)) }
                        sink.yield(.end)
                    } catch {
                        sink.yield(.failed("\(error)"))
                    }
                }
                group.addTask {
                    // The server is stopping: end the stream (the client resumes with Last-Event-ID).
                    try? await gracefulShutdown()
                    sink.yield(.end)
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeat)
                        sink.yield(.heartbeat)
                    }
                }
                loop: for await item in items {
                    switch item {
                    case .event(let event):
                        try await writer.write(Self.encode(event, ndjson: ndjson))
                        if event.event.isTerminal { break loop }
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ndjson ? "\n" : ": heartbeat\n\n"))
                    case .end:
                        break loop
                    case .failed(let message):
                        try await writer.write(Self.encodeError(message, ndjson: ndjson))
                        break loop
                    }
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `Last-Event-ID` or `?after=`: a stream entry id (`1700000000000-0`), or 0 for all.
    private func resumePoint(_ request: Request) throws -> String {
        let given = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.query("after")
        guard let given, !given.isEmpty else { return "0" }
        let parts = given.split(separator: "-", omittingEmptySubsequences: false)
        // Each part must fit 64 bits, as Redis stream ids do (found by schemathesis: a longer one was a 500).
        let valid = given.count <= 41 && (1...2).contains(parts.count) && parts.allSatisfy { UInt64($0) != nil && $0.utf8.allSatisfy { (48...57).contains($0) } }
        guard valid else {
            throw APIError.badRequest("Last-Event-ID / 'after' must be an event id such as 1700000000000-0, got '\(given.prefix(60))'", code: "invalid_parameter")
        }
        return given
    }

    static func encode(_ stored: StoredEvent, ndjson: Bool) -> ByteBuffer {
        if ndjson {
            var json = stored.event.json
            if case .object(var members) = json { members["id"] = .string(stored.id); json = .object(members) }
            return ByteBuffer(string: json.jsonString + "\n")
        }
        let type = stored.event.json["type"]?.stringValue ?? "event"
        return ByteBuffer(string: "id: \(stored.id)\nevent: \(type)\ndata: \(stored.event.jsonString)\n\n")
    }

    static func encodeError(_ message: String, ndjson: Bool) -> ByteBuffer {
        let json: JSONValue = ["type": "error", "message": .string(message)]
        return ByteBuffer(string: ndjson ? json.jsonString + "\n" : "event: error\ndata: \(json.jsonString)\n\n")
    }
}
