#!/usr/bin/env python3
"""Sums the posted transactions per account and currency (credits, debits, net, in minor units)
and lists the rejected ones with their error code: .summary and .rejected. One program over the
batch's collected results, so the 10,000 items themselves need no process each."""
import json
import sys
from collections import Counter

state = json.load(sys.stdin)
transactions = state["transactions"]
batch = state["posted"]
accounts, currencies = {}, {}
cleared = Counter()
for tx in batch["results"]:
    if tx is None:  # a rejected item: its error is in batch["errors"]
        continue
    cleared[tx["clearedBy"]] += 1
    for totals in (accounts.setdefault(tx["account"], {}).setdefault(tx["currency"], {}),
                   currencies.setdefault(tx["currency"], {})):
        for key in ("count", "credits", "debits", "net"):
            totals.setdefault(key, 0)
        totals["count"] += 1
        totals["credits" if tx["type"] == "credit" else "debits"] += tx["amountMinor"]
        totals["net"] += tx["amountMinor"] if tx["type"] == "credit" else -tx["amountMinor"]

rejected = []
for failure in batch["errors"]:
    tx, error = transactions[failure["index"]], failure["error"]
    context = error.get("context", {})
    fields = [f"{f['pointer']}: {f['message']}" for f in context.get("failures", []) if f["pointer"]]
    rejected.append({"index": failure["index"], "id": tx.get("id"), "code": error["code"],
                     "step": context.get("failedProcessor"), "reason": "; ".join(fields) or error["message"]})

counts = batch["counts"]
if counts["succeeded"] != sum(cleared.values()) or counts["failed"] != len(rejected):
    print(f"batch counts {counts} disagree with its results and errors", file=sys.stderr)
    sys.exit(1)
state["summary"] = {
    "counts": {"total": counts["total"], "posted": counts["succeeded"], "rejected": counts["failed"]},
    "rejectedByCode": dict(sorted(Counter(r["code"] for r in rejected).items())),
    "clearedBy": dict(sorted(cleared.items())),
    "currencies": dict(sorted(currencies.items())),
    "accounts": {a: dict(sorted(c.items())) for a, c in sorted(accounts.items())},
}
state["rejected"] = rejected
json.dump(state, sys.stdout, separators=(",", ":"))
