import OrbiterCore
@testable import OrbiterLua
import Testing

/// The Lua ⇄ JSON mapping, through `orbiter.json` and tool arguments/results.
@Suite("Lua values")
struct LuaValueTests {
    func call(_ body: String, _ args: JSONValue = [:]) async throws -> JSONValue {
        let runtime = try load(toolScript("orbiter.tool { name = 't', run = function(args) \(body) end }"))
        return try await runtime.callTool("t", arguments: args)
    }

    @Test("nested values round-trip through Lua")
    func nestedValuesRoundTripThroughLua() async throws {
        let value: JSONValue = ["list": [1, 2.5, "três", true, ["deep": ["x": nil]]], "empty_list": [], "empty_obj": [:], "n": -7, "f": 3.0, "u": "日本語 🌍"]
        let back = try await call("return args", value)
        #expect(back == value)
    }

    @Test("integers and floats in Lua", arguments: [
        (.int(3), "return 3", [:]),
        (.double(3.0), "return 3.0", [:]),
        (.int(3), "return 7 // 2", [:]),
        (.double(3.5), "return 7 / 2", [:]),
        ("integer,float", "return math.type(args.i) .. ',' .. math.type(args.f)", ["i": 1, "f": 1.0]),
    ] as [(JSONValue, String, JSONValue)])
    func integersAndFloatsInLua(expected: JSONValue, body: String, args: JSONValue) async throws {
        #expect(try await call(body, args) == expected)
    }

    @Test("the encode mapping is explicit", arguments: [
        ("{}", "return orbiter.json.encode({})"),
        ("[]", "return orbiter.json.encode(orbiter.json.array())"),
        ("[1,2,3]", "return orbiter.json.encode({1, 2, 3})"),
        (#"{"1":"a","3":"c"}"#, "return orbiter.json.encode({[1] = 'a', [3] = 'c'})"),
        (#"{"a":null}"#, "return orbiter.json.encode({a = orbiter.json.null})"),
        ("9007199254740992.0", "return orbiter.json.encode(2^53)"),
        (#"{"a":[],"b":null}"#, "local v = orbiter.json.decode('{\"a\":[],\"b\":null}'); return orbiter.json.encode(v)"),
        ("float", "return orbiter.json.decode('[1, 2.0]')[2] == 2.0 and math.type(orbiter.json.decode('[1, 2.0]')[2])"),
    ] as [(JSONValue, String)])
    func encodeMappingIsExplicit(expected: JSONValue, body: String) async throws {
        #expect(try await call(body) == expected)
    }

    @Test("cycles and unconvertible values are rejected with a path", arguments: [
        ("cycle", "return value.a.b: table contains itself"), ("fn", "return value.items[2]: a function"),
        ("enc", "orbiter.json.encode: value[1]: table contains itself"), ("nan", "return value.x"),
        ("bin", "not valid UTF-8"),
    ])
    func cyclesAndUnconvertibleValuesAreRejectedWithAPath(tool: String, fragment: String) async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = 'cycle', run = function() local t = {a = {}}; t.a.b = t; return t end }
            orbiter.tool { name = 'fn', run = function() return { items = { 1, function() end } } end }
            orbiter.tool { name = 'enc', run = function() local t = {}; t[1] = t; return orbiter.json.encode(t) end }
            orbiter.tool { name = 'nan', run = function() return { x = 0/0 } end }
            orbiter.tool { name = 'bin', run = function() return '\\xff\\xfe' end }
            """))
        do {
            _ = try await runtime.callTool(tool, arguments: [:])
            Issue.record("\(tool) should fail")
        } catch {
            #expect("\(error)".contains(fragment), "\(tool): \(error)")
        }
    }

    @Test("decode errors are Lua errors with a position")
    func decodeErrorsAreLuaErrorsWithPosition() async throws {
        do {
            _ = try await call("return orbiter.json.decode('{bad')")
            Issue.record("decoding '{bad' should fail")
        } catch {
            #expect("\(error)".contains("main.lua:2:") && "\(error)".contains("invalid JSON at byte 1"), "\(error)")
        }
    }
}
