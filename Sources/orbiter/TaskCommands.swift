import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker

/// `orbiter task list|status|result|cancel|events|approve|reject|reply|dead|retry|purge`.
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Inspect and control tasks.",
        subcommands: [TaskListCommand.self, TaskStatusCommand.self, TaskResultCommand.self, TaskCancelCommand.self, TaskEventsCommand.self,
                      TaskApproveCommand.self, TaskRejectCommand.self, TaskReplyCommand.self,
                      TaskDeadCommand.self, TaskRetryCommand.self, TaskPurgeCommand.self])
}

struct TaskListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks, newest first.")

    @Option(help: "Only tasks with this status (pending, running, waiting, completed, failed, cancelled, retrying); waiting lists parked tasks, soonest deadline first.")
    var status: String?

    @Option(help: "Only tasks of the agent (or swarm) with this name.")
    var agent: String?

    @Option(name: .customLong("newer-than"), parsing: .unconditional, help: "Only tasks created within this age, e.g. 90s, 30m, 12h, 7d.")
    var newerThan: String?

    @Option(name: .customLong("older-than"), parsing: .unconditional, help: "Only tasks created longer ago than this age, e.g. 90s, 30m, 12h, 7d.")
    var olderThan: String?

    @Option(parsing: .unconditional, help: "At most this many tasks.")
    var limit: Int = 20

    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if let status, TaskStatus(rawValue: status) == nil {
            throw ValidationError("unknown status '\(status)'; use one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        for (flag, value) in [("--newer-than", newerThan), ("--older-than", olderThan)] {
            if let value, parseAge(value) == nil { throw ValidationError("\(flag): cannot read '\(value)'; use e.g. 90s, 30m, 12h, 7d") }
        }
    }

    func run() async throws {
        let broker = try await redis.broker()
        let filter = TaskListFilter(status: status.flatMap(TaskStatus.init), agent: agent,
                                    newerThan: newerThan.flatMap(parseAge), olderThan: olderThan.flatMap(parseAge))
        // A filter that matches few tasks gives short pages (each reads a bounded part of the
        // index): follow the cursor until `limit` tasks or the end.
        var tasks: [TaskResult] = []
        var cursor: String?
        repeat {
            let page = try await broker.listPage(filter, limit: limit - tasks.count, cursor: cursor)
            tasks += page.tasks
            cursor = page.next
        } while tasks.count < limit && cursor != nil
        if output.json {
            Terminal.out(JSONValue.array(tasks.map(\.json)).jsonString + "\n")
            return
        }
        for t in tasks {
            let what = t.pending.map { "  waits for \($0.summary) until \(formatTime(t.waitingUntil))" }
                ?? (t.status == .scheduled ? "  runs at \(formatTime(t.runAt))" : "  \(t.workerID ?? "")")
            let agent = t.agent.map { "  \($0)" } ?? ""
            Terminal.out("\(t.taskID)  \(t.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  created \(formatTime(t.createdAt))\(agent)\(what)\n")
        }
    }
}

struct TaskStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a task's state. Exit 1 when not found.",
        discussion: "An output longer than 4 KiB is cut there in text (the line after says how long it is); --json shows all of it.")

    /// Bytes of a task's output `status` prints in text.
    static let outputLimit = 4096

    /// The first `outputLimit` bytes of `output` (whole characters), then how long it is and
    /// where to read all of it.
    func clipped(_ output: String, taskID: String) -> String {
        let total = output.utf8.count
        guard total > Self.outputLimit else { return output }
        var bytes = 0
        let head = output.prefix { c in
            bytes += c.utf8.count
            return bytes <= Self.outputLimit
        }
        return "\(head)\n… (\(describeSize(total)) in total; use --json or orbiter task result \(taskID) for all of it)"
    }

    @Argument(help: "The task id.") var id: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        guard let task = try await broker.status(id) else {
            throw CLIFailure.failed("orbiter: " + (await notFoundMessage(id, on: broker)))
        }
        if output.json {
            Terminal.out(task.json.jsonString + "\n")
            return
        }
        var lines = ["task:      \(task.taskID)", "status:    \(task.status.rawValue)", "created:   \(formatTime(task.createdAt))",
                     "started:   \(formatTime(task.startedAt))", "completed: \(formatTime(task.completedAt))",
                     "worker:    \(task.workerID ?? "-")", "attempts:  \(task.attempts)"]
        if let agent = task.agent { lines.insert("agent:     \(agent)", at: 2) }
        if let priority = task.priority { lines.append("priority:  \(priority)") }
        if let runAt = task.runAt { lines.append("run at:    \(formatTime(runAt))\(task.status == .scheduled ? " (scheduled until then)" : "")") }
        if let pending = task.pending {
            lines.append("waits for: \(pending.summary)")
            lines.append("until:     \(formatTime(task.waitingUntil)) (then it fails with InputTimeout)")
            lines.append("reply:     \(pending.howToReply(task.taskID))")
        }
        if let error = task.error { lines.append("error:     \(error)") }
        if let output = task.result?["output"]?.stringValue { lines.append("output:    \(clipped(output, taskID: task.taskID))") }
        for (k, v) in task.metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata:  \(k)=\(v)") }
        Terminal.out(lines.joined(separator: "\n") + "\n")
    }
}

struct TaskResultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Wait for a task and print its output. Exit 1 when it failed, was cancelled, is not found or --timeout passed.",
        discussion: "Rides out a Redis restart; exits 2 when Redis stays unreachable for a minute (ORBITER_REDIS_OUTAGE_SECONDS).")

    @Argument(help: "The task id.") var id: String
    @Option(parsing: .unconditional, help: "Seconds to wait before giving up.") var timeout: Double?
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if let timeout, !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() async throws {
        let broker = try await redis.broker()
        let handle = try broker.handle(for: id)
        if let state = try? await handle.status(), !state.status.isFinished {
            if state.status == .waiting, let pending = state.pending {
                Terminal.error("orbiter: task \(id) waits for input: \(pending.prompt) — \(pending.howToReply(id))")
            } else {
                await Waiting.warnIfNoLiveWorker(broker)
            }
        }
        do {
            printResult(try await handle.result(timeout: timeout.map { .milliseconds(Int64($0 * 1000)) }, outageLimit: Waiting.outageLimit),
                        json: output.json)
        } catch {
            throw await Waiting.failure(error, taskID: id, waitTimeout: timeout, broker: broker)
        }
    }
}

struct TaskCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a task: a pending one never runs, a running one is stopped. Exit 1 when not found.")

    @Argument(help: "The task id.") var id: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        let outcome = try await broker.cancel(id)
        let (word, message): (String, String)
        switch outcome {
        case .cancelled: (word, message) = ("cancelled", "task \(id) cancelled; it will not run")
        case .cancelling: (word, message) = ("cancelling", "task \(id) is running; its worker has been told to stop it")
        case .alreadyFinished(let s): (word, message) = ("already_\(s.rawValue)", "task \(id) was already \(s.rawValue); nothing changed")
        case .notFound: (word, message) = ("not_found", await notFoundMessage(id, on: broker))
        }
        if output.json {
            Terminal.out(JSONValue.object(["task_id": .string(id), "outcome": .string(word)]).jsonString + "\n")
        } else {
            Terminal.out(message + "\n")
        }
        if outcome == .notFound { throw Exit.failed }
    }
}

struct TaskEventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print a task's stored events; with --follow, keep printing until it ends.")

    @Argument(help: "The task id.") var id: String
    @Flag(help: "Wait for new events until the task's terminal status.") var follow = false
    @Option(help: "Start after this event id.") var from: String = "0"
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        let subscriber = EventSubscriber(broker: broker)
        func show(_ stored: StoredEvent) {
            if output.json {
                var json = stored.event.json
                if case .object(var members) = json { members["id"] = .string(stored.id); json = .object(members) }
                Terminal.out(json.jsonString + "\n")
            } else {
                Terminal.out("\(stored.id)  \(stored.event.jsonString)\n")
            }
        }
        if follow {
            do {
                for try await stored in subscriber.stream(id, from: from, outageLimit: Waiting.outageLimit) { show(stored) }
            } catch {
                throw await Waiting.failure(error, taskID: id, waitTimeout: nil, broker: broker)
            }
        } else {
            let events = try await subscriber.replay(id, from: from)
            if events.isEmpty, try await broker.status(id) == nil {
                throw CLIFailure.failed("orbiter: " + (await notFoundMessage(id, on: broker)))
            }
            events.forEach(show)
        }
    }
}

struct TaskDeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dead", abstract: "List failed tasks (the dead-letter stream) with their reasons, newest first.")

    @Option(parsing: .unconditional, help: "At most this many.") var limit: Int = 20
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let broker = try await redis.broker()
        let dead = try await broker.deadLetters(limit: limit)
        if output.json {
            Terminal.out(JSONValue.array(dead.map(\.json)).jsonString + "\n")
            return
        }
        for d in dead { Terminal.out("\(d.taskID)  \(formatTime(d.at))  attempts \(d.attempts)  \(d.reason)\n") }
    }
}

struct TaskRetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Run a failed or cancelled task again from the start. Exit 1 when it cannot be requeued.")

    @Argument(help: "The task id.") var id: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        let outcome = try await broker.requeue(id)
        // --json: {"task_id", "outcome": "requeued" | "not_found" | "not_retryable", "status" (when not retryable)}
        var json: [String: JSONValue] = ["task_id": .string(id), "outcome": .string(outcome)]
        let problem: String?
        switch outcome {
        case "requeued": problem = nil
        case "not_found": problem = await notFoundMessage(id, on: broker)
        default:
            json["outcome"] = "not_retryable"
            json["status"] = .string(outcome)
            problem = "task \(id) is \(outcome); only failed or cancelled tasks can be retried"
        }
        if output.json {
            Terminal.out(JSONValue.object(json).jsonString + "\n")
        } else if let problem {
            Terminal.error("orbiter: " + problem)
        } else {
            Terminal.out("task \(id) requeued\n")
        }
        if problem != nil { throw Exit.failed }
    }
}

struct TaskPurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Delete finished tasks with their events and dead-letter entries (task dead, queue stats).")

    @Option(help: "completed, failed or cancelled.") var status: String
    @Option(name: .customLong("older-than"), parsing: .unconditional, help: "Age, e.g. 3600, 90s, 30m, 12h, 7d.") var olderThan: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard let s = TaskStatus(rawValue: status), s.isFinished else {
            throw ValidationError("--status must be completed, failed or cancelled")
        }
        guard parseAge(olderThan) != nil else { throw ValidationError("--older-than: cannot read '\(olderThan)'; use e.g. 90s, 30m, 12h, 7d") }
    }

    func run() async throws {
        let broker = try await redis.broker()
        let age = parseAge(olderThan)!
        let n = try await broker.purge(status: TaskStatus(rawValue: status)!, olderThan: age)
        if output.json {
            Terminal.out(JSONValue.object(["queue": .string(redis.queue), "status": .string(status), "older_than_s": .double(age),
                                           "purged": .int(n)]).jsonString + "\n")
        } else {
            Terminal.out("purged \(n) \(status) task(s)\n")
        }
    }
}

/// Says that a task is not on the queue asked, and names the queue it is on when another known
/// queue holds it (else how to look elsewhere).
func notFoundMessage(_ id: String, on broker: TaskBroker) async -> String {
    let queue = broker.keys.queue
    if let other = try? await broker.otherQueue(holding: id) {
        return "task \(id) not found on queue '\(queue)'; it is on queue '\(other)': pass --queue \(other)"
    }
    return "task \(id) not found on queue '\(queue)' (it never existed there, or its results expired; "
        + "pass --queue NAME if it was submitted to another queue)"
}

/// `512 bytes`, `3.2 KiB`, `5.0 MiB`.
func describeSize(_ bytes: Int) -> String {
    if bytes < 1024 { return "\(bytes) bytes" }
    let (value, unit) = bytes < 1 << 20 ? (Double(bytes) / 1024, "KiB") : (Double(bytes) / Double(1 << 20), "MiB")
    return String(format: "%.1f", value) + " " + unit
}
