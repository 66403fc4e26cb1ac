-- An agent with the tools of a real MCP server: mcp-server-time (PyPI), over stdio. Every tool of
-- the server is offered, named time__<tool> (time__get_current_time, time__convert_time), with the
-- server's own descriptions and input schemas.
--
--   scripts/setup.sh --tools            # installs the MCP servers into .venv-tools/
--   orbiter tools examples/mcp_time.lua # starts the server and lists what the agent is offered
--   orbiter run examples/mcp_time.lua "What time is it in Tokyo?"   # needs OPENAI_API_KEY
--
-- On a worker a stdio server runs only from the worker's own definition:
--   orbiter start worker --mcp servers.json   # {"mcpServers": {"time": {"command": ..., "args": [...]}}}
-- and the command below is ignored there (a shipped script never chooses what a worker runs).
local orbiter = require "orbiter"

local getenv = os.getenv or function() return nil end

local time = orbiter.mcp {
  name = "time",
  command = getenv("ORBITER_MCP_PYTHON") or ".venv-tools/bin/python",
  args = { "-m", "mcp_server_time", "--local-timezone", "UTC" },
}

return orbiter.agent {
  name = "clock",
  model = getenv("ORBITER_MODEL") or "openai:gpt-4o-mini",
  instructions = "Answer questions about time with the time tools. Name the timezone you used.",
  tools = { time },
}
