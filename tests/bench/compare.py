#!/usr/bin/env python3
"""Reads the benchmark's JSON lines on stdin, passes them through, and adds one line per figure
that has a BullMQ counterpart measured in the same run: am2z's value, BullMQ's, and their ratio
(> 1 means am2z is better for throughput; for latency, commands and memory, BullMQ's value over
am2z's, so > 1 also means am2z is better)."""

import json
import sys


def main():
    lines = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    for line in lines:
        print(json.dumps(line))
    ours = {line["scenario"]: line for line in lines if line.get("system") == "am2z"}
    peer = next((line["result"] for line in lines if line.get("scenario") == "peer_bullmq"), None)
    if peer is None:
        return

    def process(conc, retention):
        for p in peer.get("process", []):
            if p["conc"] == conc and p["procs"] == 1 and p["retention"] == retention:
                return p
        return None

    def emit(figure, am2z, bullmq, higher_is_better):
        if am2z is None or bullmq is None or am2z == 0 or bullmq == 0:
            return
        ratio = am2z / bullmq if higher_is_better else bullmq / am2z
        print(json.dumps({"scenario": "vs_bullmq", "figure": figure, "am2z": am2z, "bullmq": bullmq,
                          "ratio": round(ratio, 2)}))

    for conc in (8, 64):
        for retention, suffix in (("default", ""), ("removeOnComplete", "_remove_on_complete")):
            mine, theirs = ours.get(f"process_c{conc}{suffix}"), process(conc, retention)
            if mine and theirs:
                emit(f"jobs_per_s_c{conc}_{retention}", mine["jobs_per_s"], theirs["jobs_per_s"], True)
                add = peer.get("enqueue", {}).get("add_bulk", {}).get("cmds_per_job")
                if add is not None:
                    emit(f"redis_cmds_per_job_c{conc}_{retention}", mine["redis_cmds_per_job"],
                         round(add + theirs["cmds_per_job"], 3), False)
                rss = theirs.get("peak_rss_kb") or [None]
                emit(f"worker_peak_rss_kb_c{conc}_{retention}", mine["peak_rss_kb"], rss[0], False)
    lat, mine = peer.get("latency"), ours.get("latency")
    if lat and mine:
        emit("latency_p50_ms", mine["p50_ms"], lat["p50_ms"], False)
        emit("latency_p99_ms", mine["p99_ms"], lat["p99_ms"], False)


if __name__ == "__main__":
    main()
