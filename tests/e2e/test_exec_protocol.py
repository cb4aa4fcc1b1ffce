"""exec's protocol end to end: typed errors from any language, custom events, state values as argv
and env, and the torture cases (garbage stdout, fork-and-exit, not found)."""

import json
import os
import signal
import time
import unittest

from harness import E2ETestCase, events_of, finish, kill_leftovers, read_pids, run, start, wait_for

TYPED_ERROR = r'''#!/usr/bin/env python3
import json, sys
state = json.load(sys.stdin)
print("::am2z-event " + json.dumps({"event": "stock:checked", "data": {"sku": state["sku"]}}), file=sys.stderr)
print(json.dumps({"error": {"code": "OUT_OF_STOCK", "message": "no " + state["sku"] + " left",
                            "retryable": False, "category": "business", "details": {"sku": state["sku"]}}}))
sys.exit(3)
'''

STATE_VALUES = r'''version: 1
name: f
flow:
  use: exec
  with:
    argv: [sh, -c, 'cat >/dev/null; printf "{\"args\":\"%s\",\"env\":\"%s\",\"other\":\"%s\"}" "$1" "$ORDER_ID" "$SECRET"', sh, {path: .order.total}]
    env: {ORDER_ID: {path: .order.id}}
'''

# A daemon in a session of its own (so not in the step's process group), which would touch MARK
# after a second; the script waits until it runs, then does THEN.
DAEMON = """setsid sh -c 'echo $$ > {pid}.tmp; mv {pid}.tmp {pid}; sleep 1; touch {mark}' &
while [ ! -s {pid} ]; do sleep 0.01; done
{then}
"""


class ExecProtocolTest(E2ETestCase):
    def daemon_flow(self, name, then, step_extra=""):
        pid, mark = self.tmp_path(name + ".pid"), self.tmp_path(name + ".mark")
        script = self.write_tmp(name + ".sh", DAEMON.format(pid=pid, mark=mark, then=then))
        flow = self.write_tmp(name + ".yaml", "version: 1\nname: f\nprocessors:\n"
                              f"  d: {{use: exec, with: {{argv: [sh, {script}]}}{step_extra}}}\nflow: {{chain: [d]}}\n")
        return flow, pid, mark

    def assertDaemonGoneAtExit(self, pid_file, mark):
        pids = read_pids(pid_file)
        self.assertEqual(len(pids), 1, "the daemon never started")
        self.addCleanup(kill_leftovers, pids)
        # Gone when am2z exits, not some time later: the step waited for it.
        with self.assertRaises(ProcessLookupError):
            os.kill(pids[0], 0)
        time.sleep(1.2)
        self.assertFalse(os.path.exists(mark), "the daemon lived on after its step")

    def test_a_setsid_daemon_does_not_outlive_a_step_that_succeeded(self):
        flow, pid, mark = self.daemon_flow("ok", "echo '{\"ok\": 1}'")
        r = run("run", flow, "-q", timeout=10)
        self.assertEqual(self.data_of(self.assertSucceeded(r)), {"ok": 1})
        self.assertDaemonGoneAtExit(pid, mark)

    def test_a_setsid_daemon_does_not_outlive_a_step_that_timed_out(self):
        flow, pid, mark = self.daemon_flow("late", "sleep 30", ", timeout: 300ms")
        r = run("run", flow, "-q", timeout=10)
        err = self.assertFailedWith(r, 124)
        self.assertEqual(err["code"], "OPERATION_TIMEOUT")
        self.assertLess(r.elapsed, 5)
        self.assertDaemonGoneAtExit(pid, mark)

    def test_a_setsid_daemon_does_not_outlive_a_cancelled_step(self):
        flow, pid, mark = self.daemon_flow("cancel", "sleep 30")
        proc = start("run", flow, "-q")
        self.assertTrue(wait_for(lambda: read_pids(pid), 10), "the daemon never started")
        os.kill(proc.pid, signal.SIGINT)  # the am2z process we started, by pid
        err = self.assertFailedWith(finish(proc, timeout=10), 130)
        self.assertEqual(err["code"], "CANCELLED")
        self.assertDaemonGoneAtExit(pid, mark)

    def test_stderr_lines_go_to_the_log_at_info_prefixed_by_the_step(self):
        script = ("import sys; print('warming up', file=sys.stderr); "
                  "print('::am2z-event {\\\"event\\\": \\\"tick\\\"}', file=sys.stderr); "
                  "sys.stderr.write('no newline at the end'); sys.stdout.write(sys.stdin.read())")
        flow = self.write_tmp("noisy.yaml", "version: 1\nname: noisy\nprocessors:\n"
                              f"  talk: {{use: exec, with: {{argv: [python3, -c, {json.dumps(script)}]}}}}\n"
                              "flow: talk\n")
        r = run("run", flow, "-c")
        self.assertSucceeded(r)
        lines = r.stderr_lines()
        self.assertEqual(len(lines), 2, r.stderr)  # the event line is an event, not a log line
        self.assertRegex(lines[0], r"^\S+ info talk: warming up$")
        self.assertRegex(lines[1], r"^\S+ info talk: no newline at the end$")
        self.assertEqual(run("run", flow, "-c", "-q").stderr, "")
        self.assertEqual(json.loads(run("run", flow, "-c", "--log-format", "json").stderr_lines()[0])["msg"],
                         "talk: warming up")

    def test_stdout_beyond_max_output_fails_naming_the_limit(self):
        flow = self.write_tmp("big.yaml", "version: 1\nname: f\nflow: {use: exec, with: {argv: [sh, -c, "
                              "'head -c 2000000 /dev/zero'], max_output: 1MiB}}\n")
        err = self.assertFailedWith(run("run", flow, "-q"), 1)
        self.assertEqual(err["code"], "RESOURCE_EXHAUSTED")
        self.assertFalse(err["retryable"])
        self.assertIn("stdout of 'sh' exceeded the 1 MiB limit (max_output)", err["message"])
        flow = self.write_tmp("bad.yaml", "version: 1\nname: f\nflow: {use: exec, with: {argv: [sh], max_output: 1 mb}}\n")
        r = run("run", flow, "-q")
        self.assertEqual(r.code, 3)
        self.assertIn("max_output", r.stderr)
        self.assertIn("must be a size such as 64MiB", r.stderr)

    def test_typed_error_and_event_from_a_python_script(self):
        script = self.write_tmp("check.py", TYPED_ERROR)
        flow = self.write_tmp("f.yaml", f"version: 1\nname: f\nflow: {{use: exec, with: {{argv: [python3, {script}]}}}}\n")
        events = self.tmp_path("events.jsonl")
        r = run("run", flow, "--set", "sku=BOOK-1", "--events", events, "-q")
        err = self.assertFailedWith(r, 1)
        self.assertEqual((err["name"], err["code"], err["message"]), ("BusinessError", "OUT_OF_STOCK", "no BOOK-1 left"))
        self.assertEqual(err["context"]["details"], {"sku": "BOOK-1"})
        with open(events, encoding="utf-8") as f:
            custom = [e for e in events_of(f.read()) if e["event"] == "stock:checked"]
        self.assertEqual(len(custom), 1)
        self.assertEqual(custom[0]["data"], {"sku": "BOOK-1"})

    def test_shell_script_gets_state_values_only_where_the_flow_says(self):
        flow = self.write_tmp("f.yaml", STATE_VALUES)
        r = run("run", flow, "--set", 'order={"id": "A-1", "total": 9.5}', "--set", "secret=s3cret", "-q",
                env={"SECRET": ""})
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), {"args": "9.5", "env": "A-1", "other": ""})

    def test_garbage_stdout_fails_quoting_it(self):
        flow = self.write_tmp("f.yaml", "version: 1\nname: f\nflow: {use: exec, with: {argv: [sh, -c, 'echo not json']}}\n")
        err = self.assertFailedWith(run("run", flow, "-q"), 1)
        self.assertIn("is not JSON (parse error at line 1, column 2", err["message"])
        self.assertTrue(err["message"].endswith("): not json"), err["message"])

    def test_program_that_forks_a_child_and_exits_does_not_hang_the_run(self):
        script = self.write_tmp("fork.sh", "sleep 30 &\necho '{\"ok\": 1}'\n")
        flow = self.write_tmp("f.yaml", f"version: 1\nname: f\nflow: {{use: exec, with: {{argv: [sh, {script}]}}}}\n")
        r = run("run", flow, "-q", timeout=10)
        self.assertEqual(self.data_of(self.assertSucceeded(r)), {"ok": 1})
        self.assertLess(r.elapsed, 5)

    def test_not_found_and_not_executable(self):
        plain = self.write_tmp("plain.sh", "echo hi\n", mode=0o644)
        for program, reason in (("no-such-program-am2z", "not found"), (plain, "not executable")):
            with self.subTest(program=program):
                flow = self.write_tmp("f.yaml", f"version: 1\nname: f\nflow: {{use: exec, with: {{argv: ['{program}']}}}}\n")
                err = self.assertFailedWith(run("run", flow, "-q"), 1)
                self.assertIn(reason, err["message"])
                self.assertFalse(err["retryable"])


if __name__ == "__main__":
    unittest.main()
