"""The flow language end to end: every class of mistake in one pass (text and --json for CI),
include and sub-flow inputs, the input contract (exit 3 before anything runs) and --dry-run."""

import os
import unittest

from harness import DIAGNOSTIC, E2ETestCase, example, fixture, run

LANGUAGE = fixture("language")

# Relative to fixtures/language, where the tests run: diagnostics name files as they were reached.
EVERY_MISTAKE = [
    "every_mistake.yaml:6:9: input.type: invalid JSON Schema: Unrecognised JSON type name 'objct'",
    "every_mistake.yaml:8:12: defaults.timeout: invalid duration 'soon': expected a number and a unit, "
    "e.g. 500ms, 30s, 5m, 1h",
    "every_mistake.yaml:10:3: processors.fetch: duplicate name 'fetch': already defined at lib/broken.yaml:5",
    "every_mistake.yaml:12:25: processors.fetch.with.argv[1]: expected a string or a map with path, got 5",
    "every_mistake.yaml:12:35: processors.fetch.with.cwdd: unknown key 'cwdd'; did you mean 'cwd'?",
    "every_mistake.yaml:13:11: processors.fetch.rate: invalid rate '10/fortnight': expected <count>/<period>, "
    "e.g. 100/min, 10/s, 3/500ms",
    "every_mistake.yaml:14:5: processors.fetch.retyr: unknown key 'retyr'; did you mean 'retry'?",
    "every_mistake.yaml:15:3: processors.fetch: duplicate key 'fetch' (first defined on line 10)",
    "every_mistake.yaml:16:18: processors.mystery.use: unknown processor type 'frobnicate'; "
    "available: delete, exec, fail, http, log, merge, pick, remote, set, sleep, validate",
    "every_mistake.yaml:17:63: processors.concurrent.concurrency: expected an integer, got 'many'",
    "every_mistake.yaml:19:3: flows.fetch: duplicate name 'fetch': already defined at lib/broken.yaml:5",
    "every_mistake.yaml:21:18: flows.pong.chain[0]: sub-flow cycle: ping -> pong -> ping",
    "every_mistake.yaml:25:7: flow.chain[1]: unknown processor or sub-flow 'fetchh'; did you mean 'fetch'?",
    "every_mistake.yaml:26:7: flow.chain[2].chain: chain must not be empty",
    "every_mistake.yaml:27:7: flow.chain[3].parallel: parallel must not be empty",
    "every_mistake.yaml:30:13: flow.chain[4].cases.ok: unknown processor or sub-flow 'nowhere'",
    "every_mistake.yaml:31:14: flow.chain[5].route: invalid path 'status' at character 1: a path starts with '.' "
    "(the root is '.')",
    "every_mistake.yaml:33:14: flow.chain[6].flow: unknown sub-flow 'pnig'; did you mean 'ping'?",
    "lib/broken.yaml:3:11: include[0]: include cycle: every_mistake.yaml -> broken.yaml -> every_mistake.yaml",
    "lib/broken.yaml:6:39: processors.lib-step.with.values: expected a map, got 5",
]


class MistakesTest(E2ETestCase):
    def test_every_class_of_mistake_in_one_pass(self):
        r = run("validate", "every_mistake.yaml", cwd=LANGUAGE)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr_lines(), EVERY_MISTAKE)

    def test_json_report_has_what_ci_annotations_need(self):
        r = run("validate", "--json", "every_mistake.yaml", cwd=LANGUAGE)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, "")
        report = r.json()
        self.assertFalse(report["valid"])
        diagnostics = report["files"][0]["diagnostics"]
        self.assertEqual(len(diagnostics), len(EVERY_MISTAKE))
        for d, text in zip(diagnostics, EVERY_MISTAKE):
            self.assertEqual(set(d), {"file", "line", "column", "path", "message", "severity"})
            self.assertEqual(d["severity"], "error")
            self.assertEqual(f"{d['file']}:{d['line']}:{d['column']}: {d['path']}: {d['message']}", text)
        # A mistake inside an included file names that file, so an annotation lands there.
        self.assertEqual(diagnostics[-1]["file"], "lib/broken.yaml")
        self.assertTrue(os.path.isfile(os.path.join(LANGUAGE, diagnostics[-1]["file"])))


class ReuseTest(E2ETestCase):
    def test_include_and_sub_flow_inputs(self):
        r = run("run", example("reuse", "quote.yaml"), "-i", example("reuse", "quote-input.json"), "-q")
        state = self.assertSucceeded(r)
        self.assertEqual(state["tax"], {"country": "FR", "rate": 0.2})
        self.assertEqual(state["totals"], {"currency": "EUR", "subtotal": 26.75})
        self.assertEqual(state["customer"], {"country": "FR", "name": "Ada"})


class InputContractTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.mark = self.tmp_path("ran")
        self.env = {"AM2Z_E2E_MARK": self.mark}

    def test_matching_input_runs(self):
        r = run("run", fixture("language", "contract.yaml"), "--set", 'order={"id": "A1", "total": 3}', "-q",
                env=self.env)
        self.assertEqual(self.data_of(self.assertSucceeded(r))["accepted"], True)
        self.assertTrue(os.path.exists(self.mark))

    def test_bad_input_is_rejected_with_exit_3_before_anything_runs(self):
        r = run("run", fixture("language", "contract.yaml"), "--set", 'order={"id": 7, "total": -1}', env=self.env)
        err = self.assertFailedWith(r, 3)
        self.assertEqual(err["name"], "ValidationError")
        self.assertEqual(err["message"], "input does not match the input schema of flow 'contract' at /order/id: "
                                         "expected a string, got 7 (and 1 more)")
        self.assertEqual(err["context"]["field"], "/order/id")
        self.assertEqual(err["context"]["value"], 7)  # the offending value itself
        self.assertEqual(err["context"]["violations"], [
            {"pointer": "/order/id", "message": "expected a string, got 7"},
            {"pointer": "/order/total", "message": "must be at least 0, got -1"},
        ])
        self.assertFalse(os.path.exists(self.mark), "a step ran although the input was rejected")

    def test_missing_key_names_its_pointer(self):
        r = run("run", fixture("language", "contract.yaml"), env=self.env)
        err = self.assertFailedWith(r, 3)
        self.assertEqual(err["message"], "input does not match the input schema of flow 'contract' at /order: "
                                         "missing required key 'order'")
        self.assertIsNone(err["context"]["value"])  # nothing there

    def test_dry_run_checks_the_input_too(self):
        r = run("run", "--dry-run", fixture("language", "contract.yaml"), env=self.env)
        self.assertFailedWith(r, 3)
        self.assertFalse(os.path.exists(self.mark))


class DryRunTest(E2ETestCase):
    def test_text_plan_runs_nothing(self):
        mark = self.tmp_path("ran")
        r = run("run", "--dry-run", fixture("language", "contract.yaml"), "--set", 'order={"id": "A", "total": 1}',
                env={"AM2Z_E2E_MARK": mark})
        self.assertExit(r, 0)
        self.assertEqual(r.stdout.splitlines(), [
            f"flow contract ({fixture('language', 'contract.yaml')})",
            "input: checked against the flow's input schema",
            "chain flow",
            "    1. mark: exec",
            "    2. set#1: set",
        ])
        self.assertFalse(os.path.exists(mark))

    def test_json_plan(self):
        r = run("run", "--dry-run", "--json", example("order", "order.yaml"))
        self.assertExit(r, 0)
        plan = r.json()
        self.assertEqual(plan["flow"], "process-order")
        self.assertIsNone(plan["input_schema"])
        steps = plan["root"]["steps"]
        self.assertEqual([s["kind"] for s in steps], ["processor", "parallel", "route", "processor"])
        charge = steps[1]["branches"][0]
        self.assertEqual(charge, {"kind": "processor", "name": "charge-payment", "type": "exec",
                                  "description": "Charges the card; a card number ending in 0000 is declined",
                                  "timeout": "10s", "rate": "100/1m",
                                  "retry": {"attempts": 3, "backoff": "200ms", "multiplier": 2.0,
                                            "max_backoff": "30s", "on": ["network"]}})
        self.assertEqual([c["value"] for c in steps[2]["cases"]], ["approved", "declined"])

    def test_invalid_flow_exits_3_with_diagnostics(self):
        r = run("run", "--dry-run", "every_mistake.yaml", cwd=LANGUAGE)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr_lines(), EVERY_MISTAKE)
        for line in r.stderr_lines():
            self.assertRegex(line, DIAGNOSTIC)


if __name__ == "__main__":
    unittest.main()
