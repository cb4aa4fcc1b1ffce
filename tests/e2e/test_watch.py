"""am2z run --watch: re-runs when the flow file changes, registers plugins added to a watched
directory, reloads changed ones, says so on stderr, and exits 130 on Ctrl-C."""

import json
import os
import shutil
import signal
import threading
import time
import unittest

from harness import E2ETestCase, start

PLUGIN_DIR = os.environ.get("AM2Z_TEST_PLUGIN_DIR", "")

FLOW = "version: 1\nname: w\nflow: {{use: set, with: {{values: {{.round: {round}}}}}}}\n"
GREET_FLOW = "version: 1\nname: w\nflow: {use: greet}\n"


class Lines:
    """Collects a pipe's lines in a background thread."""

    def __init__(self, pipe):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        for line in pipe:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for line in self.lines:
                    if predicate(line):
                        return line
            time.sleep(0.05)
        with self.lock:
            raise AssertionError("no matching line within %ss; got:\n%s" % (timeout, "\n".join(self.lines)))


@unittest.skipUnless(PLUGIN_DIR, "AM2Z_TEST_PLUGIN_DIR not set (run through ctest)")
class WatchTest(E2ETestCase):
    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    def test_reruns_on_flow_change_and_picks_up_new_and_changed_plugins(self):
        flow = self.write_tmp("flow.yaml", FLOW.format(round=1))
        plugins = os.path.join(self.tmp, "plugins")
        os.mkdir(plugins)
        proc = start("run", "--watch", "-c", flow, env={"AM2Z_PLUGIN_PATH": plugins})
        self.addCleanup(self.stop, proc)
        out, err = Lines(proc.stdout), Lines(proc.stderr)

        def result_with(key, value):
            return lambda line: line.startswith("{") and json.loads(line).get(key) == value

        out.wait_for(result_with("round", 1))
        err.wait_for(lambda line: "watching" in line)

        self.write_tmp("flow.yaml", FLOW.format(round=2))
        err.wait_for(lambda line: f"changed: {flow}" in line)
        out.wait_for(result_with("round", 2))

        shutil.copy(os.path.join(PLUGIN_DIR, "good_plugin.so"), os.path.join(plugins, "good.so"))
        err.wait_for(lambda line: f"added plugin {plugins}/good.so (types: greet, declined, flaky, throws, count)"
                     in line)

        self.write_tmp("flow.yaml", GREET_FLOW)
        out.wait_for(result_with("message", "hello world"))

        time.sleep(0.3)
        os.remove(os.path.join(plugins, "good.so"))
        shutil.copy(os.path.join(PLUGIN_DIR, "good_plugin.so"), os.path.join(plugins, "good.so"))
        err.wait_for(lambda line: f"reloaded changed plugin {plugins}/good.so" in line)

        shutil.copy(os.path.join(PLUGIN_DIR, "twice_plugin.so"), os.path.join(plugins, "twice.so"))
        err.wait_for(lambda line: f"plugin {plugins}/twice.so failed to load: plugin '{plugins}/twice.so': "
                                  "declares processor type 'same' twice" in line)

        os.remove(os.path.join(plugins, "good.so"))
        err.wait_for(lambda line: f"removed plugin {plugins}/good.so" in line)
        err.wait_for(lambda line: "unknown processor type 'greet'" in line)

        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=10), 130)

    def test_watch_exits_130_on_ctrl_c_while_waiting(self):
        flow = self.write_tmp("flow.yaml", FLOW.format(round=1))
        proc = start("run", "--watch", "-c", flow)
        self.addCleanup(self.stop, proc)
        err = Lines(proc.stderr)
        err.wait_for(lambda line: "watching" in line)
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=10), 130)


if __name__ == "__main__":
    unittest.main()
