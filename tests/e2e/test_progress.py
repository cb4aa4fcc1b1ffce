"""am2z run's progress on stderr. Not on a terminal: an info line "progress: ..." every
AM2Z_PROGRESS_INTERVAL whose counts, percentages, rates and ETAs agree with each other (steps per
second without a batch); none with -q, with --events - (events on stderr), with the interval 0, or
before the 10 s default; a malformed interval is exit 2. On a pseudo-terminal: one line redrawn
with "\\r\\033[K", log lines (and the final error report) written on lines of their own above it,
and the line cleared at the end."""
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import termios
import threading
import time
import unittest

import harness

ITEMS = 3000  # 1 ms each, two at a time: about 1.7 s, 8 lines at 200 ms

FLOW = """\
version: 1
name: crunch
processors:
  nap: {use: sleep, with: {duration: 1ms}}
  pause: {use: sleep, with: {duration: 600ms}}
  halfway: {use: log, with: {message: "halfway there"}}
  done: {use: log, with: {message: "crunched {.out.counts.succeeded} items"}}
  boom: {use: fail, with: {error: business, code: AFTER_BATCH, message: failed after the batch}}
flow:
  chain:
    - parallel:
        - batch: nap
          items: .items
          concurrency: 2
          mode: collect
          output: .out
        - chain: [pause, halfway]
    - %s
"""

# Each item: nap, flaky (failed once, then retried: one step), odd (fails for good).
FAILING_ITEMS = """\
version: 1
name: crunch
processors:
  nap: {use: sleep, with: {duration: 1ms}}
  flaky: {use: fail, with: {error: network, message: reset, times: 1}, retry: {attempts: 2, backoff: 0ms}}
  odd: {use: fail, with: {error: business, code: ODD, message: odd item}}
flow:
  batch: {chain: [nap, flaky, odd]}
  items: .items
  concurrency: 2
  mode: collect
  output: .out
"""

PLAIN = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:(?P<sec>\d\d\.\d{3}))Z info progress: (?P<steps>\d+) steps? done"
                   r"(?: \((?P<failed>\d+) failed\))?, batch items (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)"
                   r"(?:, (?P<rate>\d+) items/s, ETA (?P<eta>[0-9hms]+))?, (?P<elapsed>[0-9hms]+) elapsed$")
STEPS_ONLY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:(?P<sec>\d\d\.\d{3})Z info progress: (?P<steps>\d+) "
                        r"(?P<noun>steps?) done(?:, (?P<rate>\d+) steps/s)?, [0-9hms]+ elapsed$")
NAPS = """\
version: 1
name: naps
processors:
  nap: {use: sleep, with: {duration: 300ms}}
flow: {chain: [nap, nap, nap, nap]}
"""
REDRAW = "\r\x1b[K"
SHOWN = re.compile(r"^(?P<steps>\d+) steps? done, batch items (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)"
                   r"(?:, \d+ items/s, ETA [0-9hms]+)?, [0-9hms]+ elapsed$")
BAD_INTERVAL = "am2z: AM2Z_PROGRESS_INTERVAL: invalid duration '{}': expected a number and a unit, e.g. 500ms, " \
               "30s, 5m, 1h\n"


def seconds(text):
    """'7s', '2m05s' or '1h02m' (how the line writes a duration) in seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


class ProgressCase(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.input = self.write_tmp("in.json", json.dumps({"items": list(range(ITEMS))}))

    def flow(self, last="done"):
        return self.write_tmp(f"crunch-{last}.yaml", FLOW % last)

    def run_plain(self, flow, *args, interval="200ms"):
        """A run with stderr on a pipe; AM2Z_PROGRESS_INTERVAL=`interval` ("" as if unset)."""
        return harness.run("run", flow, "-i", self.input, "-c", *args, env={"AM2Z_PROGRESS_INTERVAL": interval},
                           timeout=30)

    def progress_lines(self, res):
        lines = [line for line in res.stderr.splitlines() if "progress" in line]
        for line in lines:
            self.assertRegex(line, PLAIN)
        return [PLAIN.match(line) for line in lines]


class PlainLines(ProgressCase):
    def test_lines_every_interval_agree_with_each_other_and_the_result(self):
        res = self.run_plain(self.flow())
        state = self.assertSucceeded(res)
        self.assertEqual(state["out"]["counts"], {"total": ITEMS, "succeeded": ITEMS, "failed": 0})
        lines = self.progress_lines(res)
        self.assertGreaterEqual(len(lines), 3, res.stderr)
        done = [int(m["done"]) for m in lines]
        self.assertEqual(done, sorted(set(done)), "items done must grow from line to line")
        for m in lines:
            with self.subTest(line=m.group(0)):
                d, steps = int(m["done"]), int(m["steps"])
                self.assertEqual(int(m["total"]), ITEMS)
                self.assertTrue(0 < d <= ITEMS)
                self.assertEqual(int(m["pct"]), d * 100 // ITEMS)
                self.assertIsNone(m["failed"])
                # each item is one step; pause and halfway add 2 (read a moment apart, so give or take 2)
                self.assertLessEqual(abs(steps - d), 4)
                self.assertLessEqual(seconds(m["elapsed"]), res.elapsed + 1)
                if m["rate"] is not None:  # ETA: what is left at that rate (whole seconds)
                    self.assertLessEqual(abs(seconds(m["eta"]) - (ITEMS - d) / int(m["rate"])), 1)
        elapsed = [seconds(m["elapsed"]) for m in lines]
        self.assertEqual(elapsed, sorted(elapsed))
        # a line every 200 ms, its rate measured since the line before
        for before, now in zip(lines, lines[1:]):
            gap = (float(now["sec"]) - float(before["sec"])) % 60
            self.assertGreaterEqual(gap, 0.18, (before.group(0), now.group(0)))
            rate = (int(now["done"]) - int(before["done"])) / gap
            self.assertAlmostEqual(int(now["rate"]), rate, delta=rate * 0.15 + 10, msg=now.group(0))
        # the log step after the batch comes once every item is done: a progress line after it (one
        # may tick between the last step and the end of the run) counts them all
        log = res.stderr.splitlines()
        crunched = [i for i, line in enumerate(log) if line.endswith(f" info crunched {ITEMS} items")]
        self.assertEqual(len(crunched), 1, res.stderr)
        for line in log[crunched[0] + 1:]:
            self.assertIn(f" batch items {ITEMS}/{ITEMS} (100%)", line)
        self.assertNotIn("\x1b", res.stderr)

    def test_failed_steps_are_counted_and_a_retried_attempt_is_not_a_step(self):
        res = self.run_plain(self.write_tmp("failing.yaml", FAILING_ITEMS))
        state = self.assertSucceeded(res)
        self.assertEqual(state["out"]["counts"], {"total": ITEMS, "succeeded": 0, "failed": ITEMS})
        lines = self.progress_lines(res)
        self.assertGreaterEqual(len(lines), 2, res.stderr)
        for m in lines:
            with self.subTest(line=m.group(0)):
                d, steps, failed = int(m["done"]), int(m["steps"]), int(m["failed"])
                # 3 steps per item (flaky's first attempt is no step), 1 of them failed; up to 2
                # items in flight, and the counters are read a moment apart
                self.assertLessEqual(abs(steps - 3 * d), 8)
                self.assertLessEqual(abs(failed - d), 3)

    def test_without_a_batch_the_line_counts_steps_per_second(self):
        res = harness.run("run", self.write_tmp("naps.yaml", NAPS), env={"AM2Z_PROGRESS_INTERVAL": "200ms"})
        self.assertSucceeded(res)
        lines = [line for line in res.stderr.splitlines() if "progress" in line]
        self.assertGreaterEqual(len(lines), 4, res.stderr)  # 1.2 s of naps
        matches = [STEPS_ONLY.match(line) for line in lines]
        self.assertTrue(all(matches), res.stderr)
        steps = [int(m["steps"]) for m in matches]
        self.assertEqual(steps, sorted(steps))
        self.assertLessEqual(steps[-1], 4)
        for n, m in enumerate(matches):
            before = steps[n - 1] if n else 0
            self.assertEqual(m["noun"], "step" if m["steps"] == "1" else "steps", m.group(0))
            # a rate only when steps ended since the line before, measured since that line
            self.assertEqual(m["rate"] is not None, steps[n] > before, m.group(0))
            if m["rate"] is not None and n > 0:
                rate = (steps[n] - before) / ((float(m["sec"]) - float(matches[n - 1]["sec"])) % 60)
                self.assertAlmostEqual(int(m["rate"]), rate, delta=rate * 0.15 + 1, msg=m.group(0))

    def test_no_line_when_quiet_with_events_on_stderr_turned_off_or_before_the_default_10s(self):
        flow = self.flow()
        for args, interval in ((("-q",), "200ms"), (("--events", "-"), "200ms"), ((), "0"), ((), "")):
            with self.subTest(args=args, interval=interval):
                res = self.run_plain(flow, *args, interval=interval)
                self.assertEqual(self.assertSucceeded(res)["out"]["counts"]["succeeded"], ITEMS)
                self.assertGreater(res.elapsed, 1.0)  # five intervals of 200 ms at least
                self.assertNotIn("progress", res.stderr)
                if args == ("-q",):
                    self.assertEqual(res.stderr, "")
                if args == ("--events", "-"):
                    events = harness.events_of(res.stderr)
                    self.assertEqual(sum(e["event"] == "processor:completed" for e in events), ITEMS + 3)

    def test_a_malformed_interval_is_exit_2(self):
        for value in ("x", "-1s", "10q"):
            with self.subTest(value=value):
                res = self.run_plain(self.flow(), interval=value)
                self.assertExit(res, 2)
                self.assertEqual(res.stdout, "")
                if value == "10q":
                    self.assertEqual(res.stderr, "am2z: AM2Z_PROGRESS_INTERVAL: invalid duration '10q': unknown unit "
                                                 "'q' (use ms, s, m, h or d)\n")
                else:
                    self.assertEqual(res.stderr, BAD_INTERVAL.format(value))
        res = self.run_plain(self.flow(), "-q", interval="x")  # checked even when nothing would show
        self.assertExit(res, 2)


def run_on_pty(args, columns, env=None, timeout=30):
    """Runs am2z with stderr on a pseudo-terminal `columns` wide and stdout on a pipe; returns
    (exit code, stdout, everything the terminal received)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AM2Z_") or k == "AM2Z_BIN"}
    full_env.update({"TERM": "xterm", **(env or {})})
    proc = subprocess.Popen([harness.binary(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, env=full_env)
    os.close(slave)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    seen, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not chunk:
                break
            seen.append(chunk)
        try:  # (the terminal hangs up as the process exits, a moment before it can be waited for)
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"am2z did not exit within {timeout}s") from None
        reader.join(10)
    finally:
        os.close(master)
        proc.stdout.close()
    return proc.returncode, out[0].decode(), b"".join(seen).decode("utf-8", "replace").replace("\r\n", "\n")


class OnATerminal(ProgressCase):
    def run_tty(self, last="done", columns=120, args=(), env=None):
        return run_on_pty(["run", self.flow(last), "-i", self.input, "-c", "--color", "never", *args], columns, env)

    def redraws(self, tty):
        """The texts drawn after each "\\r\\033[K" up to the next control sequence or line end."""
        return [seg.split("\n")[0] for seg in tty.split(REDRAW)[1:] if seg.split("\n")[0]]

    def assertOwnLines(self, tty):
        """Every log line starts a line: at the start, after a line feed, or after the clearing."""
        for m in re.finditer(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", tty):
            self.assertTrue(m.start() == 0 or tty[m.start() - 1] == "\n" or tty[:m.start()].endswith(REDRAW),
                            f"a log line glued to the progress line: {tty[max(0, m.start() - 80):m.end() + 20]!r}")

    def test_one_line_redrawn_with_log_lines_above_it_and_cleared_at_the_end(self):
        code, out, tty = self.run_tty()
        self.assertEqual(code, 0, tty[-2000:])
        self.assertEqual(json.loads(out)["out"]["counts"]["succeeded"], ITEMS)  # stdout: the result only
        shown = [SHOWN.match(text) for text in self.redraws(tty) if "steps done" in text]
        self.assertGreaterEqual(len(shown), 3, repr(tty[-2000:]))
        for m in shown:
            self.assertIsNotNone(m, repr(tty[-2000:]))
            self.assertEqual(int(m["total"]), ITEMS)
            self.assertEqual(int(m["pct"]), int(m["done"]) * 100 // ITEMS)
        done = [int(m["done"]) for m in shown]
        self.assertEqual(done, sorted(done))
        self.assertNotIn("progress:", tty)  # the plain line's prefix is for logs
        self.assertEqual(re.findall(r"\x1b\[[0-9;]*[A-Za-z]", tty), ["\x1b[K"] * tty.count(REDRAW))
        self.assertOwnLines(tty)
        # halfway is logged mid-batch: it clears the line, takes a line of its own, and the
        # progress line is drawn again below it
        halfway = re.search(r"\r\x1b\[K\S+ info halfway there\n(?P<after>.*)", tty, re.DOTALL)
        self.assertIsNotNone(halfway, repr(tty))
        self.assertRegex(halfway["after"], r"^\r\x1b\[K\d+ steps done, batch items ")
        # the last log line clears the progress line; a tick between it and the run's end may
        # draw it once more (then every item is counted), and the end clears it
        self.assertRegex(tty, rf"\r\x1b\[K\S+ info crunched {ITEMS} items\n"
                              rf"(\r\x1b\[K\d+ steps done, batch items {ITEMS}/{ITEMS} \(100%\)[^\r\n]*\r\x1b\[K"
                              rf"|(\r\x1b\[K)?)$")

    def test_a_narrow_terminal_gets_the_line_cut_to_its_width(self):
        code, _, tty = self.run_tty(columns=40)
        self.assertEqual(code, 0)
        drawn = [text for text in self.redraws(tty) if "steps done" in text]
        self.assertGreaterEqual(len(drawn), 3, repr(tty))
        for text in drawn:
            self.assertEqual(len(text), 39, repr(text))
        self.assertOwnLines(tty)

    def test_the_error_report_of_a_failed_run_starts_a_line_of_its_own(self):
        code, out, tty = self.run_tty(last="boom")
        self.assertEqual((code, out), (1, ""))
        self.assertGreaterEqual(len(self.redraws(tty)), 2, repr(tty))
        # the line is cleared before the report, which is the last line
        at = tty.rfind('{"error":')
        self.assertTrue(tty[:at].endswith(REDRAW) or tty[:at].endswith("\n"), repr(tty[at - 200:at + 50]))
        self.assertEqual(json.loads(tty[at:])["error"]["code"], "AFTER_BATCH")

    def test_quiet_shows_nothing_and_term_dumb_gets_plain_lines(self):
        code, _, tty = self.run_tty(args=("-q",))
        self.assertEqual((code, tty), (0, ""))
        code, _, tty = self.run_tty(env={"TERM": "dumb", "AM2Z_PROGRESS_INTERVAL": "200ms"})
        self.assertEqual(code, 0)
        self.assertNotIn("\x1b", tty)
        lines = [line for line in tty.splitlines() if "progress" in line]
        self.assertGreaterEqual(len(lines), 3, tty)
        for line in lines:
            self.assertRegex(line, PLAIN)


if __name__ == "__main__":
    unittest.main()
