"""PNG, decoded strictly with ``zlib`` and ``struct`` (and a small writer, for the tests and the
sample images): every colour type and bit depth of the standard, Adam7 interlacing too,
converted to 8-bit gray as ``_pixels.py`` says.

A PNG is a signature, then chunks (length, type, body, CRC-32): IHDR (the size and sample
format), PLTE (a palette), one or more IDAT (the zlib-compressed scanlines, each led by one of
five filter bytes), IEND. Safety: every problem is a one-line ``DataError`` naming the file
and byte offset. Chunk lengths are checked against the bytes really present before slicing,
CRCs are verified, and inflation is capped at the exact size the header implies (plus one
byte to detect excess), so a zip bomb costs at most one image's worth of memory; the image's
size is checked (against ``expect`` or ``max_pixels``) as soon as IHDR is read, before any
pixel data is inflated.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Callable

from ann._errors import DataError, PathLike
from ann._pixels import MAX_PIXELS, PNG_SIGNATURE, Image, Size, check_size, luma8, luma16

#: (bits per sample allowed, channels, name) per PNG colour type.
_COLOR_TYPES = {
    0: ((1, 2, 4, 8, 16), 1, "grayscale"),
    2: ((8, 16), 3, "RGB"),
    3: ((1, 2, 4, 8), 1, "palette"),
    4: ((8, 16), 2, "grayscale+alpha"),
    6: ((8, 16), 4, "RGBA"),
}
_CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")

#: Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def _row_bytes(width: int, bit_depth: int, channels: int) -> int:
    return (width * bit_depth * channels + 7) // 8


def _passes(width: int, height: int, interlaced: bool) -> list[tuple[int, int, int, int, int, int]]:
    """(x0, y0, dx, dy, pass width, pass height) of each non-empty (sub)image."""
    if not interlaced:
        return [(0, 0, 1, 1, width, height)]
    out = []
    for x0, y0, dx, dy in _ADAM7:
        pw = (width - x0 + dx - 1) // dx if width > x0 else 0
        ph = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pw and ph:  # an empty pass has no bytes at all, not even filter bytes
            out.append((x0, y0, dx, dy, pw, ph))
    return out


def _chunk_name(kind: bytes) -> str:
    return kind.decode("latin-1")


def decode_png(
    data: bytes,
    *,
    path: PathLike | None = None,
    expect: Size | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image:
    """``(width, height, pixels)`` of a PNG, pixels converted to 8-bit gray (see module doc).

    All colour types and bit depths of the PNG standard are read, and Adam7 interlacing
    too. ``expect=(rows, cols)`` demands that exact size; otherwise width*height may be
    at most ``max_pixels``. Byte offsets in errors count from the start of ``data``.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(
            "not a PNG file (bad signature)" if data else "empty file, not an image", path=path
        )
    pos = len(PNG_SIGNATURE)
    header: tuple[int, int, int, int, bool] | None = None
    palette: bytes | None = None
    idat: list[bytes] = []
    idat_done = False  # an IDAT was seen and then another chunk: no more IDAT allowed
    end = len(data)
    while True:
        start = pos
        if end - pos < 12:
            what = "IEND chunk" if header is not None else "IHDR chunk"
            raise DataError(
                f"truncated PNG: file ends before the {what} "
                f"({end - pos} bytes left, a chunk needs at least 12)",
                path=path,
                offset=start,
            )
        length, kind = struct.unpack_from(">I4s", data, pos)
        if not all(65 <= c <= 90 or 97 <= c <= 122 for c in kind):
            raise DataError(
                f"invalid chunk type {kind!r} (not four ASCII letters)", path=path, offset=start
            )
        name = _chunk_name(kind)
        if length > 0x7FFFFFFF:
            raise DataError(
                f"chunk {name} declares length {length}, above the PNG limit of 2^31-1",
                path=path,
                offset=start,
            )
        if length + 12 > end - pos:
            raise DataError(
                f"truncated PNG: chunk {name} declares {length} data bytes but only "
                f"{max(0, end - pos - 12)} remain",
                path=path,
                offset=start,
            )
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise DataError(
                f"CRC mismatch in chunk {name} (file is corrupt)", path=path, offset=start
            )
        pos += 12 + length

        if header is None and kind != b"IHDR":
            raise DataError(
                f"first chunk is {name}, but a PNG must start with IHDR", path=path, offset=start
            )
        if kind == b"IHDR":
            if header is not None:
                raise DataError("second IHDR chunk", path=path, offset=start)
            header = _parse_ihdr(body, path, start)
            check_size(header[0], header[1], expect, max_pixels, path)
        elif kind == b"PLTE":
            assert header is not None  # IHDR came first (checked above)
            _, _, _, color_type, _ = header
            if palette is not None:
                raise DataError("second PLTE chunk", path=path, offset=start)
            if idat:
                raise DataError("PLTE chunk after the image data (IDAT)", path=path, offset=start)
            if color_type in (0, 4):
                raise DataError("PLTE chunk in a grayscale PNG", path=path, offset=start)
            if length == 0 or length % 3 or length > 768:
                raise DataError(
                    f"PLTE chunk of {length} bytes; it must hold 1 to 256 RGB "
                    f"entries (a multiple of 3 bytes)",
                    path=path,
                    offset=start,
                )
            palette = body
        elif kind == b"IDAT":
            if idat_done:
                raise DataError("IDAT chunks are not consecutive", path=path, offset=start)
            assert header is not None  # IHDR came first (checked above)
            if header[3] == 3 and palette is None:
                raise DataError(
                    "palette PNG has no PLTE chunk before its image data", path=path, offset=start
                )
            idat.append(body)
        elif kind == b"IEND":
            if length:
                raise DataError("IEND chunk is not empty", path=path, offset=start)
            if not idat:
                raise DataError("PNG has no image data (no IDAT chunk)", path=path, offset=start)
            if pos != end:
                raise DataError(f"{end - pos} bytes after the IEND chunk", path=path, offset=pos)
            break
        elif not kind[0] & 0x20:  # uppercase first letter: critical, must be understood
            raise DataError(
                f"unknown critical chunk {name}; cannot decode this PNG safely",
                path=path,
                offset=start,
            )
        # Ancillary chunks (tRNS, gAMA, tEXt, ...) are ignored; see the module doc.
        if idat and kind != b"IDAT":
            idat_done = True

    assert header is not None  # the loop ends only at IEND, after IHDR and IDAT
    width, height, bit_depth, color_type, interlaced = header
    channels = _COLOR_TYPES[color_type][1]
    passes = _passes(width, height, interlaced)
    expected = sum(ph * (1 + _row_bytes(pw, bit_depth, channels)) for *_, pw, ph in passes)
    raw = _inflate(b"".join(idat), expected, path)
    convert = _row_converter(color_type, bit_depth, palette, path)
    bpp = max(1, bit_depth * channels // 8)  # filter distance: bytes per complete pixel

    if not interlaced:
        rows = _unfilter(raw, 0, width, height, _row_bytes(width, bit_depth, channels), bpp, path)
        return width, height, b"".join(convert(row, width) for row in rows)
    out = bytearray(width * height)
    offset = 0
    for x0, y0, dx, dy, pw, ph in passes:
        rowbytes = _row_bytes(pw, bit_depth, channels)
        rows = _unfilter(raw, offset, pw, ph, rowbytes, bpp, path)
        offset += ph * (1 + rowbytes)
        for j, row in enumerate(rows):
            start = (y0 + j * dy) * width + x0
            out[start : start + (pw - 1) * dx + 1 : dx] = convert(row, pw)
    return width, height, bytes(out)


def _parse_ihdr(body: bytes, path: PathLike | None, offset: int) -> tuple[int, int, int, int, bool]:
    if len(body) != 13:
        raise DataError(f"IHDR chunk is {len(body)} bytes; it must be 13", path=path, offset=offset)
    width, height, bit_depth, color_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", body
    )
    if not (0 < width <= 0x7FFFFFFF and 0 < height <= 0x7FFFFFFF):
        raise DataError(f"invalid image size {width}x{height} in IHDR", path=path, offset=offset)
    if color_type not in _COLOR_TYPES:
        raise DataError(
            f"invalid PNG colour type {color_type} (valid: 0, 2, 3, 4, 6)", path=path, offset=offset
        )
    depths, _, type_name = _COLOR_TYPES[color_type]
    if bit_depth not in depths:
        raise DataError(
            f"bit depth {bit_depth} is invalid for {type_name} PNG (valid: "
            f"{', '.join(map(str, depths))})",
            path=path,
            offset=offset,
        )
    if compression != 0:
        raise DataError(f"unknown PNG compression method {compression}", path=path, offset=offset)
    if filter_method != 0:
        raise DataError(f"unknown PNG filter method {filter_method}", path=path, offset=offset)
    if interlace not in (0, 1):
        raise DataError(f"unknown PNG interlace method {interlace}", path=path, offset=offset)
    return width, height, bit_depth, color_type, interlace == 1


def _inflate(compressed: bytes, expected: int, path: PathLike | None) -> bytes:
    """Inflate the IDAT stream, which must hold exactly ``expected`` bytes.

    ``max_length`` caps what zlib may produce, so a stream that would inflate to
    gigabytes stops after ``expected`` bytes; one more byte of output proves excess.
    """
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected)
        # The output is full but the stream may still end here (end-of-block code and
        # Adler-32 checksum are left in unconsumed_tail). Feeding the rest with room for
        # one byte either finishes the stream or proves it is too long. Each call either
        # produces a byte or consumes all its input, so this loop runs at most twice.
        while not inflater.eof and inflater.unconsumed_tail:
            if inflater.decompress(inflater.unconsumed_tail, 1):
                raise DataError(
                    f"image data inflates to more than the {expected} bytes the IHDR size implies",
                    path=path,
                )
    except zlib.error as exc:
        raise DataError(f"corrupt compressed image data (zlib: {exc})", path=path) from None
    if not inflater.eof:
        raise DataError(
            f"truncated compressed image data: the zlib stream ends early "
            f"({len(raw)} of {expected} bytes)",
            path=path,
        )
    if len(raw) != expected:
        raise DataError(
            f"image data inflates to {len(raw)} bytes; the IHDR size implies {expected}", path=path
        )
    if inflater.unused_data:
        raise DataError(
            f"{len(inflater.unused_data)} bytes after the end of the compressed image data",
            path=path,
        )
    return raw


def _unfilter(
    raw: bytes,
    offset: int,
    width: int,
    height: int,
    rowbytes: int,
    bpp: int,
    path: PathLike | None,
) -> list[bytes]:
    """Undo PNG's per-row filters. Each filtered byte x was stored as x - predictor(a, b, c),
    with a = the byte bpp to the left, b = the byte above, c = the one above-left
    (all 0 outside the image), so adding the predictor back mod 256 restores it."""
    rows: list[bytes] = []
    prior = bytes(rowbytes)
    pos = offset
    for y in range(height):
        filter_type = raw[pos]
        row = bytearray(raw[pos + 1 : pos + 1 + rowbytes])
        pos += 1 + rowbytes
        if filter_type == 0:  # None
            pass
        elif filter_type == 1:  # Sub: predictor a
            for i in range(bpp, rowbytes):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif filter_type == 2:  # Up: predictor b
            row = bytearray([(x + b) & 0xFF for x, b in zip(row, prior)])
        elif filter_type == 3:  # Average: floor((a + b) / 2)
            for i in range(bpp):
                row[i] = (row[i] + (prior[i] >> 1)) & 0xFF
            for i in range(bpp, rowbytes):
                row[i] = (row[i] + ((row[i - bpp] + prior[i]) >> 1)) & 0xFF
        elif filter_type == 4:  # Paeth: whichever of a, b, c is nearest to a + b - c
            for i in range(rowbytes):
                b = prior[i]
                if i >= bpp:
                    a = row[i - bpp]
                    c = prior[i - bpp]
                else:
                    a = c = 0
                pa = abs(b - c)  # |p - a| with p = a + b - c
                pb = abs(a - c)  # |p - b|
                pc = abs(a + b - 2 * c)  # |p - c|
                if pa <= pb and pa <= pc:
                    pred = a
                elif pb <= pc:
                    pred = b
                else:
                    pred = c
                row[i] = (row[i] + pred) & 0xFF
        else:
            raise DataError(
                f"row {y} of the image data has filter type {filter_type}; "
                f"PNG defines 0 to 4 (file is corrupt)",
                path=path,
            )
        prior = bytes(row)
        rows.append(prior)
    return rows


def _unpack_bits(row: bytes, width: int, bit_depth: int) -> list[int]:
    """Samples of a row packed ``8 // bit_depth`` per byte, most significant bits first."""
    mask = (1 << bit_depth) - 1
    shifts = range(8 - bit_depth, -1, -bit_depth)
    return [(byte >> s) & mask for byte in row for s in shifts][:width]


def _row_converter(
    color_type: int, bit_depth: int, palette: bytes | None, path: PathLike | None
) -> Callable[[bytes, int], bytes]:
    """A function (unfiltered row, pixels in it) -> 8-bit gray bytes for this format."""
    channels = _COLOR_TYPES[color_type][1]
    if color_type == 3:
        assert palette is not None  # checked when the IDAT chunk was met
        gray = bytes(luma8(*palette[i : i + 3]) for i in range(0, len(palette), 3))
        entries = len(gray)

        def from_palette(row: bytes, width: int) -> bytes:
            indexes = row if bit_depth == 8 else _unpack_bits(row, width, bit_depth)
            top = max(indexes)
            if top >= entries:
                raise DataError(
                    f"palette index {top} is out of range (PLTE has {entries} entries)", path=path
                )
            return bytes(gray[i] for i in indexes)

        return from_palette
    if bit_depth < 8:  # grayscale only
        scale = 255 // ((1 << bit_depth) - 1)  # exact: 255, 85, 17
        return lambda row, width: bytes(v * scale for v in _unpack_bits(row, width, bit_depth))
    if bit_depth == 8:
        if color_type in (0, 4):
            return lambda row, width: bytes(row[::channels])
        return lambda row, width: bytes(
            map(luma8, row[0::channels], row[1::channels], row[2::channels])
        )
    step = 2 * channels

    def sample16(row: bytes, k: int) -> list[int]:
        return [hi << 8 | lo for hi, lo in zip(row[2 * k :: step], row[2 * k + 1 :: step])]

    if color_type in (0, 4):
        return lambda row, width: bytes((v * 510 + 65535) // 131070 for v in sample16(row, 0))
    return lambda row, width: bytes(
        map(luma16, sample16(row, 0), sample16(row, 1), sample16(row, 2))
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
    )


def _filter_row(row: bytes, prior: bytes, filter_type: int, bpp: int) -> bytes:
    """The inverse of :func:`_unfilter` for one row: x - predictor(a, b, c) mod 256."""
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if filter_type == 0:
            pred = 0
        elif filter_type == 1:
            pred = a
        elif filter_type == 2:
            pred = b
        elif filter_type == 3:
            pred = (a + b) >> 1
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (x - pred) & 0xFF
    return bytes([filter_type]) + bytes(out)


def _encode_png(
    width: int,
    height: int,
    color_type: int,
    bit_depth: int,
    scanlines: Sequence[bytes],
    filters: int | Sequence[int] = 0,
    palette: bytes | None = None,
    ancillary: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """A non-interlaced PNG from already packed scanlines (no filter bytes), any format.

    ``filters`` is one filter type for every row or one per row, so tests can reach
    each unfilter path; ``ancillary`` chunks go before IDAT.
    """
    channels = _COLOR_TYPES[color_type][1]
    bpp = max(1, bit_depth * channels // 8)
    per_row = [filters] * height if isinstance(filters, int) else list(filters)
    if len(per_row) != height or len(scanlines) != height:
        raise ValueError("need one scanline and one filter type per row")
    prior = bytes(_row_bytes(width, bit_depth, channels))
    parts = []
    for line, filter_type in zip(scanlines, per_row):
        if len(line) != len(prior) or filter_type not in range(5):
            raise ValueError("bad scanline length or filter type")
        parts.append(_filter_row(line, prior, filter_type, bpp))
        prior = line
    out = [
        PNG_SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)),
    ]
    out += [_chunk(kind, body) for kind, body in ancillary]
    if palette is not None:
        out.append(_chunk(b"PLTE", palette))
    out += [_chunk(b"IDAT", zlib.compress(b"".join(parts), 9)), _chunk(b"IEND", b"")]
    return b"".join(out)


def encode_png_gray(
    width: int, height: int, pixels: bytes, *, filters: int | Sequence[int] = 0
) -> bytes:
    """An 8-bit grayscale PNG of ``pixels`` (row-major, ``width * height`` bytes).

    ``filters`` picks the PNG row filter (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth),
    one for all rows or a sequence with one per row.
    """
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError(
            f"encode_png_gray: {len(pixels)} pixels do not make a {width}x{height} image"
        )
    rows = [bytes(pixels[y * width : (y + 1) * width]) for y in range(height)]
    return _encode_png(width, height, 0, 8, rows, filters)
