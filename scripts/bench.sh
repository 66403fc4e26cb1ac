#!/usr/bin/env bash
# Orbiter's benchmark suite: queue throughput, latency, in-flight capacity, Lua call costs,
# tools that act (HTTP from a tool, MCP over stdio), start-up and memory, each against a baseline measured in the same run.
#
#   scripts/bench.sh            full run (20,000 tasks per throughput run, 3 repeats each)
#   scripts/bench.sh --quick    reduced sizes, same keys, under two minutes after the build
#   scripts/bench.sh --peers    also BullMQ (PyPI `bullmq`, in /tmp/orbiter-bench-venv) on the same Redis
#   scripts/bench.sh --skip-build
#
# Builds in release mode, starts a private redis-server on a free port, prints a table and
# writes bench/results.json (medians; every sample in the log folder it names). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

args=()
skip_build=0
for a in "$@"; do
  case "$a" in
    --skip-build) skip_build=1 ;;
    --quick|--peers) args+=("$a") ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

scratch="${ORBITER_BENCH_SCRATCH:-$PWD/.build-release}"
if [ "$skip_build" -eq 0 ]; then
  echo "bench: release build (swift build -c release --static-swift-stdlib --scratch-path $scratch)" >&2
  orbiter_build_release --scratch-path "$scratch" >&2
fi
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
for exe in orbiter orbiter-bench; do
  [ -x "$bin/$exe" ] || { echo "bench: $bin/$exe is missing; build first" >&2; exit 1; }
done

orbiter_start_redis
trap orbiter_stop_redis EXIT
echo "bench: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on port $ORBITER_REDIS_PORT" >&2

# The MCP servers of the tools figures (PyPI, into .venv-tools).
ORBITER_TEST_PYTHON=$(orbiter_python_tools)
export ORBITER_TEST_PYTHON

mkdir -p bench
python3 scripts/bench_run.py --bin "$bin" --redis-port "$ORBITER_REDIS_PORT" --out bench/results.json "${args[@]}"
