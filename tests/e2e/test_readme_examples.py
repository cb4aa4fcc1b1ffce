"""Every example of README.md, run: a README example that stops working fails here.

Each fenced ```sh / ```bash / ```console block, each ```yaml block and each unlabelled block
with a command line (`$ am2z ...`) gets a test. A shell block runs as it is, unless an HTML
comment right above it (invisible on GitHub) says otherwise, `<!-- readme-test: redis; exit 3 -->`:

  skip (REASON)         not run; the reason is required (setup.sh, apt, cmake, systemd...)
  expect-fail (bug: ..) run, and must fail: a known bug of the binary (passing fails the test)
  file PATH             write the block to PATH in the scratch copy, for later blocks (a flow is
                        also validated)
  same-as PATH          the block is the repository's file PATH, as it is
  excerpt-of PATH       every line of the block but comments is in the repository's PATH, in order
  synopsis              every option a line names is in `am2z SUBCOMMAND... --help`
  exec-step INPUT [exit N] [code CODE]
                        the block is an exec program: it runs as the one step of a flow (argv from
                        its `# with:` line) on INPUT, and exits N (default 0) with error code CODE
  cwd DIR               run in DIR of the scratch copy
  env NAME=VALUE        set a variable for the block
  setup COMMAND         run COMMAND first, unchecked but for its exit code (what the block assumes
                        has happened, e.g. a run for `am2z stats` to count)
  redis                 a private redis-server: REDIS_URL and REDIS name it, and so do
                        redis://127.0.0.1:6379 and redis://localhost:6379 in commands; `redis-server`
                        lines are not run; unless the block starts workers, one serves
                        examples/flows, flows/ and flow.yaml
  exit N ["TEXT"]       the last command (or the first that contains TEXT) exits N, not 0
  stop-after DUR        a command with --watch or --follow gets Ctrl-C (SIGINT) after DUR
  any-numbers           numbers in the shown output may differ (counts, rates, durations)
  output                this block is what the previous block's last command prints

A shell block runs command by command in one bash (`set -o pipefail`; variables carry over),
in a scratch copy of the repository (examples/, schema/, tests/e2e/fixtures/ and build/cli/am2z,
which is $AM2Z_BIN, as `am2z` is on PATH) that all blocks share, in README order, with the
generic files the README's commands name (flow.yaml, input.json, flows/pay.yaml...: PLACEHOLDERS
below). Each command must exit 0 (or `$ echo $?` shown after it, or `exit`) and print what the
block shows after it: with `$ ` prompts the lines up to the next prompt, else a line starting
with `{` or a digit; `# ... text` shows part of a line. Shown output is compared with the
normaliser of readme_blocks.py: timestamps and run ids may differ, `{...}`, `[...]` and `,...}`
elide, a `...` line allows more lines; a shown run id stands for the printed one in later commands.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

import harness
import readme_blocks as rb
from harness import REPO
from redis_harness import RedisServer

COMMAND_TIMEOUT = 30.0  # seconds per command

# The files the README's commands name without saying what they hold.
PLACEHOLDERS = {
    "flow.yaml": """version: 1
name: demo
processors:
  greet: {use: set, with: {values: {.greeting: hello}}}
  done: {use: log, with: {message: "greeted {.customer}"}}
flow: {chain: [greet, done]}
""",
    # `charge` fails every other time it runs (first, third...), so that each resume has a
    # failed run to go on from
    "flows/pay.yaml": """version: 1
name: pay
processors:
  fetch: {use: set, with: {values: {.fetched: true}}}
  reserve: {use: set, with: {values: {.reserved: true}}}
  charge:
    use: exec
    with:
      argv:
        - sh
        - -c
        - 'n=$(cat charges 2>/dev/null || echo 0); echo $((n + 1)) > charges; [ $((n % 2)) = 1 ] && exec cat; exit 1'
flow: {chain: [fetch, reserve, charge]}
""",
    "flows/report.yaml": "version: 1\nname: report\nprocessors:\n  build: {use: set, with: {values: {.report: ready}}}\n"
                         "flow: build\n",
    "flows/heartbeat.yaml": "version: 1\nname: heartbeat\nprocessors:\n  beat: {use: log, with: {message: alive}}\n"
                            "flow: beat\n",
    "input.json": '{"customer": "ada"}\n',
    "order.json": '{"order": {"id": "ORD-9", "total": 42}}\n',
    "urgent.json": '{"customer": "grace"}\n',
    "nightly.json": '{"customer": "linus"}\n',
}

# Stands in for jq where it is not installed: checks that its input is JSON and applies a plain
# path filter (.a.b); any other filter passes the input through unchanged.
JQ_SHIM = """#!/usr/bin/env python3
import json, re, sys
flags = [a for a in sys.argv[1:] if a.startswith("-")]
args = [a for a in sys.argv[1:] if not a.startswith("-")]
text, docs, at = sys.stdin.read(), [], 0
while text[at:].strip():
    at += len(text[at:]) - len(text[at:].lstrip())
    doc, at = json.JSONDecoder().raw_decode(text, at)
    docs.append(doc)
path = args[0] if args else "."
for doc in docs:
    if re.fullmatch(r"(\\.[A-Za-z_]\\w*)+", path):
        for key in path[1:].split("."):
            doc = doc.get(key) if isinstance(doc, dict) else None
    raw = "-r" in flags and isinstance(doc, str)
    print(doc if raw else json.dumps(doc, indent=None if "-c" in flags else 2))
"""


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def make_scratch():
    """A scratch copy of what the README's commands read, with build/cli/am2z and `am2z` on PATH."""
    root = tempfile.mkdtemp(prefix="am2z-readme-")
    skip = shutil.ignore_patterns("node_modules", "__pycache__", "build", "build-*")
    for part in ("examples", "schema", os.path.join("tests", "e2e", "fixtures")):
        shutil.copytree(os.path.join(REPO, part), os.path.join(root, part), ignore=skip)
    for link in ("build/cli/am2z", "bin/am2z"):
        os.makedirs(os.path.dirname(os.path.join(root, link)), exist_ok=True)
        os.symlink(os.path.abspath(harness.binary()), os.path.join(root, link))
    for name, text in PLACEHOLDERS.items():
        write(os.path.join(root, name), text)
    if os.environ.get("AM2Z_README_NO_JQ") or shutil.which("jq") is None:
        write(os.path.join(root, "bin", "jq"), JQ_SHIM, 0o755)
    return root


class ReadmeExamplesTest(harness.E2ETestCase):
    """One test per README block, in README order (added below from README.md)."""

    scratch = None
    redis = None

    @classmethod
    def setUpClass(cls):
        cls.scratch = make_scratch()

    @classmethod
    def tearDownClass(cls):
        if cls.redis is not None:
            cls.redis.stop()
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def at(self, *parts):
        path = os.path.normpath(os.path.join(self.scratch, *parts))
        if path != self.scratch and not path.startswith(self.scratch + os.sep):
            self.fail(f"{path} is outside the scratch copy")
        return path

    # --- one block ---

    def run_block(self, block):
        reason = self.reason(block, "skip")
        if reason is not None:
            self.skipTest(reason)
        reason = self.reason(block, "expect-fail")
        if reason is None:
            return self.check(block)
        try:
            self.check(block)
        except AssertionError as e:
            sys.stderr.write(f"\n{block.where()}: fails as expected ({reason}): {str(e).splitlines()[0]}\n")
            return None
        self.fail(f"{block.where()} works now: remove its `expect-fail ({reason})` mark")

    def reason(self, block, key):
        args = block.args(key)
        if not args:
            return None
        if not re.fullmatch(r"\(.+\)", args[0]):
            self.fail(f"{block.where()}: `{key}` needs a reason in parentheses, `{key} (why)`")
        return args[0][1:-1]

    def check(self, block):
        for key, run in (("same-as", self.check_same), ("excerpt-of", self.check_excerpt),
                         ("synopsis", self.check_synopsis), ("exec-step", self.check_exec_step),
                         ("file", self.check_file)):
            if block.has(key):
                return run(block)
        if block.lang in rb.SHELL or block.lang == "":
            return self.run_shell(block)
        return self.fail(f"{block.where()}: neither run nor marked. Mark it with an HTML comment above "
                         f"its fence, e.g. `<!-- readme-test: file flows/x.yaml -->` or "
                         f"`<!-- readme-test: skip (why) -->` (see test_readme_examples.py)")

    def check_same(self, block):
        path = block.args("same-as")[0]
        self.assertEqual(block.text, read(os.path.join(REPO, path)),
                         f"{block.where()} is not {path} as it is: copy the file into the README")

    def check_excerpt(self, block):
        path = block.args("excerpt-of")[0]
        code = lambda text: [rb.code_of(line) for line in text.splitlines() if rb.code_of(line).strip()]
        lines, at = code(read(os.path.join(REPO, path))), 0
        for line in code(block.text):
            if line not in lines[at:]:
                self.fail(f"{block.where()}: `{line}` is not in {path} (after the lines before it)")
            at = lines.index(line, at) + 1

    def check_file(self, block):
        path = self.at(block.args("file")[0])
        write(path, block.text)
        if block.lang in ("yaml", "yml") and re.search(r"^flow:", block.text, re.M):
            r = harness.run("validate", path)
            self.assertExit(r, 0)

    def check_exec_step(self, block):
        argv = re.search(r"#\s*with:\s*(\{argv:\s*\[([^\]]*)\].*\})", block.text)
        self.assertIsNotNone(argv, f"{block.where()}: an exec-step block names its argv in a `# with:` line")
        script = next((a.strip() for a in argv.group(2).split(",") if "/" in a), None)
        self.assertIsNotNone(script, f"{block.where()}: no script path in {argv.group(1)}")
        flow = self.at("exec-steps", f"line-{block.line}", "flow.yaml")
        write(os.path.join(os.path.dirname(flow), script), block.text, 0o755)
        write(flow, f"version: 1\nname: readme-step\nprocessors:\n  step: {{use: exec, with: {argv.group(1)}}}\n"
                    f"flow: step\n")
        for args in block.args("exec-step"):
            given, end = json.JSONDecoder().raw_decode(args)
            opts = dict(zip(args[end:].split()[::2], args[end:].split()[1::2]))
            r = harness.run("run", flow, "-c", "-i", "-", stdin=json.dumps(given))
            context = f"{block.where()}: as the step of {flow} on {json.dumps(given)}\n{r.describe()}"
            self.assertEqual(r.code, int(opts.get("exit", 0)), context)
            if "code" in opts:
                self.assertEqual(r.error()["code"], opts["code"], context)
            elif r.code == 0:
                self.assertIsInstance(r.json(), dict, context)

    def check_synopsis(self, block):
        helps = {}

        def help_of(words):
            if words not in helps:
                r = harness.run(*words, "--help")
                self.assertExit(r, 0)
                helps[words] = r.stdout
            return helps[words]

        def subcommands(words):
            text = help_of(words).partition("Subcommands:")[2]
            return re.findall(r"^  (\w[\w-]*)\s", text, re.M)

        texts = []
        for line in block.text.splitlines():
            if line.startswith("Global options"):
                texts = [help_of(())]
            m = re.match(r"(?:\$ )?am2z ((?:[a-z][\w-]* ?)*)", line)
            if m:
                words = ()
                for word in m.group(1).split():
                    if word not in subcommands(words):
                        self.assertNotEqual(words, (), f"{block.where()}: `am2z {word}` is no command")
                        break
                    words += (word,)
                # `session list ... | stats ID | stop ID`: the options of the alternatives count too
                siblings = subcommands(words[:-1]) if len(words) > 1 else []
                texts = [help_of(words)] + [help_of(words[:-1] + (s,)) for s in siblings] \
                    + [help_of(words + (s,)) for s in subcommands(words)]
            for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", line if texts else ""):
                found = any(re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", t) for t in texts)
                self.assertTrue(found, f"{block.where()}: `{option}` in `{line.strip()}` is not in the --help "
                                       f"of its command")

    # --- a shell block ---

    def environment(self, block, redis):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AM2Z_", "REDIS_"))}
        env["PATH"] = self.at("bin") + os.pathsep + env.get("PATH", "")
        if redis:
            env["REDIS_URL"] = env["REDIS"] = redis
        env.update(arg.split("=", 1) for arg in block.args("env"))
        return env

    def expected_exits(self, block, steps):
        exits = [0 if s.exit is None else s.exit for s in steps]
        for arg in block.args("exit"):
            code, _, text = arg.partition(" ")
            text = text.strip().strip('"')
            at = next((i for i, s in enumerate(steps) if text in s.command), None) if text else len(steps) - 1
            self.assertIsNotNone(at, f"{block.where()}: no command contains {text!r}")
            exits[at] = int(code)
        return exits

    def prepare(self, command, block, matcher, redis, n):
        """The command as the test runs it (see the module's documentation)."""
        command = matcher.substitute(command)
        if redis:
            if rb.code_of(command).startswith("redis-server"):
                return ":  # the test's own Redis serves"
            command = command.replace("redis://127.0.0.1:6379", redis).replace("redis://localhost:6379", redis)
        for dur in block.args("stop-after"):
            if re.search(r"\s--(watch|follow)\b", command):
                command = re.sub(r"(^|\|\s*)((?:\./)?(?:build/cli/)?am2z )",
                                 lambda m: m.group(1) + f"timeout --preserve-status -s INT {dur} " + m.group(2),
                                 command, count=1)
        if rb.backgrounded(command):
            command = rb.code_of(command)[:-1] + f" > .readme-background-{n}.log 2>&1 &"
        return command

    def redis_url(self):
        if ReadmeExamplesTest.redis is None:
            ReadmeExamplesTest.redis = RedisServer()
        self.redis.client("FLUSHALL")
        return self.redis.url

    def run_shell(self, block):
        steps = rb.steps_of(block.text)
        self.assertTrue(steps, f"{block.where()}: no command to run")
        if block.output:
            steps[-1].shown += block.output.splitlines()
        exits = self.expected_exits(block, steps)
        redis = self.redis_url() if block.has("redis") else None
        cwd = self.at(*block.args("cwd"))
        shell = rb.Shell(cwd, self.environment(block, redis))
        self.addCleanup(shell.close)  # and the worker below, in the shell's process group
        if redis and not any(re.search(r"am2z worker\b", s.command) for s in steps):
            flows = " ".join(f"--flows {self.at(f)}" for f in ("examples/flows", "flows", "flow.yaml"))
            shell.run(f"am2z worker --redis {redis} {flows} -c 8 --log-level warn > {self.at('.readme-worker.log')} "
                      f"2>&1 &", COMMAND_TIMEOUT)
        for command in block.args("setup"):
            got, out, err = shell.run(command, COMMAND_TIMEOUT)
            self.assertEqual(got, 0, f"{block.where()}: setup `{command}` exited {got}\n{out[-2000:]}\n{err[-2000:]}")
        matcher = rb.Matcher(numbers=block.has("any-numbers"))
        for n, (step, code) in enumerate(zip(steps, exits)):
            command = self.prepare(step.command, block, matcher, redis, n)
            got, out, err = shell.run(command, COMMAND_TIMEOUT)
            self.assertEqual(got, code, f"{block.where()}: `{step.command}` exited {got}, not {code}\n"
                                        f"--- ran ---\n{command}\n--- stdout ---\n{out[-3000:]}\n"
                                        f"--- stderr ---\n{err[-3000:]}")
            if step.shown or step.partial:
                target = rb.redirected_to(command)
                try:
                    matcher.check(step, read(os.path.join(cwd, target)) if target else out, err)
                except AssertionError as e:
                    raise AssertionError(f"{block.where()}: {e}") from None

    # --- the checker itself: what it lets through and what it catches ---

    def test_checker_times_and_run_ids_may_differ_values_may_not(self):
        step = rb.steps_of('$ am2z run f.yaml -c\n{"run":"4f6c0f1e2a9b7d35","at":"2026-11-27T08:09:47.205Z",'
                           '"total":34.0}\n')[0]
        matcher = rb.Matcher()
        matcher.check(step, '{"run":"0123456789abcdef","at":"2030-01-01T00:00:00.000Z","total":34}', "")
        self.assertEqual(matcher.substitute("am2z result 4f6c0f1e2a9b7d35"), "am2z result 0123456789abcdef")
        with self.assertRaises(AssertionError):
            rb.Matcher().check(step, '{"run":"0123456789abcdef","at":"2030-01-01T00:00:00.000Z","total":35}', "")

    def test_checker_elisions(self):
        step = rb.steps_of('$ x\n{"a":{...},"b":[...],"c":{"d":1,...}}\n')[0]
        rb.Matcher().check(step, '{"a":{"x":1},"b":[1,2],"c":{"d":1,"e":2}}', "")
        for printed in ('{"a":{},"b":[],"c":{"d":2,"e":2}}', '{"a":{},"b":[],"c":{"e":2}}', '{"a":{},"c":{"d":1}}'):
            with self.assertRaises(AssertionError, msg=printed):
                rb.Matcher().check(step, printed, "")

    def test_checker_stdout_is_whole_unless_a_line_says_dots_and_shown_logs_must_be_there(self):
        step = rb.steps_of("$ x\n2026-11-27T08:09:47.205Z info done\nline 1\n")[0]
        rb.Matcher().check(step, "line 1", "2031-01-01T00:00:00.000Z info done\nother log")
        for out, err in (("line 1\nline 2", "2031-01-01T00:00:00.000Z info done"), ("line 1", "info done")):
            with self.assertRaises(AssertionError):
                rb.Matcher().check(step, out, err)
        rb.Matcher().check(rb.steps_of("$ x\nline 1\n...\n")[0], "line 0\nline 1\nline 2", "")

    def test_checker_blocks_must_be_run_or_marked(self):
        blocks = rb.parse_readme("# T\n```yaml\nversion: 1\n```\n```json\n{}\n```\n```\n$ am2z run f.yaml\n```\n")
        self.assertEqual([b.must_decide() for b in blocks], [True, False, True])
        with self.assertRaisesRegex(AssertionError, "neither run nor marked"):
            self.run_block(blocks[0])
        for text in ("<!-- readme-test: skip (x) -->\ntext\n```sh\n```\n",    # above no block
                     "<!-- readme-test: skpi (x) -->\n```sh\n```\n"):           # unknown directive
            with self.assertRaises(ValueError):
                rb.parse_readme(text)

    def test_checker_a_failing_command_or_a_missing_reason_fails_its_block(self):
        for text, directives in (("am2z validate no-such.yaml\n", []),
                                 ("am2z validate flows/pay.yaml\n", [("exit", "3")]),
                                 ("true\n", [("skip", "")]), ("true\n", [("expect-fail", "(bug: none)")])):
            with self.assertRaises(AssertionError, msg=text):
                self.run_block(rb.Block(1, "sh", text, "T", directives))


def test_of(block):
    def test(self):
        self.run_block(block)
    test.__doc__ = block.where()
    return test


try:
    for number, one in enumerate(rb.parse_readme(read(os.path.join(REPO, "README.md")))):
        if one.must_decide() or [k for k, _ in one.directives if k != "output"]:
            slug = re.sub(r"[^a-z0-9]+", "_", one.heading.lower()).strip("_")[:40]
            setattr(ReadmeExamplesTest, f"test_{number:03d}_{slug}", test_of(one))
except ValueError as error:
    def test_readme_parses(self, error=error):
        self.fail(str(error))
    ReadmeExamplesTest.test_readme_parses = test_readme_parses


if __name__ == "__main__":
    unittest.main()
