"""The peers' table of `scripts/bench.sh --peers`: Orbiter and the job queues people would pick
instead, on the same private Redis, same machine, same no-op job, same N, interleaved.

Each peer is installed here into a scratch folder (PyPI, one venv per peer so their Redis clients
do not clash) or comes from Debian (ruby-sidekiq, installed by bench.sh). Per peer and repeat: a
worker is started (its own process group), warmed up, then
  e2e    one client enqueues N jobs one call each while the worker runs, and waits until all are
         done (with their results, where the peer stores results);
  drain  the worker group is stopped (SIGSTOP), N jobs are enqueued (the peer's bulk call where it
         has one), the group is continued and timed until all are done.
Worker CPU (utime+stime of every process in the group, children reaped included), RSS (sum of
VmRSS) and Redis commands (`total_commands_processed`) are read around the e2e phase.
See bench/README.md for what each peer does per job and why its concurrency is what it is.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.path.join(HERE, "peers")

# name -> (PyPI requirements or None for Debian, worker concurrency as each project recommends, what it stores)
PEERS = {
    "sidekiq": {"label": "Sidekiq {v} (Ruby, Debian)", "pip": None, "concurrency": "10 threads (its default)",
                "results": False},
    "celery": {"label": "Celery {v} (Redis broker + result backend)", "pip": ["celery[redis]>=5,<6"],
               "concurrency": "prefork, 2 processes (= cores, its default)", "results": True},
    "rq": {"label": "RQ {v}", "pip": ["rq"], "concurrency": "worker-pool, 2 SimpleWorkers (= cores; no fork per job)",
           "results": True},
    "arq": {"label": "arq {v}", "pip": ["arq"], "concurrency": "max_jobs 100, poll_delay 0.05 s", "results": True},
    "dramatiq": {"label": "dramatiq {v} (Redis broker)", "pip": ["dramatiq[redis]"],
                 "concurrency": "2 processes × 8 threads (its default)", "results": False},
    "taskiq": {"label": "taskiq {v} + taskiq-redis (stream broker, Redis results)", "pip": ["taskiq", "taskiq-redis"],
               "concurrency": "2 worker processes × 100 async tasks (its default)", "results": True},
    "bullmq": {"label": "BullMQ {v} (Python)", "pip": ["bullmq"], "concurrency": "64 (as Orbiter)", "results": True},
}
DIST = {"sidekiq": None, "celery": "celery", "rq": "rq", "arq": "arq", "dramatiq": "dramatiq", "taskiq": "taskiq",
        "bullmq": "bullmq"}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(d))
    return pids


def group_cpu_ms(pgid):
    """utime+stime of the group's live processes plus what their reaped children used."""
    total = 0
    for pid in group_pids(pgid):
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def group_rss_mib(pgid):
    total = 0.0
    for pid in group_pids(pgid):
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


class Peers:
    def __init__(self, bench, n, repeats, only=None):
        self.b = bench
        self.n = n
        self.repeats = repeats
        self.root = os.environ.get("ORBITER_BENCH_PEERS_DIR", "/tmp/orbiter-bench-peers")
        self.names = [p for p in PEERS if not only or p in only]
        self.versions = {}
        self.samples = {}  # (system, key) -> [values]
        self.commandstats = []  # Orbiter no-op runs: per-command calls per task, bench polling taken out

    # -- installing --------------------------------------------------------------------------

    def python(self, name):
        return os.path.join(self.root, name, "bin", "python")

    def install(self):
        ready = []
        for name in self.names:
            try:
                if PEERS[name]["pip"] is None:
                    out = subprocess.run(["ruby", "-e", "require 'sidekiq'; print Sidekiq::VERSION"], capture_output=True,
                                         text=True)
                    if out.returncode != 0:
                        raise RuntimeError("ruby-sidekiq is not installed (scripts/bench.sh --peers installs it)")
                    self.versions[name] = out.stdout.strip()
                else:
                    venv = os.path.join(self.root, name)
                    if not os.path.exists(self.python(name)):
                        subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
                    version = self.dist_version(name)
                    if not version:
                        log(f"peers: installing {' '.join(PEERS[name]['pip'])} into {venv}")
                        inst = subprocess.run([self.python(name), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                               *PEERS[name]["pip"]], capture_output=True, text=True, timeout=900)
                        if inst.returncode != 0:
                            raise RuntimeError("pip install failed: " + (inst.stderr.strip().splitlines() or ["?"])[-1])
                        version = self.dist_version(name)
                    self.versions[name] = version
                ready.append(name)
            except Exception as e:  # noqa: BLE001 - a peer that cannot be installed is reported, never faked
                self.b.notes.append(f"peer {name} not run: {e}")
                log(f"peers: {name} not run ({e})")
        self.names = ready

    def dist_version(self, name):
        out = subprocess.run([self.python(name), "-c", f"import importlib.metadata as m; print(m.version('{DIST[name]}'))"],
                             capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    # -- one peer ----------------------------------------------------------------------------

    def worker_argv(self, name, queue):
        venv_bin = os.path.join(self.root, name, "bin")
        return {
            "sidekiq": ["sidekiq", "-r", os.path.join(PEERS_DIR, "peer_sidekiq.rb"), "-q", queue, "-c", "10"],
            "celery": [f"{venv_bin}/celery", "-A", "peer_celery", "worker", "-Q", queue, "-c", "2", "--pool", "prefork",
                       "-l", "WARNING"],
            "rq": [f"{venv_bin}/rq", "worker-pool", "-u", self.b.url, "-n", "2", "-w", "rq.worker.SimpleWorker", "-q", queue],
            "arq": [f"{venv_bin}/arq", "peer_arq.WorkerSettings"],
            "dramatiq": [f"{venv_bin}/dramatiq", "peer_dramatiq", "-p", "2", "-t", "8", "-Q", queue],
            "taskiq": [f"{venv_bin}/taskiq", "worker", "peer_taskiq:broker", "-w", "2"],
            "bullmq": [self.python(name), os.path.join(PEERS_DIR, "peer_bullmq.py"), "worker", self.b.url, queue, "64"],
        }[name]

    def client_argv(self, name, queue, n, phase):
        if name == "sidekiq":
            return ["ruby", os.path.join(PEERS_DIR, "peer_sidekiq.rb"), "client", self.b.url, queue, str(n), phase]
        return [self.python(name), os.path.join(PEERS_DIR, f"peer_{name}.py"), "client", self.b.url, queue, str(n), phase]

    def env(self, queue):
        e = dict(os.environ, PEER_REDIS_URL=self.b.url, PEER_QUEUE=queue, REDIS_URL=self.b.url,
                 PYTHONPATH=PEERS_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
        e.pop("VIRTUAL_ENV", None)
        return e

    def client(self, name, queue, n, phase, worker_pgid=None):
        p = subprocess.Popen(self.client_argv(name, queue, n, phase), env=self.env(queue), cwd=PEERS_DIR,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if phase == "drain":
                line = p.stdout.readline()
                if not line.startswith("{"):
                    raise RuntimeError(f"{name} client: {line.strip() or p.stderr.read()[-400:]}")
                os.killpg(worker_pgid, signal.SIGCONT)
                p.stdin.write("go\n")
                p.stdin.flush()
            out, err = p.communicate(timeout=900)
        except BaseException:
            p.kill()
            raise
        rows = [l for l in out.splitlines() if l.startswith("{")]
        if p.returncode != 0 or not rows:
            raise RuntimeError(f"{name} client exited {p.returncode}: {err.strip()[-400:]}")
        return json.loads(rows[-1])

    def redis_total(self):
        for line in self.b.redis("INFO", "stats").splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        return 0

    def redis_cpu_ms(self):
        v = 0.0
        for line in self.b.redis("INFO", "cpu").splitlines():
            if line.startswith(("used_cpu_sys:", "used_cpu_user:")):
                v += float(line.split(":")[1]) * 1000
        return v

    def add(self, system, key, value):
        if value is not None and value == value:
            self.samples.setdefault((system, key), []).append(value)

    def run_peer(self, name, rep):
        queue = f"peer-{name}-{rep}"
        wlog = open(os.path.join(self.b.logdir, f"peer-{name}-{rep}.log"), "w")
        worker = subprocess.Popen(self.worker_argv(name, queue), env=self.env(queue), cwd=PEERS_DIR, stdout=wlog,
                                  stderr=wlog, start_new_session=True)
        pgid = worker.pid
        try:
            self.client(name, queue, min(500, self.n), "e2e")  # ready and warm
            cpu0, cmd0, rcpu0 = group_cpu_ms(pgid), self.redis_total(), self.redis_cpu_ms()
            r = self.client(name, queue, self.n, "e2e")
            cpu1, cmd1, rcpu1 = group_cpu_ms(pgid), self.redis_total(), self.redis_cpu_ms()
            self.add(name, "e2e_tasks_per_s", self.n / r["wall_s"])
            self.add(name, "e2e_enqueue_per_s", self.n / r["enqueue_s"])
            self.add(name, "worker_cpu_ms_per_task", (cpu1 - cpu0) / self.n)
            self.add(name, "worker_rss_mib", group_rss_mib(pgid))
            self.add(name, "redis_commands_per_task", (cmd1 - cmd0) / self.n)
            self.add(name, "redis_cpu_ms_per_task", (rcpu1 - rcpu0) / self.n)
            os.killpg(pgid, signal.SIGSTOP)
            try:
                d = self.client(name, queue, self.n, "drain", worker_pgid=pgid)
            finally:
                os.killpg(pgid, signal.SIGCONT)
            self.add(name, "enqueue_per_s", self.n / d["enqueue_s"])
            self.add(name, "drain_tasks_per_s", self.n / d["drain_s"])
        finally:
            self.stop_group(worker)
            wlog.close()

    @staticmethod
    def stop_group(worker):
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        except ProcessLookupError:
            pass
        # Children that outlived their parent (forked job processes) go with the group.
        for pid in group_pids(worker.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    # -- Orbiter, same run -------------------------------------------------------------------

    def run_orbiter(self, rep):
        queue = f"peer-orbiter-{rep}"
        self.b._workers_expected[queue] = 1
        worker = self.b.start_worker(queue, 64)
        try:
            pid = str(worker.pid)
            common = ["throughput", "--queue", queue, "--n", str(self.n), "--inflight", "256", "--worker-pids", pid]
            cmd0, rcpu0 = self.redis_total(), self.redis_cpu_ms()
            single = self.b.bench(*common)[-1]
            rcpu1 = self.redis_cpu_ms()
            self.add("orbiter", "e2e_tasks_per_s", single["tasks_per_s"])
            self.add("orbiter", "e2e_enqueue_per_s", single["submits_per_s"])
            self.add("orbiter", "worker_cpu_ms_per_task", single["worker_cpu_ms_per_task"])
            self.add("orbiter", "worker_rss_mib", self.b.status_mib(worker.pid, "VmRSS"))
            self.add("orbiter", "redis_commands_per_task", single["redis_commands_per_task_excl_bench"])
            self.add("orbiter", "redis_cpu_ms_per_task", (rcpu1 - rcpu0) / (self.n + min(200, self.n)))
            self.add("orbiter", "client_cpu_ms_per_task", single.get("client_cpu_ms_per_task"))
            self.commandstats.append(single["commands_per_task_excl_bench"])
            bulk = self.b.bench(*common, "--bulk", "--warmup", "0")[-1]
            self.add("orbiter_bulk", "e2e_tasks_per_s", bulk["tasks_per_s"])
            self.add("orbiter_bulk", "e2e_enqueue_per_s", bulk["submits_per_s"])
            self.add("orbiter_bulk", "worker_cpu_ms_per_task", bulk["worker_cpu_ms_per_task"])
            self.add("orbiter_bulk", "redis_commands_per_task", bulk["redis_commands_per_task_excl_bench"])
            paused = self.b.bench(*common, "--bulk", "--pause-workers", "--warmup", "0")[-1]
            for system in ("orbiter", "orbiter_bulk"):
                self.add(system, "enqueue_per_s", paused["submits_per_s"])
                self.add(system, "drain_tasks_per_s", paused["drain_tasks_per_s"])
            del cmd0
        finally:
            self.b.stop(worker)

    # -- all ---------------------------------------------------------------------------------

    def run(self):
        self.install()
        systems = ["orbiter", *self.names]
        for rep in range(self.repeats):
            # Interleaved, the order turned each repeat, so drift on a shared machine spreads over all.
            k = rep % len(systems)
            for system in systems[k:] + systems[:k]:
                t0 = time.time()
                try:
                    self.run_orbiter(rep) if system == "orbiter" else self.run_peer(system, rep)
                    log(f"peers {rep + 1}/{self.repeats} {system}: "
                        f"{self.samples.get((system, 'e2e_tasks_per_s'), [float('nan')])[-1]:,.0f} jobs/s end to end "
                        f"({time.time() - t0:.0f} s)")
                except Exception as e:  # noqa: BLE001
                    self.b.notes.append(f"peer {system} repeat {rep + 1} failed: {e}")
                    log(f"peers: {system} repeat {rep + 1} failed: {e}")

    def med(self, system, key):
        v = self.samples.get((system, key))
        return statistics.median(v) if v else None

    def rows(self):
        out = []
        for system in ["orbiter", "orbiter_bulk", *self.names]:
            if system == "orbiter":
                label, conc, results = "Orbiter (this build), submits one call each", "1 worker × 64", True
            elif system == "orbiter_bulk":
                label, conc, results = "Orbiter, bulk submit (distributedMany = submit --batch)", "1 worker × 64", True
            else:
                label = PEERS[system]["label"].format(v=self.versions.get(system, ""))
                conc, results = PEERS[system]["concurrency"], PEERS[system]["results"]
            row = {"system": system, "label": label, "concurrency": conc, "stores_results": results}
            for key in ("enqueue_per_s", "drain_tasks_per_s", "e2e_tasks_per_s", "e2e_enqueue_per_s",
                        "worker_cpu_ms_per_task", "worker_rss_mib", "redis_commands_per_task", "redis_cpu_ms_per_task",
                        "client_cpu_ms_per_task"):
                v = self.samples.get((system, key))
                row[key] = round(statistics.median(v), 4) if v else None
                row[key + "_range"] = [round(min(v), 4), round(max(v), 4)] if v else None
            out.append(row)
        return out

    def best_peer(self):
        best = None
        for name in self.names:
            v = self.med(name, "e2e_tasks_per_s")
            if v and (best is None or v > best[1]):
                best = (name, v)
        return best

    def commandstats_median(self):
        keys = sorted({k for c in self.commandstats for k in c})
        return {k: round(statistics.median([c.get(k, 0) for c in self.commandstats]), 3) for k in keys}

    def table(self, rows):
        def f(x, digits=0):
            if x is None:
                return "—"
            return f"{x:,.{digits}f}"

        lines = ["| system | enqueue /s | drain /s | end to end /s | worker CPU ms/job | worker RSS MiB | Redis cmds/job "
                 "| Redis CPU ms/job | results | worker concurrency |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['label']} | {f(r['enqueue_per_s'])} | {f(r['drain_tasks_per_s'])} | "
                         f"**{f(r['e2e_tasks_per_s'])}** | {f(r['worker_cpu_ms_per_task'], 3)} | {f(r['worker_rss_mib'], 1)} | "
                         f"{f(r['redis_commands_per_task'], 1)} | {f(r['redis_cpu_ms_per_task'], 3)} | "
                         f"{'yes' if r['stores_results'] else 'no'} | {r['concurrency']} |")
        return "\n".join(lines)
