"""taskiq with taskiq-redis (RedisStreamBroker: acked stream; Redis result backend): the no-op task and
the bench client (harness.py). Worker: `taskiq worker peer_taskiq:broker`."""
import asyncio
import os

from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

import harness

URL = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379")
QUEUE = os.environ.get("PEER_QUEUE", "taskiq")
broker = RedisStreamBroker(url=URL, queue_name=QUEUE).with_result_backend(RedisAsyncResultBackend(redis_url=URL))


@broker.task(task_name="noop")
async def noop(i):
    return None


class Peer:
    def __init__(self, url, queue):
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(broker.startup())
        from redis.asyncio import Redis
        self.redis = Redis.from_url(url)
        self.queue = queue

    def submit(self, n, bulk):
        # No bulk kick in taskiq: 256 kiq() calls in flight.
        async def run():
            nxt = iter(range(n))

            async def lane():
                for i in nxt:
                    await noop.kiq(i)
            await asyncio.gather(*(lane() for _ in range(min(256, n))))
        self.loop.run_until_complete(run())

    def done(self):
        # Acked after the result is saved (ack_type when_saved): done = delivered - pending.
        async def count():
            try:
                groups = await self.redis.xinfo_groups(self.queue)
            except Exception:  # noqa: BLE001 - no stream yet
                return 0
            return sum((g.get("entries-read") or 0) - g["pending"] for g in groups)
        return self.loop.run_until_complete(count())


if __name__ == "__main__":
    harness.main(Peer)
