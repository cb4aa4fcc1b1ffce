"""am2z schema: the committed schema file is the binary's output, and every example flow points
editors at it with a yaml-language-server comment."""

import glob
import json
import os
import unittest

from harness import EXAMPLES, REPO, E2ETestCase, run

SCHEMA_FILE = os.path.join(REPO, "schema", "am2z-flow.schema.json")
MODELINE = "# yaml-language-server: $schema="


class SchemaTest(E2ETestCase):
    def test_committed_schema_is_current(self):
        r = run("schema")
        self.assertExit(r, 0)
        with open(SCHEMA_FILE, encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, r.stdout,
                         "schema/am2z-flow.schema.json is stale: regenerate it with "
                         "`am2z schema > schema/am2z-flow.schema.json`")

    def test_schema_document(self):
        schema = run("schema").json()
        self.assertEqual(schema["$schema"], "http://json-schema.org/draft-07/schema#")
        self.assertEqual(schema["required"], ["version"])
        self.assertFalse(schema["additionalProperties"])
        uses = schema["definitions"]["processor"]["properties"]["use"]["enum"]
        self.assertEqual(uses, ["delete", "exec", "fail", "http", "log", "merge", "pick", "remote", "set", "sleep",
                                "validate"])
        exec_case = [c for c in schema["definitions"]["processor"]["allOf"]
                     if c["if"]["properties"]["use"]["const"] == "exec"]
        self.assertEqual(exec_case[0]["then"]["properties"]["with"]["required"], ["argv"])

    def test_compact(self):
        r = run("schema", "--compact")
        self.assertExit(r, 0)
        self.assertEqual(len(r.stdout.splitlines()), 1)
        self.assertEqual(json.loads(r.stdout), run("schema").json())

    def test_every_example_points_editors_at_the_schema(self):
        flows = sorted(glob.glob(os.path.join(EXAMPLES, "**", "*.yaml"), recursive=True))
        self.assertGreaterEqual(len(flows), 3)
        for path in flows:
            with open(path, encoding="utf-8") as f:
                first = f.readline().rstrip("\n")
            self.assertTrue(first.startswith(MODELINE), f"{path} does not start with {MODELINE!r}")
            target = os.path.normpath(os.path.join(os.path.dirname(path), first[len(MODELINE):]))
            self.assertEqual(target, SCHEMA_FILE, path)


if __name__ == "__main__":
    unittest.main()
