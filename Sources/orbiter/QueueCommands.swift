import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker

/// `orbiter queue stats`.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queue", abstract: "Inspect queues.", subcommands: [QueueStatsCommand.self])
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
            let stats = try await broker.stats()
            let models = try await broker.modelUsage()
            if output.json {
                var json = stats.json.objectValue ?? [:]
                json["models_last_hour"] = .array(models.map(\.json))
                Terminal.out(JSONValue.object(json).jsonString + "\n")
            } else {
                if watch { Terminal.out("\u{1B}[H\u{1B}[2J") }
                let oldest = stats.oldestPendingSeconds.map { String(format: "%.1f s", $0) } ?? "-"
                Terminal.out("""
                    queue '\(stats.queue)'
                      pending   \(stats.pending)   (oldest waiting \(oldest))
                      running   \(stats.running)
                      delayed   \(stats.delayed)   (retries waiting for their time)
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
