import Logging
import OrbiterCore
import Synchronization

/// One MCP server as the hub uses it: started on first use and shared by every task, its tool
/// list kept (and read again after `tools/list_changed`), restarted with backoff after its
/// process exits (stdio), initialised again after the server forgets the session (HTTP).
actor MCPConnection {
    /// The protocol revisions this client speaks, newest first; the first is offered.
    static let protocolVersions = ["2025-06-18", "2025-03-26", "2024-11-05"]

    let spec: MCPServerSpec
    private let http: (any HTTPAccess)?
    private let logger: Logger
    private let protocolVersions: [String]
    /// Bounds `initialize` and each page of `tools/list`.
    private let startTimeout: Duration

    private enum State {
        /// Not started, or the last start failed (the next use tries again).
        case idle
        case starting
        case ready(JSONRPCPeer)
        /// The process exited; a new one is on its way.
        case restarting(String)
        case stopped
    }

    private var state = State.idle
    /// Tasks waiting for the server to be ready, by mailbox key.
    private let readiness = Mailbox<JSONRPCPeer>()
    private var readyWaiters: [Int] = []
    private var nextWaiter = 0
    private var supervisor: Task<Void, Never>?
    private let stopping = Latch()
    private var toolList: [JSONValue]?
    private let toolsChanged = Flag()
    private var reinitialising = false
    /// The HTTP session was dropped and a new one could not be made yet: the next use tries again.
    private var sessionLost = false
    /// How many times a session became ready.
    private var readyCount = 0
    private(set) var processID: Int32?

    init(spec: MCPServerSpec, http: (any HTTPAccess)?, logger: Logger,
         protocolVersions: [String] = MCPConnection.protocolVersions, startTimeout: Duration = .seconds(30)) {
        self.spec = spec
        self.http = http
        self.logger = logger
        self.protocolVersions = protocolVersions
        self.startTimeout = startTimeout
    }

    private var name: String { spec.name }

    // MARK: - Using the server

    /// The server's tools as `tools/list` describes them (cached; read again after a change).
    /// While the server restarts, the list it had is kept.
    func tools() async throws -> [JSONValue] {
        let peer: JSONRPCPeer
        do {
            peer = try await ready()
        } catch let error as MCPError {
            if let toolList { return toolList }
            throw error
        }
        let changed = toolsChanged.take()
        if toolList == nil || changed {
            toolList = try await listTools(peer)
        }
        return toolList ?? []
    }

    /// Calls `tool` and returns the `tools/call` result.
    func call(_ tool: String, arguments: JSONValue) async throws -> JSONValue {
        let params: JSONValue = ["name": .string(tool), "arguments": arguments.objectValue == nil ? [:] : arguments]
        let label = "tools/call '\(tool)'"
        let peer = try await ready()
        do {
            return try await peer.request("tools/call", params: params, label: label, timeout: spec.callTimeout)
        } catch let error as MCPError {
            guard case .sessionExpired(let session) = error.kind else { throw error }
            logger.info("MCP server '\(name)': \(error.message); initialising again")
            try await reinitialise(peer, expired: session)
            return try await peer.request("tools/call", params: params, label: label, timeout: spec.callTimeout)
        }
    }

    /// Stops the server: its process gets stdin closed, then SIGTERM, then SIGKILL; an HTTP
    /// session is ended. Calls in flight fail; later ones fail with "has been shut down".
    func shutdown() async {
        stopping.open()
        if supervisor == nil { become(.stopped) }
        await supervisor?.value
        become(.stopped)
    }

    // MARK: - Starting

    /// The live session, starting the server first if no one has.
    private func ready() async throws -> JSONRPCPeer {
        switch state {
        case .ready(let peer):
            if reinitialising { break }
            if sessionLost { try await reinitialise(peer, expired: nil) }
            return peer
        case .stopped:
            throw MCPError("MCP server '\(name)' has been shut down")
        case .restarting(let why):
            throw MCPError("MCP server '\(name)' is restarting (\(why)); try again in a moment")
        case .idle:
            start()
        case .starting:
            break
        }
        return try await waitUntilReady()
    }

    /// Waits for the start (or new session) under way.
    private func waitUntilReady() async throws -> JSONRPCPeer {
        nextWaiter += 1
        let key = nextWaiter
        try readiness.open(key, label: "start")
        readyWaiters.append(key)
        return try await readiness.wait(key)
    }

    private func start() {
        state = .starting
        let previous = supervisor
        supervisor = Task {
            await previous?.value
            switch spec.transport {
            case .stdio(let command, let arguments, let environment, let workingDirectory):
                await superviseProcess(StdioServerProcess(name: name, command: command, arguments: arguments, environment: environment,
                                                          workingDirectory: workingDirectory, logger: logger))
            case .http(let url, let headers):
                await superviseHTTP(url: url, headers: headers)
            }
        }
    }

    /// Changes state and tells the tasks waiting for the server how it went.
    private func become(_ new: State, error: (any Error)? = nil) {
        state = new
        let result: Result<JSONRPCPeer, any Error>
        switch new {
        case .starting: return
        case .ready(let peer): result = .success(peer)
        case .stopped: result = .failure(MCPError("MCP server '\(name)' has been shut down"))
        case .restarting(let why): result = .failure(MCPError("MCP server '\(name)' is restarting (\(why)); try again in a moment"))
        case .idle: result = .failure(error ?? MCPError("MCP server '\(name)' could not be started"))
        }
        for key in readyWaiters { readiness.fill(key, with: result) }
        readyWaiters.removeAll()
    }

    /// `initialize` (offering the newest protocol revision, accepting any this client speaks),
    /// `notifications/initialized`, then the tool list.
    private func handshake(_ peer: JSONRPCPeer, channel: StreamableHTTPChannel? = nil) async throws {
        let answer = try await peer.request("initialize", params: [
            "protocolVersion": .string(protocolVersions[0]),
            "capabilities": [:],
            "clientInfo": ["name": "orbiter", "version": .string(OrbiterVersion.current)],
        ], label: "initialize", timeout: startTimeout, cancellable: false)
        let version = answer["protocolVersion"]?.stringValue ?? "(none)"
        guard protocolVersions.contains(version) else {
            throw MCPError("MCP server '\(name)' speaks MCP protocol version \(version); Orbiter speaks "
                           + protocolVersions.joined(separator: ", "))
        }
        channel?.established(protocolVersion: version)
        try await peer.notify("notifications/initialized", timeout: startTimeout)
        _ = toolsChanged.take()
        toolList = answer["capabilities"]?["tools"] == nil ? [] : try await listTools(peer)
    }

    /// Every page of `tools/list`.
    private func listTools(_ peer: JSONRPCPeer) async throws -> [JSONValue] {
        var tools: [JSONValue] = []
        var cursor: String?
        var seen = Set<String>()
        repeat {
            let page = try await peer.request("tools/list", params: cursor.map { ["cursor": .string($0)] },
                                              label: "tools/list", timeout: startTimeout)
            tools += page["tools"]?.arrayValue ?? []
            cursor = page["nextCursor"]?.stringValue
            if let next = cursor, !seen.insert(next).inserted {
                throw MCPError("MCP server '\(name)': tools/list returned cursor '\(next)' twice")
            }
        } while cursor != nil
        return tools
    }

    // MARK: - stdio

    /// Runs the server process, again and again (with backoff) while it keeps exiting after it
    /// was once ready, until shutdown. A server that never became ready is not retried here: the
    /// next use starts it again and sees why it fails.
    private func superviseProcess(_ process: StdioServerProcess) async {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10), jitter: 0.8...1.2)
        var everReady = false
        while !stopping.isOpen {
            let startedAt = ContinuousClock.now
            let readyBefore = readyCount
            let why: String
            do {
                let outcome = try await process.run(stop: stopping, onNotification: { [toolsChanged, logger, name] method, params in
                    Self.handleNotification(method, params, changed: toolsChanged, logger: logger, server: name)
                }) { peer, pid in
                    await self.spawned(pid)
                    try await self.handshake(peer)
                    await self.markReady(peer)
                }
                processID = nil
                if stopping.isOpen { break }
                everReady = everReady || readyCount > readyBefore
                guard everReady else { return become(.idle, error: startFailure(outcome)) }
                why = "it exited (\(outcome.ending))"
                let lastLine = outcome.stderrTail.last.map { "; its last stderr line: \($0)" } ?? ""
                logger.warning("MCP server '\(name)' exited (\(outcome.ending))\(lastLine); restarting it")
            } catch {
                processID = nil
                guard everReady else { return become(.idle, error: error) }
                why = "it could not be started again: \(error)"
                logger.warning("MCP server '\(name)': \(why)")
            }
            if ContinuousClock.now - startedAt > .seconds(30) { backoff.reset() }
            become(.restarting(why))
            guard await pause(backoff.next()) else { break }
            state = .starting
        }
        processID = nil
    }

    private func spawned(_ pid: Int32) { processID = pid }

    private func markReady(_ peer: JSONRPCPeer) {
        readyCount += 1
        become(.ready(peer))
    }

    /// Why a server that never became ready failed: the session's error, with its last stderr lines.
    private func startFailure(_ outcome: StdioServerProcess.Outcome) -> any Error {
        let base = outcome.sessionError.map { "\($0)" } ?? "MCP server '\(name)' exited (\(outcome.ending)) before it was ready"
        guard !outcome.stderrTail.isEmpty else { return MCPError(base) }
        return MCPError(base + "; its stderr ended with: " + outcome.stderrTail.suffix(3).joined(separator: " | "))
    }

    /// Sleeps `delay` unless shutdown comes first; returns false on shutdown.
    private func pause(_ delay: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: delay) }
            group.addTask { await self.stopping.wait() }
            await group.next()
            group.cancelAll()
        }
        return !stopping.isOpen
    }

    private static func handleNotification(_ method: String, _ params: JSONValue?, changed: Flag, logger: Logger, server: String) {
        switch method {
        case "notifications/tools/list_changed":
            changed.set()
        case "notifications/message":
            let level = params?["level"]?.stringValue ?? "info"
            let data = params?["data"].map { $0.stringValue ?? $0.jsonString } ?? ""
            logger.info("\(server) (\(level)): \(data)", metadata: ["mcp": .string(server)])
        default:
            break  // progress and the rest: nothing to do
        }
    }

    // MARK: - streamable HTTP

    private func superviseHTTP(url: String, headers: [String: String]) async {
        guard let http else { return become(.idle, error: MCPError("MCP server '\(name)': no HTTP access on this host")) }
        let channel = StreamableHTTPChannel(server: name, url: url, headers: headers, http: http, logger: logger)
        let peer = JSONRPCPeer(server: name, channel: channel, logger: logger) { [toolsChanged, logger, name] method, params in
            Self.handleNotification(method, params, changed: toolsChanged, logger: logger, server: name)
        }
        do {
            try await handshake(peer, channel: channel)
        } catch {
            await channel.close()
            return become(.idle, error: error)
        }
        become(.ready(peer))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await channel.runBackground { peer.receive($0) } }
            await stopping.wait()
            await channel.close()
        }
        let name = self.name
        peer.close(inFlight: { MCPError("MCP server '\(name)' was stopped during \($0)") },
                   later: { _ in MCPError("MCP server '\(name)' has been shut down") })
    }

    /// Initialises again after the server dropped session `expired` (HTTP 404), unless another
    /// call already did; calls that arrive meanwhile wait for the new session.
    private func reinitialise(_ peer: JSONRPCPeer, expired: String?) async throws {
        guard let channel = peer.channel as? StreamableHTTPChannel else { return }
        if reinitialising {
            _ = try await waitUntilReady()
            return
        }
        if let expired, channel.sessionID != expired, !sessionLost { return }  // someone made a new one
        reinitialising = true
        sessionLost = true
        defer { reinitialising = false }
        channel.resetSession()
        do {
            try await handshake(peer, channel: channel)
        } catch {
            let failure = error is CancellationError
                ? MCPError("MCP server '\(name)': initialising a new session was interrupted; try again") : error
            for key in readyWaiters { readiness.fill(key, with: .failure(failure)) }
            readyWaiters.removeAll()
            throw error
        }
        sessionLost = false
        for key in readyWaiters { readiness.fill(key, with: .success(peer)) }
        readyWaiters.removeAll()
    }
}

/// A flag set from any thread and taken (read and cleared) by its owner.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    /// Whether it was set, clearing it.
    func take() -> Bool { value.exchange(false, ordering: .acquiringAndReleasing) }
}
