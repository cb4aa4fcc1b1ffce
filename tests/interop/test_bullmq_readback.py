"""BullMQ interop, am2z's side, against the real npm packages bullmq 6.7.0 and @bull-board/api:
jobs am2z wrote (waiting, active, waiting-children, completed, failed) read back through
Queue.getJob / getJobCounts / getState, the parent-child links of joins, and Bull Board's API
(createBullBoard + BullMQAdapter, responses checked against Bull Board's schemas); QueueEvents
receives completed and failed events from am2z workers; a Node BullMQ Worker performs the
`remote` step of an am2z flow. See test_bullmq_interop.py for the setup each needs.
"""

import unittest

from interop_cases import BOARD_FLOW, EVENTS_FLOW, REMOTE_FLOW, InteropTestCase, counts, harness


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
