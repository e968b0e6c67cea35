"""PNG files of the guest's screen (`screenshot FILE`, `cycle86 run --screenshot FILE`).

A minimal encoder of 8-bit truecolour images [PNG specification, ISO/IEC 15948: the
signature, IHDR (colour type 2, bit depth 8), IDAT (zlib; filter type 0 on each scanline)
and IEND, each chunk with its CRC-32], and the matching reader for the files it writes (the
tests compare screenshots pixel by pixel).  No imaging library is needed.
"""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PNGError(Exception):
    """A file that is not a PNG this module can read; the message says why."""


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(rgb, width, height):
    """The PNG bytes of `height` rows of `width` RGB triples."""
    if width <= 0 or height <= 0 or len(rgb) != width * height * 3:
        raise ValueError("%d bytes are not a %dx%d RGB image" % (len(rgb), width, height))
    stride = width * 3
    raw = bytearray()
    for y in range(height):
        raw.append(0)                                 # filter type 0: the row as it is
        raw += rgb[y * stride:(y + 1) * stride]
    return (SIGNATURE
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 6))
            + _chunk(b"IEND", b""))


def write(path, rgb, width, height):
    data = encode(rgb, width, height)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def decode(data):
    """(rgb bytes, width, height) of an 8-bit truecolour PNG with unfiltered rows (what
    encode() writes); PNGError for anything else."""
    if data[:8] != SIGNATURE:
        raise PNGError("not a PNG file (bad signature)")
    pos, width, height, idat = 8, None, None, bytearray()
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise PNGError("chunk %r is cut short" % kind)
        crc = struct.unpack_from(">I", data, pos + 8 + length)[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise PNGError("chunk %r has a bad CRC" % kind)
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 2, 0):
                raise PNGError("only 8-bit RGB without interlacing is read here")
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if width is None:
        raise PNGError("no IHDR chunk")
    raw = zlib.decompress(bytes(idat))
    stride = width * 3
    out = bytearray()
    for y in range(height):
        row = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        if row[0] != 0:
            raise PNGError("row %d uses filter type %d (only 0 is read here)" % (y, row[0]))
        out += row[1:]
    return bytes(out), width, height
