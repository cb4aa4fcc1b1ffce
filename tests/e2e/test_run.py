"""am2z run: final states, metadata, input options, output formats and events."""

import json
import unittest

from harness import E2ETestCase, ISO_TS, events_of, example, fixture, run

ORDER = example("order", "order.yaml")
APPROVED_INPUT = example("order", "order-input.json")
DECLINED_INPUT = example("order", "declined-input.json")

ORDER_LINES = [
    {"sku": "BOOK-1", "quantity": 2, "price": 15.5},
    {"sku": "PEN-7", "quantity": 1, "price": 3.0},
]
RESERVED = {"reserved": [{"sku": "BOOK-1", "quantity": 2}, {"sku": "PEN-7", "quantity": 1}]}

APPROVED_STATE = {
    "orderId": "ORD-001",
    "customer": {"email": "ada@example.com", "card": "4242424242424242"},
    "lines": ORDER_LINES,
    "total": 34.0,
    "payment": {"status": "approved", "amount": 34.0, "transactionId": "txn-ORD-001"},
    "inventory": RESERVED,
    "status": "completed",
    "notification": {"channel": "email", "template": "order-confirmed"},
}
DECLINED_STATE = {
    "orderId": "ORD-001",
    "customer": {"email": "ada@example.com", "card": "4000000000000000"},
    "lines": ORDER_LINES,
    "total": 34.0,
    "payment": {"status": "declined", "amount": 34.0, "transactionId": None},
    "inventory": RESERVED,
    "status": "payment_failed",
    "notification": {"channel": "email", "template": "payment-declined"},
}
# validate (1) + charge and reserve in parallel (2) + notify (1) + log (1), on top of version 1
ORDER_VERSION = 6
ORDER_PROCESSORS = ["validate-order", "charge-payment", "reserve-stock", "notify-confirmed", "log-done"]


INVOICES = example("batch", "invoices.yaml")
INVOICES_INPUT = example("batch", "invoices-input.json")


class InvoicesExampleTest(E2ETestCase):
    def test_collects_per_invoice_results_and_the_failure(self):
        r = run("run", INVOICES, "-i", INVOICES_INPUT)
        state = self.assertSucceeded(r)
        priced = state["priced"]
        self.assertEqual(priced["counts"], {"total": 4, "succeeded": 3, "failed": 1})
        self.assertEqual([x and x["total"] for x in priced["results"]], [119.0, 300.0, None, 96.8])
        self.assertEqual(len(priced["errors"]), 1)
        failure = priced["errors"][0]
        self.assertEqual(failure["index"], 2)
        self.assertEqual(failure["error"]["context"]["failedProcessor"], "tax-service")
        self.assertEqual(failure["error"]["context"]["exitCode"], 75)
        # exit 75 is not a timeout, so the tax service's retry policy does not retry it
        self.assertNotIn("attempts", failure["error"]["context"])
        # the batch is one step of the outer state, the log step another
        self.assertMetadata(state, 3)
        self.assertIn("priced 3 of 4 invoices", r.stderr)


class OrderExampleTest(E2ETestCase):
    def test_approved_order(self):
        r = run("run", ORDER, "-i", APPROVED_INPUT)
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), APPROVED_STATE)
        meta = self.assertMetadata(state, ORDER_VERSION)
        self.assertRegex(meta["sessionId"], r"^session-[0-9a-f]{16}$")
        # The log step writes to stderr, never stdout.
        self.assertIn("order ORD-001 finished with status completed", r.stderr)

    def test_declined_order(self):
        r = run("run", ORDER, "-i", DECLINED_INPUT)
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), DECLINED_STATE)
        self.assertMetadata(state, ORDER_VERSION)
        self.assertIn("order ORD-001 finished with status payment_failed", r.stderr)

    def test_set_overrides_input_file(self):
        # A card ending in 0000 is declined: --set turns the approved input into a declined order.
        # The value is JSON when it parses as JSON, so the card number is quoted to stay a string.
        r = run("run", ORDER, "-i", APPROVED_INPUT, "--set", 'customer.card="4000000000000000"',
                "--set", ".orderId=ORD-9", "-q")
        state = self.assertSucceeded(r)
        self.assertEqual(state["customer"]["card"], "4000000000000000")
        self.assertEqual(state["orderId"], "ORD-9")
        self.assertEqual(state["payment"], {"status": "declined", "amount": 34.0, "transactionId": None})
        self.assertEqual(state["status"], "payment_failed")
        self.assertEqual(r.stderr, "", "-q hides info logs")

    def test_input_from_stdin(self):
        with open(DECLINED_INPUT, encoding="utf-8") as f:
            text = f.read()
        r = run("run", ORDER, "-i", "-", stdin=text)
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), DECLINED_STATE)
        self.assertMetadata(state, ORDER_VERSION)

    def test_events_file_lifecycle(self):
        events_path = self.tmp_path("events.jsonl")
        r = run("run", ORDER, "-i", APPROVED_INPUT, "--events", events_path, "--session", "sess-events")
        state = self.assertSucceeded(r)
        with open(events_path, encoding="utf-8") as f:
            text = f.read()
        lines = [line for line in text.splitlines() if line]
        events = [json.loads(line) for line in lines]  # every line is one JSON object
        self.assertEqual(len(events), len(lines))
        self.assertNotIn('"event"', r.stderr, "events go to the file, not stderr")

        self.assertEqual(events[0]["event"], "flow:started")
        self.assertEqual(events[0]["flow"], "process-order")
        self.assertEqual(events[-1]["event"], "flow:completed")
        self.assertEqual(events[-1]["flow"], "process-order")
        self.assertEqual(events[-1]["version"], ORDER_VERSION)
        self.assertIsInstance(events[-1]["durationMs"], int)
        run_ids = {e["runId"] for e in events}
        self.assertEqual(len(run_ids), 1)
        self.assertRegex(run_ids.pop(), r"^[0-9a-f]{16}$")
        self.assertEqual({e["sessionId"] for e in events}, {"sess-events"})
        self.assertEqual(state["metadata"]["sessionId"], "sess-events")
        for e in events:
            self.assertRegex(e["ts"], ISO_TS)

        for name in ORDER_PROCESSORS:
            mine = [e for e in events if e.get("processor") == name]
            self.assertEqual([e["event"] for e in mine], ["processor:started", "processor:completed"], name)
            self.assertEqual([e["attempt"] for e in mine], [1, 1])
            self.assertIn("type", mine[0])
            self.assertIsInstance(mine[1]["version"], int)
        kinds = {e["event"] for e in events}
        self.assertEqual(kinds, {"flow:started", "flow:completed", "processor:started", "processor:completed"})
        # validate-order completes before the parallel branches start.
        order = [(e["event"], e.get("processor")) for e in events]
        validated = order.index(("processor:completed", "validate-order"))
        self.assertLess(validated, order.index(("processor:started", "charge-payment")))
        self.assertLess(validated, order.index(("processor:started", "reserve-stock")))

    def test_events_to_stderr(self):
        r = run("run", fixture("chain.yaml"), "--events", "-", "-c")
        state = self.assertSucceeded(r)
        self.assertEqual(r.stdout.count("\n"), 1, "stdout holds only the final state")
        events = events_of(r.stderr)
        self.assertEqual([(e["event"], e.get("processor")) for e in events], [
            ("flow:started", None),
            ("processor:started", "start"), ("processor:completed", "start"),
            ("processor:started", "enrich"), ("processor:completed", "enrich"),
            ("processor:started", "finish"), ("processor:completed", "finish"),
            ("flow:completed", None),
        ])
        self.assertEqual([e["version"] for e in events if e["event"] == "processor:completed"], [2, 3, 4])
        self.assertEqual({e["sessionId"] for e in events}, {state["metadata"]["sessionId"]})
        self.assertEqual([e["type"] for e in events if e["event"] == "processor:started"], ["set", "exec", "set"])


class OptionsTest(E2ETestCase):
    def test_session_option(self):
        r = run("run", fixture("chain.yaml"), "--session", "my-session-42")
        self.assertMetadata(self.assertSucceeded(r), 4, session="my-session-42")

    def test_session_and_version_from_input_metadata(self):
        created = "2025-01-02T03:04:05.678Z"
        doc = {"metadata": {"sessionId": "from-input", "version": 5, "createdAt": created,
                            "lastUpdated": created}, "x": 1}
        path = self.write_tmp("in.json", json.dumps(doc))
        state = self.assertSucceeded(run("run", fixture("chain.yaml"), "-i", path))
        meta = self.assertMetadata(state, 5 + 3, session="from-input")
        self.assertEqual(meta["createdAt"], created)
        self.assertGreater(meta["lastUpdated"], created)
        self.assertEqual(state["x"], 1)
        # --session wins over the input's sessionId.
        state = self.assertSucceeded(run("run", fixture("chain.yaml"), "-i", path, "--session", "cli"))
        self.assertMetadata(state, 8, session="cli")

    def test_set_values(self):
        r = run("run", fixture("route.yaml"), "--set", "payment.status=declined", "--set", "a.b.c=5",
                "--set", "note=hello world", "--set", "flag=true", "--set", 'obj={"k": [1, 2]}',
                "--set", "arr[1]=x", "--set", "n=null", "--set", 'quoted="42"', "-c")
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), {
            "payment": {"status": "declined"},
            "status": "payment_failed",
            "a": {"b": {"c": 5}},
            "note": "hello world",
            "flag": True,
            "obj": {"k": [1, 2]},
            "arr": [None, "x"],
            "n": None,
            "quoted": "42",
        })

    def test_set_on_stdin_input(self):
        r = run("run", fixture("route.yaml"), "-i", "-", "--set", "payment.status=approved",
                stdin='{"orderId": "X-1", "payment": {"status": "declined", "amount": 3}}')
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), {
            "orderId": "X-1",
            "payment": {"status": "approved", "amount": 3},
            "status": "completed",
            "shipping": {"carrier": "post"},
        })
        self.assertMetadata(state, 3)

    def test_compact_and_pretty_output(self):
        compact = run("run", fixture("route.yaml"), "--session", "s", "--compact")
        pretty = run("run", fixture("route.yaml"), "--session", "s")
        short = run("run", fixture("route.yaml"), "--session", "s", "-c")
        for r in (compact, pretty, short):
            self.assertExit(r, 0)
            self.assertTrue(r.stdout.endswith("\n"))
        self.assertEqual(compact.stdout.count("\n"), 1)
        self.assertEqual(short.stdout.count("\n"), 1)
        self.assertGreater(pretty.stdout.count("\n"), 5)
        self.assertIn('\n  "metadata": {\n', pretty.stdout)
        strip = lambda r: self.data_of(r.json())
        self.assertEqual(strip(compact), strip(pretty))
        self.assertEqual(strip(compact), {"status": "needs_review"})

    def test_no_input_starts_from_empty_state(self):
        state = self.assertSucceeded(run("run", fixture("route.yaml")))
        self.assertEqual(self.data_of(state), {"status": "needs_review"})
        self.assertMetadata(state, 2)

    def test_log_levels(self):
        args = ("run", ORDER, "-i", APPROVED_INPUT)
        quiet = run(*args, "--log-level", "off")
        self.assertSucceeded(quiet)
        self.assertEqual(quiet.stderr, "")
        env_quiet = run(*args, env={"AM2Z_LOG_LEVEL": "error"})
        self.assertSucceeded(env_quiet)
        self.assertEqual(env_quiet.stderr, "")
        before = run("-q", *args)  # global options also go before the subcommand
        self.assertSucceeded(before)
        self.assertEqual(before.stderr, "")


class CompositeTest(E2ETestCase):
    def test_chain(self):
        state = self.assertSucceeded(run("run", fixture("chain.yaml"), "--set", "x=1"))
        self.assertEqual(self.data_of(state), {
            "x": 1,
            "status": "done",
            "steps": ["start", "enrich"],
            "customer": {"tier": "gold"},
            "result": {"total": 3},
        })
        self.assertMetadata(state, 4)

    def test_parallel_deep_merge_appends_in_declaration_order(self):
        # Branch A finishes last and C first; the merge still follows declaration order.
        state = self.assertSucceeded(run("run", fixture("parallel_deep.yaml")))
        self.assertEqual(self.data_of(state), {
            "log": ["A", "B", "C"],
            "info": {"base": True, "a": 1, "b": 2},
            "c": 3,
        })
        self.assertMetadata(state, 1 + 1 + 3)

    def test_parallel_deep_merge_keeps_existing_items(self):
        state = self.assertSucceeded(run("run", fixture("parallel_deep.yaml"), "--set", 'seed=["s"]'))
        self.assertEqual(state["log"], ["A", "B", "C"])  # init resets .log
        self.assertEqual(state["seed"], ["s"])

    def test_parallel_merge_strategies(self):
        cfg = '{"a": 0, "keep": true}'
        expected = {
            # both branches' nested changes survive
            "deep": {"cfg": {"a": 1, "b": 2, "keep": True}, "x": 1, "y": 2},
            # top-level members: the later branch's whole .cfg replaces the earlier one's
            "shallow": {"cfg": {"a": 0, "b": 2, "keep": True}, "x": 1, "y": 2},
            # only the last branch's output
            "last-wins": {"cfg": {"a": 0, "b": 2, "keep": True}, "y": 2},
        }
        for merge, want in expected.items():
            with self.subTest(merge=merge):
                r = run("run", fixture("parallel_merge.yaml"), "--set", f"merge={merge}", "--set", f"cfg={cfg}")
                state = self.assertSucceeded(r)
                self.assertEqual(self.data_of(state), {"merge": merge, **want})
                self.assertMetadata(state, 3)

    def test_route_cases_and_default(self):
        cases = {
            "approved": ({"status": "completed", "shipping": {"carrier": "post"}}, 3),  # sub-flow of two steps
            "declined": ({"status": "payment_failed"}, 2),
            "something-else": ({"status": "needs_review"}, 2),
        }
        for value, (added, version) in cases.items():
            with self.subTest(value=value):
                state = self.assertSucceeded(run("run", fixture("route.yaml"), "--set", f"payment.status={value}"))
                self.assertEqual(self.data_of(state), {"payment": {"status": value}, **added})
                self.assertMetadata(state, version)

    def test_batch_collect_output_shape(self):
        items = json.dumps([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])
        state = self.assertSucceeded(run("run", fixture("batch_collect.yaml"), "--set", f"items={items}"))
        out = state["out"]
        self.assertEqual(set(out), {"results", "errors", "counts"})
        self.assertEqual(out["results"], [None, {"n": 2, "sq": 4}, None, {"n": 4, "sq": 16}])
        self.assertEqual(out["counts"], {"total": 4, "succeeded": 2, "failed": 2})
        self.assertEqual([e["index"] for e in out["errors"]], [0, 2])
        for e, n in zip(out["errors"], (1, 3)):
            self.assertEqual(set(e), {"index", "error"})
            err = e["error"]
            self.assertEqual(err["name"], "ProcessorExecutionError")
            self.assertEqual(err["code"], "PROCESSOR_EXECUTION_FAILED")
            self.assertEqual(err["message"], f"Processor 'square' execution failed: 'python3' exited with code 2: odd {n} rejected")
            self.assertEqual(err["context"]["exitCode"], 2)
            self.assertEqual(err["context"]["failedProcessor"], "square")
            self.assertEqual(err["context"]["stderr"], f"odd {n} rejected\n")
        self.assertEqual(state["items"], json.loads(items))
        self.assertMetadata(state, 2)  # a batch is one step of the flow

    def test_batch_literal_items_default_output(self):
        state = self.assertSucceeded(run("run", fixture("batch_literal.yaml")))
        self.assertEqual(self.data_of(state), {"batch": {
            "results": [{"item": 1, "done": True}, {"item": "two", "done": True}, {"x": 3, "done": True}],
            "errors": [],
            "counts": {"total": 3, "succeeded": 3, "failed": 0},
        }})
        self.assertMetadata(state, 2)

    def test_batch_fail_fast(self):
        r = run("run", fixture("batch_fail_fast.yaml"))
        err = self.assertFailedWith(r, 1)
        self.assertOnlyErrorLine(r)
        self.assertEqual((err["name"], err["code"], err["category"]), ("BusinessError", "BAD_ITEM", "business"))
        self.assertEqual(err["message"], "item two is bad")
        self.assertEqual(err["context"]["batch"], "items")
        self.assertEqual(err["context"]["index"], 1)
        self.assertEqual(err["context"]["completedSteps"], 1)
        self.assertEqual(self.data_of(err["partialState"]), {"started": True})
        self.assertEqual(err["partialState"]["metadata"]["version"], 2)

    def test_batch_items_path_errors(self):
        r = run("run", fixture("batch_collect.yaml"))
        err = self.assertFailedWith(r, 1)
        self.assertEqual(err["code"], "VALIDATION_FAILED")
        self.assertIn(".items is not in the state", err["message"])
        r = run("run", fixture("batch_collect.yaml"), "--set", "items=7")
        err = self.assertFailedWith(r, 1)
        self.assertIn(".items must be an array, found number", err["message"])


class RetryTest(E2ETestCase):
    def test_retry_then_success(self):
        r = run("run", fixture("retry.yaml"), "--set", "mode=recover", "--events", "-")
        state = self.assertSucceeded(r)
        self.assertEqual(self.data_of(state), {"mode": "recover", "ok": True})
        self.assertMetadata(state, 3)  # failed attempts do not count
        flaky = [e for e in events_of(r.stderr) if e.get("processor") == "recover"]
        self.assertEqual([(e["event"], e["attempt"]) for e in flaky], [
            ("processor:started", 1), ("processor:retrying", 1),
            ("processor:started", 2), ("processor:retrying", 2),
            ("processor:started", 3), ("processor:completed", 3),
        ])
        retrying = [e for e in flaky if e["event"] == "processor:retrying"]
        self.assertEqual([e["nextAttempt"] for e in retrying], [2, 3])
        self.assertEqual([e["delayMs"] for e in retrying], [10, 20])
        self.assertEqual(retrying[0]["error"]["code"], "NETWORK_ERROR")
        self.assertEqual(retrying[0]["error"]["message"], "connection reset")

    def test_retry_exhausted(self):
        r = run("run", fixture("retry.yaml"), "--set", "mode=exhaust", "--events", "-")
        err = self.assertFailedWith(r, 1)
        self.assertEqual((err["name"], err["code"], err["category"]), ("NetworkError", "NETWORK_ERROR", "network"))
        self.assertTrue(err["retryable"])
        self.assertEqual(err["context"]["attempts"], 3)
        self.assertEqual(err["context"]["failedProcessor"], "exhaust")
        events = events_of(r.stderr)
        started = [e for e in events if e["event"] == "processor:started" and e["processor"] == "exhaust"]
        self.assertEqual(len(started), 3)
        self.assertEqual(events[-1]["event"], "flow:failed")
        self.assertEqual(events[-1]["error"]["code"], "NETWORK_ERROR")


if __name__ == "__main__":
    unittest.main()
