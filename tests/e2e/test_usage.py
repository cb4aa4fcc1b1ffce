"""Command-line usage: exit 2 with a message on stderr for mistakes; --version and --help."""

import re
import unittest

from harness import E2ETestCase, REPO, fixture, run

FLOW = fixture("chain.yaml")
HINT = "Run with --help for more information."


def project_version():
    with open(f"{REPO}/CMakeLists.txt", encoding="utf-8") as f:
        return re.search(r"project\(am2z VERSION (\S+)", f.read()).group(1)


class UsageErrorTest(E2ETestCase):
    def usage_error(self, *args):
        r = run(*args)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout, "", r.describe())
        self.assertTrue(r.stderr.strip(), "a usage error explains itself on stderr")
        self.assertNotIn('"error"', r.stderr, "usage errors are plain text")
        return r.stderr

    def test_no_subcommand(self):
        self.assertEqual(self.usage_error(), f"A subcommand is required\n{HINT}\n")
        self.assertEqual(self.usage_error("-q"), f"A subcommand is required\n{HINT}\n")

    def test_unknown_option(self):
        self.assertEqual(self.usage_error("--bogus"), f"The following argument was not expected: --bogus\n{HINT}\n")
        self.assertEqual(self.usage_error("run", FLOW, "--bogus"),
                         f"The following argument was not expected: --bogus\n{HINT}\n")
        self.assertEqual(self.usage_error("validate", "--bogus", FLOW),
                         f"The following argument was not expected: --bogus\n{HINT}\n")

    def test_unknown_subcommand(self):
        self.assertEqual(self.usage_error("frobnicate"),
                         f"The following argument was not expected: frobnicate\n{HINT}\n")

    def test_missing_arguments(self):
        self.assertEqual(self.usage_error("run"), f"flow is required\n{HINT}\n")
        self.assertEqual(self.usage_error("validate"), f"files is required\n{HINT}\n")
        self.assertIn("-i", self.usage_error("run", FLOW, "-i"))

    def test_extra_argument(self):
        self.assertEqual(self.usage_error("run", FLOW, "extra"),
                         f"The following argument was not expected: extra\n{HINT}\n")

    def test_bad_timeout(self):
        cases = {
            "abc": "invalid duration 'abc': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h",
            "-5s": "invalid duration '-5s': expected a number and a unit, e.g. 500ms, 30s, 5m, 1h",
            "5x": "invalid duration '5x': unknown unit 'x' (use ms, s, m, h or d)",
            "1e13s": "invalid duration '1e13s': too large",
            "0": "must be greater than 0",
            "0ms": "must be greater than 0",
        }
        for value, message in cases.items():
            with self.subTest(timeout=value):
                err = self.usage_error("run", FLOW, "--timeout", value)
                self.assertTrue(err.startswith(f"am2z run: --timeout: {message}"), err)

    def test_bad_max_call_depth(self):
        err = self.usage_error("run", FLOW, "--max-call-depth", "0")
        self.assertEqual(err, f"--max-call-depth: Value 0 not in range 1 to 2147483647\n{HINT}\n")
        self.assertIn("--max-call-depth", self.usage_error("run", FLOW, "--max-call-depth", "many"))

    def test_bad_log_level(self):
        err = self.usage_error("--log-level", "loud", "run", FLOW)
        self.assertEqual(err, f"--log-level: loud not in {{trace,debug,info,warn,error,off}}\n{HINT}\n")

    def test_events_file_cannot_be_opened(self):
        path = self.tmp_path("no-such-dir/events.jsonl")
        err = self.usage_error("run", FLOW, "--events", path)
        self.assertEqual(err, f"am2z run: --events: cannot open '{path}': No such file or directory\n")


class InfoTest(E2ETestCase):
    def test_version(self):
        for flag in ("--version", "-V"):
            with self.subTest(flag=flag):
                r = run(flag)
                self.assertExit(r, 0)
                self.assertEqual(r.stdout, f"am2z {project_version()}\n")
                self.assertEqual(r.stderr, "")

    def test_help(self):
        r = run("--help")
        self.assertExit(r, 0)
        self.assertIn("Usage: am2z [OPTIONS] SUBCOMMAND", r.stdout)
        for word in ("run", "validate", "--log-level", "-q,--quiet", "-v,--verbose", "-V,--version"):
            self.assertIn(word, r.stdout)
        self.assertEqual(r.stderr, "")

    def test_run_help(self):
        r = run("run", "--help")
        self.assertExit(r, 0)
        for option in ("-i,--input", "--set", "--session", "--events", "--timeout", "--max-call-depth",
                       "-c,--compact", "flow"):
            self.assertIn(option, r.stdout)

    def test_validate_help(self):
        r = run("validate", "--help")
        self.assertExit(r, 0)
        self.assertIn("--json", r.stdout)
        self.assertIn("files", r.stdout)


if __name__ == "__main__":
    unittest.main()
