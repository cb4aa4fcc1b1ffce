"""examples/dashboard (Bull Board over am2z's queues) against a real redis-server, am2z workers and
the example's own npm packages (installed with `npm ci` from its package-lock.json into a scratch
folder, as the interop tests install theirs): the queues of a run are found by SCAN and listed by
Bull Board's HTTP API with their completed jobs (name, id, data, opts.am2z readable); a queue
that gets its first job after the dashboard started appears at the next discovery, an
obliterated one disappears; a non-default --prefix shows its own deployment only, a prefix with
glob characters is matched literally; a Redis restart is survived; bad options are refused.

Node, npm, redis-server and the npm registry (first run) are required: the tests fail without
them, they never skip.
"""

import json
import os
import re
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import interop_support as support
from interop_support import harness, redis_harness

DASHBOARD = os.path.join(harness.REPO, "examples", "dashboard")
INTERVAL = "500ms"  # discovery period of the dashboards under test (the default is 10s)

# A route whose case `ok` is a chain with a parallel: node paths n (route), n.0 (chain),
# n.0.0 stamp, n.0.1 parallel (its join), n.0.1.0 / n.0.1.1 branches, n.0.2 finish.
SHOP_FLOW = """\
version: 1
name: shop
processors:
  stamp: {use: set, with: {values: {.stamped: true}}}
  one: {use: set, with: {values: {.one: 1}}}
  two: {use: set, with: {values: {.two: 2}}}
  finish: {use: set, with: {values: {.status: done}}}
  idle: {use: set, with: {values: {.idle: true}}}
flow:
  route: .mode
  cases:
    ok: {chain: [stamp, {parallel: [one, two]}, finish]}
    idle: idle
"""
SHOP_QUEUES = {"shop.stamp", "shop.one", "shop.two", "shop.finish", "shop._join"}

LATE_FLOW = """\
version: 1
name: late
processors:
  ping: {use: set, with: {values: {.pong: true}}}
flow: ping
"""

_WORKSPACE = None


def dashboard_workspace():
    """(node, workspace, None) once `npm ci` has installed the example's lock, or (None, None, why)."""
    global _WORKSPACE
    if _WORKSPACE is None:
        with open(os.path.join(DASHBOARD, "package.json"), encoding="utf-8") as f:
            pinned = json.load(f)["dependencies"]
        scripts = sorted(n for n in os.listdir(DASHBOARD) if n.endswith(".mjs"))
        try:
            _WORKSPACE = (*support.prepare_node_workspace(
                source=DASHBOARD, pinned=pinned, scripts=scripts, env_var="AM2Z_DASHBOARD_NODE_DIR",
                name="dashboard"), None)
        except support.SetupError as e:
            _WORKSPACE = (None, None, str(e))
    return _WORKSPACE


class Dashboard(support.BackgroundScript):
    """`node server.mjs` on a free port (--port 0): its URL comes from its first stdout line."""

    READY = re.compile(r"Bull Board on (http://\S+) for ")

    def __init__(self, node, workspace, args):
        super().__init__([node, os.path.join(workspace, "server.mjs"), "--port", "0", *args], workspace,
                         dict(os.environ), 30, ready=self.READY.search)
        found = [m.group(1) for m in map(self.READY.search, self.lines) if m]
        if not found:
            self.kill()
            raise AssertionError(f"the dashboard did not start (exit {self.proc.returncode})\n{self.output()}")
        self.url = found[0]

    def output(self):
        return f"--- stdout ---\n{''.join(self.lines)[-3000:]}\n--- stderr ---\n{''.join(self.stderr)[-3000:]}"

    def request(self, method, path, query=None, body=None):
        """(status, parsed JSON or text) of one HTTP request to the board."""
        url = self.url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                status, text, kind = resp.status, resp.read().decode(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, text, kind = e.code, e.read().decode(), e.headers.get("Content-Type", "")
        return status, json.loads(text) if "json" in kind else text

    def queues(self, **query):
        """Bull Board's GET /api/queues: {name: entry}."""
        status, body = self.request("GET", "/api/queues", query)
        if status != 200:
            raise AssertionError(f"GET /api/queues {query}: {status} {body}\n{self.output()}")
        return {q["name"]: q for q in body["queues"]}

    def jobs(self, queue, status="completed"):
        """The jobs of one queue in one status, as Bull Board's job list shows them."""
        return self.queues(activeQueue=queue, status=status, page="1", jobsPerPage="50")[queue]["jobs"]



class DashboardTest(redis_harness.DistributedTestCase):
    def setUp(self):
        node, workspace, error = dashboard_workspace()
        if error:
            self.fail(error)
        harness.binary()  # fails clearly when AM2Z_BIN is not set to a binary
        super().setUp()
        self.node, self.workspace = node, workspace

    def start_dashboard(self, *args):
        board = Dashboard(self.node, self.workspace, ("--redis", self.redis.url, "--interval", INTERVAL, *args))
        self.addCleanup(board.terminate)
        return board

    def submit(self, flow, state, *prefix, extra=()):
        """Runs `flow` on the workers (run --detach, then result --wait); returns the run id."""
        path = self.write_tmp(f"input-{time.monotonic_ns()}.json", json.dumps(state))
        detached = self.run_redis(flow, "-i", path, "--detach", "-c", *prefix, *extra)
        self.assertEqual(detached.code, 0, detached.describe())
        run = detached.json()["run"]
        done = harness.run("result", run, "--redis", self.redis.url, "--wait", *prefix, timeout=30)
        self.assertEqual(done.code, 0, done.describe())
        return run

    def wait_for_queues(self, board, predicate, what, timeout=10.0):
        """Polls GET /api/queues until predicate(queues) holds; returns the queues."""
        deadline = time.monotonic() + timeout
        while True:
            queues = board.queues()
            if predicate(queues):
                return queues
            if time.monotonic() > deadline:
                self.fail(f"{what} within {timeout}s: listed {sorted(queues)}\n{board.output()}")
            time.sleep(0.1)

    def assertShopRun(self, board, run, state, prefix="bull"):
        """The run's five queues, each with its one completed job, readable through Bull Board."""
        queues = board.queues()
        self.assertEqual(set(queues), SHOP_QUEUES, "the served but never used shop.idle is no queue yet; "
                                                   "am2z's own keys are no queue")
        for name in SHOP_QUEUES:
            counts = queues[name]["counts"]
            self.assertEqual(counts["completed"], 1, f"{name}: {counts}")
            self.assertEqual(sum(counts.values()), 1, f"{name}: {counts}")
            self.assertEqual(queues[name]["jobs"], [], "jobs are listed only for the active queue")
            self.assertEqual(queues[name]["delimiter"], ".", "the menu groups a flow's queues")
            self.assertTrue(queues[name]["hasWorkers"], f"{name}: the am2z worker is listed as its worker")

        nodes = {"shop.stamp": "n.0.0", "shop.one": "n.0.1.0", "shop.two": "n.0.1.1", "shop.finish": "n.0.2",
                 "shop._join": "n.0.1"}
        jobs = {}
        for name, node in nodes.items():
            [job] = board.jobs(name)
            jobs[name] = job
            # the id is r<run>.<node path>; opts.am2z names the run, the node and the flow
            self.assertEqual(job["id"], f"r{run}.{node}", name)
            self.assertEqual(job["opts"]["am2z"]["run"], run, name)
            self.assertEqual(job["opts"]["am2z"]["node"], node, name)
            self.assertEqual(job["opts"]["am2z"]["flow"], "shop", name)
            self.assertFalse(job["isFailed"], name)
            self.assertEqual(job["attempts"], 1, name)
            self.assertLessEqual(job["timestamp"], job["finishedOn"], name)
        for name in ("stamp", "one", "two", "finish"):
            self.assertEqual(jobs[f"shop.{name}"]["name"], name, "a step job is named after its processor")
        stamp = jobs["shop.stamp"]
        self.assertEqual(self.data_of(stamp["data"]), state)
        self.assertEqual(stamp["data"]["metadata"]["version"], 1)
        self.assertEqual(self.data_of(stamp["returnValue"]), {**state, "stamped": True})
        self.assertEqual(jobs["shop.one"]["data"], stamp["returnValue"], "a branch starts from the parallel's input")
        self.assertEqual(self.data_of(jobs["shop.finish"]["returnValue"]),
                         {**state, "stamped": True, "one": 1, "two": 2, "status": "done"})

        # one job, and the join's flow tree (Bull Board opens it with the queue's prefix)
        status, one = board.request("GET", f"/api/queues/shop.finish/{jobs['shop.finish']['id']}")
        self.assertEqual(status, 200, one)
        self.assertEqual(one["status"], "completed")
        self.assertEqual(one["job"]["returnValue"], jobs["shop.finish"]["returnValue"])
        join_id = jobs["shop._join"]["id"]
        status, flow = board.request("GET", f"/api/queues/shop._join/{join_id}/flow")
        self.assertEqual(status, 200, flow)
        root = flow["flowRoot"]
        self.assertEqual(root["id"], join_id)
        self.assertEqual(root["state"], "completed")
        self.assertEqual(sorted((c["queueName"], c["id"], c["state"]) for c in root["children"]),
                         [("shop.one", f"r{run}.n.0.1.0", "completed"), ("shop.two", f"r{run}.n.0.1.1", "completed")])
        self.assertEqual(jobs["shop.one"]["opts"]["parent"]["queue"], f"{prefix}:shop._join")

    def test_lists_a_runs_queues_and_finds_later_ones(self):
        shop = self.write_tmp("shop.yaml", SHOP_FLOW)
        late = self.write_tmp("late.yaml", LATE_FLOW)
        self.start_worker(shop, late, args=("-c", "4"))
        state = {"mode": "ok", "order": 7, "customer": {"name": "Ada"}}
        run = self.submit(shop, state)

        board = self.start_dashboard()
        self.assertIn("5 queue(s)", board.lines[0])
        self.assertShopRun(board, run, state)
        self.assertEqual(self.redis.client("KEYS", "bull:*:meta"), [], "looking wrote to the queues")

        # Bull Board's page itself
        status, page = board.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn("<html", page.lower())

        # `late.ping` is served from the start but gets its first job only now
        self.assertNotIn("late.ping", board.queues())
        late_run = self.submit(late, {"n": 1})
        added = time.monotonic()
        queues = self.wait_for_queues(board, lambda q: "late.ping" in q, "late.ping was not discovered")
        self.assertLess(time.monotonic() - added, 5.0, "found again every 500ms")
        self.assertEqual(queues["late.ping"]["counts"]["completed"], 1)
        self.assertEqual(set(queues), SHOP_QUEUES | {"late.ping"})
        [ping] = board.jobs("late.ping")
        self.assertEqual((ping["id"], ping["name"]), (f"r{late_run}.n", "ping"))
        self.assertEqual(self.data_of(ping["returnValue"]), {"n": 1, "pong": True})
        self.assertTrue(any("new queue(s): late.ping" in line for line in board.lines), board.output())
        self.assertEqual(board.terminate(), 0, board.output())  # SIGTERM: a clean exit

    def test_other_prefix_shows_its_own_deployment_only(self):
        shop = self.write_tmp("shop.yaml", SHOP_FLOW)
        late = self.write_tmp("late.yaml", LATE_FLOW)
        prefix = ("--prefix", "{blue}")
        self.start_worker(shop, args=("-c", "4", *prefix))
        self.start_worker(late, args=("-c", "2"))  # the default deployment, on the same Redis
        state = {"mode": "ok", "order": 8}
        # --publish-events: am2z's own {blue}:am2z:events stream is named like a queue's events
        run = self.submit(shop, state, *prefix, extra=("--publish-events",))
        self.submit(late, {"n": 2})
        keys = self.redis.client("KEYS", "*")  # (a test's Redis is small; the dashboard SCANs)
        self.assertIn("{blue}:am2z:events", keys)
        self.assertTrue(any(k.startswith("bull:late.ping:") for k in keys), keys)

        board = self.start_dashboard(*prefix)
        self.assertIn("prefix '{blue}'", board.lines[0])
        self.assertShopRun(board, run, state, prefix="{blue}")

        # Bull Board's own actions reach the same keys: shop.two paused and obliterated from the
        # board is dropped at the next discovery
        for method, path, body in (("PUT", "/api/queues/shop.two/pause", None),
                                   ("PUT", "/api/queues/shop.two/obliterate", {})):
            status, reply = board.request(method, path, body=body)
            self.assertEqual(status, 200, f"{method} {path}: {reply}")
        queues = self.wait_for_queues(board, lambda q: "shop.two" not in q, "the obliterated shop.two stayed")
        self.assertEqual(set(queues), SHOP_QUEUES - {"shop.two"})
        self.assertTrue(any("queue(s) gone: shop.two" in line for line in board.lines), board.output())

        # the default prefix's dashboard sees the other deployment only
        other = self.start_dashboard()
        self.assertEqual(set(other.queues()), {"late.ping"})

    def test_a_prefix_with_glob_characters_is_matched_literally(self):
        # (keys written by hand: am2z accepts any prefix without ':', and SCAN's MATCH is a glob)
        for key in ("[x]:q1:events", "x:q3:events"):
            self.redis.client("XADD", key, "*", "event", "added")
        self.redis.client("HSET", "[x]:q1:7", "name", "job")
        self.redis.client("SET", "[x]:q2:stalled-check", "1")  # what serving an empty queue leaves
        board = self.start_dashboard("--prefix", "[x]")
        queues = board.queues()
        self.assertEqual(set(queues), {"q1"})
        self.assertEqual(sum(queues["q1"]["counts"].values()), 0)

    def test_outlives_a_redis_restart(self):
        self.redis.client("XADD", "bull:before:events", "*", "event", "added")
        board = self.start_dashboard()
        self.assertEqual(set(board.queues()), {"before"})
        self.redis.restart(down_for=1.5)  # not persistent: comes back empty
        self.redis.client("XADD", "bull:after:events", "*", "event", "added")
        self.wait_for_queues(board, lambda q: set(q) == {"after"}, "the queues of the restarted Redis were not listed")
        self.assertIsNone(board.proc.poll(), board.output())
        said = [line.split(" redis://")[0] for line in board.stderr]
        self.assertEqual(said, ["am2z-dashboard: cannot list the queues of", "am2z-dashboard: reading"],
                         f"one message when Redis goes, one when it is back:\n{board.output()}")

    def test_pins_exact_versions_and_the_interop_tests_bullmq(self):
        with open(os.path.join(DASHBOARD, "package.json"), encoding="utf-8") as f:
            wanted = json.load(f)["dependencies"]
        with open(os.path.join(DASHBOARD, "package-lock.json"), encoding="utf-8") as f:
            locked = json.load(f)["packages"]
        self.assertEqual(wanted["bullmq"], support.PINNED["bullmq"], "the bullmq am2z is tested against")
        for package, version in wanted.items():
            self.assertRegex(version, r"^\d+\.\d+\.\d+$", f"{package} is not pinned exactly")
            self.assertEqual(locked[f"node_modules/{package}"]["version"], version, f"package-lock.json: {package}")

    def test_refuses_bad_options_and_an_unreachable_redis(self):
        script = os.path.join(self.workspace, "server.mjs")
        cases = (
            (["--prefix", "a:b"], 2, "--prefix must be non-empty and contain no ':'"),
            (["--interval", "soon"], 2, "bad duration 'soon'"),
            (["--redis", f"redis://127.0.0.1:{redis_harness.free_dead_port()}"], 4, "cannot read Redis at"),
        )
        for args, code, message in cases:
            proc = subprocess.run([self.node, script, "--port", "0", *args], cwd=self.workspace,
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, code, f"{args}: {proc.stderr}")
            self.assertIn(message, proc.stderr, args)


if __name__ == "__main__":
    unittest.main()
