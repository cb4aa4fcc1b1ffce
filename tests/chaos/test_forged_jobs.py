"""Chaos: forged and corrupt jobs written straight into Redis onto the queues of flows whose exec
steps leave a trace when they run. Each must end in the queue's failed set with a failedReason
that names the problem (and reach its run, where it has one); the worker keeps running and
serves a normal run afterwards; nothing forged is executed; exec argv takes state values as
plain text. One report line for the whole catalogue, with the problems per kind."""

import json
import os
import subprocess
import time
import unittest

import cluster
import forged_kinds
import workload

FLOWS = {
    "forge.yaml": """version: 1
name: forge
processors:
  mark: {{use: exec, with: {{argv: [sh, '{here}/mark.sh'], env: {{MARKS: '{tmp}/marks'}}}}}}
  after: {{use: set, with: {{values: {{after: true}}}}}}
flow:
  chain: [mark, after]
""",
    "inject.yaml": """version: 1
name: inject
processors:
  echo:
    use: exec
    with: {{argv: [sh, '{here}/echo_args.sh', {{path: .x}}], env: {{ARGS: '{tmp}/args', VAL: {{path: .x}}}}}}
flow:
  chain: [echo]
""",
    "fan.yaml": """version: 1
name: fan
processors:
  a: {{use: set, with: {{values: {{a: 1}}}}}}
  b: {{use: set, with: {{values: {{b: 1}}}}}}
flow:
  parallel: [a, b]
""",
}
WORKER_ARGS = ("-c", "2", "--lock-duration", "5s", "--stalled-interval", "1s")
SETTLE = 10.0  # seconds a forged job gets to end


class ForgedJobs(unittest.TestCase):
    def setUp(self):
        self.tmp = cluster.scratch_dir(self, "am2z-forged-")
        os.mkdir(os.path.join(self.tmp, "canary"))
        self.flows = []
        for name, text in FLOWS.items():
            path = os.path.join(self.tmp, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.format(here=cluster.HERE, tmp=self.tmp))
            self.flows.append(path)
        self.redis = cluster.Redis()
        self.addCleanup(self.redis.stop)
        self.c = self.redis.client
        self.templates = self.read_templates()
        self.workers = cluster.Workers(self.tmp, self.redis.url, self.flows, 1, WORKER_ARGS)
        self.addCleanup(self.workers.stop)

    def flow(self, name):
        return os.path.join(self.tmp, name)

    def am2z_run(self, flow, *args, detach=False):
        cmd = [cluster.harness.binary(), "run", self.flow(flow), "--redis", self.redis.url, "-c", "-q", *args]
        return subprocess.run(cmd + (["--detach"] if detach else []), capture_output=True, text=True, timeout=60)

    def read_templates(self):
        """Submits one run of each flow before any worker runs, and keeps its first job's envelope."""
        out = {}
        for flow, queues in (("forge.yaml", {"mark": "bull:forge.mark:"}), ("inject.yaml", {"echo": "bull:inject.echo:"}),
                             ("fan.yaml", {"join": "bull:fan._join:", "branch": "bull:fan.a:"})):
            res = self.am2z_run(flow, "--set", "x=template", detach=True)
            self.assertEqual(res.returncode, 0, res.stderr)
            run = json.loads(res.stdout)["run"]
            for tpl, queue in queues.items():
                ids = (self.c("LRANGE", queue + "wait", 0, -1) or []) + \
                    (self.c("ZRANGE", queue + "waiting-children", 0, -1) or [])
                job_id = next(i for i in ids if run in i)
                h = self.c.hgetall(queue + job_id)
                deps = self.c("SMEMBERS", queue + job_id + ":dependencies") or []
                out[tpl] = {"queue": queue, "name": h["name"], "data": h["data"], "id": job_id.replace(run, "{run}"),
                            "env": json.loads(h["opts"])["am2z"], "children": [d.replace(run, "{run}") for d in deps]}
        mark_node = out["mark"]["env"]["node"]
        out["after"] = mark_node[:-1] + str(int(mark_node[-1]) + 1)  # the chain's next step
        self.c("FLUSHALL")
        return out

    def submit(self, tag, fail=False):
        """A genuine run of the forge flow, waited for; returns its run id."""
        args = ["--set", f"tag={tag}"] + (["--set", "fail=true"] if fail else [])
        res = self.am2z_run("forge.yaml", *args, detach=True)
        run = json.loads(res.stdout)["run"]
        ok = cluster.harness.wait_for(lambda: self.c("LLEN", f"am2z:run:{run}") > 0, 20)
        self.assertTrue(ok, f"the genuine run {tag} got no outcome")
        return run

    def marks(self):
        try:
            with open(os.path.join(self.tmp, "marks"), encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def where(self, job):
        q, i = job.queue, job.id
        for s in ("failed", "completed", "delayed"):
            if self.c("ZSCORE", q + s, i) is not None:
                return s
        for s in ("wait", "active"):
            if self.c("LPOS", q + s, i) is not None:
                return s
        return "gone"

    def remove(self, job):
        """Takes a job that wrecked a worker out of every list, so the next worker survives."""
        for s in ("wait", "active"):
            self.c("LREM", job.queue + s, 0, job.id)
        self.c("DEL", job.key, job.key + ":lock")

    def try_kind(self, kind, forge):
        problems = []
        if kind.setup:
            kind.setup(forge)
        job = kind.build(forge)
        self.jobs.append((kind, job))
        if job.push:
            job.push()
        else:
            if job.fields:
                self.c("HSET", job.key, *[x for kv in job.fields.items() for x in kv])
            self.c("LPUSH", job.queue + "wait", job.id)
            self.c("ZADD", job.queue + "marker", 0, "0")
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            state = self.where(job)
            if state in ("failed", "completed") or (state == "gone" and "gone" in kind.end):
                break
            if not self.workers.alive():
                break
            time.sleep(0.02)
        time.sleep(0.1)  # an outcome written by the same call is in; a crash shows
        state = self.where(job)
        if self.workers.check_alive():
            problems.append(f"the worker died: {self.workers.crashes[-1]['exit']} "
                            f"{self.workers.crashes[-1]['log'][-300:]!r}")
            self.remove(job)
        if state not in kind.end:
            problems.append(f"the job is {state}, not {'/'.join(kind.end)}")
        reason = self.c("HGET", job.key, "failedReason") or ""
        if state == "failed" and not any(k.lower() in reason.lower() for k in kind.keywords):
            problems.append(f"failedReason does not say {' or '.join(kind.keywords)}: {reason[:200]!r}")
        problems += self.check_outcome(kind, job)
        if state in ("wait", "active"):
            self.remove(job)  # still there after SETTLE: out of the way of the next kinds
        if kind.check:
            problems += kind.check(forge, job)
        return problems, reason, state

    def check_outcome(self, kind, job):
        if job.run is None or not isinstance(job.run, str):
            return []
        entries = self.c("LRANGE", f"am2z:run:{job.run}", 0, -1) or []
        if kind.outcome == "same":
            return [] if entries == job.outcome_before else \
                [f"the ended run's outcome changed: {len(job.outcome_before)} -> {len(entries)} entries"]
        if len(entries) > 1:
            return [f"the run has {len(entries)} outcomes"]
        if not entries:
            return ["the run got no outcome"] if kind.outcome in ("required", "ok") else []
        doc = json.loads(entries[0])
        if kind.outcome == "ok":
            return [] if doc.get("ok") is True else [f"the run failed: {entries[0][:200]}"]
        message = (doc.get("error") or {}).get("message", "")
        if doc.get("ok") is not False or not any(k.lower() in message.lower() for k in kind.keywords):
            return [f"the run's outcome does not carry the reason: {entries[0][:200]}"]
        return []

    def test_forged_and_corrupt_jobs(self):
        started = time.monotonic()
        forge = forged_kinds.Forge(self.c, self.templates, self.tmp, self.submit)
        catalogue = forged_kinds.kinds(self.tmp)
        failures, reasons = {}, {}
        self.jobs = []
        for kind in catalogue:
            problems, reason, state = self.try_kind(kind, forge)
            reasons[kind.name] = f"{state}: {reason[:100]}"
            if problems:
                failures[kind.name] = problems
        time.sleep(1.0)  # a step that was still running has written its mark
        for kind, job in self.jobs:
            ran = [m for m in self.marks() if (job.run and job.run in m) or job.id in m]
            if ran and kind.outcome != "ok":
                failures.setdefault(kind.name, []).append(f"the step ran: {ran[0][:120]}")
        control = self.am2z_run("forge.yaml", "--set", "tag=control", "--timeout", "30s")
        control_ok = control.returncode == 0 and json.loads(control.stdout or "{}").get("after") is True
        if not control_ok:
            failures["normal_run_afterwards"] = [f"exit {control.returncode}: {control.stderr[-300:]}"]
        report = {
            "scenario": "forged_jobs", "size": "full" if workload.FULL else "quick",
            "submitted": len(catalogue), "kinds": len(catalogue),
            "handled_as_required": len(catalogue) - len([k for k in failures if k != "normal_run_afterwards"]),
            "failed_with_reason": sum(1 for r in reasons.values() if r.startswith("failed: ") and len(r) > 8),
            "executed": sum(1 for p in failures.values() for x in p if x.startswith("the step ran")),
            "no_outcome": sum(1 for p in failures.values() for x in p if x == "the run got no outcome"),
            "worker_crashes": len(self.workers.crashes), "normal_run_afterwards": control_ok,
            "seconds": round(time.monotonic() - started, 1), "problems": failures, "reasons": reasons,
        }
        workload.publish(report)
        self.assertFalse(failures, json.dumps(failures, indent=1))


if __name__ == "__main__":
    unittest.main()
