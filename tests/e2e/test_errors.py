"""am2z run on flows that fail: exit 1, empty stdout, one error JSON line on stderr (after the
log, which -q silences)."""

import re
import unittest

from harness import E2ETestCase, events_of, fixture, run


class FlowFailureTest(E2ETestCase):
    def test_failing_step_reports_processor_steps_and_partial_state(self):
        r = run("run", fixture("fail_chain.yaml"), "--set", "orderId=A-1", "--session", "s-fail")
        err = self.assertFailedWith(r, 1)
        self.assertOnlyErrorLine(r)
        self.assertEqual(err["name"], "BusinessError")
        self.assertEqual(err["code"], "ORDER_REJECTED")
        self.assertEqual(err["category"], "business")
        self.assertEqual(err["severity"], "medium")
        self.assertFalse(err["retryable"])
        self.assertEqual(err["message"], "order rejected by policy")
        self.assertEqual(err["context"], {
            "failedProcessor": "boom",
            "chain": "flow",
            "completedSteps": 1,
            "totalSteps": 3,
        })
        partial = err["partialState"]
        self.assertEqual(self.data_of(partial), {"orderId": "A-1", "first": "done"})
        self.assertMetadata(partial, 2, session="s-fail")

    def test_failure_events(self):
        events_path = self.tmp_path("events.jsonl")
        r = run("run", fixture("fail_chain.yaml"), "--events", events_path)
        err = self.assertFailedWith(r, 1)
        with open(events_path, encoding="utf-8") as f:
            events = events_of(f.read())
        self.assertEqual([(e["event"], e.get("processor")) for e in events], [
            ("flow:started", None),
            ("processor:started", "first"), ("processor:completed", "first"),
            ("processor:started", "boom"), ("processor:failed", "boom"),
            ("flow:failed", None),
        ])
        self.assertEqual(events[4]["error"]["code"], "ORDER_REJECTED")
        self.assertEqual(events[-1]["error"], err)  # the flow:failed event carries the reported error

    def test_failing_parallel_branch(self):
        r = run("run", fixture("parallel_fail.yaml"))
        err = self.assertFailedWith(r, 1)
        self.assertEqual(err["code"], "BRANCH_FAILED")
        self.assertEqual(err["message"], "branch two failed")
        self.assertEqual(err["context"]["parallel"], "fan-out")
        self.assertEqual(err["context"]["branch"], 1)
        self.assertEqual(err["context"]["failedProcessor"], "fail#1")
        # all or nothing: branch one's change is not in the partial state
        self.assertEqual(self.data_of(err["partialState"]), {})
        self.assertEqual(err["partialState"]["metadata"]["version"], 1)


class RouteErrorTest(E2ETestCase):
    def test_unknown_route_value(self):
        r = run("run", fixture("route_no_default.yaml"), "--set", "kind=zebra")
        err = self.assertFailedWith(r, 1)
        self.assertOnlyErrorLine(r)
        self.assertEqual(err["code"], "ROUTE_NOT_FOUND")
        self.assertEqual(err["category"], "execution")
        self.assertFalse(err["retryable"])
        self.assertEqual(err["message"], "Processor 'by-kind' execution failed: no route for value \"zebra\" at .kind "
                                         "and no default is set (cases: a, b)")
        self.assertEqual(err["context"]["route"], "by-kind")
        self.assertEqual(err["context"]["selector"], ".kind")
        self.assertEqual(err["context"]["value"], "zebra")
        self.assertEqual(self.data_of(err["partialState"]), {"kind": "zebra"})

    def test_route_value_missing_from_state(self):
        r = run("run", fixture("route_no_default.yaml"))
        err = self.assertFailedWith(r, 1)
        self.assertEqual(err["code"], "ROUTE_NOT_FOUND")
        self.assertIn("no route: .kind is not in the state and no default is set (cases: a, b)", err["message"])
        self.assertIsNone(err["context"]["value"])

    def test_non_string_route_value(self):
        r = run("run", fixture("route_no_default.yaml"), "--set", "kind=12")
        err = self.assertFailedWith(r, 1)
        self.assertIn("no route for value 12 at .kind", err["message"])
        self.assertEqual(err["context"]["value"], 12)


class ExecErrorTest(E2ETestCase):
    def exec_failure(self, case):
        r = run("run", fixture("exec_errors.yaml"), "--set", f"case={case}")
        err = self.assertFailedWith(r, 1)
        # the program's stderr lines went to the log at info, each prefixed by the step; the
        # error line comes last
        for line in r.stderr_lines()[:-1]:
            self.assertRegex(line, rf"^\S+ info {re.escape(case)}: ", line)
        self.assertOnlyErrorLine(run("run", fixture("exec_errors.yaml"), "--set", f"case={case}", "-q"))
        self.assertEqual(err["name"], "ProcessorExecutionError")
        self.assertEqual(err["code"], "PROCESSOR_EXECUTION_FAILED")
        self.assertEqual(err["category"], "execution")
        self.assertEqual(err["severity"], "high")
        self.assertEqual(err["context"]["failedProcessor"], case)
        self.assertEqual(err["context"]["completedSteps"], 1)
        self.assertEqual(self.data_of(err["partialState"]), {"case": case, "before": True})
        self.assertEqual(err["partialState"]["metadata"]["version"], 2)
        return err

    def test_non_zero_exit_with_stderr(self):
        r = run("run", fixture("exec_errors.yaml"), "--set", "case=exit-7")
        lines = r.stderr_lines()
        self.assertRegex(lines[0], r" info exit-7: first problem$")
        self.assertRegex(lines[1], r" info exit-7: card issuer unreachable$")
        err = self.exec_failure("exit-7")
        self.assertEqual(err["message"], "Processor 'exit-7' execution failed: 'sh' exited with code 7: "
                                         "first problem\ncard issuer unreachable")
        self.assertEqual(err["context"]["exitCode"], 7)
        self.assertEqual(err["context"]["stderr"], "first problem\ncard issuer unreachable\n")
        self.assertTrue(err["retryable"])

    def test_stderr_tail_is_bounded(self):
        err = self.exec_failure("flood")
        self.assertEqual(err["context"]["exitCode"], 5)
        prefix = "Processor 'flood' execution failed: 'python3' exited with code 5: "
        self.assertTrue(err["message"].startswith(prefix), err["message"][:200])
        shown = err["message"][len(prefix):]
        self.assertTrue(shown.endswith("FINAL-LINE"))
        self.assertLessEqual(len(shown), 1000)
        tail = err["context"]["stderr"]
        self.assertTrue(tail.endswith("FINAL-LINE\n"))
        self.assertLessEqual(len(tail), 4096)
        self.assertNotIn("FIRST-LINE", tail)
        self.assertGreater(len(tail), len(shown))

    def test_program_not_found(self):
        err = self.exec_failure("not-found")
        self.assertEqual(err["message"], "Processor 'not-found' execution failed: cannot run "
                                         "'am2z-no-such-program-e2e': not found")
        self.assertEqual(err["context"]["program"], "am2z-no-such-program-e2e")
        self.assertEqual(err["context"]["reason"], "not found")
        self.assertFalse(err["retryable"])

    def test_program_not_executable(self):
        err = self.exec_failure("not-executable")
        self.assertEqual(err["context"]["reason"], "not executable")
        self.assertIn("cannot run '/etc/passwd': not executable", err["message"])
        self.assertFalse(err["retryable"])

    def test_bad_working_directory(self):
        err = self.exec_failure("bad-cwd")
        self.assertEqual(err["context"]["reason"], "bad working directory")
        self.assertIn("cannot start 'true' in working directory '/nonexistent-am2z-e2e-dir': "
                      "No such file or directory", err["message"])
        self.assertFalse(err["retryable"])

    def test_garbage_stdout(self):
        err = self.exec_failure("garbage")
        self.assertEqual(err["message"], "Processor 'garbage' execution failed: stdout of 'sh' is not JSON "
                                         "(parse error at line 1, column 1: syntax error while parsing value - "
                                         "invalid literal; last read: 'h'): hello, not json")
        self.assertEqual(err["context"]["stdout"], "hello, not json")

    def test_stdout_not_an_object(self):
        err = self.exec_failure("array")
        self.assertEqual(err["message"], "Processor 'array' execution failed: stdout of 'sh' must be a JSON "
                                         "object, not array: [1, 2, 3]")

    def test_killed_by_signal(self):
        err = self.exec_failure("killed")
        self.assertEqual(err["message"], "Processor 'killed' execution failed: 'sh' was killed by signal 9 (SIGKILL)")
        self.assertIsNone(err["context"]["exitCode"])
        self.assertEqual(err["context"]["signal"], 9)


if __name__ == "__main__":
    unittest.main()
