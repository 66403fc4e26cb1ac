import Foundation
import OrbiterCore
import OrbiterLua

/// How a worker runs: which queue, how many tasks at once, how it reports and stops.
public struct WorkerConfiguration: Sendable {
    public var redisURL: String?
    public var queue: String
    /// Tasks run at once in this process.
    public var concurrency: Int
    /// Unique per process; defaults to `<hostname>-<pid>`.
    public var workerID: String
    /// Seconds a heartbeat stays valid; sent every third of it.
    public var heartbeatTTL: Int
    /// On SIGTERM/SIGINT: how long running tasks may go on before they are cancelled.
    public var drainTimeout: Duration
    public var settings: QueueSettings
    /// Limits of the Lua state each task gets (sandboxed by default: tasks carry others' code).
    public var luaOptions: LuaRuntime.Options
    /// Seconds a claimed task stays this worker's without renewal; renewed every third of it while
    /// the worker lives. Another worker takes over a task whose lease expired.
    public var leaseSeconds: Int
    /// Retries after a retryable failure, for tasks that do not set their own.
    public var maxRetries: Int
    /// First retry delay; doubled each attempt (with jitter), at most 60 s.
    public var retryBaseDelay: Duration
    /// Swift tools this worker offers to agents by name (`orbiter.use_tool "name"`).
    public var hostTools: [String: Tool]
    /// Where the worker's log lines go.
    public var log: @Sendable (String) -> Void

    public init(redisURL: String? = nil, queue: String = "default", concurrency: Int = 4, workerID: String? = nil,
                heartbeatTTL: Int = 30, drainTimeout: Duration = .seconds(30), settings: QueueSettings = QueueSettings(),
                leaseSeconds: Int = 30, maxRetries: Int = 3, retryBaseDelay: Duration = .seconds(1),
                luaOptions: LuaRuntime.Options = .shipped(), hostTools: [String: Tool] = [:],
                log: @escaping @Sendable (String) -> Void = { _ in }) {
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
        self.log = log
    }
}
