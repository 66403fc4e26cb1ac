#!/usr/bin/env bash
# Sets up Orbiter and runs the offline demo: a Lua agent with a tool and a scripted model, first
# in this process, then as a Redis task on a worker (a private redis-server, stopped afterwards),
# then the tools a real MCP server (mcp-server-time, from PyPI) offers an agent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh
bin=.build/release/orbiter

echo
echo "\$ orbiter run examples/calculator.lua \"What is 2 + 40?\""
"$bin" run examples/calculator.lua "What is 2 + 40?"

trap 'kill $worker 2>/dev/null || true; wait 2>/dev/null || true; orbiter_stop_redis' EXIT
orbiter_start_redis
export ORBITER_REDIS_URL="redis://127.0.0.1:$ORBITER_REDIS_PORT"
"$bin" start worker --concurrency 2 2>/dev/null &
worker=$!
echo
echo "\$ orbiter start worker &    # (Redis at $ORBITER_REDIS_URL)"
echo "\$ orbiter submit examples/calculator.lua \"What is 19 + 23?\" --stream"
"$bin" submit examples/calculator.lua "What is 19 + 23?" --stream
echo "\$ orbiter task list --limit 1"
"$bin" task list --limit 1

# Tools that act: a real MCP server from PyPI (mcp-server-time, installed into .venv-tools/),
# started by orbiter and asked for the tools the agent of examples/mcp_time.lua is offered.
python=$(orbiter_python_tools)
echo
echo "\$ orbiter tools examples/mcp_time.lua    # starts mcp-server-time and lists what the agent is offered"
ORBITER_MCP_PYTHON="$python" "$bin" tools examples/mcp_time.lua
