"""Timeouts (exit 124), interrupts (exit 130), and no exec subprocess outliving am2z."""

import os
import signal
import time
import unittest

from harness import (E2ETestCase, events_of, finish, fixture, kill_leftovers, read_pids, run, start,
                     wait_for)

# Generous bounds: CI machines are noisy.
EXIT_BOUND = 3.0     # seconds from the deadline or signal to am2z's exit
GONE_BOUND = 3.0     # seconds from am2z's exit until its subprocesses are gone
STARTUP_BOUND = 10.0  # seconds for a sleeper to start and record its pids


class TimeoutTest(E2ETestCase):
    def test_run_timeout_on_sleeping_flow(self):
        r = run("run", fixture("sleep.yaml"), "--timeout", "300ms")
        err = self.assertFailedWith(r, 124)
        self.assertOnlyErrorLine(r)
        self.assertLess(r.elapsed, EXIT_BOUND, "a 300ms timeout must not wait for the 5s sleep")
        self.assertGreaterEqual(r.elapsed, 0.25)
        self.assertEqual(err["name"], "ProcessorTimeoutError")
        self.assertEqual(err["code"], "OPERATION_TIMEOUT")
        self.assertEqual(err["category"], "timeout")
        self.assertTrue(err["retryable"])
        self.assertEqual(err["message"], "'sleepy' timed out after 300ms")
        self.assertEqual(err["context"], {"operation": "sleepy", "timeoutMs": 300})
        self.assertEqual(self.data_of(err["partialState"]), {})

    def test_step_timeout(self):
        r = run("run", fixture("step_timeout.yaml"))
        err = self.assertFailedWith(r, 124)
        self.assertLess(r.elapsed, EXIT_BOUND)
        self.assertEqual(err["code"], "OPERATION_TIMEOUT")
        self.assertEqual(err["message"], "'nap' timed out after 200ms")
        self.assertEqual(err["context"]["failedProcessor"], "nap")
        self.assertEqual(err["context"]["timeoutMs"], 200)
        self.assertEqual(err["context"]["completedSteps"], 1)
        self.assertEqual(self.data_of(err["partialState"]), {"first": True})
        self.assertEqual(err["partialState"]["metadata"]["version"], 2)

    def test_composite_node_timeout(self):
        r = run("run", fixture("node_timeout.yaml"))
        err = self.assertFailedWith(r, 124)
        self.assertLess(r.elapsed, EXIT_BOUND)
        self.assertEqual(err["message"], "'slow-chain' timed out after 300ms")

    def test_run_timeout_shorter_than_step_timeout(self):
        r = run("run", fixture("step_timeout.yaml"), "--timeout", "100ms")
        err = self.assertFailedWith(r, 124)
        self.assertEqual(err["message"], "'step-timeout' timed out after 100ms")


class SleeperTestCase(E2ETestCase):
    """scripts/sleeper.sh records "<its pid> <its child's pid>"; both must be gone after am2z exits."""

    def sleeper_env(self):
        self.pidfile = self.tmp_path("pids")
        self.addCleanup(lambda: kill_leftovers(read_pids(self.pidfile)))
        return {"AM2Z_TEST_PIDFILE": self.pidfile}

    def sleeper_pids(self, within=0.0):
        pids = wait_for(lambda: read_pids(self.pidfile), within) if within else read_pids(self.pidfile)
        self.assertEqual(len(pids), 2, "the exec step never started its sleeper")
        return pids

    def assertSleepersGone(self, pids):
        for pid, what in zip(pids, ("exec program", "its child")):
            self.assertProcessGone(pid, within=GONE_BOUND, what=what)


class SubprocessCleanupTest(SleeperTestCase):

    def test_run_timeout_kills_exec_step(self):
        r = run("run", fixture("exec_sleep.yaml"), "--timeout", "800ms", env=self.sleeper_env())
        err = self.assertFailedWith(r, 124)
        self.assertLess(r.elapsed, 0.8 + EXIT_BOUND)
        self.assertEqual(err["message"], "'exec-sleep' timed out after 800ms")
        self.assertSleepersGone(self.sleeper_pids())

    def test_run_timeout_kills_exec_step_ignoring_sigterm(self):
        r = run("run", fixture("exec_stubborn.yaml"), "--timeout", "800ms", env=self.sleeper_env())
        self.assertFailedWith(r, 124)
        self.assertLess(r.elapsed, 0.8 + EXIT_BOUND)
        self.assertSleepersGone(self.sleeper_pids())

    def test_step_timeout_kills_exec_step(self):
        r = run("run", fixture("exec_step_timeout.yaml"), env=self.sleeper_env())
        err = self.assertFailedWith(r, 124)
        self.assertLess(r.elapsed, 0.5 + EXIT_BOUND)
        self.assertEqual(err["message"], "'sleeper' timed out after 500ms")
        self.assertEqual(err["context"]["failedProcessor"], "sleeper")
        self.assertSleepersGone(self.sleeper_pids())

    def test_abandoned_exec_step_does_not_outlive_a_successful_run(self):
        # The step times out inside a collecting batch, so the run succeeds (exit 0) while the
        # program, which ignores SIGTERM, is still in its kill grace. It used to be left running.
        r = run("run", fixture("batch_abandon.yaml"), env=self.sleeper_env())
        state = self.assertSucceeded(r)
        self.assertLess(r.elapsed, 0.5 + EXIT_BOUND)
        batch = state["batch"]
        self.assertEqual(batch["counts"], {"total": 1, "succeeded": 0, "failed": 1})
        self.assertEqual(batch["results"], [None])
        self.assertEqual(batch["errors"][0]["index"], 0)
        self.assertEqual(batch["errors"][0]["error"]["code"], "OPERATION_TIMEOUT")
        self.assertEqual(batch["errors"][0]["error"]["message"], "'stubborn' timed out after 500ms")
        self.assertSleepersGone(self.sleeper_pids())


class InterruptTest(SleeperTestCase):
    def interrupt(self, proc, sig):
        os.kill(proc.pid, sig)  # the am2z process we started, by pid
        r = finish(proc, timeout=EXIT_BOUND + 10)
        err = self.assertFailedWith(r, 130)
        self.assertLess(r.elapsed - self.signalled_after, EXIT_BOUND, "am2z must exit promptly on a signal")
        name = signal.Signals(sig).name
        self.assertEqual(err["name"], "CancelledError")
        self.assertEqual(err["code"], "CANCELLED")
        self.assertEqual(err["category"], "cancelled")
        self.assertFalse(err["retryable"])
        self.assertEqual(err["message"], f"cancelled: interrupted by {name}")
        self.assertEqual(err["context"]["reason"], f"interrupted by {name}")
        return r, err

    def test_sigint_kills_exec_child(self):
        proc = start("run", fixture("exec_sleep.yaml"), env=self.sleeper_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        pids = self.sleeper_pids(within=STARTUP_BOUND)
        self.signalled_after = _since_start(proc)
        self.interrupt(proc, signal.SIGINT)
        self.assertSleepersGone(pids)

    def test_sigterm_kills_exec_child_ignoring_sigterm(self):
        proc = start("run", fixture("exec_stubborn.yaml"), env=self.sleeper_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        pids = self.sleeper_pids(within=STARTUP_BOUND)
        self.signalled_after = _since_start(proc)
        self.interrupt(proc, signal.SIGTERM)
        self.assertSleepersGone(pids)

    def test_a_second_ctrl_c_exits_at_once_but_an_echo_of_the_first_does_not(self):
        # The stubborn step ignores SIGTERM, so a clean cancellation waits out kill_grace (2s).
        for gap, clean in ((0.0, True), (0.8, False)):
            with self.subTest(gap=gap):
                env = self.sleeper_env()
                if os.path.exists(self.pidfile):  # the previous case's sleepers
                    os.remove(self.pidfile)
                proc = start("run", fixture("exec_stubborn.yaml"), env=env)
                self.addCleanup(lambda p=proc: p.poll() is None and p.kill())
                pids = self.sleeper_pids(within=STARTUP_BOUND)
                os.kill(proc.pid, signal.SIGINT)
                time.sleep(gap)
                os.kill(proc.pid, signal.SIGINT)
                r = finish(proc, timeout=EXIT_BOUND + 10)
                if clean:  # one interrupt: the run is cancelled and says so
                    self.assertEqual(self.assertFailedWith(r, 130)["code"], "CANCELLED")
                    self.assertSleepersGone(pids)
                else:  # the user insisted: out at once, no error written, the step not waited for
                    self.assertExit(r, 130)
                    self.assertNotIn("CANCELLED", r.stderr)
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass

    def test_sleeping_step_is_cancelled(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                events_path = self.tmp_path(f"events-{sig.name}.jsonl")
                proc = start("run", fixture("sleep.yaml"), "--events", events_path)
                self.addCleanup(lambda p=proc: p.poll() is None and p.kill())

                def nap_started():
                    try:
                        with open(events_path, encoding="utf-8") as f:
                            return '"processor:started"' in f.read()
                    except FileNotFoundError:
                        return False

                self.assertTrue(wait_for(nap_started, STARTUP_BOUND), "the sleep step never started")
                self.signalled_after = _since_start(proc)
                r, err = self.interrupt(proc, sig)
                self.assertLess(r.elapsed, 5.0, "the 5s sleep must not run to its end")
                with open(events_path, encoding="utf-8") as f:
                    events = events_of(f.read())
                names = [e["event"] for e in events]
                self.assertNotIn("processor:completed", names)
                self.assertNotIn("flow:completed", names)
                flow_failed = [e for e in events if e["event"] == "flow:failed"]
                self.assertEqual(len(flow_failed), 1)
                self.assertEqual(flow_failed[0]["error"]["code"], "CANCELLED")
                # The abandoned step may still report its own cancellation (even after flow:failed).
                for e in events:
                    if e["event"] == "processor:failed":
                        self.assertEqual((e["processor"], e["error"]["code"]), ("nap", "CANCELLED"))


def _since_start(proc):
    return time.monotonic() - proc.am2z_started


if __name__ == "__main__":
    unittest.main()
