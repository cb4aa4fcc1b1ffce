"""Two deployments on one Redis: every key am2z writes follows --prefix, so runs, results,
cancellations and workers of one prefix are invisible to the other (issue 9, KeySpace)."""

import time

import harness
from redis_harness import DistributedTestCase

# Same flow name (so the same queue names) with different content in each deployment.
FLOW = """\
version: 1
name: shared
processors:
  mark: {use: set, with: {values: {deployment: %s}}}
  nap: {use: sleep, with: {duration: %s}}
flow:
  chain: [mark, nap]
"""


class PrefixIsolation(DistributedTestCase):
    def deployment(self, name, nap="10ms"):
        flow = self.write_tmp(f"{name}.yaml", FLOW % (name, nap))
        self.start_worker(flow, args=("--prefix", name, "--name", f"{name}-worker"))
        return flow

    def test_runs_of_two_prefixes_reach_only_their_own_workers(self):
        flows = {name: self.deployment(name) for name in ("blue", "green")}
        for _ in range(3):
            for name, flow in flows.items():
                res = self.run_redis(flow, "--prefix", name)
                self.assertSucceeded(res)
                self.assertEqual(res.json()["deployment"], name)
        keys = self.redis.client("KEYS", "*")
        strays = [k for k in keys if not (k.startswith("blue:") or k.startswith("green:"))]
        self.assertEqual(strays, [], "a key escaped its deployment's prefix")
        self.assertTrue(any(k.startswith("blue:am2z:run:") for k in keys))
        self.assertTrue(harness.wait_for(lambda: self.redis.client("EXISTS", "green:am2z:worker:green-worker") == 1, 10))
        self.assertEqual(self.redis.client("EXISTS", "blue:am2z:worker:green-worker"), 0)

    def test_a_result_is_read_only_under_its_own_prefix(self):
        flow = self.deployment("blue")
        res = self.run_redis(flow, "--prefix", "blue", "--detach")
        self.assertSucceeded(res)
        run = res.json()["run"]
        mine = harness.run("result", run, "--wait", "--timeout", "20s", "--redis", self.redis.url, "--prefix", "blue")
        self.assertSucceeded(mine)
        for other in (("--prefix", "green"), ()):
            theirs = harness.run("result", run, "--redis", self.redis.url, *other)
            self.assertExit(theirs, 5)
            self.assertIn("has no result", theirs.stderr)

    def test_cancelling_a_run_touches_only_its_deployment(self):
        blue = self.deployment("blue", nap="3s")
        green = self.deployment("green", nap="1s")
        given_up = self.run_redis(blue, "--prefix", "blue", "--timeout", "300ms")
        self.assertExit(given_up, 124)
        c = self.redis.client
        self.assertEqual(c("ZCARD", "blue:am2z:cancelled"), 1)
        self.assertEqual(c("EXISTS", "am2z:cancelled"), 0)
        self.assertEqual(c("EXISTS", "green:am2z:cancelled"), 0)
        res = self.run_redis(green, "--prefix", "green")
        self.assertSucceeded(res)
        self.assertEqual(res.json()["deployment"], "green")
        time.sleep(0.2)
