#!/usr/bin/env python3
"""Charges the order total; cards ending in 0000 are declined (a business outcome, not a crash)."""
import json
import sys

state = json.load(sys.stdin)
card = state.get("customer", {}).get("card", "")
approved = not card.endswith("0000")
state["payment"] = {
    "status": "approved" if approved else "declined",
    "amount": state.get("total", 0),
    "transactionId": f"txn-{state.get('orderId', 'unknown')}" if approved else None,
}
json.dump(state, sys.stdout)
