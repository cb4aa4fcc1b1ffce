"""README.md's fenced code blocks as tests: the blocks with the `readme-test` directives written
above them, the commands and shown output of a shell block, and the normaliser that compares
shown output with what a command printed (timestamps and run ids differ between runs).

A directive is an HTML comment right above the block's opening fence (invisible on GitHub):
    <!-- readme-test: redis; exit 1 "-i order.json --run-dir" -->
Several directives are separated by `;`. test_readme_examples.py documents each one.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time

# Blocks of these languages must be run or marked; so must an unlabelled block that holds a
# command line (`$ am2z ...` or `am2z ...`). Other languages (json, cpp, ...) may be marked.
SHELL = {"sh", "bash", "console", "shell"}
MUST_DECIDE = SHELL | {"yaml", "yml"}
KEYS = {"skip", "expect-fail", "file", "same-as", "excerpt-of", "synopsis", "exec-step", "cwd", "env",
        "setup", "redis", "exit", "stop-after", "any-numbers", "output"}

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*readme-test:(.*?)-->\s*$")
COMMAND_LINE = re.compile(r"^(\$ |am2z |build/cli/am2z |\./build/cli/am2z )")


class Block:
    """One fenced block: where it is, its language and text, and the directives above it."""

    def __init__(self, line, lang, text, heading, directives):
        self.line, self.lang, self.text, self.heading = line, lang, text, heading
        self.directives = directives  # list of (key, args) in the order written
        self.output = None            # text of a following block marked `output`

    def has(self, key):
        return any(k == key for k, _ in self.directives)

    def args(self, key):
        return [a for k, a in self.directives if k == key]

    def must_decide(self):
        if self.lang in MUST_DECIDE:
            return True
        return self.lang == "" and any(COMMAND_LINE.match(line) for line in self.text.splitlines())

    def where(self):
        return f"README.md:{self.line} (```{self.lang} under '{self.heading}')"


def split_top(text, sep):
    """Splits `text` at `sep` outside quotes and brackets."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def parse_directives(text):
    """`key args; key args` -> [(key, args)]; raises ValueError for an unknown key."""
    out = []
    for part in split_top(text, ";"):
        part = part.strip()
        if not part:
            continue
        key, _, args = part.partition(" ")
        if key not in KEYS:
            raise ValueError(f"unknown readme-test directive {key!r} (known: {', '.join(sorted(KEYS))})")
        out.append((key, args.strip()))
    return out


def parse_readme(text):
    """The fenced blocks of a Markdown text; raises ValueError for a directive that stands above
    no block, or a fence that is never closed."""
    lines = text.splitlines()
    blocks, heading, pending, i = [], "(top)", [], 0
    while i < len(lines):
        line = lines[i]
        m_dir, m_fence = DIRECTIVE.match(line), FENCE.match(line)
        if m_dir:
            pending.append((i + 1, m_dir.group(1)))
        elif m_fence:
            indent, fence, lang = m_fence.groups()
            body, j = [], i + 1
            while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                          and lines[j].strip().strip(fence[0]) == ""):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
                j += 1
            if j == len(lines):
                raise ValueError(f"README.md:{i + 1}: a code fence that is never closed")
            directives = []
            for at, d in pending:
                try:
                    directives += parse_directives(d)
                except ValueError as e:
                    raise ValueError(f"README.md:{at}: {e}") from None
            block = Block(i + 1, lang.lower(), "\n".join(body) + "\n", heading, directives)
            if block.has("output") and blocks:
                blocks[-1].output = block.text
            blocks.append(block)
            pending, i = [], j
        elif pending:
            raise ValueError(f"README.md:{pending[0][0]}: a readme-test directive must stand right above "
                             f"a code fence")
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        i += 1
    return blocks


# --- commands and their shown output ------------------------------------------------------

class Step:
    """One command of a shell block, with the output the README shows for it."""

    def __init__(self, command):
        self.command = command
        self.shown = []      # lines shown as its output
        self.partial = []    # `# ... text` comments: part of a line it prints
        self.exit = None     # from a shown `$ echo $?`

    def __repr__(self):
        return f"Step({self.command!r})"


def complete(command):
    """True when `command` has no open quote and does not end with a backslash."""
    if command.rstrip().endswith("\\"):
        return False
    quote = None
    for ch in command:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
    return quote is None


def steps_of(text):
    """Splits a shell block into commands and shown output. With `$ ` prompts, the lines after a
    command are its output and `$ echo $?` + a number is its exit code; without prompts, a line
    that starts with `{` or a digit is output, and `# ... text` shows part of an output line."""
    lines = text.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    steps, cur = [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        printed = line[:1] != "" and line[:1] in "{0123456789"
        is_cmd = line.startswith("$ ") if prompted else not (printed or line.startswith("#"))
        if prompted and line.strip() == "$ echo $?" and steps:
            steps[-1].exit = int(lines[i + 1].strip())
            i += 2
            continue
        if is_cmd and line.strip():
            command = line[2:] if prompted else line
            while not complete(command) and i + 1 < len(lines):
                i += 1
                command = command + "\n" + lines[i]
            cur = Step(command)
            steps.append(cur)
        elif cur is not None and line.startswith("# ..."):
            cur.partial.append(line[len("# ..."):].strip())
        elif cur is not None and (prompted or printed):
            cur.shown.append(line)
        i += 1
    return steps


# --- normaliser -----------------------------------------------------------------------------

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")
RUN_ID = re.compile(r"\b[0-9a-f]{8}(?:[0-9a-f]{8})?\b")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
ANY = "\u0000any"    # a shown {...} or [...]: any value
MORE = "\u0000more"  # a shown `, ...}`: the object may have more keys


def normal(text, numbers=False):
    """`text` with what differs between runs replaced: timestamps, run ids (8 or 16 hex digits),
    and with numbers=True every number (and runs of blanks, which line up tables of numbers)."""
    text = RUN_ID.sub("<id>", TIMESTAMP.sub("<time>", text.rstrip()))
    if numbers:
        text = re.sub(r"\s+", " ", NUMBER.sub("<n>", text))
    return text


def shown_json(text):
    """A shown JSON document with its elisions: {...} and [...] stand for any value, `,...}` for
    keys left out. Returns None when `text` is not JSON."""
    text = text.replace("{...}", json.dumps(ANY)).replace("[...]", json.dumps(ANY))
    text = re.sub(r",\s*\.\.\.\s*}", lambda _: f", {json.dumps(MORE)}: 1}}", text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def shown_items(lines):
    """Shown output lines as items: ("json", doc) for a JSON document (which may be wrapped
    over several lines), ("line", text) otherwise. `...` alone is returned as ("more", None)."""
    items, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "...":
            items.append(("more", None))
        elif line.lstrip().startswith(("{", "[")):
            buf, j = line.strip(), i
            doc = shown_json(buf)
            while doc is None and j + 1 < len(lines) and lines[j + 1][:1] == " ":
                j += 1
                buf += lines[j].strip()
                doc = shown_json(buf)
            if doc is not None:
                items.append(("json", doc))
                i = j + 1
                continue
            items.append(("line", line))
        elif line.strip():
            items.append(("line", line))
        i += 1
    return items


def actual_items(text):
    """What a command printed, as items: the whole text when it is one JSON document, else a
    JSON document or a line per line."""
    try:
        return [("json", json.loads(text))] if text.strip() else []
    except json.JSONDecodeError:
        pass
    items = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append(("json", json.loads(line)) if line.lstrip()[:1] in "{[" else ("line", line))
        except json.JSONDecodeError:
            items.append(("line", line))
    return items


class Matcher:
    """Compares shown items with printed ones and learns which shown run id stands for which
    printed one (`ids`), so that later commands can use the real ids."""

    def __init__(self, numbers=False):
        self.numbers = numbers
        self.ids = {}

    def _text(self, shown, actual, learned, part=False):
        s, a = normal(shown, self.numbers), normal(actual, self.numbers)
        if (s not in a) if part else (s != a):
            return False
        # the shown ids stand for the printed ones at the same places (a part: from where it starts)
        before = a[:a.index(s)].count("<id>") if part else 0
        printed = RUN_ID.findall(TIMESTAMP.sub("<time>", actual))[before:]
        learned.update(zip(RUN_ID.findall(TIMESTAMP.sub("<time>", shown)), printed))
        return True

    def _value(self, shown, actual, learned):
        if shown == ANY:
            return True
        if isinstance(shown, dict):
            keys = set(shown) - {MORE}
            if not isinstance(actual, dict) or not (keys <= set(actual) if MORE in shown else keys == set(actual)):
                return False
            return all(self._value(shown[k], actual[k], learned) for k in keys)
        if isinstance(shown, list):
            return (isinstance(actual, list) and len(shown) == len(actual)
                    and all(self._value(s, a, learned) for s, a in zip(shown, actual)))
        if isinstance(shown, str):
            return isinstance(actual, str) and self._text(shown, actual, learned)
        if isinstance(shown, bool) or shown is None:
            return shown is actual
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and \
            (self.numbers or float(shown) == float(actual))

    def item(self, shown, actual, part=False):
        """True when the printed item `actual` is what `shown` shows; learns its ids."""
        learned = {}
        if shown[0] == "json":
            ok = actual[0] == "json" and self._value(shown[1], actual[1], learned)
        else:
            text = actual[1] if actual[0] == "line" else json.dumps(actual[1], separators=(",", ":"))
            ok = self._text(shown[1], text, learned, part)
        if ok:
            self.ids.update(learned)
        return ok

    def check(self, step, stdout, stderr):
        """Raises AssertionError with both sides unless the printed output shows what `step`
        shows: stdout exactly (all of it, in order, unless the shown output has a `...` line),
        and shown lines that stderr holds (logs may hold more)."""
        shown = shown_items(step.shown)
        loose = any(kind == "more" for kind, _ in shown)
        streams = {"stdout": actual_items(stdout), "stderr": actual_items(stderr)}
        at = {"stdout": 0, "stderr": 0}
        wanted = [(item, False) for item in shown if item[0] != "more"] + \
                 [(("line", p), True) for p in step.partial]
        for item, part in wanted:
            found = False
            for name in ("stdout", "stderr"):
                items = streams[name]
                last = len(items) if (loose or part or name == "stderr") else min(at[name] + 1, len(items))
                for k in range(at[name], last):
                    if self.item(item, items[k], part):
                        at[name], found = k + 1, True
                        break
                if found:
                    break
            if not found:
                raise AssertionError(f"`{step.command}` did not print what the README shows:\n  {render(item)}\n"
                                     f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}")
        if not loose and step.shown and at["stdout"] < len(streams["stdout"]):
            raise AssertionError(f"`{step.command}` printed more than the README shows (end the shown output "
                                 f"with a `...` line if that is meant):\n"
                                 + "\n".join(render(i) for i in streams["stdout"][at["stdout"]:]))

    def substitute(self, command):
        """`command` with the shown run ids replaced by the ones really printed."""
        for shown, real in self.ids.items():
            command = command.replace(shown, real)
        return command


def render(item):
    kind, value = item
    text = value if kind == "line" else json.dumps(value).replace(json.dumps(ANY), "{...}")
    return text.replace(f", {json.dumps(MORE)}: 1", ", ...")


# --- running a block's commands -----------------------------------------------------------

def code_of(command):
    """`command` without its trailing `# comment` (a `#` after a blank, outside quotes)."""
    quote, prev = None, " "
    for k, ch in enumerate(command):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and prev in " \t":
            return command[:k].rstrip()
        prev = ch
    return command.rstrip()


def redirected_to(command):
    """The file a command's stdout is sent to (`> FILE` or `>> FILE` at its end), or None."""
    m = re.search(r"(?<![0-9&])>>?\s*([\w./-]+)$", code_of(command))
    return m.group(1) if m else None


def backgrounded(command):
    """True for `cmd &`."""
    code = code_of(command)
    return code.endswith("&") and not code.endswith("&&")


class Shell:
    """One bash for a block: its commands run one at a time (so `run=$(...)` carries over), in a
    process group of its own, which close() kills with whatever a command left running."""

    def __init__(self, cwd, env):
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, start_new_session=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.mark = f"readme-step-{os.getpid()}-{id(self)}"
        self.n = 0
        self.bufs = {"out": bytearray(), "err": bytearray()}
        self.cond = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(name, pipe), daemon=True)
                        for name, pipe in (("out", self.proc.stdout), ("err", self.proc.stderr))]
        for t in self.readers:
            t.start()
        self.run("set -o pipefail", 10)

    def _read(self, name, pipe):
        while True:
            chunk = os.read(pipe.fileno(), 65536)
            with self.cond:
                self.bufs[name] += chunk
                self.cond.notify_all()
            if not chunk:
                return

    def run(self, command, timeout):
        """Runs `command` (stdin from /dev/null); returns (exit code, stdout, stderr)."""
        self.n += 1
        mark = f"{self.mark} {self.n}".encode()
        self.proc.stdin.write(f"{{\n{command}\n}} </dev/null\nprintf '\\n%s %d\\n' '{mark.decode()}' $?\n"
                              f"printf '\\n%s\\n' '{mark.decode()}' >&2\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(mark in buf for buf in self.bufs.values()):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    out, err = (bytes(b).decode(errors="replace") for b in self.bufs.values())
                    raise AssertionError(f"`{command}` did not end within {timeout:.0f} s (or the shell died)\n"
                                         f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}")
                self.cond.wait(min(left, 0.5))
            texts = []
            for name in ("out", "err"):
                buf = self.bufs[name]
                at = buf.index(mark)
                end = buf.index(b"\n", at) + 1
                texts.append((bytes(buf[:at]).decode(errors="replace"), bytes(buf[at:end]).decode()))
                del buf[:end]
        code = int(texts[0][1].split()[-1])
        return code, texts[0][0].removesuffix("\n"), texts[1][0].removesuffix("\n")

    def close(self):
        # the group is killed before bash is reaped, so its id cannot have been reused
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # bash and what the block left running: its workers
        except ProcessLookupError:
            pass
        self.proc.wait()
        for t in self.readers:
            t.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()
