"""PNG files for the image example's tests, written and read with the standard library alone.

Independent of the example's own codec (examples/flows/images/scripts/pngio.py) on purpose: the
test writes every filter type and a palette image, and checks what the example wrote with a
decoder of its own.
"""

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> colour type
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter(kind, line, prev, bpp):
    def left(i):
        return line[i - bpp] if i >= bpp else 0

    def up_left(i):
        return prev[i - bpp] if i >= bpp else 0

    predict = [lambda i: 0, left, lambda i: prev[i], lambda i: (left(i) + prev[i]) // 2,
               lambda i: _paeth(left(i), prev[i], up_left(i))][kind]
    return bytes([kind]) + bytes((line[i] - predict(i)) & 0xFF for i in range(len(line)))


def write(path, width, height, channels, pixel, palette=None, alpha=None):
    """Writes a PNG whose pixel (x, y) is the tuple pixel(x, y); rows cycle through the five
    filter types. With `palette` (a list of RGB tuples; `alpha` their opacities), pixel gives
    palette indexes and the file is colour type 3."""
    bpp = 1 if palette else channels
    rows, prev = [], bytes(width * bpp)
    for y in range(height):
        line = bytes(v for x in range(width) for v in pixel(x, y))
        rows.append(_filter(y % 5, line, prev, bpp))
        prev = line
    color_type = 3 if palette else COLOR_TYPE[channels]
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))]
    if palette:
        chunks.append(_chunk(b"PLTE", bytes(v for rgb in palette for v in rgb)))
        if alpha:
            chunks.append(_chunk(b"tRNS", bytes(alpha)))
    data = zlib.compress(b"".join(rows))
    chunks += [_chunk(b"IDAT", data[:len(data) // 2]), _chunk(b"IDAT", data[len(data) // 2:])]  # split IDAT
    with open(path, "wb") as f:
        f.write(SIGNATURE + b"".join(chunks) + _chunk(b"IEND", b""))


class Decoded:
    def __init__(self, width, height, channels, pixels):
        self.width, self.height, self.channels, self.pixels = width, height, channels, pixels

    @property
    def size(self):
        return self.width, self.height

    def pixel(self, x, y):
        at = (y * self.width + x) * self.channels
        return tuple(self.pixels[at:at + self.channels])


def read(path):
    """Decodes an 8-bit non-interlaced grey, grey+alpha, RGB or RGBA PNG (what the example writes)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(SIGNATURE), f"{path} is not a PNG"
    pos, idat, header = len(SIGNATURE), b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0], \
            f"{path}: bad CRC in {kind}"
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color_type in (0, 2, 4, 6), f"{path}: unexpected header {header}"
    bpp = CHANNELS[color_type]
    raw, stride = zlib.decompress(idat), width * bpp
    pixels, prev = bytearray(), bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up_left = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + [0, left, prev[i], (left + prev[i]) // 2, _paeth(left, prev[i], up_left)][kind]) & 0xFF
        pixels += line
        prev = line
    return Decoded(width, height, bpp, pixels)
