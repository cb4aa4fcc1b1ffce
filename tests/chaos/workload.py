"""The chaos workload and its bookkeeping: a 5-step exec chain whose steps append to a ledger,
runs submitted with `am2z run --detach`, outcomes read from Redis, and the report line.

Every run must end with exactly one outcome in am2z:run:<id>: completed with exactly the
expected state, or failed with a reason. The ledger tells which steps ran, and how often.
"""

import collections
import concurrent.futures
import json
import os
import re
import subprocess
import threading
import time

import cluster

STEPS = ("s1", "s2", "s3", "s4", "s5")
FLOW = "chaos"
QUEUES = [f"bull:{FLOW}.{s}:" for s in STEPS] + [f"bull:{FLOW}._join:"]
FULL = os.environ.get("AM2Z_CHAOS_FULL") == "1"


def size(quick, full):
    """The scenario's number of runs: AM2Z_CHAOS_RUNS, else full or quick size."""
    if os.environ.get("AM2Z_CHAOS_RUNS"):
        return int(os.environ["AM2Z_CHAOS_RUNS"])
    return full if FULL else quick


def reason_class(message):
    """A failure message without its run and job ids, so equal reasons count together."""
    return re.sub(r"[0-9a-f]{16}", "<run>", message)[:160]


def expected_data(rid):
    return {"rid": rid, "n": 5, **{s: i + 1 for i, s in enumerate(STEPS)}}


class Chain:
    """The flow file, its ledger and the runs submitted to it."""

    def __init__(self, tmp, step_sleep="0.2"):
        self.tmp = tmp
        self.ledger = os.path.join(tmp, "ledger")
        open(self.ledger, "w").close()
        self.flow = os.path.join(tmp, "chaos.yaml")
        step = os.path.join(cluster.HERE, "step.sh")
        lines = ["version: 1", f"name: {FLOW}", "processors:"]
        for s in STEPS:
            lines.append(f"  {s}: {{use: exec, with: {{argv: [sh, '{step}', {s}], "
                         f"env: {{LEDGER: '{self.ledger}', STEP_SLEEP: '{step_sleep}'}}}}}}")
        lines += ["flow:", f"  chain: [{', '.join(STEPS)}]", ""]
        with open(self.flow, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        self.lock = threading.Lock()
        self.runs = {}  # rid -> am2z run id
        self.refused = []  # (rid, exit code, last stderr line)
        self.next_rid = 0

    # --- submitting ----------------------------------------------------------------------------

    def submit_one(self, url, rid):
        """`am2z run --detach`; a refusal (non-zero exit) is recorded with its reason."""
        cmd = [cluster.harness.binary(), "run", self.flow, "--redis", url, "--detach", "-c",
               "--set", f"rid={rid}", "--set", "n=0", "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, errors="replace")
        with self.lock:
            if proc.returncode == 0:
                self.runs[rid] = json.loads(proc.stdout)["run"]
            else:
                tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
                self.refused.append((rid, proc.returncode, tail[:300]))
        return proc.returncode

    def submit(self, url, count, parallel=3):
        """Submits `count` more runs, `parallel` submitters at a time; returns when all are in."""
        with self.lock:
            rids = [f"c{n:05d}" for n in range(self.next_rid, self.next_rid + count)]
            self.next_rid += count
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda r: self.submit_one(url, r), rids))

    def submit_in_background(self, url, count, parallel=3):
        t = threading.Thread(target=self.submit, args=(url, count, parallel), daemon=True)
        t.start()
        return t

    # --- outcomes ------------------------------------------------------------------------------

    def outcome_lists(self, client):
        """rid -> the raw entries of its outcome list (normally exactly one)."""
        with self.lock:
            runs = dict(self.runs)
        return {rid: client("LRANGE", f"am2z:run:{run}", 0, -1) or [] for rid, run in runs.items()}

    def count_outcomes(self, client):
        with self.lock:
            runs = list(self.runs.values())
        return sum(1 for run in runs if client("EXISTS", f"am2z:run:{run}"))

    def wait_settled(self, client, expected, quiet_for, deadline):
        """Waits until `expected` runs have outcomes, or nothing is pending on the queues for
        `quiet_for` seconds, or `deadline` (monotonic) passes. Returns seconds waited."""
        started = time.monotonic()
        quiet_since = None
        while time.monotonic() < deadline:
            if self.count_outcomes(client) >= expected:
                break
            if cluster.pending_count(client, QUEUES) == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_for:
                    break
            else:
                quiet_since = None
            time.sleep(0.25)
        return time.monotonic() - started

    # --- the ledger ----------------------------------------------------------------------------

    def read_ledger(self):
        """(starts, most steps one worker ran at once): a Counter of (rid, step) start lines, and
        the peak of started-but-not-ended steps per worker pid (the step's parent)."""
        starts = collections.Counter()
        running, peak = collections.Counter(), 0
        with open(self.ledger, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                if parts[0] == "start":
                    starts[(parts[1], parts[2])] += 1
                    running[parts[3]] += 1
                    peak = max(peak, running[parts[3]])
                else:
                    running[parts[3]] -= 1
        return starts, peak

    # --- the report ----------------------------------------------------------------------------

    def job_index(self, client):
        """run id -> 'queue-state job-id {failedReason...}' of each of its jobs, for the report."""
        index = collections.defaultdict(list)
        for q in QUEUES:
            for state in cluster.LISTS + cluster.ZSETS:
                key = q + state
                kind = client("TYPE", key)
                ids = client("LRANGE", key, 0, -1) if kind == "list" else \
                    client("ZRANGE", key, 0, -1) if kind == "zset" else []
                for job_id in ids or []:
                    run = job_id[1:].split(".", 1)[0]
                    if state in cluster.PENDING or state == "failed":
                        h = client.hgetall(q + job_id)
                        extra = {k: h[k][:120] for k in ("failedReason", "defa", "stc", "atm") if k in h}
                        index[run].append(f"{key} {job_id} {json.dumps(extra)}")
                    else:
                        index[run].append(f"{key} {job_id}")
        return index

    def report(self, client, scenario, faults, in_flight, seconds, workers=None, extra=None, allowed=()):
        """The scenario's report line. `allowed`: regexes of the failure reasons the fault may
        cause (a step stalled too often, say); any other failure is counted as unexpected."""
        outcomes = self.outcome_lists(client)
        starts, peak = self.read_ledger()
        jobs = self.job_index(client) if any(not e for e in outcomes.values()) else {}
        r = collections.Counter()
        reasons = collections.Counter()
        examples = []
        for rid, entries in sorted(outcomes.items()):
            run = self.runs[rid]
            if not entries:
                r["no_outcome"] += 1
                where = jobs.get(run, ["no job of the run in any queue"])
                pending = [w for w in where if any(f":{p} " in w for p in cluster.PENDING)]
                r["stuck" if pending else "lost"] += 1
                if len(examples) < 6:
                    examples.append({"run": run, "rid": rid, "problem": "no outcome", "jobs": where})
                continue
            if len(entries) > 1:
                r["extra_outcomes"] += 1
                if len(examples) < 6:
                    examples.append({"run": run, "rid": rid, "problem": f"{len(entries)} outcomes",
                                     "outcomes": [e[:300] for e in entries]})
            last = entries[-1]  # the first pushed (LPUSH): what the submitter saw
            try:
                doc = json.loads(last)
            except json.JSONDecodeError:
                doc = {}
            if doc.get("ok") is True:
                state = doc.get("state") or {}
                meta = state.get("metadata") or {}
                data = {k: v for k, v in state.items() if k != "metadata"}
                if data != expected_data(rid) or not meta.get("sessionId") or meta.get("version") != 6:
                    r["wrong_state"] += 1
                    if len(examples) < 6:
                        examples.append({"run": run, "rid": rid, "problem": "wrong state", "state": state})
                    continue
                missing = [s for s in STEPS if starts[(rid, s)] == 0]
                if missing:
                    r["steps_skipped"] += len(missing)
                    if len(examples) < 6:
                        examples.append({"run": run, "rid": rid, "problem": f"ok, but {missing} never ran"})
                    continue
                r["completed_ok"] += 1
            elif doc.get("ok") is False and (doc.get("error") or {}).get("message"):
                r["failed_with_reason"] += 1
                reason = reason_class(doc["error"]["message"])
                reasons[reason] += 1
                if not any(re.search(a, reason) for a in allowed):
                    r["unexpected_failures"] += 1
            else:
                r["wrong_state"] += 1
                if len(examples) < 6:
                    examples.append({"run": run, "rid": rid, "problem": "not an outcome", "entry": last[:300]})
        twice = sum(n - 1 for (rid, _), n in starts.items() if n > 1 and rid in self.runs)
        report = {
            "scenario": scenario, "size": "full" if FULL else "quick",
            "submitted": len(self.runs), "refused": len(self.refused),
            "completed_ok": r["completed_ok"], "failed_with_reason": r["failed_with_reason"],
            "lost": r["lost"], "stuck": r["stuck"], "no_outcome": r["no_outcome"],
            "wrong_state": r["wrong_state"], "unexpected_failures": r["unexpected_failures"],
            "extra_outcomes": r["extra_outcomes"],
            "steps_skipped": r["steps_skipped"], "steps_run": sum(starts.values()),
            "steps_run_twice": twice, "steps_in_flight_at_kills": in_flight, "faults": faults,
            "most_steps_at_once_per_worker": peak,
            "worker_crashes": len(workers.crashes) if workers else 0, "seconds": round(seconds, 1),
            "failure_reasons": dict(reasons.most_common(5)),
        }
        if self.refused:
            report["refusals"] = collections.Counter(t for _, _, t in self.refused).most_common(3)
        report.update(extra or {})
        report["examples"] = examples
        if workers and workers.crashes:
            report["crashes"] = workers.crashes[:3]
        return report


def publish(report):
    """One JSON line on stdout and in the build's chaos-report.jsonl (CI shows that file)."""
    line = json.dumps(report, sort_keys=False)
    print(line, flush=True)
    path = os.environ.get("AM2Z_CHAOS_REPORT") or os.path.join(cluster.harness.REPO, "build", "chaos-report.jsonl")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as e:
        print(f"could not write {path}: {e}", flush=True)


def check(testcase, report):
    """The guarantees every chain scenario asserts."""
    problems = {k: report[k] for k in ("lost", "stuck", "no_outcome", "wrong_state", "unexpected_failures",
                                       "extra_outcomes", "steps_skipped", "worker_crashes") if report[k]}
    if report["steps_run_twice"] > report["steps_in_flight_at_kills"]:
        problems["steps_run_twice > steps_in_flight_at_kills"] = \
            f"{report['steps_run_twice']} > {report['steps_in_flight_at_kills']}"
    if report["submitted"] == 0:
        problems["submitted"] = 0
    testcase.assertFalse(problems, f"{report['scenario']}: {problems}\n"
                                   f"examples: {json.dumps(report['examples'], indent=1)[:6000]}")
