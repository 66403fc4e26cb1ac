"""arq: the no-op job, its WorkerSettings and the bench client (harness.py). Worker: `arq peer_arq.WorkerSettings`."""
import asyncio
import os

from arq import create_pool
from arq.connections import RedisSettings

import harness


async def noop(ctx, i):
    return None


class WorkerSettings:
    functions = [noop]
    redis_settings = RedisSettings.from_dsn(os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379"))
    queue_name = os.environ.get("PEER_QUEUE", "arq:queue")
    # See bench/README.md: arq polls its queue; defaults (10 jobs, 0.5 s) cap it near 200 jobs/s.
    max_jobs = int(os.environ.get("PEER_CONCURRENCY", "100"))
    poll_delay = 0.05


class Peer:
    def __init__(self, url, queue):
        self.loop = asyncio.new_event_loop()
        self.queue = queue
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(url), default_queue_name=queue))

    def submit(self, n, bulk):
        # No bulk enqueue in arq: 256 enqueue_job calls in flight (one client, as Orbiter's).
        async def run():
            nxt = iter(range(n))

            async def lane():
                for i in nxt:
                    await self.pool.enqueue_job("noop", i)
            await asyncio.gather(*(lane() for _ in range(min(256, n))))
        self.loop.run_until_complete(run())
        self.sent += n

    sent = 0

    def done(self):
        # A job leaves the queue's sorted set when it has finished (its result stays under arq:result:).
        return self.sent - self.loop.run_until_complete(self.pool.zcard(self.queue))


if __name__ == "__main__":
    harness.main(Peer)
