"""The processes a chaos scenario breaks: a private redis-server it can shut down, pause and starve
of memory, and am2z workers it can kill -9 and restart. Everything lives in one temporary
directory; workers log to files there so a crash leaves its last words behind.

Reuses the end-to-end tests' harness (the am2z binary from AM2Z_BIN, the RESP client).
"""

import collections
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import harness  # noqa: E402  (path set just above)
import redis_harness  # noqa: E402
from redis_harness import Client, RespError  # noqa: E402,F401  (re-exported for the scenarios)

# The queues' sets and lists a job can sit in (BullMQ 6 layout).
LISTS = ("wait", "active", "paused")
ZSETS = ("delayed", "prioritized", "waiting-children", "completed", "failed")
PENDING = ("wait", "active", "paused", "delayed", "prioritized", "waiting-children")


def scratch_dir(testcase, prefix):
    """A temporary directory removed after the test, or kept (and named) with AM2Z_CHAOS_KEEP=1
    to look at the ledger and the worker logs."""
    if os.environ.get("AM2Z_CHAOS_KEEP"):
        path = tempfile.mkdtemp(prefix=prefix)
        print(f"chaos files in {path}", flush=True)
        return path
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    testcase.addCleanup(tmp.cleanup)
    return tmp.name


class Redis(redis_harness.RedisServer):
    """A private server; `persistent` adds an append-only file (fsync always) that a restart reads."""

    def shutdown_and_restart(self, down_for):
        """SHUTDOWN (which writes the AOF out), stay down `down_for` seconds, start on the same port."""
        try:
            self.client("SHUTDOWN")
        except (ConnectionError, OSError, RespError):
            pass  # the server closes the connection as it goes
        self.proc.wait(timeout=20)
        self.client.close()
        time.sleep(down_for)
        try:
            self._launch()
        except RespError as e:  # LOADING: it is up, reading its append-only file
            if "LOADING" not in str(e):
                raise
            harness.wait_for(self._ready, 60, interval=0.05)

    def _ready(self):
        try:
            return self.client("PING") == "PONG"
        except RespError:
            return False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        self.resume()  # a stopped server would ignore SIGTERM
        super().stop()

    def info(self, section):
        out = {}
        for line in self.client("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def fresh_client(self):
        return Client(self.port)


def active_jobs(client, queues):
    """(queue, job id) of every job in an active list right now."""
    out = []
    for q in queues:
        for job_id in client("LRANGE", f"{q}active", 0, -1) or []:
            out.append((q, job_id))
    return out


def pending_count(client, queues):
    """Jobs not yet ended on `queues`: waiting, active, delayed, waiting for children."""
    total = 0
    for q in queues:
        for name in PENDING:
            kind = client("TYPE", q + name)
            if kind == "list":
                total += client("LLEN", q + name)
            elif kind == "zset":
                total += client("ZCARD", q + name)
    return total


class Workers:
    """`count` am2z workers on one Redis; each (re)start gets a new name, so its locks (whose
    tokens start with the name) tell which incarnation holds a job."""

    def __init__(self, tmp, redis_url, flows, count, args=()):
        self.tmp = tmp
        self.url = redis_url
        self.flows = flows
        self.args = list(args)
        self.procs = [None] * count
        self.names = [None] * count
        self.generation = 0
        self.crashes = []  # (name, exit code, log tail): workers that exited without being killed
        for slot in range(count):
            self.start(slot)

    def start(self, slot):
        self.generation += 1
        name = f"chaos-w{slot}-g{self.generation}"
        log = open(os.path.join(self.tmp, f"{name}.log"), "wb")  # noqa: SIM115 - the child owns it
        cmd = [harness.binary(), "worker", "--redis", self.url, "--name", name, "--log-level", "warn",
               *[a for f in self.flows for a in ("--flows", f)], *self.args]
        env = dict(os.environ)
        env.pop("AM2Z_LOG_LEVEL", None)
        self.procs[slot] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        self.names[slot] = name
        return self.procs[slot]

    def log_tail(self, name, size=1500):
        try:
            with open(os.path.join(self.tmp, f"{name}.log"), "rb") as f:
                return f.read()[-size:].decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_flood(self):
        """(most lines one worker logged within one second, that line): a worker that retries
        without backoff floods its log."""
        worst = (0, "")
        for name in os.listdir(self.tmp):
            if not name.startswith("chaos-w") or not name.endswith(".log"):
                continue
            per_second = collections.Counter()
            sample = {}
            with open(os.path.join(self.tmp, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    second = line[:19]  # ISO timestamp to the second
                    per_second[second] += 1
                    sample.setdefault(second, line[24:220].strip())
            if per_second:
                second, n = per_second.most_common(1)[0]
                if n > worst[0]:
                    worst = (n, sample[second])
        return worst

    def check_alive(self):
        """Restarts any worker that died on its own, recording it as a crash; returns how many."""
        died = 0
        for slot, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is not None:
                self.crashes.append({"worker": self.names[slot], "exit": proc.returncode,
                                     "log": self.log_tail(self.names[slot])})
                self.start(slot)
                died += 1
        return died

    def kill(self, slot, redis_client, queues):
        """kill -9 of one worker. It is frozen first (SIGSTOP), so the jobs it holds can be read
        from Redis exactly: active jobs whose lock token is this worker's. Returns that count."""
        proc = self.procs[slot]
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.05)  # a script call it sent just before is applied by Redis
        prefix = self.names[slot] + ":"
        held = 0
        for q, job_id in active_jobs(redis_client, queues):
            lock = redis_client("GET", f"{q}{job_id}:lock")
            if lock is not None and lock.startswith(prefix):
                held += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[slot] = None
        return held

    def stop(self):
        for slot, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            self.procs[slot] = None

    def alive(self):
        return [p for p in self.procs if p is not None and p.poll() is None]
