"""Live reload: `am2z worker --watch` follows its --flows directory while it serves. A flow file
added is served, a changed one is served in its new version while runs started before the change
finish on their own version, a removed one is no longer served, and a file that stops loading
keeps its last good version served."""
import os
import shutil
import signal
import time
import unittest

import harness
from redis_harness import DistributedTestCase, drain_stderr, worker_stderr

PLUGIN_DIR = os.environ.get("AM2Z_TEST_PLUGIN_DIR", "")

ALPHA = """\
version: 1
name: alpha
processors:
  nap: {use: sleep, with: {duration: %s}}
  mark: {use: set, with: {values: {version: %d}}}
flow:
  chain: [nap, mark]
"""

BETA = """\
version: 1
name: beta
processors:
  mark: {use: set, with: {values: {beta: true}}}
flow: mark
"""


class Reload(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.flows = self.tmp_path("flows")
        os.makedirs(self.flows)
        self.alpha = os.path.join(self.flows, "alpha.yaml")
        self.write(self.alpha, ALPHA % ("10ms", 1))
        proc = harness.start("worker", "--redis", self.redis.url, "--flows", self.flows, "--watch", "--log-level",
                             "info")
        self.workers.append(drain_stderr(proc))
        self.worker = proc
        self.wait_log("serving")

    def write(self, path, text):
        # written aside and renamed in, as deploy tools do: the watcher never sees half a file
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def wait_log(self, text, timeout=10):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if text in worker_stderr(self.worker, timeout=0):
                return
            time.sleep(0.05)
        self.fail(f"the worker never logged {text!r}:\n{worker_stderr(self.worker, timeout=0)}")

    def test_a_flow_added_to_the_directory_is_served_and_a_removed_one_no_longer(self):
        beta = self.write_tmp("beta.yaml", BETA)
        self.assertExit(self.run_redis(beta, "--require-worker"), 6)
        shutil.copy(beta, os.path.join(self.flows, "beta.yaml"))
        self.wait_log("flow beta added")
        r = self.run_redis(os.path.join(self.flows, "beta.yaml"), "--require-worker")
        self.assertSucceeded(r)
        self.assertTrue(r.json()["beta"])
        os.remove(os.path.join(self.flows, "beta.yaml"))
        self.wait_log("flow beta removed")
        r = self.run_redis(beta, "--require-worker")
        self.assertExit(r, 6)
        self.assertIn("beta.mark", r.stderr)

    def test_a_changed_flow_serves_new_runs_while_older_runs_finish_on_their_version(self):
        self.write(self.alpha, ALPHA % ("1500ms", 1))
        self.wait_log("flow alpha updated")
        older = self.run_redis(self.alpha, "--detach")
        self.assertSucceeded(older)
        time.sleep(0.3)  # its first step is running
        self.write(self.alpha, ALPHA % ("10ms", 2))
        self.wait_log("sha256", timeout=10)
        until = time.monotonic() + 10
        while worker_stderr(self.worker, timeout=0).count("flow alpha updated") < 2 and time.monotonic() < until:
            time.sleep(0.05)
        newer = self.run_redis(self.alpha)
        self.assertSucceeded(newer)
        self.assertEqual(newer.json()["version"], 2)
        result = harness.run("result", older.json()["run"], "--wait", "--redis", self.redis.url, timeout=30)
        self.assertSucceeded(result)
        self.assertEqual(result.json()["version"], 1, "a run started on version 1 finishes on version 1")

    def test_a_file_that_stops_loading_keeps_its_last_good_version_served(self):
        with open(self.alpha, "a", encoding="utf-8") as f:
            f.write("flow: [\n")
        self.wait_log("does not load: flow alpha stays served in its previous version")
        self.assertIn("alpha.yaml:", worker_stderr(self.worker, timeout=0))
        shutil.copy(self.alpha, self.tmp_path("broken.yaml"))
        self.write(self.alpha, ALPHA % ("10ms", 1))  # the original text again: the same version
        r = self.run_redis(self.alpha, "--require-worker")
        self.assertSucceeded(r)
        self.assertEqual(r.json()["version"], 1)
        self.assertIsNone(self.worker.poll(), "the worker kept serving")


if __name__ == "__main__":
    import unittest
    unittest.main()


@unittest.skipUnless(PLUGIN_DIR, "AM2Z_TEST_PLUGIN_DIR not set (run through ctest)")
class ReloadOnSighup(DistributedTestCase):
    """SIGHUP makes a worker read its --flows and its plugins again, with or without --watch: a
    plugin added to AM2Z_PLUGIN_PATH brings its types, and a flow file added to the directory is
    then served on them; steps already running are not dropped."""

    def test_sighup_loads_new_plugins_and_flows_without_watch(self):
        flows = self.tmp_path("flows")
        plugins = self.tmp_path("plugins")
        os.makedirs(flows)
        os.makedirs(plugins)
        with open(os.path.join(flows, "alpha.yaml"), "w", encoding="utf-8") as f:
            f.write(ALPHA % ("1500ms", 1))
        proc = harness.start("worker", "--redis", self.redis.url, "--flows", flows, "--log-level", "info",
                             env={"AM2Z_PLUGIN_PATH": plugins})
        self.workers.append(drain_stderr(proc))

        def wait_log(text):
            until = time.monotonic() + 10
            while time.monotonic() < until:
                if text in worker_stderr(proc, timeout=0):
                    return
                time.sleep(0.05)
            self.fail(f"the worker never logged {text!r}:\n{worker_stderr(proc, timeout=0)}")

        wait_log("serving")
        slow = harness.start("run", os.path.join(flows, "alpha.yaml"), "-c", "--redis", self.redis.url)
        self.assertTrue(harness.wait_for(lambda: self.redis.client("LLEN", "bull:alpha.nap:active") == 1, 10))
        shutil.copy(os.path.join(PLUGIN_DIR, "good_plugin.so"), os.path.join(plugins, "good.so"))
        greet = os.path.join(flows, "greet.yaml")
        shutil.copy(harness.fixture("plugins", "greet.yaml"), greet)
        env = {"AM2Z_PLUGIN_PATH": plugins}  # the submitter loads the flow too
        r = harness.run("run", greet, "--require-worker", "--redis", self.redis.url, env=env)
        self.assertExit(r, 6)  # not yet: no SIGHUP
        proc.send_signal(signal.SIGHUP)
        wait_log("SIGHUP: reading the flow files and plugins again")
        wait_log(f"added plugin {plugins}/good.so")
        wait_log("flow greet added")
        state = self.assertSucceeded(harness.run("run", greet, "-c", "--set", "name=Ada", "--require-worker",
                                                 "--redis", self.redis.url, env=env))
        self.assertEqual(state["message"], "hello Ada")
        # the step that was running when the signal came finished
        self.assertEqual(self.assertSucceeded(harness.finish(slow))["version"], 1)
        self.assertIsNone(proc.poll(), "SIGHUP stopped the worker")
