"""No silent hangs: `run --redis` says at once when no live worker serves the flow's queues, and
--require-worker refuses to submit; the heartbeats it reads; what --detach prints."""
import json
import time
import unittest

import harness
from redis_harness import DistributedTestCase

CHAIN = """\
version: 1
name: {name}
processors:
  a: {{use: set, with: {{values: {{.a: 1}}}}}}
  b: {{use: set, with: {{values: {{.b: 2}}}}}}
flow: {{chain: [a, {{parallel: [b]}}]}}
"""


class LivenessTest(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.flow = self.write_tmp("alpha.yaml", CHAIN.format(name="alpha"))
        self.other = self.write_tmp("beta.yaml", CHAIN.format(name="beta"))

    def wait_for_heartbeats(self, count):
        client = self.redis.client
        ok = harness.wait_for(lambda: len(client("KEYS", "am2z:worker:*")) >= count, timeout=10)
        self.assertTrue(ok, "no worker heartbeat appeared")

    def warning_of(self, res):
        return [line for line in res.stderr_lines() if "no live worker" in line]

    def test_no_worker_warns_at_once_and_keeps_waiting(self):
        started = time.monotonic()
        proc = harness.start("run", self.flow, "--redis", self.redis.url, "-c")
        line = proc.stderr.readline()  # the warning comes before any waiting
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("warning no live worker on " + self.redis.url.rstrip("/") + "/0 (prefix 'bull') serves "
                      "queue(s) alpha._join, alpha.a, alpha.b of flow 'alpha': the run waits until one starts "
                      f"(am2z worker --flows {self.flow}; --require-worker exits 6 instead)", line)
        self.assertIsNone(proc.poll(), "run --redis gave up instead of waiting")
        self.start_worker(self.flow)  # it was waiting: a worker that starts now finishes it
        res = harness.finish(proc, timeout=20)
        self.assertEqual(self.assertSucceeded(res)["b"], 2)

    def test_require_worker_exits_6_and_submits_nothing(self):
        res = self.run_redis(self.flow, "--require-worker")
        self.assertExit(res, 6)
        self.assertEqual(res.stdout, "")
        self.assertEqual(res.stderr, f"am2z run: no live worker on {self.redis.url.rstrip('/')}/0 (prefix 'bull') "
                                     f"serves queue(s) alpha._join, alpha.a, alpha.b of flow 'alpha'; start one "
                                     f"with: am2z worker --flows {self.flow}\n")
        self.assertEqual(self.redis.client("DBSIZE"), 0, "nothing may be submitted")

    def test_a_worker_of_another_flow_does_not_count(self):
        self.start_worker(self.other)
        self.wait_for_heartbeats(1)
        res = self.run_redis(self.flow, "--require-worker")
        self.assertExit(res, 6)
        self.assertIn("serves queue(s) alpha._join, alpha.a, alpha.b of flow 'alpha'", res.stderr)

    def test_served_flows_run_without_a_warning(self):
        self.start_worker(self.flow)
        self.wait_for_heartbeats(1)
        res = self.run_redis(self.flow, "--require-worker", "-c")
        self.assertEqual(self.assertSucceeded(res)["a"], 1)
        self.assertEqual(self.warning_of(res), [])

    def test_queues_split_across_workers_count_together(self):
        # Two workers serving one flow each still leave a third flow unserved, and serve their own.
        self.start_worker(self.flow)
        self.start_worker(self.other)
        self.wait_for_heartbeats(2)
        for flow in (self.flow, self.other):
            self.assertSucceeded(self.run_redis(flow, "--require-worker", "-c"))

    def test_heartbeat_says_who_and_what(self):
        self.start_worker(self.flow, args=("--name", "w-1", "-c", "3"))
        self.wait_for_heartbeats(1)
        beat = json.loads(self.redis.client("GET", "am2z:worker:w-1"))
        self.assertEqual(beat["name"], "w-1")
        self.assertEqual(beat["concurrency"], 3)
        self.assertEqual(sorted(beat["queues"]), ["alpha._join", "alpha.a", "alpha.b"])
        self.assertTrue(beat["host"])
        self.assertEqual(beat["pid"], self.workers[0].pid)
        for field in ("started", "seen", "active", "completed", "failed", "retried"):
            self.assertIsInstance(beat[field], int, field)
        self.assertLessEqual(beat["started"], beat["seen"])
        ttl = self.redis.client("PTTL", "am2z:worker:w-1")
        self.assertTrue(0 < ttl <= 15000, ttl)

    def test_detach_prints_the_session(self):
        res = self.run_redis(self.flow, "--detach", "-c")
        out = json.loads(res.stdout)
        self.assertEqual(sorted(out), ["flow", "result", "run", "session"])
        self.assertEqual(out["session"], "session-" + out["run"])
        self.assertEqual(out["result"], "am2z:run:" + out["run"])
        named = json.loads(self.run_redis(self.flow, "--detach", "-c", "--session", "nightly").stdout)
        self.assertEqual(named["session"], "nightly")

    def test_a_give_up_names_the_generated_session(self):
        res = self.run_redis(self.flow, "--timeout", "300ms")
        err = self.assertFailedWith(res, 124)
        session = err["partialState"]["metadata"]["sessionId"]
        self.assertEqual(session, "session-" + err["context"]["runId"])


if __name__ == "__main__":
    unittest.main()
