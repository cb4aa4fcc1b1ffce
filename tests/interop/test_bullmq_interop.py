"""BullMQ interop: am2z's distributed mode against the real npm packages bullmq 6.7.0 and
@bull-board/api (versions pinned in package.json / package-lock.json).

- jobs added by BullMQ's Queue.add are processed by `am2z worker`, with BullMQ's attempts,
  backoff, delay, priority and retention options, Queue.pause, job.retry (Bull Board's retry)
  and FlowProducer parent/child flows (job schedulers are not supported yet: README says so);
- jobs am2z wrote (waiting, active, waiting-children, completed, failed) read back through
  Queue.getJob / getJobCounts / getState, the parent-child links of joins, and Bull Board's API
  (createBullBoard + BullMQAdapter, responses checked against Bull Board's schemas);
- QueueEvents receives completed and failed events from am2z workers;
- a Node BullMQ Worker performs the `remote` step of an am2z flow.

Each test class has its own redis-server (tests/e2e/redis_harness.py, flushed before every test)
and each test its own am2z worker. Node, npm and redis-server must be present and the npm
registry reachable for the one-time `npm ci` (see interop_support.py): otherwise the tests fail,
they never skip.
"""

import json
import signal
import unittest

import interop_support as support
from interop_support import NodeScripts, harness, redis_harness

NODE = None
WORKSPACE = None
SETUP_ERROR = None


def setUpModule():
    global NODE, WORKSPACE, SETUP_ERROR
    try:
        NODE, WORKSPACE = support.prepare_node_workspace()
    except support.SetupError as e:
        SETUP_ERROR = str(e)


FOREIGN_FLOW = """\
version: 1
name: foreign
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  other: {use: set, with: {values: {.other: true}}}
  flaky: {use: fail, with: {error: network, message: "connection reset", times: 2}}
  down: {use: fail, with: {error: network, message: "still down", times: 1000}}
  nap: {use: sleep, with: {duration: 1500ms}}
flow:
  route: .mode
  cases: {stamp: stamp, other: other, flaky: flaky, down: down, nap: nap}
"""

BOARD_FLOW = """\
version: 1
name: board
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  one: {use: set, with: {values: {.one: 1}}}
  two: {use: set, with: {values: {.two: 2}}}
  slow: {use: sleep, with: {duration: 3s}}
  finish: {use: set, with: {values: {.status: done}}}
  broken:
    use: fail
    with: {error: network, message: "upstream refused", times: 1000}
    retry: {attempts: 2, backoff: 50ms}
flow:
  route: .mode
  cases:
    ok: {chain: [stamp, {parallel: [one, two]}, finish]}
    slow: {chain: [stamp, {parallel: [one, slow]}, finish]}
    bad: {chain: [stamp, broken, finish]}
    branch: {chain: [stamp, {parallel: [one, broken]}, finish]}
"""

EVENTS_FLOW = """\
version: 1
name: events
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  boom: {use: fail, with: {message: "boom from am2z"}}
flow:
  route: .mode
  cases: {ok: stamp, bad: boom}
"""

REMOTE_FLOW = """\
version: 1
name: media
processors:
  prepare: {use: set, with: {values: {.width: 10, .height: 5}}}
  resize:
    use: remote
    with: {queue: images}
    retry: {attempts: 3, backoff: 50ms}
  finish: {use: set, with: {values: {.done: true}}}
flow:
  chain: [prepare, resize, finish]
"""


class InteropTestCase(redis_harness.DistributedTestCase):
    def setUp(self):
        if SETUP_ERROR:
            self.fail(SETUP_ERROR)
        harness.binary()  # fails clearly when AM2Z_BIN is not set to a binary
        super().setUp()
        self.node = NodeScripts(NODE, WORKSPACE, self.redis.port)

    def start_script(self, script, arguments):
        """A Node script running beside am2z, killed at the end of the test if still running."""
        background = self.node.start(script, arguments)
        self.addCleanup(background.kill)
        return background

    def serve(self, flow_text, *extra):
        """Writes the flow and starts an am2z worker for it; returns (worker, flow path)."""
        path = self.write_tmp("flow.yaml", flow_text)
        return self.start_worker(path, args=("-c", "4", *extra)), path

    def stop_worker(self, worker):
        """SIGTERM: the worker must end cleanly (exit 0) once it has served the test."""
        worker.send_signal(signal.SIGTERM)
        result = harness.finish(worker, timeout=20)
        self.assertEqual(result.code, 0, f"am2z worker did not exit cleanly\n{result.describe()}")

    def run_am2z(self, flow_path, state, *extra, timeout=30):
        return self.run_redis(flow_path, "-i", self.write_tmp("input.json", json.dumps(state)), "-c", *extra,
                              timeout=timeout)

    def run_ok(self, flow_path, state, *extra):
        result = self.run_am2z(flow_path, state, *extra)
        self.assertEqual(result.code, 0, f"am2z run --redis failed\n{result.describe()}")
        return result.json()

    def assertTimestamps(self, job):
        """timestamp <= processedOn <= finishedOn, all integer milliseconds of this era."""
        for field in ("timestamp", "processedOn", "finishedOn"):
            self.assertIsInstance(job[field], int, f"{field} of job {job['id']}: {job[field]!r}")
            self.assertGreater(job[field], 1_600_000_000_000, f"{field} of job {job['id']} is not epoch ms")
        self.assertLessEqual(job["timestamp"], job["processedOn"], job)
        self.assertLessEqual(job["processedOn"], job["finishedOn"], job)


ZERO_COUNTS = {"active": 0, "completed": 0, "delayed": 0, "failed": 0, "prioritized": 0, "waiting": 0,
               "waiting-children": 0}


def counts(**nonzero):
    return {**ZERO_COUNTS, **nonzero}


class ForeignJobsTest(InteropTestCase):
    """Jobs added by BullMQ's Queue.add to queues an am2z worker serves."""

    def test_queue_add_jobs_are_processed_by_am2z_worker(self):
        worker, _ = self.serve(FOREIGN_FLOW)
        jobs = [
            {"name": "plain", "data": {"x": 1, "nested": {"k": "v"}}},
            {"name": "later", "data": {"x": 2}, "opts": {"delay": 300}},
            {"name": "urgent", "data": {"x": 3}, "opts": {"priority": 3}},
        ]
        out = self.node.run("foreign_jobs.mjs", {"queue": "foreign.stamp", "jobs": jobs, "timeoutMs": 15000})
        for spec, outcome, job in zip(jobs, out["outcomes"], out["jobs"]):
            # waitUntilFinished resolved with the state the set processor produced
            self.assertTrue(outcome["ok"], outcome)
            rv = outcome["returnvalue"]
            self.assertEqual(self.data_of(rv), {**spec["data"], "stamped": True})
            self.assertEqual(rv["metadata"]["version"], 2, rv)
            # Queue.getJob reads the same job back
            self.assertEqual(job["state"], "completed")
            self.assertEqual(job["name"], spec["name"])
            self.assertEqual(job["data"], spec["data"])
            self.assertEqual(job["returnvalue"], rv)
            self.assertEqual(job["attemptsMade"], 1)
            self.assertIsNone(job["failedReason"], job)
            self.assertTimestamps(job)
        later = out["jobs"][1]
        self.assertGreaterEqual(later["processedOn"] - later["timestamp"], 300, "the delay option was not honoured")
        self.assertEqual(out["jobs"][2]["priority"], 3)
        self.assertEqual(out["counts"], counts(completed=3))
        completed = {e["jobId"]: e for e in out["events"] if e["event"] == "completed"}
        self.assertEqual(set(completed), set(out["ids"]))
        for outcome in out["outcomes"]:
            self.assertEqual(completed[outcome["id"]]["returnvalue"], outcome["returnvalue"])
            self.assertEqual(completed[outcome["id"]]["prev"], "active")
        self.stop_worker(worker)

    def test_job_schedulers_of_a_bullmq_queue_run_on_am2z_workers(self):
        # Queue.upsertJobScheduler on an am2z-served queue: each job of the scheduler that ends on
        # an am2z worker adds the next one, as a BullMQ worker does, by `every` or a cron pattern
        worker, _ = self.serve(FOREIGN_FLOW)
        out = self.node.run("job_scheduler.mjs", {
            "queue": "foreign.stamp", "id": "tick", "repeat": {"every": 300},
            "template": {"name": "tick", "data": {"mode": "stamp", "n": 7}}, "iterations": 3, "timeoutMs": 15000})
        done = sorted((j for j in out["jobs"] if j["state"] == "completed"), key=lambda j: j["id"])
        self.assertGreaterEqual(len(done), 3, out)
        millis = [int(j["id"].rsplit(":", 1)[1]) for j in done]
        for a, b in zip(millis, millis[1:]):
            self.assertEqual((b - a) % 300, 0, millis)  # on the scheduler's grid, none twice
            self.assertGreater(b, a)
        for job in done:
            self.assertEqual(job["name"], "tick")
            self.assertEqual(job["data"], {"mode": "stamp", "n": 7})
            self.assertEqual(self.data_of(job["returnvalue"]), {"mode": "stamp", "n": 7, "stamped": True})
        # what BullMQ reads back of the scheduler: its iterations counted, its next job pending
        self.assertEqual(out["scheduler"]["key"], "tick")
        self.assertEqual(out["scheduler"]["every"], 300)
        self.assertGreaterEqual(out["scheduler"]["iterationCount"], len(done))
        self.assertTrue(out["removed"])
        pending = [j for j in out["jobs"] if j["state"] in ("delayed", "waiting")]
        self.assertLessEqual(len(pending), 1, out["jobs"])

        # a cron pattern with seconds, and a limit of iterations that stops it
        out = self.node.run("job_scheduler.mjs", {
            "queue": "foreign.stamp", "id": "cron", "repeat": {"pattern": "* * * * * *", "limit": 2},
            "template": {"name": "cron", "data": {"mode": "stamp"}}, "iterations": 2, "timeoutMs": 15000,
            "settleMs": 2500})
        done = [j for j in out["jobs"] if j["state"] == "completed"]
        self.assertEqual(len(done), 2, out["jobs"])
        for job in done:
            self.assertEqual(int(job["id"].rsplit(":", 1)[1]) % 1000, 0, job["id"])  # whole seconds
        self.assertEqual([j for j in out["jobs"] if j["state"] != "completed"], [])
        self.stop_worker(worker)

    def test_attempts_and_backoff_of_queue_add_jobs(self):
        worker, _ = self.serve(FOREIGN_FLOW)
        # `flaky` fails the first two attempts: with 3 attempts and a fixed 150 ms backoff it
        # completes on attempt 3, at least 300 ms after it was added.
        recovers = self.node.run("foreign_jobs.mjs", {"queue": "foreign.flaky", "jobs": [
            {"name": "recovers", "data": {"n": 1}, "opts": {"attempts": 3, "backoff": {"type": "fixed", "delay": 150}}},
        ]})
        outcome, job = recovers["outcomes"][0], recovers["jobs"][0]
        self.assertTrue(outcome["ok"], outcome)
        self.assertEqual(self.data_of(outcome["returnvalue"]), {"n": 1})
        self.assertEqual(job["state"], "completed")
        self.assertEqual(job["attemptsMade"], 3)
        self.assertGreaterEqual(job["finishedOn"] - job["timestamp"], 300, "fixed backoff not applied")
        self.assertEqual(recovers["counts"], counts(completed=1))
        delayed = [e for e in recovers["events"] if e["event"] == "delayed"]
        self.assertEqual(len(delayed), 2, recovers["events"])
        # `down` always fails: exponential backoff 100 ms waits 100 then 200 ms, then the job fails
        # for good after 3 attempts; a job without attempts fails at once.
        down = self.node.run("foreign_jobs.mjs", {"queue": "foreign.down", "jobs": [
            {"name": "exhausts", "data": {"n": 2}, "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}},
            {"name": "once", "data": {"n": 3}},
        ]})
        for outcome, job, attempts in zip(down["outcomes"], down["jobs"], (3, 1)):
            self.assertFalse(outcome["ok"], outcome)
            self.assertEqual(outcome["error"], "still down")
            self.assertEqual(job["state"], "failed")
            self.assertEqual(job["attemptsMade"], attempts)
            self.assertEqual(job["failedReason"], "still down")
            self.assertIsInstance(job["stacktrace"], list)
            self.assertGreaterEqual(len(job["stacktrace"]), 1, job)
            self.assertIsNone(job["returnvalue"], job)
            self.assertTimestamps(job)
        self.assertGreaterEqual(down["jobs"][0]["finishedOn"] - down["jobs"][0]["timestamp"], 300,
                                "exponential backoff not applied")
        self.assertEqual(down["counts"], counts(failed=2))
        failed = {e["jobId"]: e for e in down["events"] if e["event"] == "failed"}
        self.assertEqual(set(failed), set(down["ids"]))
        self.assertTrue(all(e["failedReason"] == "still down" for e in failed.values()), failed)
        exhausted = {e["jobId"]: e["attemptsMade"] for e in down["events"] if e["event"] == "retries-exhausted"}
        self.assertEqual(exhausted, {down["ids"][0]: "3", down["ids"][1]: "1"})
        self.stop_worker(worker)

    def test_job_retention_options_of_queue_add_jobs(self):
        worker, _ = self.serve(FOREIGN_FLOW)
        # BullMQ's job options removeOnComplete / removeOnFail win over the worker's defaults.
        done = self.node.run("foreign_jobs.mjs", {"queue": "foreign.stamp", "jobs": [
            {"name": "gone", "data": {"a": 1}, "opts": {"removeOnComplete": True}},
            {"name": "kept", "data": {"a": 2}},
        ]})
        self.assertTrue(all(o["ok"] for o in done["outcomes"]), done["outcomes"])
        self.assertIsNone(done["jobs"][0], "removeOnComplete: true, yet Queue.getJob still finds the job")
        self.assertEqual(done["jobs"][1]["state"], "completed")
        self.assertEqual(done["counts"], counts(completed=1))
        failed = self.node.run("foreign_jobs.mjs", {"queue": "foreign.down", "jobs": [
            {"name": "gone", "data": {"a": 3}, "opts": {"removeOnFail": True}},
        ]})
        self.assertFalse(failed["outcomes"][0]["ok"])
        self.assertIsNone(failed["jobs"][0], "removeOnFail: true, yet Queue.getJob still finds the job")
        self.assertEqual(failed["counts"], counts())
        self.stop_worker(worker)


    def test_bull_board_retry_of_a_failed_queue_add_job(self):
        """Bull Board's retry button (job.retry of a failed job) runs the job again on am2z; the
        attempt count goes on, so `flaky` (failing twice) succeeds on the second retry."""
        worker, _ = self.serve(FOREIGN_FLOW)
        out = self.node.run("foreign_jobs.mjs", {"queue": "foreign.flaky", "retryFailed": 2,
                                                 "jobs": [{"name": "manual", "data": {"m": 1}}]})
        self.assertEqual(out["outcomes"][0], {"id": out["ids"][0], "ok": False, "error": "connection reset"})
        self.assertEqual([(r["round"], r["ok"]) for r in out["retries"]], [(0, False), (1, True)], out["retries"])
        self.assertEqual(self.data_of(out["retries"][1]["returnvalue"]), {"m": 1})
        [job] = out["jobs"]
        self.assertEqual(job["state"], "completed")
        self.assertEqual(job["attemptsMade"], 3)
        self.assertEqual(out["counts"], counts(completed=1))
        self.stop_worker(worker)

    def test_paused_queue_is_not_served(self):
        """Queue.pause (Bull Board's pause button) keeps am2z workers off the queue's jobs until
        Queue.resume."""
        worker, _ = self.serve(FOREIGN_FLOW)
        out = self.node.run("foreign_jobs.mjs", {"queue": "foreign.stamp", "pauseMs": 1000,
                                                 "jobs": [{"name": "held", "data": {"h": 1}}]})
        paused = out["whilePaused"]
        self.assertTrue(paused["paused"])
        self.assertEqual(paused["states"], ["waiting"], "an am2z worker took a job of a paused queue")
        self.assertEqual(paused["counts"], counts(waiting=1))
        self.assertTrue(out["outcomes"][0]["ok"], out["outcomes"])
        self.assertEqual(self.data_of(out["outcomes"][0]["returnvalue"]), {"h": 1, "stamped": True})
        self.assertEqual(out["counts"], counts(completed=1))
        self.stop_worker(worker)

    def test_flow_producer_parent_runs_after_its_children(self):
        """FlowProducer.add: a parent and two children, all on am2z-served queues. When the
        children complete, the parent gets their returnvalues and runs."""
        worker, _ = self.serve(FOREIGN_FLOW)
        out = self.node.run("flow_producer.mjs", {
            "parent": {"queue": "foreign.stamp", "name": "parent", "data": {"role": "parent"}},
            "children": [{"queue": "foreign.stamp", "name": "kid1", "data": {"role": "kid1"}},
                         {"queue": "foreign.other", "name": "kid2", "data": {"role": "kid2"}}]})
        for child in out["children"]:
            self.assertEqual(child["state"], "completed", child)
            self.assertEqual(child["parentKey"], f"bull:foreign.stamp:{out['parent']['id']}")
        self.assertEqual(out["childrenValues"], {c["key"]: c["returnvalue"] for c in out["children"]},
                         "the children's returnvalues are not in the parent's :processed hash")
        self.assertTrue(out["outcome"]["ok"], f"the parent never ran: {out['outcome']}, state {out['parent']['state']}")
        self.assertEqual(self.data_of(out["outcome"]["returnvalue"]), {"role": "parent", "stamped": True})
        self.assertEqual(out["parent"]["state"], "completed")
        self.stop_worker(worker)

    def test_job_of_a_killed_worker_is_recovered(self):
        """SIGKILL the am2z worker while it runs a Queue.add job: another worker takes the job
        over once its lock expired, QueueEvents reports it stalled, and waitUntilFinished still
        resolves with the result."""
        fast = ("--stalled-interval", "500ms", "--lock-duration", "1s")
        first, flow = self.serve(FOREIGN_FLOW, *fast)
        client = self.start_script("foreign_jobs.mjs", {"queue": "foreign.nap", "timeoutMs": 20000,
                                                        "jobs": [{"name": "napper", "data": {"z": 1}}]})
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:foreign.nap:active") == 1, 10),
                        "the am2z worker did not take the job")
        first.kill()
        first.communicate()
        second = self.start_worker(flow, args=("-c", "4", *fast))
        out = client.result()
        self.assertTrue(out["outcomes"][0]["ok"], out["outcomes"])
        self.assertEqual(self.data_of(out["outcomes"][0]["returnvalue"]), {"z": 1})
        [job] = out["jobs"]
        self.assertEqual(job["state"], "completed")
        self.assertEqual(job["attemptsMade"], 1, "a stalled job's recovery is not a failed attempt")
        stalled = [e for e in out["events"] if e["event"] == "stalled"]
        self.assertEqual([e["jobId"] for e in stalled], out["ids"], out["events"])
        self.assertEqual(out["counts"], counts(completed=1))
        self.stop_worker(second)

class Am2zJobsReadBackTest(InteropTestCase):
    """Jobs am2z wrote, read through BullMQ's Queue API and Bull Board's API handlers."""

    QUEUES = ["board.stamp", "board.one", "board.two", "board.slow", "board.finish", "board.broken", "board._join"]

    def inspect(self):
        return self.node.run("inspect_queues.mjs", {"queues": self.QUEUES, "joins": ["board._join"]})

    def board_list(self, out, queue, status):
        """The queue's entry of Bull Board's GET /api/queues for `status`."""
        resp = out["board"]["queues"][queue][status]
        self.assertEqual(resp["status"], 200, f"GET /api/queues ({queue}, {status}): {resp}")
        [entry] = [q for q in resp["body"]["queues"] if q["name"] == queue]
        return entry

    def test_completed_run_reads_back(self):
        worker, flow = self.serve(BOARD_FLOW)
        final = self.run_ok(flow, {"mode": "ok", "order": 7})
        self.assertEqual(self.data_of(final), {"mode": "ok", "order": 7, "stamped": True, "one": 1, "two": 2,
                                               "status": "done"})
        out = self.inspect()
        qs = out["queues"]
        for name in ("board.stamp", "board.one", "board.two", "board.finish", "board._join"):
            self.assertEqual(qs[name]["counts"], counts(completed=1), name)
            self.assertEqual(qs[name]["adapterCounts"], qs[name]["counts"], name)
            self.assertEqual(len(qs[name]["byStatus"]["completed"]), 1, name)
        for name in ("board.slow", "board.broken"):
            self.assertEqual(qs[name]["counts"], counts(), name)
        for name in self.QUEUES:  # Queue.getWorkers (Bull Board's worker list) sees the am2z worker
            self.assertEqual(len(qs[name]["workers"]), 1, f"{name}: {qs[name]['workers']}")

        [stamp] = qs["board.stamp"]["jobs"].values()
        self.assertEqual(stamp["state"], "completed")
        self.assertEqual(stamp["name"], "stamp")
        self.assertEqual(self.data_of(stamp["data"]), {"mode": "ok", "order": 7})
        self.assertEqual(stamp["data"]["metadata"]["version"], 1)
        self.assertEqual(self.data_of(stamp["returnvalue"]), {"mode": "ok", "order": 7, "stamped": True})
        self.assertEqual(stamp["attemptsMade"], 1)
        self.assertIsInstance(stamp["opts"]["attempts"], int)
        self.assertIsInstance(stamp["opts"]["am2z"], dict)
        self.assertTimestamps(stamp)
        [finish] = qs["board.finish"]["jobs"].values()
        self.assertEqual(finish["returnvalue"], final, "the last step's returnvalue is the run's output")

        [join_id] = qs["board._join"]["jobs"]
        join = qs["board._join"]["jobs"][join_id]
        self.assertEqual(join["state"], "completed")
        self.assertTimestamps(join)
        children = {}
        for name in ("board.one", "board.two"):
            [child] = qs[name]["jobs"].values()
            self.assertEqual(child["state"], "completed")
            self.assertEqual(child["parentKey"], f"bull:board._join:{join_id}")
            self.assertEqual(child["parent"]["id"], join_id)
            self.assertEqual(child["parent"]["queueKey"], "bull:board._join")
            self.assertEqual(child["data"], stamp["returnvalue"], "a branch starts from the parallel's input")
            children[f"bull:{name}:{child['id']}"] = child
        self.assertEqual(set(join["dependencies"]["processed"]), set(children))
        self.assertEqual(join["dependencies"]["unprocessed"], [])
        self.assertEqual(join["dependenciesCount"]["processed"], 2)
        self.assertEqual(join["dependenciesCount"]["unprocessed"], 0)
        self.assertEqual(join["flow"]["id"], join_id)
        self.assertEqual({(c["queueName"], c["id"]) for c in join["flow"]["children"]},
                         {(k.split(":")[1], c["id"]) for k, c in children.items()})
        self.assertEqual(self.data_of(join["returnvalue"]), {"mode": "ok", "order": 7, "stamped": True, "one": 1,
                                                             "two": 2})

        # Bull Board: the queue list, job lists per status, one job, a join's flow tree
        for name in ("board.stamp", "board._join"):
            for status in ("latest", "completed", "failed", "waiting-children", "waiting", "delayed"):
                entry = self.board_list(out, name, status)
                self.assertEqual(entry["counts"], qs[name]["counts"])
                self.assertFalse(entry["isPaused"])
                listed = [j["id"] for j in entry["jobs"]]
                self.assertEqual(listed, qs[name]["byStatus"]["completed"] if status in ("latest", "completed") else [],
                                 f"{name} {status}")
        [formatted] = self.board_list(out, "board.stamp", "completed")["jobs"]
        self.assertEqual(formatted["data"], stamp["data"])
        self.assertEqual(formatted["returnValue"], stamp["returnvalue"])
        self.assertEqual(formatted["attempts"], 1)
        self.assertEqual(formatted["timestamp"], stamp["timestamp"])
        self.assertEqual(formatted["finishedOn"], stamp["finishedOn"])
        self.assertFalse(formatted["isFailed"])
        self.assertEqual(formatted["name"], "stamp")
        one_job = out["board"]["jobs"][f"board.stamp/{stamp['id']}"]
        self.assertEqual(one_job["status"], 200, one_job)
        self.assertEqual(one_job["body"]["status"], "completed")
        self.assertEqual(one_job["body"]["job"]["returnValue"], stamp["returnvalue"])
        flow_view = out["board"]["flows"][f"board._join/{join_id}"]
        self.assertEqual(flow_view["status"], 200, flow_view)
        root = flow_view["body"]["flowRoot"]
        self.assertEqual(root["id"], join_id)
        self.assertEqual(root["state"], "completed")
        self.assertEqual(root["dependencies"], {"processed": 2, "unprocessed": 0, "ignored": 0, "failed": 0})
        self.assertEqual(sorted((c["queueName"], c["state"]) for c in root["children"]),
                         [("board.one", "completed"), ("board.two", "completed")])
        self.assertEqual(out["board"]["redisStats"]["status"], 200, out["board"]["redisStats"])
        self.stop_worker(worker)

    def test_join_children_values_are_the_branch_results(self):
        """BullMQ stores a child's returnvalue in its parent's :processed hash, so getChildrenValues
        (and Bull Board, and any BullMQ parent processor) sees each branch's resulting state."""
        worker, flow = self.serve(BOARD_FLOW)
        self.run_ok(flow, {"mode": "ok"})
        qs = self.inspect()["queues"]
        [join] = qs["board._join"]["jobs"].values()
        expected = {}
        for name in ("board.one", "board.two"):
            [child] = qs[name]["jobs"].values()
            expected[f"bull:{name}:{child['id']}"] = child["returnvalue"]
        self.assertEqual(join["childrenValues"], expected)
        self.assertEqual(join["dependencies"]["processed"], expected)
        self.stop_worker(worker)

    def test_queued_run_reads_back_as_waiting(self):
        """Submitted while no worker runs: the first step waits in its queue, as BullMQ and Bull
        Board see it; a worker started later finishes the run."""
        flow = self.write_tmp("board.yaml", BOARD_FLOW)
        submitted = self.run_redis(flow, "--set", "mode=ok", "--detach")
        self.assertEqual(submitted.code, 0, submitted.describe())
        out = self.inspect()
        qs = out["queues"]
        self.assertEqual(qs["board.stamp"]["counts"], counts(waiting=1))
        [job_id] = qs["board.stamp"]["byStatus"]["waiting"]
        job = qs["board.stamp"]["jobs"][job_id]
        self.assertEqual(job["state"], "waiting")
        self.assertEqual(self.data_of(job["data"]), {"mode": "ok"})
        self.assertIsNone(job["returnvalue"])
        self.assertIsNone(job.get("processedOn"), "a waiting job has not been processed")
        self.assertEqual(job["attemptsMade"], 0)
        entry = self.board_list(out, "board.stamp", "waiting")
        self.assertEqual([j["id"] for j in entry["jobs"]], [job_id])
        for name in self.QUEUES[1:]:
            self.assertEqual(qs[name]["counts"], counts(), name)
        worker, _ = self.serve(BOARD_FLOW)
        result = harness.run("result", submitted.json()["run"], "--wait", "--redis", self.redis.url, timeout=30)
        self.assertEqual(result.code, 0, result.describe())
        self.assertEqual(self.data_of(result.json()), {"mode": "ok", "stamped": True, "one": 1, "two": 2,
                                                       "status": "done"})
        self.stop_worker(worker)

    def test_prioritized_and_delayed_runs_read_back_as_bullmq_jobs(self):
        """run --priority and run --delay: BullMQ (and Bull Board) see the first step as a
        prioritized job with its priority, and as a delayed job with its delay."""
        flow = self.write_tmp("board.yaml", BOARD_FLOW)
        urgent = self.run_redis(flow, "--set", "mode=ok", "--detach", "--priority", "3")
        self.assertEqual(urgent.code, 0, urgent.describe())
        later = self.run_redis(flow, "--set", "mode=ok", "--detach", "--delay", "1h")
        self.assertEqual(later.code, 0, later.describe())
        qs = self.inspect()["queues"]
        self.assertEqual(qs["board.stamp"]["counts"], counts(prioritized=1, delayed=1))
        [prioritized] = qs["board.stamp"]["byStatus"]["prioritized"]
        [delayed] = qs["board.stamp"]["byStatus"]["delayed"]
        job = qs["board.stamp"]["jobs"][prioritized]
        self.assertEqual((job["state"], job["priority"], job["opts"]["priority"]), ("prioritized", 3, 3))
        self.assertIn(urgent.json()["run"], prioritized)
        job = qs["board.stamp"]["jobs"][delayed]
        self.assertEqual(job["state"], "delayed")
        self.assertIn(later.json()["run"], delayed)
        self.assertGreater(job["delay"], 3_500_000)
        self.assertGreater(job["opts"]["delay"], 3_500_000)
        worker, _ = self.serve(BOARD_FLOW)
        result = harness.run("result", urgent.json()["run"], "--wait", "--redis", self.redis.url, timeout=30)
        self.assertEqual(result.code, 0, result.describe())
        self.stop_worker(worker)

    def test_join_waiting_for_children_reads_back(self):
        worker, flow = self.serve(BOARD_FLOW)
        submitted = self.run_redis(flow, "--set", "mode=slow", "--detach")
        self.assertEqual(submitted.code, 0, submitted.describe())
        run_id = submitted.json()["run"]
        # `one` finishes at once, `slow` sleeps 3 s: meanwhile the join waits for its children
        self.assertTrue(harness.wait_for(lambda: self.redis.client("ZCARD", "bull:board.one:completed") == 1, 5),
                        "branch `one` did not complete within 5 s")
        out = self.inspect()
        qs = out["queues"]
        self.assertEqual(qs["board._join"]["counts"], counts(**{"waiting-children": 1}))
        [join_id] = qs["board._join"]["byStatus"]["waiting-children"]
        join = qs["board._join"]["jobs"][join_id]
        self.assertEqual(join["state"], "waiting-children")
        [one] = qs["board.one"]["jobs"].values()
        [slow] = qs["board.slow"]["jobs"].values()
        self.assertEqual(slow["state"], "active")
        self.assertEqual(qs["board.slow"]["counts"], counts(active=1))
        self.assertEqual(list(join["dependencies"]["processed"]), [f"bull:board.one:{one['id']}"])
        self.assertEqual(join["dependencies"]["unprocessed"], [f"bull:board.slow:{slow['id']}"])
        entry = self.board_list(out, "board._join", "waiting-children")
        self.assertEqual([j["id"] for j in entry["jobs"]], [join_id])
        self.assertEqual(entry["counts"]["waiting-children"], 1)
        flow_view = out["board"]["flows"][f"board._join/{join_id}"]
        self.assertEqual(flow_view["status"], 200, flow_view)
        root = flow_view["body"]["flowRoot"]
        self.assertEqual(root["state"], "waiting-children")
        self.assertEqual(sorted((c["queueName"], c["state"]) for c in root["children"]),
                         [("board.one", "completed"), ("board.slow", "active")])
        result = harness.run("result", run_id, "--wait", "--redis", self.redis.url, timeout=30)
        self.assertEqual(result.code, 0, result.describe())
        self.assertEqual(self.data_of(result.json()), {"mode": "slow", "stamped": True, "one": 1, "status": "done"})
        self.assertEqual(self.node.run("inspect_queues.mjs", {"queues": ["board._join"]})["queues"]["board._join"]
                         ["counts"], counts(completed=1))
        self.stop_worker(worker)

    def test_failed_run_reads_back(self):
        worker, flow = self.serve(BOARD_FLOW)
        result = self.run_am2z(flow, {"mode": "bad"})
        self.assertEqual(result.code, 1, result.describe())
        self.assertIn("upstream refused", result.stderr)
        out = self.inspect()
        qs = out["queues"]
        self.assertEqual(qs["board.stamp"]["counts"], counts(completed=1))
        self.assertEqual(qs["board.broken"]["counts"], counts(failed=1))
        self.assertEqual(qs["board.finish"]["counts"], counts())
        [broken] = qs["board.broken"]["jobs"].values()
        self.assertEqual(broken["state"], "failed")
        self.assertEqual(broken["failedReason"], "upstream refused")
        self.assertEqual(broken["attemptsMade"], 2, "retry attempts: 2")
        self.assertIsInstance(broken["stacktrace"], list)
        self.assertGreaterEqual(len(broken["stacktrace"]), 1)
        self.assertIsNone(broken["returnvalue"])
        self.assertTimestamps(broken)
        entry = self.board_list(out, "board.broken", "failed")
        [formatted] = entry["jobs"]
        self.assertEqual(formatted["id"], broken["id"])
        self.assertTrue(formatted["isFailed"])
        self.assertEqual(formatted["failedReason"], "upstream refused")
        self.assertEqual(formatted["attempts"], 2)
        self.assertEqual(entry["counts"], counts(failed=1))
        one_job = out["board"]["jobs"][f"board.broken/{broken['id']}"]
        self.assertEqual(one_job["status"], 200, one_job)
        self.assertEqual(one_job["body"]["status"], "failed")
        self.stop_worker(worker)


    def test_failed_branch_reads_back(self):
        """A parallel whose branch fails: the join fails with the branch's error, and BullMQ's
        getFailedChildrenValues (what Bull Board shows as a child's failure) gives the branch's
        failedReason."""
        worker, flow = self.serve(BOARD_FLOW)
        result = self.run_am2z(flow, {"mode": "branch"})
        self.assertEqual(result.code, 1, result.describe())
        out = self.inspect()
        qs = out["queues"]
        self.assertEqual(qs["board._join"]["counts"], counts(failed=1))
        self.assertEqual(qs["board.one"]["counts"], counts(completed=1))
        self.assertEqual(qs["board.broken"]["counts"], counts(failed=1))
        self.assertEqual(qs["board.finish"]["counts"], counts())
        [join_id] = qs["board._join"]["jobs"]
        join = qs["board._join"]["jobs"][join_id]
        [one] = qs["board.one"]["jobs"].values()
        [broken] = qs["board.broken"]["jobs"].values()
        self.assertEqual(join["state"], "failed")
        self.assertEqual(join["failedReason"], "upstream refused")
        self.assertEqual(broken["state"], "failed")
        self.assertEqual(broken["attemptsMade"], 2)
        self.assertEqual(broken["parentKey"], f"bull:board._join:{join_id}")
        self.assertEqual(list(join["dependencies"]["processed"]), [f"bull:board.one:{one['id']}"])
        self.assertEqual(join["dependencies"]["unprocessed"], [])
        self.assertEqual(join["failedChildrenValues"], {f"bull:board.broken:{broken['id']}": "upstream refused"})
        flow_view = out["board"]["flows"][f"board._join/{join_id}"]
        self.assertEqual(flow_view["status"], 200, flow_view)
        root = flow_view["body"]["flowRoot"]
        self.assertEqual(root["state"], "failed")
        self.assertEqual(sorted((c["queueName"], c["state"]) for c in root["children"]),
                         [("board.broken", "failed"), ("board.one", "completed")])
        self.stop_worker(worker)

class QueueEventsTest(InteropTestCase):
    """QueueEvents (Node) sees what am2z workers do to jobs am2z submitted."""

    def test_completed_and_failed_events(self):
        worker, flow = self.serve(EVENTS_FLOW)
        watcher = self.start_script("watch_events.mjs", {"queues": ["events.stamp", "events.boom"], "until": 2})
        final = self.run_ok(flow, {"mode": "ok", "k": "v"})
        failed_run = self.run_am2z(flow, {"mode": "bad"})
        self.assertEqual(failed_run.code, 1, failed_run.describe())
        out = watcher.result()
        self.assertFalse(out["timedOut"], out)
        completed = [e for e in out["events"] if e["event"] == "completed"]
        failed = [e for e in out["events"] if e["event"] == "failed"]
        self.assertEqual(len(completed), 1, out["events"])
        self.assertEqual(completed[0]["queue"], "events.stamp")
        self.assertEqual(completed[0]["returnvalue"], final, "QueueEvents parses the returnvalue")
        self.assertEqual(completed[0]["prev"], "active")
        self.assertEqual(len(failed), 1, out["events"])
        self.assertEqual(failed[0]["queue"], "events.boom")
        self.assertEqual(failed[0]["failedReason"], "boom from am2z")
        self.assertEqual(failed[0]["prev"], "active")
        exhausted = [e for e in out["events"] if e["event"] == "retries-exhausted"]
        self.assertEqual([(e["jobId"], e["attemptsMade"]) for e in exhausted], [(failed[0]["jobId"], "1")])
        # the event names the job Queue.getJob finds, in the state the event announced
        state = self.redis.client("ZSCORE", "bull:events.boom:failed", failed[0]["jobId"])
        self.assertIsNotNone(state, "the failed event's jobId is not in the failed set")
        self.stop_worker(worker)


class RemoteStepTest(InteropTestCase):
    """A Node BullMQ Worker performs an am2z flow's `remote` step."""

    def test_node_worker_result_continues_the_flow(self):
        worker, flow = self.serve(REMOTE_FLOW)
        node_worker = self.start_script("remote_worker.mjs", {"queue": "images", "jobs": 1})
        final = self.run_ok(flow, {"file": "cat.png"})
        seen = node_worker.result()
        self.assertFalse(seen["timedOut"], seen)
        self.assertEqual(seen["errors"], [])
        [job] = seen["seen"]
        self.assertEqual(self.data_of(job["data"]), {"file": "cat.png", "width": 10, "height": 5},
                         "the remote job's data is the state after `prepare`")
        self.assertEqual(job["name"], "resize")
        self.assertEqual(job["opts"]["attempts"], 3)
        self.assertTrue(job["parentKey"].startswith("bull:media._join:"), job)
        self.assertEqual(self.data_of(final), {"file": "cat.png", "width": 20, "height": 10,
                                               "resizedBy": f"node-worker:{job['id']}", "done": True})
        self.assertEqual(final["metadata"]["version"], 4, "prepare, resize and finish each count one step")
        # BullMQ's own bookkeeping of the remote job and the am2z job that waited for it
        out = self.node.run("inspect_queues.mjs", {"queues": ["images", "media._join"], "joins": ["media._join"]})
        images, joins = out["queues"]["images"], out["queues"]["media._join"]
        self.assertEqual(images["counts"], counts(completed=1))
        self.assertEqual(joins["counts"], counts(completed=1))
        remote = images["jobs"][job["id"]]
        self.assertEqual(remote["state"], "completed")
        self.assertEqual(self.data_of(remote["returnvalue"]), {"file": "cat.png", "width": 20, "height": 10,
                                                               "resizedBy": f"node-worker:{job['id']}"})
        [join] = joins["jobs"].values()
        self.assertEqual(remote["parentKey"], f"bull:media._join:{join['id']}")
        self.assertEqual(join["childrenValues"], {f"bull:images:{job['id']}": remote["returnvalue"]})
        flow_view = out["board"]["flows"][f"media._join/{join['id']}"]
        self.assertEqual(flow_view["status"], 200, flow_view)
        self.assertEqual([(c["queueName"], c["state"]) for c in flow_view["body"]["flowRoot"]["children"]],
                         [("images", "completed")])
        self.stop_worker(worker)

    def test_node_worker_failure_is_retried_then_reported(self):
        worker, flow = self.serve(REMOTE_FLOW)
        # fails attempt 1, succeeds on attempt 2: BullMQ's retry of the remote job
        node_worker = self.start_script("remote_worker.mjs", {"queue": "images", "jobs": 1, "failFirst": 1})
        final = self.run_ok(flow, {"file": "a.png"})
        seen = node_worker.result()
        self.assertEqual([j["attemptsMade"] for j in seen["seen"]], [0, 1])
        self.assertEqual(final["resizedBy"], f"node-worker:{seen['seen'][0]['id']}")
        self.assertEqual(final["width"], 20)
        # fails every attempt: the run fails with the Node worker's message after 3 attempts
        node_worker = self.start_script("remote_worker.mjs", {"queue": "images", "jobs": 0, "failures": 1,
                                                            "failFirst": 99})
        result = self.run_am2z(flow, {"file": "b.png"})
        self.assertEqual(result.code, 1, result.describe())
        self.assertIn("node worker refuses attempt 3", result.stderr)
        seen = node_worker.result()
        self.assertFalse(seen["timedOut"], seen)
        self.assertEqual([j["attemptsMade"] for j in seen["seen"]], [0, 1, 2])
        self.stop_worker(worker)


if __name__ == "__main__":
    unittest.main()
