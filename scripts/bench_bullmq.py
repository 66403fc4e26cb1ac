#!/usr/bin/env python3
"""BullMQ's no-op job benchmark, shaped like Orbiter's: one client process submitting with many
adds in flight, one worker process at the given concurrency, same Redis. Run by bench_run.py with
the venv's python (pip install bullmq).

  bench_bullmq.py worker URL QUEUE CONCURRENCY     runs until SIGTERM
  bench_bullmq.py client URL QUEUE N INFLIGHT      prints {"tasks": N, "wall_s": ..., "tasks_per_s": ...}
"""
import asyncio
import json
import signal
import sys
import time

from bullmq import Queue, Worker


async def worker(url, queue, concurrency):
    async def process(job, token):
        return None

    w = Worker(queue, process, {"connection": url, "concurrency": concurrency})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await w.close()


async def client(url, name, n, inflight):
    q = Queue(name, {"connection": url})
    next_index = 0

    async def submitter():
        nonlocal next_index
        while next_index < n:
            i = next_index
            next_index += 1
            await q.add("noop", {"i": i})

    t0 = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(min(inflight, n))))
    submitted = time.perf_counter()
    while True:
        counts = await q.getJobCounts("completed", "failed")
        if counts.get("completed", 0) + counts.get("failed", 0) >= n:
            break
        await asyncio.sleep(0.002)
    wall = time.perf_counter() - t0
    await q.close()
    print(json.dumps({"tasks": n, "wall_s": wall, "submit_s": submitted - t0, "tasks_per_s": n / wall,
                      "failed": counts.get("failed", 0)}))


if __name__ == "__main__":
    mode, url, queue = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "worker":
        asyncio.run(worker(url, queue, int(sys.argv[4])))
    else:
        asyncio.run(client(url, queue, int(sys.argv[4]), int(sys.argv[5])))
