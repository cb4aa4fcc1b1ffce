#!/usr/bin/env python3
"""Lists the PNG files of .inputDir and makes one batch item per image in .images. An item is
all its steps see, so each one carries its source, the output directory and the options."""
import json
import os
import sys

state = json.load(sys.stdin)
input_dir = os.path.abspath(state["inputDir"])  # relative paths are relative to this flow's folder
output_dir = os.path.abspath(state["outputDir"])
os.makedirs(output_dir, exist_ok=True)
names = sorted(n for n in os.listdir(input_dir) if n.lower().endswith(".png"))
state["images"] = [{"name": os.path.splitext(n)[0], "source": os.path.join(input_dir, n),
                    "outputDir": output_dir, "options": state.get("options", {})} for n in names]
print(f"found {len(names)} PNG file(s) in {input_dir}", file=sys.stderr)
json.dump(state, sys.stdout)
