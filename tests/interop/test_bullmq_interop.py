"""BullMQ interop, BullMQ's side: jobs added by BullMQ's Queue.add are processed by `am2z worker`,
with BullMQ's attempts, backoff, delay, priority and retention options, Queue.pause, job.retry
(Bull Board's retry), FlowProducer parent/child flows and job schedulers (Queue.upsertJobScheduler),
against the real npm package bullmq 6.7.0 (pinned in package.json / package-lock.json).
test_bullmq_readback.py has the other side: what am2z wrote, read by BullMQ and Bull Board.

Each test class has its own redis-server (tests/e2e/redis_harness.py, flushed before every test)
and each test its own am2z worker. Node, npm and redis-server must be present and the npm
registry reachable for the one-time `npm ci` (see interop_support.py): otherwise the tests fail,
they never skip.
"""

import unittest

from interop_cases import FOREIGN_FLOW, InteropTestCase, counts, harness


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


if __name__ == "__main__":
    unittest.main()
