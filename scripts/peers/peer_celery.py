"""Celery 5 (Redis broker and result backend): the no-op task and the bench client (harness.py).
Worker: `celery -A peer_celery worker` (see bench_peers.py)."""
import os

from celery import Celery

import harness

URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379")
app = Celery("peer_celery", broker=URL, backend=URL)
app.conf.update(task_default_queue=os.environ.get("PEER_QUEUE", "celery"), worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)


@app.task(name="noop")
def noop(i):
    return None


class Peer:
    def __init__(self, url, queue):
        self.results = []

    def submit(self, n, bulk):
        # Celery has no bulk send: a group() publishes one message per task.
        out = [None] * n

        def one(i):
            out[i] = noop.delay(i)
        harness.threaded(n, one)
        self.results.extend(out)

    def done(self):
        return 0

    def wait(self, n, base):
        # Results are read from the backend's keys, oldest first: join_native's pub/sub consumer is
        # per thread, and these results were asked for from 16 threads.
        import time
        from redis import Redis
        r = Redis.from_url(URL)
        pending = [res.id for res in self.results[-n:]]
        deadline = time.time() + 600
        while pending:
            head = pending[:500]
            found = r.mget([f"celery-task-meta-{i}" for i in head])
            pending = [i for i, v in zip(head, found) if v is None] + pending[500:]
            if all(v is None for v in found):
                if time.time() > deadline:
                    raise SystemExit(f"timed out with {len(pending)} results missing")
                time.sleep(0.005)

if __name__ == "__main__":
    harness.main(Peer)
