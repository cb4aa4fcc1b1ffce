#!/usr/bin/env python3
"""Describes the source file: size in pixels and bytes, channels, SHA-256 of the file and the
mean of each channel. Sets .info (a step's `metadata` key belongs to am2z)."""
import hashlib
import os

from pngio import read_png, step


def describe(state):
    path = state["source"]
    image = read_png(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    pixels, c = image.pixels, image.channels
    count = image.width * image.height
    state["info"] = {"width": image.width, "height": image.height, "channels": c,
                     "bytes": os.path.getsize(path), "sha256": digest,
                     "mean": [round(sum(pixels[k::c]) / count, 2) for k in range(c)]}


step(describe)
