"""Chaos: Redis hits maxmemory (noeviction) mid-run, for longer than the lock duration, then gets
room again. Submissions during the squeeze may be refused with a clear error (counted as
refused, not lost); every accepted run must end exactly once, completed with the exact state or
failed with a reason."""

import time
import unittest

import cluster
import scenario
import workload

SQUEEZE = 4.0  # seconds at maxmemory; the lock is 2 s
HEADROOM = 64 * 1024  # bytes above the used memory: a run or two fit, then writes are refused
OOM = r"OOM|maxmemory|memory"
SUBMITTED_IN_SQUEEZE = 20  # runs submitted while Redis is full: refused (with the reason) or accepted


class RedisMaxmemory(scenario.ChainScenario):
    def test_maxmemory_with_noeviction_then_room_again(self):
        runs = workload.size(quick=150, full=1000)
        squeezes = 6 if workload.FULL else 1
        in_flight = set()
        for _ in range(squeezes):
            # A batch of runs, half done when the squeeze starts: the rest is in flight.
            self.chain.submit(self.redis.url, runs // squeezes)
            half = len(self.chain.runs) - runs // squeezes // 2
            while self.outcomes() < half and time.monotonic() < self.started + 300:
                time.sleep(0.05)
            used = int(self.redis.info("memory")["used_memory"])
            self.client("CONFIG", "SET", "maxmemory-policy", "noeviction")
            self.client("CONFIG", "SET", "maxmemory", str(used + HEADROOM))
            refusable = self.chain.submit_in_background(self.redis.url, SUBMITTED_IN_SQUEEZE)
            until = time.monotonic() + SQUEEZE
            # Steps in flight: every job seen active while writes may be refused (a refused
            # finish keeps its job active until its lock expires, so sampling finds it).
            while time.monotonic() < until:
                in_flight.update(cluster.active_jobs(self.client, workload.QUEUES))
                time.sleep(0.05)
            self.client("CONFIG", "SET", "maxmemory", "0")
            refusable.join()
        self.assertTrue(all(code not in (0, 134, 139) and ("OOM" in why or "memory" in why)
                            for _, code, why in self.chain.refused),
                        f"a refusal without a clear reason: {self.chain.refused[:5]}")
        self.settle_and_check("redis_maxmemory", squeezes, len(in_flight), allowed=(scenario.STALLED, OOM))


if __name__ == "__main__":
    unittest.main()
