"""RQ: the no-op job and the bench client (harness.py). Worker: `rq worker-pool` (see bench_peers.py)."""
import harness


def noop(i):
    return None


class Peer:
    def __init__(self, url, queue):
        from redis import Redis
        from rq import Queue
        self.redis = Redis.from_url(url)
        self.q = Queue(queue, connection=self.redis)

    def submit(self, n, bulk):
        import peer_rq  # the worker imports the job by module name, not __main__
        if not bulk:
            harness.threaded(n, lambda i: self.q.enqueue(peer_rq.noop, i))
            return
        from rq import Queue
        for start in range(0, n, 1000):
            with self.redis.pipeline() as pipe:
                self.q.enqueue_many([Queue.prepare_data(peer_rq.noop, (i,)) for i in range(start, min(n, start + 1000))], pipeline=pipe)
                pipe.execute()

    def done(self):
        # Finished and failed registries (results are kept 500 s by default).
        return self.redis.zcard(f"rq:finished:{self.q.name}") + self.redis.zcard(f"rq:failed:{self.q.name}")


if __name__ == "__main__":
    harness.main(Peer)
