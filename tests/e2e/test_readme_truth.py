"""What README.md shows, checked against the tree and the real binary: the quick start's flow file
and output, the built-ins table, the plugin Context of the concept map, the input contract's
error, and the --detach example on a real Redis. A README edit that stops being true fails here."""

import json
import os
import re
import shlex
import unittest

from harness import E2ETestCase, REPO, example, run
from redis_harness import DistributedTestCase

README = os.path.join(REPO, "README.md")
SDK_HEADER = os.path.join(REPO, "plugins", "sdk", "include", "am2z", "sdk.hpp")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def section(title):
    """The README text under the heading `title`, up to the next heading of the same or a higher
    level (a `#` line inside a code block is a comment, not a heading)."""
    out, level, fenced = None, 0, False
    for line in read(README).splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#+) (.*)\n", line) if not fenced else None
        if out is None:
            if heading and heading.group(2) == title:
                out, level = [], len(heading.group(1))
        elif heading and len(heading.group(1)) <= level:
            break
        else:
            out.append(line)
    if out is None:
        raise AssertionError(f"README has no heading {title!r}")
    return "".join(out)


def blocks(text, lang):
    """The fenced code blocks of language `lang` in `text`."""
    return re.findall(r"^```" + lang + r"\n(.*?)^```\n", text, re.M | re.S)


def commands(block):
    """The lines of a shell block with backslash continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    return [line.split("  #")[0].strip() for line in joined.splitlines()]


def table_rows(text):
    """Each Markdown table row of `text` as its cells (the header row included)."""
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")]
            for line in text.splitlines() if line.startswith("| ")]


def elided(value):
    """True when a shown value is or holds a `{...}` or `[...]` (read as {} and [])."""
    if value in ({}, []):
        return True
    if isinstance(value, dict):
        return any(elided(v) for v in value.values())
    return isinstance(value, list) and any(elided(v) for v in value)


def am2z_args(command):
    """A README command line without its leading '$ ' and the binary's path."""
    words = shlex.split(command.removeprefix("$ "))
    assert words[0] in ("am2z", "build/cli/am2z"), command
    return words[1:]


class QuickStartTest(E2ETestCase):
    def test_the_flow_shown_is_the_example_file_as_it_is(self):
        shown = blocks(section("Quick start"), "yaml")
        self.assertEqual(shown[0], read(example("order", "order.yaml")))

    def test_the_output_shown_is_what_the_command_prints(self):
        lines = blocks(section("Quick start"), "sh")[0].splitlines()
        self.assertTrue(lines[0].startswith("$ build/cli/am2z run "), lines[0])
        end = lines.index("$ echo $?")
        logs = [line for line in lines[1:end] if TIMESTAMP.match(line)]
        shown = "".join(line.strip() for line in lines[1:end] if not TIMESTAMP.match(line))
        shown = json.loads(shown.replace("{...}", "{}").replace("[...]", "[]"))

        r = run(*am2z_args(lines[0]), cwd=REPO)
        self.assertExit(r, int(lines[end + 1]))
        self.assertEqual([TIMESTAMP.sub("", line) for line in r.stderr_lines()],
                         [TIMESTAMP.sub("", line) for line in logs])
        state = r.json()
        self.assertEqual(sorted(state), sorted(shown))
        self.assertEqual(sorted(state["metadata"]), sorted(shown["metadata"]))
        self.assertEqual(state["metadata"]["version"], shown["metadata"]["version"])
        for key, value in shown.items():
            if key != "metadata" and not elided(value):
                self.assertEqual(state[key], value, key)


class ReferenceTablesTest(E2ETestCase):
    def test_the_built_ins_table_has_a_row_for_every_built_in_type(self):
        rows = table_rows(section("Built-in processors"))
        documented = [row[0].strip("`") for row in rows if row[0].startswith("`")]
        r = run("processors", "--json")
        self.assertExit(r, 0)
        builtins = [p["name"] for p in r.json()["processors"] if p["origin"] == "builtin"]
        self.assertEqual(sorted(documented), sorted(builtins))

    def test_the_concept_map_names_only_what_the_plugin_context_has(self):
        row = next(row for row in table_rows(section("How AM2Z's concepts map")) if "ctx.call" in row[0])
        claimed, _, denied = row[1].partition("It has no")
        header = read(SDK_HEADER)
        context = header[header.index("class Context {"):]
        context = context[:context.index("\n};")]
        methods = set(re.findall(r"\b(\w+)\(", context))
        self.assertIn("sdk::Context", claimed)
        for name in re.findall(r"`(\w+)\(\)`", claimed):
            self.assertIn(name, methods, f"README says sdk::Context has {name}()")
        for name in re.findall(r"`(\w+)\(\)`", denied):
            self.assertNotIn(name, methods, f"README says sdk::Context has no {name}()")


class InputContractExampleTest(E2ETestCase):
    def test_the_error_shown_holds_the_offending_value(self):
        lines = blocks(section("Input contract"), "")[0].splitlines()
        r = run(*am2z_args(lines[0]), cwd=REPO)
        self.assertExit(r, int(lines[lines.index("$ echo $?") + 1]))
        at = lines[1].index('"context":') + len('"context":')
        shown, _ = json.JSONDecoder().raw_decode(lines[1], at)
        self.assertEqual(r.error()["context"], shown)
        self.assertEqual(shown["value"], "France")


class DetachExampleTest(DistributedTestCase):
    def test_detach_then_result_runs_as_shown(self):
        lines = commands(blocks(section("Distributed runs on Redis"), "sh")[0])
        lines = [line.replace("redis://127.0.0.1:6379", self.redis.url) for line in lines]
        self.start_worker(example(""))
        at = next(i for i, line in enumerate(lines) if "--detach" in line)
        shown = json.loads(lines[at + 1])

        r = run(*am2z_args(lines[at]), cwd=REPO)
        self.assertExit(r, 0)
        submitted = r.json()
        self.assertEqual(sorted(submitted), sorted(shown))
        self.assertEqual(submitted["flow"], shown["flow"])
        self.assertEqual(submitted["result"], "am2z:run:" + submitted["run"])

        result = lines[at + 2].replace(shown["run"], submitted["run"])
        r = run(*am2z_args(result), cwd=REPO, timeout=60)
        state = self.assertSucceeded(r)
        self.assertEqual(state["status"], "completed")
        self.assertEqual(state["metadata"]["sessionId"], submitted["session"])


if __name__ == "__main__":
    unittest.main()
