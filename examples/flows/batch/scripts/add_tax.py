#!/usr/bin/env python3
"""Adds VAT to one invoice (the batch item is the whole state); rejects negative amounts."""
import json
import sys

RATES = {"DE": 0.19, "FR": 0.20, "ES": 0.21}

invoice = json.load(sys.stdin)
invoice.pop("metadata", None)
if invoice["amount"] < 0:
    print(f"invoice {invoice['id']}: negative amount {invoice['amount']}", file=sys.stderr)
    sys.exit(75)
rate = RATES.get(invoice["country"], 0.0)
invoice["tax"] = round(invoice["amount"] * rate, 2)
invoice["total"] = round(invoice["amount"] + invoice["tax"], 2)
json.dump(invoice, sys.stdout)
