import CLua
import Testing

/// Orbiter's budgeted pattern functions must behave exactly like Lua's own: both run side by side
/// in one plain Lua state over fixed cases and thousands of generated ones.
@Suite("Pattern functions against Lua's own")
struct PatternDifferentialTests {
    @Test("same results as Lua's own matcher")
    func sameResultsAsLuasOwnMatcher() throws {
        let budget = UnsafeMutablePointer<OrbiterLuaBudget>.allocate(capacity: 1)
        budget.initialize(to: OrbiterLuaBudget())
        let L = try #require(orbiter_lua_newstate(budget, 0), "no Lua state")
        defer { lua_close(L); budget.deallocate() }
        luaL_openlibs(L)
        lua_createtable(L, 0, 4)
        orbiter_lua_set_pattern_functions(L)
        lua_setglobal(L, "ours")
        let script = """
            local native = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }
            local function pack(ok, ...) return { ok = ok, n = select("#", ...), ... } end
            local function same(a, b)
              if a.ok ~= b.ok then return false end
              if not a.ok then return true end -- both failed (messages may word positions differently)
              if a.n ~= b.n then return false end
              for i = 1, a.n do if a[i] ~= b[i] then return false end end
              return true
            end
            local function show(r)
              local parts = { tostring(r.ok) }
              for i = 1, r.n or 0 do parts[#parts + 1] = tostring(r[i]) end
              return table.concat(parts, ",")
            end
            local function all_matches(f, s, p, init)
              local out = {}
              local ok, err = pcall(function() for a, b, c in f(s, p, init) do out[#out + 1] = tostring(a) .. "|" .. tostring(b) .. "|" .. tostring(c) end end)
              return { ok = ok, n = 1, ok and table.concat(out, ";") or err }
            end
            local failures, cases = {}, 0
            local function check(s, p, init)
              cases = cases + 1
              local reps = { "<%0>", "%1", "%%", function(x) return x:upper() end, { a = "A", ab = false }, "x" }
              local pairs_ = {
                { pack(pcall(native.find, s, p, init)), pack(pcall(ours.find, s, p, init)), "find" },
                { pack(pcall(native.find, s, p, init, true)), pack(pcall(ours.find, s, p, init, true)), "find plain" },
                { pack(pcall(native.match, s, p, init)), pack(pcall(ours.match, s, p, init)), "match" },
                { all_matches(native.gmatch, s, p, init), all_matches(ours.gmatch, s, p, init), "gmatch" },
              }
              for i, r in ipairs(reps) do
                pairs_[#pairs_ + 1] = { pack(pcall(native.gsub, s, p, r)), pack(pcall(ours.gsub, s, p, r)), "gsub" .. i }
                pairs_[#pairs_ + 1] = { pack(pcall(native.gsub, s, p, r, 1)), pack(pcall(ours.gsub, s, p, r, 1)), "gsub1-" .. i }
              end
              for _, c in ipairs(pairs_) do
                if not same(c[1], c[2]) and #failures < 20 then
                  failures[#failures + 1] = string.format("%s(%q, %q, %s): lua %s, ours %s", c[3], s, p, tostring(init), show(c[1]), show(c[2]))
                end
              end
            end
            local fixed = {
              { "hello world", "o" }, { "hello world", "l+" }, { "hello world", "(h)(e)" }, { "hello", "()ll()" },
              { "key = value", "(%w+)%s*=%s*(%w+)" }, { "  trim  ", "^%s*(.-)%s*$" }, { "THE (quick) fox", "%((%a+)%)" },
              { "f(a(b)c)d", "%b()" }, { "THE (quick) fox", "%f[%a]%a+" }, { "abcabc", "(abc)%1" }, { "aaa", "a-" },
              { "aaa", "a-$" }, { "", "" }, { "", "x*" }, { "abc", "" }, { "a.b", "%." }, { "a]b", "[]]" }, { "a-b", "[a-]" },
              { "x^y", "^x%^" }, { "x^y", "x^" }, { "a$b", "a$b" }, { "abc", "[^%a]" }, { "x1y22z333", "%d+" },
              { "abc", "(" }, { "abc", "%" }, { "abc", "[a" }, { "abc", "(()" }, { "abc", "%1" }, { "abc", "%f" }, { "abc", "%b" },
              { "one two  three", "%S+" }, { "\\0a\\0b", "%z" }, { "caf\\195\\169", "[\\128-\\255]+" }, { "aXb", "%u" },
              { "abc", "b", -1 }, { "abc", "b", -10 }, { "abc", "b", 10 }, { "abc", "", 4 }, { "abc", "", 5 }, { "abab", "ab", 2 },
              { "hello", "l*" }, { "hello", "x*" }, { "hello.world", "[%.]" }, { "[x]", "%[(.-)%]" },
            }
            for _, c in ipairs(fixed) do check(c[1], c[2], c[3]) end
            local atoms = { "a", "b", ".", "%a", "%d", "[ab]", "[^a]", "%s", "(", ")", "()", "%1", "%b()", "%f[%a]", "^", "$", "x", "%%" }
            local quants = { "", "", "*", "+", "-", "?" }
            local alphabet = { "a", "b", "1", " ", "(", ")", "x", "%" }
            math.randomseed(20261202)
            for _ = 1, 4000 do
              local p = {}
              for _ = 1, math.random(1, 5) do
                p[#p + 1] = atoms[math.random(#atoms)] .. quants[math.random(#quants)]
              end
              local s = {}
              for _ = 1, math.random(0, 10) do s[#s + 1] = alphabet[math.random(#alphabet)] end
              local init = math.random(1, 4) == 1 and math.random(-4, 6) or nil
              check(table.concat(s), table.concat(p), init)
            end
            return cases, table.concat(failures, "\\n")
            """
        #expect(luaL_loadstring(L, script) == LUA_OK)
        guard orbiter_lua_pcall(L, 0, 2, 0) == LUA_OK else {
            Issue.record("\(String(cString: lua_tolstring(L, -1, nil)))")
            return
        }
        let cases = lua_tointegerx(L, -2, nil)
        let failures = String(cString: lua_tolstring(L, -1, nil))
        #expect(cases > 4000)
        #expect(failures == "", "differences from Lua's matcher")
    }
}
