#!/usr/bin/env python3
"""Stamps options.watermark (default "AM2Z") in the bottom-right corner: a box darkened to half
brightness with the text in white, drawn with a 3x5 pixel font scaled to the image. Pixels
outside the box are left as they were. Sets .watermarked with the box as [x, y, width, height]."""
import os

from pngio import read_png, step, write_png

FONT = {  # 5 rows of 3 pixels per glyph, "#" set
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##",
    "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..",
    "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#", "I": "### .#. .#. .#. ###",
    "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#",
    "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.", "U": "#.# #.# #.# #.# ###",
    "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###", "0": "### #.# #.# #.# ###",
    "1": ".#. ##. .#. .#. ###", "2": "##. ..# .#. #.. ###", "3": "##. ..# .#. ..# ##.",
    "4": "#.# #.# ### ..# ..#", "5": "### #.. ##. ..# ##.", "6": ".## #.. ### #.# ###",
    "7": "### ..# .#. .#. .#.", "8": "### #.# ### #.# ###", "9": "### #.# ### ..# ##.",
    "-": "... ... ### ... ...", ".": "... ... ... ... .#.", " ": "... ... ... ... ...",
}


def glyph(char):
    return FONT.get(char.upper(), FONT[" "]).split()


def stamp(image, text):
    """Draws in place; returns the box [x, y, width, height] (clipped to the image)."""
    scale = max(1, min(image.width, image.height) // 40)
    pad = scale
    text_width = len(text) * 4 * scale - scale
    width = min(image.width, text_width + 2 * pad)
    height = min(image.height, 5 * scale + 2 * pad)
    left, top = image.width - width, image.height - height
    c = image.channels
    colour = c - 1 if c in (2, 4) else c  # the alpha channel, if any, is the last
    ink = set()
    for i, char in enumerate(text):
        for r, row in enumerate(glyph(char)):
            for col, bit in enumerate(row):
                if bit == "#":
                    x0, y0 = left + pad + (i * 4 + col) * scale, top + pad + r * scale
                    ink.update((x, y) for x in range(x0, x0 + scale) for y in range(y0, y0 + scale))
    for y in range(top, image.height):
        for x in range(left, image.width):
            at = (y * image.width + x) * c
            for k in range(colour):
                image.pixels[at + k] = 255 if (x, y) in ink else image.pixels[at + k] // 2
            if colour < c:
                image.pixels[at + colour] = 255  # opaque, so the stamp shows on transparent pixels
    return [left, top, width, height]


def watermark(state):
    src = read_png(state["source"])
    text = str(state.get("options", {}).get("watermark", "AM2Z"))
    box = stamp(src, text)
    path = os.path.join(state["outputDir"], state["name"] + ".watermarked.png")
    write_png(path, src)
    state["watermarked"] = {"path": path, "width": src.width, "height": src.height, "text": text, "box": box}


step(watermark)
