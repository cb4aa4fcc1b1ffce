#!/usr/bin/env python3
"""Writes a tenant's daily usage and invoice lines as CSV to <exportDir>/<tenant>-<period>.csv
(default exportDir: /tmp/am2z-exports) and records the file in .export."""
import csv
import hashlib
import json
import os
import sys

state = json.load(sys.stdin)
directory = state.get("exportDir") or "/tmp/am2z-exports"
os.makedirs(directory, exist_ok=True)
path = os.path.join(directory, f"{state['tenant']['id']}-{state['period']}.csv")
rows = [["section", "key", "quantity", "amountMinor"]]
rows += [["usage", day["day"], day["apiCalls"], ""] for day in state["usage"]]
rows += [["invoice", line["item"], line["quantity"], line["amountMinor"]] for line in state["invoice"]["lines"]]
rows.append(["invoice", "total", "", state["invoice"]["totalMinor"]])
with open(path, "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerows(rows)
with open(path, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
state["export"] = {"path": path, "rows": len(rows) - 1, "sha256": digest}
json.dump(state, sys.stdout)
