#!/usr/bin/env bash
# Runs the whole test suite against real parts: installs what is missing (the MCP servers into
# .venv-tools, ORBITER_TEST_PYTHON), starts a private redis-server on a free loopback port
# (ORBITER_TEST_REDIS_URL), runs `swift test`, and always stops that Redis. Extra arguments go to
# `swift test` (e.g. --filter OrbiterLuaTests). A full run
# (no arguments) then builds the release binary and runs the reduced chaos proof with it
# (`scripts/chaos.sh --quick`: a few hundred tasks, a kill -9 and a Redis restart; fails on any lost or duplicated task),
# its Sentinel variant (`--quick --sentinel 300`: the master kill -9ed, the replica promoted) and its
# Cluster variant (`--quick --cluster 200`: the master holding the queue kill -9ed, its replica takes over).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
orbiter_install_packages
ORBITER_TEST_PYTHON=$(orbiter_python_tools)
export ORBITER_TEST_PYTHON
trap orbiter_stop_redis EXIT
orbiter_start_redis
export ORBITER_TEST_REDIS_URL="redis://127.0.0.1:$ORBITER_REDIS_PORT"
echo "orbiter: test Redis at $ORBITER_TEST_REDIS_URL" >&2
swift build --build-tests
# One test at a time: Swift Testing would run suites in parallel, and on a small machine tests that
# spin CPU (Lua limits, hashing) delay the ones that bound a cancellation or a streaming gap.
swift test --skip-build --no-parallel "$@"
if [ $# -eq 0 ]; then
  # The chaos proofs run the release binary, the one scripts/demo.sh and scripts/bench.sh build and
  # users run: building it here also catches what only the optimizer trips on.
  orbiter_build_release --product orbiter
  ORBITER_BIN="$(pwd)/.build/release/orbiter" scripts/chaos.sh --quick
  ORBITER_BIN="$(pwd)/.build/release/orbiter" scripts/chaos.sh --quick --sentinel 300
  ORBITER_BIN="$(pwd)/.build/release/orbiter" scripts/chaos.sh --quick --cluster 200
fi
