#!/usr/bin/env python3
"""Memory of sleeping tasks in one worker (issue 21, `inflight_100k_rss_mib`), quicker than
`scripts/bench.sh --inflight-100k-only`: one `orbiter start worker --concurrency N`, N tasks whose
Lua model sleeps, a private Redis; prints the worker's idle and peak RSS and KB per task.

    scripts/inflight_rss.py --bin .build-release/release [--n 25000] [--sleep 30] [--repeats 1]

KB a task is peak RSS / N (KiB, as bench/README counts them) and (peak - idle RSS) / N. Builds nothing: build first (`source scripts/lib.sh; orbiter_build_release
--scratch-path $PWD/.build-release`).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_run import Bench, free_port  # noqa: E402  (the worker and orbiter-bench calls of scripts/bench.sh)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build-release/release", help="directory with orbiter and orbiter-bench")
    ap.add_argument("--n", type=int, default=25000, help="tasks, all asleep at once (the worker's concurrency)")
    ap.add_argument("--sleep", type=float, default=30, help="seconds each task's model sleeps")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON line per run instead of text")
    args = ap.parse_args()
    for exe in ("orbiter", "orbiter-bench"):
        if not os.access(os.path.join(args.bin, exe), os.X_OK):
            sys.exit(f"inflight_rss: {args.bin}/{exe} is missing; build first")

    tmp = tempfile.mkdtemp(prefix="orbiter-inflight-")
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")])
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        bench = Bench(argparse.Namespace(bin=args.bin, redis_port=port, quick=True))
        for i in range(args.repeats):
            queue = f"inflight-rss-{i}"
            worker = bench.start_worker(queue, args.n, lease=max(30, int(args.sleep) * 2))
            try:
                idle_kib = status_kib(worker.pid, "VmRSS")
                row = bench.bench("inflight", "--queue", queue, "--n", str(args.n), "--sleep", str(args.sleep), "--inflight", "1024",
                                  "--worker-pids", str(worker.pid), timeout=1800)[0]
                peak_kib = status_kib(worker.pid, "VmHWM")
            finally:
                bench.stop(worker)
            result = {"tasks": args.n, "sleep_s": args.sleep, "failed": row["failed"], "wall_s": round(row["wall_s"], 1),
                      "idle_mib": round(idle_kib / 1024, 1), "peak_mib": round(peak_kib / 1024, 1),
                      "kb_per_task": round(peak_kib / args.n, 1),
                      "kb_per_task_above_idle": round((peak_kib - idle_kib) / args.n, 1),
                      "redis_growth_mib": round(row["redis_growth_mib"], 1)}
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{args.n:,} tasks asleep in one worker: peak RSS {result['peak_mib']:,.0f} MiB (idle {result['idle_mib']:.0f}), "
                      f"{result['kb_per_task']} KB a task ({result['kb_per_task_above_idle']} above idle), "
                      f"Redis +{result['redis_growth_mib']:.0f} MiB, {row['failed']} failed, wall {result['wall_s']} s", flush=True)
    finally:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        try:
            redis.wait(timeout=10)
        except subprocess.TimeoutExpired:
            redis.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
