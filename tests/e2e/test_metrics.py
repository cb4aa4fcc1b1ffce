"""am2z worker --metrics: after a distributed run (steps that succeed, one retried once, one that
fails for good) /metrics holds exact per-queue counters, cumulative duration histograms and the
Redis round trips in Prometheus's text format, and /healthz answers 200 {"status": "ok"}; with Redis
stopped /healthz turns 503 "unreachable", and back to 200 (a reconnection counted) once it is up
again. A bad address is exit 2 naming --metrics; a port already taken is exit 4."""
import json
import os
import re
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import harness
from redis_harness import DistributedTestCase, drain_stderr, free_dead_port, free_port, worker_stderr

FLOW = """\
version: 1
name: m
processors:
  a: {use: set, with: {values: {.a: 1}}}
  flaky: {use: fail, with: {error: network, message: reset, times: 1}, retry: {attempts: 2, backoff: 10ms}}
  b: {use: set, with: {values: {.b: 2}}}
  boom: {use: fail, with: {error: business, code: NOPE, message: no}}
flow: {chain: [a, flaky, b, boom]}
"""

# (started, completed, failed, retried) per queue after one run of FLOW
EXPECTED = {"m.a": (1, 1, 0, 0), "m.flaky": (2, 1, 0, 1), "m.b": (1, 1, 0, 0), "m.boom": (1, 0, 1, 0)}
COUNTERS = ("started", "completed", "failed", "retried")
STEP_BOUNDS = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30",
               "60", "120", "300", "+Inf"]
LISTENING = re.compile(r"info metrics on http://(?P<host>[^ ]+):(?P<port>\d+)/metrics, health on /healthz$",
                       re.MULTILINE)
BAD_ADDRESS = ("am2z worker: --metrics: '{}' is not an address to listen on: {} "
               "(expected HOST:PORT, :PORT or PORT, e.g. :9464)\n")
BAD_PORT = "the port must be a number from 0 to 65535"

# --- Prometheus text format (0.0.4) -------------------------------------------------------------

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\\n]|\\.)*)"(?:,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if m is None:
            raise ValueError(f"bad labels {text!r} at {pos}")
        value = re.sub(r"\\.", lambda e: UNESCAPE[e.group(0)], m["value"])
        if m["key"] in labels:
            raise ValueError(f"label {m['key']} twice in {text!r}")
        labels[m["key"]] = value
        pos = m.end()
    return labels


def parse_prometheus(text):
    """{family: {"help": str, "type": str, "samples": [(name, labels, value)]}}; any line that is not
    a HELP, a TYPE or a sample of the family last declared raises ValueError."""
    families, current = {}, None
    if not text.endswith("\n"):
        raise ValueError("the exposition does not end with a line feed")
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6].lower(), *line[7:].split(" ", 1)
            fam = families.setdefault(name, {"help": None, "type": None, "samples": []})
            if fam[kind] is not None or fam["samples"]:
                raise ValueError(f"{kind} of {name} again, or after its samples: {line!r}")
            fam[kind] = rest
            current = name
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise ValueError(f"not a sample line: {line!r}")
        name = m["name"]
        suffixes = ("_bucket", "_sum", "_count") if families.get(current, {}).get("type") == "histogram" else ()
        if name != current and not any(name == current + s for s in suffixes):
            raise ValueError(f"sample {name} outside its family (last declared: {current})")
        families[current]["samples"].append((name, parse_labels(m["labels"] or ""), float(m["value"])))
    for name, fam in families.items():
        if fam["type"] not in ("counter", "gauge", "histogram") or not fam["help"]:
            raise ValueError(f"{name}: TYPE {fam['type']!r}, HELP {fam['help']!r}")
    return families


def by_label(families, family, label, name=None):
    """{label value: sample value} of one family's samples named `name` (default: the family)."""
    return {labels[label]: value for n, labels, value in families[family]["samples"] if n == (name or family)}


def http_get(url):
    """(status, content type, body) of a GET; a 5xx is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


class MetricsCase(DistributedTestCase):
    def setUp(self):
        super().setUp()
        self.flow = self.write_tmp("m.yaml", FLOW)

    def start_metrics_worker(self, name, address="127.0.0.1:0", args=()):
        """A worker with --metrics ADDR, once its /healthz says it has reached Redis: the process,
        the match of its "metrics on" log line and the base URL."""
        # (not start_worker: it logs at warn, and the address is logged at info)
        proc = drain_stderr(harness.start("worker", "--redis", self.redis.url, "--flows", self.flow, "--name", name,
                                          "--metrics", address, *args))
        self.workers.append(proc)
        found = harness.wait_for(lambda: LISTENING.search(worker_stderr(proc)), timeout=10)
        self.assertTrue(found, f"no 'metrics on' line:\n{worker_stderr(proc)}")
        base = f"http://127.0.0.1:{found['port']}"
        self.assertTrue(harness.wait_for(lambda: http_get(base + "/healthz")[0] == 200, timeout=10),
                        f"/healthz never answered 200: {http_get(base + '/healthz')}")
        return proc, found, base

    def scrape(self, base):
        status, ctype, body = http_get(base + "/metrics")
        self.assertEqual((status, ctype), (200, "text/plain; version=0.0.4; charset=utf-8"))
        return parse_prometheus(body), body

    def health(self, base):
        status, ctype, body = http_get(base + "/healthz")
        self.assertEqual(ctype, "application/json")
        return status, json.loads(body)


class AfterARun(MetricsCase):
    def test_counters_histograms_and_round_trips_are_exact(self):
        before = time.time()
        _, _, base = self.start_metrics_worker("metrics-w1", args=("-c", "3"))
        err = self.assertFailedWith(self.run_redis(self.flow), 1)
        self.assertEqual((err["code"], err["context"]["failedProcessor"]), ("NOPE", "boom"))
        # the run's outcome may reach the submitter just before the worker's observer hears of it
        def settled():
            return by_label(self.scrape(base)[0], "am2z_steps_failed_total", "queue").get("m.boom") == 1
        self.assertTrue(harness.wait_for(settled, timeout=5, interval=0.1), self.scrape(base)[1])
        fams, body = self.scrape(base)

        counts = {c: by_label(fams, f"am2z_steps_{c}_total", "queue") for c in (*COUNTERS, "interrupted")}
        active = by_label(fams, "am2z_steps_active", "queue")
        for queue, expected in EXPECTED.items():
            with self.subTest(queue=queue):
                self.assertEqual(tuple(counts[c][queue] for c in COUNTERS), expected)
                self.assertEqual((counts["interrupted"][queue], active[queue]), (0, 0))
        for queue in set(counts["started"]) - set(EXPECTED):  # a queue served but not used (m._join)
            self.assertEqual([counts[c][queue] for c in counts], [0] * len(counts), queue)
        for c in counts:
            self.assertEqual(fams[f"am2z_steps_{c}_total"]["type"], "counter")
        self.assertEqual(fams["am2z_steps_active"]["type"], "gauge")

        # step durations: one histogram per queue, cumulative, +Inf = _count = attempts that ended
        durations = fams["am2z_step_duration_seconds"]
        self.assertEqual(durations["type"], "histogram")
        for queue, (started, completed, failed, retried) in EXPECTED.items():
            with self.subTest(histogram=queue):
                buckets = [(labels["le"], v) for n, labels, v in durations["samples"]
                           if n.endswith("_bucket") and labels["queue"] == queue]
                self.assertEqual([le for le, _ in buckets], STEP_BOUNDS)
                values = [v for _, v in buckets]
                self.assertEqual(values, sorted(values), "buckets are not cumulative")
                count = by_label(fams, "am2z_step_duration_seconds", "queue", "am2z_step_duration_seconds_count")
                self.assertEqual(count[queue], completed + failed + retried)
                self.assertEqual(values[-1], count[queue])
                self.assertEqual(values[-2], count[queue])  # set and fail take well under 300 s
                total = by_label(fams, "am2z_step_duration_seconds", "queue", "am2z_step_duration_seconds_sum")
                self.assertGreaterEqual(total[queue], 0)

        # Redis round trips: the step-script calls and at least the first heartbeat
        trips = fams["am2z_redis_round_trip_seconds"]
        self.assertEqual(trips["type"], "histogram")
        count = by_label(fams, "am2z_redis_round_trip_seconds", "call", "am2z_redis_round_trip_seconds_count")
        total = by_label(fams, "am2z_redis_round_trip_seconds", "call", "am2z_redis_round_trip_seconds_sum")
        self.assertGreater(count["step"], 0)
        self.assertGreaterEqual(count["heartbeat"], 1)
        self.assertGreater(total["step"], 0)
        for call in count:
            inf = [v for n, labels, v in trips["samples"] if labels.get("call") == call and labels.get("le") == "+Inf"]
            self.assertEqual(inf, [count[call]], call)
        self.assertEqual(fams["am2z_redis_failures_total"]["samples"], [])
        self.assertEqual(fams["am2z_redis_reconnects_total"]["samples"], [("am2z_redis_reconnects_total", {}, 0)])

        # the worker itself
        version = harness.run("-V").stdout.split()[1]
        self.assertEqual(fams["am2z_worker_info"]["samples"],
                         [("am2z_worker_info", {"name": "metrics-w1", "version": version}, 1)])
        self.assertEqual(fams["am2z_worker_concurrency"]["samples"], [("am2z_worker_concurrency", {}, 3)])
        (_, _, started_at), = fams["am2z_worker_start_time_seconds"]["samples"]
        self.assertTrue(before - 1 <= started_at <= time.time(), (before, started_at))
        self.assertNotIn("\r", body)

        status, health = self.health(base)
        self.assertEqual(status, 200)
        self.assertEqual({k: health[k] for k in ("status", "redis", "active")},
                         {"status": "ok", "redis": "ok", "active": 0})
        self.assertNotIn("failedCall", health)
        self.assertLessEqual(abs(health["lastRedisOk"] / 1000 - time.time()), 15)

    def test_a_label_value_is_escaped_and_a_bare_port_listens_everywhere(self):
        port = free_port()
        name = 'we"ird\\name\nx'
        _, found, base = self.start_metrics_worker(name, address=str(port))
        self.assertEqual((found["host"], found["port"]), ("0.0.0.0", str(port)))
        fams, body = self.scrape(base)
        self.assertIn('am2z_worker_info{name="we\\"ird\\\\name\\nx",version="', body)
        self.assertEqual(fams["am2z_worker_info"]["samples"][0][1]["name"], name)


class RedisOutage(MetricsCase):
    def test_healthz_turns_503_while_redis_is_down_and_200_once_it_is_back(self):
        _, _, base = self.start_metrics_worker("metrics-outage")
        redis = self.redis
        redis.client.close()
        redis.proc.terminate()
        redis.proc.wait(timeout=10)
        self.addCleanup(lambda: redis.proc.poll() is None or redis._launch())  # noqa: SLF001  the next tests need it
        stopped = time.time()
        down = harness.wait_for(lambda: self.health(base)[0] == 503, timeout=10, interval=0.1)
        self.assertTrue(down, f"/healthz still says {self.health(base)} 10 s after Redis stopped")
        self.assertLess(time.time() - stopped, 10)
        status, health = self.health(base)
        self.assertEqual((status, health["status"], health["redis"], health["active"]),
                         (503, "unhealthy", "unreachable", 0))
        self.assertIn(health["failedCall"], ("step", "heartbeat"))
        self.assertLessEqual(health["lastRedisOk"], stopped * 1000 + 50)
        fams, _ = self.scrape(base)  # /metrics still answers, and counts the failed calls
        failures = by_label(fams, "am2z_redis_failures_total", "call")
        self.assertGreaterEqual(sum(failures.values()), 1, failures)
        self.assertLessEqual(set(failures), {"step", "heartbeat"})

        restarted = time.time()
        redis._launch()  # noqa: SLF001  the same port, so the worker's URL holds
        up = harness.wait_for(lambda: self.health(base)[0] == 200, timeout=15, interval=0.1)
        self.assertTrue(up, f"/healthz still says {self.health(base)} 15 s after Redis came back")
        status, health = self.health(base)
        self.assertEqual((health["status"], health["redis"]), ("ok", "ok"))
        self.assertNotIn("failedCall", health)
        self.assertGreaterEqual(health["lastRedisOk"], restarted * 1000)
        fams, _ = self.scrape(base)
        (_, _, reconnects), = fams["am2z_redis_reconnects_total"]["samples"]
        self.assertGreaterEqual(reconnects, 1)


class BadAddresses(MetricsCase):
    def test_an_address_that_is_not_one_is_exit_2_naming_metrics(self):
        url = f"redis://127.0.0.1:{free_dead_port()}"  # checked before Redis is dialled
        for address, why in (("abc", BAD_PORT), (":70000", BAD_PORT), ("host:", BAD_PORT), ("-1", BAD_PORT),
                             ("9464x", BAD_PORT), ("", "it is empty")):
            with self.subTest(address=address):
                res = harness.run("worker", "--redis", url, "--flows", self.flow, "--metrics", address)
                self.assertExit(res, 2)
                self.assertEqual(res.stderr, BAD_ADDRESS.format(address, why))

    def test_a_port_in_use_is_exit_4_before_the_worker_registers(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            for address, shown in ((f"127.0.0.1:{port}", f"127.0.0.1:{port}"), (f":{port}", f"0.0.0.0:{port}")):
                with self.subTest(address=address):
                    res = harness.run("worker", "--redis", self.redis.url, "--flows", self.flow, "--metrics", address)
                    self.assertExit(res, 4)
                    self.assertEqual(res.stderr, f"am2z worker: cannot listen on {shown} for --metrics (address in "
                                                 "use, not this machine's, or a privileged port)\n")
        self.assertEqual(self.redis.client("KEYS", "am2z:worker:*"), [])

    def test_a_missing_http_module_is_exit_4_naming_it(self):
        missing = self.tmp_path("gone/am2z_http.so")
        res = harness.run("worker", "--redis", self.redis.url, "--flows", self.flow, "--metrics", ":0",
                          env={"AM2Z_HTTP_MODULE": missing})
        self.assertExit(res, 4)
        self.assertTrue(res.stderr.startswith("am2z worker: --metrics needs am2z's HTTP server module am2z_http.so, "
                                              "installed with am2z; it could not be loaded: " + missing), res.stderr)
        self.assertEqual(self.redis.client("KEYS", "am2z:worker:*"), [])

    def test_commands_do_not_load_the_http_servers_libraries(self):
        # cpp-httplib brings OpenSSL, brotli and zlib: loading them cost every command ~3 ms
        linked = subprocess.run(["ldd", harness.binary()], capture_output=True, text=True, check=True).stdout
        for library in ("libcpp-httplib", "libssl", "libcrypto", "libbrotli"):
            self.assertNotIn(library, linked)


if __name__ == "__main__":
    unittest.main()
