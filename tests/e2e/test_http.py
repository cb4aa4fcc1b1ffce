"""The http built-in against a local fixture server: requests built from the state, the response
stored in the state, retries on 5xx, timeouts, cancellation, and connection errors."""

import json
import socket
import unittest

from harness import E2ETestCase, run
from http_fixture import FixtureServer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.server = FixtureServer().__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)

    def flow(self, step, extra=""):
        text = f"version: 1\nname: h\n{extra}flow:\n  use: http\n{step}"
        return self.write_tmp("flow.yaml", text)

    def test_post_with_state_values_and_json_response(self):
        url = self.server.url("/echo/orders/{.order.id}")
        flow = self.flow(f"  with:\n    method: POST\n    url: '{url}'\n"
                         "    headers: {X-Token: abc, X-Order: {path: .order.id}}\n"
                         "    body_from: .order\n    output: .result\n")
        r = run("run", flow, "--set", 'order={"id": "A 7/x", "total": 3}', "-q")
        state = self.assertSucceeded(r)
        res = state["result"]
        self.assertEqual(res["status"], 200)
        self.assertEqual(res["headers"]["x-fixture"], "yes")
        self.assertEqual(res["headers"]["content-type"], "application/json")
        echoed = res["body"]
        self.assertEqual(echoed["method"], "POST")
        self.assertEqual(echoed["path"], "/echo/orders/A%207%2Fx")
        self.assertEqual(echoed["headers"]["x-token"], "abc")
        self.assertEqual(echoed["headers"]["x-order"], "A 7/x")
        self.assertEqual(echoed["headers"]["content-type"], "application/json")
        self.assertEqual(json.loads(echoed["body"]), {"id": "A 7/x", "total": 3})
        self.assertEqual(state["order"], {"id": "A 7/x", "total": 3})

    def test_get_text_into_default_output(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/text')}'}}\n")
        state = self.assertSucceeded(run("run", flow, "-q"))
        self.assertEqual(state["response"]["body"], "plain text")
        self.assertEqual(state["response"]["status"], 200)

    def test_literal_string_body_is_sent_as_is(self):
        flow = self.flow(f"  with: {{method: PUT, url: '{self.server.url('/echo')}', body: 'a=1&b=2',"
                         " headers: {Content-Type: application/x-www-form-urlencoded}}\n")
        body = self.assertSucceeded(run("run", flow, "-q"))["response"]["body"]
        self.assertEqual((body["method"], body["body"]), ("PUT", "a=1&b=2"))
        self.assertEqual(body["headers"]["content-type"], "application/x-www-form-urlencoded")

    def test_5xx_is_retried_by_the_retry_policy(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/flaky/k1/2')}'}}\n"
                         "  retry: {attempts: 3, backoff: 10ms}\n")
        state = self.assertSucceeded(run("run", flow, "-q"))
        self.assertEqual(state["response"]["body"], {"attempts": 3})

    def test_5xx_after_the_last_attempt_is_a_retryable_network_error(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/status/503')}'}}\n  retry: {{attempts: 2, backoff: 10ms}}\n")
        err = self.assertFailedWith(run("run", flow, "-q"), 1)
        self.assertEqual((err["name"], err["code"], err["retryable"]), ("NetworkError", "NETWORK_ERROR", True))
        self.assertIn("(503)", err["message"])
        self.assertEqual(err["context"]["statusCode"], 503)
        self.assertEqual(err["context"]["response"]["body"], {"status": 503})

    def test_4xx_is_not_retryable_unless_accepted(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/status/404')}'}}\n  retry: {{attempts: 3, backoff: 10ms}}\n")
        r = run("run", flow, "--events", "-", "-q")
        self.assertExit(r, 1)
        err = r.error()
        self.assertEqual((err["name"], err["code"], err["retryable"]), ("NetworkError", "HTTP_CLIENT_ERROR", False))
        self.assertNotIn("processor:retrying", r.stderr)

        ok = self.flow(f"  with: {{url: '{self.server.url('/status/404')}', accept_status: [404]}}\n")
        self.assertEqual(self.assertSucceeded(run("run", ok, "-q"))["response"]["status"], 404)

    def test_connection_refused_is_a_retryable_network_error(self):
        flow = self.flow(f"  with: {{url: 'http://127.0.0.1:{free_port()}/x'}}\n")
        err = self.assertFailedWith(run("run", flow, "-q"), 1)
        self.assertEqual((err["name"], err["retryable"]), ("NetworkError", True))
        self.assertIn("Couldn't connect to server", err["message"])

    def test_request_timeout_and_step_timeout(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/slow/3000')}', timeout: 200ms}}\n")
        r = run("run", flow, "-q")
        err = self.assertFailedWith(r, 1)
        self.assertEqual(err["name"], "NetworkError")
        self.assertIn("timeout 200ms", err["message"])
        self.assertLess(r.elapsed, 2.5)

        step = self.flow(f"  with: {{url: '{self.server.url('/slow/3000')}'}}\n  timeout: 300ms\n")
        r = run("run", step, "-q")
        err = self.assertFailedWith(r, 124)
        self.assertEqual(err["name"], "ProcessorTimeoutError")
        self.assertLess(r.elapsed, 2.5)

    def test_run_timeout_cancels_the_request(self):
        flow = self.flow(f"  with: {{url: '{self.server.url('/slow/5000')}'}}\n")
        r = run("run", flow, "--timeout", "300ms", "-q")
        self.assertExit(r, 124)
        self.assertLess(r.elapsed, 3.0)

    def test_https_with_a_private_ca_and_an_untrusted_certificate(self):
        with FixtureServer(tls=True) as tls:
            trusted = self.flow(f"  with: {{url: '{tls.url('/echo')}', ca_file: '{tls.cert}'}}\n")
            state = self.assertSucceeded(run("run", trusted, "-q"))
            self.assertEqual(state["response"]["body"]["method"], "GET")

            untrusted = self.flow(f"  with: {{url: '{tls.url('/echo')}'}}\n")
            err = self.assertFailedWith(run("run", untrusted, "-q"), 1)
            self.assertEqual(err["name"], "NetworkError")
            self.assertIn("SSL", err["message"])

    def test_bad_parameters_are_flow_diagnostics(self):
        cases = [
            ("  with: {url: 'http://x/{.a'}\n", "with.url", "has a '{.' without its closing '}'"),
            ("  with: {url: 'http://x', method: FETCH}\n", "with.method", "unknown value 'FETCH'; did you mean 'PATCH'?"),
            ("  with: {url: 'http://x', body: 1, body_from: .a}\n", "with.body_from", "not both"),
            ("  with: {url: 'http://x', timeout: 0}\n", "with.timeout", "must be greater than 0"),
            ("  with: {url: 'http://x', output: .metadata}\n", "with.output", "metadata is owned by the engine"),
        ]
        for step, field, message in cases:
            with self.subTest(field=field):
                r = run("validate", self.flow(step))
                self.assertExit(r, 3)
                self.assertIn(f":5:", r.stderr)
                self.assertIn(f": flow.{field}: ", r.stderr)
                self.assertIn(message, r.stderr)


if __name__ == "__main__":
    unittest.main()
