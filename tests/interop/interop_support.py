"""Plumbing for the BullMQ interop tests: the pinned npm packages installed outside the source
tree, and the Node scripts of this directory run against a test's Redis. Redis and am2z
processes come from tests/e2e (harness.py, redis_harness.py).

Node and npm are required: when one is missing, or `npm ci` cannot install the pinned packages
(no network), the tests fail with a message that says so; they never skip.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import harness  # noqa: E402  (tests/e2e/harness.py: the am2z binary and its processes)
import redis_harness  # noqa: E402,F401  (tests/e2e/redis_harness.py: a private redis-server)

NODE_SCRIPTS = ("lib.mjs", "foreign_jobs.mjs", "flow_producer.mjs", "inspect_queues.mjs",
                "watch_events.mjs", "remote_worker.mjs", "job_scheduler.mjs")
PINNED = {"bullmq": "6.7.0", "@bull-board/api": "9.10.2"}
MIN_NODE_MAJOR = 18
NPM_TIMEOUT = 300.0
SCRIPT_TIMEOUT = 60.0


class SetupError(RuntimeError):
    """A prerequisite of the interop tests is missing: the tests fail with this message."""


def _tool(name, why):
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"the BullMQ interop tests need `{name}` on PATH ({why}); install it (CI has it)")
    return path


# --- the npm packages --------------------------------------------------------------------------

def _workspace_dir(lock_digest, env_var, name):
    """$env_var (CTest points it into the build directory), else a folder in $TMPDIR named after
    the lock file, so a changed lock never reuses stale packages."""
    return os.environ.get(env_var) or os.path.join(tempfile.gettempdir(), f"am2z-{name}-node-{lock_digest[:16]}")


def _installed_versions(workspace, pinned):
    versions = {}
    for package in pinned:
        try:
            with open(os.path.join(workspace, "node_modules", package, "package.json"), encoding="utf-8") as f:
                versions[package] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            versions[package] = None
    return versions


def prepare_node_workspace(source=HERE, pinned=PINNED, scripts=NODE_SCRIPTS, env_var="AM2Z_INTEROP_NODE_DIR",
                           name="interop"):
    """Installs the packages of `source`'s package-lock.json with `npm ci` into a scratch folder
    (once per lock file) and copies the scripts next to them, so their imports resolve; returns
    (node, folder). The defaults are this directory's; examples/dashboard passes its own."""
    node = _tool("node", "it runs BullMQ and Bull Board")
    npm = _tool("npm", "it installs bullmq and @bull-board/api")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        raise SetupError(f"cannot read the node version from {version!r}") from None
    if major < MIN_NODE_MAJOR:
        raise SetupError(f"node {version} is too old for bullmq {pinned['bullmq']}: need node >= {MIN_NODE_MAJOR}")

    with open(os.path.join(source, "package-lock.json"), "rb") as f:
        lock = f.read()
    digest = hashlib.sha256(lock).hexdigest()
    workspace = _workspace_dir(digest, env_var, name)
    os.makedirs(workspace, exist_ok=True)
    stamp = os.path.join(workspace, ".am2z-lock-sha256")
    try:
        with open(stamp, encoding="ascii") as f:
            installed = f.read().strip()
    except OSError:
        installed = ""
    if installed != digest or _installed_versions(workspace, pinned) != pinned:
        for file in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(source, file), os.path.join(workspace, file))
        # --ignore-scripts: msgpackr's optional native build is not needed (it falls back to JS).
        cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            proc = subprocess.run(cmd, cwd=workspace, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise SetupError(f"`npm ci` in {workspace} did not finish within {NPM_TIMEOUT:.0f}s "
                             "(is the npm registry reachable?)") from None
        if proc.returncode != 0:
            raise SetupError(f"`npm ci` in {workspace} failed with exit code {proc.returncode}; the interop tests "
                             f"need the npm registry (network) to install {pinned}:\n{proc.stderr[-3000:]}")
        found = _installed_versions(workspace, pinned)
        if found != pinned:
            raise SetupError(f"`npm ci` installed {found}, expected {pinned}")
        with open(stamp, "w", encoding="ascii") as f:
            f.write(digest)
    for script in scripts:
        shutil.copyfile(os.path.join(source, script), os.path.join(workspace, script))
    return node, workspace


# --- Node scripts ------------------------------------------------------------------------------

class NodeScripts:
    """Runs this directory's .mjs scripts (copied into the npm workspace) against one Redis."""

    def __init__(self, node, workspace, redis_port):
        self.node = node
        self.workspace = workspace
        self.env = dict(os.environ, AM2Z_INTEROP_REDIS_PORT=str(redis_port))

    def _cmd(self, script, arguments):
        return [self.node, os.path.join(self.workspace, script), json.dumps(arguments)]

    def run(self, script, arguments, timeout=SCRIPT_TIMEOUT):
        """Runs a script to its end; returns its last stdout JSON line; fails on a non-zero exit."""
        cmd = self._cmd(script, arguments)
        proc = subprocess.run(cmd, cwd=self.workspace, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{script} exited with {proc.returncode}\n--- stderr ---\n{proc.stderr[-4000:]}"
                                 f"\n--- stdout ---\n{proc.stdout[-2000:]}")
        lines = harness.json_lines(proc.stdout)
        if not lines:
            raise AssertionError(f"{script} printed no JSON\n{proc.stderr[-2000:]}")
        return lines[-1]

    def start(self, script, arguments, ready_timeout=20.0):
        """Starts a long-running script and waits for its {"ready": true} line."""
        return BackgroundScript(self._cmd(script, arguments), self.workspace, self.env, ready_timeout)


def _ready_line(line):
    return line.strip() == '{"ready":true}'


class BackgroundScript:
    """A script running beside am2z: its stdout lines are collected by a thread. It is ready when
    `ready(line)` holds for a line of its stdout (by default the line {"ready":true})."""

    def __init__(self, cmd, cwd, env, ready_timeout, ready=_ready_line):
        self.name = os.path.basename(cmd[1])
        self._is_ready = ready
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.stderr = []
        self._ready = threading.Event()
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._readers:
            t.start()
        if not self._ready.wait(ready_timeout):
            self.kill()
            raise AssertionError(f"{self.name} did not report ready within {ready_timeout}s\n{''.join(self.stderr)}")
        if self.proc.poll() not in (None, 0):
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}\n{''.join(self.stderr)}")

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if self._is_ready(line):
                self._ready.set()
        self._ready.set()  # exited early: start() reports it

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def result(self, timeout=SCRIPT_TIMEOUT):
        """Waits for the script to end; returns its last JSON line."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} still running after {timeout}s\n{''.join(self.stderr)[-3000:]}")
        self._close()
        if code != 0:
            raise AssertionError(f"{self.name} exited with {code}\n{''.join(self.stderr)[-4000:]}")
        docs = harness.json_lines("".join(self.lines))
        return docs[-1]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def terminate(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return self.proc.returncode

    def _close(self):
        for t in self._readers:
            t.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()
