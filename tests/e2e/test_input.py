"""am2z run with bad input: exit 3, empty stdout, one ValidationError JSON line on stderr."""

import json
import unittest

from harness import E2ETestCase, fixture, run

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

    def test_missing_input_file(self):
        path = self.tmp_path("missing.json")
        err = self.input_error("-i", path)
        self.assertEqual(err["message"], f"{path}: cannot read input: No such file or directory")

    def test_input_is_a_directory(self):
        # Used to abort (uncaught std::ios_base::failure, exit 134).
        err = self.input_error("-i", self.tmp)
        self.assertEqual(err["message"], f"{self.tmp}: cannot read input: Is a directory")

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

    def test_non_object_input(self):
        for text, kind in (("[1, 2]", "array"), ('"text"', "string"), ("42", "number"), ("null", "null")):
            with self.subTest(input=text):
                path = self.write_tmp("input.json", text)
                err = self.input_error("-i", path)
                self.assertEqual(err["message"],
                                 "Validation failed for field '(input)': the input state must be a JSON object")
                self.assertEqual(err["context"]["value"], kind)

    def test_non_object_input_with_set(self):
        err = self.input_error("-i", "-", "--set", "a=1", stdin="[1]")
        self.assertIn("the input state must be a JSON object", err["message"])

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


if __name__ == "__main__":
    unittest.main()
