import CLua
import OrbiterCore

/// One Lua 5.4 state with memory accounting, owned by exactly one owner at a time.
///
/// Not thread-safe and not Sendable: `LuaRuntime` (an actor) owns it. Swift never calls
/// `lua_error` or anything that may raise outside a protected call: Lua's longjmp must not
/// cross Swift frames (see shared/notes/interop-facts.md).
final class LuaState {
    let L: OpaquePointer
    let budget: UnsafeMutablePointer<OrbiterLuaBudget>

    /// - Parameters:
    ///   - memoryLimit: bytes the state may allocate; `nil` for no cap.
    ///   - accounting: record which task holds each block, for per-task caps (16 bytes a block).
    init(memoryLimit: Int?, accounting: Bool = false) throws {
        budget = .allocate(capacity: 1)
        var initial = OrbiterLuaBudget()
        initial.limit = memoryLimit.map { max(0, $0) } ?? 0
        budget.initialize(to: initial)
        guard let state = orbiter_lua_newstate(budget, accounting ? 1 : 0) else {
            budget.deallocate()
            throw LuaError(message: "cannot create a Lua state (out of memory)")
        }
        L = state
    }

    deinit {
        lua_close(L)
        budget.deallocate()
    }

    /// Bytes currently allocated by this state.
    var memoryUsed: Int { Int(budget.pointee.used) }

    /// The main thread's stack.
    var stack: LuaStack { LuaStack(L) }
}

/// Stack operations on one Lua thread (the main one or a coroutine).
///
/// A plain pointer wrapper so the same helpers serve Swift code holding a `LuaState` and C
/// callbacks that only get a `lua_State*`.
struct LuaStack {
    let L: OpaquePointer
    let budget: UnsafeMutablePointer<OrbiterLuaBudget>

    init(_ L: OpaquePointer) {
        self.L = L
        self.budget = orbiter_lua_budget(L)
    }

    /// Runs `body` with the memory cap lifted: pushes from Swift must not fail with a Lua error.
    @inline(__always)
    func hostAllocating<T>(_ body: () throws -> T) rethrows -> T {
        budget.pointee.host += 1
        defer { budget.pointee.host -= 1 }
        return try body()
    }

    // MARK: Stack helpers

    var top: Int32 { lua_gettop(L) }
    func pop(_ n: Int32 = 1) { orbiter_lua_pop(L, n) }
    func setTop(_ n: Int32) { lua_settop(L, n) }

    func pushString(_ s: String) {
        hostAllocating {
            var s = s
            s.withUTF8 { buf in _ = lua_pushlstring(L, buf.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, buf.count) }
        }
    }

    /// The string at `index` (strings and numbers), as UTF-8; invalid bytes are repaired.
    func string(at index: Int32) -> String? {
        guard lua_type(L, index) == LUA_TSTRING || lua_type(L, index) == LUA_TNUMBER else { return nil }
        if lua_type(L, index) == LUA_TNUMBER { return String(describing: number(at: index)) }
        var len = 0
        guard let p = orbiter_lua_tolstring(L, index, &len) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    /// The string at `index` as text, or nil when it is not a string or not valid UTF-8.
    func strictString(at index: Int32) -> String? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = orbiter_lua_tolstring(L, index, &len) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: len).withMemoryRebound(to: UInt8.self) { String(strictUTF8: $0) }
    }

    /// Raw bytes of the string at `index`.
    func bytes(at index: Int32) -> [UInt8]? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = orbiter_lua_tolstring(L, index, &len) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: len))
    }

    private func number(at index: Int32) -> JSONValue {
        if orbiter_lua_isinteger(L, index) != 0 { return .int(Int(lua_tointegerx(L, index, nil))) }
        return .double(lua_tonumberx(L, index, nil))
    }

    /// The message of the error value on top of the stack (popping it).
    func popErrorMessage() -> String {
        defer { pop() }
        if let s = string(at: -1) { return s }
        if lua_type(L, -1) == LUA_TNIL { return "error with no message (nil)" }
        return "error object is a \(String(cString: lua_typename(L, lua_type(L, -1))))"
    }

    /// Loads a chunk of text (never binary) and pushes it as a function.
    /// - Parameter chunkName: a file path shown in error messages (`examples/calc.lua`), or, when
    ///   it starts with `=`, a name used as it is (Orbiter's own chunks).
    func load(_ source: String, chunkName: String) throws {
        let name = chunkName.hasPrefix("=") ? chunkName : "@" + chunkName
        let status: Int32 = hostAllocating {
            var source = source
            return source.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { chars in
                    orbiter_lua_loadbuffer(L, chars.baseAddress, chars.count, name, "t")
                }
            }
        }
        if status != LUA_OK { throw LuaError(message: popErrorMessage()) }
    }

    /// Calls the function below `nargs` arguments in protected mode.
    func pcall(_ nargs: Int32, _ nresults: Int32) throws {
        let status = orbiter_lua_pcall(L, nargs, nresults, 0)
        if status != LUA_OK { throw LuaError(message: popErrorMessage()) }
    }

    // MARK: Registry

    /// Pops the top value and keeps it alive in the registry; returns its reference.
    func ref() -> Int32 { luaL_ref(L, orbiter_lua_registryindex()) }
    func unref(_ r: Int32) { luaL_unref(L, orbiter_lua_registryindex(), r) }
    func pushRef(_ r: Int32) { lua_rawgeti(L, orbiter_lua_registryindex(), lua_Integer(r)) }
}

/// A Lua error, with the `path:line:` position Lua put in front of the message when it had one.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
