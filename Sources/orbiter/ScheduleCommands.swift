import ArgumentParser
import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
import OrbiterQueue

/// `orbiter schedule add|list|remove|run`: recurring tasks that the queue's workers fire.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Recurring tasks: a script submitted on a cron expression or a fixed period, fired by the queue's workers.",
        discussion: """
            Any running worker of the queue fires a due tick (within about a second); however many \
            workers there are, each tick makes exactly one task. Times are UTC. Each task carries \
            the metadata schedule=NAME and schedule_tick=<tick, ISO 8601 UTC>.
            """,
        subcommands: [ScheduleAddCommand.self, ScheduleListCommand.self, ScheduleRemoveCommand.self, ScheduleRunCommand.self])
}

struct ScheduleAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a schedule: SCRIPT runs with INPUT on every tick of --cron or --every.",
        discussion: """
            The script and its modules are stored with the schedule: workers need no files, and \
            editing the script changes nothing until you add the schedule again with --replace. \
            --cron takes 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), \
            in UTC; --every ticks on whole multiples of its period since 1970 (--every 1h: on the \
            hour). Ticks missed while no worker ran fire once together by default (--misfire once), \
            then the schedule goes on from now; --misfire skip drops them, --misfire all fires each.

            Exit status: 0 added, 2 a bad expression, script or option, an existing name without \
            --replace, or Redis unreachable.
            """)

    @Argument(help: "The schedule's name: letters, digits, '-', '_', '.', ':'.") var name: String
    @Argument(help: "The Lua script that returns an agent or swarm.") var script: String
    @Argument(help: "The input of every task (default empty; '-' reads stdin now).") var input: String?

    @Option(help: "A cron expression, UTC: \"*/5 * * * *\", \"0 9 * * MON-FRI\", 6 fields for seconds.") var cron: String?
    @Option(help: "A fixed period: 30s, 5m, 1h, 1d (ticks aligned to multiples of it).") var every: String?
    @Option(help: "Ticks missed while no worker ran: once (default: one task for them all), skip, or all.")
    var misfire: String = MisfirePolicy.once.rawValue
    @Flag(help: "Replace a schedule of the same name (its next tick is computed anew).") var replace = false

    @Flag(help: "Ask the worker for every event of each task.") var detailed = false
    @Option(parsing: .unconditional, help: "Seconds each task may run on the worker.") var timeout: Double = 300
    @Option(name: .customLong("wait-timeout"), parsing: .unconditional, help: "Seconds a task waits, parked, for a person's reply.")
    var waitTimeout: Double?
    @Option(name: .customLong("metadata"), help: "Metadata of every task, as key=value (repeatable).") var metadata: [String] = []
    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: "Retries after retryable failures; default: the worker's.")
    var maxRetries: Int?

    @Option(parsing: .unconditional, help: "Priority of every task, 0 to 9 (9 first; default 5).") var priority: Int?
    @OptionGroup var budget: BudgetOptions
    @OptionGroup var tenant: TenantOption
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if (cron == nil) == (every == nil) { throw ValidationError("give exactly one of --cron EXPRESSION or --every PERIOD") }
        if MisfirePolicy(rawValue: misfire) == nil { throw ValidationError("--misfire must be once, skip or all, got '\(misfire)'") }
        if !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let waitTimeout, !(waitTimeout > 0 && waitTimeout.isFinite) { throw ValidationError("--wait-timeout must be a positive number of seconds") }
        if let maxRetries, maxRetries < 0 { throw ValidationError("--max-retries must not be negative") }
        for item in metadata where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--metadata expects key=value with a non-empty key, got '\(item)'")
        }
        for reserved in [Schedule.nameKey, Schedule.tickKey] where metadata.contains(where: { $0.hasPrefix(reserved + "=") }) {
            throw ValidationError("--metadata \(reserved) is set by the schedule itself; use another key")
        }
        do { try Schedule.validate(name: name) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let timing: ScheduleTiming
        do {
            if let cron { timing = .cron(try CronExpression(cron)) } else { timing = try ScheduleTiming.parseEvery(every ?? "") }
        } catch {
            throw CLIFailure.usage("orbiter: \(cron != nil ? "--cron: " : "")\(error)")
        }
        let (runtime, root) = try ScriptLoading.load(script)
        ScriptLoading.warnIfWorkersCannotLoad(runtime, path: script)
        let text = input == nil ? "" : try resolveInput(input)
        let bundle: ScriptBundle? = runtime.bundle
        if let priority {
            do { try TaskPriority.validate(priority, name: "--priority") } catch { throw CLIFailure.usage("orbiter: \(error)") }
        }
        var template = TaskPayload(node: root.toDict(), input: text, detailed: detailed, metadata: parseMetadataItems(metadata),
                                   timeout: timeout, bundle: bundle?.sha256, maxRetries: maxRetries, waitTimeout: waitTimeout,
                                   budget: budget.budget, tenant: tenant.tenant)
        template.priority = priority
        let schedule = try Schedule(name: name, timing: timing, misfire: MisfirePolicy(rawValue: misfire) ?? .once, template: template,
                                    bundle: bundle)
        let broker = try await redis.broker()
        let (replaced, first) = try await broker.addSchedule(schedule, replace: replace)
        if output.json {
            Terminal.out(JSONValue.object(["name": .string(name), "queue": .string(broker.keys.queue), "replaced": .bool(replaced),
                                           "next_tick": .double(first.timeIntervalSince1970)]).jsonString + "\n")
        } else {
            Terminal.out("schedule '\(name)' \(replaced ? "replaced" : "added") on queue '\(broker.keys.queue)' (\(timing)); "
                         + "next tick \(formatTime(first))\n")
        }
    }
}

struct ScheduleListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Schedules of every queue this Redis has seen (or of --queue), soonest next tick first.")

    @OptionGroup var server: RedisServerOptions
    @Option(help: "Only this queue's schedules.") var queue: String?
    @OptionGroup var output: JSONOption

    func run() async throws {
        let first = try await RedisOptions.connected(server, queue: queue ?? "default")
        var queues = [first.keys.queue]
        if queue == nil { queues = try await first.knownQueues() }
        var infos: [ScheduleInfo] = []
        for name in queues {
            let broker = name == first.keys.queue ? first
                : try TaskBroker(redisURL: server.url(), queue: name, client: first.client)
            infos += try await broker.schedules()
        }
        if output.json {
            Terminal.out(JSONValue.array(infos.map(\.json)).jsonString + "\n")
            return
        }
        guard !infos.isEmpty else {
            Terminal.out("no schedules\(queue.map { " on queue '\($0)'" } ?? "") (orbiter schedule add NAME --every 5m SCRIPT)\n")
            return
        }
        for info in infos {
            let when = info.schedule.map { "\($0.timing)" } ?? "broken: \(info.problem ?? "?")"
            var line = "\(info.name)  queue=\(info.queue)  \(when)  next=\(formatTime(info.nextTick))"
            if let tick = info.lastTick { line += "  last=\(tick) task \(info.lastTaskID ?? "-")" }
            if let error = info.lastError { line += "  last error: \(error)" }
            Terminal.out(line + "\n")
        }
    }
}

struct ScheduleRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a schedule: no tick fires after this (tasks it made are left as they are).",
        discussion: "Exit status: 0 removed, 1 no such schedule on the queue, 2 usage error or Redis unreachable.")

    @Argument(help: "The schedule's name.") var name: String
    @OptionGroup var redis: RedisOptions

    func run() async throws {
        let broker = try await redis.broker()
        guard try await broker.removeSchedule(name) else {
            throw CLIFailure.failed("orbiter: no schedule '\(name)' on queue '\(broker.keys.queue)' (orbiter schedule list shows them); nothing changed")
        }
        Terminal.out("schedule '\(name)' removed from queue '\(broker.keys.queue)'\n")
    }
}

struct ScheduleRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Submit a schedule's task now (its ticks are unchanged); prints the task id.",
        discussion: "The task's metadata schedule_tick is 'manual'. Exit status: 0 submitted, 1 no such schedule, 2 usage error or Redis unreachable.")

    @Argument(help: "The schedule's name.") var name: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        guard try await broker.schedule(named: name) != nil else {
            throw CLIFailure.failed("orbiter: no schedule '\(name)' on queue '\(broker.keys.queue)' (orbiter schedule list shows them)")
        }
        let id = try await broker.runSchedule(name)
        Terminal.out(output.json ? JSONValue.object(["task_id": .string(id), "queue": .string(broker.keys.queue)]).jsonString + "\n" : id + "\n")
    }
}

extension RedisOptions {
    /// A broker for `queue` connected now (a down Redis: exit status 2), for commands with options of their own.
    static func connected(_ server: RedisServerOptions, queue: String) async throws -> TaskBroker {
        var options = RedisOptions()
        options.server = server
        options.queue = queue
        return try await options.broker()
    }
}
