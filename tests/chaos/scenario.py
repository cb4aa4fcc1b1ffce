"""What every chain scenario does around its fault: a private Redis, the chain flow, two
workers at -c 4 with short locks (so recoveries take seconds, not minutes), runs submitted in the
background, then a settle phase and the report with its assertions."""

import os
import random
import time
import unittest

import cluster
import workload

# Short locks and stalled checks: a dead worker's jobs come back within about 4 s.
CONCURRENCY = 4
LOCK = ("--lock-duration", "2s", "--stalled-interval", "1s")
# A step that stalls again after its one recovery (--max-stalled 1) fails its run: an honest end.
STALLED = r"job stalled more than allowable limit"
# A worker that cannot reach Redis, or whose calls Redis refuses, backs off: it may log a few
# lines a second, not hundreds (its CPU and Redis are spent on nothing else).
MAX_LOG_LINES_PER_S = 50
QUIET_FOR = 6.0  # lock + 2 stalled intervals + margin: nothing can be recovered later than that


class ChainScenario(unittest.TestCase):
    persistent = False  # appendonly yes for the Redis restart scenario
    worker_args = ("-c", str(CONCURRENCY), *LOCK)
    step_sleep = "0.2"  # seconds each step takes: long enough for faults to find steps in flight

    def setUp(self):
        self.tmp = cluster.scratch_dir(self, "am2z-chaos-")
        self.seed = int(os.environ.get("AM2Z_CHAOS_SEED") or random.randrange(1 << 30))
        self.rng = random.Random(self.seed)
        self.redis = cluster.Redis(persistent=self.persistent)
        self.addCleanup(self.redis.stop)
        self.chain = workload.Chain(self.tmp, self.step_sleep)
        self.workers = cluster.Workers(self.tmp, self.redis.url, [self.chain.flow], 2, self.worker_args)
        self.addCleanup(self.workers.stop)
        self.started = time.monotonic()

    @property
    def client(self):
        return self.redis.client

    def outcomes(self):
        return self.chain.count_outcomes(self.client)

    def busy(self):
        """True while jobs wait or run: a fault now hits work in progress."""
        return cluster.pending_count(self.client, workload.QUEUES) > 0

    def settle_and_check(self, scenario, faults, in_flight, settle_budget=90.0, extra=None, allowed=(STALLED,)):
        """Waits for every run to end (or the system to go quiet), then reports and asserts."""
        self.workers.check_alive()
        budget = settle_budget * (4 if workload.FULL else 1)
        self.chain.wait_settled(self.client, len(self.chain.runs), QUIET_FOR, time.monotonic() + budget)
        self.workers.check_alive()
        flood, line = self.workers.log_flood()
        extra = {"seed": self.seed, "worker_log_lines_per_s": flood, **(extra or {})}
        if flood > MAX_LOG_LINES_PER_S:
            extra["log_flood"] = line
        report = self.chain.report(self.client, scenario, faults, in_flight, time.monotonic() - self.started,
                                   self.workers, extra, allowed)
        workload.publish(report)
        workload.check(self, report)
        self.assertLessEqual(report["most_steps_at_once_per_worker"], CONCURRENCY,
                             f"a worker at -c {CONCURRENCY} ran more steps at once")
        self.assertLessEqual(flood, MAX_LOG_LINES_PER_S, f"a worker logged {flood} lines in one second: {line}")
        return report
