"""The examples beside the order flow, end to end, each in-process and on two workers over Redis:

- images (examples/flows/images): PNG files the test writes are resized, thumbnailed, watermarked
  and described by four exec steps in parallel per image; the test decodes what they wrote.
- tenants (examples/plugins/tenants): a C++ plugin built against the installed SDK, feature
  flags routing each tenant, one session per tenant, two tenants at once on shared workers.
- ledger (examples/flows/ledger): 10,000 generated transactions through a batch with a retried
  flaky step and collected rejections, totals checked against the test's own arithmetic. The
  distributed run uses 10,000 too (about 6 s with two workers on 2 cores); sanitizer builds
  (AM2Z_SANITIZE) use 2,000 for both.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from collections import Counter

import png_files
from harness import REPO, E2ETestCase, events_of, example, finish, run, start
from redis_harness import DistributedTestCase

BUILD_DIR = os.environ.get("AM2Z_BUILD_DIR", "")
SANITIZED = bool(os.environ.get("AM2Z_SANITIZE"))
TRANSACTIONS = 2_000 if SANITIZED else 10_000  # a Debug build under ASan or TSan is many times slower
IMAGES = example("images", "images.yaml")
LEDGER = example("ledger", "ledger.yaml")
TENANTS_SOURCE = os.path.join(REPO, "examples", "plugins", "tenants")


# --- images ------------------------------------------------------------------------------------

QUADRANTS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 40)]  # top-left, top-right, ...


def quadrant(x, y, width, height):
    return QUADRANTS[(2 if y >= height // 2 else 0) + (1 if x >= width // 2 else 0)]


def write_images(folder):
    """Five PNGs (RGB, RGBA, grey, a palette with transparency; rows of every filter type, the image
    data split in two chunks), a broken one and a text file."""
    os.makedirs(folder)
    png_files.write(os.path.join(folder, "blocks.png"), 200, 120, 3, lambda x, y: quadrant(x, y, 200, 120))
    png_files.write(os.path.join(folder, "alpha.png"), 64, 96, 4,
                    lambda x, y: (*quadrant(x, y, 64, 96), 0 if x < 8 else 255))
    png_files.write(os.path.join(folder, "grey.png"), 50, 30, 1, lambda x, y: ((x * 5) % 256,))
    png_files.write(os.path.join(folder, "palette.png"), 40, 40, 1, lambda x, y: ((x // 20 + y // 20) % 2,),
                    palette=[(10, 20, 30), (250, 250, 250)], alpha=[128])
    png_files.write(os.path.join(folder, "stripes.png"), 200, 40, 3, lambda x, y: (255 * (x % 2),) * 3)
    with open(os.path.join(folder, "broken.png"), "wb") as f:
        f.write(png_files.SIGNATURE + b"\0\0\0\x0dIHDR truncated")
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image\n")
    return ["alpha", "blocks", "broken", "grey", "palette", "stripes"]  # the order of the batch's items


class ImagesCheck(E2ETestCase):
    def images_input(self, out):
        folder = self.tmp_path("in")
        if not os.path.isdir(folder):
            write_images(folder)
        return self.write_tmp(f"{os.path.basename(out)}.json", json.dumps(
            {"inputDir": folder, "outputDir": out,
             "options": {"resizeWidth": 100, "thumbnailSize": 32, "watermark": "E2E"}}))

    def check_images(self, state, out):
        """Every output file decoded: sizes, colours where they are known, the watermark's box."""
        batch = state["processed"]
        self.assertEqual(batch["counts"], {"total": 6, "succeeded": 5, "failed": 1})
        self.assertEqual([e["index"] for e in batch["errors"]], [2])
        error = batch["errors"][0]["error"]
        self.assertEqual((error["code"], error["category"]), ("INVALID_IMAGE", "validation"), error)
        self.assertIn("broken.png", error["message"])
        self.assertNotIn("images", state)  # dropped once processed
        expected = {"alpha": (64, 96, 4, (21, 32)), "blocks": (200, 120, 3, (32, 19)), "grey": (50, 30, 1, (32, 19)),
                    "palette": (40, 40, 4, (32, 32)), "stripes": (200, 40, 3, (32, 6))}  # thumbnails fit in 32x32
        for result in [r for r in batch["results"] if r is not None]:
            name = result["name"]
            width, height, channels, thumb_size = expected[name]
            with self.subTest(image=name):
                source = self.tmp_path(os.path.join("in", name + ".png"))
                with open(source, "rb") as f:
                    data = f.read()
                self.assertEqual(result["info"], {**result["info"], "width": width, "height": height,
                                                  "channels": channels, "bytes": len(data),
                                                  "sha256": hashlib.sha256(data).hexdigest()})
                resized = png_files.read(result["resized"]["path"])
                self.assertEqual(resized.size, (100, round(height * 100 / width)))
                self.assertEqual(resized.channels, channels)
                thumb = png_files.read(result["thumbnail"]["path"])
                self.assertEqual(thumb.size, thumb_size)
                for path in (result["resized"]["path"], result["thumbnail"]["path"], result["watermarked"]["path"]):
                    self.assertEqual(os.path.dirname(path), out)
                if name == "blocks":  # a box filter of uniform blocks keeps their colours exactly
                    for image in (resized, thumb):
                        w, h = image.size
                        for x, y in ((2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)):
                            self.assertEqual(image.pixel(x, y), quadrant(x, y, w, h), (image.size, x, y))
                if name == "palette":  # expanded to RGBA: index 0 is half transparent, index 1 opaque
                    self.assertEqual((resized.pixel(0, 0), resized.pixel(99, 0)),
                                     ((10, 20, 30, 128), (250, 250, 250, 255)))
                if name == "stripes":  # black and white columns: a box filter greys them, nearest picks one
                    self.assertEqual(set(resized.pixels), {128})
                    self.assertLessEqual(set(thumb.pixels), {0, 255})
                self.check_watermark(source, result["watermarked"], compare=name != "palette")

    def check_watermark(self, source, stamped, compare):
        """The text is drawn in white inside the reported box, and no pixel outside it changed."""
        marked = png_files.read(stamped["path"])
        left, top, w, h = stamped["box"]
        self.assertEqual((left + w, top + h), marked.size)  # the bottom-right corner
        self.assertEqual(stamped["text"], "E2E")
        inside = [(x, y) for y in range(top, top + h) for x in range(left, left + w)]
        colour = 3 if marked.channels >= 3 else 1
        white = [p for p in inside if set(marked.pixel(*p)[:colour]) == {255}]
        self.assertGreater(len(white), 10)  # the letters' strokes
        if compare:  # (the test's decoder reads no palette image: the source of that one is not compared)
            original = png_files.read(source)
            changed = {(x, y) for y in range(marked.height) for x in range(marked.width)
                       if marked.pixel(x, y) != original.pixel(x, y)}
            self.assertTrue(changed, "the watermark changed nothing")
            self.assertEqual(sorted(changed - set(inside))[:5], [], "pixels outside the watermark's box changed")


class ImagesTest(ImagesCheck):
    def test_each_image_is_resized_thumbnailed_watermarked_and_described(self):
        out = self.tmp_path("out")
        r = run("run", IMAGES, "-i", self.images_input(out), "--log-level", "info", timeout=60)
        self.check_images(self.assertSucceeded(r), out)
        self.assertIn("info scan: found 6 PNG file(s)", r.stderr)
        self.assertIn("info processed 5 of 6 images into " + out, r.stderr)
        self.assertEqual(len(os.listdir(out)), 15)  # 5 images x (resized, thumb, watermarked)

    def test_the_committed_sample_input_runs(self):
        with open(example("images", "images-input.json")) as f:
            data = json.load(f)
        data["outputDir"] = self.tmp_path("samples-out")
        r = run("run", IMAGES, "-i", "-", "-q", stdin=json.dumps(data), timeout=60)
        self.assertEqual(self.assertSucceeded(r)["processed"]["counts"], {"total": 3, "succeeded": 3, "failed": 0})


class ImagesDistributedTest(ImagesCheck, DistributedTestCase):
    def test_two_workers_write_the_same_files_as_a_local_run(self):
        self.start_worker(IMAGES, args=("-c", "4"))
        self.start_worker(IMAGES, args=("-c", "4"))
        out = self.tmp_path("out-redis")
        state = self.assertSucceeded(self.run_redis(IMAGES, "-i", self.images_input(out), timeout=60))
        self.check_images(state, out)
        local_out = self.tmp_path("out-local")
        local = self.assertSucceeded(run("run", IMAGES, "-i", self.images_input(local_out), "-q", timeout=60))
        for name in sorted(os.listdir(local_out)):
            with open(os.path.join(local_out, name), "rb") as a, open(os.path.join(out, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        self.assertEqual(json.dumps(self.data_of(state)).replace(out, local_out), json.dumps(self.data_of(local)))
        for step in ("resize", "thumbnail", "watermark", "describe"):  # each image's steps ran on the workers
            self.assertEqual(self.redis.client("ZCARD", f"bull:process-images.{step}:completed"), 5, step)
            self.assertEqual(self.redis.client("ZCARD", f"bull:process-images.{step}:failed"), 1, step)


# --- tenants -----------------------------------------------------------------------------------

_tenants = {}


def tenants_example():
    """The tenants example copied to a scratch folder with its plugin built there against the SDK
    installed from AM2Z_BUILD_DIR (as tests/e2e/test_plugins.py builds the order plugin); once
    per test run."""
    if "dir" not in _tenants:
        scratch = tempfile.mkdtemp(prefix="am2z-tenants-")
        unittest.addModuleCleanup(shutil.rmtree, scratch, ignore_errors=True)
        prefix, work = os.path.join(scratch, "prefix"), os.path.join(scratch, "tenants")
        shutil.copytree(TENANTS_SOURCE, work, ignore=shutil.ignore_patterns("build"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CXXFLAGS", "LDFLAGS"))}
        for cmd in (["cmake", "--install", BUILD_DIR, "--prefix", prefix],
                    ["cmake", "-S", work, "-B", os.path.join(work, "build"), "-G", "Ninja",
                     f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"],
                    ["cmake", "--build", os.path.join(work, "build")]):
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            if p.returncode != 0:
                raise AssertionError(f"{' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
        _tenants["dir"] = work
    return _tenants["dir"]


# What the flow's plans make of the two inputs (amounts in minor units), worked out by hand.
ACME_INVOICE = [("base", 1, 49900), ("seats", 42, 50400), ("api-calls-over-plan (per 1000)", 1300, 13000)]
GLOBEX_INVOICE = [("base", 1, 2900), ("seats", 4, 2000), ("api-calls-over-plan (per 1000)", 57, 2280)]


@unittest.skipUnless(BUILD_DIR, "AM2Z_BUILD_DIR not set (run through ctest)")
class TenantsCheck(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.dir = tenants_example()
        self.flow = os.path.join(self.dir, "tenants.yaml")
        self.exports = self.tmp_path("exports")

    def args(self, tenant, *extra):
        return (self.flow, "-i", os.path.join(self.dir, f"{tenant}-input.json"), "--session", f"tenant-{tenant}",
                "--set", f".exportDir={self.exports}", *extra)

    def check_acme(self, state):
        self.assertMetadata(state, 6, session="tenant-acme")
        invoice = state["invoice"]
        self.assertEqual([(l["item"], l["quantity"], l["amountMinor"]) for l in invoice["lines"]], ACME_INVOICE)
        self.assertEqual((invoice["plan"], invoice["totalMinor"]), ("enterprise", 113300))
        report = state["report"]
        self.assertEqual((report["kind"], report["tenant"], report["busiestDay"]), ("premium", "acme", "2026-11-02"))
        self.assertEqual([d["sharePercent"] for d in report["daily"]], [28.57, 38.1, 33.33])
        self.assertEqual(report["projected30DayCalls"], 63000000)
        path = os.path.join(self.exports, "acme-2026-11.csv")
        self.assertEqual(state["export"]["path"], path)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(state["export"]["sha256"], hashlib.sha256(data).hexdigest())
        text = data.decode()
        self.assertEqual(text.splitlines()[-1], "invoice,total,,113300")
        self.assertEqual(len(text.splitlines()), 1 + 3 + 3 + 1)  # header, days, invoice lines, total

    def check_globex(self, state):
        self.assertMetadata(state, 6, session="tenant-globex")
        invoice = state["invoice"]
        self.assertEqual([(l["item"], l["quantity"], l["amountMinor"]) for l in invoice["lines"]], GLOBEX_INVOICE)
        self.assertEqual((invoice["plan"], invoice["totalMinor"]), ("starter", 7180))
        self.assertEqual(state["report"], {"kind": "standard", "tenant": "globex", "period": "2026-11",
                                           "apiCalls": 156500, "totalMinor": 7180, "currency": "EUR"})
        self.assertIsNone(state["export"])  # no dataExport feature: no file
        self.assertFalse(os.path.exists(os.path.join(self.exports, "globex-2026-11.csv")))


class TenantsTest(TenantsCheck):
    def test_each_tenant_gets_what_its_plan_and_feature_flags_say(self):
        acme = run("run", *self.args("acme"), "--events", "-", "--log-level", "info")
        self.check_acme(self.assertSucceeded(acme))
        metered = [e for e in events_of(acme.stderr) if e["event"] == "tenant:metered"]
        self.assertEqual([e["data"] for e in metered], [{"tenant": "acme", "apiCalls": 6300000}])
        self.assertIn("info premium-report: premium report for acme", acme.stderr)
        self.check_globex(self.assertSucceeded(run("run", *self.args("globex"), "-q")))

    def test_turning_a_flag_on_takes_the_premium_branch(self):
        state = self.assertSucceeded(run("run", *self.args("globex", "--set", ".features.premiumReports=true",
                                                             "--set", ".features.dataExport=true"), "-q"))
        self.assertEqual((state["report"]["kind"], state["report"]["busiestDay"]), ("premium", "2026-11-03"))
        self.assertTrue(os.path.isfile(os.path.join(self.exports, "globex-2026-11.csv")))

    def test_an_unknown_plan_is_a_validation_error(self):
        err = self.assertFailedWith(run("run", *self.args("globex", "--set", ".tenant.plan=platinum")), 1)
        self.assertEqual((err["code"], err["message"], err["context"]["failedProcessor"]),
                         ("UNKNOWN_PLAN", "no plan 'platinum'", "price"))

    def test_the_plugin_registers_its_types(self):
        r = run("processors", "--json", "--plugin", os.path.join(self.dir, "build", "tenants_plugin.so"))
        self.assertExit(r, 0)
        origins = {p["name"]: p["origin"] for p in r.json()["processors"]}
        for name in ("meter-usage", "price-plan", "standard-report", "premium-report"):
            self.assertTrue(origins[name].endswith("tenants_plugin.so"), origins[name])


class TenantsDistributedTest(TenantsCheck, DistributedTestCase):
    def test_two_tenants_at_once_on_shared_workers_each_in_its_session(self):
        self.start_worker(self.flow, args=("-c", "2"))
        self.start_worker(self.flow, args=("-c", "2"))
        runs = {t: start("run", *self.args(t), "--redis", self.redis.url, "-q") for t in ("acme", "globex")}
        self.check_acme(self.assertSucceeded(finish(runs["acme"], timeout=60)))
        self.check_globex(self.assertSucceeded(finish(runs["globex"], timeout=60)))

        listed = run("session", "list", "--redis", self.redis.url, "--json")
        self.assertExit(listed, 0)
        sessions = {s["session"]: s for s in listed.json()["sessions"]}
        self.assertEqual(set(sessions), {"tenant-acme", "tenant-globex"})
        for s in sessions.values():
            self.assertEqual((s["runs"], s["completed"], s["failed"], s["running"]), (1, 1, 0, 0), s)
        # each session's steps: its own branch of each route, and nothing of the other tenant's
        branches = {"tenant-acme": {"premium-report": 1, "standard-report": 0, "export-csv": 1, "no-export": 0},
                    "tenant-globex": {"premium-report": 0, "standard-report": 1, "export-csv": 0, "no-export": 1}}
        for session, expected in branches.items():
            stats = run("session", "stats", session, "--redis", self.redis.url, "--json")
            self.assertExit(stats, 0)
            done = {q["queue"].split(".", 1)[1]: q["completed"] for q in stats.json()["queues"]}
            self.assertEqual({k: done.get(k, 0) for k in expected}, expected, session)
            self.assertEqual((done["meter"], done["price"], done["done"]), (1, 1, 1), session)


# --- ledger ------------------------------------------------------------------------------------

ACCOUNT = re.compile(r"^ACC-[0-9]{4}$")


def rejection(tx):
    """Why the flow must refuse `tx` (its error code), or None: the test's own reading of the rules."""
    amount = tx.get("amountMinor")
    valid = (isinstance(tx.get("id"), str) and tx["id"] and isinstance(tx.get("account"), str)
             and ACCOUNT.match(tx["account"]) and tx.get("currency") in ("EUR", "USD", "GBP")
             and isinstance(amount, int) and not isinstance(amount, bool) and 1 <= amount <= 100000000
             and tx.get("type") in ("credit", "debit") and tx.get("channel") in ("card", "ach", "wire"))
    if not valid:
        return "VALIDATION_FAILED"
    return "ACCOUNT_FROZEN" if tx["account"] == "ACC-9999" else None


def expected_ledger(transactions):
    accounts, rejected, wires = {}, [], 0
    for tx in transactions:
        code = rejection(tx)
        if code:
            rejected.append((tx.get("id"), code))
            continue
        wires += tx["channel"] == "wire"
        totals = accounts.setdefault(tx["account"], {}).setdefault(
            tx["currency"], {"count": 0, "credits": 0, "debits": 0, "net": 0})
        totals["count"] += 1
        sign = 1 if tx["type"] == "credit" else -1
        totals["credits" if sign > 0 else "debits"] += tx["amountMinor"]
        totals["net"] += sign * tx["amountMinor"]
    return accounts, rejected, wires


class LedgerCheck(E2ETestCase):
    def generate(self, count):
        path = self.tmp_path(f"ledger-{count}.json")
        with open(path, "w") as f:
            subprocess.run([sys.executable, example("ledger", "scripts", "generate.py"), str(count)],
                           stdout=f, check=True, timeout=60)
        with open(path) as f:
            return path, json.load(f)["transactions"]

    def check_ledger(self, state, transactions, events=None):
        accounts, rejected, wires = expected_ledger(transactions)
        summary, posted = state["summary"], len(transactions) - len(rejected)
        self.assertEqual(summary["counts"], {"total": len(transactions), "posted": posted, "rejected": len(rejected)})
        self.assertEqual(summary["accounts"], accounts)
        currencies = {}
        for per_currency in accounts.values():
            for currency, totals in per_currency.items():
                currencies.setdefault(currency, Counter()).update(totals)
        self.assertEqual(summary["currencies"], {c: dict(t) for c, t in currencies.items()})
        self.assertEqual(summary["rejectedByCode"], dict(Counter(code for _, code in rejected)))
        self.assertEqual(summary["clearedBy"], {"clearing-house": wires, "internal": posted - wires})
        self.assertEqual([(r["id"], r["code"]) for r in state["rejected"]], rejected)
        self.assertEqual(set(state), {"summary", "rejected", "metadata"})  # the detail was dropped
        if events is not None:  # every wire was refused once by the clearing house, then retried
            retried = [e for e in events_of(events) if e["event"] == "processor:retrying"]
            self.assertEqual(len(retried), wires)
            self.assertEqual({(e["processor"], e["attempt"], e["nextAttempt"], e["error"]["code"]) for e in retried},
                             {("clearing-house", 1, 2, "NETWORK_ERROR")})
        return summary


class LedgerTest(LedgerCheck):
    def test_ten_thousand_transactions_are_posted_rejected_and_summed(self):
        path, transactions = self.generate(TRANSACTIONS)
        events = self.tmp_path("events.jsonl")
        r = run("run", LEDGER, "-i", path, "--events", events, "--log-level", "info", timeout=120)
        with open(events) as f:
            summary = self.check_ledger(self.assertSucceeded(r), transactions, f.read())
        # every kind of item is there in numbers (the generator's shares: 2%, 0.5%, 5%)
        self.assertGreater(summary["rejectedByCode"]["VALIDATION_FAILED"], TRANSACTIONS // 100)
        self.assertGreater(summary["rejectedByCode"]["ACCOUNT_FROZEN"], TRANSACTIONS // 500)
        self.assertGreater(summary["clearedBy"]["clearing-house"], TRANSACTIONS // 40)
        counts = summary["counts"]
        self.assertIn(f"info posted {counts['posted']} of {TRANSACTIONS} transactions, rejected {counts['rejected']}",
                      r.stderr)

    def test_the_committed_input(self):
        with open(example("ledger", "ledger-input.json")) as f:
            transactions = json.load(f)["transactions"]
        state = self.assertSucceeded(run("run", LEDGER, "-i", example("ledger", "ledger-input.json"), "-q"))
        self.check_ledger(state, transactions)
        reasons = {r["id"]: r["reason"] for r in state["rejected"]}
        self.assertTrue(reasons["TX-000006"].startswith("/currency: "), reasons)
        self.assertEqual(reasons["TX-000008"], "the account is frozen")


class LedgerDistributedTest(LedgerCheck, DistributedTestCase):
    def test_ten_thousand_transactions_on_two_workers(self):
        self.start_worker(LEDGER, args=("-c", "16"))
        self.start_worker(LEDGER, args=("-c", "16"))
        path, transactions = self.generate(TRANSACTIONS)
        state = self.assertSucceeded(self.run_redis(LEDGER, "-i", path, "--events", self.tmp_path("events.jsonl"),
                                                    timeout=120))
        with open(self.tmp_path("events.jsonl")) as f:
            self.check_ledger(state, transactions, f.read())
        local = self.assertSucceeded(run("run", LEDGER, "-i", path, "-q", timeout=120))
        self.assertEqual(self.data_of(state), self.data_of(local))


if __name__ == "__main__":
    unittest.main()
