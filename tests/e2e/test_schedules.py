"""Schedules: `am2z schedule add FLOW --every DUR | --cron EXPR`, list and remove. The next
occurrence always waits as a delayed run (Bull Board shows it); when it is due, one worker claims
it atomically with queuing the one after (op "K"), so two workers never run an occurrence twice,
and a worker killed with -9 leaves the other to go on."""
import json
import signal
import time

import harness
from redis_harness import DistributedTestCase, RedisServer

TICK = """\
version: 1
name: tick
input:
  type: object
  properties: {n: {type: integer}}
processors:
  stamp: {use: set, with: {values: {ticked: true}}}
flow: stamp
"""


class Schedules(DistributedTestCase):
    def schedule(self, *args):
        return harness.run("schedule", *args, "--redis", self.redis.url)

    def fired_runs(self):
        """Occurrence runs with an outcome, by fire time (ms)."""
        runs = {}
        for key in self.redis.client("KEYS", "am2z:run:tick-*"):
            if key.endswith(":record"):
                continue
            runs[int(key.rsplit("-", 1)[1])] = json.loads(self.redis.client("LINDEX", key, 0))
        return dict(sorted(runs.items()))

    def wait_for_fired(self, n, timeout=15):
        """The schedule once it has claimed n occurrences (a claim comes up to a second after its
        run is due, and may come after the run itself has ended)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            listed = self.schedule("list", "--json")
            self.assertSucceeded(listed)
            entries = listed.json()["schedules"]
            if entries and entries[0]["fired"] >= n:
                return entries[0]
            time.sleep(0.1)
        self.fail(f"the schedule never claimed {n} occurrences: {self.schedule('list', '--json').stdout}")

    def wait_for_runs(self, n, timeout=15):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            done = {t: o for t, o in self.fired_runs().items() if o["ok"]}
            if len(done) >= n:
                return done
            time.sleep(0.1)
        self.fail(f"fewer than {n} occurrences ran: {self.fired_runs()}")

    def test_every_second_on_two_workers_each_occurrence_runs_once(self):
        flow = self.write_tmp("tick.yaml", TICK)
        r = self.schedule("add", flow, "--every", "1s", "--set", "n=7", "--json")
        self.assertSucceeded(r)
        added = r.json()
        self.assertEqual((added["id"], added["flow"], added["everyMs"], added["fired"]), ("tick", "tick", 1000, 0))
        self.assertEqual(added["pending"], f"tick-{added['next']}")
        # the pending occurrence is a delayed BullMQ job, as Bull Board shows it
        self.assertEqual(self.redis.client("ZRANGE", "bull:tick.stamp:delayed", 0, -1), [f"r{added['pending']}.n"])
        for _ in range(2):
            self.start_worker(flow, args=("-c", "2"))
        done = self.wait_for_runs(4)
        times = list(done)[:4]
        self.assertEqual(times[0], added["next"])
        self.assertEqual([b - a for a, b in zip(times, times[1:])], [1000, 1000, 1000], "a period keeps its phase")
        for outcome in done.values():
            self.assertEqual((outcome["state"]["n"], outcome["state"]["ticked"]), (7, True))
        # each occurrence's step ran once, whichever worker claimed it
        for t in times:
            self.assertEqual(self.redis.client("HGET", f"bull:tick.stamp:rtick-{t}.n", "ats"), "1")
        entry = self.wait_for_fired(4)
        # one claim per occurrence, however many workers tried: none counted twice, none skipped
        self.assertEqual(entry["fired"], (entry["last"] - added["next"]) // 1000 + 1, entry)
        self.assertEqual(entry["pending"], f"tick-{entry['next']}")
        text = self.schedule("list")
        self.assertExit(text, 0)
        self.assertIn("tick", text.stdout)
        self.assertIn("every 1s", text.stdout)

    def test_a_cron_schedule_fires_on_its_seconds(self):
        flow = self.write_tmp("tick.yaml", TICK)
        self.assertExit(self.schedule("add", flow, "--cron", "*/2 * * * * *"), 0)
        self.start_worker(flow)
        done = self.wait_for_runs(2)
        times = list(done)[:2]
        self.assertTrue(all(t % 2000 == 0 for t in times), times)
        self.assertEqual(times[1] - times[0], 2000)

    def test_remove_cancels_the_pending_run_and_nothing_more_runs(self):
        flow = self.write_tmp("tick.yaml", TICK)
        # every 3s: the pending run is still seconds from due when the removal comes, under load too
        self.assertExit(self.schedule("add", flow, "--every", "3s", "--id", "tick"), 0)
        self.start_worker(flow)
        self.wait_for_runs(1)
        pending = self.wait_for_fired(1)["pending"]
        r = self.schedule("remove", "tick")
        self.assertExit(r, 0)
        self.assertIn("schedule tick removed", r.stdout)
        self.assertEqual(self.redis.client("ZCARD", "bull:tick.stamp:delayed"), 0)
        before = self.fired_runs()
        time.sleep(2.5)
        after = self.fired_runs()
        self.assertEqual(set(after), set(before), "an occurrence ran after its schedule was removed")
        cancelled = after[int(pending.rsplit("-", 1)[1])]
        self.assertFalse(cancelled["ok"])
        self.assertEqual(cancelled["error"]["message"], "cancelled: its schedule was removed")
        first = min(after)
        self.assertTrue(after[first]["ok"])
        self.assertEqual(self.redis.client("HGET", f"bull:tick.stamp:rtick-{first}.n", "returnvalue") is not None, True,
                         "removing the schedule deleted a job that had already run")
        self.assertEqual(self.redis.client("KEYS", "am2z:schedule*"), [], "a late claim brought the schedule back")
        r = self.schedule("remove", "tick")
        self.assertExit(r, 1)
        self.assertIn("am2z schedule remove: no schedule 'tick'", r.stderr)

    def test_a_worker_killed_mid_schedule_leaves_the_other_to_go_on(self):
        flow = self.write_tmp("tick.yaml", TICK)
        self.assertExit(self.schedule("add", flow, "--every", "1s"), 0)
        first = self.start_worker(flow)
        self.start_worker(flow)
        self.wait_for_runs(2)
        first.send_signal(signal.SIGKILL)
        first.wait()
        done = self.wait_for_runs(5, timeout=40)  # a job the dead worker held comes back when its lock expires
        times = list(done)[:5]
        self.assertEqual(len(set(times)), 5)
        self.assertTrue(all((b - a) % 1000 == 0 for a, b in zip(times, times[1:])), times)

    def test_replacing_a_schedule_drops_its_old_pending_run(self):
        flow = self.write_tmp("tick.yaml", TICK)
        old = self.schedule("add", flow, "--every", "1h", "--json").json()
        new = self.schedule("add", flow, "--every", "2h", "--json").json()
        self.assertNotEqual(old["pending"], new["pending"])
        self.assertEqual(self.redis.client("ZRANGE", "bull:tick.stamp:delayed", 0, -1), [f"r{new['pending']}.n"])
        [entry] = self.schedule("list", "--json").json()["schedules"]
        self.assertEqual(entry["everyMs"], 7_200_000)

    def test_mistakes_are_refused_before_anything_is_stored(self):
        flow = self.write_tmp("tick.yaml", TICK)
        cases = [
            (("add", flow), 2, "am2z schedule add: give exactly one of --every DUR and --cron EXPR"),
            (("add", flow, "--every", "1s", "--cron", "* * * * *"), 2,
             "am2z schedule add: give exactly one of --every DUR and --cron EXPR"),
            (("add", flow, "--cron", "61 * * * *"), 2,
             "am2z schedule add: --cron '61 * * * *': the minute field '61' has '61' outside 0-59"),
            (("add", flow, "--cron", "0 0 30 2 *"), 2, "never matches a date in the next five years"),
            (("add", flow, "--every", "0s"), 2, "--every"),
            (("add", flow, "--every", "1s", "--id", "no:colons"), 2,
             "am2z schedule add: --id 'no:colons': letters, digits, '_' and '-', at most 64 characters"),
            (("add", flow, "--every", "1s", "--set", "n=\"seven\""), 3, "n"),
        ]
        for args, code, message in cases:
            r = self.schedule(*args)
            self.assertExit(r, code)
            self.assertIn(message, r.stderr)
        self.assertEqual(self.redis.client("KEYS", "*"), [])
        r = harness.run("schedule", "list", "--redis", f"redis://127.0.0.1:{self.dead_port()}")
        self.assertExit(r, 4)
        r = harness.run("schedule", "add", flow, "--every", "1s", "--redis", f"redis://127.0.0.1:{self.dead_port()}")
        self.assertExit(r, 4)
        self.assertIn("am2z schedule add: cannot use Redis at redis://127.0.0.1:", r.stderr)

    def dead_port(self):
        from redis_harness import free_dead_port
        return free_dead_port()


class SchedulesAcrossRedisRestarts(Schedules):
    """A schedule lives in Redis: with AOF on, a restart loses neither it nor its pending run,
    and occurrences go on once Redis is back, each run once."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer(persistent=True)

    def test_occurrences_go_on_after_a_redis_restart(self):
        flow = self.write_tmp("tick.yaml", TICK)
        self.assertExit(self.schedule("add", flow, "--every", "1s"), 0)
        worker = self.start_worker(flow)
        self.wait_for_runs(2)
        self.redis.restart(down_for=0.5)
        before = len(self.fired_runs())
        done = self.wait_for_runs(before + 3, timeout=30)
        times = list(done)
        self.assertEqual(len(set(times)), len(times))
        self.assertTrue(all((b - a) % 1000 == 0 for a, b in zip(times, times[1:])), times)
        self.assertIsNone(worker.poll(), "the worker did not ride out the restart")


# the restart class runs its own test only, not every inherited one again
for _name in [n for n in dir(Schedules) if n.startswith("test_")]:
    setattr(SchedulesAcrossRedisRestarts, _name, None)


if __name__ == "__main__":
    import unittest
    unittest.main()
