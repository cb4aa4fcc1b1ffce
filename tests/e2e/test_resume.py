"""`am2z run --resume RUN_ID --redis`: a run that failed (or was cancelled) is run again as a new
run that takes the results of the old run's completed steps instead of running them, in a chain,
a parallel and a batch; only what did not complete runs again. Each step appends its name to a
log file, so the test counts what really ran. Two workers serve every run."""
import json
import os
import signal
import time

import harness
from redis_harness import DistributedTestCase, RedisServer, comparable


def step(name, log, mark=None, only_item=None):
    """An exec step that logs `name` and the state's "n" and passes the state on; with `mark`, it
    fails while that file exists (for the item whose n is `only_item`, when given)."""
    code = (f"import json,os,sys; s=json.load(sys.stdin); n=s.get('n'); "
            f"open({log!r},'a').write('{name} %s\\n' % n); "
            + (f"sys.exit('{name} is broken') if os.path.exists({mark!r}) and {only_item!r} in (None, n) else None; "
               if mark else "")
            + "json.dump(s, sys.stdout)")
    return f"{{use: exec, with: {{argv: [python3, -c, {json.dumps(code)}]}}}}"


class Resume(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.log = self.tmp_path("ran.log")
        self.mark = self.tmp_path("broken")
        open(self.mark, "w").close()

    def ran(self):
        with open(self.log, encoding="utf-8") as f:
            return [line.split()[0] for line in f if line.strip()]

    def flow(self, name, body, steps):
        procs = "\n".join(f"  {n}: {s}" for n, s in steps.items())
        return self.write_tmp(f"{name}.yaml", f"version: 1\nname: {name}\nprocessors:\n{procs}\n"
                                              f"  done: {{use: set, with: {{values: {{done: true}}}}}}\nflow:\n{body}")

    def submit(self, flow, *args):
        r = self.run_redis(flow, "--detach", "-c", *args)
        self.assertExit(r, 0)
        return r.json()

    def wait(self, run_id):
        return harness.run("result", run_id, "--redis", self.redis.url, "--wait", "--timeout", "30s", "-c")

    def test_a_chain_resumes_at_the_failed_step(self):
        flow = self.flow("chain", "  chain: [first, second, flaky, done]\n",
                         {"first": step("first", self.log), "second": step("second", self.log),
                          "flaky": step("flaky", self.log, self.mark)})
        for _ in range(2):
            self.start_worker(flow)
        old = self.submit(flow, "--session", "tenant-a", "--set", "order=42")
        failed = self.wait(old["run"])
        error = self.assertFailedWith(failed, 1)
        self.assertEqual(error["context"]["failedProcessor"], "flaky")
        self.assertEqual(error["context"]["runId"], old["run"])  # what --resume takes
        self.assertEqual(self.ran(), ["first", "second", "flaky"])
        waited = self.run_redis(flow, "-c", "--set", "order=7")  # a submitter that waits: the same
        self.assertTrue(self.assertFailedWith(waited, 1)["context"]["runId"])
        self.assertEqual(self.ran(), ["first", "second", "flaky"] * 2)
        with open(self.log, "w", encoding="utf-8") as f:  # back to the first run's steps alone
            f.write("first\nsecond\nflaky\n")

        os.remove(self.mark)
        r = self.run_redis(flow, "-c", "--resume", old["run"], "--log-level", "info")
        state = self.assertSucceeded(r)
        # the input came from the old run's record; only the failed step and what follows ran
        self.assertEqual(state["order"], 42)
        self.assertTrue(state["done"])
        self.assertEqual(state["metadata"]["sessionId"], "tenant-a")
        self.assertEqual(self.ran(), ["first", "second", "flaky", "flaky"])
        self.assertIn(f"resumed run {old['run']}: 2 step result(s) reused: first, second", r.stderr)
        # and in the events: each reused step's processor:completed names the job it came from
        events = self.tmp_path("events.jsonl")
        os.remove(self.log)
        again = self.run_redis(flow, "-c", "--resume", old["run"], "--events", events)
        self.assertSucceeded(again)
        with open(events, encoding="utf-8") as f:
            completed = {e["processor"]: e for e in map(json.loads, f) if e["event"] == "processor:completed"}
        self.assertEqual(completed["first"]["reused"], f"r{old['run']}.n.0")
        self.assertEqual(completed["second"]["reused"], f"r{old['run']}.n.1")
        self.assertNotIn("reused", completed["flaky"])
        self.assertEqual(self.ran(), ["flaky"])
        # as many steps counted in the version as a run that never failed
        fresh = self.assertSucceeded(self.run_redis(flow, "-c", "--set", "order=42"))
        self.assertEqual(state["metadata"]["version"], fresh["metadata"]["version"])

    def test_a_parallel_reruns_only_the_branch_that_failed(self):
        flow = self.flow("fan", "  chain:\n    - parallel: [left, right, flaky]\n      merge: deep\n    - done\n",
                         {"left": step("left", self.log), "right": step("right", self.log),
                          "flaky": step("flaky", self.log, self.mark)})
        for _ in range(2):
            self.start_worker(flow)
        old = self.submit(flow, "--set", "n=7")
        self.assertFailedWith(self.wait(old["run"]), 1)
        self.assertEqual(sorted(self.ran()), ["flaky", "left", "right"])
        os.remove(self.mark)
        resumed = self.submit(flow, "--resume", old["run"])
        self.assertEqual(resumed["resumes"], old["run"])
        state = self.assertSucceeded(self.wait(resumed["run"]))
        self.assertEqual(state["n"], 7)
        self.assertTrue(state["done"])
        self.assertEqual(sorted(self.ran()), ["flaky", "flaky", "left", "right"])

    def test_a_batch_reruns_only_its_failed_items_and_keeps_their_order(self):
        flow = self.flow("items", "  batch: per-item\n  items: .items\n  concurrency: 4\n",
                         {"per-item": step("item", self.log, self.mark, only_item=3)})
        for _ in range(2):
            self.start_worker(flow)
        items = json.dumps([{"n": i} for i in range(8)])
        old = self.submit(flow, "--set", f"items={items}")
        self.assertFailedWith(self.wait(old["run"]), 1)
        first = len(self.ran())  # fail-fast may have stopped some items before they started
        os.remove(self.mark)
        r = self.run_redis(flow, "-c", "--resume", old["run"], "--log-level", "info")
        state = self.assertSucceeded(r)
        self.assertEqual([x["n"] for x in state["batch"]["results"]], list(range(8)))
        with open(self.log, encoding="utf-8") as f:
            lines = [line.split() for line in f if line.strip()]
        done_before = {n for _, n in lines[:first] if n != "3"}
        again = [n for _, n in lines[first:]]
        # what completed in the old run did not run again; item 3 and the ones never started did
        self.assertIn("3", again)
        self.assertFalse(done_before & set(again), (done_before, again))
        self.assertEqual(sorted(done_before | set(again)), [str(i) for i in range(8)])

    def test_resume_refuses_a_run_that_has_not_ended_an_unknown_run_and_another_flows_run(self):
        slow = self.write_tmp("slow.yaml", "version: 1\nname: slow\nflow: {use: sleep, with: {duration: 5s}}\n")
        other = self.write_tmp("other.yaml", "version: 1\nname: other\nflow: {use: set, with: {values: {a: 1}}}\n")
        self.start_worker(slow, other)
        running = self.submit(slow)
        r = self.run_redis(slow, "--resume", running["run"])
        self.assertExit(r, 5)
        self.assertIn(f"--resume {running['run']}: that run has not ended", r.stderr)
        r = self.run_redis(other, "--resume", running["run"])
        self.assertExit(r, 2)
        self.assertIn("that run is of flow 'slow', not 'other'", r.stderr)
        r = self.run_redis(slow, "--resume", "nosuchrun")
        self.assertExit(r, 2)
        self.assertIn("--resume nosuchrun: no such run on this Redis (prefix 'bull')", r.stderr)
        r = harness.run("run", slow, "--resume", running["run"])
        self.assertExit(r, 2)
        self.assertIn("--resume of a local run needs --run-dir DIR", r.stderr)

    def test_a_resumed_run_can_be_resumed_again(self):
        flow = self.flow("twice", "  chain: [first, flaky, done]\n",
                         {"first": step("first", self.log), "flaky": step("flaky", self.log, self.mark)})
        self.start_worker(flow)
        old = self.submit(flow)
        self.assertFailedWith(self.wait(old["run"]), 1)
        second = self.submit(flow, "--resume", old["run"])
        self.assertFailedWith(self.wait(second["run"]), 1)
        os.remove(self.mark)
        state = self.assertSucceeded(self.run_redis(flow, "-c", "--resume", second["run"]))
        self.assertTrue(state["done"])
        self.assertEqual(self.ran(), ["first", "flaky", "flaky", "flaky"])


class ResumeUnderFaults(DistributedTestCase):
    """A resumed run is a run like any other: a worker killed mid-step or a Redis restart (AOF on)
    leaves it with exactly one outcome, the old run's results still reused and nothing of what
    they stand for run again."""

    FAST_STALLS = ("--lock-duration", "1s", "--stalled-interval", "300ms")

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def setUp(self):
        super().setUp()
        self.log = self.tmp_path("ran.log")
        self.mark = self.tmp_path("broken")
        open(self.mark, "w").close()
        self.flow = self.write_tmp("faulty.yaml", f"""\
version: 1
name: faulty
processors:
  first: {step("first", self.log)}
  flaky: {step("flaky", self.log, self.mark)}
  slow: {{use: sleep, with: {{duration: 1500ms}}}}
  done: {{use: set, with: {{values: {{done: true}}}}}}
flow:
  chain: [first, flaky, slow, done]
""")

    def ran(self):
        with open(self.log, encoding="utf-8") as f:
            return [line.split()[0] for line in f if line.strip()]

    def failed_then_resumed(self, worker):
        r = self.run_redis(self.flow, "--detach", "-c", "--set", "n=1")
        old = r.json()["run"]
        self.assertExit(harness.run("result", old, "--redis", self.redis.url, "--wait", "--timeout", "30s"), 1)
        os.remove(self.mark)
        r = self.run_redis(self.flow, "--detach", "-c", "--resume", old)
        self.assertExit(r, 0)
        new = r.json()["run"]
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:faulty.slow:active") == 1, 15),
                        "the resumed run never reached its slow step")
        return old, new

    def finish(self, run_id):
        done = harness.run("result", run_id, "--redis", self.redis.url, "--wait", "--timeout", "40s", "-c",
                           timeout=60)
        state = self.assertSucceeded(done)
        self.assertTrue(state["done"])
        self.assertEqual(state["n"], 1)
        self.assertEqual(self.ran(), ["first", "flaky", "flaky"])
        self.assertEqual(self.redis.client("LLEN", f"am2z:run:{run_id}"), 1)  # exactly one outcome

    def test_a_worker_killed_mid_step_of_a_resumed_run(self):
        doomed = self.start_worker(self.flow, args=self.FAST_STALLS)
        _, new = self.failed_then_resumed(doomed)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(self.flow, args=self.FAST_STALLS)
        self.finish(new)

    def test_redis_restarted_during_a_resumed_run(self):
        # default locks (30 s): the step rides the restart on its worker, no stall needed
        worker = self.start_worker(self.flow)
        _, new = self.failed_then_resumed(worker)
        self.redis.restart(down_for=0.5)
        self.finish(new)
        self.assertIsNone(worker.poll(), "the worker did not ride out the restart")


class LocalResume(harness.E2ETestCase):
    """run --run-dir DIR keeps each local run's input, finished steps and outcome under DIR/<run id>;
    run --resume ID --run-dir DIR reuses them."""

    def setUp(self):
        super().setUp()
        self.log = self.tmp_path("ran.log")
        self.mark = self.tmp_path("broken")
        self.runs = self.tmp_path("runs")
        open(self.mark, "w").close()
        self.flow = self.write_tmp("local.yaml", f"""\
version: 1
name: local
processors:
  first: {step("first", self.log)}
  item: {step("item", self.log, self.mark, only_item=2)}
  flaky: {step("flaky", self.log, self.mark)}
  done: {{use: set, with: {{values: {{done: true}}}}}}
flow:
  chain:
    - first
    - batch: item
      items: .items
      mode: collect
    - flaky
    - done
""")

    def ran(self):
        with open(self.log, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]

    def run_local(self, *args):
        return harness.run("run", self.flow, "-c", "--run-dir", self.runs, *args)

    def test_a_failed_run_resumes_with_its_finished_steps_and_items(self):
        items = json.dumps([{"n": i} for i in range(4)])
        failed = self.run_local("--set", f"items={items}")
        err = self.assertFailedWith(failed, 1)
        run_id = err["context"]["runId"]
        self.assertIn(f"resume it with: am2z run {self.flow} --run-dir {self.runs} --resume {run_id}", failed.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(self.runs, run_id))),
                         ["journal.jsonl", "outcome.json", "run.json"])
        # collect mode: item 2 failed, the others succeeded; then flaky failed
        self.assertEqual(sorted(self.ran()), ["first None", "flaky None", "item 0", "item 1", "item 2", "item 3"])
        os.remove(self.mark)
        resumed = self.run_local("--resume", run_id, "--log-level", "info")
        state = self.assertSucceeded(resumed)
        self.assertIn(f"resumed run {run_id}: 4 step result(s) reused: n.0, n.1.0 x3", resumed.stderr)
        with open(os.path.join(self.runs, run_id, "journal.jsonl"), encoding="utf-8") as f:
            self.assertEqual(len(f.readlines()), 4)  # first, items 0, 1, 3: what the resume reused
        # only the item that failed, and the steps after the batch, ran again
        self.assertEqual(sorted(self.ran()[6:]), ["flaky None", "item 2"])
        self.assertTrue(state["done"])
        fresh = self.assertSucceeded(harness.run("run", self.flow, "-c", "--set", f"items={items}"))
        self.assertEqual(comparable(state), comparable(fresh))

    def test_a_killed_run_resumes_after_its_last_finished_step(self):
        slow = self.write_tmp("slow.yaml", f"""\
version: 1
name: slow
processors:
  first: {step("first", self.log)}
  wait: {{use: sleep, with: {{duration: 30s}}}}
  done: {{use: set, with: {{values: {{done: true}}}}}}
flow:
  chain: [first, wait, done]
""")
        proc = harness.start("run", slow, "-c", "--run-dir", self.runs)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.log) and self.ran()) and time.monotonic() < deadline:
            time.sleep(0.05)
        run_id = os.listdir(self.runs)[0]
        journal = os.path.join(self.runs, run_id, "journal.jsonl")
        while os.path.getsize(journal) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        r = harness.run("run", slow, "--run-dir", self.runs, "--resume", run_id)
        self.assertExit(r, 5)
        self.assertIn(f"run {run_id} has not ended: its process {proc.pid} is still running", r.stderr)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(journal, "a", encoding="utf-8") as f:
            f.write('{"step":"n.1","sta')  # torn by the kill
        with open(slow, encoding="utf-8") as f:
            fast = self.write_tmp("slow.yaml", f.read().replace("30s", "10ms"))  # steps match by position
        events = self.tmp_path("events.jsonl")
        state = self.assertSucceeded(harness.run("run", fast, "-c", "--run-dir", self.runs, "--resume", run_id,
                                                 "--events", events))
        self.assertTrue(state["done"])
        self.assertEqual(self.ran(), ["first None"])
        with open(events, encoding="utf-8") as f:
            completed = [e for e in map(json.loads, f) if e["event"] == "processor:completed"]
        self.assertEqual([(e["processor"], e.get("reused", False)) for e in completed],
                         [("first", True), ("wait", False), ("done", False)])

    def test_refusals_and_cleaning_by_age(self):
        r = harness.run("run", self.flow, "--resume", "abc")
        self.assertExit(r, 2)
        self.assertIn("--resume of a local run needs --run-dir DIR", r.stderr)
        r = self.run_local("--resume", "nosuchrun")
        self.assertExit(r, 2)
        self.assertIn("no run nosuchrun is kept there", r.stderr)
        r = self.run_local("--resume", "../x")
        self.assertExit(r, 2)
        other = self.write_tmp("other.yaml", "version: 1\nname: other\nflow: {use: set, with: {values: {a: 1}}}\n")
        self.assertExit(harness.run("run", other, "--run-dir", self.runs), 0)
        kept = os.listdir(self.runs)[0]
        r = self.run_local("--resume", kept)
        self.assertExit(r, 2)
        self.assertIn(f"run {kept} is of flow 'other', not 'local'", r.stderr)
        # runs not written to for longer than --run-dir-keep go; anything else stays
        old = time.time() - 3 * 86400
        for name in os.listdir(os.path.join(self.runs, kept)):
            os.utime(os.path.join(self.runs, kept, name), (old, old))
        os.makedirs(os.path.join(self.runs, "not-a-run"))
        self.assertExit(harness.run("run", other, "--run-dir", self.runs, "--run-dir-keep", "2d"), 0)
        left = os.listdir(self.runs)
        self.assertNotIn(kept, left)
        self.assertIn("not-a-run", left)
        self.assertEqual(len(left), 2)


if __name__ == "__main__":
    import unittest
    unittest.main()
