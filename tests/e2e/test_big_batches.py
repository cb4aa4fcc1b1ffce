"""Big distributed batches (issue 11): a batch's items are added in chunks of at most 125 jobs per
call, by the submitter (a run that starts with the batch) or by the worker that finishes the step
before it; a worker killed while it sends the chunks leaves a run that still ends, right, with
every item run once; so does a Redis restart while they are sent."""

import json
import os
import signal

import harness
from redis_harness import DistributedTestCase, RedisServer

# Sanitizer builds (Debug) plan a batch about 100 times slower (0.7 ms per item with ASan):
# fewer items there, still a dozen chunks. In Release the input (about 290 KB) is over a chunk
# too, so the run's input, the first step's data and returnvalue and the join's data and
# returnvalue all go out of line, across the kill and the restart below.
SANITIZED = bool(os.environ.get("AM2Z_SANITIZE"))
ITEMS = 3_000 if SANITIZED else 50_000

AFTER_A_STEP = """\
version: 1
name: big
processors:
  first: {use: set, with: {values: {first: true}}}
  tick: {use: set, with: {values: {t: 1}}}
flow:
  chain:
    - first
    - batch: tick
      items: .items
      output: .out
"""

AT_THE_START = """\
version: 1
name: start
processors:
  tick: {use: set, with: {values: {t: 1}}}
flow:
  batch: tick
  items: .items
  output: .out
"""

WIDE = """\
version: 1
name: wide
processors:
  first: {use: set, with: {values: {first: true}}}
  tick: {use: set, with: {values: {t: 1}}}
flow:
  chain:
    - first
    - parallel: [%s]
"""


class BigBatches(DistributedTestCase):
    def check_results(self, state, n):
        out = state["out"]
        self.assertEqual(out["counts"], {"total": n, "succeeded": n, "failed": 0})
        self.assertEqual(len(out["results"]), n)
        self.assertEqual([r["item"] for r in out["results"]], list(range(n)), "results out of order")
        self.assertTrue(all(r["t"] == 1 for r in out["results"]))

    def check_big_state_kept(self, run):
        """The run's state (the join's value) is kept by its outcome, once, and by the join's job.
        Over a chunk (256 KiB: the Release size) the outcome was staged, a header then its chunks,
        and the join's returnvalue went out of line: a pointer to a blob of the run's, which lives
        as long as the outcome; the join's completed event carries what the job holds."""
        c = self.redis.client
        key = f"am2z:run:{run}"
        first = c("LINDEX", key, 0)
        chunks = json.loads(first)["am2zChunks"] if first.startswith('{"am2zChunks":') else 0
        self.assertEqual(c("LLEN", key), 1 + chunks, "a run must have exactly one outcome")
        value = c("HGET", f"bull:big._join:r{run}.n.1", "returnvalue")
        if not SANITIZED:
            self.assertGreater(chunks, 1, "the Release size must take the staged path")
            pointer = json.loads(value)["am2zBlob"]
            self.assertTrue(pointer["key"].startswith(key + ":blob:"), pointer)
            text = "".join(c("LRANGE", pointer["key"], 0, -1))
            self.assertEqual(len(text.encode()), pointer["bytes"])
            self.assertEqual(c("LLEN", pointer["key"]), pointer["chunks"])
            outcome = json.loads("".join(c("LRANGE", key, 1, -1)))
            self.assertEqual(json.loads(text), outcome["state"])
            self.assertTrue(0 < c("PTTL", pointer["key"]) <= c("PTTL", key) + 1000)
        events = [dict(zip(fields[::2], fields[1::2])) for _, fields in c("XRANGE", "bull:big._join:events", "-", "+")]
        completed = [e for e in events if e.get("event") == "completed" and e.get("jobId") == f"r{run}.n.1"]
        self.assertEqual(len(completed), 1)
        self.assertEqual(completed[0]["returnvalue"], value)

    def test_a_batch_started_by_the_submitter_and_one_after_a_step_on_two_workers(self):
        n = 1_200  # five chunks
        start = self.write_tmp("start.yaml", AT_THE_START)
        after = self.write_tmp("big.yaml", AFTER_A_STEP)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(n))}))
        for _ in range(2):
            self.start_worker(start, after, args=("-c", "4"))
        c = self.redis.client
        for flow, queue in ((start, "bull:start.tick:"), (after, "bull:big.tick:")):
            with self.subTest(flow=os.path.basename(flow)):
                state = self.assertSucceeded(self.run_redis(flow, "-i", items, "-c", timeout=120))
                self.check_results(state, n)
                self.assertEqual(c("ZCARD", queue + "completed"), n)

    def test_a_parallel_of_1000_branches_on_two_workers(self):
        # Four chunks of branches, then a join whose 1,000 children are read in chunks (HSCAN).
        n = 1_000
        flow = self.write_tmp("wide.yaml", WIDE % ", ".join(["tick"] * n))
        for _ in range(2):
            self.start_worker(flow, args=("-c", "4"))
        state = self.assertSucceeded(self.run_redis(flow, "-i", self.write_tmp("in.json", "{}"), "-c", timeout=120))
        self.assertEqual((state["first"], state["t"]), (True, 1))
        self.assertEqual(self.redis.client("ZCARD", "bull:wide.tick:completed"), n)
        self.assertEqual(self.redis.client("ZCARD", "bull:wide._join:completed"), 1)

    def test_a_step_whose_data_kept_out_of_line_is_gone_fails_naming_the_key(self):
        # Over 256 KiB, the first step's data waits out of line (a blob of the run's); deleted
        # before any worker takes the step (evicted under a maxmemory policy other than
        # noeviction, say), the step fails unrun and the run with it, exit 1, the key named.
        flow = self.write_tmp("big.yaml", AFTER_A_STEP)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(60_000))}))
        run = json.loads(self.run_redis(flow, "-i", items, "--detach", "-c", timeout=60).stdout)["run"]
        job = f"bull:big.first:r{run}.n.0"
        pointer = json.loads(self.redis.client("HGET", job, "data"))["am2zBlob"]
        self.assertEqual(self.redis.client("LLEN", pointer["key"]), pointer["chunks"])
        self.redis.client("DEL", pointer["key"])
        self.start_worker(flow)
        done = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "60s", timeout=90)
        err = self.assertFailedWith(done, 1)
        self.assertIn(f"{job} data: Validation failed for field '{pointer['key']}': is gone (a value kept out "
                      "of line lives as long as its run's outcome)", err["message"])
        self.assertEqual(self.redis.client("LLEN", "bull:big.tick:wait"), 0, "no item may start")

    def test_a_worker_killed_while_it_adds_a_batch_s_items(self):
        # The worker that finishes `first` adds the items in chunks, then the join; killed in
        # between, its step is recovered by the other worker, which plans it again: the chunks add
        # only the items not there yet, and the join finds the results of those that already ran.
        flow = self.write_tmp("big.yaml", AFTER_A_STEP)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(ITEMS))}))
        c = self.redis.client
        # The worker plans the batch on the pool thread that ran `first` (about 7 us per item in
        # Release, 0.7 ms with ASan) while its dispatcher renews the step's lock.
        doomed = self.start_worker(flow, args=("-c", "2", "--lock-duration", "10s"))
        run = json.loads(self.run_redis(flow, "-i", items, "--detach", "-c", timeout=60).stdout)["run"]
        join = f"bull:big._join:r{run}.n.1"
        mid = lambda: c("LLEN", "bull:big.tick:wait") > 0 and not c("EXISTS", join)
        self.assertTrue(harness.wait_for(mid, 30, interval=0.001), "never saw the items being added")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        added = c("LLEN", "bull:big.tick:wait") + c("ZCARD", "bull:big.tick:completed")
        self.assertLess(added, ITEMS, "the kill came after the last chunk")
        self.start_worker(flow, args=("-c", "8", "--stalled-interval", "300ms"))
        done = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "240s", timeout=300)
        self.check_results(self.assertSucceeded(done), ITEMS)
        self.assertEqual(c("ZCARD", "bull:big.tick:completed"), ITEMS)
        # Each item's job was added once: run once, except those the kill interrupted (-c 2).
        runs = [int(c("HGET", f"bull:big.tick:r{run}.n.1.0~{i}", "ats") or 0) for i in range(0, ITEMS, 97)]
        self.assertTrue(all(r >= 1 for r in runs), "an item never ran")
        self.assertLessEqual(sum(r - 1 for r in runs), 2, "items ran again")
        first = c("ZRANGE", "bull:big.first:completed", 0, -1)
        self.assertEqual(first, [f"r{run}.n.0"])
        self.check_big_state_kept(run)


class BigBatchAcrossARedisRestart(DistributedTestCase):
    check_results = BigBatches.check_results
    check_big_state_kept = BigBatches.check_big_state_kept

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)  # AOF, fsync always: nothing accepted is lost

    def test_redis_restarted_while_a_worker_adds_a_batch_s_items(self):
        # The chunks Redis applied before it went down stay; a call whose reply was lost is sent
        # again and adds only the items not there yet; the join comes after the last chunk and
        # reads its children (HSCAN) once they have all run.
        flow = self.write_tmp("big.yaml", AFTER_A_STEP)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(ITEMS))}))
        self.start_worker(flow, args=("-c", "4"))
        c = lambda *a: self.redis.client(*a)  # noqa: E731  the client is new after the restart
        self.assertTrue(harness.wait_for(lambda: len(c("KEYS", "am2z:worker:*")) == 1, 20), "no worker registered")
        run = json.loads(self.run_redis(flow, "-i", items, "--detach", "-c", timeout=60).stdout)["run"]
        join = f"bull:big._join:r{run}.n.1"
        mid = lambda: c("LLEN", "bull:big.tick:wait") > 0 and not c("EXISTS", join)
        self.assertTrue(harness.wait_for(mid, 30, interval=0.001), "never saw the items being added")
        self.redis.restart(down_for=0.5)
        done = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "240s", timeout=300)
        self.check_results(self.assertSucceeded(done), ITEMS)
        self.assertEqual(c("ZCARD", "bull:big.tick:completed"), ITEMS)
        self.assertEqual(c("ZRANGE", "bull:big.first:completed", 0, -1), [f"r{run}.n.0"])
        # Each item's job was added once and ran once, apart from those a lost fetch's reply
        # handed back (at most -c of them per lost call, started again).
        runs = [int(c("HGET", f"bull:big.tick:r{run}.n.1.0~{i}", "ats") or 0) for i in range(0, ITEMS, 97)]
        self.assertTrue(all(r >= 1 for r in runs), "an item never ran")
        self.assertLessEqual(sum(r - 1 for r in runs), 4, "items ran again")
        self.assertEqual(c("ZCARD", "bull:big._join:completed"), 1)
        self.check_big_state_kept(run)
