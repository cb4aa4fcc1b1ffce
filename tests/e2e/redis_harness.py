"""A private redis-server per test class, on a free port, and a tiny RESP client to inspect it.

Distributed tests never share a Redis with anything else: each class starts its own server
(no persistence) and stops it at the end. The server binary is redis-server from PATH.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RespError(Exception):
    pass


class Client:
    """Just enough RESP2 to send commands and read replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            data = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RespError(f"unexpected reply {line!r}")

    def hgetall(self, key):
        flat = self("HGETALL", key) or []
        return dict(zip(flat[::2], flat[1::2]))


class RedisServer:
    def __init__(self, persistent=False):
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (setup.sh installs it)")
        self.dir = tempfile.TemporaryDirectory(prefix="am2z-redis-")
        self.port = free_port()
        self.persistent = persistent
        self.socket = os.path.join(self.dir.name, "redis.sock")
        self._launch()

    def _launch(self):
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *durability,
             "--dir", self.dir.name, "--unixsocket", self.socket, "--unixsocketperm", "700"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client = Client(self.port)
                if self.client("PING") == "PONG":
                    break
            except OSError:
                pass
            except RespError as e:  # a persistent server answers LOADING while it reads its AOF
                if not str(e).startswith("LOADING"):
                    raise
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def restart(self, down_for=0.0):
        """Stops the server (its data stays on disk when persistent) and starts it again."""
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        time.sleep(down_for)
        self._launch()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def stop(self):
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - clean-up
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


def drain_stderr(proc):
    """Reads a background am2z's stderr as it comes, so a chatty process never blocks on a full
    pipe; worker_stderr(proc) returns it."""
    proc.am2z_stderr = []

    def read():
        for line in proc.stderr:
            proc.am2z_stderr.append(line)

    proc.am2z_drain = threading.Thread(target=read, daemon=True)
    proc.am2z_drain.start()
    return proc


def worker_stderr(proc, timeout=10):
    """What a process started with drain_stderr wrote to stderr (all of it once it has exited)."""
    if proc.poll() is not None:
        proc.am2z_drain.join(timeout)
    return "".join(proc.am2z_stderr)


class WorkersTestCase(harness.E2ETestCase):
    """Workers a test starts (appended to self.workers) are killed when it ends; when the test
    failed, the end of each one's stderr is printed."""

    def setUp(self):
        super().setUp()
        self.workers = []
        self.addCleanup(self._stop_workers)

    def _stop_workers(self):
        # (the cleanup runs with a fresh outcome: read this test's failures off the result)
        result = getattr(self._outcome, "result", None)
        failed = any(getattr(t, "test_case", t) is self for t, _ in getattr(result, "errors", []) + getattr(result, "failures", []))
        for n, w in enumerate(self.workers):
            if w.poll() is None:
                w.kill()
            w.wait()
            if failed and hasattr(w, "am2z_drain"):
                tail = worker_stderr(w)[-4000:]
                sys.stderr.write(f"\n--- worker {n} (exit {w.returncode}), end of its stderr:\n{tail}\n")


class DistributedTestCase(WorkersTestCase):
    """One Redis for the class, emptied before each test."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()

    def setUp(self):
        super().setUp()
        self.redis.client("FLUSHALL")

    def start_worker(self, *flows, args=(), env=None):
        proc = harness.start("worker", "--redis", self.redis.url, *[a for f in flows for a in ("--flows", f)],
                             *args, "--log-level", "warn", env=env)
        self.workers.append(drain_stderr(proc))
        return proc

    def run_redis(self, *args, timeout=30.0):
        return harness.run("run", *args, "--redis", self.redis.url, timeout=timeout)


def comparable(state):
    """A final state without what differs between any two runs: timestamps and the session id."""
    state = dict(state)
    meta = dict(state.pop("metadata", {}))
    return state, meta.get("version")


def free_dead_port():
    """A port nothing listens on."""
    return free_port()
