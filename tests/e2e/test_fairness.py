"""Fairness between sessions: a session arriving behind another's backlog is served next, not
after it (start-time fair queuing over sessions on each queue's prioritized set)."""
import json
import unittest

import harness
from redis_harness import DistributedTestCase

WORK = """\
version: 1
name: work
processors:
  step: {use: sleep, with: {duration: 20ms}}
flow: step
"""


class FairnessTest(DistributedTestCase):
    def test_a_small_session_is_not_stuck_behind_a_big_one(self):
        flow = self.write_tmp("work.yaml", WORK)
        for _ in range(150):  # 150 queued steps (3 s of work at -c 1) in session big
            self.assertExit(self.run_redis(flow, "--detach", "-c", "--session", "big"), 0)
        self.start_worker(flow, args=("-c", "1"))
        small = [harness.start("run", flow, "--redis", self.redis.url, "--session", "small", "-c") for _ in range(3)]
        for proc in small:
            self.assertSucceeded(harness.finish(proc, timeout=30))
        # small's three runs ended while most of big's backlog was still queued
        stats = json.loads(harness.run("session", "stats", "big", "--redis", self.redis.url, "--json").stdout)
        queued = sum(q["waiting"] + q["prioritized"] for q in stats["queues"])
        self.assertGreater(queued, 75, f"small waited behind big's backlog: only {queued} of 150 left")


if __name__ == "__main__":
    unittest.main()
