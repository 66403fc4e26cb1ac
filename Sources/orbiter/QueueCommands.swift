import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker

/// `orbiter queue stats`, `orbiter queue set-concurrency`.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queue", abstract: "Inspect queues and set their fleet-wide limits.",
                                                    subcommands: [QueueStatsCommand.self, QueueSetConcurrencyCommand.self])
}

struct QueueStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Pending, running, delayed, parked and dead tasks, the last hour's outcomes and tokens and cost per model, the oldest wait, and live workers.")

    @Flag(help: "Refresh every second, in place (Ctrl-C to stop).") var watch = false
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        while true {
            if output.json {
                Terminal.out(try await broker.statsReport().jsonString + "\n")
            } else {
                let stats = try await broker.stats()
                let models = try await broker.modelUsage()
                if watch { Terminal.out("\u{1B}[H\u{1B}[2J") }
                let oldest = stats.oldestPendingSeconds.map { String(format: "%.1f s", $0) } ?? "-"
                Terminal.out("""
                    queue '\(stats.queue)'
                      pending   \(stats.pending)   (oldest waiting \(oldest))
                      running   \(stats.running)
                      delayed   \(stats.delayed)   (retries waiting for their time)
                      scheduled \(stats.scheduled)   (submitted with --delay/--at, not due yet)
                      cap       \(stats.concurrencyCap.map { "\($0) running at most, across all workers" } ?? "none (queue set-concurrency)")
                      waiting   \(stats.waiting)   (parked, waiting for a person: orbiter task list --status waiting)
                      dead      \(stats.dead)
                      last hour \(stats.completedLastHour) completed, \(stats.failedLastHour) failed
                      workers   \(stats.workersAlive) alive of \(stats.workersKnown) seen today

                    """)
                Terminal.out(ModelUsageLines.text(models))
            }
            guard watch else { return }
            try await Task.sleep(for: .seconds(1))
        }
    }
}

/// `queue stats`' lines of tokens and cost per model in the last hour.
enum ModelUsageLines {
    static func text(_ models: [ModelUsageStats]) -> String {
        guard !models.isEmpty else { return "  models    none used by tasks that ended in the last hour\n" }
        var s = "  models (tasks that ended in the last hour)\n"
        for m in models {
            let cost: String
            if m.unpricedTasks == m.tasks {
                cost = "cost unknown (no price on their worker)"
            } else if m.unpricedTasks > 0 {
                cost = "\(formatUSD(m.cost)) USD (+ \(m.unpricedTasks) tasks without a price)"
            } else {
                cost = "\(formatUSD(m.cost)) USD"
            }
            s += "    \(m.model)  \(m.tasks) tasks, \(m.inputTokens) in / \(m.outputTokens) out tokens, \(cost)\n"
        }
        return s
    }
}

/// `orbiter queue set-concurrency QUEUE N|none`.
struct QueueSetConcurrencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-concurrency",
        abstract: "Cap the tasks of a queue running at once across all its workers (none: remove the cap).",
        discussion: """
            Workers check the cap on every claim, from the queue's own bookkeeping (the entries its \
            workers hold), so a crashed worker's tasks count until they are taken over and the cap \
            never drifts. Lowering it stops nothing that runs: new claims wait until fewer run. \
            Shown by orbiter queue stats.
            """)

    @Argument(help: "The queue.") var queue: String
    @Argument(help: "At most this many running tasks (a positive integer), or none.") var limit: String
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func validate() throws {
        if redis.queue != "default" && redis.queue != queue {
            throw ValidationError("the queue is given twice ('\(queue)' and --queue \(redis.queue)); give it once, as the first argument")
        }
        if limit != "none", Int(limit).map({ $0 >= 1 }) != true {
            throw ValidationError("the limit must be a positive integer or none, got '\(limit.prefix(40))'")
        }
    }

    func run() async throws {
        var options = redis
        options.queue = queue
        let broker = try await options.broker()
        let cap = limit == "none" ? nil : Int(limit)
        try await broker.setConcurrency(cap)
        if output.json {
            Terminal.out(JSONValue.object(["queue": .string(broker.keys.queue), "concurrency_cap": cap.map(JSONValue.int) ?? .null]).jsonString + "\n")
        } else {
            Terminal.out(cap.map { "queue '\(broker.keys.queue)': at most \($0) task(s) run at once\n" }
                         ?? "queue '\(broker.keys.queue)': no concurrency cap\n")
        }
    }
}
