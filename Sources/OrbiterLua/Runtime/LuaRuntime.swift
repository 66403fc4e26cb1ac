import CLua
import Foundation
import OrbiterCore

/// One script's Lua state and everything that calls into it: loading, tool calls, model calls.
///
/// An actor, because a Lua state must never be touched from two threads. Each tool or model call
/// runs in its own coroutine; when Lua waits (`orbiter.sleep`) the coroutine yields to Swift, the
/// actor awaits, and other calls run meanwhile, so tools look synchronous to their authors while
/// many run at once.
public actor LuaRuntime {
    /// Limits and behaviour of a state.
    public struct Options: Sendable {
        /// Bytes the state may allocate (`nil`: no cap).
        public var memoryLimit: Int?
        /// Wall-clock limit of one tool or model call (`nil`: none).
        public var callTimeLimit: Duration?
        /// Lua instructions one tool or model call may run (`nil`: no limit).
        public var instructionLimit: Int?
        /// Remove `io`, `os.execute`, `debug` and friends: for scripts that arrive from elsewhere.
        public var sandboxed: Bool
        /// Where `orbiter.log` lines go.
        public var log: @Sendable (String) -> Void

        public init(memoryLimit: Int? = nil, callTimeLimit: Duration? = .seconds(300), instructionLimit: Int? = nil,
                    sandboxed: Bool = false, log: @escaping @Sendable (String) -> Void = { _ in }) {
            self.memoryLimit = memoryLimit
            self.callTimeLimit = callTimeLimit
            self.instructionLimit = instructionLimit
            self.sandboxed = sandboxed
            self.log = log
        }

        /// Limits for scripts shipped by someone else (workers): sandboxed, 256 MiB, 60 s and
        /// 1e9 instructions per call.
        public static func shipped(log: @escaping @Sendable (String) -> Void = { _ in }) -> Options {
            Options(memoryLimit: 256 << 20, callTimeLimit: .seconds(60), instructionLimit: 1_000_000_000, sandboxed: true, log: log)
        }
    }

    private let state: LuaState
    private let context: HostContext
    private let options: Options
    private let orbiterRef: Int32

    /// The script and its modules, as loaded.
    public nonisolated let bundle: ScriptBundle
    /// The root's `to_dict` as the script returned it (tools without bodies).
    public nonisolated let rootDescription: JSONValue
    /// Names of the tools and models the script defined.
    nonisolated let toolNames: Set<String>
    nonisolated let modelNames: Set<String>
    /// For a tool library: each tool's `{name, description, parameters}`.
    nonisolated let librarySpecs: [String: JSONValue]

    /// Loads a script file and everything it requires from its folder.
    public init(file path: String, options: Options = Options()) throws {
        try self.init(modules: try ModuleSource(entryFile: path), options: options)
    }

    /// Loads a script bundle (on a worker: no files needed).
    public init(bundle: ScriptBundle, options: Options = .shipped()) throws {
        try self.init(modules: ModuleSource(bundle: bundle), options: options)
    }

    /// Loads a tool library: a file that only defines tools (and models) and returns nothing,
    /// such as one file of a worker's `--tools` folder. `root()` is not available on it; use
    /// `libraryTools()`.
    public init(toolFile path: String, options: Options = Options()) throws {
        try self.init(modules: try ModuleSource(entryFile: path), options: options, expectsRoot: false)
    }

    private init(modules: ModuleSource, options: Options, expectsRoot: Bool = true) throws {
        let context = HostContext(modules: modules, log: options.log, providerNames: { ProviderRegistry.shared.names })
        let state = try LuaState(memoryLimit: options.memoryLimit)
        let orbiterRef = try Self.installPrelude(state, context: context, sandboxed: options.sandboxed)
        let description = try Self.evaluate(state, context: context, orbiterRef: orbiterRef, expectsRoot: expectsRoot)
        self.state = state
        self.context = context
        self.options = options
        self.orbiterRef = orbiterRef
        self.rootDescription = description
        self.toolNames = Self.definedNames("tools", L: state.L, orbiterRef: orbiterRef)
        self.modelNames = Self.definedNames("models", L: state.L, orbiterRef: orbiterRef)
        self.bundle = context.modules.bundle
        guard expectsRoot else {
            self.librarySpecs = try Self.toolSpecs(L: state.L, orbiterRef: orbiterRef, chunk: modules.chunkName(modules.entry))
            return
        }
        self.librarySpecs = [:]
        LoadedBundles.register(bundle)
        do {
            // Tools named with orbiter.use_tool are bound later, by whichever host runs the root.
            _ = try root()
        } catch {
            throw LuaError(message: "\(modules.chunkName(modules.entry)): \(error)")
        }
    }

    // MARK: Loading

    /// Runs the entry script on the main thread, protected, and describes the root it returns.
    private static func evaluate(_ state: LuaState, context: HostContext, orbiterRef: Int32, expectsRoot: Bool = true) throws -> JSONValue {
        let s = state.stack
        let entry = context.modules.entry
        try s.load(context.modules.modules[entry] ?? "", chunkName: context.modules.chunkName(entry))
        try trackLines(true, state, orbiterRef)
        defer { try? trackLines(false, state, orbiterRef) }
        try s.pcall(0, 1)
        guard expectsRoot else {
            s.pop()
            return .null
        }
        pushOrbiterField("_describe", L: state.L, orbiterRef: orbiterRef)
        lua_rotate(state.L, -2, 1)
        do {
            try s.pcall(1, 1)
        } catch let error as LuaError {
            throw LuaError(message: "\(context.modules.chunkName(entry)): \(error.message)")
        }
        defer { s.pop() }
        return try s.json(at: -1, path: "root")
    }

    /// Turns load-time line tracking on or off (for definition errors' `path:line:`).
    private static func trackLines(_ on: Bool, _ state: LuaState, _ orbiterRef: Int32) throws {
        pushOrbiterField("_track_lines", L: state.L, orbiterRef: orbiterRef)
        lua_pushboolean(state.L, on ? 1 : 0)
        try state.stack.pcall(1, 0)
    }

    /// Opens the standard libraries, loads `orbiter.lua` and `environment.lua` with the host
    /// table, and returns a registry reference to the `orbiter` module.
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
            lua_pushlightuserdata(L, LuaStack.nullSentinel); lua_setfield(L, -2, "null")
            _ = lua_getfield(L, orbiter_lua_registryindex(), LuaStack.arrayMarkKey); lua_setfield(L, -2, "array_mt")
            lua_createtable(L, 0, 1)
            s.pushString("object"); lua_setfield(L, -2, "__jsontype")
            lua_setfield(L, -2, "object_mt")
        }
        let hostIndex = s.top
        try s.load(try preludeSource("orbiter"), chunkName: "=orbiter")
        lua_pushvalue(L, hostIndex)
        try s.pcall(1, 1)
        lua_pushvalue(L, -1)
        let ref = s.ref()
        try s.load(try preludeSource("environment"), chunkName: "=orbiter.environment")
        lua_pushvalue(L, hostIndex)
        lua_pushvalue(L, -3)
        lua_pushboolean(L, sandboxed ? 1 : 0)
        try s.pcall(3, 0)
        s.setTop(hostIndex - 1)
        return ref
    }

    private static func definedNames(_ kind: String, L: OpaquePointer, orbiterRef: Int32) -> Set<String> {
        let s = LuaStack(L)
        pushOrbiterField("_registry", L: L, orbiterRef: orbiterRef)
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

    /// `{name, description, parameters}` of every tool defined so far (for tool libraries).
    private static func toolSpecs(L: OpaquePointer, orbiterRef: Int32, chunk: String) throws -> [String: JSONValue] {
        let s = LuaStack(L)
        let base = s.top
        defer { s.setTop(base) }
        pushOrbiterField("_registry", L: L, orbiterRef: orbiterRef)
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
                specs[name] = ["name": .string(name), "description": .string(description), "parameters": parameters]
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

    /// Pushes `orbiter[name]` (raw access: the module table has no metatable).
    private static func pushOrbiterField(_ name: String, L: OpaquePointer, orbiterRef: Int32) {
        let s = LuaStack(L)
        lua_rawgeti(L, orbiter_lua_registryindex(), lua_Integer(orbiterRef))
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
    public nonisolated func resolver(hostTools: [String: Tool] = [:]) -> any DefinitionResolver {
        LuaDefinitionResolver(runtime: self, hostTools: hostTools)
    }

    /// The tools a tool library defined, bound to this state and offered by name: their source is
    /// `{"registry": name}`, so agents reach them with `orbiter.use_tool "name"`.
    public nonisolated func libraryTools() -> [String: Tool] {
        var tools: [String: Tool] = [:]
        for (name, spec) in librarySpecs {
            tools[name] = Tool(name: name, description: spec["description"]?.stringValue ?? "",
                               parameters: spec["parameters"] ?? ["type": "object", "properties": .object([:])],
                               source: ["registry": .string(name)]) { [self] arguments in
                try await self.callTool(name, arguments: arguments)
            }
        }
        return tools
    }

    // MARK: Calls

    /// Calls tool `name`'s `run(args)`; its first return value is the result.
    public func callTool(_ name: String, arguments: JSONValue) async throws -> JSONValue {
        try await call(kind: "tools", name: name, function: "run", argument: arguments, what: "tool '\(name)'")
    }

    /// Calls model `name`'s `respond(request)` and returns what it returned.
    func callModel(_ name: String, request: JSONValue) async throws -> JSONValue {
        try await call(kind: "models", name: name, function: "respond", argument: request, what: "model '\(name)'")
    }

    private func call(kind: String, name: String, function: String, argument: JSONValue, what: String) async throws -> JSONValue {
        let L = state.L
        let s = state.stack
        guard let thread = lua_newthread(L) else { throw LuaError(message: "\(what): cannot create a coroutine") }
        let threadRef = s.ref()
        defer { s.unref(threadRef) }
        let co = LuaStack(thread)
        // Push registry[kind][name][function] and the argument on the coroutine.
        Self.pushOrbiterField("_registry", L: thread, orbiterRef: orbiterRef)
        co.pushString(kind); lua_rawget(thread, -2)
        co.pushString(name); lua_rawget(thread, -2)
        guard lua_type(thread, -1) == LUA_TTABLE else {
            throw OrbiterError.invalidConfiguration("\(what) is not defined by the script")
        }
        co.pushString(function); lua_rawget(thread, -2)
        lua_copy(thread, -1, 1)
        co.setTop(1)
        co.push(argument)

        let deadline = options.callTimeLimit.map { ContinuousClock.now + $0 }
        var instructionsLeft = options.instructionLimit.map(Int64.init) ?? -1
        if deadline != nil || instructionsLeft >= 0 { orbiter_lua_arm_hook(thread) }
        var nargs: Int32 = 1
        while true {
            if let deadline, ContinuousClock.now > deadline {
                _ = lua_resetthread(thread)
                throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!))")
            }
            // Per-call budget: calls interleave at yields, so each resume installs its own.
            state.budget.pointee.deadline_ns = deadline.map { Self.monotonicNanoseconds(until: $0) } ?? 0
            state.budget.pointee.instructions_left = instructionsLeft
            state.budget.pointee.interrupted = 0
            var nresults: Int32 = 0
            let status = lua_resume(thread, L, nargs, &nresults)
            instructionsLeft = state.budget.pointee.instructions_left
            switch status {
            case LUA_OK:
                defer { co.setTop(0) }
                if nresults == 0 || lua_type(thread, -nresults) == LUA_TNIL { return .string("") }
                do {
                    return try co.json(at: -nresults, path: "return value")
                } catch let error as LuaError {
                    throw LuaError(message: "\(what) returned a value that cannot be sent as JSON: \(error.message)")
                }
            case LUA_YIELD:
                guard nresults >= 2, lua_touserdata(thread, -nresults) == HostFunctions.marker else {
                    co.setTop(0)
                    _ = lua_resetthread(thread)
                    throw LuaError(message: "\(what): coroutine.yield outside a coroutine of the script's own")
                }
                let op = co.string(at: -nresults + 1) ?? ""
                let args = (2..<nresults).map { try? co.json(at: -nresults + $0) }
                co.setTop(0)
                nargs = try await performHostCall(op, args, deadline: deadline, what: what)
            default:
                let message = co.popErrorMessage()
                _ = lua_resetthread(thread)
                throw LuaError(message: message)
            }
        }
    }

    /// Runs a host call requested by a yield; pushes its results and returns how many.
    private func performHostCall(_ op: String, _ args: [JSONValue?], deadline: ContinuousClock.Instant?, what: String) async throws -> Int32 {
        switch op {
        case "sleep":
            var seconds = args.first??.doubleValue ?? 0
            if let deadline {
                let left = deadline - ContinuousClock.now
                let leftSeconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
                if seconds > leftSeconds {
                    try await Task.sleep(for: left)
                    throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!)) while sleeping")
                }
                seconds = max(0, seconds)
            }
            try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
            return 0
        default:
            throw LuaError(message: "\(what): unknown host call '\(op)'")
        }
    }

    private static func monotonicNanoseconds(until deadline: ContinuousClock.Instant) -> Int64 {
        let left = deadline - ContinuousClock.now
        let leftNs = left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
        return orbiter_now_ns() + max(leftNs, 0)
    }

    /// Bytes the state holds now.
    public var memoryUsed: Int { state.memoryUsed }
}

