"""am2z on a Redis Cluster of three masters started here (redis-server --cluster-enabled).

A deployment (one --prefix) keeps every key in one hash slot, so its prefix must be a hash tag such
as {tenant}: its scripts then run on the one master that owns the slot, whichever node the URL
names (am2z follows MOVED). Load spreads across masters by giving tenants, flows or teams their own
tagged prefix and workers. An untagged prefix is refused with a clear error. The slot of a
deployment moved to another master while its workers serve it is followed too.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from redis_harness import Client, WorkersTestCase, drain_stderr, free_port

# A chain with a parallel and a batch: joins, continuations and outcomes all live in the slot.
FLOW = """\
version: 1
name: spread
processors:
  first: {use: set, with: {values: {first: true}}}
  left: {use: set, with: {values: {left: true}}}
  right: {use: set, with: {values: {right: true}}}
  each: {use: set, with: {values: {seen: true}}}
  nap: {use: sleep, with: {duration: %s}}
flow:
  chain:
    - first
    - parallel: [left, right]
    - {batch: each, items: .items, output: .done}
    - nap
"""


def cluster_port():
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class Cluster:
    """Three masters on free ports, slots spread by redis-cli --cluster create, no replicas."""

    def __init__(self, masters=3):
        self.dir = tempfile.TemporaryDirectory(prefix="am2z-cluster-")
        # distinct: nothing binds a port before the servers start, so a pick can come up twice
        self.ports = []
        while len(self.ports) < masters:
            port = cluster_port()
            if port not in self.ports:
                self.ports.append(port)
        self.procs = []
        for port in self.ports:
            node_dir = os.path.join(self.dir.name, str(port))
            os.makedirs(node_dir)
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", node_dir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.clients = [self._connect(p, proc) for p, proc in zip(self.ports, self.procs)]
        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports], "--cluster-replicas", "0",
             "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if create.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout}{create.stderr}")
        if not harness.wait_for(self._ready, 30):
            self.stop()
            raise RuntimeError("the cluster did not reach cluster_state:ok")

    def _connect(self, port, proc):
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Client(port)
                if c("PING") == "PONG":
                    return c
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server --cluster-enabled did not start on port {port}")
            time.sleep(0.05)

    def _ready(self):
        for c in self.clients:
            if "cluster_state:ok" not in c("CLUSTER", "INFO"):
                return False
            # every node agrees on who owns every slot
            if sum(end - start + 1 for start, end, *_ in c("CLUSTER", "SLOTS")) != 16384:
                return False
        return True

    def url(self, i):
        return f"redis://127.0.0.1:{self.ports[i]}"

    def node_id(self, i):
        return self.clients[i]("CLUSTER", "MYID")

    def owner(self, tag):
        """Index of the master that owns the slot of keys tagged `tag`."""
        slot = self.clients[0]("CLUSTER", "KEYSLOT", tag)
        for start, end, master, *_ in self.clients[0]("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return self.ports.index(int(master[1]))
        raise AssertionError(f"no owner for slot {slot}")

    def keys(self, i, pattern):
        out, cursor = [], "0"
        while True:
            cursor, batch = self.clients[i]("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            out += batch
            if cursor == "0":
                return out

    def move_slot(self, tag, to):
        """Moves the slot of `tag` with its keys to master `to`, as redis-cli --cluster reshard does."""
        self.begin_move(tag, to)
        self.end_move(tag, to)

    def begin_move(self, tag, to):
        """Marks the slot of `tag` migrating to master `to` and moves its keys: until end_move, a
        command on a key the old master no longer has is answered ASK."""
        slot = self.clients[0]("CLUSTER", "KEYSLOT", tag)
        src = self.owner(tag)
        dst, src_c = self.clients[to], self.clients[src]
        dst("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(src))
        src_c("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(to))
        while True:
            keys = src_c("CLUSTER", "GETKEYSINSLOT", slot, 1000)
            if not keys:
                break
            src_c("MIGRATE", "127.0.0.1", self.ports[to], "", 0, 10000, "KEYS", *keys)

    def end_move(self, tag, to):
        slot = self.clients[0]("CLUSTER", "KEYSLOT", tag)
        for c in self.clients:
            c("CLUSTER", "SETSLOT", slot, "NODE", self.node_id(to))
        assert harness.wait_for(lambda: self.owner(tag) == to, 10)

    def stop(self):
        for c in getattr(self, "clients", []):
            try:
                c.close()
            except OSError:
                pass
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.dir.cleanup()


def tags_on_different_masters(cluster, avoid):
    """Two hash tags whose slots are on two different masters, neither on master `avoid`."""
    found = {}
    for n in range(1000):
        tag = f"t{n}"
        owner = cluster.owner("{" + tag + "}")
        if owner != avoid and owner not in found:
            found[owner] = tag
        if len(found) == 2:
            return list(found.values())
    raise AssertionError("no two tags on different masters")


class OnACluster(WorkersTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        super().setUp()
        for c in self.cluster.clients:
            c("FLUSHALL")

    def start_worker(self, flow, url, prefix, *args):
        w = harness.start("worker", "--redis", url, "--prefix", prefix, "--flows", flow, "-c", "4", *args,
                          "--log-level", "warn")
        self.workers.append(drain_stderr(w))
        return w

    def submit(self, flow, url, prefix, items, *args, timeout=60):
        path = self.write_tmp(f"in-{prefix}-{len(items)}.json", json.dumps({"items": items}))
        return harness.run("run", flow, "--redis", url, "--prefix", prefix, "-i", path, *args, timeout=timeout)

    def check_state(self, out, items):
        state = self.assertSucceeded(out)
        self.assertTrue(state["first"] and state["left"] and state["right"], state)
        self.assertEqual(state["done"]["counts"], {"total": len(items), "succeeded": len(items), "failed": 0})
        return state

    def test_two_tagged_deployments_run_on_their_own_masters_through_any_node(self):
        flow = self.write_tmp("spread.yaml", FLOW % "1ms")
        a, b = tags_on_different_masters(self.cluster, avoid=0)
        prefixes = ["{" + a + "}", "{" + b + "}"]
        # Every am2z process is given master 0, which owns neither slot: each follows MOVED.
        for p in prefixes:
            self.start_worker(flow, self.cluster.url(0), p)
        for p in prefixes:
            for n in range(5):
                items = list(range(n + 1))
                self.check_state(self.submit(flow, self.cluster.url(0), p, items), items)
        for p in prefixes:
            owner = self.cluster.owner(p)
            for i in range(3):
                keys = self.cluster.keys(i, p + "*")
                if i == owner:
                    self.assertTrue(any(k.startswith(p + ":spread.first:") for k in keys), keys[:5])
                    self.assertTrue(any(k.startswith(p + ":am2z:run:") for k in keys), keys[:5])
                else:
                    self.assertEqual(keys, [], f"keys of {p} on master {i}, which does not own its slot")
        # stats and events read the deployment from any node too
        stats = harness.run("stats", "--redis", self.cluster.url(0), "--prefix", prefixes[0], "--json")
        self.assertEqual(stats.code, 0, stats.stderr)
        counts = {q["name"]: q for q in json.loads(stats.stdout)["queues"]}
        self.assertEqual(counts["spread.first"]["completed"], 5)

    def test_an_untagged_prefix_is_refused_with_the_reason(self):
        flow = self.write_tmp("spread.yaml", FLOW % "1ms")
        out = self.submit(flow, self.cluster.url(1), "bull", [1])
        self.assertEqual(out.code, 4, out.stderr)
        self.assertIn("is a Redis Cluster node", out.stderr)
        self.assertIn("--prefix must be a hash tag such as '{am2z}'", out.stderr)
        worker = harness.run("worker", "--redis", self.cluster.url(1), "--flows", flow, "--prefix", "plain")
        self.assertEqual(worker.code, 4, worker.stderr)
        self.assertIn("--prefix must be a hash tag", worker.stderr)
        for i in range(3):
            self.assertEqual(self.cluster.clients[i]("DBSIZE"), 0, "a refused deployment wrote keys")

    def test_a_worker_killed_mid_step_on_a_cluster_loses_no_run(self):
        flow = self.write_tmp("spread.yaml", FLOW % "1500ms")
        (tag, _) = tags_on_different_masters(self.cluster, avoid=2)
        prefix = "{" + tag + "}"
        owner = self.cluster.clients[self.cluster.owner(prefix)]
        fast = ("--lock-duration", "1s", "--stalled-interval", "300ms")
        doomed = self.start_worker(flow, self.cluster.url(2), prefix, *fast)
        path = self.write_tmp("in.json", json.dumps({"items": [1, 2, 3]}))
        submit = harness.start("run", flow, "--redis", self.cluster.url(2), "--prefix", prefix, "-i", path)
        self.assertTrue(harness.wait_for(lambda: owner("LLEN", prefix + ":spread.nap:active") == 1, 20))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        self.start_worker(flow, self.cluster.url(2), prefix, *fast)
        state = self.check_state(harness.finish(submit, timeout=60), [1, 2, 3])
        self.assertTrue(state["first"])

    def test_a_deployment_whose_slot_moves_to_another_master_keeps_running(self):
        flow = self.write_tmp("spread.yaml", FLOW % "200ms")
        (tag, _) = tags_on_different_masters(self.cluster, avoid=1)
        prefix = "{" + tag + "}"
        self.start_worker(flow, self.cluster.url(0), prefix)
        self.start_worker(flow, self.cluster.url(1), prefix)
        before = [harness.start("run", flow, "--redis", self.cluster.url(0), "--prefix", prefix, "-i",
                                self.write_tmp(f"b{n}.json", json.dumps({"items": [n]}))) for n in range(4)]
        time.sleep(0.3)  # the runs are under way when their slot moves
        self.cluster.move_slot(prefix, 1)
        after = [harness.start("run", flow, "--redis", self.cluster.url(2), "--prefix", prefix, "-i",
                               self.write_tmp(f"a{n}.json", json.dumps({"items": [n]}))) for n in range(4)]
        for proc in before + after:
            self.check_state(harness.finish(proc, timeout=90), [0])
        self.assertEqual(self.cluster.keys(0, prefix + "*"), [], "keys left on the old master")
        self.assertTrue(self.cluster.keys(1, prefix + ":am2z:run:*"))

    def test_a_submission_that_waits_out_a_slot_move_loads_the_scripts_on_the_new_master(self):
        # A run submitted while its slot migrates is answered ASK and waits; once the move ends it
        # follows MOVED to a master that never loaded am2z's scripts and step function ("Function
        # not found") and loads them there.
        flow = self.write_tmp("spread.yaml", FLOW % "1ms")
        (tag, _) = tags_on_different_masters(self.cluster, avoid=1)
        prefix = "{" + tag + "}"
        for c in self.cluster.clients:
            c("SCRIPT", "FLUSH")
            c("FUNCTION", "FLUSH")
        self.cluster.begin_move(prefix, 1)
        path = self.write_tmp("moving.json", json.dumps({"items": [7]}))
        submit = harness.start("run", flow, "--redis", self.cluster.url(0), "--prefix", prefix, "-i", path)
        time.sleep(1.0)
        self.assertIsNone(submit.poll(), "the submission did not wait for the slot move to end")
        self.cluster.end_move(prefix, 1)
        self.start_worker(flow, self.cluster.url(2), prefix)
        self.check_state(harness.finish(submit, timeout=60), [7])
        self.assertTrue(self.cluster.keys(1, prefix + ":am2z:run:*"))


if __name__ == "__main__":
    unittest.main()
