"""PNG reading and writing with the standard library alone (zlib + struct), and the exec
protocol's plumbing shared by the image steps.

Reads 8-bit, non-interlaced PNGs of every colour type (grey, grey+alpha, RGB, RGBA, palette;
a palette is expanded to RGB or RGBA); writes 8-bit grey, grey+alpha, RGB or RGBA.
"""
import json
import struct
import sys
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel in the file
COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> colour type written


class ImageError(Exception):
    """The file is not a PNG this module can read."""


class Image:
    """Pixels as one bytearray, row after row, `channels` bytes per pixel."""

    def __init__(self, width, height, channels, pixels):
        self.width, self.height, self.channels, self.pixels = width, height, channels, pixels

    def pixel(self, x, y):
        at = (y * self.width + x) * self.channels
        return tuple(self.pixels[at:at + self.channels])


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw, width, height, bpp):
    stride = width * bpp
    out = bytearray(stride * height)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        kind = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if len(line) != stride:
            raise ImageError("image data is truncated")
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        elif kind != 0:
            raise ImageError(f"unknown filter type {kind} on row {y}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return out


def _expand_palette(indexes, palette, alpha):
    channels = 4 if alpha else 3
    out = bytearray(len(indexes) * channels)
    for i, index in enumerate(indexes):
        if index * 3 + 3 > len(palette):
            raise ImageError(f"palette index {index} is out of range")
        out[i * channels:i * channels + 3] = palette[index * 3:index * 3 + 3]
        if alpha:
            out[i * channels + 3] = alpha[index] if index < len(alpha) else 255
    return channels, out


def read_png(path):
    """Decodes the PNG file at `path`; raises ImageError for anything it cannot read."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(SIGNATURE):
        raise ImageError("not a PNG file (bad signature)")
    pos, header, palette, alpha, idat = len(SIGNATURE), None, b"", b"", []
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(crc) != 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ImageError(f"chunk {kind.decode('latin-1')} is truncated or corrupt")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            alpha = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        raise ImageError("no IHDR or IDAT chunk")
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in CHANNELS or interlace != 0:
        raise ImageError(f"unsupported PNG: bit depth {depth}, colour type {color_type}, interlace {interlace}")
    channels = CHANNELS[color_type]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise ImageError(f"image data does not inflate: {e}") from e
    pixels = _unfilter(raw, width, height, channels)
    if color_type == 3:
        channels, pixels = _expand_palette(pixels, palette, alpha)
    return Image(width, height, channels, pixels)


def write_png(path, image):
    """Encodes `image` (filter type 0 on every row) and writes it to `path`."""
    stride = image.width * image.channels
    raw = b"".join(b"\0" + bytes(image.pixels[y * stride:(y + 1) * stride]) for y in range(image.height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", image.width, image.height, 8, COLOR_TYPE[image.channels], 0, 0, 0)
    with open(path, "wb") as f:
        f.write(SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def fit(width, height, box_width, box_height):
    """The largest size of the same aspect ratio within box_width x box_height (at least 1x1)."""
    scale = min(box_width / width, box_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def step(work):
    """Runs one exec step: the state from stdin, `work(state)` changes it, the state to stdout.
    An ImageError becomes the typed error INVALID_IMAGE (exit 3), which the batch collects."""
    state = json.load(sys.stdin)
    try:
        work(state)
    except (ImageError, OSError) as e:
        code, category = ("INVALID_IMAGE", "validation") if isinstance(e, ImageError) else ("IMAGE_IO", "execution")
        print(json.dumps({"error": {"code": code, "message": f"{state.get('source')}: {e}",
                                    "category": category, "details": {"source": state.get("source")}}}))
        sys.exit(3)
    json.dump(state, sys.stdout)
