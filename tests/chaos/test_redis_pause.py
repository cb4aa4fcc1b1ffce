"""Chaos: Redis frozen with SIGSTOP for longer than the workers' lock duration, then resumed with
SIGCONT. Every lock has expired by then, so the steps in flight at the pause run again; their
first results must not be recorded twice, and every run must still end exactly once."""

import time
import unittest

import cluster
import scenario
import workload

PAUSE = (3.0, 4.5)  # seconds; the lock is 2 s


class RedisPause(scenario.ChainScenario):
    def test_sigstop_longer_than_the_lock_then_sigcont(self):
        runs = workload.size(quick=150, full=1000)
        pauses = 8 if workload.FULL else 2
        self.chain.submit(self.redis.url, runs)
        in_flight = 0
        for n in range(pauses):
            target = runs * (n + 1) // (pauses + 1)
            while self.outcomes() < target and time.monotonic() < self.started + 300:
                time.sleep(0.05)
            # Freeze writes for the instant it takes to read which steps are in flight, then the
            # whole server; expiry catches up at SIGCONT.
            self.client("CLIENT", "PAUSE", "60000", "WRITE")
            in_flight += len(cluster.active_jobs(self.client, workload.QUEUES))
            self.redis.pause()
            time.sleep(self.rng.uniform(*PAUSE))
            self.redis.resume()
            self.client("CLIENT", "UNPAUSE")
        self.settle_and_check("redis_sigstop", pauses, in_flight)


if __name__ == "__main__":
    unittest.main()
