import CLua
import OrbiterCore

/// The mapping between Lua values and JSON, decided once (interop-facts: it is lossy otherwise):
/// - integers stay integers, floats stay floats (`3.0` is written `3.0`);
/// - a table whose keys are exactly 1...n (n ≥ 1) is an array; any other table is an object whose
///   keys are strings (integer keys are written as their decimal text);
/// - an empty table is an object `{}` unless marked with `orbiter.json.array()`; decoded arrays
///   carry that mark, so `[]` survives a round trip;
/// - JSON `null` is `orbiter.json.null` (a unique value), since `nil` cannot sit in a table;
/// - functions, userdata, threads, NaN/infinity, non-UTF-8 strings and cycles are errors that name
///   the path to the bad value (`args.items[3]`);
/// - values nested deeper than `maxDepth` are errors both ways (each level needs Lua stack slots
///   and C stack: without a bound a deep value crashed the process).
extension LuaStack {
    /// How deep a value may nest, from Lua to JSON and from JSON to Lua.
    public static let maxDepth = 200

    static let nullKey = "orbiter.json.null"
    static let arrayMarkKey = "orbiter.json.array_mt"

    /// Reads the value at `index` as JSON.
    func json(at index: Int32, path: String = "value") throws -> JSONValue {
        var visiting = Set<UnsafeRawPointer>()
        return try readJSON(at: lua_absindex(L, index), path: path, visiting: &visiting, depth: 0)
    }

    private func isNullSentinel(_ index: Int32) -> Bool {
        guard lua_type(L, index) == LUA_TLIGHTUSERDATA else { return false }
        return lua_touserdata(L, index) == LuaStack.nullSentinel
    }

    /// A fixed address used as the lightuserdata `orbiter.json.null`.
    nonisolated(unsafe) static let nullSentinel: UnsafeMutableRawPointer = .allocate(byteCount: 1, alignment: 1)

    private func jsonKind(ofTableAt index: Int32) -> String? {
        guard lua_getmetatable(L, index) != 0 else { return nil }
        pushString("__jsontype")
        lua_rawget(L, -2)
        let kind = string(at: -1)
        pop(2)
        return kind
    }

    private func readJSON(at index: Int32, path: String, visiting: inout Set<UnsafeRawPointer>, depth: Int) throws -> JSONValue {
        switch lua_type(L, index) {
        case LUA_TNIL, LUA_TNONE: return .null
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            if orbiter_lua_isinteger(L, index) != 0 { return .int(Int(lua_tointegerx(L, index, nil))) }
            let d = lua_tonumberx(L, index, nil)
            guard d.isFinite else { throw LuaError(message: "\(path): \(d) has no JSON form") }
            return .double(d)
        case LUA_TSTRING:
            guard let s = strictString(at: index) else {
                throw LuaError(message: "\(path): string is not valid UTF-8")
            }
            return .string(s)
        case LUA_TLIGHTUSERDATA where isNullSentinel(index):
            return .null
        case LUA_TTABLE:
            guard depth < Self.maxDepth else { throw LuaError(message: "\(path): nested deeper than \(Self.maxDepth) levels") }
            guard orbiter_lua_checkstack(L, 4) != 0 else { throw LuaError(message: "\(path): out of Lua stack space") }
            guard let identity = lua_topointer(L, index) else { return .null }
            guard visiting.insert(identity).inserted else {
                throw LuaError(message: "\(path): table contains itself (a cycle), which JSON cannot represent")
            }
            defer { visiting.remove(identity) }
            let kind = jsonKind(ofTableAt: index)
            let length = Int(lua_rawlen(L, index))
            var count = 0
            var allIntegerKeys = true
            lua_pushnil(L)
            while lua_next(L, index) != 0 {
                count += 1
                if !(lua_type(L, -2) == LUA_TNUMBER && orbiter_lua_isinteger(L, -2) != 0) { allIntegerKeys = false }
                pop()
            }
            let isArray = kind == "array" || (kind != "object" && count > 0 && count == length && allIntegerKeys)
            if isArray {
                var items: [JSONValue] = []
                items.reserveCapacity(length)
                for i in stride(from: 1, through: length, by: 1) {
                    lua_rawgeti(L, index, lua_Integer(i))
                    defer { pop() }
                    items.append(try readJSON(at: lua_gettop(L), path: "\(path)[\(i)]", visiting: &visiting, depth: depth + 1))
                }
                if count != length {
                    throw LuaError(message: "\(path): a table marked as an array has keys other than 1..\(length)")
                }
                return .array(items)
            }
            var members: [String: JSONValue] = [:]
            lua_pushnil(L)
            while lua_next(L, index) != 0 {
                let key: String
                switch lua_type(L, -2) {
                case LUA_TSTRING:
                    guard let s = strictString(at: -2) else {
                        pop(2)
                        throw LuaError(message: "\(path): a key is not valid UTF-8")
                    }
                    key = s
                case LUA_TNUMBER where orbiter_lua_isinteger(L, -2) != 0:
                    key = String(lua_tointegerx(L, -2, nil))
                default:
                    let t = String(cString: lua_typename(L, lua_type(L, -2)))
                    pop(2)
                    throw LuaError(message: "\(path): a \(t) key cannot be a JSON object key")
                }
                do {
                    members[key] = try readJSON(at: lua_gettop(L), path: path + (isIdentifier(key) ? ".\(key)" : "[\"\(key)\"]"),
                                                visiting: &visiting, depth: depth + 1)
                } catch {
                    pop(2)
                    throw error
                }
                pop()
            }
            return .object(members)
        default:
            let t = String(cString: lua_typename(L, lua_type(L, index)))
            throw LuaError(message: "\(path): a \(t) cannot be converted to JSON")
        }
    }

    private func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(48...57).contains(first) else { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }

    /// Pushes a JSON value as a Lua value (arrays marked, `null` as `orbiter.json.null`).
    ///
    /// Swift pushes with the memory cap lifted (an allocation failure here would raise a Lua error
    /// through Swift frames), so with `checkingRoom` the value's size is first checked against
    /// what the running call may still allocate (after a collection, if it seems not to fit).
    func push(_ value: JSONValue, checkingRoom: Bool = false) throws {
        if checkingRoom, orbiter_lua_room(budget) >= 0, Self.estimatedSize(of: value, exceeding: orbiter_lua_room(budget)) != nil {
            orbiter_lua_gc_collect(L)
            let room = orbiter_lua_room(budget)
            if room >= 0, let needed = Self.estimatedSize(of: value, exceeding: room) {
                throw LuaError(message: "not enough memory: the value needs about \(Self.describe(bytes: needed)) and \(Self.describe(bytes: room)) are left")
            }
        }
        try hostAllocating { try pushUnchecked(value, depth: 0) }
    }

    static func describe(bytes: Int64) -> String {
        bytes < 1 << 10 ? "\(bytes) bytes" : bytes < 1 << 20 ? "\(bytes >> 10) KiB" : "\(bytes >> 20) MiB"
    }

    /// Roughly what a value takes as Lua values, or nil when it fits in `limit` bytes (stops
    /// counting once past it).
    static func estimatedSize(of value: JSONValue, exceeding limit: Int64) -> Int64? {
        var total: Int64 = 0
        func add(_ v: JSONValue) -> Bool {
            switch v {
            case .null, .bool, .int, .double: total += 16
            case .string(let s): total += 40 + Int64(s.utf8.count)
            case .array(let items):
                total += 64 + 16 * Int64(items.count)
                for item in items where !add(item) { return false }
            case .object(let members):
                total += 64 + 48 * Int64(members.count)
                for (k, v) in members {
                    total += 40 + Int64(k.utf8.count)
                    if !add(v) { return false }
                }
            }
            return total <= limit
        }
        return add(value) ? nil : total
    }

    private func pushUnchecked(_ value: JSONValue, depth: Int) throws {
        switch value {
        case .null: lua_pushlightuserdata(L, LuaStack.nullSentinel)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .int(let i): lua_pushinteger(L, lua_Integer(i))
        case .double(let d): lua_pushnumber(L, d)
        case .string(let s): pushString(s)
        case .array(let items):
            try checkDepth(depth)
            lua_createtable(L, Int32(clamping: items.count), 0)
            for (i, item) in items.enumerated() {
                do { try pushUnchecked(item, depth: depth + 1) } catch { pop(); throw error }
                lua_rawseti(L, -2, lua_Integer(i + 1))
            }
            pushArrayMark()
        case .object(let members):
            try checkDepth(depth)
            lua_createtable(L, 0, Int32(clamping: members.count))
            for (k, v) in members {
                pushString(k)
                do { try pushUnchecked(v, depth: depth + 1) } catch { pop(2); throw error }
                lua_rawset(L, -3)
            }
        }
    }

    private func checkDepth(_ depth: Int) throws {
        guard depth < Self.maxDepth else { throw LuaError(message: "nested deeper than \(Self.maxDepth) levels") }
        guard orbiter_lua_checkstack(L, 4) != 0 else { throw LuaError(message: "out of Lua stack space") }
    }

    /// Sets the array metatable on the table at the top of the stack.
    func pushArrayMark() {
        _ = lua_getfield(L, orbiter_lua_registryindex(), LuaStack.arrayMarkKey)
        if lua_type(L, -1) == LUA_TTABLE {
            _ = lua_setmetatable(L, -2)
        } else {
            pop()
        }
    }
}
