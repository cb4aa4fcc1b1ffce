"""Fairness between sessions: a session arriving behind another's backlog is served next, not
after it (start-time fair queuing over sessions on each queue's prioritized set)."""
import json
import os
import time
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


# Each run appends its .i to a file: the order the worker ran them in.
ORDER = """\
version: 1
name: order
processors:
  note:
    use: exec
    with:
      argv: [sh, -c, 'cat > /dev/null; echo "$I" >> "$LOG"; echo "{}"']
      env: {I: {path: .i}, LOG: {path: .log}}
flow: note
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

    def test_a_named_session_is_not_stuck_behind_runs_without_one(self):
        # Runs without a named session share one FIFO lane (BullMQ's wait list); named sessions'
        # steps are served alternately with it, so neither starves the other.
        flow = self.write_tmp("work.yaml", WORK)
        for _ in range(150):
            self.assertExit(self.run_redis(flow, "--detach", "-c"), 0)
        self.start_worker(flow, args=("-c", "1"))
        small = [harness.start("run", flow, "--redis", self.redis.url, "--session", "small", "-c") for _ in range(3)]
        for proc in small:
            self.assertSucceeded(harness.finish(proc, timeout=30))
        queued = self.redis.client("LLEN", "bull:work.step:wait")
        self.assertGreater(queued, 75, f"small waited behind the unnamed backlog: only {queued} of 150 left")

    def test_each_session_stays_in_submission_order(self):
        log = os.path.join(self.tmp, "order.log")
        flow = self.write_tmp("order.yaml", ORDER)
        for i in range(20):  # two sessions interleaved, 10 runs each
            self.assertExit(self.run_redis(flow, "--detach", "-c", "--session", f"s{i % 2}", "--set", f".i={i}",
                                           "--set", f".log={log}"), 0)
        self.start_worker(flow, args=("-c", "1"))
        deadline = time.time() + 30
        seen = []
        while len(seen) < 20 and time.time() < deadline:
            time.sleep(0.1)
            with open(log) if os.path.exists(log) else open(os.devnull) as f:
                seen = [int(x) for x in f.read().split()]
        self.assertEqual([i for i in seen if i % 2 == 0], list(range(0, 20, 2)))
        self.assertEqual([i for i in seen if i % 2 == 1], list(range(1, 20, 2)))

if __name__ == "__main__":
    unittest.main()
