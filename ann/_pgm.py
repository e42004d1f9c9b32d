"""PGM (netpbm's gray map), decoded strictly: the binary (P5) and plain-text (P2) forms, any
``maxval`` up to 65535 rescaled to 8 bits as ``_pixels.py`` says; and a writer.

A PGM is a text header -- the magic P5 or P2, width, height and maxval, separated by
whitespace and ``#`` comments -- then the samples: bytes (two per sample, big-endian, above
255) for P5, decimal numbers for P2. Every problem is a one-line ``DataError`` naming the file
and byte offset; the size is checked before any sample is read.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from ann._errors import DataError, PathLike
from ann._pixels import (
    MAX_PIXELS,
    PGM_WHITESPACE,
    Image,
    Size,
    check_size,
    rescale_table,
    unrecognised,
)

_PGM_NUMBER = re.compile(rb"[0-9]+")
_PGM_COMMENT = re.compile(rb"#[^\r\n]*")
_MAX_DIGITS = 10  # 2^31 has 10 digits; longer is garbage (and int() on it would be slow)


def _pgm_number(data: bytes, pos: int, what: str, path: PathLike | None) -> tuple[int, int]:
    """Skip whitespace and comments from ``pos``, read a decimal number; (value, end)."""
    end = len(data)
    while pos < end:
        if data[pos] in PGM_WHITESPACE:
            pos += 1
        elif data[pos] == 0x23:  # '#': comment to end of line
            while pos < end and data[pos] not in b"\r\n":
                pos += 1
        else:
            break
    if pos >= end:
        raise DataError(f"truncated PGM header: file ends before the {what}", path=path)
    match = _PGM_NUMBER.match(data, pos)
    if match is None:
        raise DataError(
            f"PGM header: expected the {what} as a decimal number, found {data[pos : pos + 8]!r}",
            path=path,
            offset=pos,
        )
    digits = match.group()
    if len(digits) > _MAX_DIGITS:
        raise DataError(
            f"PGM header: {what} has {len(digits)} digits; far too large", path=path, offset=pos
        )
    stop = match.end()
    if stop < end and data[stop] not in PGM_WHITESPACE and data[stop] != 0x23:
        raise DataError(
            f"PGM header: {what} {digits.decode()} is followed by "
            f"{data[stop : stop + 1]!r}, not whitespace",
            path=path,
            offset=stop,
        )
    return int(digits), stop


def decode_pgm(
    data: bytes,
    *,
    path: PathLike | None = None,
    expect: Size | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image:
    """``(width, height, pixels)`` of a P5 (binary) or P2 (ASCII) PGM, scaled to 0..255.

    ``maxval`` may be 1..65535; P5 stores 2-byte big-endian samples when it exceeds
    255. The data must be exactly width*height samples: short data, a sample above
    maxval, or anything but whitespace after the last sample is a DataError (a second
    image in the same file is not supported).
    """
    magic = data[:2]
    if magic not in (b"P5", b"P2"):
        raise DataError(unrecognised(data) if data else "empty file, not an image", path=path)
    if len(data) > 2 and data[2] not in PGM_WHITESPACE and data[2] != 0x23:
        raise DataError(unrecognised(data), path=path)
    width, pos = _pgm_number(data, 2, "width", path)
    height, pos = _pgm_number(data, pos, "height", path)
    maxval, pos = _pgm_number(data, pos, "maxval", path)
    if width == 0 or height == 0:
        raise DataError(f"PGM header: invalid image size {width}x{height}", path=path)
    if not 1 <= maxval <= 65535:
        raise DataError(f"PGM header: maxval is {maxval}; it must be 1 to 65535", path=path)
    check_size(width, height, expect, max_pixels, path)
    if pos >= len(data):
        raise DataError("truncated PGM: no pixel data after the header", path=path, offset=pos)
    if data[pos] not in PGM_WHITESPACE:
        raise DataError(
            "PGM header: maxval must be followed by one whitespace character", path=path, offset=pos
        )
    count = width * height
    table = rescale_table(maxval)
    if magic == b"P5":
        samples = _pgm_binary(data, pos + 1, count, maxval, path)
    else:
        samples = _pgm_ascii(data, pos + 1, count, maxval, path)
    if maxval == 255:
        return width, height, bytes(samples)
    return width, height, bytes([table[v] for v in samples])


def _pgm_binary(
    data: bytes, start: int, count: int, maxval: int, path: PathLike | None
) -> Sequence[int]:
    size = 2 if maxval > 255 else 1  # P5 spends a single whitespace byte after maxval
    need = count * size
    raster = data[start : start + need]
    if len(raster) < need:
        raise DataError(
            f"truncated PGM: {len(raster)} bytes of pixel data, the header implies {need}",
            path=path,
            offset=start + len(raster),
        )
    rest = data[start + need :]
    if rest.strip(PGM_WHITESPACE):
        raise DataError(
            f"{len(rest)} bytes after the pixel data (a second image in one file is not supported)",
            path=path,
            offset=start + need,
        )
    samples: Sequence[int]
    if size == 1:
        samples = raster
    else:
        samples = struct.unpack(f">{count}H", raster)
    top = max(samples)
    if top > maxval:
        raise DataError(f"PGM pixel value {top} exceeds maxval {maxval}", path=path)
    return samples


def _pgm_ascii(
    data: bytes, start: int, count: int, maxval: int, path: PathLike | None
) -> Sequence[int]:
    text = data[start:]
    if b"#" in text:  # not in the standard's raster, but harmless to allow
        text = _PGM_COMMENT.sub(b" ", text)
    # maxsplit keeps memory bounded by the pixel count however much the file holds.
    tokens = text.split(None, count)
    if len(tokens) > count:
        raise DataError(
            f"more than the {count} samples the PGM header declares (a second "
            f"image in one file is not supported)",
            path=path,
        )
    if len(tokens) < count:
        raise DataError(
            f"truncated PGM: {len(tokens)} samples, the header declares {count}", path=path
        )
    samples = []
    for index, token in enumerate(tokens):
        if not token.isdigit():
            raise DataError(
                f"PGM sample {index} is {token[:12]!r}, not a decimal number", path=path
            )
        value = int(token) if len(token) <= _MAX_DIGITS else maxval + 1
        if value > maxval:
            raise DataError(
                f"PGM sample {index} is {token[:12].decode()}, above maxval {maxval}", path=path
            )
        samples.append(value)
    return samples


def encode_pgm(width: int, height: int, pixels: bytes, *, binary: bool = True) -> bytes:
    """A PGM (P5 binary, or P2 ASCII with lines under 70 characters) with maxval 255."""
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError(f"encode_pgm: {len(pixels)} pixels do not make a {width}x{height} image")
    if binary:
        return b"P5\n%d %d\n255\n" % (width, height) + bytes(pixels)
    lines = [b"P2", b"%d %d" % (width, height), b"255"]
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        for i in range(0, width, 16):  # 16 samples of at most 4 characters: <= 63 chars
            lines.append(b" ".join(b"%d" % v for v in row[i : i + 16]))
    return b"\n".join(lines) + b"\n"
