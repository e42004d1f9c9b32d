"""Strict, dependency-free readers for single images: PNG and PGM (plus tiny writers).

``ann predict`` classifies a digit a user drew or scanned. Pulling in Pillow for that
would break the "cffi only" rule, and the formats needed are small: PNG is chunks +
zlib + five byte filters, PGM is a text header + samples. So both are decoded here
with ``zlib`` and ``struct``.

What comes out is always 8-bit gray, row-major, 0 = black and 255 = white, which is
also how MNIST stores its digits (light ink on a black background). Nothing is
inverted automatically: :func:`looks_inverted` only lets the CLI suggest ``--invert``.

Conversions (and why):

* RGB -> gray uses the ITU-R BT.601 luma weights ``0.299 R + 0.587 G + 0.114 B``,
  rounded to nearest. That is what Pillow's ``convert("L")`` and most tools do, so a
  file previewed elsewhere means the same here.
* Alpha (PNG colour types 4 and 6, and ``tRNS``) is *dropped*, not composited:
  the colour channels are used as stored. This again matches ``convert("L")``;
  compositing over black would turn the common "dark ink on a transparent
  background" drawing into an all-black image that no ``--invert`` could rescue.
* Samples deeper or shallower than 8 bits are rescaled by ``round(v * 255 / max)``
  (1-bit: 0/255, 2-bit: 0/85/170/255, 16-bit: 0..65535 -> 0..255), so full scale
  stays full scale. PGM's ``maxval`` is rescaled the same way.

Safety: every problem is a one-line :class:`~ann._errors.DataError` naming the file.
Chunk lengths are checked against the bytes really present before slicing, CRCs are
verified, and inflation is capped at the exact size the header implies (plus one
byte to detect excess), so a zip bomb costs at most one image's worth of memory.
Image dimensions are checked (against ``expect`` or ``max_pixels``) as soon as the
header is read, before any pixel data is inflated or parsed.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Sequence
from typing import Callable

from ann._errors import DataError, PathLike
from ann._files import regular_file

__all__ = [
    "decode_pgm",
    "decode_png",
    "encode_pgm",
    "encode_png_gray",
    "image_format",
    "looks_inverted",
    "mnist_preprocess",
    "read_gray_image",
    "read_image",
]

#: A single-image file bigger than this is refused before it is read in full. Real
#: 28x28 images are a few hundred bytes; metadata (ICC profiles, EXIF) can add a few
#: hundred KB, never tens of MB.
MAX_FILE_BYTES = 64 << 20

#: Default cap on width * height when no exact size is expected. Decoding is pure
#: Python (a few bytecodes per byte), so this also bounds the time spent.
MAX_PIXELS = 1 << 22

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PGM_WHITESPACE = b" \t\n\v\f\r"

Image = tuple[int, int, bytes]
Size = tuple[int, int]


# --------------------------------------------------------------------------- common


def image_format(data: bytes) -> str | None:
    """``"png"``, ``"pgm"`` or ``None``, from the first bytes (never the file name)."""
    if data.startswith(_PNG_SIGNATURE):
        return "png"
    if data[:2] in (b"P5", b"P2") and (len(data) == 2 or data[2] in _PGM_WHITESPACE + b"#"):
        return "pgm"
    return None


#: Signatures of formats we do not read, so the error can say what the file is.
_OTHER_FORMATS = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a RIFF (e.g. WebP) file"),
    (b"\x1f\x8b", "a gzip file (an IDX data set? those are read as IDX, not as one image)"),
    (b"\x00\x00\x08", "an IDX file (a data set, not a single image)"),
    (b"P1", "a PBM bitmap"),
    (b"P4", "a PBM bitmap"),
    (b"P3", "a PPM colour image"),
    (b"P6", "a PPM colour image"),
    (b"P7", "a PAM image"),
)


def _unrecognised(data: bytes) -> str:
    for magic, what in _OTHER_FORMATS:
        if data.startswith(magic):
            return f"this is {what}; only PNG and PGM (P5/P2) images are supported"
    if data.startswith(_PNG_SIGNATURE[:4]):
        return "damaged PNG signature (was the file transferred in text mode?)"
    head = data[:8].hex(" ")
    return f"not a PNG or PGM image (it starts with bytes {head})"


def _check_size(
    width: int, height: int, expect: Size | None, max_pixels: int, path: PathLike | None
) -> None:
    """Refuse a wrong or huge size from the header alone, before decoding pixels."""
    if expect is not None:
        rows, cols = expect
        if (height, width) != (rows, cols):
            raise DataError(
                f"image is {width}x{height} pixels; ann predict takes {cols}x{rows} "
                f"grayscale images (like MNIST)",
                path=path,
            )
    elif width * height > max_pixels:
        raise DataError(
            f"image is {width}x{height} pixels, more than the limit of {max_pixels} pixels",
            path=path,
        )


def _rescale_table(maxval: int) -> list[int]:
    """v -> round(v * 255 / maxval) for v in 0..maxval (half rounds up)."""
    return [(v * 510 + maxval) // (2 * maxval) for v in range(maxval + 1)]


def _luma8(r: int, g: int, b: int) -> int:
    """BT.601 luma of an 8-bit RGB triple, rounded to nearest."""
    return (299 * r + 587 * g + 114 * b + 500) // 1000


def _luma16(r: int, g: int, b: int) -> int:
    """Luma of a 16-bit RGB triple, scaled to 8 bits with a single rounding."""
    den = 1000 * 65535
    return ((299 * r + 587 * g + 114 * b) * 255 * 2 + den) // (2 * den)


# --------------------------------------------------------------------------- file level


def _read_file(path: PathLike) -> bytes:
    """All bytes of a regular file of at most MAX_FILE_BYTES, or a DataError."""
    regular_file(path, DataError, "an image file")
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise DataError("permission denied", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    if len(data) > MAX_FILE_BYTES:
        raise DataError(
            f"file is larger than {MAX_FILE_BYTES >> 20} MiB; too big for a single image", path=path
        )
    return data


def read_image(path: PathLike, *, expect: Size = (28, 28)) -> bytes:
    """Pixels of the PNG or PGM image at ``path``: ``rows * cols`` bytes, row-major, 0 = black.

    ``expect`` is ``(rows, cols)``; any other size is a DataError (raised from the
    header, before the pixels are decoded). The format is recognised from the content,
    not from the extension, because files get renamed.
    """
    return _read_any(path, expect)[2]


def read_gray_image(path: PathLike) -> Image:
    """``(width, height, pixels)`` of the PNG or PGM image at ``path``, of any size up to
    ``MAX_PIXELS``, in 8-bit gray (colour converted as the module docstring says)."""
    return _read_any(path, None)


def _read_any(path: PathLike, expect: Size | None) -> Image:
    data = _read_file(path)
    if not data:
        raise DataError("empty file, not an image", path=path)
    kind = image_format(data)
    if kind == "png":
        return decode_png(data, path=path, expect=expect)
    if kind == "pgm":
        return decode_pgm(data, path=path, expect=expect)
    raise DataError(_unrecognised(data), path=path)


def looks_inverted(pixels: bytes, *, width: int | None = None) -> bool:
    """True when the image's border is bright, i.e. probably dark ink on a light background.

    MNIST digits sit in a 20x20 box centred in 28x28, so the outer frame is background
    and, in MNIST, black. We average a 2-pixel frame (208 of 784 pixels at 28x28): wide
    enough not to be fooled by a stroke touching one edge, narrow enough to stay
    background for digits drawn larger than MNIST's. ``width`` defaults to a square image.
    """
    n = len(pixels)
    if width is None:
        width = int(round(n**0.5))
        if width * width != n:
            raise ValueError(f"looks_inverted: {n} pixels are not a square image; pass width=")
    if width <= 0 or n % width:
        raise ValueError(f"looks_inverted: {n} pixels do not make rows of width {width}")
    height = n // width
    frame = min(2, (width + 1) // 2, (height + 1) // 2)
    total = count = 0
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        if y < frame or y >= height - frame:
            total += sum(row)
            count += width
        else:
            total += sum(row[:frame]) + sum(row[width - frame :])
            count += 2 * frame
    return count > 0 and total > 127.5 * count


# --------------------------------------------------------------------------- MNIST framing

#: Share of the gray range above the darkest pixel that still counts as background.
_NOISE = 0.1


def mnist_preprocess(
    pixels: bytes,
    width: int,
    height: int,
    *,
    size: int = 28,
    box: int | None = None,
    path: PathLike | None = None,
) -> bytes:
    """A drawing (light ink on a dark background, any size) framed as MNIST's digits were.

    LeCun et al. made MNIST from binary NIST digits so: each digit was scaled to fit a 20x20
    box keeping its aspect ratio, with anti-aliasing (hence the gray levels), then placed in a
    28x28 field so that its centre of mass sits at the centre. A model trained on MNIST knows
    only digits framed that way: a digit drawn large or off-centre on a bigger canvas, or
    small in a corner of a 28x28 one, is far from anything it saw. So, in order:

    1. Levels: the darkest pixel is the background; pixels within a tenth of the range above
       it count as background too (scanner noise, JPEG-like smudges), the rest is stretched
       so that the brightest ink is 255.
    2. Crop to the ink's bounding box.
    3. Resize so the longer side is ``box`` pixels (default 20 for 28, ``round(size * 5/7)``
       otherwise), the other in proportion, with a triangle (bilinear) filter whose width
       follows the scale: each output pixel averages the source pixels it covers, so a
       downscale is anti-aliased, not sampled. The ink is stretched to 255 again (a thin
       stroke on a big canvas would otherwise come out faint).
    4. Place it in a ``size`` x ``size`` black field, shifted by whole pixels so that its
       centre of mass is at (size/2, size/2) in pixel-index coordinates: where MNIST's is
       (the training digits average 14.00, 13.99).

    Returns ``size * size`` bytes, row-major. A blank image (one gray level) is a DataError:
    there is nothing to frame. Dark ink on a light background must be inverted first.
    """
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError(
            f"mnist_preprocess: {len(pixels)} pixels do not make a {width}x{height} image"
        )
    if box is None:
        box = 20 if size == 28 else max(1, round(size * 5 / 7))
    if not 1 <= box <= size:
        raise ValueError(f"mnist_preprocess: box {box} does not fit in {size}x{size}")
    lo, hi = min(pixels), max(pixels)
    if hi == lo:
        raise DataError(f"the image is blank (every pixel is {lo}): no digit to frame", path=path)
    floor = lo + (hi - lo) * _NOISE
    gain = 255.0 / (hi - floor)
    ink = [(v - floor) * gain if v > floor else 0.0 for v in pixels]

    # 2. bounding box of the ink
    rows = [y for y in range(height) if any(ink[y * width : (y + 1) * width])]
    top, bottom = rows[0], rows[-1] + 1
    left = min(next(x for x in range(width) if ink[y * width + x]) for y in rows)
    right = max(next(x for x in range(width - 1, -1, -1) if ink[y * width + x]) for y in rows) + 1
    w, h = right - left, bottom - top

    # 3. fit the longer side to the box, keeping the aspect ratio
    scale = box / max(w, h)
    out_w, out_h = (min(box, max(1, round(n * scale))) for n in (w, h))
    across = _resample_weights(w, out_w)
    down = _resample_weights(h, out_h)
    rows_scaled = []
    for y in range(top, bottom):
        row = ink[y * width + left : y * width + right]
        rows_scaled.append([sum(row[j] * wt for j, wt in taps) for taps in across])
    scaled = [
        [sum(rows_scaled[j][x] * wt for j, wt in taps) for x in range(out_w)] for taps in down
    ]
    peak = max(max(row) for row in scaled)
    if peak <= 0:  # cannot happen: the box holds ink
        raise DataError("no ink left after resizing", path=path)
    stretch = 255.0 / peak

    # 4. centre of mass to the centre of the field, by whole pixels
    mass = sum(sum(row) for row in scaled)
    cx = sum(x * v for row in scaled for x, v in enumerate(row)) / mass
    cy = sum(y * sum(row) for y, row in enumerate(scaled)) / mass
    dx, dy = math.floor(size / 2 - cx + 0.5), math.floor(size / 2 - cy + 0.5)
    field = bytearray(size * size)
    for y, row in enumerate(scaled):
        fy = y + dy
        if not 0 <= fy < size:
            continue
        for x, v in enumerate(row):
            fx = x + dx
            if 0 <= fx < size:
                field[fy * size + fx] = min(255, int(v * stretch + 0.5))
    return bytes(field)


def _resample_weights(source: int, target: int) -> list[list[tuple[int, float]]]:
    """For each of ``target`` output pixels, the (source index, weight) pairs of a triangle
    filter resampling ``source`` pixels to ``target``: radius 1 source pixel when enlarging
    (bilinear), ``source / target`` when shrinking (so every source pixel is averaged in).
    Pixel centres are at i + 0.5 on both sides; the weights of each output sum to 1."""
    ratio = source / target
    radius = max(ratio, 1.0)
    taps_all = []
    for i in range(target):
        centre = (i + 0.5) * ratio
        first = max(0, int(math.floor(centre - radius)))
        last = min(source, int(math.ceil(centre + radius)))
        taps = [(j, 1.0 - abs(j + 0.5 - centre) / radius) for j in range(first, last)]
        taps = [(j, wt) for j, wt in taps if wt > 0.0]
        if not taps:  # centre exactly between two far pixels
            taps = [(min(source - 1, int(centre)), 1.0)]
        total = sum(wt for _, wt in taps)
        taps_all.append([(j, wt / total) for j, wt in taps])
    return taps_all


# --------------------------------------------------------------------------- PNG

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
    if not data.startswith(_PNG_SIGNATURE):
        raise DataError(
            "not a PNG file (bad signature)" if data else "empty file, not an image", path=path
        )
    pos = len(_PNG_SIGNATURE)
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
            _check_size(header[0], header[1], expect, max_pixels, path)
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
        gray = bytes(_luma8(*palette[i : i + 3]) for i in range(0, len(palette), 3))
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
            map(_luma8, row[0::channels], row[1::channels], row[2::channels])
        )
    step = 2 * channels

    def sample16(row: bytes, k: int) -> list[int]:
        return [hi << 8 | lo for hi, lo in zip(row[2 * k :: step], row[2 * k + 1 :: step])]

    if color_type in (0, 4):
        return lambda row, width: bytes((v * 510 + 65535) // 131070 for v in sample16(row, 0))
    return lambda row, width: bytes(
        map(_luma16, sample16(row, 0), sample16(row, 1), sample16(row, 2))
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
        _PNG_SIGNATURE,
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


# --------------------------------------------------------------------------- PGM

_PGM_NUMBER = re.compile(rb"[0-9]+")
_PGM_COMMENT = re.compile(rb"#[^\r\n]*")
_MAX_DIGITS = 10  # 2^31 has 10 digits; longer is garbage (and int() on it would be slow)


def _pgm_number(data: bytes, pos: int, what: str, path: PathLike | None) -> tuple[int, int]:
    """Skip whitespace and comments from ``pos``, read a decimal number; (value, end)."""
    end = len(data)
    while pos < end:
        if data[pos] in _PGM_WHITESPACE:
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
    if stop < end and data[stop] not in _PGM_WHITESPACE and data[stop] != 0x23:
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
        raise DataError(_unrecognised(data) if data else "empty file, not an image", path=path)
    if len(data) > 2 and data[2] not in _PGM_WHITESPACE and data[2] != 0x23:
        raise DataError(_unrecognised(data), path=path)
    width, pos = _pgm_number(data, 2, "width", path)
    height, pos = _pgm_number(data, pos, "height", path)
    maxval, pos = _pgm_number(data, pos, "maxval", path)
    if width == 0 or height == 0:
        raise DataError(f"PGM header: invalid image size {width}x{height}", path=path)
    if not 1 <= maxval <= 65535:
        raise DataError(f"PGM header: maxval is {maxval}; it must be 1 to 65535", path=path)
    _check_size(width, height, expect, max_pixels, path)
    if pos >= len(data):
        raise DataError("truncated PGM: no pixel data after the header", path=path, offset=pos)
    if data[pos] not in _PGM_WHITESPACE:
        raise DataError(
            "PGM header: maxval must be followed by one whitespace character", path=path, offset=pos
        )
    count = width * height
    table = _rescale_table(maxval)
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
    if rest.strip(_PGM_WHITESPACE):
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
