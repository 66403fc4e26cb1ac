import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterRedis

/// `--redis-url` and `--queue`, shared by every command that talks to Redis.
struct RedisOptions: ParsableArguments {
    /// The one help text of every `--redis-url`.
    static let urlHelp = ArgumentHelp(
        "Redis URL (default: $ORBITER_REDIS_URL, else redis://127.0.0.1:6379).",
        discussion: "redis://[user:password@]host[:port][/db], unix://[user:password@]/path.sock, or redis-sentinel://[user:password@]host1:26379,host2:26379/MASTER[?db=N&sentinel_password=P] (the master found through Sentinel, followed after a failover), or redis-cluster://[user:password@]host1:7000,host2:7001 (also redis://host:port?cluster=1: a Redis Cluster, each queue on the master of its hash tag).")
    @Option(name: .customLong("redis-url"), help: RedisOptions.urlHelp)
    var redisURL: String?

    @Option(help: "The queue's name.")
    var queue: String = "default"

    /// A broker connected now, so a wrong URL or a down Redis fails fast with exit status 2.
    func broker(settings: QueueSettings = QueueSettings()) async throws -> TaskBroker {
        do {
            let broker = try TaskBroker(redisURL: redisURL, queue: queue, settings: settings)
            try await broker.client.connect()
            return broker
        } catch {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }
}

/// `--json` for commands that print data.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print JSON instead of text.")
    var json = false
}

func formatTime(_ date: Date?) -> String {
    guard let date else { return "-" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: date)
}

/// Prints a task's result: its `output` as text (ending with a newline), or with `json` the whole
/// result object, optionally wrapped with the task id.
func printResult(_ result: JSONValue, json: Bool, taskID: String? = nil) {
    if json {
        let value: JSONValue = taskID.map { ["task_id": .string($0), "result": result] } ?? result
        Terminal.out(value.jsonString + "\n")
    } else {
        let text = result["output"]?.stringValue ?? result.jsonString
        Terminal.out(text.hasSuffix("\n") ? text : text + "\n")
    }
}
