#!/usr/bin/env bash
# Sets up Orbiter and runs the offline demo: a Lua agent with a tool and a scripted model,
# first in this process, then as a Redis task on a worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bin=.build/release/orbiter
echo
echo "\$ orbiter run examples/calculator.lua \"What is 2 + 40?\""
"$bin" run examples/calculator.lua "What is 2 + 40?"
