"""Chaos: Redis with an append-only file (fsync always) is shut down and started again on the same
port while runs of the 5-step chain are in progress. The workers keep their finished steps and
retry; no run may be lost, end twice or end with a wrong (say, wiped) state."""

import time
import unittest

import cluster
import scenario
import workload


class RedisRestart(scenario.ChainScenario):
    persistent = True

    def test_shutdown_and_restart_mid_run(self):
        runs = workload.size(quick=150, full=1000)
        restarts = 2 if workload.FULL else 1
        self.chain.submit(self.redis.url, runs)
        in_flight = 0
        for n in range(restarts):
            target = runs * (n + 1) // (restarts + 1)
            while self.outcomes() < target and time.monotonic() < self.started + 300:
                time.sleep(0.05)
            # Freeze writes for the instant it takes to read which steps are in flight.
            self.client("CLIENT", "PAUSE", "5000", "WRITE")
            in_flight += len(cluster.active_jobs(self.client, workload.QUEUES))
            self.redis.shutdown_and_restart(down_for=self.rng.uniform(0.5, 1.5))
        self.settle_and_check("redis_restart", restarts, in_flight)


if __name__ == "__main__":
    unittest.main()
