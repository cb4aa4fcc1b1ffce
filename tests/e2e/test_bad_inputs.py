"""The bad-input catalogue: malformed flow files, includes, inputs and --set values, generated here.

Each one must be refused with exit 3 and a message naming the file (and line:col wherever there is
a position), within 2 s and 200 MB, and never by a signal (abort, stack overflow). Flow cases run
under both `am2z validate` and `am2z run`. Memory is each child's own peak (os.wait4's rusage).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import binary

# The bounds hold for the plain build; sanitizers make am2z several times slower and bigger.
SANITIZED = bool(os.environ.get("AM2Z_SANITIZE"))
MAX_SECONDS = 120.0 if SANITIZED else 2.0
MAX_RSS_KB = (2048 if SANITIZED else 200) * 1024
HARD_LIMIT_SECONDS = 180 if SANITIZED else 20  # a hang is killed here
MB = 1024 * 1024

GOOD_FLOW = "version: 1\nname: good\nprocessors:\n  s: {use: set, with: {values: {.done: true}}}\nflow: s\n"


def flow_value(value):
    """A flow whose line 4 sets .a to `value` (written at column 37)."""
    return f"version: 1\nname: v\nprocessors:\n  s: {{use: set, with: {{values: {{.a: {value}}}}}}}\nflow: s\n"


def laughs(levels=9, width=9, indent=""):
    """Billion laughs: each anchor a list of `width` aliases of the one before (9^9 values)."""
    lines = [f"{indent}l0: &l0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def laughs_inline():
    """The same bomb as one flow-style list, for a value inside the flow."""
    items = ["&l0 [lol]"] + [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "[" + ", ".join(items) + "]"


def nested_block(depth):
    return "version: 1\nname: deep\nflow:\n" + "".join(" " * (i + 1) + "k:\n" for i in range(depth))


def garbage(size, seed):
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(size))


def chain_aliases():
    lines = ["version: 1", "name: x", "processors:", "  s: {use: set, with: {values: {.a: 1}}}", "flows:",
             "  c0: &c0 {chain: [s, s, s, s, s, s, s, s, s]}"]
    for i in range(1, 10):
        lines.append(f"  c{i}: &c{i} {{chain: [" + ", ".join([f"*c{i - 1}"] * 9) + "]}")
    return "\n".join(lines + ["flow: c9"]) + "\n"


# name -> (content, message pattern, position). Position: (line, col); "pos" any position; None:
# about the file as a whole (no position). Content is str or bytes; positions were checked by hand.
FLOWS = {
    "empty": ("", r"got nothing", (1, 1)),
    "only a comment": ("# nothing here\n", r"got nothing", (1, 1)),
    "whitespace only": ("   \n\n\t\n", r"got nothing", (1, 1)),
    "a list": ("- a\n- b\n", r"got a list", (1, 1)),
    "a single value": ("hello there\n", r"got a single value$", (1, 1)),
    "a map of other keys": ("password: hunter2\n", r"got a map without any of these keys$", (1, 1)),
    "binary garbage": (garbage(4096, 1), r"(invalid UTF-8|control character)", "pos"),
    "NUL byte": (b"version: 1\nname: a\x00b\nflow: s\n", r"control character 0x00 in the file", (2, 8)),
    "ESC byte": ("version: 1\nname: \x1b[31mred\nflow: s\n", r"control character 0x1b", (2, 7)),
    "DEL byte": ("version: 1\nname: a\x7f\nflow: s\n", r"control character 0x7f", (2, 8)),
    "invalid UTF-8": (b"version: 1\nname: caf\xe9\nflow: s\n", r"invalid UTF-8 \(byte 0xe9\)", (2, 10)),
    "overlong UTF-8": (b"version: 1\nname: \xc0\xafx\nflow: s\n", r"invalid UTF-8 \(byte 0xc0\)", (2, 7)),
    "UTF-8 surrogate": (b"version: 1\nname: \xed\xa0\x80\nflow: s\n", r"invalid UTF-8 \(byte 0xed\)", (2, 7)),
    "truncated UTF-8": (b"version: 1\nname: \xe2\x82", r"invalid UTF-8 \(byte 0xe2\)", (2, 7)),
    "UTF-16LE with BOM": ("version: 1\n".encode("utf-16"), r"UTF-16 text", (1, 1)),
    "UTF-16BE with BOM": (b"\xfe\xff" + "version: 1\n".encode("utf-16-be"), r"UTF-16 text", (1, 1)),
    "UTF-8 BOM, then a mistake": ("\ufeffversion: 2\nname: b\nflow: s\n".encode(), r"unsupported version 2", (1, 10)),
    "billion laughs at the top": ("version: 1\nname: x\n" + laughs(), r"more than 100000 values", "pos"),
    "billion laughs in with:": (flow_value(laughs_inline()), r"more than 100000 values", "pos"),
    "billion laughs in a chain": (chain_aliases(), r"more than 100000 values", "pos"),
    "billion laughs in input:": ("version: 1\nname: x\ninput:\n  " + laughs(indent="  ")[2:] + "flow: s\n",
                                 r"more than 100000 values", "pos"),
    "alias cycle in a list": (flow_value("&a [1, *a]"), r"inside the value it refers to \(a cycle\)", (4, 44)),
    "alias cycle in a map": (flow_value("&a {b: {c: *a}}"), r"\(a cycle\)", (4, 48)),
    "alias to nothing": (flow_value("*nowhere"), r"the referenced anchor is not defined", (4, 37)),
    "second document": (GOOD_FLOW + "---\nversion: 1\n", r"a second YAML document", (6, 1)),
    "second document after ...": (GOOD_FLOW + "...\nname: again\n", r"a second YAML document", (7, 1)),
    "!!python/object": (flow_value("!!python/object:os.system ls"), r"unsupported YAML tag '!!python/object:os.system'",
                        (4, 37)),
    "!!python/object/apply": (flow_value("!!python/object/apply:os.system [ls]"),
                              r"unsupported YAML tag '!!python/object/apply:os.system'", (4, 37)),
    "!!binary": (flow_value("!!binary aGk="), r"unsupported YAML tag '!!binary'", (4, 37)),
    "local tag": (flow_value("!secret x"), r"unsupported YAML tag '!secret'", (4, 37)),
    "!!set": (flow_value("!!set {a, b}"), r"unsupported YAML tag '!!set'", (4, 37)),
    "duplicate top-level key": (GOOD_FLOW + "name: again\n", r"duplicate key 'name' \(first defined on line 2\)",
                                (6, 1)),
    "duplicate processor": ("version: 1\nname: d\nprocessors:\n  s: {use: fail}\n  s: {use: fail}\nflow: s\n",
                            r"duplicate key 's'", (5, 3)),
    "duplicate key in with:": (flow_value("1, .a: 2"), r"duplicate key '.a'", (4, 40)),
    "10,000 nested lists": ("version: 1\nname: n\nflow: " + "[" * 10000 + "]" * 10000 + "\n",
                            r"nested more than 256 levels deep", (3, 262)),
    "10,000 nested maps": ("version: 1\nname: n\nflow: " + "{a: " * 10000 + "}" * 10000 + "\n",
                           r"nested more than 256 levels deep", (3, 1027)),
    "600 nested block maps": (nested_block(600), r"nested more than 256 levels deep", (259, 257)),
    "nesting through an alias": ("version: 1\nname: n\nx: &d " + "[" * 200 + "]" * 200 + "\nflow: " + "[" * 100 +
                                 "*d" + "]" * 100 + "\n", r"nested more than 256 levels deep", (4, 107)),
    "20 MB of comments": ("#" * (20 * MB), r"^the flow file is larger than the limit of 8 MiB$", None),
    "20 MB string": ("version: 1\nname: '" + "x" * (20 * MB) + "'\n", r"larger than the limit of 8 MiB", None),
    "8 MiB and a byte": ("#" * (8 * MB + 1), r"larger than the limit of 8 MiB", None),
    "120,000 list items": (flow_value("[" + ",".join(["1"] * 120000) + "]"), r"more than 100000 values", "pos"),
    "1e400": (flow_value("1e400"), r"number out of range: '1e400'", (4, 37)),
    "-1e400": (flow_value("-1e400"), r"number out of range: '-1e400'", (4, 37)),
    "400 digits": (flow_value("9" * 400), r"number out of range: '9{40}\.\.\.'", (4, 37)),
    "retry attempts 1e400": ("version: 1\nname: r\nprocessors:\n  s: {use: fail, retry: {attempts: 1e400}}\n"
                             "flow: s\n", r"retry.attempts: number out of range", (4, 36)),
    "version 1e400": ("version: 1e400\nname: v\nflow: s\n", r"version: number out of range", (1, 10)),
    "unterminated flow map": ("version: 1\nname: {a: 1\nflow: s\n", r"end of map flow not found", (3, 5)),
    "unbalanced brackets": ("version: 1\nname: [a, b\nflow: s\n", r"end of sequence flow not found", (3, 5)),
    "tab indentation": ("version: 1\nprocessors:\n\ts: {use: log}\nname: t\nflow: s\n", r".", "pos"),
    "a list as a key": ("version: 1\nname: k\n? [a, b]\n: 1\nflow: s\n", r"map keys must be strings", "pos"),
    "100,000-byte key": ("version: 1\nname: k\n" + "k" * 100000 + ": 1\nflow: s\n", r"illegal map value",
                         (3, 100001)),  # YAML limits implicit keys to 1024 characters
}

# Special files as flows or includes: name -> (path maker, message pattern)
SPECIAL = {
    "a directory": (lambda d: d, r"is a directory"),
    "missing": (lambda d: os.path.join(d, "missing.yaml"), r"does not exist"),
    "/dev/zero": (lambda d: "/dev/zero", r"is a character device, not a regular file"),
    "/dev/urandom": (lambda d: "/dev/urandom", r"is a character device, not a regular file"),
    "a FIFO": (lambda d: os.path.join(d, "fifo.yaml"), r"is a FIFO, not a regular file"),
    "a symlink to /dev/zero": (lambda d: os.path.join(d, "zero.yaml"), r"is a character device"),
}

# Input files (-i): name -> (content, message pattern, position)
INPUTS = {
    "1e400": ('{"a":1e400}', r"invalid JSON: number out of range: 1e400 does not fit a double", (1, 6)),
    "nested -1e400": ('{\n  "a": {"b": [1, -1e400]}\n}', r"number out of range: -1e400", (2, 18)),
    "400 digits": ('{"a": ' + "9" * 400 + "}", r"number out of range: 9{40}\.\.\. does not fit", (1, 7)),
    "empty": ("", r"invalid JSON: parse error", (1, 1)),
    "whitespace": ("  \n  ", r"invalid JSON: parse error", (2, 3)),
    "an array": ("[1, 2]", r"the input must be a JSON object, got an array$", (1, 1)),
    "a string": ('\n "x"', r"got a string$", (2, 2)),
    "null": ("null", r"got null$", (1, 1)),
    "a number": ("42", r"got a number$", (1, 1)),
    "10,000 nested arrays": ('{"a": ' + "[" * 10000 + "]" * 10000 + "}", r"nested deeper than 512 levels", (1, 518)),
    "10,000 nested objects": ('{"a":' * 10000 + "1" + "}" * 10000, r"nested deeper than 512 levels", (1, 2561)),
    "two documents": ('{"a": 1}\n{"b": 2}\n', r"invalid JSON: parse error", (2, 1)),
    "invalid UTF-8": (b'{"a": "caf\xe9"}', r"invalid JSON: parse error", (1, 12)),  # after the bad byte
    "NUL byte": (b'{"a": "x\x00y"}', r"invalid JSON: parse error", (1, 9)),
    "UTF-16 BOM": ('{"a": 1}'.encode("utf-16"), r"invalid JSON: parse error", (1, 1)),
    "binary garbage": (garbage(4096, 2), r"invalid JSON: parse error", "pos"),
    "unterminated 10 MB string": ('{"a": "' + "x" * (10 * MB), r"last read: '\"x{39}\.\.\.'$", (1, 10485768)),
    "20 MB": ('{"a": "' + "x" * (20 * MB) + '"}', r"^the input file is larger than the limit of 16 MiB$", None),
    "trailing comma": ('{"a": 1,}', r"invalid JSON: parse error", (1, 9)),
    "single quotes": ("{'a': 1}", r"invalid JSON: parse error", (1, 2)),
    "YAML instead of JSON": ("a: 1\n", r"invalid JSON: parse error", (1, 1)),
}

# --set values: argument -> message pattern
SETS = {
    "a=1e400": r"^--set a=1e400: invalid value: number out of range: 1e400 does not fit a double$",
    "a.b=-1e999": r"number out of range: -1e999",
    "a=" + "[" * 1000 + "]" * 1000: r"invalid value: nested deeper than 512 levels$",
    "novalue": r"expected path=value",
    "=1": r"expected path=value",
    ".a[=1": r"invalid path",
    "a[99999999999999999999999]=1": r"array index is too large",
    "a[100000000]=1": r"too far past the end",
}


class BadInputCatalogueTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.mkdtemp(prefix="am2z-bad-")
        cls.dir = cls._tmp
        os.mkfifo(os.path.join(cls.dir, "fifo.yaml"))
        os.symlink("/dev/zero", os.path.join(cls.dir, "zero.yaml"))
        cls.good = cls.write("good.yaml", GOOD_FLOW)
        cls.checked = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._tmp, ignore_errors=True)

    @classmethod
    def write(cls, name, content):
        path = os.path.join(cls.dir, name)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        return path

    def run_am2z(self, *args, stdin=b""):
        """Runs am2z; returns (exit code or -signal, stdout, stderr, seconds, peak RSS in KB)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
            inp.write(stdin)
            inp.seek(0)
            started = time.monotonic()
            proc = subprocess.Popen([binary(), *args], stdin=inp, stdout=out, stderr=err)
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - started > HARD_LIMIT_SECONDS:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    self.fail(f"am2z {' '.join(args)[:200]} did not finish within {HARD_LIMIT_SECONDS} s")
                time.sleep(0.002)
            elapsed = time.monotonic() - started
            proc.returncode = 0  # reaped by wait4; keep Popen from waiting again
            out.seek(0)
            err.seek(0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            return code, out.read().decode(errors="replace"), err.read().decode(errors="replace"), elapsed, usage.ru_maxrss

    def check_refused(self, what, result, code=3):
        rc, out, err, elapsed, rss = result
        if rc < 0:
            self.fail(f"{what}: killed by {signal.Signals(-rc).name}\n{err[-2000:]}")
        self.assertEqual(rc, code, f"{what}: exit {rc}\nstdout: {out[-500:]}\nstderr: {err[-2000:]}")
        self.assertLess(elapsed, MAX_SECONDS, f"{what}: took {elapsed:.2f} s")
        self.assertLess(rss, MAX_RSS_KB, f"{what}: peak RSS {rss / 1024:.0f} MB")
        self.assertEqual(out, "", f"{what}: stdout must be empty")
        self.assertLess(len(err), 300_000, f"{what}: {len(err)} bytes on stderr")
        type(self).checked += 1
        return err

    def check_diagnostic(self, what, err, path, pattern, where):
        first = err.splitlines()[0] if err else ""
        if where is None:
            self.assertTrue(first.startswith(f"{path}: "), f"{what}: {first[:300]}")
            message = first[len(path) + 2:]
        else:
            m = re.match(re.escape(path) + r":(\d+):(\d+): (.*)$", first)
            self.assertIsNotNone(m, f"{what}: no {path}:line:col in {first[:300]!r}")
            if where != "pos":
                self.assertEqual((int(m[1]), int(m[2])), where, f"{what}: {first[:300]}")
            message = m[3]
        self.assertRegex(message, pattern, what)

    def check_flow(self, what, path, pattern, where, label=None, commands=("validate", "run")):
        for command in commands:
            err = self.check_refused(f"{command} {what}", self.run_am2z(command, path))
            self.check_diagnostic(f"{command} {what}", err, label or path, pattern, where)

    def test_malformed_flow_files(self):
        for name, (content, pattern, where) in FLOWS.items():
            with self.subTest(flow=name):
                self.check_flow(name, self.write("flow.yaml", content), pattern, where)

    def test_special_files_as_flows(self):
        for name, (make, pattern) in SPECIAL.items():
            with self.subTest(flow=name):
                # `validate DIR` checks the flow files in DIR (test_validate); only `run` refuses one.
                commands = ("run",) if name == "a directory" else ("validate", "run")
                self.check_flow(name, make(self.dir), r"^the flow file " + pattern, None, commands=commands)

    def test_special_files_as_includes(self):
        for name, (make, pattern) in SPECIAL.items():
            with self.subTest(include=name):
                target = make(self.dir)
                main = self.write("main.yaml", f"version: 1\nname: m\ninclude: ['{target}']\nflow: s\n"
                                  "processors:\n  s: {use: fail}\n")
                self.check_flow(name, main, r"include\[0\]: cannot include '.*': it " + pattern, (3, 11))

    def test_malformed_included_files(self):
        # Each malformed flow, included: reported in the included file, at its position.
        main = self.write("main.yaml", "version: 1\nname: m\ninclude: [lib.yaml]\n"
                          "flow: {use: set, with: {values: {.x: 1}}}\n")
        for name, (content, pattern, where) in FLOWS.items():
            with self.subTest(included=name):
                lib = self.write("lib.yaml", content)
                if where is None:  # too big: reported where main.yaml includes it
                    self.check_flow(name, main, r"cannot include '.*lib\.yaml': it is larger than the limit of 8 MiB$",
                                    (3, 11))
                else:
                    self.check_flow(name, main, pattern, where, label=lib)

    def test_include_chains_and_cycles(self):
        cases = {}
        for i in range(40):
            self.write(f"chain{i}.yaml", f"version: 1\ninclude: [chain{i + 1}.yaml]\n")
        self.write("chain40.yaml", "version: 1\n")
        cases["40 files deep"] = ("include: [chain0.yaml]", os.path.join(self.dir, "chain31.yaml"),
                                  r"includes nested more than 32 files deep", (2, 11))
        self.write("cyc_a.yaml", "version: 1\ninclude: [cyc_b.yaml]\n")
        self.write("cyc_b.yaml", "version: 1\ninclude: [cyc_a.yaml]\n")
        cases["a cycle"] = ("include: [cyc_a.yaml]", os.path.join(self.dir, "cyc_b.yaml"),
                            r"include cycle: cyc_a.yaml -> cyc_b.yaml -> cyc_a.yaml", (2, 11))
        cases["itself"] = ("include: [main.yaml]", os.path.join(self.dir, "main.yaml"),
                           r"include cycle: main.yaml -> main.yaml", (3, 11))
        cases["not a list"] = ("include: {a: 1}", os.path.join(self.dir, "main.yaml"), r"expected a list", (3, 1))
        cases["a list of lists"] = ("include: [[a]]", os.path.join(self.dir, "main.yaml"), r"expected a string",
                                    (3, 11))
        for name, (include, where_file, pattern, where) in cases.items():
            with self.subTest(include=name):
                main = self.write("main.yaml", f"version: 1\nname: m\n{include}\nprocessors:\n  s: {{use: fail}}\n"
                                  "flow: s\n")
                for command in ("validate", "run"):
                    err = self.check_refused(f"{command} {name}", self.run_am2z(command, main))
                    self.check_diagnostic(f"{command} {name}", err, where_file, pattern, where)

    def test_included_files_are_never_echoed(self):
        secret = self.write("shadow", "root:$6$s3cr3t-hash:19000:0:99999:7:::\nme:$6$an0ther:19000::\n")
        notes = self.write("notes", "the password is hunter2\nand the pin is 4711\n")
        for target in (secret, notes):
            with self.subTest(include=target):
                main = self.write("main.yaml", f"version: 1\nname: m\ninclude: ['{target}']\nflow: s\n")
                for command in ("validate", "run"):
                    err = self.check_refused(command, self.run_am2z(command, main))
                    for word in ("s3cr3t", "an0ther", "hunter2", "4711", "password"):
                        self.assertNotIn(word, err)

    def test_malformed_inputs(self):
        for name, (content, pattern, where) in INPUTS.items():
            with self.subTest(input=name):
                path = self.write("input.json", content)
                err = self.check_refused(name, self.run_am2z("run", self.good, "-i", path))
                self.check_input_error(name, err, path, pattern, where)
                if len(content) < MB:  # the same through stdin
                    raw = content.encode() if isinstance(content, str) else content
                    err = self.check_refused(name, self.run_am2z("run", self.good, "-i", "-", stdin=raw))
                    self.check_input_error(name, err, "<stdin>", pattern, where)

    def check_input_error(self, what, err, source, pattern, where):
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, f"{what}: {err[:500]}")
        error = json.loads(lines[0])["error"]
        self.assertEqual(error["category"], "validation")
        self.check_diagnostic(what, error["message"], source, pattern, where)

    def test_special_files_as_inputs(self):
        for name, (make, pattern) in SPECIAL.items():
            if name == "a FIFO":
                continue  # a pipe is a fine input: see test_fifo_input
            with self.subTest(input=name):
                path = make(self.dir)
                err = self.check_refused(name, self.run_am2z("run", self.good, "-i", path))
                self.check_input_error(name, err, path, r"^the input file " + pattern, None)

    def test_fifo_input(self):
        # A FIFO nobody writes to reads as empty at once; it must not hang.
        path = os.path.join(self.dir, "fifo.yaml")
        err = self.check_refused("FIFO", self.run_am2z("run", self.good, "-i", path))
        self.check_input_error("FIFO", err, path, r"invalid JSON: parse error", (1, 1))

    def test_bad_set_values(self):
        for assignment, pattern in SETS.items():
            with self.subTest(set=assignment[:40]):
                err = self.check_refused(assignment, self.run_am2z("run", self.good, "--set", assignment))
                message = json.loads(err.splitlines()[-1])["error"]["message"]
                self.assertTrue(message.startswith("--set "), message)
                self.assertRegex(message, pattern)

    def test_good_files_still_load(self):
        # The controls: the same machinery accepts what is fine, so the refusals above mean something.
        bom = self.write("bom.yaml", "\ufeff" + GOOD_FLOW)
        for path in (self.good, bom):
            rc, out, err, _, _ = self.run_am2z("run", path)
            self.assertEqual(rc, 0, err)
        rc, out, err, _, _ = self.run_am2z("run", self.good, "-i", "-", stdin=b'\xef\xbb\xbf{"x": 1e300}')
        self.assertEqual(rc, 0, err)
        rc, out, err, _, _ = self.run_am2z("validate", self.write("ok.yaml", flow_value("&a [1, 2]") + "b: *a\n"))
        self.assertEqual(rc, 3, err)  # b: is not a flow key, but the alias itself was fine
        self.assertIn("unknown key 'b'", err)


if __name__ == "__main__":
    unittest.main()
