import CLua
import OrbiterCore

/// What the host functions of one Lua state need from Swift. Reached from C callbacks through a
/// lightuserdata upvalue; kept alive by the `LuaRuntime` that owns the state.
final class HostContext {
    let modules: ModuleSource
    let log: @Sendable (String) -> Void
    let providerNames: @Sendable () -> [String]
    /// What the host grants the script (secrets are read from here).
    let access: HostAccess

    init(modules: ModuleSource, access: HostAccess, log: @escaping @Sendable (String) -> Void,
         providerNames: @escaping @Sendable () -> [String]) {
        self.modules = modules
        self.access = access
        // Log lines leave the run: a secret a script logs is redacted first.
        self.log = { [secrets = access.secrets] line in log(secrets.redact(line)) }
        self.providerNames = providerNames
    }

    static func from(_ L: OpaquePointer) -> HostContext {
        Unmanaged<HostContext>.fromOpaque(lua_touserdata(L, orbiter_lua_upvalueindex(2))!).takeUnretainedValue()
    }
}

/// The Swift side of the `host` table given to `orbiter.lua`.
///
/// Every function here returns normally: a failure returns -1 with the message on the stack and
/// the C trampoline (`orbiter_lua_host_trampoline`) raises it, so no Lua error ever unwinds
/// through these Swift frames.
enum HostFunctions {
    /// A unique address whose lightuserdata marks a coroutine yield meant for the host.
    nonisolated(unsafe) static let marker: UnsafeMutableRawPointer = .allocate(byteCount: 1, alignment: 1)

    static let table: [(String, lua_CFunction)] = [
        ("json_encode", jsonEncode), ("json_decode", jsonDecode), ("log", log),
        ("providers", providers), ("find_module", findModule), ("check_flow", checkFlow),
        ("load_line", loadLine), ("secret", secret), ("check_agent_field", checkAgentField),
    ]

    /// `check_agent_field(field, value)`: nil, or what is wrong with an agent's `output`,
    /// `reasoning`, `settings` or `budget`, checked by the code that reads them from `to_dict` (so a script
    /// and a worker agree).
    static let checkAgentField: lua_CFunction = { L in
        let s = LuaStack(L!)
        let field = s.string(at: 1) ?? ""
        do {
            let value = try s.json(at: 2, path: field)
            switch field {
            case "output":
                guard let problem = JSONSchema.problems(in: value, at: "output").first else { return 0 }
                s.pushString(problem)
                return 1
            case "reasoning": _ = try ReasoningSettings(json: value)
            case "settings": _ = try ModelOptions(json: value)
            case "budget": _ = try SpendingBudget(json: value, field: "budget")
            default: break
            }
            return 0
        } catch {
            s.pushString(String(describing: error))
            return 1
        }
    }

    static let secret: lua_CFunction = { L in
        let s = LuaStack(L!)
        guard let name = s.string(at: 1) else {
            s.pushString("expects the secret's name")
            return -1
        }
        do {
            s.pushString(try HostContext.from(L!).access.secrets.value(named: name))
            return 1
        } catch {
            s.pushString("\(error)")
            return -1
        }
    }

    static let jsonEncode: lua_CFunction = { L in
        let s = LuaStack(L!)
        do {
            let text = try s.json(at: 1).jsonString
            let room = orbiter_lua_room(s.budget)
            if room >= 0, text.utf8.count > room {
                s.pushString("orbiter.json.encode: not enough memory for \(text.utf8.count) bytes of JSON")
                return -1
            }
            s.pushString(text)
            return 1
        } catch {
            s.pushString("orbiter.json.encode: \(error)")
            return -1
        }
    }

    static let jsonDecode: lua_CFunction = { L in
        let s = LuaStack(L!)
        guard let bytes = s.bytes(at: 1) else {
            s.pushString("orbiter.json.decode: expects a string, got a \(String(cString: lua_typename(L, lua_type(L, 1))))")
            return -1
        }
        do {
            try s.push(try JSONValue.parse(bytes: bytes), checkingRoom: true)
            return 1
        } catch {
            s.pushString("orbiter.json.decode: \(error)")
            return -1
        }
    }

    static let log: lua_CFunction = { L in
        let s = LuaStack(L!)
        HostContext.from(L!).log(s.string(at: 1) ?? "")
        return 0
    }

    static let providers: lua_CFunction = { L in
        let s = LuaStack(L!)
        do {
            try s.push(.array(HostContext.from(L!).providerNames().map(JSONValue.string)))
            return 1
        } catch {
            s.pushString("\(error)")
            return -1
        }
    }

    /// The `path:line` of the user's script line running now while a script loads, or nil.
    static let loadLine: lua_CFunction = { L in
        let s = LuaStack(L!)
        let line = withUnsafeBytes(of: s.budget.pointee.load_line) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if line.isEmpty { lua_pushnil(L) } else { s.pushString(line) }
        return 1
    }

    static let findModule: lua_CFunction = { L in
        let s = LuaStack(L!)
        guard let name = s.string(at: 1) else {
            lua_pushnil(L)
            s.pushString("module name must be a string")
            return 2
        }
        switch HostContext.from(L!).modules.find(name) {
        case .success(let found):
            s.pushString(found.source)
            s.pushString(found.chunkName)
        case .failure(let error):
            lua_pushnil(L)
            s.pushString(error.message)
        }
        return 2
    }

    static let checkFlow: lua_CFunction = { L in
        let s = LuaStack(L!)
        let flow = s.string(at: 1) ?? ""
        let members = ((try? s.json(at: 2))?.arrayValue ?? []).compactMap(\.stringValue)
        do {
            _ = try SwarmFlow(parsing: flow, members: members)
            return 0
        } catch {
            s.pushString(String(describing: error))
            return 1
        }
    }
}
