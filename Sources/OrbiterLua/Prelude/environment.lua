-- Sets up the environment scripts run in, after the orbiter module is loaded.
--
-- `require` finds modules only through the host (the script's folder when run from a file, the
-- script bundle on a worker), so every module a script uses travels with it. `load` accepts text
-- only: binary chunks can crash the VM. The pattern functions of `string` are Orbiter's (same
-- behaviour, but they stop at the call's time and instruction budget).
--
-- With `sandboxed` (scripts that arrive from elsewhere, design.md §4) the environment is built
-- from an allow-list: a new global table holding only what is listed below, a new
-- `package.loaded` with only those modules, and no path to `io`, `os` beyond time, `debug`,
-- `string.dump`, binary chunks, finalizers, garbage-collector control or the host's
-- environment. The host makes the returned table the globals (and the registry's loaded table),
-- so the full standard library is left unreachable.
-- Returns the global table and the loaded-modules table to install.
local host, orbiter, sandboxed = ...

local raw_load, sformat, raw_setmetatable, rawget = load, string.format, setmetatable, rawget
local string_mt = getmetatable("")

-- The budgeted pattern functions replace Lua's in every state.
for name, f in pairs(host.patterns) do string[name] = f end

local preload = package.preload

local function text_load(chunk, chunkname, mode, env)
  if mode ~= nil and mode ~= "t" then
    return nil, "load: only text chunks are allowed (mode \"t\"), binary chunks are refused"
  end
  if env == nil then return raw_load(chunk, chunkname, "t") end
  return raw_load(chunk, chunkname, "t", env)
end

-- `require` for both modes: preload, then the host (script folder or bundle). A module that is not
-- found is reported with where it was looked for; package.path is never used.
local function make_require(loaded, pkg)
  return function(name)
    if type(name) ~= "string" then error("require: module name must be a string", 2) end
    local module = loaded[name]
    if module ~= nil then return module end
    local loader, where = preload[name], ":preload:"
    if not loader then
      local source
      source, where = host.find_module(name)
      if not source then
        if pkg.path ~= "" then
          where = where .. "; package.path is not used: modules are found by name from the script's folder "
            .. "(require 'lib.util' reads lib/util.lua)"
        end
        error(where, 2)
      end
      local err
      loader, err = raw_load(source, "@" .. where, "t")
      if not loader then error(err, 0) end
    end
    local result = loader(name, where)
    if result == nil then result = rawget(loaded, name) end
    if result == nil then result = true end
    loaded[name] = result
    return result, where
  end
end

-- Protect the metatables scripts can reach: a script must not add a finalizer to them or swap
-- the string methods of code that runs later.
string_mt.__metatable = false
host.array_mt.__metatable = false
host.object_mt.__metatable = false

if not sandboxed then
  package.loaded.orbiter = orbiter
  _G.orbiter = orbiter
  package.path, package.cpath = "", ""
  package.searchers = {}
  require = make_require(package.loaded, package)
  load = text_load
  loadfile, dofile = nil, nil
  package.loadlib = nil
  return _G, package.loaded
end

---------------------------------------------------------------------------------------------
-- The sandbox: everything a shipped script can reach is listed here.
---------------------------------------------------------------------------------------------
local function pick(from, names)
  local t = {}
  for name in names:gmatch("%S+") do t[name] = from[name] end
  return t
end

local env = pick(_G, "assert error ipairs next pairs pcall rawequal rawget rawlen rawset select tonumber tostring type xpcall getmetatable")
env._VERSION = _VERSION

local str = pick(string, "byte char find format gmatch gsub len lower match pack packsize rep reverse sub unpack upper")
string_mt.__index = str

local loaded = {
  orbiter = orbiter,
  string = str,
  table = pick(table, "concat insert move pack remove sort unpack"),
  math = pick(math, "abs ceil cos deg exp floor fmod huge log max maxinteger min mininteger modf pi rad random randomseed sin sqrt tan tointeger type ult acos asin atan"),
  utf8 = pick(utf8, "char charpattern codepoint codes len offset"),
  coroutine = pick(coroutine, "close create isyieldable resume running status wrap yield"),
  os = pick(os, "clock date difftime time"),
}
for name, module in pairs(loaded) do env[name] = module end
env._G = env
loaded._G = env

local sandbox_preload = {}
preload = sandbox_preload
env.package = { loaded = loaded, preload = sandbox_preload, path = "", cpath = "", config = package.config }
loaded.package = env.package

-- Finalizers run with hooks off (no budget could stop them): no `__gc` in the sandbox.
function env.setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: finalizers (__gc) are not available to shipped scripts", 2)
  end
  return raw_setmetatable(t, mt)
end

function env.load(chunk, chunkname, mode, e)
  return text_load(chunk, chunkname, mode, e == nil and env or e)
end

env.require = make_require(loaded, env.package)

function env.collectgarbage(opt)
  if opt == "count" then return collectgarbage("count") end
  return 0
end

-- print goes to the host's log, never to the worker's stdout.
env.print = orbiter.log

return env, loaded
