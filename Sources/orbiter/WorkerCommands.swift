import ArgumentParser
import OrbiterLimits
import Dispatch
import Foundation
import Logging
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterTools
import Synchronization

/// `orbiter start worker`.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a long-running process.", subcommands: [StartWorkerCommand.self])
}

/// `orbiter start worker`: claims tasks from a queue and runs them until SIGINT/SIGTERM.
struct StartWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run tasks from a Redis queue.",
        discussion: """
            Runs up to --concurrency tasks at once in sandboxed Lua (one state per script, shared by its \
            tasks; --isolate-tasks gives each task a fresh one). On SIGINT or SIGTERM it stops claiming, \
            lets running tasks finish for up to --drain-timeout seconds, puts what is left back on the \
            queue (another worker resumes each task from its last checkpoint), and exits 0; a second \
            signal exits at once. A --worker-id held by a live worker is refused (exit 2).

            Model endpoints and keys are this worker's own (OPENAI_BASE_URL, OPENAI_API_KEY, ..., read \
            once at start). A submitted agent's base_url or api_key_env fails its task with a \
            configuration error unless allowed with --allow-base-url or --allow-api-key-env. With \
            ORBITER_SECRET set, only tasks signed with the same secret for this queue run.

            What shipped scripts reach is granted here: orbiter.http only to --allow-host hosts (never \
            loopback, private or metadata addresses unless named exactly; checked after DNS and on every \
            redirect), orbiter.secret only the --secret and --secrets-file values (redacted from every \
            event, result, log line and checkpoint), stdio MCP servers only from --mcp (never a script's \
            command), and never orbiter.exec. Every script on the queue gets the same grants. Tool files of \
            --tools are trusted: they reach any host and may run programs.

            --queue a,b,c serves several queues (on a Redis Cluster they may live on different masters): \
            one claim loop per queue, each with --concurrency slots of its own, so a backlog on one queue \
            never starves another; they share the process, providers, tools and the --mcp servers.
            """)

    @Option(parsing: .unconditional, help: "Tasks to run at once (per queue with --queue a,b,c).")
    var concurrency: Int = 4

    @Option(name: .customLong("worker-id"), help: "A unique id (default: <hostname>-<pid>); refused while a live worker holds it.")
    var workerID: String?

    @Option(name: .customLong("heartbeat-ttl"), parsing: .unconditional, help: "Seconds a heartbeat stays valid; `worker list` shows the worker dead after it.")
    var heartbeatTTL: Int = 30

    @Option(name: .customLong("drain-timeout"),
            parsing: .unconditional, help: "Seconds running tasks may finish after a stop signal; then they go back on the queue for another worker.")
    var drainTimeout: Double = 30

    @Option(parsing: .unconditional, help: "Seconds a running task's lease lasts; renewed while this worker lives, taken over by another worker after.")
    var lease: Int = 30

    @Option(name: .customLong("max-retries"), parsing: .unconditional, help: "Retries after retryable failures, for tasks that set none.")
    var maxRetries: Int = 3

    @Option(name: .customLong("metrics-port"), parsing: .unconditional, help: "Serve GET /metrics (Prometheus) and GET /healthz on this port.")
    var metricsPort: Int?

    @Option(name: .customLong("allow-base-url"),
            help: ArgumentHelp("A base_url submitted agents may set; this worker's key for that provider is sent there (repeatable; exact match, trailing slash ignored).",
                               valueName: "url"))
    var allowBaseURL: [String] = []

    @Option(name: .customLong("allow-api-key-env"),
            help: ArgumentHelp("An environment variable that submitted agents may name as api_key_env (repeatable).", valueName: "name"))
    var allowAPIKeyEnv: [String] = []

    @Option(name: .customLong("metrics-label-limit"),
            parsing: .unconditional, help: "Distinct tool and model names from tasks that get their own metrics label (more are counted as 'other').")
    var metricsLabelLimit: Int = 100

    @Flag(help: "Book room under the shared rate limits (orbiter limits) before every model call, and settle after.")
    var limits = false

    @Option(name: .customLong("limits-max-wait"), parsing: .unconditional,
            help: "With --limits: seconds a model call may wait for room (default 300, at most 3600); a call whose room is further away fails retryably.")
    var limitsMaxWait: Double = 300
    @Option(name: .customLong("starvation-age"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds after which a waiting task's priority level is served before higher ones, oldest first (0: off).",
        discussion: "The starvation guard of submit --priority; every worker of a queue should use the same value."))
    var starvationAge: Double = 60
    @Option(name: .customLong("event-window-ms"), parsing: .unconditional, help: ArgumentHelp(
        "Milliseconds between event appends while events keep coming (0 to 100; default 2).",
        discussion: "Each append carries every run's events since the previous one: a wider window means fewer, bigger appends and adds up to that long to an event's trip to its followers."))
    var eventWindowMs: Double = 2

    @Flag(name: .customLong("isolate-tasks"), help: "A fresh Lua state for every task (slower; no globals shared between tasks of a script).")
    var isolateTasks = false

    @OptionGroup var redis: RedisOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var toolFolder: ToolFolderOptions
    @OptionGroup(title: "What shipped scripts may reach") var hostAccess: HostAccessOptions
    @OptionGroup(title: "Cost") var prices: PricesOption
    @OptionGroup(title: "Durability") var durability: DurabilityOptions

    func validate() throws {
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535") }
        if lease < 1 { throw ValidationError("--lease must be at least 1") }
        if maxRetries < 0 { throw ValidationError("--max-retries must not be negative") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if heartbeatTTL < 1 { throw ValidationError("--heartbeat-ttl must be at least 1") }
        if !(drainTimeout >= 0 && drainTimeout.isFinite) { throw ValidationError("--drain-timeout must be a number of seconds, 0 or more") }
        if !(limitsMaxWait >= 0 && limitsMaxWait <= 3600) { throw ValidationError("--limits-max-wait must be from 0 to 3600 seconds") }
        if !(starvationAge >= 0 && starvationAge <= 86_400) { throw ValidationError("--starvation-age must be 0 to 86400 seconds (0: off)") }
        if !(eventWindowMs >= 0 && eventWindowMs <= 100) { throw ValidationError("--event-window-ms must be 0 to 100") }
        if metricsLabelLimit < 0 { throw ValidationError("--metrics-label-limit must not be negative") }
        for url in allowBaseURL where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--allow-base-url expects an http:// or https:// URL, got '\(url)'")
        }
    }

    func run() async throws {
        let queues = try QueueWorkers.queues(redis.queue)
        let priceTable = try prices.load()
        let logger = logging.logger(label: "orbiter.worker")
        let log: @Sendable (String) -> Void = { line in logger.info("\(line)") }
        // `orbiter.log` lines, with the task they come from (`LuaLogContext`: task_id, agent, trace_id).
        let luaLog: @Sendable (String) -> Void = { line in
            var metadata: Logger.Metadata = ["source": "lua"]
            for (key, value) in LuaLogContext.metadata { metadata[key] = .string(value) }
            logger.info("\(line)", metadata: metadata)
        }
        let exporter = PrometheusExporter()
        // Tool files are the operator's own code: trusted, they reach any host and run programs.
        var toolOptions = LuaRuntime.Options(log: luaLog)
        toolOptions.access = HostAccess.trusted(logger: logger, mcp: false)
        let folder = try await toolFolder.load(log: log, warn: { line in logger.warning("\(line)") }, luaOptions: toolOptions)
        var luaOptions = LuaRuntime.Options.shipped(log: luaLog)
        luaOptions.access = try hostAccess.shipped(logger: logger)
        var configuration = try configured(WorkerConfiguration(
            redisURL: try redis.server.url(), queue: queues[0], concurrency: concurrency, workerID: workerID,
            heartbeatTTL: heartbeatTTL, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
            leaseSeconds: lease, maxRetries: maxRetries,
            luaOptions: luaOptions,
            logger: logger, metricsFactory: exporter.factory), toolRegistry: folder?.registry)
        configuration.isolateTasks = isolateTasks
        configuration.settings.durability = try durability.resolved()
        configuration.starvationAge = .milliseconds(Int64(starvationAge * 1000))
        configuration.eventWindow = .microseconds(Int64(eventWindowMs * 1000))
        configuration.providerPolicy = ProviderPolicy(allowedBaseURLs: allowBaseURL, allowedAPIKeyEnvs: allowAPIKeyEnv)
        configuration.metricsLabels = MetricsLabelPolicy(limit: metricsLabelLimit)
        configuration.prices = priceTable
        if let priceTable { logger.info("prices: \(priceTable.prices.count) models from \(priceTable.source)") }
        if limits { configuration.rateLimits = RateLimitSettings(maxWait: .milliseconds(Int64(limitsMaxWait * 1000))) }
        let worker = try QueueWorkers(queues: queues, configuration: configuration)
        var server: MetricsServer?
        if let metricsPort {
            do {
                server = try await MetricsServer.start(port: metricsPort, metrics: { exporter.render() },
                                                       healthy: { worker.isHealthy })
                logger.info("serving /metrics and /healthz on port \(server?.port ?? metricsPort)")
            } catch {
                throw CLIFailure.usage("orbiter: cannot serve metrics on port \(metricsPort): \(error)")
            }
        }
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { count in
            if count == 1 {
                log("stop requested: finishing running tasks (send the signal again to exit at once)")
                worker.stop()
            } else {
                log("second stop signal: exiting now")
                Foundation.exit(130)
            }
        }
        defer { signals.cancel() }
        do {
            try await whileWatching(folder) { try await worker.run() }
            await server?.stop()
        } catch {
            await server?.stop()
            throw CLIFailure.usage(PermissionDenied.message(for: error) ?? "orbiter: \(error)")
        }
    }
}

/// `orbiter worker list`.
struct WorkerGroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Inspect workers.", subcommands: [WorkerListCommand.self])
}

struct WorkerListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List workers seen in the last day: running, draining, stopped, or dead (missed their heartbeat).",
        discussion: "Dead and stopped workers keep the counts of their last heartbeat. Times in --json are seconds since 1970.")

    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let broker = try await redis.broker()
        let workers = try await broker.workers()
        if output.json {
            Terminal.out(JSONValue.array(workers.map(\.json)).jsonString + "\n")
            return
        }
        if workers.isEmpty {
            Terminal.out("no workers on queue '\(redis.queue)'\n")
            return
        }
        for w in workers {
            let tasks = (try? JSONValue.parse(w.fields["current_tasks"] ?? "[]"))?.arrayValue?.count ?? 0
            let load = "running \(tasks)/\(w.fields["concurrency"] ?? "?")"
            let running = w.alive ? "  \(load)" : w.state == "dead" ? "  \(load) when last seen" : ""
            Terminal.out("\(w.id)  \(w.state)\(running)  processed \(w.fields["tasks_processed"] ?? "0")  failed \(w.fields["tasks_failed"] ?? "0")  last heartbeat \(formatTime(w.lastHeartbeat))\n")
        }
    }
}
