import CoreMetrics
import Foundation
import Logging
import OrbiterCore
import OrbiterQueue
import OrbiterLua
import OrbiterModels
import OrbiterLimits

/// How a worker runs: which queue, how many tasks at once, how it reports and stops.
public struct WorkerConfiguration: Sendable {
    public var redisURL: String?
    public var queue: String
    /// Tasks run at once in this process.
    public var concurrency: Int
    /// Unique per process; defaults to `<hostname>-<pid>`. `Worker.run()` throws `workerIDInUse`
    /// while another live worker holds it.
    public var workerID: String
    /// Seconds a heartbeat stays valid; sent every third of it.
    public var heartbeatTTL: Int
    /// On `stop()` (SIGTERM/SIGINT): how long running tasks may go on; then they go back on the
    /// queue, for another worker to resume from their last checkpoint.
    public var drainTimeout: Duration
    public var settings: QueueSettings
    /// Limits of the Lua state each task gets (sandboxed by default: tasks carry others' code).
    public var luaOptions: LuaRuntime.Options
    /// A fresh Lua state per task instead of one shared state per script. Sharing is much faster
    /// (state creation costs ~1 ms) but lets a script's globals outlive a task.
    public var isolateTasks = false
    /// Whether this worker runs the host access's services (the `MCPHub` of `--mcp`) in its group.
    /// False when several workers (one per queue of `--queue a,b,c`) share one access: their owner
    /// stops it once all of them have drained.
    public var runsAccessServices = true
    /// Seconds a claimed task stays this worker's without renewal; renewed every third of it while
    /// the worker lives. Another worker takes over a task whose lease expired.
    public var leaseSeconds: Int
    /// Retries after a retryable failure, for tasks that do not set their own.
    public var maxRetries: Int
    /// First retry delay; doubled each attempt (with jitter), at most 60 s.
    public var retryBaseDelay: Duration
    /// How often the worker looks for parked tasks whose wait deadline has passed (they fail with
    /// `InputTimeout`); every worker of the queue sweeps, and the first to find one fails it.
    public var waitSweepInterval: Duration = .seconds(1)
    /// How often the worker looks for schedules whose tick is due (`orbiter schedule`), at most:
    /// it sleeps until the next known tick when that is sooner, so ticks fire on time and a new
    /// schedule is seen within this long. One read per sweep when none is due.
    public var scheduleSweepInterval: Duration = .seconds(1)
    /// How often the worker deletes finished tasks whose retention is over (the task TTL and the
    /// events TTL after they ended; sweep.lua). Every worker of the queue sweeps; with none
    /// running, finished tasks stay until one starts.
    public var retentionSweepInterval: Duration = .seconds(5)
    /// The starvation guard of priorities: a priority level whose oldest waiting task has waited
    /// this long is served before the higher levels (oldest first), so a busy queue of high
    /// priority work cannot keep low priority tasks waiting forever. `.zero` turns it off.
    public var starvationAge: Duration = .seconds(60)
    /// Event appends that follow each other start at least this far apart, so under load each
    /// carries more runs' events (see `EventAppender`): it adds at most this to an event's trip to
    /// its followers while events keep coming, nothing to one published while the worker is idle.
    public var eventWindow: Duration = .milliseconds(2)
    /// Swift tools this worker offers to agents by name (`orbiter.use_tool "name"`).
    public var hostTools: [String: Tool]
    /// Tools that change while the worker runs (a hot-reloaded `--tools` folder); each task takes
    /// a snapshot when it starts. `hostTools` wins on a name offered by both.
    public var toolRegistry = HostToolRegistry()
    /// Where `"provider:model"` names are looked up: by default a registry of its own with the
    /// built-in providers (`openai`, `anthropic`, `ollama`, keys from this process's environment),
    /// so a worker used as a library needs no setup. Pass one to add or replace providers.
    public var providers: ProviderRegistry = BuiltinProviders.registry()
    /// Shared rate limits (`orbiter limits`, `--limits`): when set, every model call books room
    /// under its model's limit in Redis first and settles after. Nil (the default): no limits, no
    /// extra round trips.
    public var rateLimits: RateLimitSettings?
    /// Which `base_url`/`api_key_env` of shipped agents this worker honours (none by default).
    public var providerPolicy = ProviderPolicy()
    /// The prices this worker turns usage into cost with (`--prices FILE`); `nil`: costs unknown
    /// (`cost: null` in results). The worker's own: a task can never set prices.
    public var prices: PriceTable?
    /// Tool and model label values of the Prometheus metrics (see `MetricsLabelPolicy`).
    public var metricsLabels = MetricsLabelPolicy()
    /// Where the worker logs; each task's lines carry `task_id`, `worker_id`, `agent` and
    /// `trace_id` metadata. Silent by default (libraries never print).
    public var logger: Logger
    /// Where the worker's metrics go; `nil` uses the global `MetricsSystem.factory`. Pass a
    /// factory per worker to keep several workers' metrics apart in one process.
    public var metricsFactory: (any MetricsFactory)?

    /// The secrets granted to this worker's scripts (`luaOptions.access`): redacted from every
    /// event, result, error, checkpoint and log line, whether a script asked for them or not.
    public var secrets: SecretStore { luaOptions.access.secrets }

    public init(redisURL: String? = nil, queue: String = "default", concurrency: Int = 4, workerID: String? = nil,
                heartbeatTTL: Int = 30, drainTimeout: Duration = .seconds(30), settings: QueueSettings = QueueSettings(),
                leaseSeconds: Int = 30, maxRetries: Int = 3, retryBaseDelay: Duration = .seconds(1),
                luaOptions: LuaRuntime.Options = .shipped(), hostTools: [String: Tool] = [:],
                logger: Logger = Logger(label: "orbiter.worker", factory: { _ in SwiftLogNoOpLogHandler() }),
                metricsFactory: (any MetricsFactory)? = nil) {
        self.redisURL = redisURL
        self.queue = queue
        self.concurrency = concurrency
        self.workerID = workerID ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        self.heartbeatTTL = heartbeatTTL
        self.drainTimeout = drainTimeout
        self.settings = settings
        self.leaseSeconds = leaseSeconds
        self.maxRetries = maxRetries
        self.retryBaseDelay = retryBaseDelay
        self.luaOptions = luaOptions
        self.hostTools = hostTools
        self.logger = logger
        self.metricsFactory = metricsFactory
    }
}
