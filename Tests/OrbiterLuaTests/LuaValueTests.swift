import XCTest
import OrbiterCore
@testable import OrbiterLua

/// The Lua ⇄ JSON mapping, through `orbiter.json` and tool arguments/results.
final class LuaValueTests: XCTestCase {
    func call(_ body: String, _ args: JSONValue = [:]) async throws -> JSONValue {
        let runtime = try load(toolScript("orbiter.tool { name = 't', run = function(args) \(body) end }"))
        return try await runtime.callTool("t", arguments: args)
    }

    func expect(_ expected: JSONValue, _ body: String, _ args: JSONValue = [:], line: UInt = #line) async throws {
        let value = try await call(body, args)
        XCTAssertEqual(value, expected, line: line)
    }

    func testNestedValuesRoundTripThroughLua() async throws {
        let value: JSONValue = ["list": [1, 2.5, "três", true, ["deep": ["x": nil]]], "empty_list": [], "empty_obj": [:], "n": -7, "f": 3.0, "u": "日本語 🌍"]
        let back = try await call("return args", value)
        XCTAssertEqual(back, value)
    }

    func testIntegersAndFloatsInLua() async throws {
        try await expect(.int(3), "return 3")
        try await expect(.double(3.0), "return 3.0")
        try await expect(.int(3), "return 7 // 2")
        try await expect(.double(3.5), "return 7 / 2")
        try await expect("integer,float", "return math.type(args.i) .. ',' .. math.type(args.f)", ["i": 1, "f": 1.0])
    }

    func testEncodeMappingIsExplicit() async throws {
        try await expect("{}", "return orbiter.json.encode({})")
        try await expect("[]", "return orbiter.json.encode(orbiter.json.array())")
        try await expect("[1,2,3]", "return orbiter.json.encode({1, 2, 3})")
        try await expect(#"{"1":"a","3":"c"}"#, "return orbiter.json.encode({[1] = 'a', [3] = 'c'})")
        try await expect(#"{"a":null}"#, "return orbiter.json.encode({a = orbiter.json.null})")
        try await expect("9007199254740992.0", "return orbiter.json.encode(2^53)")
        try await expect(#"{"a":[],"b":null}"#, "local v = orbiter.json.decode('{\"a\":[],\"b\":null}'); return orbiter.json.encode(v)")
        try await expect("float", "return orbiter.json.decode('[1, 2.0]')[2] == 2.0 and math.type(orbiter.json.decode('[1, 2.0]')[2])")
    }

    func testCyclesAndUnconvertibleValuesAreRejectedWithAPath() async throws {
        let runtime = try load(toolScript("""
            orbiter.tool { name = 'cycle', run = function() local t = {a = {}}; t.a.b = t; return t end }
            orbiter.tool { name = 'fn', run = function() return { items = { 1, function() end } } end }
            orbiter.tool { name = 'enc', run = function() local t = {}; t[1] = t; return orbiter.json.encode(t) end }
            orbiter.tool { name = 'nan', run = function() return { x = 0/0 } end }
            orbiter.tool { name = 'bin', run = function() return '\\xff\\xfe' end }
            """))
        for (tool, fragment) in [("cycle", "return value.a.b: table contains itself"), ("fn", "return value.items[2]: a function"),
                                 ("enc", "orbiter.json.encode: value[1]: table contains itself"), ("nan", "return value.x"),
                                 ("bin", "not valid UTF-8")] {
            do {
                _ = try await runtime.callTool(tool, arguments: [:])
                XCTFail("\(tool) should fail")
            } catch {
                XCTAssertTrue("\(error)".contains(fragment), "\(tool): \(error)")
            }
        }
    }

    func testDecodeErrorsAreLuaErrorsWithPosition() async throws {
        do {
            _ = try await call("return orbiter.json.decode('{bad')")
            XCTFail()
        } catch {
            XCTAssertTrue("\(error)".contains("main.lua:2:") && "\(error)".contains("invalid JSON at byte 1"), "\(error)")
        }
    }
}
