#!/usr/bin/env python3
"""Reads the benchmark's JSON lines on stdin, passes them through, and adds one line per figure
that has a BullMQ counterpart measured in the same run: am2z's value, BullMQ's, and their ratio
(> 1 means am2z is better for throughput; for latency, commands and memory, BullMQ's value over
am2z's, so > 1 also means am2z is better).

The two systems are measured in alternation, in pairs (tests/bench/run --pairs N): a line
{"scenario": "pair", "pair": i} starts pair i. Each pair gives one ratio per figure
("vs_bullmq_pair" lines); the summary ("vs_bullmq") is the median ratio over the pairs with its
spread (min, max), so a figure means the same from run to run on a machine that drifts. Figures
am2z compares with itself in the same pair (events on against off, a small session alone against
behind a backlog) get the same treatment ("am2z_ratio")."""

import json
import statistics
import sys


def split_pairs(lines):
    """The lines of each pair: [(ours by scenario, peer result or None)]."""
    pairs, current = [], None
    for line in lines:
        if line.get("scenario") == "pair":
            current = {"ours": {}, "peer": None}
            pairs.append(current)
            continue
        if current is None:  # output of a single run without pair markers
            current = {"ours": {}, "peer": None}
            pairs.append(current)
        if line.get("system") == "am2z":
            current["ours"][line["scenario"]] = line
        elif line.get("scenario") == "peer_bullmq":
            current["peer"] = dict(line["result"], **(current["peer"] or {}))
        elif line.get("scenario") == "peer_exec5ms":  # tests/bench/peer_exec.mjs
            current["peer"] = dict(current["peer"] or {}, exec5ms=line)
    return pairs


def pair_figures(ours, peer):
    """{figure: (am2z, bullmq, ratio)} for one pair."""
    out = {}

    def process(conc, retention, procs=1):
        for p in peer.get("process", []):
            if p["conc"] == conc and p["procs"] == procs and p["retention"] == retention:
                return p
        return None

    def emit(figure, am2z, bullmq, higher_is_better):
        if am2z is None or bullmq is None or am2z == 0 or bullmq == 0:
            return
        ratio = am2z / bullmq if higher_is_better else bullmq / am2z
        out[figure] = (am2z, bullmq, ratio)

    # one worker draining: -c 8 and 64, and -c 8 with --prefetch 0 (none held beyond -c), each
    # against BullMQ's phase of the same -c and retention
    for conc, flag in ((8, ""), (64, ""), (8, "_prefetch0")):
        for retention, suffix in (("default", ""), ("removeOnComplete", "_remove_on_complete")):
            mine, theirs = ours.get(f"process_c{conc}{suffix}{flag}"), process(conc, retention)
            if not (mine and theirs):
                continue
            emit(f"jobs_per_s_c{conc}_{retention}{flag}", mine["jobs_per_s"], theirs["jobs_per_s"], True)
            add = peer.get("enqueue", {}).get("add_bulk", {}).get("cmds_per_job")
            if add is not None:
                emit(f"redis_cmds_per_job_c{conc}_{retention}{flag}", mine["redis_cmds_per_job"],
                     round(add + theirs["cmds_per_job"], 3), False)
            if not flag:
                rss = theirs.get("peak_rss_kb") or [None]
                emit(f"worker_peak_rss_kb_c{conc}_{retention}", mine["peak_rss_kb"], rss[0], False)
    mine, theirs = ours.get("process_exec5ms_c8_remove_on_complete"), peer.get("exec5ms")
    if mine and theirs:
        emit("jobs_per_s_exec5ms_c8", mine["jobs_per_s"], theirs["jobs_per_s"], True)
        emit("worker_peak_rss_kb_exec5ms_c8", mine["peak_rss_kb"], theirs["peak_rss_kb"], False)
    mine, theirs = ours.get("process_4w_c8_remove_on_complete"), process(8, "removeOnComplete", 4)
    if mine and theirs:
        emit("jobs_per_s_4procs_c8_removeOnComplete", mine["jobs_per_s"], theirs["jobs_per_s"], True)
    lat, mine = peer.get("latency"), ours.get("latency")
    if lat and mine:
        emit("latency_p50_ms", mine["p50_ms"], lat["p50_ms"], False)
        emit("latency_p99_ms", mine["p99_ms"], lat["p99_ms"], False)
    return out


def self_figures(ours):
    """{figure: ratio} am2z measures against itself within one pair."""
    out = {}
    plain, events = ours.get("process_c64"), ours.get("process_c64_events")
    if plain and events and plain["jobs_per_s"]:
        out["events_on_throughput_c64"] = events["jobs_per_s"] / plain["jobs_per_s"]
    # Redis CPU per job of a -c 64 drain over that of BullMQ's layout alone (layout_floor_c64):
    # what am2z's own logic adds to the server that bounds the throughput
    floor = ours.get("layout_floor_c64")
    if plain and floor and floor.get("redis_cpu_us_per_job"):
        out["redis_cpu_over_layout_floor_c64"] = plain["redis_cpu_us_per_job"] / floor["redis_cpu_us_per_job"]
    for name in ("fairness", "fairness_2ms", "fairness_prefetch0"):
        if name in ours:
            out[f"{name}_p50_behind_over_alone"] = ours[name]["p50_ratio"]
    return out


def summary(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "pairs": len(values)}


def main():
    lines = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    for line in lines:
        print(json.dumps(line))
    pairs = split_pairs(lines)
    by_figure, by_self = {}, {}
    for i, pair in enumerate(pairs, 1):
        for figure, ratio in self_figures(pair["ours"]).items():
            by_self.setdefault(figure, []).append(ratio)
        if pair["peer"] is None:
            continue
        for figure, (am2z, bullmq, ratio) in pair_figures(pair["ours"], pair["peer"]).items():
            print(json.dumps({"scenario": "vs_bullmq_pair", "pair": i, "figure": figure, "am2z": am2z,
                              "bullmq": bullmq, "ratio": round(ratio, 2)}))
            by_figure.setdefault(figure, []).append((am2z, bullmq, ratio))
    for figure, rows in by_figure.items():
        print(json.dumps({"scenario": "vs_bullmq", "figure": figure,
                          "am2z": statistics.median(r[0] for r in rows),
                          "bullmq": statistics.median(r[1] for r in rows),
                          "ratio": summary([r[2] for r in rows])}))
    for figure, ratios in by_self.items():
        print(json.dumps({"scenario": "am2z_ratio", "figure": figure, "ratio": summary(ratios)}))


if __name__ == "__main__":
    main()
