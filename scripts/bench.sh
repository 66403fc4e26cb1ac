#!/usr/bin/env bash
# Orbiter's benchmark suite: queue throughput, latency, in-flight capacity, Lua call costs,
# tools that act (HTTP from a tool, MCP over stdio), start-up and memory, each against a baseline measured in the same run.
#
#   scripts/bench.sh            full run (20,000 tasks per throughput run, 3 repeats each)
#   scripts/bench.sh --quick    reduced sizes, same keys, under two minutes after the build
#   scripts/bench.sh --peers    also the peers' table: Sidekiq (Debian), Celery, RQ, arq, dramatiq,
#                               taskiq, BullMQ (PyPI, /tmp/orbiter-bench-peers) on the same Redis, same N,
#                               interleaved with Orbiter; writes bench/peers.json (slow: installs peers)
#   scripts/bench.sh --peers-only   just Orbiter's issue-21 figures and the peers' table
#   scripts/bench.sh --n N --repeats R --only sidekiq,celery   sizes; a subset of peers
#   scripts/bench.sh --cluster  also three queues on a 3-master Redis Cluster (started here) vs one node
#   scripts/bench.sh --inflight-100k   also 100,000 sleeping tasks across 4 workers (peak RSS); --inflight-100k-only
#   scripts/bench.sh --stream-only   just the streaming scenario (the other figures kept from the last run)
#   scripts/bench.sh --skip-build
#
# Builds in release mode, starts a private redis-server on a free port, prints a table and
# writes bench/results.json (medians; every sample in the log folder it names). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

args=()
skip_build=0
peers=0
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=1 ;;
    --quick|--cluster|--inflight-100k|--inflight-100k-only|--stream-only) args+=("$1") ;;
    --peers|--peers-only) args+=("$1"); peers=1 ;;
    --n|--repeats|--only)
      [ $# -ge 2 ] || { echo "bench.sh: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see scripts/bench.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
# The one peer from Debian; the PyPI peers are installed by bench_peers.py into scratch venvs.
[ "$peers" -eq 0 ] || orbiter_install_peer_packages

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
