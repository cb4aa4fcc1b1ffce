"""The configuration variables of README's "Configuration" table: what each sets, that flags win
over them, and that a malformed value is a usage error naming the variable."""
import unittest

import harness
from redis_harness import DistributedTestCase

# Three nested sub-flow calls (outer -> middle -> inner), then a 2 s sleep with no timeout of its own.
NESTED = """\
version: 1
name: nested
processors:
  mark: {use: set, with: {values: {.done: true}}}
  nap: {use: sleep, with: {duration: 2s}}
flows:
  inner: {chain: [mark]}
  middle: {chain: [{flow: inner}]}
  outer: {chain: [{flow: middle}]}
flow:
  chain: [{flow: outer}, nap]
"""

# The same sleep, but the flow file gives it a timeout of its own.
OWN_TIMEOUT = """\
version: 1
name: own-timeout
defaults: {timeout: 5s}
processors:
  nap: {use: sleep, with: {duration: 1s}}
flow: nap
"""

SLEEPY = """\
version: 1
name: sleepy
processors:
  nap: {use: sleep, with: {duration: 2s}}
flow: nap
"""


class LocalEnvironmentTest(harness.E2ETestCase):
    def setUp(self):
        super().setUp()
        self.nested = self.write_tmp("nested.yaml", NESTED)

    def test_default_timeout_applies_to_steps_without_one(self):
        for value in ("300", "300ms"):
            res = harness.run("run", self.nested, env={"AM2Z_DEFAULT_TIMEOUT": value})
            err = self.assertFailedWith(res, 124)
            self.assertEqual(err["code"], "OPERATION_TIMEOUT")
            self.assertEqual(err["message"], "'nap' timed out after 300ms")

    def test_the_flow_files_timeout_wins(self):
        flow = self.write_tmp("own.yaml", OWN_TIMEOUT)
        self.assertSucceeded(harness.run("run", flow, env={"AM2Z_DEFAULT_TIMEOUT": "100"}))

    def test_max_call_depth_from_the_environment_and_the_flag_wins(self):
        res = harness.run("run", self.nested, "-c", env={"AM2Z_MAX_CALL_DEPTH": "2"})
        err = self.assertFailedWith(res, 1)
        self.assertEqual(err["code"], "CALL_DEPTH_EXCEEDED")
        self.assertEqual(err["context"]["maxDepth"], 2)
        self.assertSucceeded(harness.run("run", self.nested, "-c", "--max-call-depth", "3",
                                         env={"AM2Z_MAX_CALL_DEPTH": "2"}))

    def test_session_from_the_environment_and_the_flag_wins(self):
        flow = self.write_tmp("own.yaml", OWN_TIMEOUT)
        state = self.assertSucceeded(harness.run("run", flow, env={"AM2Z_SESSION": "ci-42"}))
        self.assertEqual(state["metadata"]["sessionId"], "ci-42")
        state = self.assertSucceeded(harness.run("run", flow, "--session", "mine", env={"AM2Z_SESSION": "ci-42"}))
        self.assertEqual(state["metadata"]["sessionId"], "mine")

    def test_malformed_values_are_usage_errors_naming_the_variable(self):
        cases = {
            ("AM2Z_DEFAULT_TIMEOUT", "0"): "am2z: AM2Z_DEFAULT_TIMEOUT: a timeout must be greater than 0, found '0'\n",
            ("AM2Z_DEFAULT_TIMEOUT", "soon"): "am2z: AM2Z_DEFAULT_TIMEOUT: invalid duration 'soon': expected a number "
                                              "and a unit, e.g. 500ms, 30s, 5m, 1h\n",
            ("AM2Z_MAX_CALL_DEPTH", "0"): "am2z: AM2Z_MAX_CALL_DEPTH: expected an integer >= 1, found '0'\n",
            ("AM2Z_MAX_CALL_DEPTH", "ten"): "am2z: AM2Z_MAX_CALL_DEPTH: expected an integer >= 1, found 'ten'\n",
        }
        for (name, value), message in cases.items():
            for command in (("run", self.nested), ("validate", self.nested)):
                res = harness.run(*command, env={name: value})
                self.assertExit(res, 2)
                self.assertEqual(res.stderr, message, f"{name}={value} {command[0]}")
                self.assertEqual(res.stdout, "")

    def test_empty_values_mean_unset(self):
        res = harness.run("run", self.nested, "-c", env={"AM2Z_DEFAULT_TIMEOUT": "", "AM2Z_MAX_CALL_DEPTH": ""})
        self.assertSucceeded(res)


class DistributedEnvironmentTest(DistributedTestCase):
    def test_the_workers_environment_sets_step_timeouts(self):
        flow = self.write_tmp("sleepy.yaml", SLEEPY)
        self.start_worker(flow, env={"AM2Z_DEFAULT_TIMEOUT": "250ms"})
        res = self.run_redis(flow)
        self.assertEqual(self.assertFailedWith(res, 124)["message"], "'nap' timed out after 250ms")

    def test_session_from_the_environment_reaches_the_workers(self):
        flow = self.write_tmp("own.yaml", OWN_TIMEOUT)
        self.start_worker(flow)
        res = harness.run("run", flow, "--redis", self.redis.url, env={"AM2Z_SESSION": "pipeline-7"})
        self.assertEqual(self.assertSucceeded(res)["metadata"]["sessionId"], "pipeline-7")

    def test_the_workers_max_call_depth_from_the_environment(self):
        flow = self.write_tmp("nested.yaml", NESTED)
        self.start_worker(flow, env={"AM2Z_MAX_CALL_DEPTH": "2"})
        res = self.run_redis(flow)
        self.assertEqual(self.assertFailedWith(res, 1)["code"], "CALL_DEPTH_EXCEEDED")


if __name__ == "__main__":
    unittest.main()
