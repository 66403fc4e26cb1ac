-- The `orbiter` Lua module: how scripts define tools, models, agents and swarms.
--
-- Loaded once per Lua state by LuaRuntime with `host`, the table of host functions written in
-- Swift. Definitions are plain tables tagged with a `kind`; Swift reads them after the script
-- returns its root agent or swarm. Host calls that wait (orbiter.sleep) yield the running
-- coroutine with the HOST marker; Swift performs the wait and resumes it.
-- One file (over the usual size) on purpose: it is the whole Lua API a script sees, loaded as one
-- chunk whose locals (the definition tables, the HOST marker) must stay private to it.
local host = ...

local orbiter = { _VERSION = "orbiter 0.1" }
local registry = { tools = {}, models = {}, agents = {}, mcp = {}, hooks = {}, hook_positions = {} }
local HOST = host.marker

local type, pairs, ipairs, error, tostring, select = type, pairs, ipairs, error, tostring, select
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local sformat, concat, sort = string.format, table.concat, table.sort

local function kind_of(v)
  return type(v) == "table" and rawget(v, "kind") or nil
end

-- Captured before the sandbox removes `debug`: definition errors need the user's line. While a
-- script loads, the host's hook records the user's line (host.load_line): scripts usually end
-- with `return orbiter.agent{...}`, a tail call that leaves no frame to point at.
local getinfo = debug.getinfo
local load_line = host.load_line

-- The position of the frame `level` (as for getinfo), or of the line being loaded.
local function position(level)
  local info = getinfo(level, "Sl")
  if info and info.currentline > 0 and info.source:sub(1, 1) == "@" then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  local line = load_line()
  return line and (line .. ": ") or ""
end

-- Raises a definition error at the position of the user's call: `level` counts like error()'s
-- from the caller of fail (2: the function that called fail's caller).
local function fail(what, msg, level)
  error(position((level or 2) + 2) .. sformat("%s: %s", what, msg), 0)
end

local function check_fields(what, spec, allowed)
  if type(spec) ~= "table" then fail(what, "expects a table, got " .. type(spec), 3) end
  for k in pairs(spec) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      sort(names)
      fail(what, sformat("unknown field '%s' (known fields: %s)", tostring(k), concat(names, ", ")), 3)
    end
  end
end

local function check_name(what, name)
  if type(name) ~= "string" or name == "" then fail(what, "field 'name' must be a non-empty string", 3) end
  if not name:match("^[%w_%-]+$") or #name > 64 then
    fail(what, sformat("name '%s' may only use letters, digits, '_' and '-' (at most 64)", name), 3)
  end
end

---------------------------------------------------------------------------------------------
-- JSON
---------------------------------------------------------------------------------------------
local json = {}
orbiter.json = json
json.null = host.null
local array_mt = host.array_mt
local object_mt = host.object_mt

--- Encodes a Lua value as compact JSON text. See the README for the mapping.
json.encode = host.json_encode
--- Decodes JSON text; arrays come back marked so they encode as arrays again.
json.decode = host.json_decode

--- Marks a table (new when omitted) as a JSON array, so `{}` encodes as `[]`.
function json.array(t) return setmetatable(t or {}, array_mt) end
--- Marks a table (new when omitted) as a JSON object.
function json.object(t) return setmetatable(t or {}, object_mt) end

---------------------------------------------------------------------------------------------
-- Host calls that wait: sleep. They yield to Swift through every user coroutine in between.
---------------------------------------------------------------------------------------------
local co_yield, co_resume, co_status, co_create, co_isyieldable =
  coroutine.yield, coroutine.resume, coroutine.status, coroutine.create, coroutine.isyieldable

-- Raises, at the caller of orbiter.<op>, when the code is not inside a tool or model call (top
-- level of a script, describe): there is nothing to yield to. Called (not tail-called) by `op`.
local function require_host(op)
  if not co_isyieldable() then
    error(sformat("orbiter.%s can only be used inside a tool's run or a model's respond function", op), 3)
  end
end

--- Pauses the current tool or model for `seconds` without blocking anything else.
function orbiter.sleep(seconds)
  -- NaN and infinities would return at once or never; a day is more than any call may take.
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 or seconds > 86400 then
    error("orbiter.sleep: expects a number of seconds from 0 to 86400, got " .. tostring(seconds), 2)
  end
  require_host("sleep")
  return co_yield(HOST, "sleep", seconds)
end

--- Asks a person `question` and waits for the answer (a string), inside a tool's run: on a
--- terminal it prompts there; on a worker the task parks until `orbiter task reply`. A question
--- the person declines raises `rejected: <reason>`. A tool that asks runs again from its start
--- after its task parked, its questions answered in order from what was said: ask before acting.
function orbiter.ask(question)
  if type(question) ~= "string" or question == "" then
    error("orbiter.ask: expects the question, a non-empty string, got " .. type(question), 2)
  end
  require_host("ask")
  local r = table.pack(co_yield(HOST, "ask", question))
  if not r[1] then error(r[2], 2) end
  return r[2]
end

-- A user coroutine that calls orbiter.sleep must not swallow our marker: pass it up to Swift and
-- hand the answer back down (the OpenResty way).
local function pass_through(co, ...)
  local r = table.pack(...)
  while r[1] and r[2] == HOST and co_status(co) == "suspended" do
    local answer = table.pack(co_yield(HOST, table.unpack(r, 3, r.n)))
    r = table.pack(co_resume(co, table.unpack(answer, 1, answer.n)))
  end
  return table.unpack(r, 1, r.n)
end

coroutine.resume = function(co, ...)
  return pass_through(co, co_resume(co, ...))
end

coroutine.wrap = function(f)
  local co = co_create(f)
  return function(...)
    local r = table.pack(coroutine.resume(co, ...))
    if not r[1] then error(r[2], 2) end
    return table.unpack(r, 2, r.n)
  end
end

---------------------------------------------------------------------------------------------
-- Reaching the world: HTTP, secrets, programs. What a host grants decides what works: a local
-- run of a file grants everything, a worker grants shipped scripts its allow-listed hosts and
-- granted secrets and never programs (README "Tools that act").
---------------------------------------------------------------------------------------------
-- Yields a host call that may fail: the host answers true and its results, or false and a
-- message, raised here at the user's frame (`level` as for error(), from perform's caller).
local function host_call(op, level, ...)
  local r = table.pack(co_yield(HOST, op, ...))
  if not r[1] then error(r[2], level + 1) end
  return table.unpack(r, 2, r.n)
end

local http = {}
orbiter.http = http

local response_methods = {}
local response_mt = { __index = response_methods, __metatable = false }

--- Decodes the response body as JSON; a clear error (naming the URL) when it is not JSON.
function response_methods.json(self)
  local ok, value = pcall(json.decode, self.body)
  if not ok then
    error(sformat("orbiter.http: the response of %s is not JSON (%s)", tostring(self.url), tostring(value)), 2)
  end
  return value
end

local http_fields = { method = true, url = true, query = true, headers = true, json = true, body = true, timeout = true,
                      max_bytes = true, max_redirects = true }

--- Percent-encodes a string for a URL's query or path (RFC 3986 unreserved characters stay).
function http.encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return sformat("%%%02X", c:byte()) end))
end

local function http_fail(msg, level) error("orbiter.http: " .. msg, level + 1) end

-- Checks a request table and returns what the host is given: the request without its body, and
-- the body (a string or nil). `level` is the user's frame for errors.
local function http_prepare(spec, level)
  if type(spec) ~= "table" then http_fail("expects a table, got " .. type(spec), level + 1) end
  for k in pairs(spec) do
    if not http_fields[k] then
      http_fail(sformat("unknown field '%s' (known fields: body, headers, json, max_bytes, max_redirects, method, query, timeout, url)",
        tostring(k)), level + 1)
    end
  end
  if type(spec.url) ~= "string" or spec.url == "" then http_fail("field 'url' must be a non-empty string", level + 1) end
  local url = spec.url
  if spec.query ~= nil then
    if type(spec.query) ~= "table" then http_fail("field 'query' must be a table of name = value", level + 1) end
    local names, parts = {}, {}
    for name, value in pairs(spec.query) do
      if type(name) ~= "string" then http_fail("query names must be strings", level + 1) end
      local t = type(value)
      if t ~= "string" and t ~= "number" and t ~= "boolean" then
        http_fail(sformat("query value '%s' must be a string, number or boolean", name), level + 1)
      end
      names[#names + 1] = name
    end
    sort(names)
    for i, name in ipairs(names) do parts[i] = http.encode(name) .. "=" .. http.encode(tostring(spec.query[name])) end
    if #parts > 0 then url = url .. (url:find("?", 1, true) and "&" or "?") .. concat(parts, "&") end
  end
  local method = spec.method or "GET"
  if type(method) ~= "string" or not method:match("^%a+$") then http_fail("field 'method' must be a word such as \"GET\"", level + 1) end
  local headers = {}
  if spec.headers ~= nil then
    if type(spec.headers) ~= "table" then http_fail("field 'headers' must be a table of name = value", level + 1) end
    for name, value in pairs(spec.headers) do
      if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
        http_fail(sformat("header name %s is not a valid HTTP header name", tostring(name)), level + 1)
      end
      if type(value) == "number" then value = tostring(value) end
      if type(value) ~= "string" then http_fail(sformat("header '%s' must be a string", name), level + 1) end
      if value:find("[\r\n%z]") then http_fail(sformat("header '%s' contains a line break or NUL", name), level + 1) end
      headers[name] = value
    end
  end
  local body = spec.body
  if spec.json ~= nil then
    if body ~= nil then http_fail("give either 'json' or 'body', not both", level + 1) end
    body = json.encode(spec.json)
    local has_type = false
    for name in pairs(headers) do if name:lower() == "content-type" then has_type = true end end
    if not has_type then headers["content-type"] = "application/json" end
  elseif body ~= nil and type(body) ~= "string" then
    http_fail("field 'body' must be a string (or use 'json' for a table)", level + 1)
  end
  local timeout = spec.timeout == nil and 30 or spec.timeout
  if type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0 or timeout > 3600 then
    http_fail("field 'timeout' must be a number of seconds above 0 and at most 3600", level + 1)
  end
  local max_bytes = spec.max_bytes == nil and 10485760 or spec.max_bytes
  if math.type(max_bytes) ~= "integer" or max_bytes < 0 then http_fail("field 'max_bytes' must be an integer >= 0", level + 1) end
  local max_redirects = spec.max_redirects == nil and 5 or spec.max_redirects
  if math.type(max_redirects) ~= "integer" or max_redirects < 0 or max_redirects > 20 then
    http_fail("field 'max_redirects' must be an integer from 0 to 20", level + 1)
  end
  return { method = method:upper(), url = url, headers = json.object(headers), timeout = timeout,
           max_bytes = max_bytes, max_redirects = max_redirects }, body
end

-- Sends a request; `level` is the user's frame seen from perform's caller.
local function http_perform(spec, level)
  local request, body = http_prepare(spec, level + 1)
  if not co_isyieldable() then
    error("orbiter.http can only be used inside a tool's run or a model's respond function", level + 1)
  end
  local status, headers, response_body, url = host_call("http", level + 1, request, body)
  return setmetatable({ status = status, headers = headers, body = response_body, url = url }, response_mt)
end

local function with_method(method, url, options, level)
  if options ~= nil and type(options) ~= "table" then
    http_fail("the options after the URL must be a table", level + 1)
  end
  local spec = {}
  for k, v in pairs(options or {}) do spec[k] = v end
  if spec.url ~= nil or spec.method ~= nil then http_fail("give the URL and method as arguments, not in the options", level + 1) end
  spec.url, spec.method = url, method
  return spec
end

--- Sends an HTTP request without blocking anything else. See the README for the fields.
function http.request(spec)
  local response = http_perform(spec, 2)
  return response
end

--- `orbiter.http.get(url, {headers, timeout, ...})`.
function http.get(url, options)
  local response = http_perform(with_method("GET", url, options, 2), 2)
  return response
end

--- `orbiter.http.post(url, {json | body, headers, ...})`.
function http.post(url, options)
  local response = http_perform(with_method("POST", url, options, 2), 2)
  return response
end

--- The value of a secret the host provides (on a worker: one it was given with --secret or
--- --secrets-file). Values are redacted from everything that leaves the run.
function orbiter.secret(name)
  if type(name) ~= "string" or name == "" then error("orbiter.secret: expects the secret's name", 2) end
  local ok, value = pcall(host.secret, name)
  if not ok then error("orbiter.secret: " .. tostring(value), 2) end
  return value
end

local exec_fields = { cwd = true, timeout = true, stdin = true, env = true, max_bytes = true }

--- Runs a program (trusted code only) without blocking anything else:
--- `orbiter.exec{ "git", "log", cwd = ..., timeout = ..., stdin = ..., env = {...} }`.
function orbiter.exec(spec)
  if host.sandboxed then error("orbiter.exec: exec is not available to shipped scripts", 2) end
  if type(spec) ~= "table" then error("orbiter.exec: expects a table such as { \"git\", \"status\", cwd = \"/repo\" }", 2) end
  local argv = json.array()
  for k, v in pairs(spec) do
    if math.type(k) == "integer" then
      if k < 1 or k > #spec or type(v) ~= "string" then error("orbiter.exec: the program and its arguments must be strings", 2) end
      argv[k] = v
    elseif not exec_fields[k] then
      error(sformat("orbiter.exec: unknown field '%s' (known fields: cwd, env, max_bytes, stdin, timeout)", tostring(k)), 2)
    end
  end
  if #argv == 0 then error("orbiter.exec: no program given", 2) end
  if spec.cwd ~= nil and type(spec.cwd) ~= "string" then error("orbiter.exec: field 'cwd' must be a string", 2) end
  if spec.stdin ~= nil and type(spec.stdin) ~= "string" then error("orbiter.exec: field 'stdin' must be a string", 2) end
  local env = json.object()
  if spec.env ~= nil then
    if type(spec.env) ~= "table" then error("orbiter.exec: field 'env' must be a table of NAME = value", 2) end
    for k, v in pairs(spec.env) do
      if type(k) ~= "string" or type(v) ~= "string" then error("orbiter.exec: env names and values must be strings", 2) end
      env[k] = v
    end
  end
  local timeout = spec.timeout == nil and 60 or spec.timeout
  if type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0 or timeout > 86400 then
    error("orbiter.exec: field 'timeout' must be a number of seconds above 0", 2)
  end
  local max_bytes = spec.max_bytes == nil and 10485760 or spec.max_bytes
  if math.type(max_bytes) ~= "integer" or max_bytes < 0 then error("orbiter.exec: field 'max_bytes' must be an integer >= 0", 2) end
  require_host("exec")
  local code, stdout, stderr, truncated = host_call("exec", 2,
    { argv = argv, cwd = spec.cwd, env = env, timeout = timeout, max_bytes = max_bytes }, spec.stdin)
  return { code = code, stdout = stdout, stderr = stderr, truncated = truncated }
end

---------------------------------------------------------------------------------------------
-- MCP servers as toolsets
---------------------------------------------------------------------------------------------
local mcp_fields = { name = true, command = true, args = true, env = true, cwd = true, url = true, headers = true,
                     timeout = true }

local function string_map(what, field, t)
  if t == nil then return json.object() end
  if type(t) ~= "table" then fail(what, sformat("field '%s' must be a table of name = value strings", field), 4) end
  local m = json.object()
  for k, v in pairs(t) do
    if type(k) ~= "string" or type(v) ~= "string" then fail(what, sformat("field '%s' must map strings to strings", field), 4) end
    m[k] = v
  end
  return m
end

--- Declares an MCP server; its tools become a toolset for agents' `tools`:
--- `orbiter.mcp{name, command, args, env, cwd}` (stdio) or `orbiter.mcp{name, url, headers}`.
function orbiter.mcp(spec)
  check_fields("orbiter.mcp", spec, mcp_fields)
  check_name("orbiter.mcp", spec.name)
  if spec.name:find("__", 1, true) then fail("orbiter.mcp", sformat("name '%s' may not contain '__' (tools are named <server>__<tool>)", spec.name), 2) end
  local what = sformat("orbiter.mcp '%s'", spec.name)
  if registry.mcp[spec.name] then fail(what, "an MCP server with this name is already declared", 2) end
  if (spec.command == nil) == (spec.url == nil) then fail(what, "give either 'command' (a stdio server) or 'url' (an HTTP server)", 2) end
  local def = { name = spec.name }
  if spec.command ~= nil then
    if type(spec.command) ~= "string" or spec.command == "" then fail(what, "field 'command' must be a non-empty string", 2) end
    if spec.headers ~= nil then fail(what, "field 'headers' is for HTTP servers (url)", 2) end
    local args = json.array()
    if spec.args ~= nil then
      if type(spec.args) ~= "table" then fail(what, "field 'args' must be a list of strings", 2) end
      for i, a in ipairs(spec.args) do
        if type(a) ~= "string" then fail(what, sformat("args[%d] must be a string", i), 2) end
        args[i] = a
      end
    end
    if spec.cwd ~= nil and type(spec.cwd) ~= "string" then fail(what, "field 'cwd' must be a string", 2) end
    def.command, def.args, def.env, def.cwd = spec.command, args, string_map(what, "env", spec.env), spec.cwd
  else
    if type(spec.url) ~= "string" or not spec.url:match("^https?://") then fail(what, "field 'url' must be an http:// or https:// URL", 2) end
    if spec.env ~= nil or spec.args ~= nil or spec.cwd ~= nil then fail(what, "fields 'args', 'env' and 'cwd' are for stdio servers (command)", 2) end
    def.url, def.headers = spec.url, string_map(what, "headers", spec.headers)
  end
  if spec.timeout ~= nil and (type(spec.timeout) ~= "number" or spec.timeout <= 0) then
    fail(what, "field 'timeout' must be a number of seconds above 0", 2)
  end
  def.timeout = spec.timeout
  registry.mcp[spec.name] = def
  local server = spec.name
  local toolset = { kind = "toolset", server = server }
  --- One tool of the server (`docs.tool("search")`), offered as <server>__<tool>.
  function toolset.tool(a, b)
    local tool = (a == toolset) and b or a
    if type(tool) ~= "string" or tool == "" then error(sformat("%s: tool() expects a tool name", what), 2) end
    return { kind = "mcp_tool", server = server, tool = tool }
  end
  return toolset
end

---------------------------------------------------------------------------------------------
-- Logging
---------------------------------------------------------------------------------------------
--- Writes a line to the host's log (stderr for the CLI), naming the script.
function orbiter.log(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  host.log(concat(parts, " ", 1, parts.n))
end

---------------------------------------------------------------------------------------------
-- Tools
---------------------------------------------------------------------------------------------
local SCHEMA_TYPES = { string = true, integer = true, number = true, boolean = true, array = true, object = true, null = true }

local function normalize_parameters(what, params)
  if params == nil then return { type = "object", properties = json.object() } end
  if type(params) ~= "table" then fail(what, "field 'parameters' must be a table", 4) end
  if params.type == "object" then
    if params.properties ~= nil and type(params.properties) ~= "table" then
      fail(what, "parameters.properties must be a table", 4)
    end
    local schema = {}
    for k, v in pairs(params) do schema[k] = v end
    schema.properties = json.object(schema.properties or {})
    if schema.required then schema.required = json.array(schema.required) end
    return schema
  end
  -- Shorthand: name -> type name or property schema; every property required.
  local properties, required = json.object(), json.array()
  for name, prop in pairs(params) do
    if type(name) ~= "string" then fail(what, "parameter names must be strings", 4) end
    if type(prop) == "string" then
      if not SCHEMA_TYPES[prop] then
        fail(what, sformat("parameter '%s' has unknown type '%s' (use string, integer, number, boolean, array, object)", name, prop), 4)
      end
      properties[name] = { type = prop }
    elseif type(prop) == "table" then
      if prop.type ~= nil and not SCHEMA_TYPES[prop.type] then
        fail(what, sformat("parameter '%s' has unknown type '%s'", name, tostring(prop.type)), 4)
      end
      properties[name] = prop
    else
      fail(what, sformat("parameter '%s' must be a type name or a schema table", name), 4)
    end
    required[#required + 1] = name
  end
  sort(required)
  return { type = "object", properties = properties, required = required }
end

local tool_fields = { name = true, description = true, parameters = true, run = true, approval = true }

--- Defines a tool: `orbiter.tool{name, description, parameters, run, approval}`. With
--- `approval = true` a person must approve each call before it runs.
function orbiter.tool(spec)
  check_fields("orbiter.tool", spec, tool_fields)
  check_name("orbiter.tool", spec.name)
  local what = sformat("orbiter.tool '%s'", spec.name)
  if type(spec.run) ~= "function" then fail(what, "field 'run' must be a function", 2) end
  if spec.description ~= nil and type(spec.description) ~= "string" then fail(what, "field 'description' must be a string", 2) end
  if spec.approval ~= nil and type(spec.approval) ~= "boolean" then fail(what, "field 'approval' must be true or false", 2) end
  local tool = {
    kind = "tool", name = spec.name, description = spec.description or "",
    parameters = normalize_parameters(what, spec.parameters), run = spec.run, approval = spec.approval or nil,
  }
  if registry.tools[spec.name] then fail(what, "a tool with this name is already defined", 2) end
  registry.tools[spec.name] = tool
  return tool
end

--- References a tool offered by the host (a worker's --tools folder) by name.
function orbiter.use_tool(name)
  if type(name) ~= "string" or name == "" then error("orbiter.use_tool: expects a tool name", 2) end
  return { kind = "tool_ref", name = name }
end

---------------------------------------------------------------------------------------------
-- Models written in Lua
---------------------------------------------------------------------------------------------
local model_fields = { name = true, respond = true }

--- Defines a model in Lua: `orbiter.model{name, respond = function(request) ... end}`.
function orbiter.model(spec)
  check_fields("orbiter.model", spec, model_fields)
  check_name("orbiter.model", spec.name)
  local what = sformat("orbiter.model '%s'", spec.name)
  if type(spec.respond) ~= "function" then fail(what, "field 'respond' must be a function", 2) end
  if registry.models[spec.name] then fail(what, "a model with this name is already defined", 2) end
  local model = { kind = "model", name = spec.name, respond = spec.respond }
  registry.models[spec.name] = model
  return model
end

---------------------------------------------------------------------------------------------
-- Agents, swarms, groups
---------------------------------------------------------------------------------------------
local agent_fields = {
  name = true, model = true, instructions = true, tools = true, handoffs = true, max_steps = true,
  temperature = true, max_tokens = true, base_url = true, api_key_env = true,
  output = true, reasoning = true, settings = true, hooks = true, budget = true,
}

-- JSON Schema keywords whose values are lists, and those whose values are tables of schemas:
-- an empty Lua table must travel as [] or {} accordingly.
local SCHEMA_LISTS = { required = true, enum = true, anyOf = true, oneOf = true, allOf = true, prefixItems = true }
local SCHEMA_MAPS = { properties = true, ["$defs"] = true, definitions = true, patternProperties = true }
local SCHEMA_SUBS = { items = true, additionalProperties = true, additionalItems = true, ["not"] = true, ["if"] = true,
                      ["then"] = true, ["else"] = true, contains = true }

-- A copy of a schema table with lists marked as JSON arrays and maps as objects, so that
-- `required = {}` stays a list on its way to the model and the validator.
local function normalize_schema(schema, depth)
  if type(schema) ~= "table" or depth > 64 then return schema end
  local copy = {}
  for k, v in pairs(schema) do
    if SCHEMA_LISTS[k] and type(v) == "table" then
      local list = json.array()
      for i, item in ipairs(v) do list[i] = (k == "enum") and item or normalize_schema(item, depth + 1) end
      copy[k] = list
    elseif SCHEMA_MAPS[k] and type(v) == "table" then
      local map = json.object()
      for name, sub in pairs(v) do map[name] = normalize_schema(sub, depth + 1) end
      copy[k] = map
    elseif SCHEMA_SUBS[k] and type(v) == "table" then
      copy[k] = normalize_schema(v, depth + 1)
    else
      copy[k] = v
    end
  end
  return json.object(copy)
end

local HOOKS = { "before_model", "before_tool", "after_tool", "on_output" }
local HOOK_NAMES = { before_model = true, before_tool = true, after_tool = true, on_output = true }

-- Where a function was defined, `file.lua:12`, for errors about what a hook returned.
local function defined_at(f)
  local info = getinfo(f, "S")
  if info and info.source:sub(1, 1) == "@" and info.linedefined > 0 then return info.short_src .. ":" .. info.linedefined end
  return nil
end

-- Checks `hooks` and records the functions under the agent's name, where the host finds them
-- (registry.hooks[agent][hook]); returns the list of hook names `to_dict` carries.
local function register_hooks(what, name, hooks)
  if type(hooks) ~= "table" then fail(what, "field 'hooks' must be a table of functions (" .. concat(HOOKS, ", ") .. ")", 3) end
  local entry, where, names = {}, {}, json.array()
  for k, f in pairs(hooks) do
    if not HOOK_NAMES[k] then
      fail(what, sformat("hooks.%s is not a hook (known hooks: %s)", tostring(k), concat(HOOKS, ", ")), 3)
    end
    if type(f) ~= "function" then fail(what, sformat("hooks.%s must be a function, got %s", k, type(f)), 3) end
    entry[k], where[k] = f, defined_at(f) or ""
  end
  for _, hook in ipairs(HOOKS) do if entry[hook] then names[#names + 1] = hook end end
  if #names == 0 then return nil end
  -- Hooks are found again by the agent's name (also on a worker), so it must name one agent.
  if registry.hooks[name] then fail(what, "another agent with hooks has this name; agents with hooks need names of their own", 3) end
  registry.hooks[name] = entry
  registry.hook_positions[name] = json.object(where)
  return names
end

local function check_model(what, model)
  if kind_of(model) == "model" then return end
  if type(model) ~= "string" then fail(what, "field 'model' must be a \"provider:model\" string or an orbiter.model", 3) end
  local provider = model:match("^([^:]+):.+$")
  if not provider then fail(what, sformat("model \"%s\" must be written \"provider:model\", e.g. \"openai:gpt-4o\"", model), 3) end
  if provider == "lua" then return end
  local known = host.providers()
  for _, p in ipairs(known) do if p == provider then return end end
  fail(what, sformat("unknown model provider '%s' in \"%s\"; known providers: %s", provider, model,
    #known > 0 and concat(known, ", ") or "(none)"), 3)
end

--- Defines an agent. See the README for every field.
function orbiter.agent(spec)
  check_fields("orbiter.agent", spec, agent_fields)
  check_name("orbiter.agent", spec.name)
  local what = sformat("orbiter.agent '%s'", spec.name)
  check_model(what, spec.model)
  if spec.instructions ~= nil and type(spec.instructions) ~= "string" then fail(what, "field 'instructions' must be a string", 2) end
  local tools = {}
  if spec.tools ~= nil then
    if type(spec.tools) ~= "table" then fail(what, "field 'tools' must be a list of tools", 2) end
    for i, t in ipairs(spec.tools) do
      local k = kind_of(t)
      if k ~= "tool" and k ~= "tool_ref" and k ~= "toolset" and k ~= "mcp_tool" then
        fail(what, sformat("tools[%d] is not an orbiter.tool or an orbiter.mcp toolset", i), 2)
      end
      tools[i] = t
    end
  end
  local handoffs = {}
  if spec.handoffs ~= nil then
    if type(spec.handoffs) ~= "table" then fail(what, "field 'handoffs' must be a list of agents or agent names", 2) end
    for i, h in ipairs(spec.handoffs) do
      if type(h) == "string" then handoffs[i] = h
      elseif kind_of(h) == "agent" then handoffs[i] = h.name
      else fail(what, sformat("handoffs[%d] must be an agent or an agent name", i), 2) end
    end
  end
  local max_steps = spec.max_steps == nil and 10 or spec.max_steps
  if math.type(max_steps) ~= "integer" or max_steps < 1 then fail(what, "field 'max_steps' must be an integer >= 1", 2) end
  if spec.temperature ~= nil and type(spec.temperature) ~= "number" then fail(what, "field 'temperature' must be a number", 2) end
  if spec.max_tokens ~= nil and (math.type(spec.max_tokens) ~= "integer" or spec.max_tokens < 1) then
    fail(what, "field 'max_tokens' must be a positive integer", 2)
  end
  for _, f in ipairs({ "base_url", "api_key_env" }) do
    if spec[f] ~= nil and type(spec[f]) ~= "string" then fail(what, sformat("field '%s' must be a string", f), 2) end
  end
  -- output, reasoning and settings are checked by the same Swift code that reads them on a worker.
  local output
  if spec.output ~= nil then
    if type(spec.output) ~= "table" then fail(what, "field 'output' must be a JSON Schema table, e.g. { type = \"object\", properties = {...} }", 2) end
    output = normalize_schema(spec.output, 0)
    local err = host.check_agent_field("output", output)
    if err then fail(what, err, 2) end
  end
  for _, f in ipairs({ "reasoning", "settings", "budget" }) do
    if spec[f] ~= nil then
      if type(spec[f]) ~= "table" then fail(what, sformat("field '%s' must be a table", f), 2) end
      local err = host.check_agent_field(f, spec[f])
      if err then fail(what, err, 2) end
    end
  end
  local hooks = spec.hooks ~= nil and register_hooks(what, spec.name, spec.hooks) or nil
  local agent = {
    kind = "agent", name = spec.name, model = spec.model, instructions = spec.instructions or "",
    tools = tools, handoffs = handoffs, max_steps = max_steps, temperature = spec.temperature,
    max_tokens = spec.max_tokens, base_url = spec.base_url, api_key_env = spec.api_key_env,
    output = output, reasoning = spec.reasoning, settings = spec.settings, hooks = hooks, budget = spec.budget,
  }
  registry.agents[#registry.agents + 1] = agent
  return agent
end

local function check_members(what, agents)
  if type(agents) ~= "table" then fail(what, "field 'agents' must be a list of agents or swarms", 3) end
  local members = {}
  for i, a in ipairs(agents) do
    local k = kind_of(a)
    if k ~= "agent" and k ~= "swarm" and k ~= "parallel" and k ~= "serial" then
      fail(what, sformat("agents[%d] is not an agent, swarm or group", i), 3)
    end
    members[i] = a
  end
  if #members == 0 then fail(what, "has no agents", 3) end
  return members
end

local swarm_fields = { name = true, agents = true, mode = true, flow = true, max_handoffs = true }
local MODES = { workflow = true, handoff = true, team = true }

--- Defines a swarm: `orbiter.swarm{agents, mode = "workflow"|"handoff"|"team", flow, max_handoffs}`.
function orbiter.swarm(spec)
  check_fields("orbiter.swarm", spec, swarm_fields)
  if spec.name ~= nil then check_name("orbiter.swarm", spec.name) end
  local what = sformat("orbiter.swarm '%s'", spec.name or "swarm")
  local mode = spec.mode or "workflow"
  if not MODES[mode] then fail(what, sformat("mode '%s' is not one of workflow, handoff, team", tostring(mode)), 2) end
  if spec.flow ~= nil and type(spec.flow) ~= "string" then fail(what, "field 'flow' must be a string like \"a >> (b | c)\"", 2) end
  local max_handoffs = spec.max_handoffs == nil and 10 or spec.max_handoffs
  if math.type(max_handoffs) ~= "integer" or max_handoffs < 0 then fail(what, "field 'max_handoffs' must be an integer >= 0", 2) end
  local swarm = { kind = "swarm", name = spec.name, agents = check_members(what, spec.agents), mode = mode,
                  flow = spec.flow, max_handoffs = max_handoffs }
  local names = {}
  for i, m in ipairs(swarm.agents) do
    local n = m.name or "swarm"
    if names[n] then fail(what, sformat("two members are named '%s'", n), 2) end
    names[n] = true
  end
  if mode == "handoff" then
    for _, m in ipairs(swarm.agents) do
      for _, target in ipairs(m.handoffs or {}) do
        if not names[target] then
          fail(what, sformat("agent '%s' hands off to '%s', which is not a member of the swarm", m.name, target), 2)
        end
      end
    end
  end
  if spec.flow ~= nil then
    if mode ~= "workflow" then fail(what, "field 'flow' is only used in workflow mode", 2) end
    -- The flow grammar lives in Swift (SwarmFlow); checked now so a bad flow fails at this line.
    local member_names = {}
    for i, m in ipairs(swarm.agents) do member_names[i] = m.name or "swarm" end
    local err = host.check_flow(spec.flow, member_names)
    if err then fail(what, err, 2) end
  end
  return swarm
end

local function group(kind)
  return function(spec)
    local what = "orbiter." .. kind
    check_fields(what, spec, { name = true, agents = true })
    check_name(what, spec.name)
    return { kind = kind, name = spec.name, agents = check_members(what .. " '" .. spec.name .. "'", spec.agents) }
  end
end

--- A group whose members all run at once on the same input; outputs joined by a blank line.
orbiter.parallel = group("parallel")
--- A group whose members run one after another, each one's output the next one's input.
orbiter.serial = group("serial")

---------------------------------------------------------------------------------------------
-- For the host
---------------------------------------------------------------------------------------------
-- What only the host reaches: scripts get `orbiter`, never this table.
local internal = { registry = registry }

local function describe(node, path)
  local k = kind_of(node)
  if k == "agent" then
    local tools = json.array()
    for i, t in ipairs(node.tools) do
      if t.kind == "tool" then
        tools[i] = { name = t.name, description = t.description, parameters = t.parameters, approval = t.approval }
      elseif t.kind == "toolset" then
        tools[i] = { mcp = t.server }
      elseif t.kind == "mcp_tool" then
        tools[i] = { mcp = t.server, tool = t.tool }
      else
        tools[i] = { name = t.name, source = { registry = t.name } }
      end
    end
    return {
      type = "agent", name = node.name,
      model = kind_of(node.model) == "model" and ("lua:" .. node.model.name) or node.model,
      instructions = node.instructions, tools = tools, handoffs = json.array(node.handoffs),
      max_steps = node.max_steps, temperature = node.temperature, max_tokens = node.max_tokens,
      base_url = node.base_url, api_key_env = node.api_key_env,
      output = node.output, reasoning = node.reasoning, settings = node.settings, hooks = node.hooks,
      budget = node.budget,
    }
  elseif k == "swarm" or k == "parallel" or k == "serial" then
    local members = json.array()
    for i, m in ipairs(node.agents) do members[i] = describe(m, sformat("%s.agents[%d]", path, i)) end
    if k == "swarm" then
      return { type = "swarm", name = node.name or "swarm", agents = members, mode = node.mode, flow = node.flow,
               max_handoffs = node.max_handoffs }
    end
    return { type = k, name = node.name, agents = members }
  end
  error(sformat("%s is a %s, not an agent or swarm", path, k or type(node)), 0)
end

-- The to_dict shape of a root agent or swarm (tools without their bodies).
function internal.describe(root)
  if root == nil then
    error("the script returned nothing; it must end with `return orbiter.agent{...}` (or a swarm)", 0)
  end
  return describe(root, "the script's return value")
end

return orbiter, internal
