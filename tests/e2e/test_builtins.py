"""merge, pick, delete and validate inside a flow."""

import unittest

from harness import E2ETestCase, run

FLOW = """version: 1
name: transforms
processors:
  check-order:
    use: validate
    with:
      path: .order
      schema:
        type: object
        required: [id, lines]
        properties:
          id: {type: string}
          lines: {type: array, minItems: 1}
flow:
  chain:
    - check-order
    - {use: merge, with: {into: .order, value: {status: accepted, audit: {by: am2z}}}}
    - {use: merge, with: {into: .order.audit, from: .request}}
    - {use: delete, with: {paths: [.order.secret]}}
    - {use: pick, with: {paths: [.order]}}
"""


class BuiltinsTest(E2ETestCase):
    def test_transforms_in_a_flow(self):
        flow = self.write_tmp("f.yaml", FLOW)
        r = run("run", flow, "--set", 'order={"id": "A", "lines": [1], "secret": "x"}',
                "--set", 'request={"ip": "10.0.0.1"}', "--set", "noise=1", "-q")
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), {"order": {"id": "A", "lines": [1], "status": "accepted",
                                                         "audit": {"by": "am2z", "ip": "10.0.0.1"}}})

    def test_validate_failure_lists_the_pointers(self):
        flow = self.write_tmp("f.yaml", FLOW)
        r = run("run", flow, "--set", 'order={"id": 5, "lines": []}', "-q")
        err = self.assertFailedWith(r, 1)
        self.assertEqual(err["name"], "ValidationError")
        self.assertIn("/id: ", err["message"])
        self.assertIn("/lines: ", err["message"])
        pointers = {f["pointer"] for f in err["context"]["failures"]}
        self.assertTrue({"/id", "/lines"} <= pointers, pointers)

    def test_bad_parameters_point_at_the_line(self):
        flow = self.write_tmp("f.yaml", "version: 1\nname: f\nflow:\n  chain:\n"
                                        "    - {use: pick, with: {paths: [.a, .metadata]}}\n"
                                        "    - {use: validate, with: {schema: {type: 7}}}\n")
        r = run("validate", flow)
        self.assertExit(r, 3)
        lines = r.stderr_lines()
        self.assertTrue(lines[0].startswith(f"{flow}:5:"), lines)
        self.assertIn("flow.chain[0].with.paths[1]", lines[0])
        self.assertIn("metadata is owned by the engine", lines[0])
        self.assertTrue(lines[1].startswith(f"{flow}:6:"), lines)
        self.assertIn("is not a valid JSON Schema", lines[1])


if __name__ == "__main__":
    unittest.main()
