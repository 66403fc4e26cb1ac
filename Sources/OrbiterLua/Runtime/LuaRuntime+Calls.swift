import CLua
import OrbiterCore

extension LuaRuntime {
    /// Calls tool `name`'s `run(args)`; its first return value is the result.
    /// - Parameter account: the task charged for the memory the call adds (`nil`: a fresh one,
    ///   where the state caps memory per task).
    public func callTool(_ name: String, arguments: JSONValue, account: LuaTaskAccount? = nil) async throws -> JSONValue {
        try await call(kind: "tools", name: name, function: "run", arguments: [arguments], what: "tool '\(name)'", account: account)[0]
            ?? .string("") // a tool that returns nothing returns ""
    }

    /// Calls model `name`'s `respond(request)` and returns what it returned (nil: nothing).
    func callModel(_ name: String, request: JSONValue, account: LuaTaskAccount? = nil) async throws -> JSONValue? {
        try await call(kind: "models", name: name, function: "respond", arguments: [request], what: "model '\(name)'", account: account)[0]
    }

    /// Calls hook `hook` of agent `agent` (`hooks = {...}` of `orbiter.agent`) with `arguments`
    /// (`nil` passes Lua's nil) and returns its first two results (`false, "reason"`), like a
    /// tool call: its own coroutine, the same limits. `what` names it in errors.
    func callHook(_ hook: String, agent: String, arguments: [JSONValue?], what: String,
                  account: LuaTaskAccount? = nil) async throws -> [JSONValue?] {
        try await call(kind: "hooks", name: agent, function: hook, arguments: arguments, results: 2, what: what, account: account)
    }

    /// Runs `internal.registry[kind][name][function](arguments...)` and returns its first
    /// `results` return values (`nil` for each missing or nil one).
    private func call(kind: String, name: String, function: String, arguments: [JSONValue?], results: Int = 1, what: String,
                      account: LuaTaskAccount?) async throws -> [JSONValue?] {
        let cancel = LuaCancelFlag()
        let secrets = options.access.secrets
        do {
            let values = try await withTaskCancellationHandler {
                try await run(kind: kind, name: name, function: function, arguments: arguments, results: results, what: what,
                              account: account ?? (options.taskMemoryLimit == nil ? nil : LuaTaskAccount()), cancel: cancel)
            } onCancel: {
                cancel.set()
            }
            // What a call returns leaves the script (to the model, events, results): a secret it
            // echoes is redacted here, before anything else sees it.
            return values.map { $0.map { secrets.redact($0) } }
        } catch let error as LuaError where !secrets.isEmpty {
            throw LuaError(message: secrets.redact(error.message))
        }
    }

    private func run(kind: String, name: String, function: String, arguments: [JSONValue?], results: Int, what: String,
                     account: LuaTaskAccount?, cancel: LuaCancelFlag) async throws -> [JSONValue?] {
        let L = state.L
        let s = state.stack
        guard let thread = s.hostAllocating({ lua_newthread(L) }) else { throw LuaError(message: "\(what): cannot create a coroutine") }
        let threadRef = s.ref()
        defer { s.unref(threadRef) }
        let co = LuaStack(thread)
        var entry = LuaEntry(deadline: options.callTimeLimit.map { ContinuousClock.now + $0 },
                             instructionsLeft: options.instructionLimit.map(Int64.init), cancel: cancel, account: account,
                             taskMemoryLimit: options.taskMemoryLimit, preemptible: thread, slice: options.preemptionSlice)

        // Push internal.registry[kind][name][function] and the argument on the coroutine.
        Self.pushInternal("registry", L: thread, internalRef: internalRef)
        co.pushString(kind); lua_rawget(thread, -2)
        co.pushString(name); lua_rawget(thread, -2)
        guard lua_type(thread, -1) == LUA_TTABLE else {
            throw OrbiterError.invalidConfiguration("\(what) is not defined by the script")
        }
        co.pushString(function); lua_rawget(thread, -2)
        lua_copy(thread, -1, 1)
        co.setTop(1)
        entry.enter(state.budget)
        do {
            for argument in arguments {
                if let argument { try co.push(argument, checkingRoom: true) } else { lua_pushnil(thread) }
            }
            entry.leave(state.budget)
        } catch let error as LuaError {
            entry.leave(state.budget)
            throw LuaError(message: "\(what): arguments: \(error.message)")
        }

        orbiter_lua_arm_hook(thread, 0) // cancellation alone needs it
        var call = LuaCall(thread: thread, entry: entry, nargs: Int32(arguments.count), results: results, what: what)
        // Most calls end within their first slice: they run where the caller is, with no thread
        // hop. One that computes longer moves to this runtime's Lua thread for the rest, so it
        // never holds a thread of the cooperative pool for more than that first slice.
        call.entry.slice = options.preemptionSlice.map { min($0, Self.inlineSlice) }
        if case .ended(let values) = try await drive(&call, inline: true) { return values }
        call.entry.slice = options.preemptionSlice
        return try await withTaskExecutorPreference(executor) {
            await Task.yield() // continue on the Lua thread
            // (never preempted there)
            guard case .ended(let values) = try await drive(&call, inline: false) else { return Array(repeating: nil, count: results) }
            return values
        }
    }

    /// How long a call runs on its caller's thread before it moves to a Lua thread.
    static let inlineSlice = Duration.milliseconds(2)

    /// One call in progress: its coroutine and limits.
    struct LuaCall {
        let thread: OpaquePointer
        var entry: LuaEntry
        var nargs: Int32
        /// How many return values the caller wants.
        let results: Int
        let what: String
    }

    /// How far `drive` got.
    enum Progress {
        /// The call returned: its first `results` values, nil where it returned nothing (or nil).
        case ended([JSONValue?])
        /// Inline, the call used up its first slice.
        case preempted
    }

    /// Resumes the call until it ends or, when `inline`, until its slice is used up.
    private func drive(_ call: inout LuaCall, inline: Bool) async throws -> Progress {
        let (L, thread, what) = (state.L, call.thread, call.what)
        let co = LuaStack(thread)
        while true {
            if let deadline = call.entry.deadline, ContinuousClock.now > deadline {
                discard(thread)
                throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!))")
            }
            if call.entry.cancel?.isSet == true || Task.isCancelled {
                discard(thread)
                throw CancellationError()
            }
            var nresults: Int32 = 0
            call.entry.enter(state.budget)
            let status = lua_resume(thread, L, call.nargs, &nresults)
            call.entry.leave(state.budget)
            switch status {
            case LUA_OK:
                defer { co.setTop(0) }
                // A call that hit its limit fails, even when the script caught the error.
                if let failure = budgetFailure(what) { throw failure }
                var values: [JSONValue?] = []
                for i in 0..<call.results {
                    let index = -nresults + Int32(i)
                    guard i < nresults, lua_type(thread, index) != LUA_TNIL else {
                        values.append(nil)
                        continue
                    }
                    do {
                        values.append(try co.json(at: index, path: "return value"))
                    } catch let error as LuaError {
                        throw LuaError(message: "\(what) returned a value that cannot be sent as JSON: \(error.message)")
                    }
                }
                return .ended(values)
            case LUA_YIELD where nresults == 0 && state.budget.pointee.preempted != 0:
                call.nargs = 0
                if inline { return .preempted }
                // The call used up its slice: let the other calls (and actors) on this thread run.
                await Task.yield()
            case LUA_YIELD:
                guard nresults >= 2, lua_touserdata(thread, -nresults) == HostFunctions.marker else {
                    discard(thread)
                    throw LuaError(message: "\(what): coroutine.yield outside a coroutine of the script's own")
                }
                let op = co.string(at: -nresults + 1) ?? ""
                let arguments = HostCallArguments(co, first: -nresults + 2, count: nresults - 2)
                co.setTop(0)
                let asked = ContinuousClock.now
                let reply = try await performHostCall(op, arguments, deadline: call.entry.deadline, what: what)
                // Time spent waiting for a person does not count against the call's limit.
                if op == "ask", let deadline = call.entry.deadline { call.entry.deadline = deadline + (ContinuousClock.now - asked) }
                call.entry.enter(state.budget)
                call.nargs = push(reply, on: co)
                call.entry.leave(state.budget)
            default:
                let interrupted = LuaEntry.interruption(state.budget)
                let message = co.popErrorMessage()
                discard(thread)
                if interrupted == 3 { throw CancellationError() }
                if interrupted == 1 { throw LuaError(message: "\(message) (\(options.callTimeLimit!) per call)") }
                if status == LUA_ERRMEM, let limit = options.taskMemoryLimit, let account = call.entry.account {
                    throw LuaError(message: "\(what): \(message) (the task holds \(LuaStack.describe(bytes: account.held)) of its \(LuaStack.describe(bytes: Int64(limit))))")
                }
                throw LuaError(message: message)
            }
        }
    }

    /// The error of a call whose budget stopped it (`nil` when none did).
    private func budgetFailure(_ what: String) -> (any Error)? {
        switch LuaEntry.interruption(state.budget) {
        case 1: return LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!) per call)")
        case 2: return LuaError(message: "\(what): instruction limit exceeded")
        case 3: return CancellationError()
        default: return nil
        }
    }

    /// Gives up a coroutine that will not be resumed: it is left as it is for the collector,
    /// without running its pending `<close>` handlers. After an error raised by the budget hook,
    /// Lua keeps hooks off on that thread (`allowhook`), so a handler run by `lua_resetthread`
    /// (or by popping its variable with `lua_settop`) could loop with no limit to stop it.
    private func discard(_ thread: OpaquePointer) {}

    /// Runs a host call requested by a yield (`sleep`, `http`, `exec`, `ask`): what the coroutine is
    /// resumed with. A failure the script may handle (a refused connection, a program that is not
    /// found) is a `.failed` reply raised in the script; the call's own limits (time, cancellation)
    /// throw, so no script can catch them.
    private func performHostCall(_ op: String, _ arguments: HostCallArguments, deadline: ContinuousClock.Instant?,
                                 what: String) async throws -> HostReply {
        switch op {
        case "sleep":
            var seconds = arguments.json(0)?.doubleValue ?? 0
            if let deadline {
                let left = deadline - ContinuousClock.now
                if seconds > left.inSeconds {
                    try await Task.sleep(for: left)
                    throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!)) while sleeping")
                }
                seconds = max(0, seconds)
            }
            try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
            return .values([])
        case "http":
            return try await hostOperation(what: what, doing: "waiting for an HTTP response", deadline: deadline) { [access = options.access] in
                try await HostCalls.http(arguments, access: access, limit: $0)
            }
        case "exec":
            return try await hostOperation(what: what, doing: "waiting for a program", deadline: deadline) { [access = options.access, sandboxed = options.sandboxed] in
                try await HostCalls.exec(arguments, access: access, sandboxed: sandboxed, limit: $0)
            }
        case "ask":
            return try await HostCalls.ask(arguments)
        default:
            throw LuaError(message: "\(what): unknown host call '\(op)'")
        }
    }

    /// Runs a host operation within what is left of the call's time: its own timeout is cut to
    /// that, and when the call's time runs out meanwhile the call fails (uncatchably) as any
    /// call past its limit does. Other failures become a `.failed` reply.
    private func hostOperation(what: String, doing: String, deadline: ContinuousClock.Instant?,
                               _ body: @escaping @Sendable (Duration?) async throws -> HostReply) async throws -> HostReply {
        let limit = deadline.map { $0 - ContinuousClock.now }
        do {
            guard let deadline else { return try await body(nil) }
            // The deadline holds even if the operation overruns its own timeout.
            return try await withThrowingTaskGroup(of: HostReply?.self) { group in
                group.addTask { try await body(limit) }
                group.addTask {
                    try await Task.sleep(until: deadline)
                    return nil
                }
                defer { group.cancelAll() }
                guard let reply = try await group.next()! else {
                    throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!)) while \(doing)")
                }
                return reply
            }
        } catch let error as LuaError where error.message.hasPrefix("\(what): time limit exceeded") {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if let deadline, ContinuousClock.now >= deadline {
                throw LuaError(message: "\(what): time limit exceeded (\(options.callTimeLimit!)) while \(doing)")
            }
            return .failed(errorMessage(error))
        }
    }

    /// Pushes a reply on the coroutine: `true` and the values, or `false` and the message. A
    /// value the task's memory has no room for becomes a failure the script sees.
    private func push(_ reply: HostReply, on co: LuaStack) -> Int32 {
        switch reply {
        case .failed(let message):
            lua_pushboolean(co.L, 0)
            co.pushString(message)
            return 2
        case .values(let values):
            lua_pushboolean(co.L, 1)
            for value in values {
                do {
                    try co.push(value, checkingRoom: true)
                } catch {
                    co.setTop(0)
                    return push(.failed("\(error) (the answer was not given to the script)"), on: co)
                }
            }
            return Int32(values.count) + 1
        }
    }
}
