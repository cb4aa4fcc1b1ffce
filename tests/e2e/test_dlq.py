"""`am2z dlq list|show|retry|purge`: steps that failed for good, read from their queues' failed
sets (where Bull Board shows them too) with their runs and sessions; a retry resumes the run
(run --resume), once per run however many of its steps are dead, and marks them; purge deletes
them. Jobs that are not am2z steps are left alone. Two workers serve every run."""
import json
import os

import harness
from redis_harness import DistributedTestCase, free_dead_port


def logged_step(name, log, mark=None):
    """An exec step that logs its name and passes the state on; fails while `mark` exists."""
    code = (f"import json,os,sys; s=json.load(sys.stdin); open({log!r},'a').write('{name}\\n'); "
            + (f"sys.exit('{name} is broken') if os.path.exists({mark!r}) else None; " if mark else "")
            + "json.dump(s, sys.stdout)")
    return f"{{use: exec, with: {{argv: [python3, -c, {json.dumps(code)}]}}"


class DeadLetters(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.log = self.tmp_path("ran.log")
        self.mark = self.tmp_path("broken")
        open(self.mark, "w").close()
        self.flow = self.write_tmp("pay.yaml", f"""\
version: 1
name: pay
processors:
  fetch: {logged_step("fetch", self.log)}}}
  charge: {logged_step("charge", self.log, self.mark)}, retry: {{attempts: 2, backoff: 10ms, on: [execution]}}}}
  notify: {logged_step("notify", self.log, self.mark)}}}
  done: {{use: set, with: {{values: {{done: true}}}}}}
flow:
  chain:
    - fetch
    - parallel: [charge, notify]
    - done
""")
        for _ in range(2):
            self.start_worker(self.flow)

    def ran(self, name):
        with open(self.log, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip() == name)

    def dlq(self, *args, code=0):
        r = harness.run("dlq", *args, "--redis", self.redis.url)
        self.assertExit(r, code)
        return r

    def failed_run(self, session, n):
        r = self.run_redis(self.flow, "--detach", "-c", "--session", session, "--set", f"n={n}")
        self.assertExit(r, 0)
        run_id = r.json()["run"]
        done = harness.run("result", run_id, "--redis", self.redis.url, "--wait", "--timeout", "30s")
        self.assertExit(done, 1)
        return run_id

    def test_list_show_retry_and_purge_across_sessions(self):
        a1, a2 = self.failed_run("tenant-a", 1), self.failed_run("tenant-a", 2)
        b1 = self.failed_run("tenant-b", 3)
        dead = self.dlq("list", "--json").json()["dead"]
        # each run has one or two dead steps (notify fails at once; a fail-fast parallel may
        # cancel charge before its second attempt, and a cancelled step is not a dead letter)
        self.assertEqual({d["run"] for d in dead}, {a1, a2, b1})
        for d in dead:
            self.assertIn(d["step"], ("charge", "notify"))
            self.assertEqual(d["flow"], "pay")
            self.assertEqual(d["job"], f"pay.{d['step']}:{d['id']}")
            self.assertIn("is broken", d["reason"])
            self.assertIsNone(d["retriedBy"])
            self.assertEqual(d["error"]["context"]["failedProcessor"], d["step"])
        notify = [d for d in dead if d["step"] == "notify"]
        self.assertEqual(len(notify), 3)
        self.assertEqual({d["attempts"] for d in notify}, {1})
        self.assertEqual({d["run"] for d in self.dlq("list", "--json", "--session", "tenant-a").json()["dead"]},
                         {a1, a2})
        text = self.dlq("list").stdout
        self.assertIn("JOB", text.splitlines()[0])
        self.assertIn(notify[0]["job"], text)

        shown = self.dlq("show", notify[0]["job"], "--json").json()
        self.assertEqual(shown["runState"], "failed")
        self.assertEqual(shown["input"]["n"], {a1: 1, a2: 2, b1: 3}[shown["run"]])
        self.assertIn("reason:", self.dlq("show", notify[0]["id"]).stdout)  # the id alone finds it too

        fetched = self.ran("fetch")
        os.remove(self.mark)
        r = self.dlq("retry", "--all", "--session", "tenant-a", "--flows", self.flow, "--json")
        out = r.json()
        self.assertEqual(out["skipped"], [])
        self.assertEqual({x["run"] for x in out["retried"]}, {a1, a2})
        for x in out["retried"]:
            self.assertEqual(x["session"], "tenant-a")
            done = harness.run("result", x["resumedAs"], "--redis", self.redis.url, "--wait", "--timeout", "30s",
                               "-c")
            self.assertExit(done, 0)
            state = done.json()
            self.assertTrue(state["done"])
            self.assertEqual(state["n"], {a1: 1, a2: 2}[x["run"]])
        self.assertEqual(self.ran("fetch"), fetched, "a completed step ran again")
        # retried steps leave the list, and are marked with the run that retried them
        left = self.dlq("list", "--json").json()["dead"]
        self.assertEqual({d["run"] for d in left}, {b1})
        marked = [d for d in self.dlq("list", "--json", "--retried").json()["dead"] if d["run"] != b1]
        self.assertTrue(marked)
        by = {x["run"]: x["resumedAs"] for x in out["retried"]}
        for d in marked:
            self.assertEqual(d["retriedBy"], by[d["run"]])
        again = self.dlq("retry", marked[0]["job"], "--flows", self.flow, "--json", code=1).json()
        self.assertEqual(again["retried"], [])
        self.assertIn("already retried by run", again["skipped"][0]["reason"])

        # purge: by session, then everything; the failed sets Bull Board reads are emptied
        purged = self.dlq("purge", "--session", "tenant-b", "--json").json()["purged"]
        self.assertEqual(len(purged), len(left))
        self.assertEqual(self.dlq("list", "--json").json()["dead"], [])
        self.dlq("purge")
        self.assertEqual(self.dlq("list", "--json", "--retried").json()["dead"], [])
        c = self.redis.client
        self.assertEqual(c("ZCARD", "bull:pay.notify:failed"), 0)
        self.assertEqual(c("EXISTS", f"bull:pay.notify:{notify[0]['id']}"), 0)

    def test_a_runs_dead_steps_are_retried_by_one_run(self):
        run_id = self.failed_run("s", 5)
        dead = self.dlq("list", "--json").json()["dead"]
        os.remove(self.mark)
        out = self.dlq("retry", dead[0]["job"], "--flows", self.flow, "--json").json()
        self.assertEqual(len(out["retried"]), 1)
        self.assertEqual(out["retried"][0]["run"], run_id)
        self.assertEqual(sorted(out["retried"][0]["jobs"]), sorted(d["job"] for d in dead))
        # the old run keeps its one outcome; the new run has its own
        old = harness.run("result", run_id, "--redis", self.redis.url)
        self.assertExit(old, 1)
        new = harness.run("result", out["retried"][0]["resumedAs"], "--redis", self.redis.url, "--wait",
                          "--timeout", "30s")
        self.assertExit(new, 0)

    def test_a_run_whose_record_is_corrupt_is_skipped_and_the_others_retried(self):
        broken, fine = self.failed_run("s", 1), self.failed_run("s", 2)
        self.redis.client("HDEL", f"am2z:run:{broken}:record", "input")
        os.remove(self.mark)
        out = self.dlq("retry", "--all", "--flows", self.flow, "--json").json()
        self.assertEqual([x["run"] for x in out["retried"]], [fine])
        self.assertTrue(out["skipped"])
        for s in out["skipped"]:
            self.assertEqual(s["run"], broken)
            self.assertIn(f"am2z:run:{broken}:record", s["reason"])
            self.assertIn("is not a complete run record", s["reason"])

    def test_jobs_that_are_not_am2z_steps_are_not_listed(self):
        c = self.redis.client
        # a BullMQ client's failed job on an am2z queue, and a corrupt one
        c("HSET", "bull:pay.fetch:1", "name", "x", "data", "{}", "opts", "{}", "failedReason", "boom",
          "finishedOn", "1")
        c("HSET", "bull:pay.fetch:2", "name", "x", "data", "{}", "opts", '{"am2z": 7}', "failedReason", "boom")
        c("ZADD", "bull:pay.fetch:failed", 1, "1", 2, "2")
        self.assertEqual(self.dlq("list", "--json").json()["dead"], [])
        self.dlq("show", "pay.fetch:1", code=1)
        self.dlq("purge")
        self.assertEqual(c("ZCARD", "bull:pay.fetch:failed"), 2, "purge deleted jobs that are not am2z's")

    def test_errors(self):
        r = self.dlq("show", "pay.notify:nosuch", code=1)
        self.assertIn("no dead step 'pay.notify:nosuch'", r.stderr)
        r = self.dlq("retry", "--flows", self.flow, code=2)
        self.assertIn("name the dead steps to retry (JOB...), or give --all", r.stderr)
        r = harness.run("dlq", "retry", "--all", "--redis", self.redis.url)
        self.assertExit(r, 2)
        self.assertIn("--flows is required", r.stderr)
        r = self.dlq("retry", "pay.notify:nosuch", "--flows", self.flow, "--json", code=1)
        self.assertEqual(r.json()["skipped"], [{"job": "pay.notify:nosuch", "reason": "no such dead step"}])
        r = harness.run("dlq", "list", "--redis", f"redis://127.0.0.1:{free_dead_port()}")
        self.assertExit(r, 4)
        self.assertIn("am2z dlq list: cannot use Redis at redis://127.0.0.1:", r.stderr)
        bad = self.write_tmp("bad.yaml", "version: 1\nname: bad\nflow: {use: nosuch}\n")
        r = harness.run("dlq", "retry", "--all", "--flows", bad, "--redis", self.redis.url)
        self.assertExit(r, 3)
        self.assertIn("bad.yaml", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
