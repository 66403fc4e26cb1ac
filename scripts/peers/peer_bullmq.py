"""BullMQ (Python): the no-op worker and the bench client (harness.py).

  peer_bullmq.py worker URL QUEUE CONCURRENCY     runs until SIGTERM
"""
import asyncio
import signal
import sys

import harness


async def worker(url, queue, concurrency):
    from bullmq import Worker

    async def process(job, token):
        return None

    w = Worker(queue, process, {"connection": url, "concurrency": concurrency})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await w.close()


class Peer:
    def __init__(self, url, queue):
        from bullmq import Queue
        self.loop = asyncio.new_event_loop()
        self.q = Queue(queue, {"connection": url})

    def submit(self, n, bulk):
        async def run():
            if bulk:
                for start in range(0, n, 1000):
                    await self.q.addBulk([{"name": "noop", "data": {"i": i}} for i in range(start, min(n, start + 1000))])
                return
            nxt = iter(range(n))

            async def lane():
                for i in nxt:
                    await self.q.add("noop", {"i": i})
            await asyncio.gather(*(lane() for _ in range(min(256, n))))
        self.loop.run_until_complete(run())

    def done(self):
        counts = self.loop.run_until_complete(self.q.getJobCounts("completed", "failed"))
        return counts.get("completed", 0) + counts.get("failed", 0)


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        asyncio.run(worker(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        harness.main(Peer)
