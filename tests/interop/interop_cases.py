"""What the BullMQ interop tests share: the flows their am2z workers serve, the Node workspace
(npm ci once per process), and a test case with a worker, Node scripts and am2z runs at hand."""

import json
import signal

import interop_support as support
from interop_support import NodeScripts, harness, redis_harness

_WORKSPACE = None


def node_workspace():
    """(node, workspace, None) once `npm ci` has run, or (None, None, why not)."""
    global _WORKSPACE
    if _WORKSPACE is None:
        try:
            _WORKSPACE = (*support.prepare_node_workspace(), None)
        except support.SetupError as e:
            _WORKSPACE = (None, None, str(e))
    return _WORKSPACE


FOREIGN_FLOW = """\
version: 1
name: foreign
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  other: {use: set, with: {values: {.other: true}}}
  flaky: {use: fail, with: {error: network, message: "connection reset", times: 2}}
  down: {use: fail, with: {error: network, message: "still down", times: 1000}}
  nap: {use: sleep, with: {duration: 1500ms}}
flow:
  route: .mode
  cases: {stamp: stamp, other: other, flaky: flaky, down: down, nap: nap}
"""

BOARD_FLOW = """\
version: 1
name: board
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  one: {use: set, with: {values: {.one: 1}}}
  two: {use: set, with: {values: {.two: 2}}}
  slow: {use: sleep, with: {duration: 3s}}
  finish: {use: set, with: {values: {.status: done}}}
  broken:
    use: fail
    with: {error: network, message: "upstream refused", times: 1000}
    retry: {attempts: 2, backoff: 50ms}
flow:
  route: .mode
  cases:
    ok: {chain: [stamp, {parallel: [one, two]}, finish]}
    slow: {chain: [stamp, {parallel: [one, slow]}, finish]}
    bad: {chain: [stamp, broken, finish]}
    branch: {chain: [stamp, {parallel: [one, broken]}, finish]}
"""

EVENTS_FLOW = """\
version: 1
name: events
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  boom: {use: fail, with: {message: "boom from am2z"}}
flow:
  route: .mode
  cases: {ok: stamp, bad: boom}
"""

REMOTE_FLOW = """\
version: 1
name: media
processors:
  prepare: {use: set, with: {values: {.width: 10, .height: 5}}}
  resize:
    use: remote
    with: {queue: images}
    retry: {attempts: 3, backoff: 50ms}
  finish: {use: set, with: {values: {.done: true}}}
flow:
  chain: [prepare, resize, finish]
"""


class InteropTestCase(redis_harness.DistributedTestCase):
    def setUp(self):
        node, workspace, error = node_workspace()
        if error:
            self.fail(error)
        harness.binary()  # fails clearly when AM2Z_BIN is not set to a binary
        super().setUp()
        self.node = NodeScripts(node, workspace, self.redis.port)

    def start_script(self, script, arguments):
        """A Node script running beside am2z, killed at the end of the test if still running."""
        background = self.node.start(script, arguments)
        self.addCleanup(background.kill)
        return background

    def serve(self, flow_text, *extra):
        """Writes the flow and starts an am2z worker for it; returns (worker, flow path)."""
        path = self.write_tmp("flow.yaml", flow_text)
        return self.start_worker(path, args=("-c", "4", *extra)), path

    def stop_worker(self, worker):
        """SIGTERM: the worker must end cleanly (exit 0) once it has served the test."""
        worker.send_signal(signal.SIGTERM)
        result = harness.finish(worker, timeout=20)
        self.assertEqual(result.code, 0, f"am2z worker did not exit cleanly\n{result.describe()}")

    def run_am2z(self, flow_path, state, *extra, timeout=30):
        return self.run_redis(flow_path, "-i", self.write_tmp("input.json", json.dumps(state)), "-c", *extra,
                              timeout=timeout)

    def run_ok(self, flow_path, state, *extra):
        result = self.run_am2z(flow_path, state, *extra)
        self.assertEqual(result.code, 0, f"am2z run --redis failed\n{result.describe()}")
        return result.json()

    def assertTimestamps(self, job):
        """timestamp <= processedOn <= finishedOn, all integer milliseconds of this era."""
        for field in ("timestamp", "processedOn", "finishedOn"):
            self.assertIsInstance(job[field], int, f"{field} of job {job['id']}: {job[field]!r}")
            self.assertGreater(job[field], 1_600_000_000_000, f"{field} of job {job['id']} is not epoch ms")
        self.assertLessEqual(job["timestamp"], job["processedOn"], job)
        self.assertLessEqual(job["processedOn"], job["finishedOn"], job)


ZERO_COUNTS = {"active": 0, "completed": 0, "delayed": 0, "failed": 0, "prioritized": 0, "waiting": 0,
               "waiting-children": 0}


def counts(**nonzero):
    return {**ZERO_COUNTS, **nonzero}
