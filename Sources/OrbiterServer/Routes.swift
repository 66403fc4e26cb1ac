import Foundation
import Hummingbird
import HTTPTypes
import OrbiterClient
import OrbiterCore
import OrbiterQueue

/// The endpoints under /v1. JSON shapes are those of the CLI's `--json` (`TaskResult.json`,
/// `QueueStats`, `WorkerInfo.json`, `DeadLetter.json`), computed by the same library calls.
struct Routes {
    let configuration: ServerConfiguration
    let brokers: BrokerPool
    let scripts: LRUCache<String, TaskSubmission.Loaded>

    /// The broker of the queue a request names, when the token may see it; else `hidden`
    /// (404 for a task, 403 for a listing).
    private func broker(_ queue: String?, token: APIToken, hidden: @autoclosure () -> APIError) throws -> TaskBroker {
        let broker = try brokers.broker(queue)
        guard token.sees(broker.keys.queue) else { throw hidden() }
        return broker
    }

    private func forbiddenQueue(_ queue: String?, _ token: APIToken) -> APIError {
        APIError(.forbidden, "forbidden", "the token '\(token.name)' may not use queue '\(queue ?? configuration.defaultQueue)'")
    }

    /// The broker of a task id's queue (`?queue=`), 400 for a malformed id, 404 when the token
    /// may not see that queue (it must not learn whether the task exists).
    private func taskBroker(_ request: Request, id: String, token: APIToken) throws -> TaskBroker {
        do { try TaskID.validate(id) } catch { throw APIError.badRequest("\(error)", code: "invalid_task_id") }
        let queue = request.query("queue")
        return try broker(queue, token: token, hidden: APIError.taskNotFound(id, queue: queue ?? configuration.defaultQueue))
    }

    func submit(_ request: inout Request, token: APIToken) async throws -> Response {
        let submission = try TaskSubmission(try await request.jsonObject(limit: configuration.bodyLimit))
        let broker = try broker(submission.queue, token: token, hidden: forbiddenQueue(submission.queue, token))
        let traceparent = request.headers[HTTPField.Name("traceparent")!]
        let (handle, sha) = try await submission.submit(on: broker, traceparent: traceparent, scripts: scripts)
        var status = submission.delay.map { $0 > 0 ? "scheduled" : "pending" } ?? "pending"
        if !handle.wasCreated, let existing = try await handle.status() { status = existing.status.rawValue }
        let body: JSONValue = ["task_id": .string(handle.taskID), "status": .string(status), "queue": .string(handle.queue),
                               "bundle": .string(sha), "created": .bool(handle.wasCreated)]
        return Reply.json(body, status: handle.wasCreated ? .created : .ok)
    }

    func status(_ request: Request, id: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        guard let task = try await broker.status(id) else { throw APIError.taskNotFound(id, queue: broker.keys.queue) }
        return Reply.json(task.json)
    }

    /// 200 with the outcome once the task has finished (`result` or `error`); 202 with its status
    /// when `wait` seconds passed first.
    func result(_ request: Request, id: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        let wait = try waitSeconds(request)
        guard var task = try await broker.status(id) else { throw APIError.taskNotFound(id, queue: broker.keys.queue) }
        if !task.status.isFinished && wait > 0 {
            do {
                _ = try await broker.handle(for: id).result(timeout: .milliseconds(Int64(wait * 1000)))
            } catch let error as DistributedError {
                switch error {
                case .waitTimedOut, .taskFailed, .taskCancelled: break
                case .taskNotFound: throw APIError.taskNotFound(id, queue: broker.keys.queue)
                default: throw error
                }
            }
            guard let again = try await broker.status(id) else { throw APIError.taskNotFound(id, queue: broker.keys.queue) }
            task = again
        }
        var body: [String: JSONValue] = ["task_id": .string(id), "status": .string(task.status.rawValue)]
        guard task.status.isFinished else { return Reply.json(.object(body), status: .accepted) }
        if task.status == .completed { body["result"] = task.result ?? ["output": ""] }
        if let error = task.error { body["error"] = .string(error) }
        return Reply.json(.object(body))
    }

    private func waitSeconds(_ request: Request) throws -> Double {
        guard let text = request.query("wait") else { return 0 }
        guard let value = Double(text), value.isFinite, value >= 0, value <= configuration.maxResultWait else {
            throw APIError.badRequest("query parameter 'wait' must be 0 to \(Int(configuration.maxResultWait)) seconds, got '\(text.prefix(40))'",
                                      code: "invalid_parameter")
        }
        return value
    }

    func cancel(_ request: Request, id: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        let word: String
        switch try await broker.cancel(id) {
        case .cancelled: word = "cancelled"
        case .cancelling: word = "cancelling"
        case .alreadyFinished(let s): word = "already_\(s.rawValue)"
        case .notFound: throw APIError.taskNotFound(id, queue: broker.keys.queue)
        }
        return Reply.json(["task_id": .string(id), "outcome": .string(word)])
    }

    func retry(_ request: Request, id: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        let outcome = try await broker.requeue(id)
        switch outcome {
        case "requeued": return Reply.json(["task_id": .string(id), "outcome": "requeued"])
        case "not_found": throw APIError.taskNotFound(id, queue: broker.keys.queue)
        default: throw APIError(.conflict, "not_retryable", "task \(id) is \(outcome); only failed or cancelled tasks can be retried")
        }
    }

    /// reply `{"text"}`, approve `{}`, reject `{"reason"?}`: the CLI's `task reply|approve|reject`.
    func answer(_ request: inout Request, id: String, action: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        let fields = BodyFields(object: try await request.optionalJSONObject(limit: configuration.bodyLimit))
        let reply: InputReply
        switch action {
        case "reply":
            try fields.onlyKnown(["text"])
            guard let text = try fields.string("text") else { throw APIError.badRequest("'text' (the answer) is required", code: "invalid_field") }
            reply = .answer(text)
        case "reject":
            try fields.onlyKnown(["reason"])
            reply = .rejected(reason: try fields.string("reason") ?? "rejected by a person")
        default:
            try fields.onlyKnown([])
            reply = .approved
        }
        switch try await broker.reply(id, reply) {
        case .resumed: return Reply.json(["task_id": .string(id), "outcome": "resumed"])
        case .notFound: throw APIError.taskNotFound(id, queue: broker.keys.queue)
        case .notWaiting(let status): throw APIError.from(DistributedError.notWaitingForInput(id: id, status: status))
        case .mismatch(let kind): throw APIError.from(DistributedError.replyDoesNotFit(id: id, waitsFor: kind))
        }
    }

    func events(_ request: Request, id: String, token: APIToken) async throws -> Response {
        let broker = try taskBroker(request, id: id, token: token)
        return try await EventFeed(broker: broker, heartbeat: configuration.heartbeat).response(request, taskID: id)
    }

    func list(_ request: Request, token: APIToken) async throws -> Response {
        let queue = request.query("queue")
        let broker = try broker(queue, token: token, hidden: forbiddenQueue(queue, token))
        let filter = try Self.listFilter(request)
        let limit = try request.queryInt("limit", default: 20, in: 1...1000)
        let cursor = request.query("cursor")
        if let cursor { do { try TaskID.validate(cursor) } catch { throw APIError.badRequest("'cursor' must be a task id from next_cursor", code: "invalid_parameter") } }
        let page = try await broker.listPage(filter, limit: limit, cursor: cursor)
        return Reply.json(["tasks": .array(page.tasks.map(\.json)), "next_cursor": page.next.map(JSONValue.string) ?? .null])
    }

    /// `status`, `agent`, `newer_than` and `older_than` of a task list (the API's and the
    /// dashboard's), each checked with a message that names it.
    static func listFilter(_ request: Request) throws -> TaskListFilter {
        let status = try request.query("status").flatMap { text -> TaskStatus? in
            if text.isEmpty { return nil }
            guard let s = TaskStatus(rawValue: text) else {
                throw APIError.badRequest("unknown status '\(text.prefix(40))'; use one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                                          code: "invalid_parameter")
            }
            return s
        }
        let agent = request.query("agent").flatMap { $0.isEmpty ? nil : $0 }
        func age(_ name: String) throws -> Double? {
            guard let text = request.query(name), !text.isEmpty else { return nil }
            guard let value = parseAge(text), value.isFinite else {
                throw APIError.badRequest("query parameter '\(name)' must be an age such as 3600, 90s, 30m, 12h, 7d; got '\(text.prefix(40))'",
                                          code: "invalid_parameter")
            }
            return value
        }
        return TaskListFilter(status: status, agent: agent, newerThan: try age("newer_than"), olderThan: try age("older_than"))
    }

    func purge(_ request: Request, token: APIToken) async throws -> Response {
        let queue = request.query("queue")
        let broker = try broker(queue, token: token, hidden: forbiddenQueue(queue, token))
        guard let text = request.query("status"), let status = TaskStatus(rawValue: text), status.isFinished else {
            throw APIError.badRequest("query parameter 'status' must be completed, failed or cancelled", code: "invalid_parameter")
        }
        guard let ageText = request.query("older_than"), let age = parseAge(ageText), age.isFinite else {
            throw APIError.badRequest("query parameter 'older_than' is required: an age such as 3600, 90s, 30m, 12h, 7d", code: "invalid_parameter")
        }
        let n = try await broker.purge(status: status, olderThan: age)
        return Reply.json(["queue": .string(broker.keys.queue), "status": .string(status.rawValue), "older_than_s": .double(age), "purged": .int(n)])
    }

    func workers(_ request: Request, token: APIToken) async throws -> Response {
        let queue = request.query("queue")
        let broker = try broker(queue, token: token, hidden: forbiddenQueue(queue, token))
        return Reply.json(.array(try await broker.workers().map(\.json)))
    }

    func queues(_ request: Request, token: APIToken) async throws -> Response {
        var names = Set(try await brokers.broker(nil).knownQueues())
        names.insert(configuration.defaultQueue)
        var reports: [JSONValue] = []
        for name in names.sorted() where token.sees(name) {
            reports.append(try await brokers.broker(name).statsReport())
        }
        return Reply.json(.array(reports))
    }

    func queueStats(queue: String, token: APIToken) async throws -> Response {
        let broker = try broker(queue, token: token, hidden: APIError.notFound("queue '\(queue)' not found"))
        return Reply.json(try await broker.statsReport())
    }

    func dead(_ request: Request, token: APIToken) async throws -> Response {
        let queue = request.query("queue")
        let broker = try broker(queue, token: token, hidden: forbiddenQueue(queue, token))
        let limit = try request.queryInt("limit", default: 20, in: 1...1000)
        return Reply.json(.array(try await broker.deadLetters(limit: limit).map(\.json)))
    }
}
