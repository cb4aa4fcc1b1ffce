"""tests/bench/compare.py: ratios per pair, and the median over pairs with its spread."""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def ours(pair_jobs, events_jobs):
    return [{"scenario": "process_c64", "system": "am2z", "jobs_per_s": pair_jobs, "redis_cmds_per_job": 22.0,
             "peak_rss_kb": 8000},
            {"scenario": "process_c64_events", "system": "am2z", "jobs_per_s": events_jobs}]


def peer(jobs):
    return {"scenario": "peer_bullmq", "system": "bullmq", "result": {
        "enqueue": {"add_bulk": {"cmds_per_job": 9}},
        "process": [{"conc": 64, "procs": 1, "retention": "default", "jobs_per_s": jobs, "cmds_per_job": 24,
                     "peak_rss_kb": [100000]}]}}


def compare(lines):
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    out = subprocess.run([sys.executable, os.path.join(HERE, "compare.py")], input=text, capture_output=True,
                         text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


class CompareTest(unittest.TestCase):
    def test_median_ratio_over_pairs_with_its_spread(self):
        lines = []
        for i, (mine, theirs) in enumerate([(10000, 5000), (9000, 6000), (12000, 4000)], 1):
            lines += [{"scenario": "pair", "pair": i}, *ours(mine, mine * 0.9), peer(theirs)]
        out = compare(lines)
        per_pair = [o["ratio"] for o in out if o["scenario"] == "vs_bullmq_pair"
                    and o["figure"] == "jobs_per_s_c64_default"]
        self.assertEqual(per_pair, [2.0, 1.5, 3.0])
        summary = next(o for o in out if o["scenario"] == "vs_bullmq" and o["figure"] == "jobs_per_s_c64_default")
        self.assertEqual(summary["ratio"], {"median": 2.0, "min": 1.5, "max": 3.0, "pairs": 3})
        self.assertEqual((summary["am2z"], summary["bullmq"]), (10000, 5000))
        cmds = next(o for o in out if o["scenario"] == "vs_bullmq" and o["figure"] == "redis_cmds_per_job_c64_default")
        self.assertEqual(cmds["ratio"]["median"], 1.5)  # (9 + 24) / 22: fewer commands is better
        events = next(o for o in out if o["scenario"] == "am2z_ratio" and o["figure"] == "events_on_throughput_c64")
        self.assertEqual(events["ratio"]["median"], 0.9)

    def test_four_worker_processes_are_compared_with_bullmq_s_multi_process_phase(self):
        mine = {"scenario": "process_4w_c8_remove_on_complete", "system": "am2z", "jobs_per_s": 9000}
        theirs = peer(5000)
        theirs["result"]["process"].append({"conc": 8, "procs": 4, "retention": "removeOnComplete",
                                            "jobs_per_s": 6000})
        out = compare([mine, theirs])
        four = next(o for o in out if o["scenario"] == "vs_bullmq"
                    and o["figure"] == "jobs_per_s_4procs_c8_removeOnComplete")
        self.assertEqual((four["am2z"], four["bullmq"], four["ratio"]["median"]), (9000, 6000, 1.5))

    def test_no_prefetch_is_compared_with_bullmq_at_the_same_concurrency(self):
        mine = [{"scenario": "process_c8_prefetch0", "system": "am2z", "jobs_per_s": 12000, "redis_cmds_per_job": 11.0},
                {"scenario": "fairness_prefetch0", "system": "am2z", "p50_ratio": 3.5}]
        theirs = peer(5000)
        theirs["result"]["process"].append({"conc": 8, "procs": 1, "retention": "default", "jobs_per_s": 6000,
                                            "cmds_per_job": 24})
        out = compare([*mine, theirs])
        row = next(o for o in out if o["scenario"] == "vs_bullmq" and o["figure"] == "jobs_per_s_c8_default_prefetch0")
        self.assertEqual((row["am2z"], row["bullmq"], row["ratio"]["median"]), (12000, 6000, 2.0))
        cmds = next(o for o in out if o["scenario"] == "vs_bullmq"
                    and o["figure"] == "redis_cmds_per_job_c8_default_prefetch0")
        self.assertEqual(cmds["ratio"]["median"], 3.0)  # (9 + 24) / 11
        price = next(o for o in out if o["scenario"] == "am2z_ratio" and o["figure"] == "fairness_prefetch0_p50_behind_over_alone")
        self.assertEqual(price["ratio"]["median"], 3.5)

    def test_exec_steps_are_compared_with_bullmq_running_the_same_command(self):
        mine = {"scenario": "process_exec5ms_c8_remove_on_complete", "system": "am2z", "jobs_per_s": 220,
                "peak_rss_kb": 8000}
        theirs = {"scenario": "peer_exec5ms", "system": "bullmq", "jobs_per_s": 110, "peak_rss_kb": 120000}
        for order in ([mine, peer(5000), theirs], [mine, theirs, peer(5000)]):
            out = compare(order)
            row = next(o for o in out if o["scenario"] == "vs_bullmq" and o["figure"] == "jobs_per_s_exec5ms_c8")
            self.assertEqual(row["ratio"]["median"], 2.0)
            rss = next(o for o in out if o["scenario"] == "vs_bullmq" and o["figure"] == "worker_peak_rss_kb_exec5ms_c8")
            self.assertEqual(rss["ratio"]["median"], 15.0)

    def test_a_drain_s_redis_cpu_is_set_against_that_of_the_layout_alone(self):
        lines = []
        for i, (drain, floor) in enumerate([(30.0, 25.0), (26.0, 20.0), (24.0, 24.0)], 1):
            mine = ours(10000, 9000)
            mine[0]["redis_cpu_us_per_job"] = drain
            lines += [{"scenario": "pair", "pair": i}, *mine,
                      {"scenario": "layout_floor_c64", "system": "am2z", "redis_cpu_us_per_job": floor}]
        out = compare(lines)
        row = next(o for o in out if o["scenario"] == "am2z_ratio" and o["figure"] == "redis_cpu_over_layout_floor_c64")
        self.assertEqual(row["ratio"], {"median": 1.2, "min": 1.0, "max": 1.3, "pairs": 3})

    def test_a_run_without_the_peer_still_reports_am2z_against_itself(self):
        out = compare(ours(10000, 8000))
        self.assertFalse([o for o in out if o["scenario"].startswith("vs_bullmq")])
        events = next(o for o in out if o["scenario"] == "am2z_ratio")
        self.assertEqual(events["ratio"], {"median": 0.8, "min": 0.8, "max": 0.8, "pairs": 1})


if __name__ == "__main__":
    unittest.main()
