#!/usr/bin/env bash
# The profile of Orbiter's no-op path that bench/README.md's tables come from: one worker ×64 on a
# private Redis, N no-op tasks from orbiter-bench, and meanwhile
#   - Redis `INFO commandstats` before/after: calls and server µs per task, per command (commands
#     run inside scripts included; the bench client's own counter polling is reported apart);
#   - `perf record` of the worker (if perf is installed): the top symbols, self time.
#
#   scripts/bench_profile.sh [--n 20000] [--no-perf] [--bulk] [--bin DIR]
#     (after scripts/bench.sh has built .build-release; --bin: the folder of other orbiter and
#     orbiter-bench binaries, e.g. a copy of an earlier build for a before/after table; --bulk:
#     the tasks submitted with distributedMany, as bulk_noop_tasks_per_s is measured)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

n=20000
use_perf=1
bulk=()
bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --n) [ $# -ge 2 ] || { echo "bench_profile.sh: --n needs a number" >&2; exit 2; }; n="$2"; shift ;;
    --no-perf) use_perf=0 ;;
    --bulk) bulk=(--bulk) ;;
    --bin) [ $# -ge 2 ] || { echo "bench_profile.sh: --bin needs a folder" >&2; exit 2; }; bin="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_profile.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$n" in ''|*[!0-9]*|0) echo "bench_profile.sh: --n must be a positive whole number, got '$n'" >&2; exit 2 ;; esac
scratch="${ORBITER_BENCH_SCRATCH:-$PWD/.build-release}"
[ -n "$bin" ] || bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)"
[ -x "$bin/orbiter-bench" ] || { echo "bench_profile.sh: $bin/orbiter-bench is missing; run scripts/bench.sh first" >&2; exit 1; }
if [ "$use_perf" -eq 1 ] && ! command -v perf >/dev/null; then
  echo "bench_profile.sh: perf is not installed (apt-get install linux-perf); profiling commands only" >&2
  use_perf=0
fi

orbiter_start_redis
work=$(mktemp -d /tmp/orbiter-profile.XXXXXX)
worker=""
cleanup() { [ -z "$worker" ] || kill "$worker" 2>/dev/null || true; orbiter_stop_redis; }
trap cleanup EXIT
url="redis://127.0.0.1:$ORBITER_REDIS_PORT"
"$bin/orbiter" start worker --redis-url "$url" --queue profile --concurrency 64 >"$work/worker.log" 2>&1 &
worker=$!
for _ in $(seq 1 200); do
  [ "$(redis-cli -p "$ORBITER_REDIS_PORT" zcard '{orbiter:profile}:workers')" != "0" ] && break
  sleep 0.05
done
# Warm: the bundle stored and cached, connections open; then the measured run.
"$bin/orbiter-bench" throughput --redis-url "$url" --queue profile --n 500 --warmup 0 >/dev/null
redis-cli -p "$ORBITER_REDIS_PORT" info commandstats >"$work/before.txt"
redis-cli -p "$ORBITER_REDIS_PORT" info cpu >>"$work/before.txt"
if [ "$use_perf" -eq 1 ]; then
  perf record -F 1999 -g -p "$worker" -o "$work/perf.data" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
fi
"$bin/orbiter-bench" throughput --redis-url "$url" --queue profile --n "$n" --warmup 0 --worker-pids "$worker" ${bulk[@]+"${bulk[@]}"} >"$work/run.json"
redis-cli -p "$ORBITER_REDIS_PORT" info commandstats >"$work/after.txt"
redis-cli -p "$ORBITER_REDIS_PORT" info cpu >>"$work/after.txt"
if [ "$use_perf" -eq 1 ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
fi

python3 - "$work" "$n" <<'PY'
import json, re, sys
work, n = sys.argv[1], int(sys.argv[2])
def read(path):
    out = {}
    for line in open(path):
        m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out
a, b = read(f"{work}/before.txt"), read(f"{work}/after.txt")
run = json.loads(open(f"{work}/run.json").read().splitlines()[-1])
polls = run.get("bench_polling_gets_per_task", 0) * n
rows, total_calls, total_us = [], 0, 0
for cmd, (calls, us) in b.items():
    dc, du = calls - a.get(cmd, (0, 0))[0], us - a.get(cmd, (0, 0))[1]
    if cmd == "get":
        dc -= polls  # the bench's counter polling, not the task's
    if cmd == "info":
        dc -= 1
    if dc > 0:
        rows.append((cmd, dc / n, du / n))
        total_calls += dc; total_us += du
def redis_cpu(path):
    return sum(float(l.split(":")[1]) for l in open(path) if l.startswith(("used_cpu_sys:", "used_cpu_user:"))) * 1000
print(f"no-op path, {n:,} tasks, {run['tasks_per_s']:,.0f} tasks/s; CPU ms per task: worker {run['worker_cpu_ms_per_task']:.3f}, "
      f"client {run.get('client_cpu_ms_per_task', float('nan')):.3f}, "
      f"Redis {(redis_cpu(f'{work}/after.txt') - redis_cpu(f'{work}/before.txt')) / n:.3f}")
print("| command | calls per task | Redis µs per task (incl. inside scripts) |")
print("|---|---|---|")
for cmd, c, us in sorted(rows, key=lambda r: -r[1]):
    print(f"| {cmd} | {c:.3f} | {us:.2f} |")
print(f"| **all** | **{total_calls / n:.2f}** | (EVALSHA's µs include the calls inside) |")
print(f"bench counter polling taken out of GET: {polls / n:.3f} per task")
PY
if [ "$use_perf" -eq 1 ]; then
  echo
  echo "worker, perf self time, top symbols:"
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -30
fi
echo "files in $work"
