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
        abstract: "Pending, running, delayed, parked and dead tasks, the last hour's outcomes, the oldest wait, and live workers.")

    @Flag(help: "Refresh every second, in place (Ctrl-C to stop).") var watch = false
    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        while true {
            let stats = try await broker.stats()
            if output.json {
                Terminal.out(stats.json.jsonString + "\n")
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
            }
            guard watch else { return }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
