"""Events across machines: workers publish a run's lifecycle and custom events to Redis when the
run asks for them; `run --redis --events FILE` writes the same JSON lines a local run writes, and
`am2z events` reads them from any process."""
import json
import time
import unittest

import harness
from redis_harness import DistributedTestCase, free_dead_port

FLOW = """\
version: 1
name: ev
processors:
  a: {use: set, with: {values: {.x: 1}}}
  b:
    use: exec
    with:
      argv: [python3, -c, "import sys; print('::am2z-event {\\"event\\": \\"progress\\", \\"data\\": {\\"pct\\": 50}}', file=sys.stderr); sys.stdout.write(sys.stdin.read())"]
  c: {use: set, with: {values: {.y: 2}}}
flow: {chain: [a, {parallel: [b, c]}]}
"""

FLAKY = """\
version: 1
name: flaky
processors:
  boom: {use: fail, with: {error: network, message: down}, retry: {attempts: 2, backoff: 10ms}}
flow: boom
"""

SLOW = """\
version: 1
name: slow
processors:
  nap: {use: sleep, with: {duration: 1500ms}}
  after: {use: set, with: {values: {.done: true}}}
flow: {chain: [nap, after]}
"""

# What differs between a local and a distributed run of the same flow, or between two runs.
VOLATILE = ("ts", "runId", "sessionId", "durationMs", "jobId", "executionId")


def normal(events):
    return [{k: v for k, v in e.items() if k not in VOLATILE} for e in events]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class EventsTest(DistributedTestCase):
    def events(self, *args, timeout=30.0):
        return harness.run("events", *args, "--redis", self.redis.url, timeout=timeout)

    def test_run_redis_events_writes_what_a_local_run_writes(self):
        flow = self.write_tmp("ev.yaml", FLOW)
        local_file, dist_file = self.tmp_path("local.jsonl"), self.tmp_path("dist.jsonl")
        self.assertSucceeded(harness.run("run", flow, "--events", local_file))
        self.start_worker(flow)
        self.start_worker(flow)
        res = self.run_redis(flow, "--events", dist_file, "--session", "ev-1")
        self.assertSucceeded(res)
        local, dist = read_jsonl(local_file), read_jsonl(dist_file)
        self.assertEqual({e["runId"] for e in dist}, {dist[0]["runId"]})
        self.assertEqual({e["sessionId"] for e in dist}, {"ev-1"})
        # The branches of the parallel interleave differently on two workers; everything else is
        # in the same order.
        self.assertEqual(normal(dist)[:3], normal(local)[:3])
        self.assertEqual(normal(dist)[-1], normal(local)[-1])
        key = lambda e: json.dumps(e, sort_keys=True)  # noqa: E731
        self.assertEqual(sorted(map(key, normal(dist))), sorted(map(key, normal(local))))
        names = [e["event"] for e in dist]
        self.assertEqual(names[0], "flow:started")
        self.assertEqual(names[-1], "flow:completed")
        custom = [e for e in dist if e["event"] == "progress"]
        self.assertEqual(custom[0]["data"], {"pct": 50})
        self.assertEqual(custom[0]["processor"], "b")
        # a branch's own events stay in order: started, its custom event, completed
        b = [e["event"] for e in dist if e.get("processor") == "b"]
        self.assertEqual(b, ["processor:started", "progress", "processor:completed"])

    def test_retries_and_failures_are_published(self):
        flow = self.write_tmp("flaky.yaml", FLAKY)
        self.start_worker(flow)
        path = self.tmp_path("flaky.jsonl")
        self.assertFailedWith(self.run_redis(flow, "--events", path), 1)
        names = [(e["event"], e.get("attempt")) for e in read_jsonl(path)]
        self.assertEqual(names, [("flow:started", None), ("processor:started", 1), ("processor:retrying", 1),
                                 ("processor:started", 2), ("processor:failed", 2), ("flow:failed", None)])
        retrying = read_jsonl(path)[2]
        self.assertEqual((retrying["nextAttempt"], retrying["delayMs"] >= 0), (2, True))
        self.assertEqual(read_jsonl(path)[-1]["error"]["message"], "down")

    def test_a_give_up_ends_the_file_with_flow_failed(self):
        flow = self.write_tmp("slow.yaml", SLOW)
        self.start_worker(flow)
        path = self.tmp_path("slow.jsonl")
        res = self.run_redis(flow, "--events", path, "--timeout", "500ms")
        self.assertFailedWith(res, 124)
        events = read_jsonl(path)
        self.assertEqual(events[0]["event"], "flow:started")
        self.assertEqual(events[-1]["event"], "flow:failed")
        self.assertEqual(events[-1]["error"]["category"], "timeout")

    def test_followed_from_a_third_process(self):
        flow = self.write_tmp("slow.yaml", SLOW)
        follower = harness.start("events", "--redis", self.redis.url, "--session", "watched", "--follow", "--json")
        self.start_worker(flow)
        detached = self.run_redis(flow, "--detach", "-c", "--session", "watched", "--publish-events")
        run_id = json.loads(detached.stdout)["run"]
        self.run_redis(flow, "--detach", "-c", "--session", "other", "--publish-events")  # filtered out
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            if not line:
                break
            lines.append(json.loads(line))
            if lines[-1]["event"] == "flow:completed":
                break
        follower.terminate()
        res = harness.finish(follower, timeout=10)
        self.assertEqual(res.code, 0, res.stderr)
        self.assertEqual([e["event"] for e in lines],
                         ["flow:started", "processor:started", "processor:completed", "processor:started",
                          "processor:completed", "flow:completed"])
        self.assertEqual({e["runId"] for e in lines}, {run_id})
        # read again later, without --follow, filtered by run, as text
        text = self.events("--run", run_id)
        self.assertExit(text, 0)
        self.assertEqual(len(text.stdout.splitlines()), 6)
        self.assertIn(f"  {run_id}  processor:completed  nap  attempt=1  ", text.stdout)

    def test_nothing_is_published_unless_asked(self):
        flow = self.write_tmp("ev.yaml", FLOW)
        self.start_worker(flow)
        self.assertSucceeded(self.run_redis(flow))
        self.assertEqual(self.redis.client("XLEN", "am2z:events"), 0)
        self.assertEqual(self.events().stdout, "")

    def test_unreachable_redis_is_exit_4(self):
        res = harness.run("events", "--redis", f"redis://127.0.0.1:{free_dead_port()}")
        self.assertExit(res, 4)
        self.assertIn("am2z events", res.stderr)


if __name__ == "__main__":
    unittest.main()
