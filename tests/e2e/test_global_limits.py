"""Limits that hold across workers: a processor instance's `concurrency:` and `rate:` are
enforced in Redis as jobs are fetched (lua/step.lua, op "M"), so four workers together stay
within them; BullMQ's own queue-level limits (meta.concurrency, meta.max/duration) hold too; the
slots of a worker killed with -9 come back through stalled-job recovery. Checked from the jobs'
own timestamps (processedOn, finishedOn), as Redis recorded them."""
import signal
import time
import unittest

import harness
from redis_harness import DistributedTestCase

CAPPED = """\
version: 1
name: capped
processors:
  nap: {use: sleep, with: {duration: 60ms}, concurrency: 2}
flow:
  batch: nap
  items: .items
"""

RATED = """\
version: 1
name: rated
processors:
  tick: {use: set, with: {values: {ticked: true}}, rate: 10/1s}
flow:
  batch: tick
  items: .items
"""

PLAIN = """\
version: 1
name: plain
processors:
  nap: {use: sleep, with: {duration: 60ms}}
flow:
  batch: nap
  items: .items
"""

HELD = """\
version: 1
name: held
processors:
  nap: {use: sleep, with: {duration: %s}, concurrency: 1}
flow:
  batch: nap
  items: .items
"""


def spans(c, queue):
    """(processedOn, finishedOn) of every completed job of `queue`, in ms."""
    out = []
    for job_id in c("ZRANGE", f"bull:{queue}:completed", 0, -1):
        started, ended = c("HMGET", f"bull:{queue}:{job_id}", "processedOn", "finishedOn")
        out.append((int(started), int(ended)))
    return out


# processedOn and finishedOn are the worker's clock as it built the call that took or finished
# the job, not the moment Redis ran it: a fetch built just before another worker's finish may run
# just after it. Intervals are cut by this much at their start (the steps take 60 ms; a broken
# limit would still overlap by far more).
CLOCK_SLACK_MS = 20


def most_at_once(intervals):
    """The largest number of intervals open at one instant (an end before a start at a tie),
    each counted from CLOCK_SLACK_MS after its start."""
    intervals = [(s + CLOCK_SLACK_MS, e) for s, e in intervals if e > s + CLOCK_SLACK_MS]
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda p: (p[0], p[1]))
    now = best = 0
    for _, d in points:
        now += d
        best = max(best, now)
    return best


def most_in_window(starts, window_ms):
    """The largest number of starts in any half-open window [t, t + window_ms)."""
    starts = sorted(starts)
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while starts[lo] <= t - window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class GlobalLimits(DistributedTestCase):
    def test_concurrency_holds_across_four_workers(self):
        flow = self.write_tmp("capped.yaml", CAPPED)
        for _ in range(4):
            self.start_worker(flow, args=("-c", "8"))
        r = self.run_redis(flow, "-c", "--set", ".items=" + str(list(range(40))), timeout=60)
        self.assertSucceeded(r)
        jobs = spans(self.redis.client, "capped.nap")
        self.assertEqual(len(jobs), 40)
        self.assertEqual(most_at_once(jobs), 2, "concurrency: 2 over four workers at -c 8")

    def test_without_a_limit_the_same_workers_run_many_at_once(self):
        # the check above can fail: without concurrency: the four workers overlap far beyond 2
        flow = self.write_tmp("plain.yaml", PLAIN)
        for _ in range(4):
            self.start_worker(flow, args=("-c", "8"))
        self.assertSucceeded(self.run_redis(flow, "-c", "--set", ".items=" + str(list(range(40))), timeout=60))
        self.assertGreater(most_at_once(spans(self.redis.client, "plain.nap")), 4)

    def test_rate_holds_across_four_workers(self):
        flow = self.write_tmp("rated.yaml", RATED)
        for _ in range(4):
            self.start_worker(flow, args=("-c", "8"))
        started = time.monotonic()
        self.assertSucceeded(self.run_redis(flow, "-c", "--set", ".items=" + str(list(range(30))), timeout=60))
        took = time.monotonic() - started
        starts = [s for s, _ in spans(self.redis.client, "rated.tick")]
        self.assertEqual(len(starts), 30)
        # processedOn is the fetching worker's clock; Redis's clock decides, so allow 1 of slack
        self.assertLessEqual(most_in_window(starts, 1000 - 20), 10, "rate: 10/1s over four workers")
        self.assertGreaterEqual(took, 1.9, "30 starts at 10 per second need three windows")
        self.assertLess(took, 10, "a worker held back by the rate did not come back when the window opened")

    def test_bullmq_global_concurrency_and_rate_limit_hold_on_am2z_queues(self):
        flow = self.write_tmp("plain.yaml", PLAIN)
        c = self.redis.client
        # Queue.setGlobalConcurrency(1) and Queue.setGlobalRateLimit(5, 1000) write these fields
        c("HSET", "bull:plain.nap:meta", "concurrency", "1")
        for _ in range(2):
            self.start_worker(flow, args=("-c", "8"))
        self.assertSucceeded(self.run_redis(flow, "-c", "--set", ".items=" + str(list(range(10))), timeout=60))
        self.assertEqual(most_at_once(spans(c, "plain.nap")), 1)
        c("FLUSHALL")
        c("HSET", "bull:plain.nap:meta", "max", "5", "duration", "1000")
        started = time.monotonic()
        self.assertSucceeded(self.run_redis(flow, "-c", "--set", ".items=" + str(list(range(15))), timeout=60))
        self.assertGreaterEqual(time.monotonic() - started, 1.9, "15 starts at 5 per second need three windows")

    def test_a_killed_worker_s_slot_comes_back_through_stalled_recovery(self):
        flow = self.write_tmp("held.yaml", HELD % "2s")
        c = self.redis.client
        doomed = self.start_worker(flow, args=("--lock-duration", "1s"))
        submit = harness.start("run", flow, "--redis", self.redis.url, "-c", "--set", ".items=[1, 2, 3]")
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:held.nap:active") == 1, 10))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        # the one slot is the dead worker's until stalled-job recovery frees it
        self.start_worker(flow, args=("--lock-duration", "1s", "--stalled-interval", "300ms"))
        self.assertSucceeded(harness.finish(submit, timeout=30))
        self.assertEqual(most_at_once(spans(c, "held.nap")), 1)


if __name__ == "__main__":
    unittest.main()
