import Foundation
import ArgumentParser
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua

/// `orbiter submit SCRIPT [INPUT]`: runs an agent or swarm as a Redis task on a worker.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit an agent or swarm script as a task for workers (orbiter start worker).",
        discussion: """
            Without --wait or --stream, prints the task id alone on stdout. The script and every module \
            it requires travel with the task: workers need no copy of your files. With ORBITER_SECRET \
            set, the task is signed for this queue and id; the signature expires the task's timeout \
            plus a day after submit (ORBITER_SIGNATURE_WINDOW seconds).

            With --wait or --stream it warns when no worker of the queue is alive, and it rides out a \
            Redis restart for up to a minute (ORBITER_REDIS_OUTAGE_SECONDS). A task whose tools ask a \
            person (approval = true, orbiter.ask) parks on the worker and waits for orbiter task \
            approve, reject or reply; --wait and --stream say so on stderr.

            Exit status: 0 submitted (or completed with --wait/--stream), 1 the task failed or was \
            cancelled or --wait-timeout passed, 2 usage error, script error, or Redis unreachable.
            """)

    @Argument(help: "The Lua script that returns an agent or swarm.")
    var script: String

    @Argument(help: "The input text; '-' or absent reads stdin.")
    var input: String?

    @Flag(help: "Wait for the task and print its output.")
    var wait = false

    @Flag(help: "Stream the task's events as `orbiter run` shows them.")
    var stream = false

    @Flag(help: "Ask the worker for every event (steps, usage, status).")
    var detailed = false

    @OptionGroup var output: JSONOption

    @Option(parsing: .unconditional, help: "Seconds the task may run on the worker (counted from its start there).")
    var timeout: Double = 300

    @Option(name: .customLong("wait-timeout"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds the task waits, parked, for a person's reply each time it asks one (default 86400); then it fails with InputTimeout.",
        discussion: "With --wait this command also gives up waiting for the result after that many seconds (the task stays queued)."))
    var waitTimeout: Double?

    @Option(name: .customLong("metadata"), help: "Metadata to attach, as key=value (repeatable).")
    var metadata: [String] = []

    @Option(name: .customLong("idempotency-key"), help: "Submitting the same script and input again with this key (within 24 h) returns the first task; other work with it is refused.")
    var idempotencyKey: String?

    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: "Retries after retryable failures (provider 5xx/429/network, a lost worker); default: the worker's.")
    var maxRetries: Int?

    @Option(name: .customLong("max-pending"), parsing: .unconditional, help: ArgumentHelp(
        "Refuse the task (exit 1, nothing stored) while the queue holds this many tasks waiting or running.",
        discussion: "Default: $ORBITER_MAX_PENDING, else no limit. Queued tasks are never trimmed away."))
    var maxPending: Int?

    @Option(help: ArgumentHelp("A W3C traceparent to continue (default: TRACEPARENT, else a new trace).",
                               discussion: "The worker logs the task with this trace's id as trace_id."))
    var traceparent: String?

    @Option(name: .customLong("batch"), help: ArgumentHelp(
        "Submit one task per line of this JSON Lines file ('-': stdin); prints one task id per line.",
        discussion: "A line is a JSON string (the input) or {\"input\": ..., \"metadata\": {...}, \"idempotency_key\": ...}. The whole file is checked first: a bad line is reported as FILE:LINE: message and nothing is submitted. With --wait, progress goes to stderr and the exit status is 1 if any task failed."))
    var batch: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("0 to 9: higher runs first, in submit order within a level (default 5).",
                                                        discussion: "A task that waits longer than the workers' starvation age (60 s) is served first anyway."))
    var priority: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Start no earlier than this long from now: e.g. 30s, 5m, 2h, 1d, or seconds (at most 366d).",
                                                        discussion: "The task is `scheduled` until then (task status, task list --status scheduled, queue stats); task cancel removes it."))
    var delay: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Start no earlier than this time, ISO 8601 (2026-12-24T08:00:00Z); a time already past starts it now.",
                                                        discussion: "Not with --delay."))
    var at: String?

    @OptionGroup var redis: RedisOptions
    @OptionGroup var budget: BudgetOptions
    @OptionGroup var tenant: TenantOption
    @OptionGroup(title: "Durability") var durability: DurabilityOptions

    /// --priority, --delay and --at read and checked (`nil`: not given).
    func placement() throws -> (priority: Int?, delay: Double?, runAt: Date?) {
        let level = try priority.map { text in
            do { return try TaskPriority.parse(text) } catch { throw ValidationError("\(error)") }
        }
        if delay != nil && at != nil { throw ValidationError("use --delay or --at, not both") }
        let seconds = try delay.map { text -> Double in
            guard let value = parseAge(text), value.isFinite else {
                throw ValidationError("--delay: cannot read '\(text.prefix(40))'; use a non-negative duration such as 500ms, 30s, 5m, 2h, 1d")
            }
            guard value <= TaskBroker.maxScheduleAhead else { throw ValidationError("--delay: at most 366 days, got '\(text.prefix(40))'") }
            return value
        }
        let date = try at.map { text -> Date in
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime]
            let g = ISO8601DateFormatter()
            g.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = f.date(from: text) ?? g.date(from: text) else {
                throw ValidationError("--at: cannot read '\(text.prefix(40))'; use ISO 8601 with a zone, e.g. 2026-12-24T08:00:00Z")
            }
            guard date.timeIntervalSinceNow <= TaskBroker.maxScheduleAhead else {
                throw ValidationError("--at: \(text) is more than 366 days ahead")
            }
            return date
        }
        return (level, seconds, date)
    }

    func validate() throws {
        if batch != nil {
            if input != nil { throw ValidationError("--batch takes the inputs from its file; leave out the INPUT argument") }
            if stream { throw ValidationError("--batch cannot --stream; use --wait to follow the batch") }
            if idempotencyKey != nil { throw ValidationError("--batch takes idempotency keys per line (\"idempotency_key\"), not --idempotency-key") }
        }
        _ = try placement()
        if let maxRetries, maxRetries < 0 { throw ValidationError("--max-retries must not be negative") }
        if let maxPending, maxPending < 0 { throw ValidationError("--max-pending must not be negative (0: no limit)") }
        if !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let idempotencyKey, idempotencyKey.allSatisfy(\.isWhitespace) {
            throw ValidationError("--idempotency-key is empty; give a key that names the work (e.g. order-42), or leave the option out")
        }
        for item in metadata where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--metadata expects key=value with a non-empty key, got '\(item)'")
        }
        if wait && stream { throw ValidationError("use --wait or --stream, not both") }
        if let waitTimeout, !(waitTimeout > 0 && waitTimeout.isFinite) {
            throw ValidationError("--wait-timeout must be a positive number of seconds")
        }
    }

    func run() async throws {
        if let batch { return try await runBatch(batch) }
        let (runtime, root) = try ScriptLoading.load(script)
        ScriptLoading.warnIfWorkersCannotLoad(runtime, path: script)
        let text = try resolveInput(input)
        let meta = parsedMetadata
        let place = try placement()
        var settings = QueueSettings()
        settings.durability = try durability.resolved()
        if let maxPending { settings.maxPending = maxPending }
        let broker = try await redis.broker(settings: settings)
        let handle = try await distributed(root, text, broker: broker, detailed: detailed || (stream && !output.json), timeout: timeout,
                                           metadata: meta, bundle: runtime.bundle, idempotencyKey: idempotencyKey, maxRetries: maxRetries,
                                           traceparent: traceparent ?? ProcessInfo.processInfo.environment["TRACEPARENT"].flatMap { $0.isEmpty ? nil : $0 },
                                           waitTimeout: waitTimeout, budget: budget.budget, tenant: tenant.tenant,
                                           priority: place.priority, delay: place.delay, runAt: place.runAt)
        if wait || stream { await Waiting.warnIfNoLiveWorker(broker) }
        if stream {
            let style: EventPrinter.Style = output.json ? .json : (detailed ? .detailed : .plain)
            let taskID = handle.taskID
            let printer = EventPrinter(style: style, root: root) { Waiting.parkedHint($0, taskID: taskID) }
            var final: StatusEvent?
            do {
                for try await event in handle.stream(outageLimit: Waiting.outageLimit) {
                    if case .status(let s) = event, s.status.isTerminal { final = s }
                    printer.show(event)
                }
                // A swarm's output is printed after its members' progress, as `orbiter run` does.
                let result = printer.members && final?.status == .completed
                    ? try await handle.result(outageLimit: Waiting.outageLimit)["output"]?.stringValue : nil
                printer.finish(output: result)
            } catch {
                printer.finish()
                throw Waiting.failure(error, taskID: handle.taskID, waitTimeout: nil)
            }
            if final?.status != .completed {
                if style != .json { Terminal.error("orbiter: task \(handle.taskID) ended \(final?.status.rawValue ?? "without a status")\(final.map { $0.message.isEmpty ? "" : ": \($0.message)" } ?? "")") }
                throw Exit.failed
            }
            return
        }
        if wait {
            let hints = Waiting.announceParks(handle)
            defer { hints.cancel() }
            do {
                printResult(try await handle.result(timeout: waitTimeout.map { .milliseconds(Int64($0 * 1000)) }, outageLimit: Waiting.outageLimit),
                            json: output.json,
                            taskID: handle.taskID)
            } catch {
                throw Waiting.failure(error, taskID: handle.taskID, waitTimeout: waitTimeout)
            }
            return
        }
        Terminal.out(output.json ? JSONValue.object(["task_id": .string(handle.taskID), "queue": .string(handle.queue)]).jsonString + "\n"
                                 : handle.taskID + "\n")
    }
}
