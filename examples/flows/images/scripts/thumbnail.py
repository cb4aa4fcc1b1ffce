#!/usr/bin/env python3
"""Makes a thumbnail that fits in options.thumbnailSize x options.thumbnailSize (default 48,
aspect ratio kept) by nearest-neighbour sampling. Sets .thumbnail."""
import os

from pngio import Image, fit, read_png, step, write_png


def nearest(src, width, height):
    c = src.channels
    columns = [(2 * x + 1) * src.width // (2 * width) for x in range(width)]  # each pixel's centre
    out = bytearray()
    for y in range(height):
        row = (2 * y + 1) * src.height // (2 * height) * src.width
        for sx in columns:
            out += src.pixels[(row + sx) * c:(row + sx + 1) * c]
    return Image(width, height, c, out)


def thumbnail(state):
    src = read_png(state["source"])
    size = int(state.get("options", {}).get("thumbnailSize", 48))
    width, height = fit(src.width, src.height, size, size)
    path = os.path.join(state["outputDir"], state["name"] + ".thumb.png")
    write_png(path, nearest(src, width, height))
    state["thumbnail"] = {"path": path, "width": width, "height": height}


step(thumbnail)
