#!/usr/bin/env python3
"""Resizes the image to options.resizeWidth pixels wide (default 160, aspect ratio kept) with a
box filter: each output pixel is the mean of the source pixels it covers. Sets .resized."""
import os

from pngio import Image, fit, read_png, step, write_png


def span(i, source_length, length):
    """The source pixels [lo, hi) that output pixel i covers (at least one)."""
    lo = i * source_length // length
    return lo, max(lo + 1, (i + 1) * source_length // length)


def box_resize(src, width, height):
    c = src.channels
    columns = [span(x, src.width, width) for x in range(width)]
    out = bytearray()
    for y in range(height):
        y0, y1 = span(y, src.height, height)
        for x0, x1 in columns:
            sums = [0] * c
            for sy in range(y0, y1):
                row = src.pixels[(sy * src.width + x0) * c:(sy * src.width + x1) * c]
                for k in range(c):
                    sums[k] += sum(row[k::c])
            n = (y1 - y0) * (x1 - x0)
            out.extend((s + n // 2) // n for s in sums)
    return Image(width, height, c, out)


def resize(state):
    src = read_png(state["source"])
    target = int(state.get("options", {}).get("resizeWidth", 160))
    width, height = fit(src.width, src.height, target, src.height * target)  # only the width bounds it
    path = os.path.join(state["outputDir"], state["name"] + ".resized.png")
    write_png(path, box_resize(src, width, height))
    state["resized"] = {"path": path, "width": width, "height": height}


step(resize)
