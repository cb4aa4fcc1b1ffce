"""am2z run with bad input: exit 3, empty stdout, one ValidationError JSON line on stderr."""

import json
import os
import subprocess
import time
import unittest

from harness import DEFAULT_TIMEOUT, E2ETestCase, Result, binary, fixture, run

FLOW = fixture("chain.yaml")


class InputErrorTest(E2ETestCase):
    def input_error(self, *args, stdin=None):
        r = run("run", FLOW, *args, stdin=stdin)
        err = self.assertFailedWith(r, 3)
        self.assertOnlyErrorLine(r)
        self.assertEqual(err["name"], "ValidationError")
        self.assertEqual(err["code"], "VALIDATION_FAILED")
        self.assertEqual(err["category"], "validation")
        self.assertFalse(err["retryable"])
        self.assertNotIn("partialState", err)  # nothing ran
        return err

    def test_set_value_that_is_not_utf8_is_refused(self):
        err = self.input_error("--set", "name=" + "\udcff\udcfe")  # bytes 0xFF 0xFE on the command line
        self.assertEqual(err["message"], "--set .name: invalid value: not UTF-8 text")

    def test_missing_input_file(self):
        path = self.tmp_path("missing.json")
        err = self.input_error("-i", path)
        self.assertEqual(err["message"], f"{path}: the input file does not exist")

    def test_input_is_a_directory(self):
        # Used to abort (uncaught std::ios_base::failure, exit 134).
        err = self.input_error("-i", self.tmp)
        self.assertEqual(err["message"], f"{self.tmp}: the input file is a directory")

    def test_invalid_json_names_file_line_and_column(self):
        path = self.write_tmp("bad.json", '{\n  "a": 1,\n  "b": ]\n}\n')
        err = self.input_error("-i", path)
        self.assertTrue(err["message"].startswith(f"{path}:3:8: invalid JSON: "), err["message"])
        self.assertEqual((err["context"]["value"], err["context"]["line"], err["context"]["column"]), (path, 3, 8))
        self.assertIn("unexpected ']'", err["message"])

    def test_deeply_nested_input_is_rejected_not_a_crash(self):
        # 100,000 levels used to overflow the stack (exit 139) when the state was copied.
        path = self.write_tmp("deep.json", '{"a": ' + "[" * 100000 + "]" * 100000 + "}")
        err = self.input_error("-i", path)
        self.assertEqual(err["message"], f"{path}:1:518: invalid JSON: nested deeper than 512 levels")

    def test_invalid_json_on_stdin(self):
        err = self.input_error("-i", "-", stdin='{"a": 1,\n"b": tru}')
        self.assertTrue(err["message"].startswith("<stdin>:2:"), err["message"])
        self.assertIn("invalid JSON", err["message"])

    def test_empty_input(self):
        path = self.write_tmp("empty.json", "")
        err = self.input_error("-i", path)
        self.assertTrue(err["message"].startswith(f"{path}:1:1: invalid JSON: "), err["message"])
        err = self.input_error("-i", "-", stdin="")
        self.assertTrue(err["message"].startswith("<stdin>:1:1: invalid JSON: "), err["message"])

    def test_trailing_garbage(self):
        path = self.write_tmp("two.json", '{"a": 1}\n{"b": 2}\n')
        err = self.input_error("-i", path)
        self.assertTrue(err["message"].startswith(f"{path}:2:1: invalid JSON: "), err["message"])

    def test_non_object_input_names_file_line_and_column(self):
        for text, kind in (("[1, 2]", "an array"), ('\n  "text"', "a string"), ("42", "a number"),
                           ("null", "null"), ("true", "a boolean")):
            with self.subTest(input=text):
                path = self.write_tmp("input.json", text)
                err = self.input_error("-i", path)
                line, col = (2, 3) if text.startswith("\n") else (1, 1)
                self.assertEqual(err["message"], f"{path}:{line}:{col}: the input must be a JSON object, got {kind}")
                self.assertEqual((err["context"]["value"], err["context"]["line"], err["context"]["column"]),
                                 (path, line, col))

    def test_non_object_input_with_set(self):
        err = self.input_error("-i", "-", "--set", "a=1", stdin="[1]")
        self.assertEqual(err["message"], "<stdin>:1:1: the input must be a JSON object, got an array")

    def test_number_out_of_range_is_an_error_not_an_abort(self):
        # Used to die with an uncaught nlohmann out_of_range (exit 134).
        path = self.write_tmp("big.json", '{\n  "a": 1e400\n}\n')
        err = self.input_error("-i", path)
        self.assertEqual(err["message"], f"{path}:2:8: invalid JSON: number out of range: 1e400 does not fit a double")
        err = self.input_error("--set", "a=-1e400")
        self.assertEqual(err["message"], "--set a=-1e400: invalid value: number out of range: -1e400 does not fit a double")

    def test_set_value_nested_too_deep(self):
        err = self.input_error("--set", "a=" + "[" * 600 + "]" * 600)
        self.assertTrue(err["message"].endswith(": invalid value: nested deeper than 512 levels"), err["message"])

    def test_input_from_a_pipe(self):
        # -i <(cmd) hands am2z a pipe: it is read, within the size limit.
        r = run("run", FLOW, "-i", "/dev/stdin", stdin='{"x": 1}')
        self.assertEqual(self.assertSucceeded(r)["x"], 1)

    def test_input_over_the_size_limit(self):
        path = self.tmp_path("big.json")
        with open(path, "w") as f:
            f.write('{"a": "' + "x" * (16 * 1024 * 1024) + '"}')
        err = self.input_error("-i", path)
        self.assertEqual(err["message"], f"{path}: the input file is larger than the limit of 16 MiB")
        err = self.input_error("-i", "-", stdin=" " * (16 * 1024 * 1024 + 1))
        self.assertEqual(err["message"], "<stdin>: the input is larger than the limit of 16 MiB")

    def test_bad_set(self):
        cases = {
            "novalue": "--set novalue: expected path=value, e.g. --set .order.total=42",
            "=3": "--set =3: expected path=value, e.g. --set .order.total=42",
            ".a[=3": "--set .a[=3: invalid path '.a[' at character 4: expected an array index such as [0]",
        }
        for assignment, message in cases.items():
            with self.subTest(assignment=assignment):
                err = self.input_error("--set", assignment)
                self.assertEqual(err["message"], message)

    def test_set_through_a_non_object(self):
        err = self.input_error("--set", "a=5", "--set", "a.b=3")
        self.assertEqual(err["message"], "--set a.b=3: cannot set key 'b' inside a number")

    def test_bad_metadata(self):
        cases = [
            ({"metadata": "x"}, "metadata", "must be an object"),
            ({"metadata": {"version": 0}}, "metadata.version", "must be an integer >= 1"),
            ({"metadata": {"version": "2"}}, "metadata.version", "must be an integer >= 1"),
            ({"metadata": {"sessionId": ""}}, "metadata.sessionId", "must be a non-empty string"),
            ({"metadata": {"sessionId": 7}}, "metadata.sessionId", "must be a non-empty string"),
            ({"metadata": {"createdAt": "yesterday"}}, "metadata.createdAt",
             "must be an ISO-8601 UTC timestamp such as 2025-07-05T10:00:00.000Z"),
            ({"metadata": {"lastUpdated": "2025-02-30T10:00:00Z"}}, "metadata.lastUpdated",
             "must be an ISO-8601 UTC timestamp such as 2025-07-05T10:00:00.000Z"),
        ]
        for doc, field, reason in cases:
            with self.subTest(doc=doc):
                err = self.input_error("-i", self.write_tmp("meta.json", json.dumps(doc)))
                self.assertEqual(err["message"], f"Validation failed for field '{field}': {reason}")
                self.assertEqual(err["context"]["field"], field)
                self.assertEqual(err["context"]["value"], doc["metadata"] if field == "metadata"
                                 else doc["metadata"][field.split(".")[1]])

    def test_invalid_flow_is_reported_before_input(self):
        path = self.tmp_path("missing.json")
        r = run("run", fixture("invalid", "mistakes.yaml"), "-i", path)
        self.assertExit(r, 3)
        self.assertNotIn("missing.json", r.stderr)
        self.assertIn("unsupported version 2", r.stderr)


STDIN_IGNORED = "stdin is not read: pass -i - to use it as the input"


class StdinTest(E2ETestCase):
    """Stdin is the input only with -i -; without it, data waiting there earns a warning."""

    def run_with_stdin(self, stdin, *args):
        started = time.monotonic()
        cmd = [binary(), "run", FLOW, "-c", *args]
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
        return Result(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    def piped(self, text, *args):
        # The whole input is in the pipe before am2z starts: what it sees does not hang on timing.
        read_end, write_end = os.pipe()
        os.write(write_end, text.encode())
        os.close(write_end)
        try:
            return self.run_with_stdin(read_end, *args)
        finally:
            os.close(read_end)

    def assertWarned(self, r, warned):
        warnings = [line for line in r.stderr_lines() if line.endswith(" warning " + STDIN_IGNORED)]
        self.assertEqual(len(warnings), 1 if warned else 0, r.describe())

    def test_piped_input_without_i_is_not_read_and_a_warning_says_so(self):
        r = self.piped('{"x": 1}')
        state = self.assertSucceeded(r)
        self.assertNotIn("x", state)  # the run used {}
        self.assertWarned(r, True)

    def test_a_file_on_stdin_without_i_gets_the_warning(self):
        with open(self.write_tmp("in.json", '{"x": 1}')) as f:
            r = self.run_with_stdin(f)
        self.assertNotIn("x", self.assertSucceeded(r))
        self.assertWarned(r, True)

    def test_with_i_dash_stdin_is_the_input_and_nothing_is_said(self):
        r = self.piped('{"x": 1}', "-i", "-")
        self.assertEqual(self.assertSucceeded(r)["x"], 1)
        self.assertWarned(r, False)

    def test_empty_stdin_gets_no_warning(self):
        with open(self.write_tmp("empty.json", "")) as f:
            self.assertWarned(self.run_with_stdin(f), False)
        self.assertWarned(self.piped(""), False)
        self.assertWarned(self.run_with_stdin(subprocess.DEVNULL), False)

    def test_an_input_error_still_comes_with_the_warning(self):
        r = self.piped('{"x": 1}', "--set", "novalue")
        err = self.assertFailedWith(r, 3)
        self.assertEqual(err["message"], "--set novalue: expected path=value, e.g. --set .order.total=42")
        self.assertWarned(r, True)


if __name__ == "__main__":
    unittest.main()
