-- Sets up the global environment of a Lua state after the orbiter module is loaded.
--
-- `require` finds modules only through the host (the script's folder when run from a file, the
-- script bundle on a worker), so every module a script uses travels with it. `load` accepts text
-- only: binary chunks can crash the VM. With `sandboxed`, what a shipped script could use to reach
-- the machine is removed (design.md §4).
local host, orbiter, sandboxed = ...

package.loaded.orbiter = orbiter
_G.orbiter = orbiter
package.path, package.cpath = "", ""

local raw_load = load
local sformat = string.format

package.searchers = {
  function(name)
    local loader = package.preload[name]
    if loader then return loader, ":preload:" end
    return sformat("\n\tno field package.preload['%s']", name)
  end,
  function(name)
    local source, where = host.find_module(name)
    if not source then return "\n\t" .. where end
    local chunk, err = raw_load(source, "@" .. where, "t")
    if not chunk then error(err, 0) end
    return chunk, where
  end,
}

function load(chunk, chunkname, mode, env)
  if mode ~= nil and mode ~= "t" then
    return nil, "load: only text chunks are allowed (mode \"t\"), binary chunks are refused"
  end
  if env == nil then return raw_load(chunk, chunkname, "t") end
  return raw_load(chunk, chunkname, "t", env)
end

loadfile, dofile = nil, nil
package.loadlib = nil

if sandboxed then
  io = nil
  debug = nil
  local os_time, os_clock, os_date, os_difftime = os.time, os.clock, os.date, os.difftime
  os = { time = os_time, clock = os_clock, date = os_date, difftime = os_difftime }
  local raw_gc = collectgarbage
  function collectgarbage(opt, ...)
    if opt == "count" then return raw_gc("count") end
    return 0
  end
  package.searchers[3], package.searchers[4] = nil, nil

  -- Lua's matcher backtracks exponentially in the number of quantifiers, inside C code where no
  -- hook can stop it: `("a"):rep(26):find(("a*"):rep(26) .. "b")` would run for hours. Patterns
  -- with more than MAX_QUANTIFIERS unbounded quantifiers are refused.
  local MAX_QUANTIFIERS = 8
  local function check(pattern, plain, fname)
    if plain or type(pattern) ~= "string" then return end
    local n, i = 0, 1
    while i <= #pattern do
      local c = pattern:sub(i, i)
      if c == "%" then i = i + 1
      elseif c == "*" or c == "+" or c == "-" then n = n + 1 end
      i = i + 1
    end
    if n > MAX_QUANTIFIERS then
      error(sformat("string.%s: pattern has %d quantifiers; the sandbox allows at most %d (it could run for hours)",
        fname, n, MAX_QUANTIFIERS), 3)
    end
  end
  local s_find, s_match, s_gmatch, s_gsub = string.find, string.match, string.gmatch, string.gsub
  string.find = function(s, p, init, plain) check(p, plain, "find") return s_find(s, p, init, plain) end
  string.match = function(s, p, init) check(p, false, "match") return s_match(s, p, init) end
  string.gmatch = function(s, p, init) check(p, false, "gmatch") return s_gmatch(s, p, init) end
  string.gsub = function(s, p, r, n) check(p, false, "gsub") return s_gsub(s, p, r, n) end
end
