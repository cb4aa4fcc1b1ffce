"""am2z run --redis's progress on stderr: the submitter reads its run's batch joins (items pending,
succeeded and failed) about once a second and logs "progress: batch items D/T (P%) ..." every
AM2Z_PROGRESS_INTERVAL when stderr is not a terminal. Counts only grow, D <= T <= the batch's
size, failed items count as done; a flow without a batch shows nothing, nor does a run with
--events - (events on stderr) or -q."""
import json
import re
import unittest

import harness
from redis_harness import DistributedTestCase, RedisServer

ITEMS = 240  # 25 ms each, 4 at a time: about 1.5 s, the counts read a few times

BATCH = """\
version: 1
name: slow-batch
processors:
  nap: {use: sleep, with: {duration: 25ms}}
  odd: {use: fail, with: {error: business, code: ODD, message: odd item}}
flow:
  chain:
    - batch:
        route: .odd
        cases: {"yes": odd}
        default: nap
      items: .items
      concurrency: 4
      mode: collect
      output: .out
"""

NO_BATCH = """\
version: 1
name: naps
processors:
  nap: {use: sleep, with: {duration: 400ms}}
flow: {chain: [nap, nap, nap]}
"""

LINE = re.compile(r"^\S+ info progress: (?:batch items (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)"
                  r"(?:, \d+ items/s, ETA [0-9hms]+)?|no batch items queued yet), [0-9hms]+ elapsed$")


def items():
    # every tenth item fails for good: a failed item is done too
    return {"items": [{"i": i, "odd": "yes" if i % 10 == 0 else "no"} for i in range(ITEMS)]}


class DistributedProgress(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.batch = self.write_tmp("slow-batch.yaml", BATCH)
        self.input = self.write_tmp("items.json", json.dumps(items()))
        self.start_worker(self.batch, args=("-c", "4"))

    def run_batch(self, *extra, env=None):
        env = {"AM2Z_PROGRESS_INTERVAL": "200ms", **(env or {})}
        return harness.run("run", self.batch, "-i", self.input, "--redis", self.redis.url, *extra, env=env, timeout=60)

    def test_lines_count_the_batch_items_as_the_workers_end_them(self):
        res = self.run_batch()
        self.assertExit(res, 0)
        out = res.json()["out"]
        self.assertEqual((out["counts"]["succeeded"], out["counts"]["failed"]), (ITEMS - ITEMS // 10, ITEMS // 10))
        lines = [line for line in res.stderr.splitlines() if " progress: " in line]
        self.assertGreaterEqual(len(lines), 3, res.stderr)
        seen = []
        for line in lines:
            m = LINE.match(line)
            self.assertIsNotNone(m, line)
            if m["done"] is not None:
                done, total = int(m["done"]), int(m["total"])
                self.assertLessEqual(done, total, line)
                self.assertLessEqual(total, ITEMS, line)
                self.assertEqual(int(m["pct"]), done * 100 // total, line)
                seen.append((done, total))
        self.assertTrue(seen, res.stderr)
        self.assertEqual(seen, sorted(seen), "the counts went back")
        self.assertTrue(any(0 < done < ITEMS for done, _ in seen), f"no line while the batch ran: {seen}")

    def test_nothing_with_events_on_stderr_or_quiet(self):
        for extra in (("--events", "-"), ("-q",)):
            with self.subTest(extra=extra):
                res = self.run_batch(*extra)
                self.assertExit(res, 0)
                self.assertNotIn("progress:", res.stderr)

    def test_a_flow_without_a_batch_shows_nothing(self):
        naps = self.write_tmp("naps.yaml", NO_BATCH)
        self.start_worker(naps)
        res = harness.run("run", naps, "--redis", self.redis.url, env={"AM2Z_PROGRESS_INTERVAL": "100ms"}, timeout=30)
        self.assertExit(res, 0)
        self.assertNotIn("progress:", res.stderr)


class ProgressAcrossARedisRestart(DistributedTestCase):
    """The submitter's poll fails while Redis is down: that poll is skipped, the counts never go
    back, and the lines go on once Redis is back (AOF, fsync always: nothing accepted is lost)."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def test_counts_go_on_after_the_restart(self):
        batch = self.write_tmp("slow-batch.yaml", BATCH)
        path = self.write_tmp("items.json", json.dumps(items()))
        self.start_worker(batch, args=("-c", "4"))
        # connected before Redis goes away: a start against a dead Redis is exit 4 (tested elsewhere)
        self.assertTrue(harness.wait_for(lambda: len(self.redis.client("KEYS", "am2z:worker:*")) == 1, 20))
        submit = harness.start("run", batch, "-i", path, "--redis", self.redis.url,
                               env={"AM2Z_PROGRESS_INTERVAL": "200ms"})
        joins = lambda: self.redis.client("KEYS", "bull:slow-batch._join:*:processed")  # noqa: E731
        self.assertTrue(harness.wait_for(lambda: joins() and self.redis.client("HLEN", joins()[0]) >= 20, 20),
                        "the batch never got going")
        before = self.redis.client("HLEN", joins()[0])
        self.redis.restart(down_for=1.0)
        res = harness.finish(submit, timeout=60)
        self.assertExit(res, 0)
        out = res.json()["out"]
        self.assertEqual((out["counts"]["succeeded"], out["counts"]["failed"]), (ITEMS - ITEMS // 10, ITEMS // 10))
        seen = [(int(m["done"]), int(m["total"])) for m in map(LINE.match, res.stderr.splitlines())
                if m and m["done"] is not None]
        self.assertEqual(seen, sorted(seen), f"the counts went back:\n{res.stderr}")
        self.assertTrue(all(done <= total <= ITEMS for done, total in seen), seen)
        self.assertTrue(seen and seen[-1][0] > before, f"no line counted past the restart ({before} done): {seen}")


if __name__ == "__main__":
    unittest.main()
