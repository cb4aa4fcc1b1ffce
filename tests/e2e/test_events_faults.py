"""Events across machines under faults: a worker killed with -9 while it holds a step, and a
Redis restart mid-run. Steps run at least once, so a step may start twice; but the run's events
must still begin with flow:started and end with its one final event, in the submitter's
--events file, in a third process following the session, and in `am2z events` read later."""
import datetime
import json
import signal
import subprocess
import threading
import time
import unittest

import harness
from redis_harness import DistributedTestCase, RedisServer

# `nap` outlasts the time the test needs to find and kill the worker holding it.
KILLED = """\
version: 1
name: killed
processors:
  first: {use: set, with: {values: {first: true}}}
  nap: {use: sleep, with: {duration: 3s}}
  second: {use: set, with: {values: {second: true}}}
flow: {chain: [first, nap, second]}
"""

# Redis goes away for 1 s while nap1 runs: its 800 ms step most likely ends while Redis is down
# (the worker then sends its end again), and the rest of the run's events come after the restart.
RESTARTED = """\
version: 1
name: restarted
processors:
  first: {use: set, with: {values: {first: true}}}
  nap1: {use: sleep, with: {duration: 800ms}}
  mid: {use: set, with: {values: {mid: true}}}
  nap2: {use: sleep, with: {duration: 800ms}}
  last: {use: set, with: {values: {last: true}}}
flow: {chain: [first, nap1, mid, nap2, last]}
"""

FINAL = ("flow:completed", "flow:failed")
# Short locks and frequent stalled checks so a killed worker's step comes back within seconds.
FAST_RECOVERY = ("--lock-duration", "2s", "--stalled-interval", "500ms")


def read_jsonl(path):
    """The complete lines of an events file written by another process (a partial last line is
    skipped: the writer may be in the middle of it)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def epoch(ts):
    """An event's ISO-8601 UTC `ts` as Unix seconds."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def names(events, processor=None):
    return [e["event"] for e in events if processor is None or e.get("processor") == processor]


class LineCollector:
    """Reads a child's stdout on a thread, so the test polls with a deadline instead of blocking
    on readline()."""

    def __init__(self, proc):
        self.proc, self.lines, self.stderr = proc, [], ""
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def stop(self, sig=signal.SIGTERM):
        """Signals the child; its exit code (None if it outlived 10 s and was killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self._thread.join(timeout=10)
        self.proc.stdout.close()
        if not self.proc.stderr.closed:  # stop() runs again as the test's cleanup
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return code

    def _read(self, stream):
        for line in stream:
            if line.strip():
                self.lines.append(json.loads(line))


class EventsFaultCase(DistributedTestCase):
    def events_json(self, *args):
        res = harness.run("events", *args, "--redis", self.redis.url, "--json")
        self.assertExit(res, 0)
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def assertWellFormed(self, events, flow):
        """One run, flow:started first, exactly one final event and it is last."""
        self.assertTrue(events, "no events at all")
        self.assertEqual(len({e["runId"] for e in events}), 1, events)
        self.assertEqual(events[0]["event"], "flow:started", events)
        self.assertEqual(events[0]["flow"], flow)
        finals = [e for e in events if e["event"] in FINAL]
        self.assertEqual(len(finals), 1, f"expected exactly one final event: {names(events)}")
        self.assertIs(events[-1], finals[0], f"the final event is not last: {names(events)}")

    def assertStartedBeforeCompleted(self, events):
        """Every processor:completed follows a processor:started of the same processor."""
        started = set()
        for e in events:
            if e["event"] == "processor:started":
                started.add(e["processor"])
            elif e["event"] == "processor:completed":
                self.assertIn(e["processor"], started, f"completed before started: {names(events)}")


class WorkerKilledMidStep(EventsFaultCase):
    def test_kill_9_of_the_worker_holding_a_step(self):
        flow = self.write_tmp("killed.yaml", KILLED)
        path = self.tmp_path("events.jsonl")
        # The follower starts before the run; it must see the whole run though a worker dies.
        follower = harness.start("events", "--redis", self.redis.url, "--session", "S", "--follow", "--json")
        followed = LineCollector(follower)
        self.addCleanup(followed.stop, signal.SIGKILL)
        workers = {name: self.start_worker(flow, args=FAST_RECOVERY + ("--name", name)) for name in ("w1", "w2")}
        submit = harness.start("run", flow, "--redis", self.redis.url, "--events", path, "--session", "S")

        # processor:started of nap carries its jobId; the job's `pb` names the worker that took it
        # (the one that published that event as nap started, while nap still runs).
        def nap_started():
            return [e for e in read_jsonl(path) if e["event"] == "processor:started" and e["processor"] == "nap"]
        first_start = harness.wait_for(nap_started, 20)
        self.assertTrue(first_start, f"nap never started; events: {names(read_jsonl(path))}")
        job_id = first_start[0]["jobId"]
        holder = self.redis.client("HGET", f"bull:killed.nap:{job_id}", "pb")
        self.assertIn(holder, workers)
        workers[holder].send_signal(signal.SIGKILL)
        workers[holder].wait()
        self.assertEqual(names(read_jsonl(path), "nap"), ["processor:started"], "nap ended before the kill")

        state = self.assertSucceeded(harness.finish(submit, timeout=60))
        self.assertTrue(state["first"] and state["second"], state)
        events = read_jsonl(path)
        self.assertWellFormed(events, "killed")
        self.assertEqual(events[-1]["event"], "flow:completed")
        self.assertStartedBeforeCompleted(events)
        # nap ran again on the surviving worker, and completed once: the killed attempt never did.
        self.assertEqual(names(events, "nap"), ["processor:started", "processor:started", "processor:completed"])
        self.assertEqual({e["jobId"] for e in events if e.get("processor") == "nap" and "jobId" in e}, {job_id})
        self.assertEqual(self.redis.client("HGET", f"bull:killed.nap:{job_id}", "pb"),
                         ({"w1", "w2"} - {holder}).pop())
        for step in ("first", "second"):
            self.assertEqual(names(events, step), ["processor:started", "processor:completed"])

        # The third process saw the same events, in the same order, ending with flow:completed.
        seen = harness.wait_for(lambda: any(e["event"] in FINAL for e in followed.lines), 20)
        self.assertTrue(seen, f"the follower never saw the final event: {names(followed.lines)}")
        self.assertEqual(followed.stop(), 0, "am2z events --follow did not exit 0 on SIGTERM")
        self.assertEqual(followed.lines, events)

        # Read afterwards from another process: the same events, the final one exactly once.
        run_id = events[0]["runId"]
        stored = self.events_json("--run", run_id)
        self.assertEqual(stored, events)
        self.assertEqual([e for e in stored if e["event"] in FINAL], [events[-1]])


class RedisRestartedMidRun(EventsFaultCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)  # AOF, fsync always: nothing accepted is lost

    def test_redis_restart_while_a_step_runs(self):
        flow = self.write_tmp("restarted.yaml", RESTARTED)
        path = self.tmp_path("events.jsonl")
        # A follower in a third process outlives the restart too: it reads on once Redis is back.
        followed = LineCollector(harness.start("events", "--redis", self.redis.url, "--session", "R", "--follow",
                                               "--json"))
        self.addCleanup(followed.stop, signal.SIGKILL)
        for _ in range(2):
            self.start_worker(flow)
        # Every process is connected before Redis goes away: one still starting would find no
        # Redis and exit 4 (a start against a dead Redis is an error, tested elsewhere), and the
        # restart would test nothing for it. A worker's heartbeat comes after its connections.
        self.assertTrue(harness.wait_for(lambda: len(self.redis.client("KEYS", "am2z:worker:*")) == 2, 20),
                        "the two workers never registered")
        submit = harness.start("run", flow, "--redis", self.redis.url, "--events", path, "--session", "R")
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:restarted.nap1:active") == 1, 20),
                        f"nap1 never started; events: {names(read_jsonl(path))}")
        # `first` has completed, so the follower, once connected, has printed its events.
        if not harness.wait_for(lambda: followed.lines, 20):
            code = followed.stop()
            self.fail(f"the follower printed nothing before the restart (exit {code}): {followed.stderr}")
        restarted_at = time.time()
        self.redis.restart(down_for=1.0)  # workers, the submitter and its event reader lose Redis

        result = harness.finish(submit, timeout=60)
        state = self.assertSucceeded(result)
        self.assertTrue(all(state[k] for k in ("first", "mid", "last")), state)
        events = read_jsonl(path)
        self.assertWellFormed(events, "restarted")
        self.assertEqual(events[-1]["event"], "flow:completed", result.describe())
        self.assertStartedBeforeCompleted(events)
        # No lock expired (30 s default), so each step completed once, in chain order, and the
        # event reader did not read any event twice across its reconnection.
        completed = [e for e in events if e["event"] == "processor:completed"]
        self.assertEqual([e["processor"] for e in completed], ["first", "nap1", "mid", "nap2", "last"])
        # nap1 was still running when Redis went down (else the restart tested nothing mid-step)
        self.assertGreater(epoch(completed[1]["ts"]), restarted_at)
        lines = [json.dumps(e, sort_keys=True) for e in events]
        self.assertEqual(len(lines), len(set(lines)), f"an event was written twice: {names(events)}")
        # The stream survived the restart: read later, it holds what the file holds.
        self.assertEqual(self.events_json("--run", events[0]["runId"]), events)
        outcomes = self.redis.client("LLEN", f"am2z:run:{events[0]['runId']}")
        self.assertEqual(outcomes, 1, "a run must have exactly one outcome")
        seen = harness.wait_for(lambda: any(e["event"] in FINAL for e in followed.lines), 20)
        self.assertTrue(seen, f"the follower never saw the final event: {names(followed.lines)}")
        self.assertEqual(followed.stop(), 0, "am2z events --follow did not exit 0 on SIGTERM")
        self.assertEqual(followed.lines, events)
        # it said that it lost Redis, and that it follows on
        self.assertIn("am2z events: Redis at ", followed.stderr)
        self.assertIn("am2z events: Redis answers again; following on", followed.stderr)


if __name__ == "__main__":
    unittest.main()
