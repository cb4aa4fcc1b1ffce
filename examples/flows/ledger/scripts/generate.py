#!/usr/bin/env python3
"""Writes a ledger input of COUNT transactions (default 10000) as JSON on stdout, the same for
the same --seed. About 5% go by wire (through the flaky clearing house), about 2% are invalid
(a bad account, currency, amount or type) and about 0.5% hit the frozen account ACC-9999.
    python3 scripts/generate.py 10000 > /tmp/ledger-10k.json"""
import argparse
import json
import random
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("count", type=int, nargs="?", default=10000)
parser.add_argument("--seed", type=int, default=13)
parser.add_argument("--accounts", type=int, default=40)
args = parser.parse_args()

rng = random.Random(args.seed)
BREAKAGE = [("account", "ACC-12"), ("currency", "XYZ"), ("amountMinor", -500), ("amountMinor", 0),
            ("type", "refund"), ("amountMinor", "12.50")]
transactions = []
for n in range(1, args.count + 1):
    tx = {"id": f"TX-{n:06d}", "account": f"ACC-{rng.randrange(1, args.accounts + 1):04d}",
          "currency": rng.choice(["EUR", "EUR", "USD", "GBP"]), "amountMinor": rng.randrange(100, 500000),
          "type": rng.choice(["credit", "debit"]),
          "channel": "wire" if rng.random() < 0.05 else rng.choice(["card", "ach"])}
    roll = rng.random()
    if roll < 0.02:
        field, value = rng.choice(BREAKAGE)
        tx[field] = value
    elif roll < 0.025:
        tx["account"] = "ACC-9999"
    transactions.append(tx)
json.dump({"transactions": transactions}, sys.stdout, separators=(",", ":"))
sys.stdout.write("\n")
