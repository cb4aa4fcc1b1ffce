"""Reads {lines: [{price, quantity?}], currency} on stdin; prints it with the subtotal added."""
import json
import sys

state = json.load(sys.stdin)
state.pop("metadata", None)
state["subtotal"] = round(sum(line["price"] * line.get("quantity", 1) for line in state["lines"]), 2)
del state["lines"]
print(json.dumps(state))
