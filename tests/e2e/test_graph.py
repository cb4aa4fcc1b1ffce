"""am2z graph: DOT that graphviz renders, Mermaid with a consistent structure, and the errors."""

import glob
import os
import re
import shutil
import subprocess
import unittest

from harness import EXAMPLES, E2ETestCase, example, fixture, run

MERMAID_VERTEX = re.compile(r"^  (n\d+)[\[({]")
MERMAID_EDGE = re.compile(r'^  (n\d+) (-->|-\.->)(\|"[^"]*"\|)? (n\d+)$')


class GraphTest(E2ETestCase):
    def test_dot_of_every_example_renders_with_graphviz(self):
        dot = shutil.which("dot")
        self.assertIsNotNone(dot, "graphviz's dot is missing: setup.sh installs the graphviz package")
        flows = [f for f in sorted(glob.glob(os.path.join(EXAMPLES, "**", "*.yaml"), recursive=True))
                 if os.sep + "lib" + os.sep not in f]
        self.assertGreaterEqual(len(flows), 3)
        for path in flows:
            r = run("graph", path)
            self.assertExit(r, 0)
            self.assertTrue(r.stdout.startswith("digraph "), path)
            svg = subprocess.run([dot, "-Tsvg"], input=r.stdout, capture_output=True, text=True, timeout=30)
            self.assertEqual(svg.returncode, 0, f"{path}: dot failed: {svg.stderr}")
            self.assertIn("<svg", svg.stdout)
            self.assertEqual(svg.stderr, "", f"{path}: dot warned: {svg.stderr}")

    def test_dot_labels_type_timeout_and_retry(self):
        r = run("graph", "--format", "dot", example("order", "order.yaml"))
        self.assertExit(r, 0)
        self.assertIn('label="charge-payment\\nexec\\ntimeout 10s, retry 3 attempts (backoff 200ms x2, max 30s), '
                      'rate 100/1m"', r.stdout)
        self.assertIn('[label="approved"]', r.stdout)
        self.assertIn("shape=diamond", r.stdout)
        self.assertIn("shape=trapezium", r.stdout)

    def test_batch_is_marked(self):
        r = run("graph", example("batch", "invoices.yaml"))
        self.assertExit(r, 0)
        self.assertIn("shape=box3d", r.stdout)
        self.assertIn('[label="each item"]', r.stdout)

    def test_mermaid_structure(self):
        r = run("graph", "--format", "mermaid", example("reuse", "quote.yaml"))
        self.assertExit(r, 0)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "flowchart TD")
        vertices = set()
        edges = []
        for line in lines[1:]:
            edge = MERMAID_EDGE.match(line)
            if edge:
                edges.append(edge)
                continue
            vertex = MERMAID_VERTEX.match(line)
            self.assertIsNotNone(vertex, f"neither a vertex nor an edge: {line!r}")
            vertices.add(vertex.group(1))
        self.assertGreater(len(edges), 5)
        for edge in edges:
            self.assertIn(edge.group(1), vertices)
            self.assertIn(edge.group(4), vertices)
        labels = [e.group(3) for e in edges if e.group(3)]
        self.assertIn('|"FR"|', labels)
        self.assertIn('|"output to .tax"|', labels)
        self.assertIn('{"route .country"}', r.stdout)

    def test_invalid_flow(self):
        bad = fixture("invalid", "mistakes.yaml")
        r = run("graph", bad)
        self.assertExit(r, 3)
        self.assertEqual(r.stdout, "")
        self.assertTrue(r.stderr.startswith(f"{bad}:1:10: version: "), r.stderr)

    def test_unknown_format_is_a_usage_error(self):
        r = run("graph", "--format", "svg", example("order", "order.yaml"))
        self.assertExit(r, 2)
        self.assertIn("svg not in {dot,mermaid}", r.stderr)


if __name__ == "__main__":
    unittest.main()
