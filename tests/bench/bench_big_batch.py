#!/usr/bin/env python3
"""Big fan-outs on Redis (issue 11, item 3): a batch of N items after a step, and a parallel of
1,000 branches (the flows tests/e2e/test_big_batches.py runs), each by one `am2z worker -c 8`.
One JSON line per scenario: wall time, peak RSS of the worker and the submitter (VmHWM, the
submitter's sampled every 5 ms), Redis's peak memory (sampled every 20 ms), the slowest command
SLOWLOG saw and how many took over 10 ms, and whether the results came back complete and in order.

    bench_big_batch.py AM2Z_BIN REDIS_URL ITEMS

The Redis must be private to the benchmark: it is FLUSHALLed and its SLOWLOG settings changed.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from redis_harness import Client  # noqa: E402
from test_big_batches import AFTER_A_STEP, WIDE  # noqa: E402  the flows its end-to-end tests run


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


class MemorySampler(threading.Thread):
    """Redis's used_memory, sampled: INFO's used_memory_peak never goes down between scenarios."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = Client(port)
        self.peak = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            info = self.client("INFO", "memory")
            for line in info.splitlines():
                if line.startswith("used_memory:"):
                    self.peak = max(self.peak, int(line.split(":")[1]))
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.join()
        self.client.close()
        return round(self.peak / (1 << 20), 1)


def in_child(code, *args):
    """Runs `code` in a Python of its own, so that this process stays small while it samples."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True).stdout


def word(w):
    """A SLOWLOG entry's argument as text."""
    return w if isinstance(w, str) else w.decode(errors="replace")


def scenario(name, bin_path, url, port, flow_text, input_code, check_code):
    c = Client(port)
    c("FLUSHALL")
    c("CONFIG", "SET", "slowlog-log-slower-than", "1000")
    c("CONFIG", "SET", "slowlog-max-len", "100000")
    c("SLOWLOG", "RESET")
    with tempfile.TemporaryDirectory(prefix="am2z-bench-") as tmp:
        flow = os.path.join(tmp, "flow.yaml")
        with open(flow, "w") as f:
            f.write(flow_text)
        path = os.path.join(tmp, "in.json")
        in_child(input_code, path)
        worker = subprocess.Popen([bin_path, "worker", "--redis", url, "--flows", flow, "-c", "8", "-q"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = MemorySampler(port)
        sampler.start()
        try:
            time.sleep(0.3)
            start = time.monotonic()
            out_path = os.path.join(tmp, "out.json")
            with open(out_path, "w") as out:
                sub = subprocess.Popen([bin_path, "run", flow, "--redis", url, "-i", path, "-q"], stdout=out,
                                       stderr=subprocess.DEVNULL)
                # VmHWM, sampled: ru_maxrss would count this Python's own size, which a forked
                # child starts with; the last 5 ms of the submitter can be missed.
                submitter_mb = 0
                while sub.poll() is None:
                    try:
                        submitter_mb = max(submitter_mb, peak_rss_mb(sub.pid) or 0)
                    except OSError:
                        pass
                    time.sleep(0.005)
            seconds = time.monotonic() - start
            worker_mb = peak_rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            redis_mb = sampler.stop()
        ok = sub.returncode == 0 and in_child(check_code, out_path).strip() == "ok"
    # Not the benchmark's own SLOWLOG RESET above: freeing the previous scenario's log logged it at
    # 80 ms once (2026-12-01 17:40), as the slowest command of a run it took no part in.
    entries = [entry for entry in c("SLOWLOG", "GET", "-1") if word(entry[3][0]).upper() != "SLOWLOG"]
    slow = [entry[2] for entry in entries]
    # the slowest command's first words (a script call's SHA, or the command and its key)
    slowest = max(entries, key=lambda entry: entry[2], default=None)
    slowest_words = [word(w) for w in slowest[3][:3]] if slowest else []
    c.close()
    print(json.dumps({"scenario": name, "ok": ok, "exit": sub.returncode, "seconds": round(seconds, 2),
                      "worker_peak_rss_mb": worker_mb, "submitter_peak_rss_mb": submitter_mb,
                      "redis_peak_used_mb": redis_mb, "slowest_command_ms": round(max(slow, default=0) / 1000, 1), "slowest_command": " ".join(slowest_words),
                      "commands_over_10ms": sum(1 for us in slow if us > 10_000)}), flush=True)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    bin_path, url, items = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host_port = url.removeprefix("redis://").split("/")[0]
    host, _, port = host_port.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"bench_big_batch.py: needs a Redis on this machine (127.0.0.1), got {url}")

    write_items = f"import json, sys; json.dump({{'items': list(range({items}))}}, open(sys.argv[1], 'w'))"
    batch_ok = ("import json, sys; d = json.load(open(sys.argv[1]))['out']; "
                f"print('ok' if d['counts'] == {{'total': {items}, 'succeeded': {items}, 'failed': 0}} "
                f"and [r['item'] for r in d['results']] == list(range({items})) else 'bad')")
    scenario(f"batch_{items}", bin_path, url, int(port), AFTER_A_STEP, write_items, batch_ok)
    branches = 1000
    wide_ok = ("import json, sys; s = json.load(open(sys.argv[1])); "
               "print('ok' if s.get('first') is True and s.get('t') == 1 else 'bad')")
    scenario(f"parallel_{branches}", bin_path, url, int(port), WIDE % ", ".join(["tick"] * branches),
             "import sys; open(sys.argv[1], 'w').write('{}')", wide_ok)


if __name__ == "__main__":
    main()
