"""Composite nodes' `timeout:` across workers: the node's deadline travels with every job under
it; a step still running at it is cancelled, a step taken after it never runs, both failing with
the node's own "timed out after <ms>ms", and the run ends as it ends in-process. Leaving the node
leaves its deadline behind."""
import signal
import time

import harness
from redis_harness import DistributedTestCase

FAN = """\
version: 1
name: fan
processors:
  slow: {use: sleep, with: {duration: 3s}}
  after: {use: set, with: {values: {after: true}}}
flow:
  chain:
    - parallel: [slow, slow, slow, slow]
      timeout: 600ms
      name: fan-out
    - after
"""

LEAVES = """\
version: 1
name: leaves
processors:
  nap: {use: sleep, with: {duration: 300ms}}
  after: {use: set, with: {values: {after: true}}}
flow:
  chain:
    - chain: [nap]
      timeout: 450ms
      name: inner
    - nap
    - nap
    - after
"""

ITEMS = """\
version: 1
name: items
processors:
  nap: {use: sleep, with: {duration: 250ms}}
flow:
  batch: nap
  items: .items
  concurrency: 8
  timeout: 700ms
  name: every-item
"""


class NodeDeadlines(DistributedTestCase):
    def test_a_parallels_timeout_ends_the_run_as_in_process(self):
        flow = self.write_tmp("fan.yaml", FAN)
        local = harness.run("run", flow, "-c", timeout=30)
        self.assertExit(local, 124)
        for _ in range(2):
            self.start_worker(flow, args=("-c", "1"))  # two branches run, two wait in the queue
        started = time.monotonic()
        r = self.run_redis(flow, "-c")
        took = time.monotonic() - started
        self.assertExit(r, 124)
        self.assertEqual(r.error()["message"], local.error()["message"])
        self.assertEqual(r.error()["message"], "'fan-out' timed out after 600ms")
        self.assertLess(took, 2.5, "the running branches were not cancelled at the deadline")
        # the branches that were still queued at the deadline never ran
        c = self.redis.client
        spans = []
        for job in c("ZRANGE", "bull:fan.slow:failed", 0, -1):
            started_on, finished_on, reason = c("HMGET", f"bull:fan.slow:{job}", "processedOn", "finishedOn",
                                                "failedReason")
            self.assertEqual(reason, "'fan-out' timed out after 600ms")
            spans.append(int(finished_on) - int(started_on))
        self.assertEqual(len(spans), 4)
        self.assertEqual(sorted(s < 200 for s in spans), [False, False, True, True], spans)
        self.assertEqual(c("ZCARD", "bull:fan.after:completed"), 0)

    def test_leaving_a_node_leaves_its_deadline_behind(self):
        flow = self.write_tmp("leaves.yaml", LEAVES)
        self.start_worker(flow)
        r = self.run_redis(flow, "-c")  # 900 ms of steps, the inner node's 450 ms long over
        self.assertSucceeded(r)
        self.assertTrue(r.json()["after"])

    def test_a_batchs_timeout_fails_the_items_left(self):
        flow = self.write_tmp("items.yaml", ITEMS)
        self.start_worker(flow, args=("-c", "2"))
        self.start_worker(flow, args=("-c", "2"))
        r = self.run_redis(flow, "--set", ".items=" + str(list(range(40))), "-c")
        self.assertExit(r, 124)
        self.assertEqual(r.error()["message"], "'every-item' timed out after 700ms")
        c = self.redis.client
        ran = c("ZCARD", "bull:items.nap:completed")
        self.assertGreater(ran, 0)
        self.assertLess(ran, 20, "items went on running after the batch's deadline")


class NodeDeadlinesUnderFaults(DistributedTestCase):
    def test_a_step_taken_back_from_a_killed_worker_after_its_nodes_deadline_never_runs(self):
        # The only worker dies with -9 mid-branch; the branch comes back (stalled-job recovery)
        # after the parallel's deadline: it fails unrun with the node's error, and the run ends
        # with that one outcome.
        flow = self.write_tmp("fan.yaml", FAN.replace("[slow, slow, slow, slow]", "[slow]"))
        fast = ("--lock-duration", "1s", "--stalled-interval", "300ms")
        doomed = self.start_worker(flow, args=fast)
        run = self.run_redis(flow, "--detach", "-c").json()["run"]
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:fan.slow:active") == 1, 10))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        time.sleep(0.8)  # past the 600ms deadline before anyone takes the branch back
        self.start_worker(flow, args=fast)
        r = harness.run("result", run, "--wait", "--redis", self.redis.url, "-c", timeout=30)
        self.assertExit(r, 124)
        self.assertEqual(r.error()["message"], "'fan-out' timed out after 600ms")
        [job] = c("ZRANGE", "bull:fan.slow:failed", 0, -1)
        self.assertEqual(c("HGET", f"bull:fan.slow:{job}", "failedReason"), "'fan-out' timed out after 600ms")
        self.assertEqual(c("ZCARD", "bull:fan.after:completed"), 0)
        self.assertEqual(c("LLEN", f"am2z:run:{run}"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
