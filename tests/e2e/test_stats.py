"""am2z stats: the queues, live workers and last minute of a deployment after real runs on two
workers, as JSON and as a table; --watch on a pipe prints one line per interval and ends with
exit 0 on SIGTERM; an unreachable Redis is exit 4 and a bad --interval exit 2."""
import json
import re
import signal
import threading
import time
import unittest

import harness
from redis_harness import DistributedTestCase, free_dead_port

CHAIN = """\
version: 1
name: alpha
processors:
  a: {use: set, with: {values: {.a: 1}}}
  b: {use: set, with: {values: {.b: 2}}}
flow: {chain: [a, {parallel: [b]}]}
"""

QUEUES = ["alpha._join", "alpha.a", "alpha.b"]

SUMMARY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z queues=3 waiting=0 active=0 delayed=0 "
                     r"completed=3 failed=0 workers=2 jobs/s=0\.05 p50=\d+ms p99=\d+ms$")


class StatsTest(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.flow = self.write_tmp("alpha.yaml", CHAIN)

    def stats(self, *args):
        return harness.run("stats", "--redis", self.redis.url, *args)

    def run_on_two_workers(self, runs):
        self.start_worker(self.flow, args=("--name", "w-1", "-c", "2"))
        self.start_worker(self.flow, args=("--name", "w-2", "-c", "3"))
        client = self.redis.client
        self.assertTrue(harness.wait_for(lambda: len(client("KEYS", "am2z:worker:*")) == 2, timeout=10),
                        "the workers' heartbeats did not appear")
        for _ in range(runs):
            self.assertSucceeded(self.run_redis(self.flow, "-c", "--session", "stats-test"))

    def read_lines(self, proc, count, timeout=20):
        """`count` lines of a running am2z's stdout; kills it if they do not come in time."""
        guard = threading.Timer(timeout, proc.kill)
        guard.start()
        try:
            return [proc.stdout.readline() for _ in range(count)]
        finally:
            guard.cancel()

    def test_json_counts_each_queue_and_lists_the_workers(self):
        self.run_on_two_workers(3)
        res = self.stats("--json")
        self.assertExit(res, 0)
        s = res.json()
        self.assertEqual(s["prefix"], "bull")
        self.assertEqual((s["windowMs"], s["sampleCap"], s["sessionsTotal"]), (60000, 10000, 1))
        self.assertEqual([(x["session"], x["runs"], x["completed"], x["running"]) for x in s["sessions"]],
                         [("stats-test", 3, 3, 0)])
        self.assertEqual([q["name"] for q in s["queues"]], QUEUES)  # and no am2z:* key
        for q in s["queues"]:
            with self.subTest(queue=q["name"]):
                counts = {k: q[k] for k in ("waiting", "active", "delayed", "prioritized", "waitingChildren",
                                            "completed", "failed")}
                self.assertEqual(counts, {"waiting": 0, "active": 0, "delayed": 0, "prioritized": 0,
                                          "waitingChildren": 0, "completed": 3, "failed": 0})
                window = q["lastMinute"]
                self.assertEqual((window["completed"], window["failed"], window["sampled"]), (3, 0, 3))
                self.assertEqual(window["perSecond"], 0.05)
                self.assertIsInstance(window["p50Ms"], int)
                self.assertLessEqual(window["p50Ms"], window["p99Ms"])
        totals = s["totals"]
        self.assertEqual((totals["queues"], totals["workers"], totals["completed"]), (3, 2, 9))
        self.assertEqual((totals["lastMinute"]["completed"], totals["lastMinute"]["perSecond"]), (9, 0.15))
        workers = s["workers"]
        self.assertEqual([w["name"] for w in workers], ["w-1", "w-2"])
        self.assertEqual([w["concurrency"] for w in workers], [2, 3])
        self.assertEqual([w["pid"] for w in workers], [p.pid for p in self.workers])
        for w in workers:
            self.assertEqual(sorted(w["queues"]), QUEUES)
            self.assertTrue(w["host"])
            self.assertEqual(w["uptimeMs"], w["seen"] - w["started"])

    def test_another_prefix_sees_nothing_of_this_one(self):
        self.run_on_two_workers(1)
        s = self.stats("--json", "--prefix", "blue").json()
        self.assertEqual((s["queues"], s["workers"], s["totals"]["completed"]), ([], [], 0))

    def test_text_lists_queues_and_workers_within_80_columns(self):
        self.run_on_two_workers(1)
        res = self.stats()
        self.assertExit(res, 0)
        lines = res.stdout.splitlines()
        self.assertTrue(lines[0].startswith(f"am2z stats {self.redis.url}/0 prefix 'bull' at "), lines[0])
        # Sections: the title, the queues, the last minute, the sessions, the workers (split by blank lines).
        sections = [part.splitlines() for part in res.stdout.split("\n\n")]
        self.assertEqual(len(sections), 5, res.stdout)
        queues, last_minute, sessions, workers = ({line.split()[0]: line.split()[1:] for line in part}
                                                  for part in sections[1:])
        self.assertEqual(sessions["SESSION"], ["RUNS", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
        self.assertEqual(sessions["stats-test"], ["1", "0", "1", "0", "0"])
        self.assertEqual(queues["QUEUE"], ["WAITING", "ACTIVE", "DELAYED", "PRIOR", "CHILDREN", "COMPLETED",
                                           "FAILED"])
        for name in QUEUES:
            self.assertEqual(queues[name], ["0", "0", "0", "0", "0", "1", "0"], name)
        self.assertEqual(queues["total"], ["0", "0", "0", "0", "0", "3", "0"])
        self.assertEqual(last_minute["LAST"], ["MINUTE", "JOBS/S", "FINISHED", "FAILED", "P50", "P99", "SAMPLED"])
        self.assertEqual(sorted(last_minute), sorted(["LAST", "total", *QUEUES]))
        self.assertEqual(last_minute["total"][:3], ["0.05", "3", "0"])
        self.assertEqual(workers["WORKER"], ["HOST", "PID", "QUEUES", "CONC", "ACTIVE", "COMPLETED", "FAILED",
                                             "UPTIME"])
        self.assertEqual(workers["w-1"][1:4], [str(self.workers[0].pid), "3", "2"])
        self.assertEqual(workers["w-2"][1:4], [str(self.workers[1].pid), "3", "3"])
        for line in lines:
            self.assertLess(len(line), 80, line)

    def test_watch_on_a_pipe_prints_one_line_per_interval_until_sigterm(self):
        self.run_on_two_workers(1)
        proc = harness.start("stats", "--redis", self.redis.url, "--watch", "--interval", "200ms")
        started = time.monotonic()
        lines = self.read_lines(proc, 3)
        self.assertGreaterEqual(time.monotonic() - started, 0.35)  # two intervals between three lines
        for line in lines:
            self.assertRegex(line.rstrip("\n"), SUMMARY)
        proc.send_signal(signal.SIGTERM)
        res = harness.finish(proc)
        self.assertExit(res, 0)
        self.assertEqual(res.stderr, "")

    def test_watch_json_prints_one_object_per_line_until_ctrl_c(self):
        self.run_on_two_workers(1)
        proc = harness.start("stats", "--redis", self.redis.url, "--watch", "--json", "--interval", "100ms")
        for line in self.read_lines(proc, 2):
            self.assertEqual(json.loads(line)["totals"]["completed"], 3)
        proc.send_signal(signal.SIGINT)
        self.assertExit(harness.finish(proc), 0)

    def test_watch_stops_cleanly_on_a_sigint_delivered_twice(self):
        # `timeout -s INT` signals the process and then its process group: one Ctrl-C, twice.
        self.run_on_two_workers(1)
        proc = harness.start("stats", "--redis", self.redis.url, "--watch", "--interval", "5s")
        self.read_lines(proc, 1)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)  # apart, so the two are not merged into one pending signal
        proc.send_signal(signal.SIGINT)
        res = harness.finish(proc)
        self.assertExit(res, 0)
        self.assertEqual(res.stderr, "")

    def test_unreachable_redis_is_exit_4(self):
        url = f"redis://127.0.0.1:{free_dead_port()}"
        res = harness.run("stats", "--redis", url)
        self.assertExit(res, 4)
        self.assertIn(f"am2z stats: cannot use Redis at {url}/0", res.stderr)
        self.assertIn("Connection refused", res.stderr)
        self.assertEqual(res.stdout, "")

    def test_bad_interval_is_a_usage_error(self):
        for text in ("soon", "0s"):
            with self.subTest(interval=text):
                res = self.stats("--watch", "--interval", text)
                self.assertExit(res, 2)
                self.assertEqual(res.stderr, f"am2z stats: --interval: '{text}' is not a positive duration\n")
        res = self.stats("--interval", "1s")
        self.assertExit(res, 2)
        self.assertIn("--interval requires --watch", res.stderr)


if __name__ == "__main__":
    unittest.main()
