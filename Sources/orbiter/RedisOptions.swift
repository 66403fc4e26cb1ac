import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterRedis
import Synchronization

/// `--redis-url` and the TLS files, shared by every command that talks to Redis.
struct RedisServerOptions: ParsableArguments {
    /// The one help text of every `--redis-url`.
    static let urlHelp = ArgumentHelp(
        "Redis URL (default: $ORBITER_REDIS_URL, else redis://127.0.0.1:6379).",
        discussion: "redis://[user:password@]host[:port][/db], rediss://... (TLS; ?insecure=1 turns certificate checks off, loudly), unix://[user:password@]/path.sock, redis-sentinel://[user:password@]host1:26379,host2:26379/MASTER[?db=N&sentinel_password=P] (the master found through Sentinel, followed after a failover), or redis-cluster://[user:password@]host1:7000,host2:7001 (also redis://host:port?cluster=1: a Redis Cluster, each queue on the master of its hash tag). rediss-sentinel:// is Sentinel over TLS.")
    @Option(name: .customLong("redis-url"), help: RedisServerOptions.urlHelp)
    var redisURL: String?

    @Option(name: .customLong("redis-tls-ca"), help: ArgumentHelp(
        "PEM file of the CA that signed the Redis server's certificate, for rediss:// (default: $ORBITER_REDIS_TLS_CA, else the system's CA store).",
        valueName: "file"))
    var tlsCA: String?
    @Option(name: .customLong("redis-tls-cert"), help: ArgumentHelp(
        "PEM client certificate for rediss:// servers that require one (default: $ORBITER_REDIS_TLS_CERT); needs --redis-tls-key.",
        valueName: "file"))
    var tlsCert: String?
    @Option(name: .customLong("redis-tls-key"), help: ArgumentHelp(
        "Unencrypted PEM private key of --redis-tls-cert (default: $ORBITER_REDIS_TLS_KEY).", valueName: "file"))
    var tlsKey: String?

    /// The URL to connect to: `--redis-url` (else `ORBITER_REDIS_URL`, else nil for the library's
    /// default) with the TLS flags added to its query. Prints the warning of `?insecure=1` once.
    func url(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        var text = redisURL ?? environment["ORBITER_REDIS_URL"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        let files = [("tls_ca", tlsCA), ("tls_cert", tlsCert), ("tls_key", tlsKey)].compactMap { name, value in value.map { (name, $0) } }
        if !files.isEmpty {
            guard let base = text, ["rediss://", "rediss-sentinel://"].contains(where: base.lowercased().hasPrefix) else {
                throw CLIFailure.usage("orbiter: --redis-tls-ca, --redis-tls-cert and --redis-tls-key need a rediss:// (or rediss-sentinel://) URL (--redis-url or ORBITER_REDIS_URL)")
            }
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+#%")
            let query = files.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $1)" }
            text = base + (base.contains("?") ? "&" : "?") + query.joined(separator: "&")
        }
        if let text, let parsed = try? RedisURL(text, environment: environment), parsed.tls?.insecure == true {
            RedisServerOptions.warnInsecureOnce(parsed)
        }
        return text
    }

    /// A parsed URL (the default one when none is given); a bad one is a usage error.
    func parsedURL() throws -> RedisURL {
        do {
            return try url().map { try RedisURL($0) } ?? RedisURL.fromEnvironment()
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }

    private static let warned = Mutex(false)
    private static func warnInsecureOnce(_ url: RedisURL) {
        if warned.withLock({ w in defer { w = true }; return !w }) {
            Terminal.err("orbiter: WARNING: \(RedisTLS.insecureWarning(url))\n")
        }
    }
}

/// `--redis-url` (with the TLS files) and `--queue`, shared by every command that works on a queue.
struct RedisOptions: ParsableArguments {
    @OptionGroup var server: RedisServerOptions

    @Option(help: "The queue's name.")
    var queue: String = "default"

    /// A broker connected now, so a wrong URL or a down Redis fails fast with exit status 2.
    func broker(settings: QueueSettings = QueueSettings()) async throws -> TaskBroker {
        do {
            let broker = try TaskBroker(redisURL: try server.url(), queue: queue, settings: settings)
            try await broker.client.connect()
            return broker
        } catch let failure as CLIFailure {
            throw failure
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
