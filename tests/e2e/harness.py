"""Shared helpers for the end-to-end tests: they run the real `am2z` binary on fixture flows.

The binary comes from AM2Z_BIN (CTest sets it); without it, build/cli/am2z of this checkout.
Nothing is written into the source tree: runs that need files get a temporary directory.
"""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO, "examples", "flows")

DEFAULT_TIMEOUT = 20.0  # seconds; a hung binary fails the test instead of the whole suite

ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DIAGNOSTIC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?:(?P<path>[^\s:]+): )?(?P<message>.+)$")


def binary():
    path = os.environ.get("AM2Z_BIN") or os.path.join(REPO, "build", "cli", "am2z")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"am2z binary not found at {path!r}: set AM2Z_BIN")
    return path


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def example(*parts):
    return os.path.join(EXAMPLES, *parts)


class Result:
    """What one run of the binary did."""

    def __init__(self, args, code, stdout, stderr, elapsed):
        self.args = args
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    def __iter__(self):  # code, out, err = run(...)
        return iter((self.code, self.stdout, self.stderr))

    def json(self):
        """stdout as one JSON document."""
        return json.loads(self.stdout)

    def stderr_lines(self):
        return [line for line in self.stderr.splitlines() if line.strip()]

    def error(self):
        """The `error` object of the last stderr line (the failure report comes last)."""
        lines = self.stderr_lines()
        if not lines:
            raise AssertionError(f"stderr is empty; expected an error JSON line\n{self.describe()}")
        doc = json.loads(lines[-1])
        if set(doc) != {"error"}:
            raise AssertionError(f"last stderr line is not {{'error': ...}}: {lines[-1]}")
        return doc["error"]

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit code: {self.code}\n"
                f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}")


def run(*args, stdin=None, timeout=DEFAULT_TIMEOUT, env=None, cwd=None):
    """Runs am2z with `args`; returns a Result (iterable as code, stdout, stderr)."""
    cmd = [binary(), *map(str, args)]
    full_env = dict(os.environ)
    full_env.pop("AM2Z_LOG_LEVEL", None)  # tests choose their log level explicitly
    if env:
        full_env.update(env)
    started = time.monotonic()
    # no input: an empty stdin, whatever the test runner was given (run warns about unread stdin)
    stdin_kw = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run(cmd, **stdin_kw, capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd, errors="replace")
    return Result(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def start(*args, env=None, cwd=None):
    """Starts am2z in the background (stdout/stderr piped); pair with finish()."""
    cmd = [binary(), *map(str, args)]
    full_env = dict(os.environ)
    full_env.pop("AM2Z_LOG_LEVEL", None)
    if env:
        full_env.update(env)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=cwd, errors="replace")
    proc.am2z_cmd = cmd
    proc.am2z_started = time.monotonic()
    return proc


def finish(proc, timeout=DEFAULT_TIMEOUT):
    """Waits for a process from start(); kills it (and fails) if it overstays `timeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"am2z did not exit within {timeout}s\nstderr: {err[-2000:]}")
    return Result(proc.am2z_cmd, proc.returncode, out, err, time.monotonic() - proc.am2z_started)


def json_lines(text):
    """Parses every line of `text` that looks like a JSON object; other lines (logs) are skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def events_of(text):
    """The events (objects with an `event` key) among JSON lines."""
    return [j for j in json_lines(text) if "event" in j]


# --- processes ---------------------------------------------------------------------------------

def pid_alive(pid):
    """True while `pid` runs; a zombie (killed, not yet reaped by its new parent) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(")") + 2:].split()[0]
    return state not in ("Z", "X")


def wait_for(predicate, timeout, interval=0.02):
    """Polls `predicate` until it is true or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def read_pids(path):
    """Integers in a marker file (one per line); empty until the file has content."""
    try:
        with open(path, encoding="ascii") as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ValueError):
        return []


def kill_leftovers(pids):
    """Test clean-up only: SIGKILLs processes a failing test left behind, by pid."""
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class E2ETestCase(unittest.TestCase):
    """Adds a per-test temporary directory and assertions on am2z results."""

    maxDiff = None

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="am2z-e2e-")
        self.tmp = self._tmp.name
        self.addCleanup(self._tmp.cleanup)

    def tmp_path(self, name):
        return os.path.join(self.tmp, name)

    def write_tmp(self, name, text, mode=None):
        path = self.tmp_path(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def assertExit(self, result, code):
        self.assertEqual(result.code, code, f"unexpected exit code\n{result.describe()}")

    def assertSucceeded(self, result):
        """Exit 0, JSON on stdout; returns the final state."""
        self.assertExit(result, 0)
        try:
            return result.json()
        except json.JSONDecodeError as e:
            self.fail(f"stdout is not JSON ({e})\n{result.describe()}")

    def assertFailedWith(self, result, code):
        """The failure contract: exit `code`, stdout empty, the last stderr line is {"error": {...}}
        with every field; returns the error object."""
        self.assertExit(result, code)
        self.assertEqual(result.stdout, "", f"stdout must be empty on failure\n{result.describe()}")
        err = result.error()
        for key in ("name", "code", "message", "category", "severity", "retryable", "context"):
            self.assertIn(key, err, f"error JSON lacks {key!r}: {err}")
        self.assertIsInstance(err["retryable"], bool)
        self.assertIsInstance(err["context"], dict)
        self.assertIn(err["severity"], ("low", "medium", "high", "critical"))
        return err

    def assertOnlyErrorLine(self, result):
        """Without logs or events, stderr is exactly the one error line."""
        lines = result.stderr_lines()
        self.assertEqual(len(lines), 1, f"expected exactly one stderr line\n{result.describe()}")

    def assertMetadata(self, state, version, session=None):
        """The final state's metadata: sessionId, version, createdAt <= lastUpdated (ISO-8601 UTC)."""
        meta = state.get("metadata")
        self.assertIsInstance(meta, dict, f"no metadata object in {state}")
        self.assertEqual(set(meta), {"sessionId", "version", "createdAt", "lastUpdated"})
        self.assertEqual(meta["version"], version, f"metadata: {meta}")
        self.assertRegex(meta["createdAt"], ISO_TS)
        self.assertRegex(meta["lastUpdated"], ISO_TS)
        self.assertLessEqual(meta["createdAt"], meta["lastUpdated"])
        self.assertIsInstance(meta["sessionId"], str)
        self.assertTrue(meta["sessionId"])
        if session is not None:
            self.assertEqual(meta["sessionId"], session)
        return meta

    def data_of(self, state):
        """The state without its metadata (which carries times and generated ids)."""
        return {k: v for k, v in state.items() if k != "metadata"}

    def assertProcessGone(self, pid, within=3.0, what="process"):
        gone = wait_for(lambda: not pid_alive(pid), within)
        if not gone:
            kill_leftovers([pid])
        self.assertTrue(gone, f"{what} {pid} still running {within}s after am2z exited (orphan)")
