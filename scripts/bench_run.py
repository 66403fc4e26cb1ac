#!/usr/bin/env python3
"""Runs Orbiter's benchmarks against a Redis that scripts/bench.sh started; see bench/README.md.

Starts `orbiter start worker` processes from the release build, runs `orbiter-bench` (which prints
one JSON object per measurement), repeats each measurement, and reports median [min..max].
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# The Python original, measured on this kind of machine (from the issue).
PYTHON_ORIGINAL = {"tasks_per_s": (14, 25), "worker_cpu_ms_per_task": (40, 60), "worker_rss_mib": (120, 210)}

# Targets, as (key, comparison, value).
TARGETS = [
    ("noop_tasks_per_s", ">=", 5000), ("worker_cpu_ms_per_task", "<=", 0.2),
    ("submit_result_p50_ms", "<=", 1), ("submit_result_p99_ms", "<=", 5), ("first_event_p50_ms", "<=", 1),
    ("inflight_10k_wall_s", "<=", 4), ("inflight_10k_rss_mib", "<=", 1024), ("lua_tool_call_us", "<=", 5),
    ("run_wall_ms", "<=", 30), ("idle_worker_rss_mib", "<=", 30), ("bullmq_ratio", ">=", 3),
    ("admission_p99_ms", "<=", 1),
    ("stream_deltas_per_s", ">=", 19000), ("stream_delta_p99_ms", "<=", 25), ("stream_worker_cpu_pct", "<=", 60),
    ("bulk_noop_tasks_per_s", ">=", 10000),
]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.bin = args.bin
        self.port = args.redis_port
        self.url = f"redis://127.0.0.1:{self.port}"
        self.quick = args.quick
        self.samples = {}  # key -> list of numbers (one per repeat)
        self.commandstats = {}  # throughput label -> per-command calls per task of each run (bench polling out)
        self.notes = []
        self.logdir = tempfile.mkdtemp(prefix="orbiter-bench-logs.")

    # -- processes ---------------------------------------------------------------------------

    def start_worker(self, queue, concurrency, lease=30):
        logf = open(os.path.join(self.logdir, f"worker-{queue}-{time.monotonic_ns()}.log"), "w")
        p = subprocess.Popen([f"{self.bin}/orbiter", "start", "worker", "--redis-url", self.url, "--queue", queue,
                              "--concurrency", str(concurrency), "--lease", str(lease), "--drain-timeout", "5"],
                             stdout=logf, stderr=logf)
        # Ready once it has registered a heartbeat.
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.redis("ZCARD", f"{{orbiter:{queue}}}:workers").strip() not in ("", "0"):
                n = int(self.redis("ZCARD", f"{{orbiter:{queue}}}:workers"))
                if n >= self._workers_expected.get(queue, 1):
                    break
            time.sleep(0.02)
        return p

    _workers_expected = {}

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def redis(self, *cmd):
        return subprocess.run(["redis-cli", "-p", str(self.port), *cmd], capture_output=True, text=True).stdout

    def bench(self, *cmd, timeout=900):
        out = subprocess.run([f"{self.bin}/orbiter-bench", *cmd, "--redis-url", self.url], capture_output=True, text=True,
                             timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"orbiter-bench {' '.join(cmd)} failed: {out.stderr.strip()}")
        return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]

    def add(self, key, value):
        if value is None or (isinstance(value, float) and value != value):
            return
        self.samples.setdefault(key, []).append(value)

    # -- scenarios ---------------------------------------------------------------------------

    def baselines(self):
        n = "20000" if self.quick else "200000"
        for name, cmd in [("redis_xadd_ops_per_s", ["XADD", "bench:xadd", "*", "f", "v"]),
                          ("redis_evalsha_ops_per_s", ["EVALSHA", self.redis("SCRIPT", "LOAD", "return 1").strip(), "0"]),
                          ("redis_ping_ops_per_s", ["PING"])]:
            for _ in range(3):
                out = subprocess.run(["redis-benchmark", "-p", str(self.port), "-c", "64", "-n", n, "--csv", *cmd],
                                     capture_output=True, text=True).stdout
                rows = [l for l in out.splitlines() if l and not l.startswith('"test"')]
                self.add(name, float(rows[-1].split(",")[1].strip('"')))
        self.redis("DEL", "bench:xadd")
        log(f"redis-benchmark: XADD {self.med('redis_xadd_ops_per_s'):.0f}/s, EVALSHA {self.med('redis_evalsha_ops_per_s'):.0f}/s")

    def throughput(self, label, workers, detailed, n, repeats, bulk=False):
        queue = f"tp-{label}"
        self._workers_expected[queue] = workers
        procs = [self.start_worker(queue, 64) for _ in range(workers)]
        try:
            rows = self.bench("throughput", "--queue", queue, "--n", str(n), "--inflight", "256", "--repeats", str(repeats),
                              *(["--detailed"] if detailed else []), *(["--bulk"] if bulk else []),
                              "--worker-pids", ",".join(str(p.pid) for p in procs))
        finally:
            rss = [self.status_mib(p.pid, "VmHWM") for p in procs]
            for p in procs:
                self.stop(p)
        for r in rows:
            if r["failed"]:
                self.notes.append(f"{label}: {r['failed']} of {r['tasks']} tasks failed")
            self.add(f"{label}_tasks_per_s", r["tasks_per_s"])
            self.add(f"{label}_events_per_s", r["events_per_s"])
            self.add(f"{label}_events_per_task", r["events_per_task"])
            self.add(f"{label}_worker_cpu_ms_per_task", r["worker_cpu_ms_per_task"])
            self.add(f"{label}_redis_commands_per_task", r["redis_commands_per_task"])
            self.add(f"{label}_redis_commands_per_task_excl_bench", r.get("redis_commands_per_task_excl_bench"))
            self.add(f"{label}_client_cpu_ms_per_task", r.get("client_cpu_ms_per_task"))
            self.add(f"{label}_submits_per_s", r["submits_per_s"])
        self.add(f"{label}_worker_hwm_mib", max(rss))
        self.last_commands = rows[-1]["commands_per_task"] if rows else {}
        if rows and "commands_per_task_excl_bench" in rows[-1]:
            self.commandstats.setdefault(label, []).extend(r["commands_per_task_excl_bench"] for r in rows)
        log(f"throughput {label}: {self.med(label + '_tasks_per_s'):.0f} tasks/s, "
            f"worker CPU {self.med(label + '_worker_cpu_ms_per_task'):.3f} ms/task")

    def round_trips(self, n):
        """Commands each client/worker sent per task, from MONITOR (script-internal calls excluded)."""
        queue = "tp-monitor"
        worker = self.start_worker(queue, 64)
        path = os.path.join(self.logdir, "monitor.txt")
        with open(path, "w") as f:
            mon = subprocess.Popen(["redis-cli", "-p", str(self.port), "monitor"], stdout=f)
            time.sleep(0.3)
            try:
                self.bench("throughput", "--queue", queue, "--n", str(n), "--inflight", "256", "--warmup", "0")
            finally:
                time.sleep(0.2)
                mon.terminate()
                mon.wait()
                self.stop(worker)
        by_command, total = {}, 0
        line_re = re.compile(r'^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(.*)$')
        for line in open(path):
            m = line_re.match(line.strip())
            if not m or m.group(1) == "lua":
                continue
            cmd, rest = m.group(2).upper(), m.group(3)
            # The bench client's own bookkeeping (counter polling, INFO) is not part of a task.
            if cmd == "INFO" or (cmd == "GET" and ":count:" in rest) or cmd == "XRANGE":
                continue
            by_command[cmd] = by_command.get(cmd, 0) + 1
            total += 1
        self.add("redis_round_trips_per_task", total / n)
        self.round_trip_breakdown = {k: round(v / n, 3) for k, v in sorted(by_command.items(), key=lambda kv: -kv[1])}
        log(f"round trips: {total / n:.2f} commands per task {self.round_trip_breakdown}")

    def latency(self, n, repeats):
        queue = "latency"
        worker = self.start_worker(queue, 64)
        try:
            for _ in range(repeats):
                for r in self.bench("latency", "--queue", queue, "--n", str(n)):
                    for k in ("submit_result_p50_ms", "submit_result_p99_ms", "first_event_p50_ms", "first_event_p99_ms",
                              "submit_only_p50_ms", "ping_p50_ms", "ping_p99_ms"):
                        self.add(k, r[k])
        finally:
            self.stop(worker)
        log(f"latency: submit→result p50 {self.med('submit_result_p50_ms'):.2f} ms, first event p50 "
            f"{self.med('first_event_p50_ms'):.2f} ms (PING p50 {self.med('ping_p50_ms'):.3f} ms)")

    def admission(self, n, repeats):
        """Shared rate limits: one reserve.lua decision, one at a time and 64 in flight."""
        for _ in range(repeats):
            for r in self.bench("admission", "--n", str(n)):
                for k in ("admission_p50_ms", "admission_p99_ms", "admission_concurrent_per_s"):
                    self.add(k, r[k])
        log(f"admission: p50 {self.med('admission_p50_ms'):.3f} ms, p99 {self.med('admission_p99_ms'):.3f} ms, "
            f"{self.med('admission_concurrent_per_s'):,.0f} decisions/s with 64 in flight")

    def durability(self, n, repeats):
        """--durability replica against none: a replica of the bench Redis on loopback, started here."""
        port = str(free_port())
        replica = subprocess.Popen(["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                    "--replicaof", "127.0.0.1", str(self.port), "--dir", self.logdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while "master_link_status:up" not in subprocess.run(["redis-cli", "-p", port, "info", "replication"],
                                                                capture_output=True, text=True).stdout:
                if time.time() > deadline:
                    raise RuntimeError("the bench replica did not sync")
                time.sleep(0.05)
            for _ in range(repeats):
                for r in self.bench("durability", "--n", str(n)):
                    for k in ("none_submit_p50_ms", "replica_submit_p50_ms", "none_submit_p99_ms", "replica_submit_p99_ms",
                              "none_submits_per_s_64", "replica_submits_per_s_64"):
                        self.add(k, r[k])
        finally:
            replica.terminate()
            replica.wait()
        log(f"durability: submit p50 none {self.med('none_submit_p50_ms'):.3f} ms, replica {self.med('replica_submit_p50_ms'):.3f} ms")

    def tls(self, n, repeats):
        """rediss:// against redis:// on the same server, interleaved: TLS is turned on at runtime
        (CONFIG SET tls-port) with a certificate made here, so only the transport differs."""
        crt, key = os.path.join(self.logdir, "tls.crt"), os.path.join(self.logdir, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        port = free_port()
        self.redis("CONFIG", "SET", "tls-cert-file", crt, "tls-key-file", key, "tls-ca-cert-file", crt,
                   "tls-auth-clients", "no", "tls-port", str(port))
        plain, kept = self.url, getattr(self, "last_commands", {})
        try:
            for _ in range(repeats):
                for label, url in (("plain", plain), ("tls", f"rediss://127.0.0.1:{port}?tls_ca={crt}")):
                    self.url = url
                    self.throughput(f"{label}_transport", 1, False, n, 1)
                    queue = f"latency-{label}"
                    worker = self.start_worker(queue, 64)
                    try:
                        for r in self.bench("latency", "--queue", queue, "--n", "200"):
                            for k in ("submit_result_p50_ms", "ping_p50_ms"):
                                self.add(f"{label}_transport_{k}", r[k])
                    finally:
                        self.stop(worker)
        finally:
            self.url, self.last_commands = plain, kept
            self.redis("CONFIG", "SET", "tls-port", "0")
        log(f"tls: {self.med('tls_transport_tasks_per_s'):.0f} tasks/s vs plain {self.med('plain_transport_tasks_per_s'):.0f}; "
            f"submit→result p50 {self.med('tls_transport_submit_result_p50_ms'):.2f} vs {self.med('plain_transport_submit_result_p50_ms'):.2f} ms")

    def stream(self, n, deltas, repeats):
        """LLM-shaped load: n tasks at once, each streaming `deltas` text deltas at 20/s from a NIO fake
        provider over HTTP, through one worker that orbiter-bench starts, one follower per task."""
        for i in range(repeats):
            rows = self.bench("stream", "--queue", f"stream-{i}", "--n", str(n), "--deltas", str(deltas), "--rate", "20",
                              "--orbiter", f"{self.bin}/orbiter", "--worker-log", os.path.join(self.logdir, f"stream-worker-{i}.log"))
            for r in rows:
                for k in ("stream_deltas_per_s", "stream_delta_p50_ms", "stream_delta_p99_ms", "stream_delta_p99_ms_all_started",
                          "stream_first_token_p50_ms", "stream_worker_cpu_pct", "stream_worker_hwm_mib",
                          "stream_delta_stored_p50_ms", "stream_delta_stored_p99_ms", "stream_bench_cpu_pct", "stream_redis_cpu_pct"):
                    self.add(k, r.get(k))
                if r["stream_lost"] or r["stream_reordered"] or r["stream_failed_tasks"]:
                    self.notes.append(f"stream run {i}: {r['stream_lost']} deltas lost, {r['stream_reordered']} out of order, "
                                      f"{r['stream_failed_tasks']} tasks failed")
        log(f"stream: {self.med('stream_deltas_per_s'):,.0f} deltas/s, p99 {self.med('stream_delta_p99_ms'):.1f} ms, "
            f"worker CPU {self.med('stream_worker_cpu_pct'):.0f} %")

    def inflight(self, n, repeats):
        for i in range(repeats):
            queue = f"inflight-{i}"
            worker = self.start_worker(queue, n)
            try:
                rows = self.bench("inflight", "--queue", queue, "--n", str(n), "--sleep", "2", "--worker-pids", str(worker.pid))
            finally:
                self.stop(worker)
            for r in rows:
                if r["failed"]:
                    self.notes.append(f"in-flight: {r['failed']} of {n} tasks failed")
                self.add("inflight_10k_wall_s", r["wall_s"])
                self.add("inflight_10k_rss_mib", r["worker_hwm_mib"])
                self.add("inflight_worker_cpu_ms_per_task", r["worker_cpu_ms_per_task"])
        log(f"in-flight {n}: {self.med('inflight_10k_wall_s'):.2f} s, worker peak RSS {self.med('inflight_10k_rss_mib'):.0f} MiB")

    def inflight_100k(self, n, workers, sleep):
        """Issue 21's `inflight_100k_rss_mib`: n tasks asleep at once across `workers` worker
        processes (n / workers concurrency each); the sum of the workers' peak RSS plus what Redis
        grew by while they ran. The bench samples how many ran at once (`peak_running`)."""
        queue = "inflight-100k"
        self._workers_expected[queue] = workers
        procs = [self.start_worker(queue, -(-n // workers), lease=max(30, int(sleep) * 2)) for _ in range(workers)]
        try:
            rows = self.bench("inflight", "--queue", queue, "--n", str(n), "--sleep", str(sleep), "--inflight", "1024",
                              "--worker-pids", ",".join(str(p.pid) for p in procs), timeout=1800)
        finally:
            for p in procs:
                self.stop(p)
        for r in rows:
            if r["failed"]:
                self.notes.append(f"in-flight 100k: {r['failed']} of {n} tasks failed")
            total = r["workers_hwm_mib_total"] + max(0.0, r["redis_growth_mib"])
            self.add("inflight_100k_rss_mib", total)
            self.add("inflight_100k_workers_mib", r["workers_hwm_mib_total"])
            self.add("inflight_100k_redis_mib", r["redis_growth_mib"])
            self.add("inflight_100k_peak_running", r["peak_running"])
            self.add("inflight_100k_wall_s", r["wall_s"])
        log(f"in-flight {n:,} across {workers} workers: {self.med('inflight_100k_rss_mib'):.0f} MiB "
            f"(workers {self.med('inflight_100k_workers_mib'):.0f} + Redis {self.med('inflight_100k_redis_mib'):.0f}), "
            f"{self.med('inflight_100k_peak_running'):,.0f} running at once, wall {self.med('inflight_100k_wall_s'):.1f} s")

    def lua(self, iterations, repeats):
        for _ in range(repeats):
            for r in self.bench("lua", "--iterations", str(iterations)):
                for k, v in r.items():
                    if k.startswith(("lua_", "bare_")):
                        self.add(k, v)
        log(f"lua: tool call {self.med('lua_tool_call_us'):.2f} µs (bare pcall {self.med('bare_pcall_us'):.3f} µs)")

    def tools(self, n, repeats):
        """HTTP from a tool against bare AsyncHTTPClient (loopback, in-process), and MCP over stdio
        with mcp-server-time: round trip and the RSS of each server process."""
        log(f"tools: {n} loopback GETs per client, {repeats} runs; MCP stdio round trips")
        keys = {"httpclientsharedexecute": "http_bare_ahc", "toolhttpclientunrestricted": "http_tool_client",
                "luatoolorbiterhttpgetunrestricted": "http_lua_tool", "allowlist127001port": "http_allow_list_ip",
                "allowlistlocalhostportdnspinned": "http_allow_list_dns"}
        for _ in range(repeats):
            for rec in self.bench("http-tool", "--n", str(n)):
                for src, dst in keys.items():
                    self.add(f"{dst}_mean_us", rec.get(f"{src}_mean_us"))
                    self.add(f"{dst}_p99_us", rec.get(f"{src}_p99_us"))
            for rec in self.bench("mcp", "--calls", str(max(n // 10, 50)), "--json"):
                self.add("mcp_stdio_call_mean_ms", rec.get("mean_ms"))
                self.add("mcp_stdio_call_p99_ms", rec.get("p99_ms"))
                self.add("mcp_server_start_ms", rec.get("start_ms"))
                for server, mib in (rec.get("rss_mib") or {}).items():
                    self.add(f"mcp_{server}_server_rss_mib", mib)

    def bulk(self, n, repeats):
        """Client submit rate: single submits one at a time vs distributedMany (submit --batch), same run."""
        for r in self.bench("bulk", "--queue", "bulk", "--n", str(n), "--repeats", str(repeats)):
            for mode in ("single", "batch", "single_256"):
                self.add(f"bulk_{mode}_tasks_per_s", r[f"{mode}_tasks_per_s"])
        log(f"bulk submit: {self.med('bulk_batch_tasks_per_s'):.0f} tasks/s batched, "
            f"{self.med('bulk_single_tasks_per_s'):.0f} one at a time")

    def api(self, n, repeats):
        """orbiter serve: HTTP submit rate vs the CLI's and the library's; SSE fan-out to 1,000 followers."""
        for _ in range(repeats):
            for r in self.bench("api", "--orbiter", f"{self.bin}/orbiter", "--n", str(n), "--followers", "1000", "--events", "50"):
                for key in ("api_1_tasks_per_s", "api_16_tasks_per_s", "cli_process_tasks_per_s", "library_1_tasks_per_s",
                            "fanout_delivery_p50_ms", "fanout_delivery_p99_ms", "fanout_server_cpu_percent", "server_rss_mib"):
                    self.add(f"serve_{key}", r.get(key))
        log(f"orbiter serve: {self.med('serve_api_16_tasks_per_s'):.0f} submits/s (16 outstanding), "
            f"fan-out p99 {self.med('serve_fanout_delivery_p99_ms'):.0f} ms")

    def startup(self, runs):
        cmd = [f"{self.bin}/orbiter", "run", "examples/calculator.lua", "What is 2 + 40?"]
        subprocess.run(cmd, capture_output=True)  # page cache
        for _ in range(runs):
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            self.add("run_wall_ms", (time.perf_counter() - t0) * 1000)
            self.add("run_rss_mib", usage.ru_maxrss / 1024)
            self.add("run_cpu_ms", (usage.ru_utime + usage.ru_stime) * 1000)
            if status != 0:
                self.notes.append("orbiter run examples/calculator.lua exited non-zero")
        # The floor: starting any process (/bin/true) from here.
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(["/bin/true"])
            self.add("process_spawn_ms", (time.perf_counter() - t0) * 1000)
        for i in range(3):
            worker = self.start_worker(f"idle-{i}", 4)
            time.sleep(1.5)
            self.add("idle_worker_rss_mib", self.status_mib(worker.pid, "VmRSS"))
            self.stop(worker)
        log(f"start-up: orbiter run {self.med('run_wall_ms'):.1f} ms, {self.med('run_rss_mib'):.1f} MiB; "
            f"idle worker {self.med('idle_worker_rss_mib'):.1f} MiB")

    def peers(self, n, repeats, only=None):
        """The peers' table (scripts/bench_peers.py): Orbiter and each peer interleaved, same Redis and N."""
        from bench_peers import Peers
        self.peer_runner = Peers(self, n, repeats, only)
        self.peer_runner.run()
        for key, src in (("bullmq_tasks_per_s", "e2e_tasks_per_s"), ("bullmq_worker_cpu_ms_per_task", "worker_cpu_ms_per_task")):
            for v in self.peer_runner.samples.get(("bullmq", src), []):
                self.add(key, v)
        self.peer_version = self.peer_runner.versions.get("bullmq", "")

    def cluster_queues(self, n, repeats):
        """No-op throughput and submit→result p50 over three queues: a 3-master Redis Cluster (each
        queue on its own master, one `--queue a,b,c` worker) against the same on the one server."""
        nodes, ports = [], []
        try:
            while len(ports) < 6:
                p = random.randint(20000, 45000)
                if not (port_free(p) and port_free(p + 10000)):
                    continue
                d = tempfile.mkdtemp(prefix=f"orbiter-bench-node-{p}.")
                subprocess.run(["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", d, "--daemonize", "yes", "--logfile", f"{d}/log", "--cluster-enabled", "yes",
                                "--cluster-config-file", "nodes.conf"], check=True)
                ports.append(p)
            for p in ports:
                while subprocess.run(["redis-cli", "-p", str(p), "ping"], capture_output=True).returncode != 0:
                    time.sleep(0.05)
            subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "1",
                            "--cluster-yes"], check=True, capture_output=True)
            while not all("cluster_state:ok" in subprocess.run(["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True,
                                                              text=True).stdout for p in ports):
                time.sleep(0.2)
            def keyslot(q):
                return int(subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "keyslot", f"orbiter:{q}"],
                                          capture_output=True, text=True).stdout)
            queues, owners = [], set()
            for i in range(1000):
                slot = keyslot(f"cq-{i}")
                owner = 0 if slot <= 5460 else 1 if slot <= 10922 else 2   # the ranges --cluster create gives 3 masters
                if owner not in owners:
                    owners.add(owner)
                    queues.append(f"cq-{i}")
                if len(queues) == 3:
                    break
            cluster_url = f"redis-cluster://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}"
            for label, url in [("cluster_3q", cluster_url), ("one_node_3q", self.url)]:
                logf = open(os.path.join(self.logdir, f"worker-{label}.log"), "w")
                w = subprocess.Popen([f"{self.bin}/orbiter", "start", "worker", "--redis-url", url, "--queue", ",".join(queues),
                                      "--concurrency", "64", "--drain-timeout", "5"], stdout=logf, stderr=logf)
                try:
                    time.sleep(2)
                    out = subprocess.run([f"{self.bin}/orbiter-bench", "queues", "--redis-url", url, "--queues", ",".join(queues),
                                          "--n", str(n), "--repeats", str(repeats)], capture_output=True, text=True, timeout=900)
                    if out.returncode != 0:
                        raise RuntimeError(out.stderr.strip())
                    for r in (json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")):
                        if r["scenario"] == "queues":
                            self.add(f"{label}_tasks_per_s", r["tasks_per_s"])
                        else:
                            self.add(f"{label}_p50_ms", r["submit_result_p50_ms"])
                finally:
                    self.stop(w)
            log(f"3 queues: cluster {self.med('cluster_3q_tasks_per_s'):.0f} tasks/s (p50 {self.med('cluster_3q_p50_ms'):.1f} ms), "
                f"one node {self.med('one_node_3q_tasks_per_s'):.0f} tasks/s (p50 {self.med('one_node_3q_p50_ms'):.1f} ms)")
        except Exception as e:  # noqa: BLE001 - report, never fake
            self.notes.append(f"cluster throughput could not be run here: {e}")
        finally:
            for p in ports:
                subprocess.run(["redis-cli", "-p", str(p), "shutdown", "nosave"], capture_output=True)

    # -- reporting ---------------------------------------------------------------------------

    @staticmethod
    def status_mib(pid, field):
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def med(self, key):
        v = self.samples.get(key)
        return statistics.median(v) if v else float("nan")

    def results(self):
        out = {k: round(statistics.median(v), 4) for k, v in sorted(self.samples.items()) if v}
        # The issue's key names.
        alias = {"noop_tasks_per_s": "noop_tasks_per_s", "noop_tasks_per_s_detailed": "detailed_tasks_per_s",
                 "noop_events_per_s_detailed": "detailed_events_per_s", "noop_tasks_per_s_2_workers": "two_workers_tasks_per_s",
                 "worker_cpu_ms_per_task": "noop_worker_cpu_ms_per_task"}
        for new, old in alias.items():
            if old in out:
                out[new] = out[old]
        if "bullmq_tasks_per_s" in out and out.get("noop_tasks_per_s"):
            out["bullmq_ratio"] = round(out["noop_tasks_per_s"] / out["bullmq_tasks_per_s"], 3)
        if out.get("redis_xadd_ops_per_s") and out.get("noop_tasks_per_s"):
            out["noop_tasks_vs_redis_xadd"] = round(out["noop_tasks_per_s"] / out["redis_xadd_ops_per_s"], 4)
        return out

    def table(self, res):
        def fmt(x):
            if x != x:
                return "—"
            return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"

        def row(label, key, unit, baseline=""):
            v = self.samples.get(key)
            if not v:
                return f"| {label} | not measured | | {unit} | {baseline} |"
            target = next((f"{c} {t}" for k, c, t in TARGETS if k == res_key.get(key, key)), "")
            mark = ""
            if target:
                c, t = target.split(" ")
                ok = statistics.median(v) >= float(t) if c == ">=" else statistics.median(v) <= float(t)
                mark = " ✓" if ok else " ✗"
            return (f"| {label} | **{fmt(statistics.median(v))}**{mark} | {fmt(min(v))} .. {fmt(max(v))} | {unit} "
                    f"| {target} | {baseline} |")

        res_key = {"noop_tasks_per_s": "noop_tasks_per_s", "noop_worker_cpu_ms_per_task": "worker_cpu_ms_per_task"}
        xadd, evalsha = self.med("redis_xadd_ops_per_s"), self.med("redis_evalsha_ops_per_s")
        tp = self.med("noop_tasks_per_s")
        lines = [
            "| measurement | median | min .. max | unit | target | baseline (same run) |",
            "|---|---|---|---|---|---|",
            row("no-op tasks, 1 worker ×64", "noop_tasks_per_s", "tasks/s",
                f"redis-benchmark XADD {fmt(xadd)}/s, EVALSHA {fmt(evalsha)}/s; Python original 14–25 "
                f"(×{tp / 25:.0f}–{tp / 14:.0f})" if tp == tp else ""),
            row("  same, bulk submit (distributedMany = submit --batch)", "bulk_noop_tasks_per_s", "tasks/s"),
            row("  same, detailed", "detailed_tasks_per_s", "tasks/s"),
            row("  same, detailed: events", "detailed_events_per_s", "events/s",
                f"{fmt(self.med('detailed_events_per_task'))} events/task"),
            row("  same, 2 workers ×64", "two_workers_tasks_per_s", "tasks/s"),
            row("  client submit rate (1 worker run)", "noop_submits_per_s", "submits/s"),
            row("bulk submit (distributedMany, submit --batch), no worker", "bulk_batch_tasks_per_s", "tasks/s",
                f"single submits one at a time {fmt(self.med('bulk_single_tasks_per_s'))}/s, "
                f"256 outstanding {fmt(self.med('bulk_single_256_tasks_per_s'))}/s"),
            row("orbiter serve: HTTP submits, 16 outstanding", "serve_api_16_tasks_per_s", "tasks/s",
                f"one at a time {fmt(self.med('serve_api_1_tasks_per_s'))}/s; orbiter submit processes "
                f"{fmt(self.med('serve_cli_process_tasks_per_s'))}/s; distributed() {fmt(self.med('serve_library_1_tasks_per_s'))}/s"),
            row("  SSE fan-out, 1,000 followers: delivery p99", "serve_fanout_delivery_p99_ms", "ms",
                f"p50 {fmt(self.med('serve_fanout_delivery_p50_ms'))} ms, server CPU {fmt(self.med('serve_fanout_server_cpu_percent'))} %"),
            row("worker CPU per task", "noop_worker_cpu_ms_per_task", "ms", "Python original 40–60 ms"),
            row("Redis commands per task (all, incl. in scripts)", "noop_redis_commands_per_task", "cmds",
                f"without the bench's counter polling {fmt(self.med('noop_redis_commands_per_task_excl_bench'))}"),
            row("Redis round trips per task (client+worker requests)", "redis_round_trips_per_task", "requests",
                ", ".join(f"{k} {v}" for k, v in list(getattr(self, "round_trip_breakdown", {}).items())[:8])),
            row("submit → result p50", "submit_result_p50_ms", "ms", f"PING p50 {fmt(self.med('ping_p50_ms'))} ms"),
            row("submit → result p99", "submit_result_p99_ms", "ms", f"PING p99 {fmt(self.med('ping_p99_ms'))} ms"),
            row("submit → first event p50", "first_event_p50_ms", "ms", f"submit alone p50 {fmt(self.med('submit_only_p50_ms'))} ms"),
            row("submit → first event p99", "first_event_p99_ms", "ms"),
            row(f"{self.inflight_n:,} in-flight tasks sleeping 2 s: wall", "inflight_10k_wall_s", "s", "2 s of sleeping"),
            row("  worker peak RSS (VmHWM)", "inflight_10k_rss_mib", "MiB"),
            row("Lua tool call, worker limits (JSON args)", "lua_tool_call_us", "µs",
                f"bare lua_pcall {fmt(self.med('bare_pcall_us'))} µs"),
            row("Lua tool call, local (no instruction limit)", "lua_tool_call_us_local", "µs"),
            row("Lua tool call via actor, no JSON text", "lua_tool_call_direct_us_shipped", "µs"),
            row("Lua model call, worker limits", "lua_model_call_us_shipped", "µs"),
            row("Lua state + prelude + script (per task on a worker)", "lua_state_create_us_shipped", "µs"),
            row("HTTP GET from a Lua tool (orbiter.http.get), loopback", "http_lua_tool_mean_us", "µs",
                f"bare AsyncHTTPClient {fmt(self.med('http_bare_ahc_mean_us'))} µs"),
            row("  ToolHTTPClient alone, unrestricted", "http_tool_client_mean_us", "µs"),
            row("  ToolHTTPClient, allow-list by address", "http_allow_list_ip_mean_us", "µs"),
            row("  ToolHTTPClient, allow-list by name (DNS + pinned)", "http_allow_list_dns_mean_us", "µs"),
            row("MCP stdio tools/call round trip (mcp-server-time)", "mcp_stdio_call_mean_ms", "ms",
                f"p99 {fmt(self.med('mcp_stdio_call_p99_ms'))} ms"),
            row("  server start (spawn, initialize, tools/list)", "mcp_server_start_ms", "ms"),
            row("  RSS per live MCP server: mcp-server-time", "mcp_time_server_rss_mib", "MiB"),
            row("  RSS per live MCP server: mcp-server-git", "mcp_git_server_rss_mib", "MiB"),
            row("orbiter run examples/calculator.lua: wall", "run_wall_ms", "ms",
                f"spawning /bin/true {fmt(self.med('process_spawn_ms'))} ms"),
            row("  its peak RSS", "run_rss_mib", "MiB"),
            row("rate-limit admission (reserve.lua) p50", "admission_p50_ms", "ms"),
            row("rate-limit admission (reserve.lua) p99", "admission_p99_ms", "ms"),
            row("  decisions/s, 64 in flight", "admission_concurrent_per_s", "decisions/s"),
            row("submit p50, --durability none", "none_submit_p50_ms", "ms"),
            row("submit p50, --durability replica (loopback replica)", "replica_submit_p50_ms", "ms"),
            row("  submits/s, 64 in flight: none / replica", "replica_submits_per_s_64", "submits/s",
                f"none {self.med('none_submits_per_s_64'):,.0f}" if self.samples.get("none_submits_per_s_64") else ""),
            row("no-op tasks over TLS (rediss://, same server), 1 worker ×64", "tls_transport_tasks_per_s", "tasks/s",
                f"plain redis:// interleaved {fmt(self.med('plain_transport_tasks_per_s'))}/s"),
            row("  worker CPU per task over TLS", "tls_transport_worker_cpu_ms_per_task", "ms",
                f"plain {fmt(self.med('plain_transport_worker_cpu_ms_per_task'))} ms"),
            row("  submit → result p50 over TLS", "tls_transport_submit_result_p50_ms", "ms",
                f"plain {fmt(self.med('plain_transport_submit_result_p50_ms'))} ms; PING p50 TLS "
                f"{fmt(self.med('tls_transport_ping_p50_ms'))} / plain {fmt(self.med('plain_transport_ping_p50_ms'))} ms"),
            row(f"streaming: {getattr(self, 'stream_n', 0):,} tasks × {getattr(self, 'stream_deltas', 0)} deltas at 20/s, deltas delivered",
                "stream_deltas_per_s", "deltas/s", "ideal: tasks × 20/s while all stream"),
            row("  provider write → follower receipt p50", "stream_delta_p50_ms", "ms"),
            row("  provider write → follower receipt p99", "stream_delta_p99_ms", "ms"),
            row("  the same p99, deltas written once every stream had begun", "stream_delta_p99_ms_all_started", "ms",
                "without the start of the run (claims, starts, connections)"),
            row("  provider write → the delta's entry in Redis p50", "stream_delta_stored_p50_ms", "ms",
                "the worker's half of the latency (entry ids: ±1 ms)"),
            row("  provider write → the delta's entry in Redis p99", "stream_delta_stored_p99_ms", "ms"),
            row("  submit → first token p50", "stream_first_token_p50_ms", "ms"),
            row("  worker CPU (of one core)", "stream_worker_cpu_pct", "%", f"peak RSS {fmt(self.med('stream_worker_hwm_mib'))} MiB"),
            row("  the bench process's CPU (fake provider + followers)", "stream_bench_cpu_pct", "%",
                f"Redis {fmt(self.med('stream_redis_cpu_pct'))} %: the three share the two cores"),
            row("idle worker RSS", "idle_worker_rss_mib", "MiB", "Python original workers 120–210 MiB"),
            row("worker peak RSS during 1-worker no-op run", "noop_worker_hwm_mib", "MiB"),
        ]
        if "bullmq_tasks_per_s" in self.samples:
            lines.append(row(f"BullMQ {getattr(self, 'peer_version', '')} (Python), same N, ×64", "bullmq_tasks_per_s",
                             "tasks/s", f"Orbiter/BullMQ = {res.get('bullmq_ratio', float('nan')):.2f} (target ≥ 3)"))
        return "\n".join(lines)


def port_free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ms(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


# Issue 21's keys in bench/results.json: (key, comparison, target, note when it cannot be measured yet).
ISSUE21 = [
    ("noop_tasks_per_s", ">=", 5000, None), ("bulk_noop_tasks_per_s", ">=", 10000, None),
    ("peer_best_tasks_per_s", None, None, None), ("peer_best_name", None, None, None), ("peer_ratio", ">=", 2, None),
    ("worker_cpu_ms_per_task", "<=", 0.1, None), ("redis_commands_per_task", "<=", 10, None),
    ("stream_deltas_per_s", ">=", 19000, "measured by the streaming scenario of a full run (orbiter-bench stream: "
                                          "1,000 tasks × 200 deltas at 20/s from a Swift NIO fake provider), not by --peers-only"),
    ("stream_delta_p99_ms", "<=", 25, "same streaming scenario"),
    ("stream_worker_cpu_pct", "<=", 60, "same streaming scenario"),
    ("admission_p99_ms", "<=", 1, None),
    ("inflight_100k_rss_mib", "<=", 4096, "measured by scripts/bench.sh --inflight-100k (100,000 sleeping tasks across 4 workers)"),
]


def issue21(res, peers):
    """Adds issue 21's keys (null where not measurable today) and `targets`: value, target, met."""
    if peers is not None:
        best = peers.best_peer()
        if best:
            res["peer_best_name"], res["peer_best_tasks_per_s"] = best[0], round(best[1], 1)
            mine = peers.med("orbiter", "e2e_tasks_per_s")
            # Same run, interleaved, single submits on both sides (no peer's e2e uses a bulk call).
            res["peer_ratio"] = round(mine / best[1], 3) if mine else None
    if "noop_redis_commands_per_task_excl_bench" in res:
        res["redis_commands_per_task"] = res["noop_redis_commands_per_task_excl_bench"]
    targets = {}
    for key, cmp, target, note in ISSUE21:
        res.setdefault(key, None)
        value = res[key]
        met = None
        if cmp and isinstance(value, (int, float)):
            met = value >= target if cmp == ">=" else value <= target
        targets[key] = {"value": value, "target": f"{cmp} {target}" if cmp else None, "met": met,
                        **({"note": note} if note and value is None else {})}
    if peers is None:
        for key in ("peer_best_tasks_per_s", "peer_best_name", "peer_ratio"):
            targets[key]["note"] = "measured by scripts/bench.sh --peers (or --peers-only)"
    res["targets"] = targets
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--redis-port", required=True)
    ap.add_argument("--out", default="bench/results.json")
    ap.add_argument("--peers-out", default="bench/peers.json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--cluster", action="store_true", help="also run three queues on a 3-master Redis Cluster vs one node")
    ap.add_argument("--peers-only", action="store_true", help="only the issue-21 figures and the peers' table")
    ap.add_argument("--inflight-100k", action="store_true", help="also 100,000 sleeping tasks across 4 workers (inflight_100k_rss_mib)")
    ap.add_argument("--inflight-100k-only", action="store_true", help="only the 100,000 in-flight tasks")
    ap.add_argument("--stream-only", action="store_true", help="only the streaming scenario (the rest kept from the last run)")
    ap.add_argument("--only", default="", help="comma-separated peers to run (default all)")
    ap.add_argument("--n", type=int, default=0, help="tasks per throughput run and per peer run")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.n < 0 or args.repeats < 1:
        ap.error("--n must be positive and --repeats at least 1")
    from bench_peers import PEERS
    unknown = [p for p in args.only.split(",") if p and p not in PEERS]
    if unknown:
        ap.error(f"--only: unknown peer {', '.join(unknown)}; the peers are {', '.join(PEERS)}")
    b = Bench(args)
    reps = args.repeats
    n = args.n or (1000 if args.quick else 20000)
    b.inflight_n = 10000
    started = time.time()
    if args.inflight_100k_only:
        pass
    elif args.stream_only:
        b.stream_n, b.stream_deltas = (100, 40) if args.quick else (1000, 200)
        b.stream(b.stream_n, b.stream_deltas, 1 if args.quick else reps)
    elif args.peers_only:
        b.throughput("noop", 1, False, n, reps)
        b.throughput("bulk_noop", 1, False, n, reps, bulk=True)
        b.admission(1000 if args.quick else 5000, reps)
    else:
        b.baselines()
        b.throughput("noop", 1, False, n, reps)
        b.throughput("bulk_noop", 1, False, n, reps, bulk=True)
        b.throughput("detailed", 1, True, n, reps)
        b.throughput("two_workers", 2, False, n, reps)
        b.round_trips(500 if args.quick else 2000)
        b.latency(100 if args.quick else 300, reps)
        b.inflight(b.inflight_n, 1 if args.quick else 3)
        b.admission(1000 if args.quick else 5000, reps)
        b.durability(100 if args.quick else 300, reps)
        b.tls(n, reps)
        b.stream_n, b.stream_deltas = (100, 40) if args.quick else (1000, 200)
        b.stream(b.stream_n, b.stream_deltas, 1 if args.quick else reps)
        b.lua(50_000 if args.quick else 200_000, reps)
        b.tools(500 if args.quick else 2000, reps)
        b.bulk(2000 if args.quick else 10000, reps)
        b.api(300 if args.quick else 1000, 1 if args.quick else reps)
        b.startup(5 if args.quick else 10)
    if args.cluster:
        b.cluster_queues(n, reps)
    if args.inflight_100k or args.inflight_100k_only:
        b.inflight_100k(10_000 if args.quick else 100_000, 4, 20 if args.quick else 50)
    peers = None
    if args.peers or args.peers_only:
        b.peers(n, reps, [p for p in args.only.split(",") if p] or None)
        peers = b.peer_runner
    res = b.results()
    if (args.inflight_100k_only or args.stream_only) and os.path.exists(args.out):
        # Only some figures were measured: keep the rest of the last full run's results.
        with open(args.out) as f:
            res = {**json.load(f), **{k: v for k, v in res.items() if v is not None}}
    res = issue21(res, peers)
    if args.inflight_100k_only or args.stream_only:
        res["last_partial_run"] = {"what": "inflight-100k-only" if args.inflight_100k_only else "stream-only",
                                   "seconds": round(time.time() - started, 1)}
    else:
        res["bench_seconds"] = round(time.time() - started, 1)
        res.pop("last_partial_run", None)
    res["quick"] = args.quick
    res["tasks_per_throughput_run"] = n
    runs = b.commandstats.get("noop", [])
    if runs or "noop_commands_per_task" not in res:
        res["noop_commands_per_task"] = {k: round(statistics.median([c.get(k, 0) for c in runs]), 3)
                                         for k in sorted({k for c in runs for k in c})}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    detail = os.path.join(b.logdir, "results-detail.json")
    with open(detail, "w") as f:
        json.dump({"samples": b.samples, "round_trip_breakdown": getattr(b, "round_trip_breakdown", {}),
                   "commands_per_task_last_noop_run": getattr(b, "last_commands", {}), "notes": b.notes}, f, indent=1)
    if not args.peers_only and not args.inflight_100k_only:
        print(b.table(res))
        print()
    print(issue21_table(res))
    print()
    if peers is not None:
        rows = peers.rows()
        with open(args.peers_out, "w") as f:
            json.dump({"tasks_per_run": n, "repeats": reps, "rows": rows, "orbiter_noop_commands_per_task":
                       peers.commandstats_median(), "notes": [x for x in b.notes if "peer" in x],
                       "samples": {f"{s}.{k}": v for (s, k), v in sorted(peers.samples.items())}}, f, indent=1)
        print(peers.table(rows))
        print()
        print(f"Peers: {n:,} jobs per run, {reps} interleaved repeats, medians; every sample in {b.logdir}. "
              f"Wrote {args.peers_out}")
    print(f"Runs: {reps} per throughput/latency/Lua figure ({n:,} tasks per throughput run); median, min .. max. "
          f"Machine: {os.cpu_count()} CPUs, client + worker(s) + Redis together. Took {res['bench_seconds']} s.")
    for note in b.notes:
        print(f"NOTE: {note}")
    print(f"Wrote {args.out}; every sample, notes and logs in {b.logdir}")


def issue21_table(res):
    lines = ["| issue 21 key | value | target | met |", "|---|---|---|---|"]
    for key, t in res["targets"].items():
        v = t["value"]
        shown = "null" if v is None else (f"{v:,.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))
        met = {True: "✓", False: "✗", None: ""}[t["met"]]
        lines.append(f"| `{key}` | {shown} | {t['target'] or '—'} | {met}{(' ' + t['note']) if 'note' in t else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
