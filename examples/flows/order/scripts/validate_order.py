#!/usr/bin/env python3
"""Validates an order: it needs lines, and every line a positive quantity and price."""
import json
import sys

state = json.load(sys.stdin)
lines = state.get("lines") or []
if not lines:
    print("order has no lines", file=sys.stderr)
    sys.exit(3)
for i, line in enumerate(lines):
    if line.get("quantity", 0) <= 0 or line.get("price", 0) <= 0:
        print(f"line {i} ({line.get('sku')}) needs a positive quantity and price", file=sys.stderr)
        sys.exit(3)
state["total"] = round(sum(l["quantity"] * l["price"] for l in lines), 2)
state["status"] = "validated"
json.dump(state, sys.stdout)
