import CLua
import Foundation
import OrbiterCore

/// One script's Lua state and everything that calls into it: loading, tool calls, model calls.
///
/// An actor, because a Lua state must never be touched from two threads. Each tool or model call
/// runs in its own coroutine; when Lua waits (`orbiter.sleep`) the coroutine yields to Swift, the
/// actor awaits, and other calls run meanwhile, so tools look synchronous to their authors while
/// many run at once.
///
/// Lua computes on threads of its own (`LuaExecutor`), not on Swift's cooperative pool: a call
/// starts where its caller is (most end within microseconds, and a hop to another thread would
/// cost more than the call), but once it has computed for 2 ms it is yielded and moved to the
/// runtime's Lua thread, where it goes on in slices (`preemptionSlice`) that let the other calls
/// of the state run. So a CPU-bound tool cannot stall lease renewals, Redis I/O or other tasks
/// for more than those 2 ms; scripts load on the Lua thread too (`load(bundle:options:)`).
///
/// Every entry into Lua — the script's top-level code, describing its root, tool and model
/// calls — runs under the same limits: wall clock, instructions, cancellation and memory.
public actor LuaRuntime {
    /// Limits and behaviour of a state.
    public struct Options: Sendable {
        /// Bytes the state may allocate (`nil`: no cap).
        public var memoryLimit: Int?
        /// Bytes one task's calls may add to the state (`nil`: no cap beyond the state's).
        public var taskMemoryLimit: Int?
        /// How long one call computes before it lets other calls of the state run (`nil`: until
        /// it waits or ends).
        public var preemptionSlice: Duration?
        /// Wall-clock limit of one tool or model call (`nil`: none).
        public var callTimeLimit: Duration?
        /// Lua instructions one tool or model call may run (`nil`: no limit).
        public var instructionLimit: Int?
        /// Remove `io`, `os.execute`, `debug` and friends: for scripts that arrive from elsewhere.
        public var sandboxed: Bool
        /// Where `orbiter.log` lines go.
        public var log: @Sendable (String) -> Void
        /// The model providers `"provider:model"` names are checked against when the script is loaded.
        public var providers: ProviderRegistry = .shared
        /// What the script may reach beyond computing: HTTP, secrets, programs, MCP servers.
        /// Nothing by default; `orbiter run` of a local file grants everything, a worker what its
        /// flags allow.
        public var access: HostAccess = .none

        public init(memoryLimit: Int? = nil, taskMemoryLimit: Int? = nil, callTimeLimit: Duration? = .seconds(300),
                    instructionLimit: Int? = nil, preemptionSlice: Duration? = .milliseconds(10), sandboxed: Bool = false,
                    log: @escaping @Sendable (String) -> Void = { _ in }) {
            self.memoryLimit = memoryLimit
            self.taskMemoryLimit = taskMemoryLimit
            self.preemptionSlice = preemptionSlice
            self.callTimeLimit = callTimeLimit
            self.instructionLimit = instructionLimit
            self.sandboxed = sandboxed
            self.log = log
        }

        /// Limits for scripts shipped by someone else (workers): sandboxed, 256 MiB per task and
        /// 1 GiB per state, 60 s and 1e9 instructions per call (and for the script's top level).
        public static func shipped(log: @escaping @Sendable (String) -> Void = { _ in }) -> Options {
            Options(memoryLimit: 1 << 30, taskMemoryLimit: 256 << 20, callTimeLimit: .seconds(60),
                    instructionLimit: 1_000_000_000, sandboxed: true, log: log)
        }
    }

    let state: LuaState
    private let context: HostContext
    let options: Options
    /// Registry reference of the host-only table (`registry`, `describe`) the prelude returned.
    let internalRef: Int32
    /// The Lua thread this runtime loads on and moves long calls to.
    nonisolated let executor: LuaExecutor

    /// The script and its modules, as loaded.
    public nonisolated let bundle: ScriptBundle
    /// The root's `to_dict` as the script returned it (tools without bodies).
    public nonisolated let rootDescription: JSONValue
    /// Names of the tools and models the script defined.
    nonisolated let toolNames: Set<String>
    nonisolated let modelNames: Set<String>
    /// For a tool library: each tool's `{name, description, parameters}`.
    nonisolated let librarySpecs: [String: JSONValue]
    /// The MCP servers the script declared with `orbiter.mcp`, by name.
    public nonisolated let mcpServers: [String: MCPServerSpec]
    /// The hooks agents declared: agent name → hook name → where it is defined (`file.lua:12`, or "").
    nonisolated let hookPositions: [String: [String: String]]

    /// Loads a script file and everything it requires from its folder.
    public init(file path: String, options: Options = Options()) throws {
        try self.init(modules: try ModuleSource(entryFile: path), options: options)
    }

    /// Loads a script bundle (on a worker: no files needed).
    public init(bundle: ScriptBundle, options: Options = .shipped()) throws {
        try self.init(modules: ModuleSource(bundle: bundle), options: options)
    }

    /// Loads a script bundle on the Lua thread the runtime will run on, so its top-level code
    /// never runs on the caller's (cooperative) thread.
    public static func load(bundle: ScriptBundle, options: Options = .shipped()) async throws -> LuaRuntime {
        let executor = LuaExecutor.shared.executor()
        return try await executor.run {
            try LuaRuntime(modules: ModuleSource(bundle: bundle), options: options, executor: executor)
        }
    }

    /// Loads a tool library: a file that only defines tools (and models) and returns nothing,
    /// such as one file of a worker's `--tools` folder. `root()` is not available on it; use
    /// `libraryTools()`.
    public init(toolFile path: String, options: Options = Options()) throws {
        try self.init(modules: try ModuleSource(entryFile: path), options: options, expectsRoot: false)
    }

    private init(modules: ModuleSource, options: Options, expectsRoot: Bool = true,
                 executor: LuaExecutor = LuaExecutor.shared.executor()) throws {
        let context = HostContext(modules: modules, access: options.access, log: options.log,
                                  providerNames: { [providers = options.providers] in providers.names })
        let state = try LuaState(memoryLimit: options.memoryLimit, accounting: options.taskMemoryLimit != nil)
        let internalRef = try Self.installPrelude(state, context: context, sandboxed: options.sandboxed)
        let description = try Self.evaluate(state, context: context, internalRef: internalRef, options: options,
                                            expectsRoot: expectsRoot)
        self.executor = executor
        self.state = state
        self.context = context
        self.options = options
        self.internalRef = internalRef
        self.rootDescription = description
        self.toolNames = Self.definedNames("tools", L: state.L, internalRef: internalRef)
        self.modelNames = Self.definedNames("models", L: state.L, internalRef: internalRef)
        self.mcpServers = try Self.declaredMCPServers(L: state.L, internalRef: internalRef)
        self.hookPositions = Self.declaredHooks(L: state.L, internalRef: internalRef)
        self.bundle = context.modules.bundle
        guard expectsRoot else {
            self.librarySpecs = try Self.toolSpecs(L: state.L, internalRef: internalRef, chunk: modules.chunkName(modules.entry))
            return
        }
        self.librarySpecs = [:]
        LoadedBundles.register(self)
        do {
            // Tools named with orbiter.use_tool are bound later, by whichever host runs the root.
            _ = try root()
        } catch {
            throw LuaError(message: "\(modules.chunkName(modules.entry)): \(error)")
        }
    }

    // MARK: Loading

    /// Runs the entry script on the main thread, protected and under the call limits (a script's
    /// top level is code from elsewhere too), and describes the root it returns.
    private static func evaluate(_ state: LuaState, context: HostContext, internalRef: Int32, options: Options,
                                 expectsRoot: Bool = true) throws -> JSONValue {
        let s = state.stack
        let entry = context.modules.entry
        let chunk = context.modules.chunkName(entry)
        try s.load(try LuaSourceText.prepared(context.modules.modules[entry] ?? "", chunkName: chunk), chunkName: chunk)
        // Definition errors name the user's line: the hook records it while the script runs.
        state.budget.pointee.track_lines = 1
        try withTopLevelLimits(state, options: options, what: chunk) { try s.pcall(0, 1) }
        state.budget.pointee.track_lines = 0
        state.budget.pointee.load_line.0 = 0
        guard expectsRoot else {
            s.pop()
            return .null
        }
        pushInternal("describe", L: state.L, internalRef: internalRef)
        lua_rotate(state.L, -2, 1)
        do {
            try withTopLevelLimits(state, options: options, what: chunk) { try s.pcall(1, 1) }
        } catch let error as LuaError {
            throw LuaError(message: "\(chunk): \(error.message)")
        }
        defer { s.pop() }
        return try s.json(at: -1, path: "root")
    }

    /// Runs `body` (a protected call on the main thread) under the time and instruction limits
    /// of one call; the hook is armed only meanwhile.
    private static func withTopLevelLimits(_ state: LuaState, options: Options, what: String, _ body: () throws -> Void) throws {
        var entry = LuaEntry(deadline: options.callTimeLimit.map { ContinuousClock.now + $0 },
                             instructionsLeft: options.instructionLimit.map(Int64.init), taskMemoryLimit: nil)
        orbiter_lua_arm_hook(state.L, state.budget.pointee.track_lines)
        entry.enter(state.budget)
        defer {
            entry.leave(state.budget)
            orbiter_lua_disarm_hook(state.L)
        }
        do {
            try body()
        } catch let error as LuaError where LuaEntry.interruption(state.budget) == 1 {
            throw LuaError(message: "\(error.message) (\(options.callTimeLimit!) while loading)")
        }
    }

    /// Opens the standard libraries, loads `orbiter.lua` and `environment.lua` with the host
    /// table, installs the environment it built as the globals, and returns a registry reference
    /// to the host-only table.
    private static func installPrelude(_ state: LuaState, context: HostContext, sandboxed: Bool) throws -> Int32 {
        let s = state.stack
        let L = state.L
        s.hostAllocating { luaL_openlibs(L) }
        let unmanaged = Unmanaged.passUnretained(context).toOpaque()
        s.hostAllocating {
            // Metatables marking JSON arrays and objects; the array one is shared with Swift.
            lua_createtable(L, 0, 1)
            s.pushString("array"); lua_setfield(L, -2, "__jsontype")
            lua_setfield(L, orbiter_lua_registryindex(), LuaStack.arrayMarkKey)
            lua_createtable(L, 0, 12)
            for (name, function) in HostFunctions.table {
                orbiter_lua_push_host_function(L, function, unmanaged)
                lua_setfield(L, -2, name)
            }
            lua_pushlightuserdata(L, HostFunctions.marker); lua_setfield(L, -2, "marker")
            lua_pushboolean(L, sandboxed ? 1 : 0); lua_setfield(L, -2, "sandboxed")
            lua_pushlightuserdata(L, LuaStack.nullSentinel); lua_setfield(L, -2, "null")
            _ = lua_getfield(L, orbiter_lua_registryindex(), LuaStack.arrayMarkKey); lua_setfield(L, -2, "array_mt")
            lua_createtable(L, 0, 1)
            s.pushString("object"); lua_setfield(L, -2, "__jsontype")
            lua_setfield(L, -2, "object_mt")
            lua_createtable(L, 0, 4)
            orbiter_lua_set_pattern_functions(L)
            lua_setfield(L, -2, "patterns")
        }
        let hostIndex = s.top
        try s.load(try preludeSource("orbiter"), chunkName: "=orbiter")
        lua_pushvalue(L, hostIndex)
        try s.pcall(1, 2)                                  // host → orbiter, internal
        let ref = s.ref()                                  // internal
        try s.load(try preludeSource("environment"), chunkName: "=orbiter.environment")
        lua_pushvalue(L, hostIndex)
        lua_pushvalue(L, -3)                               // orbiter
        lua_pushboolean(L, sandboxed ? 1 : 0)
        try s.pcall(3, 2)                                  // → globals, loaded
        lua_setfield(L, orbiter_lua_registryindex(), LUA_LOADED_TABLE)
        orbiter_lua_set_globals(L)
        s.setTop(hostIndex - 1)
        return ref
    }

    private static func definedNames(_ kind: String, L: OpaquePointer, internalRef: Int32) -> Set<String> {
        let s = LuaStack(L)
        pushInternal("registry", L: L, internalRef: internalRef)
        s.pushString(kind)
        lua_rawget(L, -2)
        var names = Set<String>()
        lua_pushnil(L)
        while lua_next(L, -2) != 0 {
            if let name = s.string(at: -2) { names.insert(name) }
            s.pop()
        }
        s.pop(2)
        return names
    }

    /// The servers `orbiter.mcp` declared (the prelude checked their fields).
    private static func declaredMCPServers(L: OpaquePointer, internalRef: Int32) throws -> [String: MCPServerSpec] {
        let s = LuaStack(L)
        let base = s.top
        defer { s.setTop(base) }
        pushInternal("registry", L: L, internalRef: internalRef)
        s.pushString("mcp")
        lua_rawget(L, -2)
        var servers: [String: MCPServerSpec] = [:]
        for (name, def) in try s.json(at: -1, path: "mcp").objectValue ?? [:] {
            let strings = { (field: String) in (def[field]?.objectValue ?? [:]).compactMapValues(\.stringValue) }
            let transport: MCPServerSpec.Transport
            if let url = def["url"]?.stringValue {
                transport = .http(url: url, headers: strings("headers"))
            } else {
                transport = .stdio(command: def["command"]?.stringValue ?? "", arguments: (def["args"]?.arrayValue ?? []).compactMap(\.stringValue),
                                   environment: strings("env"), workingDirectory: def["cwd"]?.stringValue)
            }
            var spec = MCPServerSpec(name: name, transport: transport)
            if let seconds = def["timeout"]?.doubleValue { spec.callTimeout = .nanoseconds(Int64(seconds * 1e9)) }
            servers[name] = spec
        }
        return servers
    }

    /// The hooks agents declared (`registry.hook_positions`: agent → hook → `file:line`).
    private static func declaredHooks(L: OpaquePointer, internalRef: Int32) -> [String: [String: String]] {
        let declared = (try? registryValue("hook_positions", L: L, internalRef: internalRef))?.objectValue ?? [:]
        return declared.mapValues { ($0.objectValue ?? [:]).compactMapValues(\.stringValue) }
    }

    /// `internal.registry[key]` as JSON (for what the prelude recorded as plain data).
    private static func registryValue(_ key: String, L: OpaquePointer, internalRef: Int32) throws -> JSONValue {
        let s = LuaStack(L)
        let base = s.top
        defer { s.setTop(base) }
        pushInternal("registry", L: L, internalRef: internalRef)
        s.pushString(key)
        lua_rawget(L, -2)
        return try s.json(at: -1, path: key)
    }

    /// `{name, description, parameters}` of every tool defined so far (for tool libraries).
    private static func toolSpecs(L: OpaquePointer, internalRef: Int32, chunk: String) throws -> [String: JSONValue] {
        let s = LuaStack(L)
        let base = s.top
        defer { s.setTop(base) }
        pushInternal("registry", L: L, internalRef: internalRef)
        s.pushString("tools")
        lua_rawget(L, -2)
        var specs: [String: JSONValue] = [:]
        lua_pushnil(L)
        while lua_next(L, -2) != 0 {
            if let name = s.string(at: -2) {
                s.pushString("description"); lua_rawget(L, -2)
                let description = s.string(at: -1) ?? ""
                s.pop()
                s.pushString("parameters"); lua_rawget(L, -2)
                let parameters: JSONValue
                do {
                    parameters = try s.json(at: -1, path: "parameters")
                } catch let error as LuaError {
                    throw LuaError(message: "\(chunk): tool '\(name)': \(error.message)")
                }
                s.pop()
                s.pushString("approval"); lua_rawget(L, -2)
                let approval = lua_toboolean(L, -1) != 0
                s.pop()
                var spec: JSONValue = ["name": .string(name), "description": .string(description), "parameters": parameters]
                if approval, case .object(var members) = spec { members["approval"] = true; spec = .object(members) }
                specs[name] = spec
            }
            s.pop()
        }
        return specs
    }

    private static let preludes: [String: String] = {
        var sources: [String: String] = [:]
        for name in ["orbiter", "environment"] {
            if let url = Bundle.module.url(forResource: name, withExtension: "lua", subdirectory: "Prelude"),
               let text = try? String(contentsOf: url, encoding: .utf8) {
                sources[name] = text
            }
        }
        return sources
    }()

    private static func preludeSource(_ name: String) throws -> String {
        guard let source = preludes[name] else { throw LuaError(message: "internal: Lua prelude '\(name).lua' is missing from the resources") }
        return source
    }

    /// Pushes `internal[name]` of the host-only table (raw access).
    static func pushInternal(_ name: String, L: OpaquePointer, internalRef: Int32) {
        let s = LuaStack(L)
        lua_rawgeti(L, orbiter_lua_registryindex(), lua_Integer(internalRef))
        s.pushString(name)
        lua_rawget(L, -2)
        lua_rotate(L, -2, -1)
        s.pop()
    }

    // MARK: The root and rebinding

    /// The root agent or swarm the script returned, bound to this state.
    ///
    /// `hostTools` binds the tools named with `orbiter.use_tool`; with `nil` (a root that is
    /// about to be shipped to a worker) they stay placeholders that only keep their name.
    public nonisolated func root(hostTools: [String: Tool]? = nil) throws -> Runnable {
        var resolver = LuaDefinitionResolver(runtime: self, hostTools: hostTools ?? [:])
        resolver.acceptsAnyHostTool = hostTools == nil
        return try Runnable.fromDict(rootDescription, resolver: resolver)
    }

    /// Binds serialised tools and `lua:` models to this state (for `fromDict` on a worker).
    /// `mcpTools` are the tools of the MCP servers the node uses (`mcpTools(for:)`).
    public nonisolated func resolver(hostTools: [String: Tool] = [:], mcpTools: [String: [Tool]] = [:]) -> any DefinitionResolver {
        var resolver = LuaDefinitionResolver(runtime: self, hostTools: hostTools)
        resolver.mcpTools = mcpTools
        return resolver
    }

    /// The root, bound to this state, with the tools of the MCP servers it uses listed (and the
    /// servers started) through the host's `access.mcp`.
    public func boundRoot(hostTools: [String: Tool] = [:]) async throws -> Runnable {
        try Runnable.fromDict(rootDescription, resolver: resolver(hostTools: hostTools, mcpTools: try await mcpTools(for: rootDescription)))
    }

    /// Lists the tools of every MCP server `node` uses, as the host's MCP access offers them.
    public nonisolated func mcpTools(for node: JSONValue) async throws -> [String: [Tool]] {
        let names = MCPReference.servers(in: node)
        guard !names.isEmpty else { return [:] }
        guard let provider = options.access.mcp else {
            throw OrbiterError.invalidConfiguration("MCP servers (\(names.sorted().joined(separator: ", "))) are not available on this host")
        }
        var tools: [String: [Tool]] = [:]
        for name in names.sorted() {
            guard let declared = mcpServers[name] else {
                throw OrbiterError.invalidConfiguration("an agent uses MCP server '\(name)', which \(bundle.entry) does not declare with orbiter.mcp")
            }
            tools[name] = try await provider.tools(for: declared)
        }
        return tools
    }

    /// The tools a tool library defined, bound to this state and offered by name: their source is
    /// `{"registry": name}`, so agents reach them with `orbiter.use_tool "name"`.
    public nonisolated func libraryTools() -> [String: Tool] {
        var tools: [String: Tool] = [:]
        for (name, spec) in librarySpecs {
            tools[name] = Tool(name: name, description: spec["description"]?.stringValue ?? "",
                               parameters: spec["parameters"] ?? ["type": "object", "properties": .object([:])],
                               source: ["registry": .string(name)], approval: spec["approval"]?.boolValue ?? false) { [self] arguments in
                try await self.callTool(name, arguments: arguments)
            }
        }
        return tools
    }

    /// Bytes the state holds now.
    public var memoryUsed: Int { state.memoryUsed }
}

