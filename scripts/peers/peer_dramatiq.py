"""dramatiq (Redis broker): the no-op actor and the bench client (harness.py). Worker: `dramatiq peer_dramatiq`."""
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import harness

QUEUE = os.environ.get("PEER_QUEUE", "default")
broker = RedisBroker(url=os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379"))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE)
def noop(i):
    return None


class Peer:
    def __init__(self, url, queue):
        self.redis = broker.client
        self.queue = queue

    def submit(self, n, bulk):
        # dramatiq has no bulk enqueue (group() sends one message each).
        harness.threaded(n, noop.send)
        self.sent += n

    def done(self):
        # Messages are removed from "<ns>:<queue>.msgs" when acked: done = sent - still there.
        return self.sent - self.redis.hlen(f"dramatiq:{self.queue}.msgs")

    sent = 0


if __name__ == "__main__":
    harness.main(Peer)
