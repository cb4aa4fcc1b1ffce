"""Distributed runs: the same flows on `am2z worker` processes over a private Redis give the
same output and exit codes as local runs, survive a worker killed with SIGKILL, and fail clearly
on bad input (an unreachable Redis, a corrupt job, a changed flow file)."""

import json
import os
import signal
import time
import unittest

import harness
from redis_harness import DistributedTestCase, RedisServer, comparable, free_dead_port

SLOW_CHAIN = """\
version: 1
name: slow
processors:
  first: {use: set, with: {values: {first: true}}}
  nap: {use: sleep, with: {duration: 1500ms}}
  last: {use: set, with: {values: {last: true}}}
flow:
  chain: [first, nap, last]
"""

WIDE = """\
version: 1
name: wide
processors:
  mark: {use: set, with: {values: {seen: [1]}}}
flow:
  parallel:
%s
"""

RETRIED = """\
version: 1
name: retried
processors:
  flaky:
    use: fail
    with: {error: network, message: connection reset, times: 2}
    retry: {attempts: 3, backoff: 10ms}
  done: {use: set, with: {values: {done: true}}}
flow:
  chain: [flaky, done]
"""

FAILING = """\
version: 1
name: failing
processors:
  ok: {use: set, with: {values: {a: 1}}}
  broken: {use: fail, with: {error: business, code: CARD_DECLINED, message: card declined}}
flow:
  chain: [ok, broken, ok]
"""


class SameOutputAsLocal(DistributedTestCase):
    def check_same(self, flow, input_file):
        local = harness.run("run", flow, "-i", input_file)
        dist = self.run_redis(flow, "-i", input_file)
        self.assertEqual(dist.code, local.code, dist.describe())
        if local.code == 0:
            self.assertEqual(comparable(dist.json()), comparable(local.json()))
        else:
            d, l = dist.error(), local.error()
            for e in (d, l):
                e.get("partialState", {}).pop("metadata", None)
            # a distributed run can always be resumed, so its error names it (a local one only
            # with --run-dir)
            self.assertRegex(d["context"].pop("runId"), r"^[0-9a-f]{16}$")
            self.assertEqual(d, l)
        return dist

    def test_every_example_gives_the_local_output_with_two_workers(self):
        self.start_worker(harness.EXAMPLES, args=("-c", "2"))
        self.start_worker(harness.EXAMPLES, args=("-c", "2"))
        cases = [("order/order.yaml", "order/order-input.json"), ("order/order.yaml", "order/declined-input.json"),
                 ("batch/invoices.yaml", "batch/invoices-input.json"), ("reuse/quote.yaml", "reuse/quote-input.json"),
                 ("images/images.yaml", "images/images-input.json"), ("ledger/ledger.yaml", "ledger/ledger-input.json")]
        # every example flow is covered (a new example must be added here)
        flows = {os.path.relpath(os.path.join(d, f), harness.EXAMPLES) for d, _, fs in os.walk(harness.EXAMPLES)
                 for f in fs if f.endswith(".yaml") and "/lib/" not in os.path.join(d, f)}
        self.assertEqual(flows, {flow for flow, _ in cases})
        for flow, data in cases:
            with self.subTest(flow=flow, input=data):
                self.check_same(harness.example(flow), harness.example(data))

    def test_a_failing_step_reports_like_a_local_run(self):
        flow = self.write_tmp("failing.yaml", FAILING)
        self.start_worker(flow)
        dist = self.check_same(flow, self.write_tmp("in.json", '{"order": 1}'))
        self.assertExit(dist, 1)
        err = dist.error()
        self.assertEqual(err["code"], "CARD_DECLINED")
        self.assertEqual(err["context"]["completedSteps"], 1)
        self.assertEqual(err["partialState"]["a"], 1)

    def test_retries_happen_before_the_caller_sees_an_answer(self):
        flow = self.write_tmp("retried.yaml", RETRIED)
        self.start_worker(flow)
        state = self.assertSucceeded(self.run_redis(flow))
        self.assertTrue(state["done"])
        job = self.redis.client.hgetall(self.find_job("retried.flaky"))
        self.assertEqual(job["atm"], "3")
        self.assertIn("connection reset", job["failedReason"])  # the reason of the last failed attempt

    def find_job(self, queue):
        ids = self.redis.client("ZRANGE", f"bull:{queue}:completed", 0, -1)
        self.assertEqual(len(ids), 1, f"jobs completed on {queue}: {ids}")
        return f"bull:{queue}:{ids[0]}"

    def test_a_parallel_of_50_branches_completes_with_one_worker_at_concurrency_1(self):
        branches = "\n".join(f"      - {{use: set, name: b{i}, with: {{values: {{b{i}: {i}}}}}}}" for i in range(50))
        flow = self.write_tmp("wide.yaml", WIDE % branches)
        self.start_worker(flow, args=("-c", "1"))
        state = self.assertSucceeded(self.run_redis(flow))
        self.assertEqual([state[f"b{i}"] for i in range(50)], list(range(50)))
        self.assertEqual(self.redis.client("ZCARD", "bull:wide._join:completed"), 1)


class QueueEvents(DistributedTestCase):
    def event_names(self, queue):
        return [e[1][1] for e in self.redis.client("XRANGE", f"bull:{queue}:events", "-", "+")]

    def test_final_events_by_default_and_every_bullmq_event_on_request(self):
        flow = self.write_tmp("f.yaml", FAILING.replace("broken, ok", "ok"))
        self.start_worker(flow)
        self.assertSucceeded(self.run_redis(flow))
        self.assertEqual(self.event_names("failing.ok"), ["completed", "completed"])  # chain [ok, ok]
        self.redis.client("FLUSHALL")
        self._stop_workers()
        self.start_worker(flow, args=("--queue-events", "all"))
        self.assertSucceeded(self.run_redis(flow, "--queue-events", "all"))
        self.assertEqual(self.event_names("failing.ok"), ["added", "waiting", "active", "completed"] * 2)
        bad = harness.run("worker", "--flows", flow, "--redis", self.redis.url, "--queue-events", "some")
        self.assertExit(bad, 2)
        self.assertIn("--queue-events", bad.stderr)


class Recovery(DistributedTestCase):
    def test_a_worker_killed_with_sigkill_loses_no_job(self):
        flow = self.write_tmp("slow.yaml", SLOW_CHAIN)
        fast = ("--lock-duration", "1s", "--stalled-interval", "300ms")
        doomed = self.start_worker(flow, args=fast)
        submit = harness.start("run", flow, "--redis", self.redis.url)
        # Kill the worker while the sleep step is active (it holds the job's lock).
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:slow.nap:active") == 1, 10),
                        "the sleep step never became active")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(flow, args=fast)
        result = harness.finish(submit, timeout=30)
        state = self.assertSucceeded(result)
        self.assertTrue(state["first"] and state["last"])
        nap = self.redis.client("ZRANGE", "bull:slow.nap:completed", 0, -1)
        self.assertEqual(len(nap), 1)
        self.assertEqual(self.redis.client.hgetall(f"bull:slow.nap:{nap[0]}")["stc"], "1")

    def test_sigterm_lets_the_active_step_finish(self):
        flow = self.write_tmp("slow.yaml", SLOW_CHAIN)
        worker = self.start_worker(flow)
        submit = harness.start("run", flow, "--redis", self.redis.url)
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:slow.nap:active") == 1, 10))
        worker.send_signal(signal.SIGTERM)
        stopped = harness.finish(worker, timeout=20)
        self.assertExit(stopped, 0)
        self.assertEqual(self.redis.client("ZCARD", "bull:slow.nap:completed"), 1, stopped.stderr)
        # The next step is queued, not lost: a new worker finishes the run.
        self.start_worker(flow)
        self.assertSucceeded(harness.finish(submit, timeout=30))


class SubmitAndWait(DistributedTestCase):
    def test_detach_then_result(self):
        flow = self.write_tmp("failing.yaml", FAILING.replace("broken, ok", "ok"))
        detached = self.run_redis(flow, "--detach", "-c")
        self.assertExit(detached, 0)
        run_id = json.loads(detached.stdout)["run"]
        pending = harness.run("result", run_id, "--redis", self.redis.url)
        self.assertExit(pending, 5)
        self.assertIn(f"run {run_id} has no result", pending.stderr)
        self.start_worker(flow)
        done = harness.run("result", run_id, "--redis", self.redis.url, "--wait", "--timeout", "20s")
        self.assertEqual(self.assertSucceeded(done)["a"], 1)
        again = harness.run("result", run_id, "--redis", self.redis.url)  # still readable
        self.assertEqual(self.assertSucceeded(again)["a"], 1)

    def test_result_of_a_failed_run_has_the_runs_exit_code(self):
        flow = self.write_tmp("failing.yaml", FAILING)
        self.start_worker(flow)
        run_id = json.loads(self.run_redis(flow, "--detach", "-c").stdout)["run"]
        res = harness.run("result", run_id, "--redis", self.redis.url, "--wait", "--timeout", "20s")
        self.assertExit(res, 1)
        self.assertEqual(res.error()["code"], "CARD_DECLINED")

    def test_caller_timeout_exits_124_and_cancels_the_rest(self):
        flow = self.write_tmp("slow.yaml", SLOW_CHAIN)
        self.start_worker(flow)
        res = self.run_redis(flow, "--timeout", "400ms")
        self.assertExit(res, 124)
        err = res.error()
        self.assertEqual(err["code"], "OPERATION_TIMEOUT")
        self.assertIn("timed out after 400ms", err["message"])
        time.sleep(2.5)  # the sleep step ends; its continuation must not run
        self.assertEqual(self.redis.client("ZCARD", "bull:slow.last:completed"), 0)
        self.assertEqual(self.redis.client("LLEN", "bull:slow.last:wait"), 0)

    def test_wait_with_timeout_on_a_run_that_never_finishes(self):
        res = harness.run("result", "nosuchrun", "--redis", self.redis.url, "--wait", "--timeout", "300ms")
        self.assertExit(res, 124)
        self.assertIn("did not finish within 300ms", res.stderr)


class Trust(DistributedTestCase):
    def two_versions(self):
        """Two files of flow 'failing' that differ (a: 1 and a: 2): the old one and the new one."""
        os.makedirs(self.tmp_path("old"))
        old = os.path.join(self.tmp, "old", "f.yaml")
        with open(old, "w", encoding="utf-8") as f:
            f.write(FAILING.replace("broken, ok", "ok"))
        return old, self.write_tmp("f.yaml", FAILING.replace("broken, ok", "ok").replace("a: 1", "a: 2"))

    def test_a_job_from_another_version_of_the_flow_is_refused(self):
        original, changed = self.two_versions()
        self.start_worker(original, args=("--version-wait", "0"))
        res = self.run_redis(changed)
        self.assertExit(res, 1)
        err = res.error()
        self.assertIn("another version of flow 'failing'", err["message"])
        self.assertIn("refuses to run it", err["message"])

    def test_in_a_rolling_deployment_a_step_waits_for_a_worker_with_its_version(self):
        old, new = self.two_versions()
        self.start_worker(old, args=("--version-wait", "30s"))
        submitted = self.run_redis(new, "--detach")
        self.assertSucceeded(submitted)
        run = submitted.json()["run"]
        time.sleep(1.5)  # the old worker took the new version's step and handed it back
        self.assertExit(harness.run("result", run, "--redis", self.redis.url), 5)
        job = f"bull:failing.ok:r{run}.n.0"
        self.assertIn("waiting for a worker with its flow's version", self.redis.client("HGET", job, "failedReason"))
        self.assertEqual(self.redis.client("HGET", job, "atm"), "0", "a hand-back is not an attempt")
        self.start_worker(new)  # the new version arrives
        res = harness.run("result", run, "--wait", "--redis", self.redis.url, timeout=30)
        self.assertSucceeded(res)
        self.assertEqual(res.json()["a"], 2)

    def test_a_step_of_another_version_fails_once_its_wait_is_over(self):
        old, new = self.two_versions()
        self.start_worker(old, args=("--version-wait", "2s"))
        started = time.monotonic()
        res = self.run_redis(new)
        self.assertExit(res, 1)
        self.assertGreaterEqual(time.monotonic() - started, 1.9)
        self.assertIn("another version of flow 'failing'", res.error()["message"])

    def test_a_change_in_an_included_file_is_a_different_flow(self):
        import shutil
        worker_copy = shutil.copytree(harness.example("reuse"), self.tmp_path("worker"))
        submit_copy = shutil.copytree(harness.example("reuse"), self.tmp_path("submitter"))
        lib = os.path.join(submit_copy, "lib", "pricing.yaml")
        with open(lib, "a", encoding="utf-8") as f:
            f.write("\n# a comment is enough: the content changed\n")
        self.start_worker(worker_copy, args=("--version-wait", "0"))
        res = self.run_redis(os.path.join(submit_copy, "quote.yaml"), "-i", harness.example("reuse", "quote-input.json"))
        self.assertExit(res, 1)
        self.assertIn("another version of flow", res.error()["message"])
        same = self.run_redis(os.path.join(worker_copy, "quote.yaml"), "-i", harness.example("reuse", "quote-input.json"))
        self.assertSucceeded(same)

    def test_a_corrupt_job_fails_with_its_key_and_the_worker_goes_on(self):
        flow = self.write_tmp("failing.yaml", FAILING.replace("broken, ok", "ok"))
        worker = self.start_worker(flow)
        c = self.redis.client
        c("HSET", "bull:failing.ok:bad1", "name", "ok", "data", "{not json", "opts", "{}", "timestamp", "1",
          "delay", "0", "priority", "0")
        c("LPUSH", "bull:failing.ok:wait", "bad1")
        c("ZADD", "bull:failing.ok:marker", "0", "0")
        self.assertTrue(harness.wait_for(lambda: c("ZSCORE", "bull:failing.ok:failed", "bad1") is not None, 10))
        reason = c("HGET", "bull:failing.ok:bad1", "failedReason")
        self.assertIn("bull:failing.ok:bad1 data", reason)
        self.assertIn("not valid JSON", reason)
        self.assertEqual(self.assertSucceeded(self.run_redis(flow))["a"], 1)  # still serving
        self.assertIsNone(worker.poll())

    def test_a_foreign_job_runs_as_one_step(self):
        flow = self.write_tmp("failing.yaml", FAILING.replace("broken, ok", "ok"))
        self.start_worker(flow)
        c = self.redis.client
        c("HSET", "bull:failing.ok:7", "name", "ok", "data", '{"x": 5}', "opts", '{"attempts": 1}',
          "timestamp", "1", "delay", "0", "priority", "0")
        c("LPUSH", "bull:failing.ok:wait", "7")
        c("ZADD", "bull:failing.ok:marker", "0", "0")
        self.assertTrue(harness.wait_for(lambda: c("ZSCORE", "bull:failing.ok:completed", "7") is not None, 10))
        value = json.loads(c("HGET", "bull:failing.ok:7", "returnvalue"))
        self.assertEqual((value["x"], value["a"], value["metadata"]["version"]), (5, 1, 2))
        events = c("XRANGE", "bull:failing.ok:events", "-", "+")
        completed = [dict(zip(e[1][::2], e[1][1::2])) for e in events if e[1][1] == "completed"]
        self.assertEqual(completed[0]["jobId"], "7")
        self.assertEqual(json.loads(completed[0]["returnvalue"])["x"], 5)


class RedisRestart(DistributedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def test_a_run_survives_a_redis_restart(self):
        flow = self.write_tmp("slow.yaml", SLOW_CHAIN)
        worker = self.start_worker(flow)
        submit = harness.start("run", flow, "--redis", self.redis.url)
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:slow.nap:active") == 1, 10))
        self.redis.restart(down_for=0.5)  # mid-step: the worker and the submitter lose Redis
        state = self.assertSucceeded(harness.finish(submit, timeout=40))
        self.assertTrue(state["first"] and state["last"])
        self.assertIsNone(worker.poll(), "the worker exited when Redis went away")
        # and it keeps serving new runs
        self.assertTrue(self.assertSucceeded(self.run_redis(flow))["last"])


class Connecting(DistributedTestCase):
    def test_unix_socket_and_acl_user(self):
        flow = self.write_tmp("f.yaml", FAILING.replace("broken, ok", "ok"))
        c = self.redis.client
        c("ACL", "SETUSER", "flows", "on", ">pw%@1", "~*", "&*", "+@all")
        self.addCleanup(lambda: self.redis.client("ACL", "DELUSER", "flows"))
        acl_url = f"redis://flows:pw%25%401@127.0.0.1:{self.redis.port}/0"
        worker = harness.start("worker", "--redis", f"unix://{self.redis.socket}", "--flows", flow, "-q")
        self.workers.append(worker)
        state = self.assertSucceeded(harness.run("run", flow, "--redis", acl_url))
        self.assertEqual(state["a"], 1)
        bad = harness.run("run", flow, "--redis", f"redis://flows:nope@127.0.0.1:{self.redis.port}")
        self.assertExit(bad, 4)
        self.assertIn("refused AUTH", bad.stderr)

    def test_redis_url_from_the_environment(self):
        flow = self.write_tmp("f.yaml", FAILING.replace("broken, ok", "ok"))
        env = {"REDIS_URL": "", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.redis.port)}
        worker = harness.start("worker", "--flows", flow, "-q", env=env)
        self.workers.append(worker)
        res = harness.run("run", flow, "--distributed", env=env)
        self.assertEqual(self.assertSucceeded(res)["a"], 1)


class Errors(DistributedTestCase):
    def test_unreachable_redis_exits_4(self):
        flow = self.write_tmp("f.yaml", FAILING)
        url = f"redis://127.0.0.1:{free_dead_port()}"
        for args in (("run", flow, "--redis", url), ("worker", "--flows", flow, "--redis", url),
                     ("result", "abc", "--redis", url)):
            with self.subTest(command=args[0]):
                res = harness.run(*args)
                self.assertExit(res, 4)
                self.assertIn(f"cannot use Redis at {url}/0", res.stderr)
                self.assertIn("Connection refused", res.stderr)

    def test_a_malformed_url_is_a_usage_error(self):
        flow = self.write_tmp("f.yaml", FAILING)
        res = harness.run("run", flow, "--redis", "http://localhost")
        self.assertExit(res, 2)
        self.assertIn("invalid Redis URL 'http://localhost': it must start with redis:// or unix://", res.stderr)
        res = harness.run("worker", "--flows", flow, "--redis", "redis://h:99999")
        self.assertExit(res, 2)
        self.assertIn("the port must be 1-65535", res.stderr)

    def test_a_worker_refuses_invalid_flow_files(self):
        bad = self.write_tmp("bad.yaml", "version: 1\nname: bad\nflow: {chain: [nope]}\n")
        res = harness.run("worker", "--flows", bad, "--redis", self.redis.url)
        self.assertExit(res, 3)
        self.assertIn("unknown processor or sub-flow 'nope'", res.stderr)
        res = harness.run("worker", "--flows", self.tmp_path("missing"), "--redis", self.redis.url)
        self.assertExit(res, 2)
        self.assertIn("is neither a flow file nor a directory", res.stderr)

    def test_a_bad_prefetch_or_prefetch_below_is_a_usage_error(self):
        flow = self.write_tmp("f.yaml", FAILING)
        res = harness.run("worker", "--flows", flow, "--redis", self.redis.url, "--prefetch", "-1")
        self.assertExit(res, 2)
        self.assertIn("--prefetch: Value -1 not in range 0 to 100000", res.stderr)
        res = harness.run("worker", "--flows", flow, "--redis", self.redis.url, "--prefetch-below", "soon")
        self.assertExit(res, 2)
        self.assertIn("am2z worker: --prefetch-below: 'soon' is not a positive duration such as 500ms or 30s",
                      res.stderr)

    def test_wrong_password_is_reported(self):
        self.redis.client("CONFIG", "SET", "requirepass", "s3cret")
        try:
            flow = self.write_tmp("f.yaml", FAILING)
            res = harness.run("run", flow, "--redis", f"redis://:wrong@127.0.0.1:{self.redis.port}")
            self.assertExit(res, 4)
            self.assertIn("refused AUTH", res.stderr)
        finally:
            self.redis.client("AUTH", "s3cret")
            self.redis.client("CONFIG", "SET", "requirepass", "")


if __name__ == "__main__":
    unittest.main()
