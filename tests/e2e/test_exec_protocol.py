"""exec's protocol end to end: typed errors from any language, custom events, state values as argv
and env, and the torture cases (garbage stdout, fork-and-exit, not found)."""

import unittest

from harness import E2ETestCase, events_of, run

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


class ExecProtocolTest(E2ETestCase):
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
        self.assertIn("is not JSON: not json", err["message"])

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
