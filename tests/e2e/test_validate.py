"""am2z validate: `<file>: ok`, `file:line:col: path: message` diagnostics, --json, exit 3."""

import glob
import os
import re
import unittest

from harness import DIAGNOSTIC, E2ETestCase, example, fixture, run

MISTAKES = fixture("invalid", "mistakes.yaml")
MALFORMED = fixture("invalid", "malformed.yaml")

# (line, column, path, message) of every mistake in invalid/mistakes.yaml, in file order
MISTAKES_DIAGNOSTICS = [
    (1, 10, "version", "unsupported version 2; this am2z reads version 1"),
    (4, 12, "processors.a.use", "unknown processor type 'nope'; available: delete, exec, fail, http, log, merge, "
                                "pick, remote, set, sleep, validate"),
    (5, 36, "processors.b.with.duration", "Validation failed for field 'duration': invalid duration 'fast': "
                                          "expected a number and a unit, e.g. 500ms, 30s, 5m, 1h"),
    (7, 14, "flow.chain[1]", "unknown processor or sub-flow 'c'"),
]


class ValidateTest(E2ETestCase):
    def test_valid_file(self):
        path = example("order", "order.yaml")
        r = run("validate", path)
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, f"{path}: ok\n")
        self.assertEqual(r.stderr, "")

    def test_every_fixture_flow_is_valid(self):
        files = sorted(glob.glob(fixture("*.yaml")))
        self.assertGreater(len(files), 10)
        r = run("validate", *files)
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "".join(f"{f}: ok\n" for f in files))

    def test_invalid_file_lists_every_mistake(self):
        r = run("validate", MISTAKES)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        lines = r.stderr_lines()
        self.assertEqual(lines, [f"{MISTAKES}:{line}:{col}: {path}: {message}"
                                 for line, col, path, message in MISTAKES_DIAGNOSTICS])
        for line in lines:
            self.assertRegex(line, DIAGNOSTIC)

    def test_relative_path_is_reported_as_given(self):
        r = run("validate", os.path.join("invalid", "mistakes.yaml"), "chain.yaml", cwd=fixture())
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "chain.yaml: ok\n")
        self.assertTrue(r.stderr.startswith("invalid/mistakes.yaml:1:10: version: "), r.stderr)

    def test_yaml_alias_bomb_is_rejected_not_a_crash(self):
        # Nine levels of ten aliases denote 10^9 values: the loader used to die of std::bad_alloc.
        levels = ['        l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
        for i in range(1, 9):
            levels.append(f"        l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]")
        path = self.write_tmp("bomb.yaml", "version: 1\nname: bomb\nprocessors:\n  p:\n    use: set\n"
                              "    with:\n      values:\n" + "\n".join(levels) + "\nflow: p\n")
        r = run("validate", path, timeout=30)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, f"{path}:12:46: the document has more than 100000 values "
                                   "(an alias counts as all the values it repeats)\n")
        self.assertLess(r.elapsed, 2)  # counted, never expanded

    def test_malformed_yaml(self):
        r = run("validate", MALFORMED)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        lines = r.stderr_lines()
        self.assertEqual(len(lines), 1, r.stderr)
        m = DIAGNOSTIC.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m["file"], MALFORMED)
        self.assertGreaterEqual(int(m["line"]), 2)  # where the parser gave up, at or after the open '['
        self.assertGreater(int(m["col"]), 0)
        self.assertIn("end of sequence flow not found", m["message"])

    def test_multiple_files_mixed(self):
        good = fixture("chain.yaml")
        also_good = fixture("route.yaml")
        r = run("validate", good, MISTAKES, also_good, MALFORMED)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, f"{good}: ok\n{also_good}: ok\n")
        lines = r.stderr_lines()
        self.assertEqual(len(lines), len(MISTAKES_DIAGNOSTICS) + 1)
        self.assertTrue(all(line.startswith(MISTAKES + ":") for line in lines[:4]))
        self.assertTrue(lines[4].startswith(MALFORMED + ":"))

    def test_all_valid_files_exit_zero(self):
        r = run("validate", fixture("chain.yaml"), example("order", "order.yaml"))
        self.assertExit(r, 0)
        self.assertEqual(len(r.stdout.splitlines()), 2)

    def test_a_key_with_another_ending_gets_a_did_you_mean(self):
        path = self.write_tmp("retries.yaml", "version: 1\nname: x\nprocessors:\n"
                                              "  a: {use: set, with: {values: {a: 1}}, retries: 3}\nflow: a\n")
        r = run("validate", path)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, f"{path}:4:41: processors.a.retries: unknown key 'retries'; did you mean 'retry'?\n")

    def test_a_directory_stands_for_its_flow_files_not_its_include_libraries(self):
        root = example("")
        r = run("validate", root)
        self.assertExit(r, 0)
        listed = [line.split(": ")[0] for line in r.stdout.splitlines()]
        self.assertIn(os.path.join(root, "order", "order.yaml"), listed)
        self.assertIn(os.path.join(root, "reuse", "quote.yaml"), listed)
        self.assertNotIn(os.path.join(root, "reuse", "lib", "pricing.yaml"), listed)  # checked through quote.yaml
        self.assertEqual(listed, sorted(listed))
        self.assertTrue(all(line.endswith(": ok") for line in r.stdout.splitlines()), r.stdout)
        empty = self.tmp_path("empty")
        os.mkdir(empty)
        r = run("validate", empty)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, f"am2z validate: no flow file (*.yaml, *.yml) found in {empty}\n")

    def test_a_directory_without_flow_files_is_an_error_among_other_paths(self):
        good = fixture("chain.yaml")
        empty = self.tmp_path("empty")
        os.mkdir(empty)
        libraries = self.tmp_path("libraries")  # include libraries only: no flow to check them through
        os.mkdir(libraries)
        self.write_tmp(os.path.join("libraries", "lib.yaml"),
                       "version: 1\nprocessors:\n  a: {use: log, with: {message: hi}}\n")
        r = run("validate", empty, good, libraries)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, f"{good}: ok\n")
        self.assertEqual(r.stderr, f"am2z validate: no flow file (*.yaml, *.yml) found in {empty}\n"
                                   f"am2z validate: no flow file (*.yaml, *.yml) found in {libraries}\n")
        r = run("validate", "--json", good, empty)
        self.assertExit(r, 3)
        self.assertEqual(r.json(), {"valid": False, "files": [{"file": good, "valid": True, "diagnostics": []}]})
        self.assertEqual(r.stderr, f"am2z validate: no flow file (*.yaml, *.yml) found in {empty}\n")

    def test_a_close_key_at_any_level_or_in_another_case_gets_a_did_you_mean(self):
        path = self.write_tmp("keys.yaml", "version: 1\nname: x\nprocesors: {}\nflow: {use: log, with: {message: m}, "
                                           "Retry: {attempts: 2}, zzz: 1}\n")
        r = run("validate", path)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr_lines(), [
            f"{path}:3:1: procesors: unknown key 'procesors'; did you mean 'processors'?",
            f"{path}:4:38: flow.Retry: unknown key 'Retry'; did you mean 'retry'?",
            f"{path}:4:60: flow.zzz: unknown key 'zzz'; expected one of: use, with, timeout, retry, concurrency, "
            "rate, priority, delay, description, name",
        ])

    def test_missing_file(self):
        path = self.tmp_path("does-not-exist.yaml")
        r = run("validate", path)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, f"{path}: the flow file does not exist\n")

    def test_unreadable_file(self):
        # A directory cannot be read as a flow file, even by root (validate would search it).
        r = run("run", self.tmp)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, f"{self.tmp}: the flow file is a directory\n")
        if os.geteuid() != 0:  # root reads mode-000 files anyway
            path = self.write_tmp("secret.yaml", "version: 1\n", mode=0)
            r = run("validate", path)
            self.assertExit(r, 3)
            self.assertEqual(r.stderr, f"{path}: the flow file cannot be opened: Permission denied\n")

    def test_empty_file(self):
        path = self.write_tmp("empty.yaml", "")
        r = run("validate", path)
        self.assertExit(r, 3)
        self.assertRegex(r.stderr, r"^" + re.escape(path) + r":\d+:\d+: .*got nothing\n$")

    def test_json_output(self):
        good = fixture("chain.yaml")
        missing = self.tmp_path("missing.yaml")
        r = run("validate", "--json", good, MISTAKES, missing)
        self.assertExit(r, 3)
        self.assertEqual(r.stderr, "")
        report = r.json()
        self.assertEqual(report["valid"], False)
        self.assertEqual([(f["file"], f["valid"]) for f in report["files"]],
                         [(good, True), (MISTAKES, False), (missing, False)])
        self.assertEqual(report["files"][0]["diagnostics"], [])
        self.assertEqual(report["files"][1]["diagnostics"], [
            {"file": MISTAKES, "line": line, "column": col, "path": path, "message": message, "severity": "error"}
            for line, col, path, message in MISTAKES_DIAGNOSTICS
        ])
        self.assertEqual(report["files"][2]["diagnostics"], [
            {"file": missing, "line": 0, "column": 0, "path": "",
             "message": "the flow file does not exist", "severity": "error"}
        ])

    def test_json_output_all_valid(self):
        r = run("validate", fixture("chain.yaml"), "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json(), {"valid": True, "files": [
            {"file": fixture("chain.yaml"), "valid": True, "diagnostics": []}]})

    def test_run_rejects_invalid_flow_with_diagnostics(self):
        r = run("run", MISTAKES)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr_lines()), len(MISTAKES_DIAGNOSTICS))
        self.assertTrue(r.stderr.startswith(f"{MISTAKES}:1:10: version: "))

    def test_run_missing_flow_file(self):
        path = self.tmp_path("nope.yaml")
        r = run("run", path)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, f"{path}: the flow file does not exist\n")


if __name__ == "__main__":
    unittest.main()
