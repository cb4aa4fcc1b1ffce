"""The forged and corrupt jobs of the forged-jobs scenario. Each kind writes one job straight into
Redis, as a broken or hostile client with access to Redis could (job hash, wait list, marker),
and says what must become of it: the queue set it ends in, words its failedReason must contain
(any one, case-insensitive), whether its run must get an outcome, and extra checks.

Templates come from real submissions (a job's opts.am2z per queue), so a kind differs from a
genuine job only in what it forges.
"""

import json
import os
import secrets
import time

DEEP = 100_000
HUGE = 17 * 1024 * 1024  # over the worker's default maximum job size (16 MiB)
DEPTH = ("deep", "depth", "nest")
SIZE = ("size", "large", "bytes", "MiB", "limit")


class Job:
    """One job to write: its queue key prefix, id, run (whose outcome is checked) and hash."""

    def __init__(self, queue, job_id, run, fields, push=None):
        self.queue, self.id, self.run, self.fields = queue, job_id, run, fields
        self.push = push  # instead of writing `fields`: a callable that puts the job in wait

    @property
    def key(self):
        return self.queue + self.id


class Kind:
    def __init__(self, name, build, keywords, outcome="required", end=("failed",), check=None, setup=None):
        self.name, self.build, self.keywords = name, build, keywords
        self.outcome = outcome  # "required" (a failure), "optional" (if any: one failure), "ok", "same"
        self.end, self.check, self.setup = end, check, setup


class Forge:
    """What kinds are built from: one real job per queue as a template, and the scenario's files."""

    def __init__(self, client, templates, tmp, submit):
        self.c, self.templates, self.tmp, self.submit = client, templates, tmp, submit

    @staticmethod
    def new_run():
        return secrets.token_hex(8)

    def envelope(self, tpl, run, over):
        env = dict(self.templates[tpl]["env"])
        env.update(run=run, reply=f"am2z:run:{run}", sess=f"session-{run}", t0=int(time.time() * 1000))
        env.update(over)
        return {k: v for k, v in env.items() if v is not None}

    def job(self, kind, tpl="mark", env=None, data=None, opts=None, drop=(), job_id=None, extra=None):
        """An am2z job of template `tpl` with the given parts forged."""
        run = self.new_run()
        envelope = self.envelope(tpl, run, env or {})
        t = self.templates[tpl]
        fields = {"name": t["name"], "data": json.dumps({"forged": kind}) if data is None else data,
                  "opts": json.dumps({"am2z": envelope, "attempts": 1}) if opts is None else opts(envelope),
                  "timestamp": str(int(time.time() * 1000)), "delay": "0", "priority": "0", **(extra or {})}
        for d in drop:
            fields.pop(d, None)
        return Job(t["queue"], job_id or t["id"].replace("{run}", run), run, fields)

    def path(self, name):
        return os.path.join(self.tmp, name)


def opts_with(tail):
    """opts JSON text: a genuine envelope followed by `tail` (bytes or text) as more members."""
    def make(env):
        head = '{"am2z":' + json.dumps(env)
        return head.encode() + tail + b"}" if isinstance(tail, bytes) else head + tail + "}"
    return make


# --- extra checks ---------------------------------------------------------------------------

VICTIM = "bull:victim.q:"


def plant_victim(f):
    """A parent in another queue that a forged join reference points at."""
    f.c("HSET", VICTIM + "v1", "name", "v", "data", "{}", "opts", "{}", "timestamp", "1")
    f.c("ZADD", VICTIM + "waiting-children", 1, "v1")
    f.c("SADD", VICTIM + "v1:dependencies", "bull:forge.mark:placeholder")


def victim_untouched(f, job):
    problems = []
    if f.c("ZSCORE", VICTIM + "waiting-children", "v1") is None:
        problems.append("the other queue's parent left waiting-children")
    for suffix in (":processed", ":failed", ":errors", ":unsuccessful"):
        if f.c("EXISTS", VICTIM + "v1" + suffix):
            problems.append(f"{VICTIM}v1{suffix} was written")
    if f.c("HGET", VICTIM + "v1", "defa"):
        problems.append("the other queue's parent got defa")
    if f.c("LLEN", VICTIM + "wait"):
        problems.append(f"{VICTIM}wait got a job")
    return problems


def wait_list_clean(queue):
    """No outcome pushed into the queue's wait list (a worker would then take it for a job id)."""
    def check(f, job):
        bad = []
        for s in ("wait", "active"):
            bad += [f"{s}: {e[:80]}" for e in f.c("LRANGE", queue + s, 0, -1) or [] if e.startswith("{")]
        for s in ("failed", "completed"):
            bad += [f"{s}: {e[:80]}" for e in f.c("ZRANGE", queue + s, 0, -1) or [] if e.startswith("{")]
        for s in ("wait", "active"):  # the next kinds must not trip over it
            for e in f.c("LRANGE", queue + s, 0, -1) or []:
                if e.startswith("{"):
                    f.c("LREM", queue + s, 0, e)
        return [f"an outcome went into {queue}wait and became a job ({bad[0]})"] if bad else []
    return check


def completed_set_intact(f, job):
    kind = f.c("TYPE", "bull:forge.mark:completed")
    return [] if kind in ("zset", "none") else [f"bull:forge.mark:completed became a {kind}"]


def victim_run(f):
    """A finished run whose outcome list a forged reply key points at."""
    f.victim_run = f.submit("victim")


def victim_run_untouched(f, job):
    n = f.c("LLEN", f"am2z:run:{f.victim_run}")
    return [] if n == 1 else [f"another run's outcome list has {n} entries"]


def injection_check(value):
    def check(f, job):
        problems = []
        try:
            with open(f.path("args"), encoding="utf-8", errors="replace") as fh:
                args = fh.read()
        except FileNotFoundError:
            args = ""
        if f"arg={value}|env={value}\n" not in args:
            problems.append(f"the program did not get {value!r} literally in argv and env")
        for n in range(1, 7):
            if os.path.exists(f.path(f"inj-{n}")):
                problems.append(f"inj-{n} exists: a shell ran the value")
        if not os.path.isdir(f.path("canary")):
            problems.append("the canary directory was removed")
        return problems
    return check


# --- the kinds ------------------------------------------------------------------------------

def kinds(tmp):
    deep = "[" * DEEP + "]" * DEEP
    ks = [
        Kind("unknown_flow", lambda f: f.job("unknown_flow", env={"flow": "nosuch"}), ("nosuch",)),
        # older than any --version-wait: no worker with its version is coming, it fails at once
        Kind("wrong_flow_hash", lambda f: f.job("wrong_flow_hash", env={"fh": "0" * 64}, extra={"timestamp": "1"}),
             ("another version",)),
        Kind("flow_hash_not_a_string", lambda f: f.job("x", env={"fh": 12}), ("opts.am2z.fh",)),
        Kind("run_not_a_string", lambda f: f.job("x", env={"run": 7}, job_id="forged-run-not-string"),
             ("opts.am2z.run",), outcome="optional"),
        Kind("node_not_a_string", lambda f: f.job("x", env={"node": []}), ("opts.am2z.node",)),
        Kind("t0_not_an_integer", lambda f: f.job("x", env={"t0": "yesterday"}), ("opts.am2z.t0",)),
        Kind("rttl_not_an_integer", lambda f: f.job("x", env={"rttl": "1d"}), ("opts.am2z.rttl",)),
        Kind("join_not_an_object", lambda f: f.job("x", env={"join": "x"}), ("opts.am2z.join",)),
        Kind("join_index_not_an_integer",
             lambda f: f.job("x", env={"join": {"q": "bull:forge._join:", "id": "j", "node": "n", "i": "x"}}),
             ("join.i",)),
        Kind("join_in_another_queue",
             lambda f: f.job("x", tpl="branch", env={"join": {"q": VICTIM, "id": "v1", "node": "n", "i": 0}}),
             ("join",), setup=plant_victim, check=victim_untouched),
        Kind("node_that_does_not_exist", lambda f: f.job("x", env={"node": "n.99"}), ("n.99",)),
        Kind("node_of_another_queue", lambda f: f.job("x", env={"node": f.templates["after"]}), ("not served",)),
        Kind("node_that_is_not_a_step", lambda f: f.job("x", env={"node": "n"}), ("not served",)),
        Kind("opts_not_json", lambda f: f.job("x", opts=lambda e: "{nope", job_id="forged-opts-not-json"),
             ("opts",), outcome="optional"),
        Kind("opts_not_an_object", lambda f: f.job("x", opts=lambda e: "[1]", job_id="forged-opts-array"),
             ("opts",), outcome="optional"),
        Kind("am2z_not_an_object", lambda f: f.job("x", opts=lambda e: '{"am2z":5}', job_id="forged-am2z-5"),
             ("opts.am2z",), outcome="optional"),
        Kind("data_not_json", lambda f: f.job("x", data="{nope"), ("data",)),
        Kind("data_not_an_object", lambda f: f.job("x", data="[1,2]"), ("data", "object")),
        Kind("data_missing", lambda f: f.job("x", drop=("data",)), ("data",)),
        Kind("metadata_of_wrong_type", lambda f: f.job("x", data='{"metadata":{"sessionId":5}}'), ("metadata",)),
        Kind("number_out_of_range_in_data", lambda f: f.job("x", data='{"x":1e400}'), ("range", "1e400")),
        Kind("number_out_of_range_in_opts", lambda f: f.job("x", opts=opts_with(',"attempts":1e400')),
             ("range", "1e400"), outcome="optional"),
        Kind("invalid_utf8_in_data", lambda f: f.job("x", data=b'{"x":"\xff\xfe"}'), ("utf-8", "utf8")),
        Kind("invalid_utf8_in_opts", lambda f: f.job("x", opts=opts_with(b',"name":"\xff"')),
             ("utf-8", "utf8"), outcome="optional"),
        Kind("data_nested_100000_deep", lambda f: f.job("x", data='{"x":' + deep + "}"), DEPTH),
        Kind("opts_nested_100000_deep", lambda f: f.job("x", opts=opts_with(',"x":' + deep)), DEPTH,
             outcome="optional"),
        Kind("parent_nested_100000_deep",
             lambda f: f.job("x", data="{nope", opts=lambda e: '{"attempts":1}', job_id="forged-deep-parent",
                             extra={"parentKey": VICTIM + "v1", "parent": '{"id":' + deep + "}"}),
             ("data",), outcome="optional"),
        Kind("join_child_result_nested_100000_deep", lambda f: deep_child_join(f, deep), DEPTH),
        # Over 256 children: the worker reads them in chunks after the fetch, and still refuses
        # a result from a job that is no branch of the join. None of its own: a deep one would be
        # refused too, and first whenever the hash scan happens to meet it first.
        Kind("join_of_400_children_from_elsewhere", lambda f: deep_child_join(f, None, 400), ("not a branch",)),
        Kind("data_over_16_mib", lambda f: f.job("x", data='{"x":"' + "a" * HUGE + '"}'), SIZE),
        Kind("job_id_with_a_colon", lambda f: f.job("x", job_id=f"r{f.new_run()}.n.0:x"), ("id", ":"),
             outcome="optional"),
        Kind("job_id_with_a_newline", lambda f: f.job("x", job_id=f"r{f.new_run()}.n.0\nx"), ("id", "newline"),
             outcome="optional"),
        Kind("run_with_a_colon", lambda f: f.job("x", env={"run": "ab:cd", "reply": "am2z:run:ab:cd"}),
             ("run",), outcome="optional"),
        Kind("run_with_a_newline", lambda f: f.job("x", env={"run": "ab\ncd", "reply": "am2z:run:ab\ncd"}),
             ("run",), outcome="optional"),
        Kind("reply_into_a_wait_list", lambda f: f.job("x", env={"reply": "bull:forge.mark:wait"}), ("reply",),
             outcome="optional", check=wait_list_clean("bull:forge.mark:")),
        Kind("reply_into_a_sorted_set", lambda f: f.job("x", env={"reply": "bull:forge.mark:completed"}),
             ("reply",), outcome="optional", check=completed_set_intact),
        Kind("reply_into_another_runs_outcome",
             lambda f: f.job("x", env={"reply": f"am2z:run:{f.victim_run}"}), ("reply",),
             outcome="optional", setup=victim_run, check=victim_run_untouched),
        Kind("empty_hash", lambda f: Job("bull:forge.mark:", f"r{f.new_run()}.n.0", None, {}),
             ("missing", "empty", "no data", "not exist", "does not exist", "no job"), outcome="optional",
             end=("failed", "gone")),
        Kind("retry_of_a_failed_step_of_a_failed_run", lambda f: bull_board_retry(f, "failed"),
             ("already", "ended", "outcome"), outcome="same"),
        Kind("retry_of_a_completed_step_of_a_completed_run", lambda f: bull_board_retry(f, "completed"),
             ("already", "ended", "outcome"), outcome="same", end=("failed", "completed")),
    ]
    values = [f"$(touch {tmp}/inj-1)", f"`touch {tmp}/inj-2`", f"; touch {tmp}/inj-3", f"| touch {tmp}/inj-4 &&",
              f"-rf {tmp}/canary", f"' ; touch {tmp}/inj-5 ; '", f"\ntouch {tmp}/inj-6", "--help"]
    for n, v in enumerate(values):
        ks.append(Kind(f"exec_argv_injection_{n + 1}",
                       lambda f, v=v: f.job("x", tpl="echo", data=json.dumps({"x": v})), (),
                       outcome="ok", end=("completed",), check=injection_check(v)))
    return ks


def deep_child_join(f, deep, others=0):
    """A join job whose child's result (its :processed entry) nests 100,000 levels (`deep`; None:
    no result of its own child), beside `others` results under keys of no child of it."""
    job = f.job("x", tpl="join")
    job.fields["data"] = f.templates["join"]["data"]
    child = f.templates["join"]["children"][0].replace("{run}", job.run)

    def push():
        f.c("HSET", job.key, *[x for kv in job.fields.items() for x in kv])
        for i in range(others):
            f.c("HSET", job.key + ":processed", f"bull:forge.elsewhere:{i}", '{"x":1}')
        if deep is not None:
            f.c("HSET", job.key + ":processed", child, deep)
        f.c("LPUSH", job.queue + "wait", job.id)
        f.c("ZADD", job.queue + "marker", 0, "0")
    job.push = push
    return job


def bull_board_retry(f, from_set):
    """A step of a run that has ended, moved back to wait as Bull Board's retry does."""
    run = f.submit("retry-" + from_set, fail=from_set == "failed")
    job_id = f.templates["mark"]["id"].replace("{run}", run)
    q = "bull:forge.mark:"
    if f.c("ZSCORE", q + from_set, job_id) is None:
        raise AssertionError(f"the {from_set} run's step {job_id} is not in {q}{from_set}")
    job = Job(q, job_id, run, None)
    job.outcome_before = f.c("LRANGE", f"am2z:run:{run}", 0, -1)

    def push():
        f.c("ZREM", q + from_set, job_id)
        f.c("HDEL", q + job_id, "finishedOn", "processedOn", "failedReason", "returnvalue")
        f.c("LPUSH", q + "wait", job_id)
        f.c("ZADD", q + "marker", 0, "0")
    job.push = push
    return job
