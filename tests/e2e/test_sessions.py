"""Sessions across machines: `am2z session list|stats|stop` on a real Redis with two workers.
Stopping one session ends all its runs CANCELLED and removes its jobs; another session's runs,
results and counters are untouched; idle sessions' index expires, running ones' never."""
import json
import time
import unittest

import harness
from redis_harness import DistributedTestCase, free_dead_port

SLOW = """\
version: 1
name: slow
processors:
  a: {use: sleep, with: {duration: 400ms}}
  b: {use: set, with: {values: {.done: true}}}
flow: {chain: [a, b]}
"""

# Its first step outlasts every test: its runs only end by being stopped, however slow the build.
GATED = """\
version: 1
name: gated
processors:
  a: {use: sleep, with: {duration: 10m}}
  b: {use: set, with: {values: {.done: true}}}
flow: {chain: [a, b]}
"""

LONG = """\
version: 1
name: long
processors:
  nap: {use: sleep, with: {duration: 2500ms}}
flow: nap
"""


class SessionTest(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.flow = self.write_tmp("slow.yaml", SLOW)

    def session(self, *args, timeout=30.0):
        return harness.run("session", *args, "--redis", self.redis.url, timeout=timeout)

    def session_json(self, *args):
        res = self.session(*args, "--json")
        self.assertExit(res, 0)
        return json.loads(res.stdout)

    def detach(self, session, *extra, flow=None):
        res = self.run_redis(flow or self.flow, "--detach", "-c", "--session", session, *extra)
        self.assertExit(res, 0)
        return json.loads(res.stdout)["run"]

    def keys_of_runs(self, runs):
        found = []
        for key in self.redis.client("KEYS", "bull:*"):
            if any(f":r{run}." in key for run in runs):
                found.append(key)
        for name in ("wait", "active", "completed", "failed", "delayed", "waiting-children"):
            for q in ("slow.a", "slow.b", "gated.a", "gated.b"):
                key = f"bull:{q}:{name}"
                kind = self.redis.client("TYPE", key)
                ids = self.redis.client("LRANGE", key, 0, -1) if kind == "list" else \
                    self.redis.client("ZRANGE", key, 0, -1) if kind == "zset" else []
                found += [f"{key} {i}" for i in ids if any(i.startswith(f"r{run}.") for run in runs)]
        return found

    def test_stop_ends_one_session_and_leaves_the_other_alone(self):
        gated = self.write_tmp("gated.yaml", GATED)
        self.start_worker(self.flow, gated, args=("-c", "2"))
        self.start_worker(self.flow, gated, args=("-c", "2"))
        # beta: 3 runs that must all complete; alpha: 12 runs that only a stop ends (4 of them
        # active on the workers' slots, 8 queued), two of them with waiting submitters
        beta = [self.detach("beta") for _ in range(3)]
        waiting = [harness.start("run", gated, "--redis", self.redis.url, "--session", "alpha", "-c")
                   for _ in range(2)]
        alpha = [self.detach("alpha", flow=gated) for _ in range(10)]
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:gated.a:active") == 4, timeout=30),
                        "the workers did not take alpha's steps")
        res = self.session("stop", "alpha", "--grace", "20s", "--json")
        self.assertExit(res, 0)
        report = json.loads(res.stdout)
        self.assertTrue(report["found"])
        self.assertEqual(len(report["cancelledRuns"]), 12, report)
        self.assertTrue(set(alpha) <= set(report["cancelledRuns"]), "a run of alpha was not cancelled")
        self.assertEqual(report["removedJobs"], 12)  # 8 queued at once, the 4 cancelled active ones after
        self.assertEqual(report["stillActive"], 0)
        for proc in waiting:  # the submitters waiting on stopped runs end with 130
            r = harness.finish(proc, timeout=20)
            err = self.assertFailedWith(r, 130)
            self.assertEqual(err["message"], "cancelled: session alpha stopped")
        for run in alpha:
            r = harness.run("result", run, "--redis", self.redis.url)
            self.assertEqual(self.assertFailedWith(r, 130)["code"], "CANCELLED")
        self.assertEqual(self.keys_of_runs(alpha + report["cancelledRuns"]), [], "jobs of alpha left behind")
        for run in beta:  # untouched: they finish, with their results
            r = harness.run("result", run, "--redis", self.redis.url, "--wait", "--timeout", "20s")
            self.assertTrue(self.assertSucceeded(r)["done"])
        # stopping again finds nothing to do; an unknown session neither
        again = self.session_json("stop", "alpha", "--grace", "1s")
        self.assertEqual((again["found"], again["cancelledRuns"], again["removedJobs"]), (True, [], 0))
        unknown = self.session("stop", "nobody")
        self.assertExit(unknown, 0)
        self.assertEqual(unknown.stdout, "session nobody: nothing to stop (never used, or expired)\n")

        listed = {s["session"]: s for s in self.session_json("list")["sessions"]}
        self.assertEqual(listed["beta"]["runs"], 3)
        self.assertEqual(listed["beta"]["completed"], 3)
        self.assertEqual(listed["beta"]["running"], 0)
        self.assertIsNone(listed["beta"]["stopped"])
        self.assertEqual(listed["alpha"]["runs"], 12)
        self.assertEqual(listed["alpha"]["running"], 0)
        self.assertEqual(listed["alpha"]["cancelled"], 12)
        self.assertIsInstance(listed["alpha"]["stopped"], int)

        stats = self.session_json("stats", "beta")
        queues = {q["queue"]: q for q in stats["queues"]}
        self.assertEqual(sorted(queues), ["slow.a", "slow.b"])
        self.assertEqual(queues["slow.a"]["completed"], 3)
        self.assertEqual(queues["slow.a"]["lastMinute"]["completed"], 3)
        self.assertGreaterEqual(queues["slow.a"]["lastMinute"]["p50Ms"], 350)  # the 400 ms sleep
        self.assertEqual(queues["slow.a"]["waiting"], 0)

    def test_stop_while_the_worker_holding_its_steps_is_killed(self):
        # The stop does not need the workers: each run gets its one CANCELLED outcome at once;
        # the steps a killed worker held come back by stalled recovery and fail unrun.
        gated = self.write_tmp("gated.yaml", GATED)
        victim = self.start_worker(gated, args=("-c", "2", "--lock-duration", "2s"))
        runs = [self.detach("doomed", flow=gated) for _ in range(3)]
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:gated.a:active") == 2, timeout=30))
        victim.kill()  # SIGKILL mid-step
        victim.wait()
        report = self.session_json("stop", "doomed", "--grace", "500ms")
        self.assertEqual(sorted(report["cancelledRuns"]), sorted(runs))
        self.assertEqual(report["stillActive"], 2)  # nobody is left to end them
        self.start_worker(gated, args=("--stalled-interval", "500ms"))
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:gated.a:active") == 0, timeout=30),
                        "the dead worker's steps never came back")
        for run in runs:
            self.assertEqual(self.redis.client("LLEN", f"am2z:run:{run}"), 1, "a run must have exactly one outcome")
            r = harness.run("result", run, "--redis", self.redis.url)
            self.assertEqual(self.assertFailedWith(r, 130)["message"], "cancelled: session doomed stopped")

    def test_text_output(self):
        self.start_worker(self.flow)
        res = self.run_redis(self.flow, "--session", "ci-7", "-c")
        self.assertSucceeded(res)
        text = self.session("list")
        self.assertExit(text, 0)
        self.assertTrue(text.stdout.startswith("SESSION "))
        self.assertRegex(text.stdout, r"\nci-7 +1 +0 +1 +0 +0  ")
        stats = self.session("stats", "ci-7")
        self.assertExit(stats, 0)
        self.assertIn("session ci-7: 1 runs, 0 running, 1 completed, 0 failed, 0 cancelled", stats.stdout)
        self.assertRegex(stats.stdout, r"\nslow\.a +0 +0 +0 +1 +0 +1 +\d+ms +\d+ms\n")
        stop = self.session("stop", "ci-7")
        self.assertEqual(stop.stdout, "session ci-7 stopped: 0 running run(s) cancelled, 2 job(s) removed "
                                      "(slow.a: 1, slow.b: 1)\n")

    def test_a_run_without_a_session_is_a_session_of_its_own(self):
        # not indexed (it would cost every run a dozen writes), but stoppable by its generated id
        res = self.run_redis(self.flow, "--detach", "-c")  # no worker yet: it stays queued
        out = json.loads(res.stdout)
        self.assertEqual(out["session"], "session-" + out["run"])
        self.assertEqual(self.session_json("list"), {"sessions": [], "total": 0})
        stop = self.session_json("stop", out["session"])
        self.assertEqual((stop["found"], stop["cancelledRuns"]), (True, [out["run"]]))
        r = harness.run("result", out["run"], "--redis", self.redis.url)
        self.assertEqual(self.assertFailedWith(r, 130)["message"], f"cancelled: session {out['session']} stopped")
        again = self.session_json("stop", out["session"])  # ended: nothing to do
        self.assertEqual((again["found"], again["cancelledRuns"]), (True, []))
        self.start_worker(self.flow)  # its queued step fails unrun: the run keeps its one outcome
        time.sleep(1)
        r = harness.run("result", out["run"], "--redis", self.redis.url)
        self.assertEqual(self.assertFailedWith(r, 130)["code"], "CANCELLED")
        ghost = self.session_json("stop", "session-0123456789abcdef")  # no such run
        self.assertEqual((ghost["found"], ghost["cancelledRuns"]), (False, []))

    def test_unknown_session_stats_exit_5(self):
        res = self.session("stats", "ghost")
        self.assertExit(res, 5)
        self.assertEqual(res.stderr, "am2z session stats: no session 'ghost' under prefix 'bull' (never used, or "
                                     "expired)\n")

    def test_idle_sessions_expire_running_ones_do_not(self):
        long_flow = self.write_tmp("long.yaml", LONG)
        self.start_worker(self.flow, long_flow)
        self.assertSucceeded(self.run_redis(self.flow, "--session", "brief", "--session-ttl", "1s"))
        running = harness.start("run", long_flow, "--redis", self.redis.url, "--session", "busy",
                                "--session-ttl", "1s")
        time.sleep(1.6)
        self.assertEqual(self.redis.client("EXISTS", "am2z:session:brief"), 0, "an idle session must expire")
        self.assertEqual(self.redis.client("EXISTS", "am2z:session:busy"), 1, "a running session must stay")
        self.assertEqual(self.redis.client("PTTL", "am2z:session:busy"), -1)
        self.assertSucceeded(harness.finish(running, timeout=20))
        self.assertTrue(harness.wait_for(lambda: self.redis.client("EXISTS", "am2z:session:busy") == 0, timeout=5))
        names = [s["session"] for s in self.session_json("list")["sessions"]]
        self.assertNotIn("brief", names)
        self.assertNotIn("busy", names)
        self.assertEqual(self.redis.client("ZCARD", "am2z:sessions"), 0, "list forgets expired sessions")

    def test_bad_grace_and_dead_redis(self):
        res = self.session("stop", "x", "--grace", "soon")
        self.assertExit(res, 2)
        self.assertIn("--grace", res.stderr)
        dead = harness.run("session", "list", "--redis", f"redis://127.0.0.1:{free_dead_port()}")
        self.assertExit(dead, 4)
        self.assertIn("am2z session list", dead.stderr)


if __name__ == "__main__":
    unittest.main()
