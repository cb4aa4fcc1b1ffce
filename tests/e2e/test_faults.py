"""Distributed runs under faults: each test reproduces one way runs were lost or corrupted (issue 8)
and checks that the run now ends with exactly one, right outcome and the worker goes on."""

import json
import os
import signal
import time

import harness
from redis_harness import DistributedTestCase, RedisServer, worker_stderr

NAP_CHAIN = """\
version: 1
name: napper
processors:
  first: {use: set, with: {values: {first: true}}}
  nap: {use: sleep, with: {duration: %s}}
  second: {use: set, with: {values: {second: true}}}
  third: {use: set, with: {values: {third: true}}}
flow:
  chain: [first, nap, second, third]
"""

# A batch of many no-op steps: keeps a worker busy for seconds.
MANY = """\
version: 1
name: many
processors:
  tick: {use: set, with: {values: {t: 1}}}
flow:
  batch: tick
  items: .items
"""

FLAKY_ONCE = """\
version: 1
name: once
processors:
  ok: {use: set, with: {values: {a: 1}}}
  flaky: {use: fail, with: {error: business, code: ONCE, message: fails the first time, times: 1}}
  after: {use: set, with: {values: {after: true}}}
flow:
  chain: [ok, flaky, after]
"""

# A batch of 1 ms steps: short enough for a worker to take them ahead (--prefetch).
NAPS = """\
version: 1
name: naps
processors:
  nap: {use: sleep, with: {duration: 1ms}}
flow:
  batch: nap
  items: .items
  output: .out
"""

ONE_STEP = """\
version: 1
name: one
processors:
  ok: {use: set, with: {values: {a: 1}}}
flow:
  chain: [ok]
"""

FIVE_QUEUES = """\
version: 1
name: five
processors:
%s
flow:
  parallel: [%s]
"""


def add_job(c, queue, job_id, data, opts="{}"):
    """Writes a job the way BullMQ's Queue.add does (hash, wait list, marker)."""
    c("HSET", f"bull:{queue}:{job_id}", "name", "x", "data", data, "opts", opts, "timestamp", "1", "delay", "0",
      "priority", "0")
    c("LPUSH", f"bull:{queue}:wait", job_id)
    c("ZADD", f"bull:{queue}:marker", "0", "0")


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class FinishedStepsSurviveRedisTrouble(DistributedTestCase):
    def test_a_finish_that_never_reached_redis_is_sent_again_unchanged(self):
        # Redis stops taking writes for longer than the worker's command timeout (5 s) just as
        # the sleep step ends: the finish call fails as a network error and is sent again. It
        # used to be sent again with the step's result already moved out: an empty state.
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "800ms")
        self.start_worker(flow)
        submit = harness.start("run", flow, "--redis", self.redis.url, "-i",
                               self.write_tmp("in.json", '{"order": 42, "lines": [1, 2, 3]}'))
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:napper.nap:active") == 1, 10))
        c("CLIENT", "PAUSE", "6500", "WRITE")
        state = self.assertSucceeded(harness.finish(submit, timeout=40))
        self.assertEqual((state["order"], state["lines"]), (42, [1, 2, 3]))
        self.assertTrue(state["first"] and state["second"] and state["third"])
        self.assertTrue(state["metadata"]["sessionId"])

    def test_scripts_flushed_under_a_busy_worker_are_loaded_again_and_no_run_is_lost(self):
        # SCRIPT FLUSH and FUNCTION FLUSH (or a restart without persistence) while calls are in
        # flight: each answers NOSCRIPT or "Function not found", their finishes are sent again once
        # the script or the step function is loaded.
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "10ms")
        worker = self.start_worker(flow, args=("-c", "16"))
        c = self.redis.client
        runs = []
        for i in range(30):
            res = self.run_redis(flow, "--detach", "-i", self.write_tmp(f"in{i}.json", json.dumps({"i": i})))
            runs.append((i, res.json()["run"]))
            if i % 10 == 5:
                c("SCRIPT", "FLUSH")
                c("FUNCTION", "FLUSH")
        for i, run in runs:
            state = self.assertSucceeded(harness.run("result", run, "--redis", self.redis.url, "--wait",
                                                     "--timeout", "30s", timeout=40))
            self.assertEqual(state["i"], i)
            self.assertTrue(state["first"] and state["second"] and state["third"], state)
        # Whether the worker met the loss depends on whether a submitter loaded the function again
        # first; that path itself is tested in tests/redis/pipelined_calls_test.cpp.
        self.assertIsNone(worker.poll())


class StalledTooOften(DistributedTestCase):
    def test_a_step_stalled_past_the_limit_fails_its_run_with_the_reason(self):
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "3s")
        fast = ("--lock-duration", "1s", "--stalled-interval", "300ms", "--max-stalled", "0")
        doomed = self.start_worker(flow, args=fast)
        submit = harness.start("run", flow, "--redis", self.redis.url)
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:napper.nap:active") == 1, 10))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(flow, args=fast)
        result = harness.finish(submit, timeout=30)
        self.assertExit(result, 1)
        self.assertIn("job stalled more than allowable limit", result.error()["message"])
        # exactly one outcome, and the step is in failed with the reason
        run = [k for k in c("KEYS", "am2z:run:*") if not k.endswith(":record")]
        self.assertEqual(len(run), 1)
        self.assertEqual(c("EXISTS", run[0] + ":record"), 1)  # what run --resume needs
        self.assertEqual(c("LLEN", run[0]), 1)
        failed = c("ZRANGE", "bull:napper.nap:failed", 0, -1)
        self.assertEqual(len(failed), 1)
        self.assertIn("stalled more than allowable limit", c("HGET", f"bull:napper.nap:{failed[0]}", "failedReason"))

    def test_a_busy_worker_still_renews_a_long_step_s_lock(self):
        # Before: a worker kept busy by short jobs never got round to renewing locks, so a long step
        # on it was declared stalled once its lock ran out, and ran again (or failed its run).
        # Four batches of 5,000 items keep it busy (a join settles all its items on the
        # dispatcher thread: smaller batches keep that well under the lock, even under ASan).
        long_flow = self.write_tmp("napper.yaml", NAP_CHAIN % "4s")
        many = self.write_tmp("many.yaml", MANY)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(5000))}))
        worker = self.start_worker(long_flow, many, args=("-c", "4", "--lock-duration", "2s",
                                                          "--stalled-interval", "500ms", "--max-stalled", "0"))
        c = self.redis.client
        batches = [harness.start("run", many, "--redis", self.redis.url, "-i", items, "-c") for _ in range(4)]
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:many.tick:wait") > 1000, 30))
        res = self.run_redis(long_flow, "-c", timeout=120)
        state = self.assertSucceeded(res)
        self.assertTrue(state["third"])
        for batch in batches:
            self.assertSucceeded(harness.finish(batch, timeout=300))
        job = c("ZRANGE", "bull:napper.nap:completed", 0, -1)
        self.assertEqual(c("HGET", f"bull:napper.nap:{job[0]}", "ats"), "1", "the long step ran more than once")
        worker.terminate()
        worker.wait(timeout=30)
        self.assertNotIn("stalled", worker_stderr(worker))

    def test_jobs_held_for_a_slot_by_a_killed_worker_are_recovered(self):
        # --prefetch: a worker holds jobs beyond -c, locked in active; kill -9 leaves them (and
        # the one running) to stalled-job recovery, which puts them back; every item ends once.
        flow = self.write_tmp("naps.yaml", NAPS)
        items = self.write_tmp("items.json", json.dumps({"items": list(range(300))}))
        # sanitizer builds take more than 2 ms to run a step of 1 ms: short enough here is 1 s
        doomed = self.start_worker(flow, args=("-c", "1", "--prefetch", "8", "--prefetch-below", "1s",
                                               "--lock-duration", "1s"))
        submit = harness.start("run", flow, "--redis", self.redis.url, "-i", items, "-c")
        c = self.redis.client
        # one running and more held: more active jobs than -c 1 and its unrecorded finishes allow
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:naps.nap:active") >= 6, 30),
                        "the worker never held jobs beyond its slot")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(flow, args=("-c", "4", "--lock-duration", "1s", "--stalled-interval", "300ms"))
        state = self.assertSucceeded(harness.finish(submit, timeout=60))
        self.assertEqual(state["out"]["counts"], {"total": 300, "succeeded": 300, "failed": 0})
        self.assertEqual([r["item"] for r in state["out"]["results"]], list(range(300)))
        self.assertEqual(c("LLEN", "bull:naps.nap:active"), 0)
        self.assertEqual(c("LLEN", "bull:naps.nap:wait"), 0)

    def test_a_new_worker_checks_for_stalled_jobs_at_its_own_interval(self):
        # The first worker checks every 30 s and leaves its stalled-check key for 30 s; the second
        # one, at 300 ms, must not wait that out.
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "2s")
        doomed = self.start_worker(flow, args=("--lock-duration", "1s"))
        submit = harness.start("run", flow, "--redis", self.redis.url)
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:napper.nap:active") == 1, 10))
        self.assertTrue(harness.wait_for(lambda: c("PTTL", "bull:napper.nap:stalled-check") > 20000, 5))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        started = time.monotonic()
        self.start_worker(flow, args=("--lock-duration", "1s", "--stalled-interval", "300ms"))
        state = self.assertSucceeded(harness.finish(submit, timeout=40))
        self.assertTrue(state["third"])
        self.assertLess(time.monotonic() - started, 15, "recovery waited for the old worker's 30 s interval")


class HostileJobs(DistributedTestCase):
    def test_deeply_nested_job_fields_fail_the_job_not_the_worker(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        worker = self.start_worker(flow)
        c = self.redis.client
        deep = "[" * 100000 + "]" * 100000
        add_job(c, "one.ok", "deepdata", deep)
        add_job(c, "one.ok", "deepopts", "{}", opts=deep)
        add_job(c, "one.ok", "bignumber", '{"a": 1e400}')
        for job in ("deepdata", "deepopts", "bignumber"):
            self.assertTrue(harness.wait_for(lambda j=job: c("ZSCORE", "bull:one.ok:failed", j) is not None, 10), job)
        self.assertIn("nested deeper than 512 levels", c("HGET", "bull:one.ok:deepdata", "failedReason"))
        self.assertIn("bull:one.ok:deepopts opts", c("HGET", "bull:one.ok:deepopts", "failedReason"))
        self.assertIn("number out of range", c("HGET", "bull:one.ok:bignumber", "failedReason"))
        self.assertIsNone(worker.poll(), "the worker died")
        self.assertEqual(self.assertSucceeded(self.run_redis(flow))["a"], 1)

    def test_a_job_over_the_size_limit_fails_unloaded(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        worker = self.start_worker(flow, args=("--max-job-size", "1MiB"))
        c = self.redis.client
        big = json.dumps({"blob": "x" * (50 << 20)})
        add_job(c, "one.ok", "big", big)
        self.assertTrue(harness.wait_for(lambda: c("ZSCORE", "bull:one.ok:failed", "big") is not None, 15))
        reason = c("HGET", "bull:one.ok:big", "failedReason")
        self.assertIn(f"is {len(big) + 2} bytes", reason)
        self.assertIn("1048576-byte limit", reason)
        self.assertIn("--max-job-size", reason)
        if not os.environ.get("AM2Z_SANITIZE"):  # sanitizers' own memory would hide it
            self.assertLess(peak_rss_kb(worker.pid), 60_000, "the worker loaded the job")
        self.assertEqual(self.assertSucceeded(self.run_redis(flow))["a"], 1)

    def test_an_am2z_step_over_the_size_limit_ends_its_run(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        self.start_worker(flow, args=("--max-job-size", "1KiB"))
        res = self.run_redis(flow, "--max-job-size", "1MiB", "-i",
                             self.write_tmp("in.json", json.dumps({"blob": "y" * 4000})))
        self.assertExit(res, 1)
        self.assertIn("1024-byte limit of this worker", res.error()["message"])

    def test_run_refuses_an_input_bigger_than_the_workers_take(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        res = self.run_redis(flow, "--max-job-size", "1KiB", "-i",
                             self.write_tmp("in.json", json.dumps({"blob": "y" * 4000})))
        self.assertExit(res, 3)
        self.assertIn("more than the 1024-byte job limit of the workers (--max-job-size)", res.error()["message"])
        self.assertEqual(self.redis.client("KEYS", "bull:*"), [])

    def test_a_reply_key_outside_am2z_keys_is_never_written(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        self.start_worker(flow)
        c = self.redis.client
        c("RPUSH", "victim", "untouched")
        opts = json.dumps({"am2z": {"run": "forged", "flow": "one", "fh": "x", "node": "n.0", "reply": "victim"}})
        add_job(c, "one.ok", "forged", "{}", opts=opts)
        self.assertTrue(harness.wait_for(lambda: c("ZSCORE", "bull:one.ok:failed", "forged") is not None, 10))
        self.assertIn("opts.am2z.reply", c("HGET", "bull:one.ok:forged", "failedReason"))
        self.assertEqual(c("LRANGE", "victim", 0, -1), ["untouched"])


class OneOutcomePerRun(DistributedTestCase):
    def test_retrying_a_step_of_an_ended_run_does_not_revive_it(self):
        flow = self.write_tmp("once.yaml", FLAKY_ONCE)
        self.start_worker(flow)
        res = self.run_redis(flow, "--detach")
        run = res.json()["run"]
        first = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "20s")
        self.assertExit(first, 1)
        c = self.redis.client
        failed = c("ZRANGE", "bull:once.flaky:failed", 0, -1)
        self.assertEqual(len(failed), 1)
        job = failed[0]
        # what Bull Board's "retry" does (BullMQ's Job.retry: back to wait, finish fields cleared)
        c("ZREM", "bull:once.flaky:failed", job)
        c("HDEL", f"bull:once.flaky:{job}", "finishedOn", "processedOn", "failedReason")
        c("LPUSH", "bull:once.flaky:wait", job)
        c("ZADD", "bull:once.flaky:marker", "0", "0")
        self.assertTrue(harness.wait_for(lambda: c("ZSCORE", "bull:once.flaky:failed", job) is not None, 10))
        self.assertIn(f"run {run} already ended", c("HGET", f"bull:once.flaky:{job}", "failedReason"))
        self.assertEqual(c("LLEN", f"am2z:run:{run}"), 1)
        # the flow did not go on
        self.assertEqual((c("LLEN", "bull:once.after:wait"), c("ZCARD", "bull:once.after:completed")), (0, 0))
        again = harness.run("result", run, "--redis", self.redis.url)
        self.assertExit(again, 1)
        self.assertEqual(again.error()["code"], "ONCE")

    def test_a_foreign_value_at_a_runs_outcome_key_counts_as_its_outcome(self):
        # The outcome is pushed onto the run's outcome list unless one is there; a key of another
        # type written there while the run's step ran must neither be overwritten nor break the
        # worker's script call (the step's finish, and the other runs of that call, go on).
        flow = self.write_tmp("nap.yaml", "version: 1\nname: nap\nprocessors:\n"
                                          "  nap: {use: sleep, with: {duration: 1s}}\nflow: nap\n")
        self.start_worker(flow)
        run = self.run_redis(flow, "--detach").json()["run"]
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:nap.nap:active") == 1, 10))
        c("SET", f"am2z:run:{run}", "not an outcome list")
        self.assertTrue(harness.wait_for(lambda: c("ZCARD", "bull:nap.nap:completed") == 1, 10))
        self.assertEqual(c("GET", f"am2z:run:{run}"), "not an outcome list")
        after = self.run_redis(flow, "--set", ".n=2")  # the worker still serves runs
        self.assertExit(after, 0)
        self.assertEqual(after.json()["n"], 2)

    def test_a_caller_timeout_is_the_runs_one_outcome(self):
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "3s")
        self.start_worker(flow)
        res = self.run_redis(flow, "--timeout", "500ms")
        self.assertExit(res, 124)
        run = res.error()["context"]["runId"]
        later = harness.run("result", run, "--redis", self.redis.url)
        self.assertExit(later, 124)
        time.sleep(3.5)  # the cancelled step ends; nothing may replace the outcome
        self.assertEqual(self.redis.client("LLEN", f"am2z:run:{run}"), 1)
        self.assertExit(harness.run("result", run, "--redis", self.redis.url), 124)


class WhatBullBoardSees(DistributedTestCase):
    def test_an_active_job_shows_when_and_where_it_started(self):
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "3s")
        fast = ("--lock-duration", "1s", "--stalled-interval", "300ms", "--max-stalled", "5")
        doomed = self.start_worker(flow, args=fast + ("--name", "first-worker"))
        submit = harness.start("run", flow, "--redis", self.redis.url)
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:napper.nap:active") == 1, 10))
        job = c("LINDEX", "bull:napper.nap:active", 0)
        h = c.hgetall(f"bull:napper.nap:{job}")
        self.assertEqual((h["ats"], h["pb"]), ("1", "first-worker"))
        self.assertGreater(int(h["processedOn"]), int(h["timestamp"]) - 1)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(flow, args=fast + ("--name", "second-worker"))
        self.assertTrue(harness.wait_for(
            lambda: c("HGET", f"bull:napper.nap:{job}", "pb") == "second-worker", 15))
        self.assertEqual(c("HGET", f"bull:napper.nap:{job}", "ats"), "2")
        self.assertSucceeded(harness.finish(submit, timeout=30))
        h = c.hgetall(f"bull:napper.nap:{job}")
        self.assertEqual((h["ats"], h["atm"]), ("2", "1"))


class ConcurrencyBound(DistributedTestCase):
    def test_c4_holds_at_most_four_step_jobs_across_five_queues(self):
        names = [f"s{i}" for i in range(5)]
        procs = "\n".join(f"  {n}: {{use: sleep, with: {{duration: 300ms}}}}" for n in names)
        flow = self.write_tmp("five.yaml", FIVE_QUEUES % (procs, ", ".join(names)))
        self.start_worker(flow, args=("-c", "4"))
        submits = [harness.start("run", flow, "--redis", self.redis.url) for _ in range(4)]
        c = self.redis.client
        peak = 0
        deadline = time.monotonic() + 30
        # one atomic read of all five lists: reading them one by one counts a job twice when
        # it finishes on s0 and its next step is fetched onto s1 between the two reads
        count_active = "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('LLEN', k) end return n"
        keys = [f"bull:five.{n}:active" for n in names]
        while any(s.poll() is None for s in submits) and time.monotonic() < deadline:
            held = c("EVAL", count_active, str(len(keys)), *keys)
            peak = max(peak, held)
            time.sleep(0.01)
        for s in submits:
            self.assertSucceeded(harness.finish(s, timeout=30))
        self.assertLessEqual(peak, 4)
        self.assertGreaterEqual(peak, 2, "the sampling never saw the worker busy")


class Usage(DistributedTestCase):
    def test_max_call_depth_is_a_worker_setting_with_redis(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        res = self.run_redis(flow, "--max-call-depth", "3")
        self.assertExit(res, 2)
        self.assertIn("am2z worker --max-call-depth", res.stderr)

    def test_a_bad_max_job_size_is_a_usage_error(self):
        flow = self.write_tmp("one.yaml", ONE_STEP)
        res = harness.run("worker", "--redis", self.redis.url, "--flows", flow, "--max-job-size", "12 parsecs")
        self.assertExit(res, 2)
        self.assertIn("--max-job-size", res.stderr)
        self.assertIn("unknown unit", res.stderr)


class RestartWithAof(DistributedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def test_many_runs_across_a_restart_end_with_their_exact_state(self):
        flow = self.write_tmp("napper.yaml", NAP_CHAIN % "50ms")
        self.start_worker(flow, args=("-c", "8"))
        self.start_worker(flow, args=("-c", "8"))
        runs = []
        for i in range(60):
            res = self.run_redis(flow, "--detach", "-i", self.write_tmp(f"in{i}.json", json.dumps({"i": i})))
            runs.append((i, res.json()["run"]))
            if i == 30:
                self.redis.restart(down_for=0.3)
        for i, run in runs:
            out = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "60s")
            state = self.assertSucceeded(out)
            self.assertEqual(state["i"], i)
            self.assertTrue(state["first"] and state["second"] and state["third"], state)
            self.assertTrue(state["metadata"]["sessionId"])
