"""Priorities and delays: `priority:` and `delay:` on a processor instance, `run --priority N` and
`run --delay DUR`, stored as BullMQ stores them (the job hash's priority and delay fields, the
same in opts, the prioritized and delayed sets), so Bull Board shows them; the order of execution
is checked from the jobs' own processedOn, as Redis recorded it, with two workers."""
import json
import signal
import time

import harness
from redis_harness import DistributedTestCase, RedisServer

ONE_NAP = """\
version: 1
name: ordered
processors:
  nap: {use: sleep, with: {duration: 150ms}}
flow: nap
"""

LATER = """\
version: 1
name: later
processors:
  first: {use: set, with: {values: {first: true}}}
  urgent: {use: set, with: {values: {urgent: true}}, priority: 1, delay: 700ms}
flow:
  chain: [first, urgent]
"""

BAD = """\
version: 1
name: bad
processors:
  a: {use: set, with: {values: {a: 1}}, priority: 0}
  b: {use: set, with: {values: {a: 1}}, priority: 2097153}
  c: {use: set, with: {values: {a: 1}}, delay: soon}
flow:
  chain: [a, b, c]
"""


def job_key(queue, run, node="n"):
    return f"bull:{queue}:r{run}.{node}"


class Priorities(DistributedTestCase):
    def submit(self, flow, *args):
        r = self.run_redis(flow, "--detach", "-c", *args)
        self.assertSucceeded(r)
        return r.json()["run"]

    def wait_result(self, run):
        r = harness.run("result", run, "--wait", "--redis", self.redis.url, "-c", timeout=30)
        self.assertSucceeded(r)
        return r.json()

    def test_two_workers_take_runs_lowest_priority_number_first(self):
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        c = self.redis.client
        runs = {p: self.submit(flow, "--priority", str(p)) for p in (5, 1, 4, 2, 6, 3)}
        # as BullMQ stores a prioritized job, so Bull Board shows it
        self.assertEqual(c("ZCARD", "bull:ordered.nap:prioritized"), 6)
        for p, run in runs.items():
            key = job_key("ordered.nap", run)
            self.assertEqual(c("HGET", key, "priority"), str(p))
            self.assertEqual(json.loads(c("HGET", key, "opts"))["priority"], p)
            score = int(c("ZSCORE", "bull:ordered.nap:prioritized", f"r{run}.n"))
            self.assertEqual(score >> 32, p, "BullMQ's score: priority * 2^32 + a counter")
        for _ in range(2):
            self.start_worker(flow, args=("-c", "1"))
        for run in runs.values():
            self.wait_result(run)
        started = sorted(runs, key=lambda p: int(c("HGET", job_key("ordered.nap", runs[p]), "processedOn")))
        # each fetch takes the lowest number queued: two workers start them two at a time
        self.assertEqual([set(started[i:i + 2]) for i in (0, 2, 4)], [{1, 2}, {3, 4}, {5, 6}], started)

    def test_without_priorities_the_same_runs_go_first_come_first_served(self):
        # the check above can fail: plain runs wait in the list, in submission order
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        c = self.redis.client
        runs = [self.submit(flow) for _ in range(4)]
        self.assertEqual(c("LLEN", "bull:ordered.nap:wait"), 4)
        self.assertEqual(c("HGET", job_key("ordered.nap", runs[0]), "priority"), "0")
        self.start_worker(flow, args=("-c", "1"))
        for run in runs:
            self.wait_result(run)
        started = sorted(runs, key=lambda r: int(c("HGET", job_key("ordered.nap", r), "processedOn")))
        self.assertEqual(started, runs)

    def test_a_delayed_run_waits_in_the_delayed_set_then_runs(self):
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        c = self.redis.client
        self.start_worker(flow, args=("-c", "1"))
        self.start_worker(flow, args=("-c", "1"))
        time.sleep(0.3)  # both blocked on the queue: the delay, not a slow start, holds the run
        run = self.submit(flow, "--delay", "1200ms")
        key = job_key("ordered.nap", run)
        self.assertEqual(c("ZSCORE", "bull:ordered.nap:delayed", f"r{run}.n") is not None, True)
        self.assertGreater(int(c("HGET", key, "delay")), 1000)
        self.assertGreater(json.loads(c("HGET", key, "opts"))["delay"], 1000)
        self.wait_result(run)
        waited = int(c("HGET", key, "processedOn")) - int(c("HGET", key, "timestamp"))
        self.assertGreaterEqual(waited, 1150, "started before its delay")
        self.assertLess(waited, 6000, "a due delayed job was not promoted promptly")
        self.assertEqual(c("ZCARD", "bull:ordered.nap:delayed"), 0)

    def test_a_steps_own_delay_and_priority_win_over_the_runs(self):
        flow = self.write_tmp("later.yaml", LATER)
        c = self.redis.client
        for _ in range(2):
            self.start_worker(flow, args=("-c", "2"))
        run = self.submit(flow, "--priority", "9")
        out = self.wait_result(run)
        self.assertEqual((out["first"], out["urgent"]), (True, True))
        first, urgent = job_key("later.first", run, "n.0"), job_key("later.urgent", run, "n.1")
        self.assertEqual(c("HGET", first, "priority"), "9")
        self.assertEqual(c("HGET", urgent, "priority"), "1")
        gap = int(c("HGET", urgent, "processedOn")) - int(c("HGET", first, "finishedOn"))
        self.assertGreaterEqual(gap, 650, "the step's delay: 700ms")

    def test_stopping_a_session_removes_its_delayed_and_prioritized_jobs_only(self):
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        c = self.redis.client
        later = self.submit(flow, "--session", "tenant", "--delay", "1h")
        urgent = self.submit(flow, "--session", "tenant", "--priority", "1")
        other = self.submit(flow, "--session", "other", "--priority", "1")
        r = harness.run("session", "stop", "tenant", "--redis", self.redis.url, "--json")
        self.assertSucceeded(r)
        self.assertEqual(c("ZCARD", "bull:ordered.nap:delayed"), 0)
        self.assertEqual(c("ZRANGE", "bull:ordered.nap:prioritized", 0, -1), [f"r{other}.n"])
        for run in (later, urgent):
            r = harness.run("result", run, "--redis", self.redis.url, "-c")
            self.assertExit(r, 130)
            self.assertIn("CANCELLED", r.stderr)
        self.start_worker(flow, args=("-c", "1"))
        self.wait_result(other)

    def test_bad_priorities_and_delays_are_named_with_file_and_line(self):
        flow = self.write_tmp("bad.yaml", BAD)
        r = harness.run("validate", flow)
        self.assertExit(r, 3)
        expected = [
            "bad.yaml:4:51: processors.a.priority: must be at least 1, got 0",
            "bad.yaml:5:51: processors.b.priority: priority too large: 2097153 (at most 2097152, as BullMQ; 1 runs "
            "first)",
            "bad.yaml:6:48: processors.c.delay: invalid duration 'soon': expected a number and a unit, e.g. 500ms, "
            "30s, 5m, 1h",
        ]
        lines = r.stderr_lines()
        self.assertEqual(len(lines), len(expected), lines)
        for line, want in zip(lines, expected):
            self.assertTrue(line.endswith(want), line)

    def test_run_flags_are_checked_before_anything_is_queued(self):
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        r = harness.run("run", flow, "--priority", "2")
        self.assertExit(r, 2)
        self.assertIn("--priority and --delay order and defer the run's queued jobs: they need --redis", r.stderr)
        r = self.run_redis(flow, "--priority", "0")
        self.assertExit(r, 2)
        self.assertIn("--priority: Value 0 not in range 1 to 2097152", r.stderr)
        r = self.run_redis(flow, "--delay", "soon")
        self.assertExit(r, 2)
        self.assertIn("--delay: 'soon' is not a duration such as 30s", r.stderr)
        self.assertEqual(self.redis.client("KEYS", "bull:*"), [])

    def test_a_steps_delay_holds_in_process_too(self):
        flow = self.write_tmp("later.yaml", LATER)
        started = time.monotonic()
        r = harness.run("run", flow, "-c")
        self.assertSucceeded(r)
        self.assertGreaterEqual(time.monotonic() - started, 0.69)


class PrioritiesUnderFaults(DistributedTestCase):
    """A delayed run outlives a worker killed with -9 and a Redis restart (AOF on) before its time;
    a prioritized step taken back from a worker killed mid-step runs again, once, keeping its
    priority."""

    FAST_STALLS = ("--lock-duration", "1s", "--stalled-interval", "300ms")

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def test_a_delayed_run_outlives_a_killed_worker_and_a_redis_restart(self):
        flow = self.write_tmp("ordered.yaml", ONE_NAP)
        doomed = self.start_worker(flow)
        r = self.run_redis(flow, "--detach", "-c", "--delay", "2s")
        run = r.json()["run"]
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.redis.restart(down_for=0.3)
        c = self.redis.client
        self.assertIsNotNone(c("ZSCORE", "bull:ordered.nap:delayed", f"r{run}.n"), "the delayed job was lost")
        self.start_worker(flow)
        done = harness.run("result", run, "--wait", "--redis", self.redis.url, "-c", timeout=30)
        self.assertSucceeded(done)
        key = job_key("ordered.nap", run)
        self.assertGreaterEqual(int(c("HGET", key, "processedOn")) - int(c("HGET", key, "timestamp")), 1950,
                                "it started before its delay")
        self.assertEqual(c("LLEN", f"am2z:run:{run}"), 1)

    def test_a_prioritized_step_comes_back_prioritized_after_its_worker_is_killed(self):
        slow = self.write_tmp("slow.yaml", ONE_NAP.replace("150ms", "1500ms").replace("ordered", "slow"))
        doomed = self.start_worker(slow, args=self.FAST_STALLS)
        recovered = self.run_redis(slow, "--detach", "-c", "--priority", "4").json()["run"]
        c = self.redis.client
        self.assertTrue(harness.wait_for(lambda: c("LLEN", "bull:slow.nap:active") == 1, 10))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        first = self.run_redis(slow, "--detach", "-c", "--priority", "1").json()["run"]
        last = self.run_redis(slow, "--detach", "-c", "--priority", "9").json()["run"]
        plain = self.run_redis(slow, "--detach", "-c").json()["run"]
        # One slot. As BullMQ's stalled-job recovery does, the step taken back from the dead worker
        # goes back to wait (it was started in its turn already), keeping its priority; the
        # prioritized runs still queued go lowest number first.
        self.start_worker(slow, args=(*self.FAST_STALLS, "-c", "1"))
        for run in (recovered, first, last, plain):
            self.assertSucceeded(harness.run("result", run, "--wait", "--redis", self.redis.url, "-c", timeout=40))
            self.assertEqual(c("LLEN", f"am2z:run:{run}"), 1)  # exactly one outcome each
        started = {r: int(c("HGET", job_key("slow.nap", r), "processedOn")) for r in (first, last)}
        self.assertLess(started[first], started[last])
        self.assertEqual(c("HGET", job_key("slow.nap", recovered), "priority"), "4")
        self.assertEqual(c("HGET", job_key("slow.nap", recovered), "stc"), "1")  # recovered once

if __name__ == "__main__":
    import unittest
    unittest.main()
