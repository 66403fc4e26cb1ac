"""The client half every Python peer shares (run by scripts/bench_peers.py with the peer's venv).

  peer_X.py client URL QUEUE N e2e     enqueue N no-op jobs one call each while the worker runs, wait
                                       until all are done; prints {"enqueue_s", "wall_s"}
  peer_X.py client URL QUEUE N drain   (the worker is stopped) enqueue N, the peer's bulk call where it
                                       has one; prints {"enqueued": ...}; waits for a line on stdin (the
                                       worker has been continued), then times until all are done;
                                       prints {"enqueue_s", "drain_s"}

A peer module gives `Peer(url, queue)` with submit(n, bulk) (blocking, returns when all are
enqueued), done() (jobs of this queue finished so far, from the peer's own Redis structures), and
optionally wait(n, base) where counting is not how that peer's users wait (Celery: results).
"""
import json
import sys
import threading
import time

# A synchronous client enqueues from this many threads at once (as a web app's request threads
# would); the asynchronous ones keep 256 calls in flight, as Orbiter's bench client does.
THREADS = 16


def threaded(n, submit_one, threads=THREADS):
    """Calls submit_one(i) for i in 0..<n from `threads` threads, each taking the next index."""
    lock = threading.Lock()
    nxt = iter(range(n))
    errors = []

    def lane():
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            try:
                submit_one(i)
            except Exception as e:  # noqa: BLE001 - surfaced below
                errors.append(e)
                return
    ts = [threading.Thread(target=lane) for _ in range(min(threads, n))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def _wait(peer, n, base, timeout=600, stall=60):
    if hasattr(peer, "wait"):
        return peer.wait(n, base)
    deadline = time.time() + timeout
    last, moved = -1, time.time()
    while (done := peer.done() - base) < n:
        now = time.time()
        if done != last:
            last, moved = done, now
        elif now - moved > stall:
            # taskiq-redis 1.x left two of 20,000 jobs pending for good here: say so, do not wait 10 minutes.
            raise SystemExit(f"stalled: {done} of {n} jobs done, none for {stall} s")
        if now > deadline:
            raise SystemExit(f"timed out: {done} of {n} jobs done after {timeout} s")
        time.sleep(0.005)


def main(make_peer):
    mode, url, queue = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode != "client":
        raise SystemExit(f"unknown mode {mode}")
    n, phase = int(sys.argv[4]), sys.argv[5]
    peer = make_peer(url, queue)
    base = peer.done()
    t0 = time.perf_counter()
    peer.submit(n, bulk=(phase == "drain"))
    t1 = time.perf_counter()
    if phase == "e2e":
        _wait(peer, n, base)
        print(json.dumps({"enqueue_s": t1 - t0, "wall_s": time.perf_counter() - t0}), flush=True)
        return
    print(json.dumps({"enqueued": n}), flush=True)
    sys.stdin.readline()
    t2 = time.perf_counter()
    _wait(peer, n, base)
    print(json.dumps({"enqueue_s": t1 - t0, "drain_s": time.perf_counter() - t2}), flush=True)
