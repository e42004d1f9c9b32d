"""Tests of the PNG/PGM single-image readers used by ``ann predict``.

The expected gray values come from an oracle written here from the PNG/PGM specs
with exact fractions (and, where Pillow is installed, from Pillow itself), never
from the decoder's own output.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections.abc import Sequence
from fractions import Fraction
from math import floor
from pathlib import Path

import pytest
from conftest import PeakMemory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ann._errors import DataError
from ann._images import read_image
from ann._pgm import decode_pgm, encode_pgm
from ann._pixels import image_format
from ann._png import _encode_png, _filter_row, decode_png, encode_png_gray
from ann._preprocess import looks_inverted

SIG = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


# --------------------------------------------------------------------------- oracle helpers


def round_half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


def gray_of(
    color_type: int,
    bit_depth: int,
    samples: tuple[int, ...],
    palette: Sequence[tuple[int, int, int]] | None = None,
) -> int:
    """Spec-level gray value of one pixel: BT.601 luma, alpha dropped, scaled to 0..255."""
    if color_type == 3:
        r, g, b = palette[samples[0]]
        maxv = 255
    elif color_type in (0, 4):
        r = g = b = samples[0]
        maxv = (1 << bit_depth) - 1
    else:
        r, g, b = samples[:3]
        maxv = (1 << bit_depth) - 1
    if color_type in (0, 4):
        return round_half_up(Fraction(r * 255, maxv))
    return round_half_up(Fraction(299 * r + 587 * g + 114 * b, 1000) * 255 / maxv)


def pack_row(pixels: Sequence[tuple[int, ...]], bit_depth: int) -> bytes:
    """Samples of one row as PNG stores them: big-endian 16-bit, or MSB-first bit packing."""
    flat = [s for px in pixels for s in px]
    if bit_depth == 16:
        return b"".join(struct.pack(">H", s) for s in flat)
    if bit_depth == 8:
        return bytes(flat)
    per = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(flat), per):
        group = flat[i : i + per] + [0] * (per - len(flat[i : i + per]))
        byte = 0
        for s in group:
            byte = byte << bit_depth | s
        out.append(byte)
    return bytes(out)


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def ihdr(
    width: int,
    height: int,
    depth: int = 8,
    color: int = 0,
    interlace: int = 0,
    compression: int = 0,
    filter_method: int = 0,
) -> bytes:
    return chunk(
        b"IHDR",
        struct.pack(">IIBBBBB", width, height, depth, color, compression, filter_method, interlace),
    )


def gray_png(
    width: int,
    height: int,
    raw: bytes,
    *,
    extra_before: Sequence[bytes] = (),
    after_idat: Sequence[bytes] = (),
    idat: bytes | None = None,
) -> bytes:
    """A gray 8-bit PNG from *raw* (filter bytes included) with optional extra chunks."""
    body = zlib.compress(raw) if idat is None else idat
    return (
        SIG
        + ihdr(width, height)
        + b"".join(extra_before)
        + chunk(b"IDAT", body)
        + b"".join(after_idat)
        + chunk(b"IEND", b"")
    )


def random_pixels(
    rng: random.Random,
    width: int,
    height: int,
    channels: int,
    bit_depth: int,
    limit: int | None = None,
) -> list[list[tuple[int, ...]]]:
    top = (1 << bit_depth) - 1 if limit is None else limit - 1
    return [
        [tuple(rng.randint(0, top) for _ in range(channels)) for _ in range(width)]
        for _ in range(height)
    ]


def random_palette(rng: random.Random, n: int) -> list[tuple[int, int, int]]:
    return [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(n)]


def expect_error(data: bytes, *words: str, decoder=decode_png, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        decoder(data, path="img", **kw)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("img: ")
    for word in words:
        assert word in message, message
    return info.value


def smooth_image(width: int, height: int, seed: int = 0) -> bytes:
    """Gradients plus noise: rows differ so Up/Average/Paeth predictors matter."""
    rng = random.Random(seed)
    return bytes(
        (x * 7 + y * 13 + rng.randrange(20)) & 0xFF for y in range(height) for x in range(width)
    )


# --------------------------------------------------------------------------- round trips

SIZES = [(1, 1), (28, 28), (5, 3), (17, 1), (1, 17), (31, 9)]


@pytest.mark.parametrize("width,height", SIZES)
@pytest.mark.parametrize("filter_type", range(5))
def test_png_gray_round_trip_each_filter(width, height, filter_type):
    pixels = smooth_image(width, height, seed=width * 100 + height)
    data = encode_png_gray(width, height, pixels, filters=filter_type)
    # The filter byte really is the one asked for (so every unfilter path is exercised).
    raw = zlib.decompress(data[8 + 25 + 8 : -12 - 4])
    assert {raw[y * (width + 1)] for y in range(height)} == {filter_type}
    assert decode_png(data) == (width, height, pixels)


def test_png_gray_round_trip_mixed_filters_random_pixels():
    rng = random.Random(5)
    width, height = 28, 28
    pixels = bytes(rng.randrange(256) for _ in range(width * height))
    filters = [rng.randrange(5) for _ in range(height)]
    data = encode_png_gray(width, height, pixels, filters=filters)
    assert decode_png(data, expect=(28, 28)) == (width, height, pixels)


FORMATS = [  # (colour type, bit depth)
    (0, 1),
    (0, 2),
    (0, 4),
    (0, 8),
    (0, 16),
    (2, 8),
    (2, 16),
    (3, 1),
    (3, 2),
    (3, 4),
    (3, 8),
    (4, 8),
    (4, 16),
    (6, 8),
    (6, 16),
]


@pytest.mark.parametrize("color_type,bit_depth", FORMATS)
def test_png_every_format_and_filter_matches_oracle(color_type, bit_depth):
    rng = random.Random(color_type * 100 + bit_depth)
    width, height = 11, 10  # 11 pixels: sub-byte rows end in padding bits
    palette = None
    limit = None
    if color_type == 3:
        palette = random_palette(rng, min(1 << bit_depth, 200))
        limit = len(palette)
    image = random_pixels(rng, width, height, CHANNELS[color_type], bit_depth, limit)
    scanlines = [pack_row(row, bit_depth) for row in image]
    filters = [y % 5 for y in range(height)]
    data = _encode_png(
        width,
        height,
        color_type,
        bit_depth,
        scanlines,
        filters,
        palette=None if palette is None else bytes(c for p in palette for c in p),
    )
    want = bytes(gray_of(color_type, bit_depth, px, palette) for row in image for px in row)
    assert decode_png(data) == (width, height, want)


def test_png_full_scale_values_stay_full_scale():
    # 16-bit 65535 and 1-bit 1 are white, 0 is black; 2-bit steps are 85 apart.
    for depth, values, want in [
        (16, [0, 65535, 32768], [0, 255, 128]),
        (1, [0, 1, 1], [0, 255, 255]),
        (2, [0, 1, 2, 3], [0, 85, 170, 255]),
        (4, [0, 1, 15], [0, 17, 255]),
    ]:
        row = pack_row([(v,) for v in values], depth)
        data = _encode_png(len(values), 1, 0, depth, [row])
        assert decode_png(data)[2] == bytes(want)


def test_png_rgb_uses_bt601_luma_and_alpha_is_dropped():
    pixels = [(255, 0, 0, 0), (0, 255, 0, 17), (0, 0, 255, 255), (255, 255, 255, 0)]
    data = _encode_png(4, 1, 6, 8, [pack_row(pixels, 8)])
    # 0.299*255 = 76.245, 0.587*255 = 149.685, 0.114*255 = 29.07; alpha plays no part
    assert list(decode_png(data)[2]) == [76, 150, 29, 255]


def test_png_ancillary_chunks_are_ignored_but_crc_checked():
    pixels = smooth_image(6, 4)
    text = (b"tEXt", b"Comment\x00hello")
    good = _encode_png(
        6,
        4,
        0,
        8,
        [pixels[i : i + 6] for i in range(0, 24, 6)],
        2,
        ancillary=[text, (b"gAMA", struct.pack(">I", 45455))],
    )
    assert decode_png(good)[2] == pixels
    at = good.index(b"tEXt")
    bad = good[: at + 4] + b"J" + good[at + 5 :]
    expect_error(bad, "CRC mismatch in chunk tEXt")


def test_png_multiple_idat_chunks_are_joined():
    pixels = smooth_image(9, 9)
    raw = b"".join(b"\x00" + pixels[y * 9 : (y + 1) * 9] for y in range(9))
    stream = zlib.compress(raw)
    parts = [chunk(b"IDAT", stream[i : i + 7]) for i in range(0, len(stream), 7)]
    data = SIG + ihdr(9, 9) + b"".join(parts) + chunk(b"IEND", b"")
    assert decode_png(data) == (9, 9, pixels)


# --------------------------------------------------------------------------- Adam7

ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def interlaced_png(image, color_type: int, bit_depth: int, palette=None, filter_seed=0) -> bytes:
    height, width = len(image), len(image[0])
    rng = random.Random(filter_seed)
    bpp = max(1, bit_depth * CHANNELS[color_type] // 8)
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7:
        sub = [row[x0::dx] for row in image[y0::dy]]
        if not sub or not sub[0]:
            continue
        prior = bytes(len(pack_row(sub[0], bit_depth)))
        for row in sub:
            line = pack_row(row, bit_depth)
            raw += _filter_row(line, prior, rng.randrange(5), bpp)
            prior = line
    plte = b"" if palette is None else chunk(b"PLTE", bytes(c for p in palette for c in p))
    return (
        SIG
        + ihdr(width, height, bit_depth, color_type, interlace=1)
        + plte
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("width,height", [(1, 1), (28, 28), (3, 9), (9, 2), (13, 7)])
@pytest.mark.parametrize("color_type,bit_depth", [(0, 8), (0, 1), (2, 16), (3, 4), (6, 8)])
def test_png_adam7_interlaced(width, height, color_type, bit_depth):
    rng = random.Random(width * 31 + height + color_type)
    palette = random_palette(rng, 16) if color_type == 3 else None
    image = random_pixels(
        rng, width, height, CHANNELS[color_type], bit_depth, 16 if palette else None
    )
    data = interlaced_png(image, color_type, bit_depth, palette, filter_seed=width)
    want = bytes(gray_of(color_type, bit_depth, px, palette) for row in image for px in row)
    assert decode_png(data) == (width, height, want)


# --------------------------------------------------------------------------- Pillow


def pillow_image(mode: str, size: tuple[int, int], seed: int):
    Image = pytest.importorskip("PIL.Image")
    rng = random.Random(seed)
    width, height = size
    if mode == "I;16":
        raw = b"".join(struct.pack("<H", rng.randrange(65536)) for _ in range(width * height))
        return Image.frombytes("I;16", size, raw)
    if mode == "P":
        image = Image.frombytes("L", size, bytes(rng.randrange(40) for _ in range(width * height)))
        image = image.convert("P")
        image.putpalette(bytes(rng.randrange(256) for _ in range(40 * 3)))
        return image
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "1": 1}[mode]
    if mode == "1":
        return Image.frombytes(
            "L", size, bytes(rng.choice((0, 255)) for _ in range(width * height))
        ).convert("1")
    # Smooth-ish content so Pillow's adaptive filtering picks several filter types.
    raw = bytes(
        (x * 5 + y * 3 * (b + 1) + rng.randrange(30)) & 0xFF
        for y in range(height)
        for x in range(width)
        for b in range(bands)
    )
    return Image.frombytes(mode, size, raw)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "P", "1"])
@pytest.mark.parametrize("size", [(28, 28), (13, 7)])
@pytest.mark.parametrize("optimize", [False, True])
def test_png_matches_pillow(mode, size, optimize):
    Image = pytest.importorskip("PIL.Image")
    source = pillow_image(mode, size, seed=len(mode) * 7 + size[0])
    buffer = io.BytesIO()
    options = {"optimize": optimize}
    if mode == "P":
        options["transparency"] = 3  # a tRNS chunk, ignored like any alpha
    source.save(buffer, "PNG", **options)
    data = buffer.getvalue()
    reread = Image.open(io.BytesIO(data))
    if reread.mode == "I;16":
        # Pillow's convert("L") clips 16-bit values at 255 instead of scaling, so take
        # its decoded 16-bit samples and scale them to 8 bits here.
        raw = reread.tobytes()
        values = struct.unpack(f"<{len(raw) // 2}H", raw)
        want = [round_half_up(Fraction(v * 255, 65535)) for v in values]
    else:
        want = list(reread.convert("L").tobytes())
    width, height, got = decode_png(data, path="pillow.png")
    assert (width, height) == size
    assert max(abs(a - b) for a, b in zip(got, want)) <= 1
    assert len(got) == len(want)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_png_sub_byte_palette_matches_pillow(bits):
    Image = pytest.importorskip("PIL.Image")
    rng = random.Random(bits)
    colours = 1 << bits
    source = Image.frombytes("L", (13, 5), bytes(rng.randrange(colours) for _ in range(65)))
    source = source.convert("P")
    source.putpalette(bytes(rng.randrange(256) for _ in range(colours * 3)))
    buffer = io.BytesIO()
    source.save(buffer, "PNG", bits=bits)
    data = buffer.getvalue()
    assert data[24:26] == bytes([bits, 3])  # really a sub-byte palette file
    want = Image.open(io.BytesIO(data)).convert("L").tobytes()
    got = decode_png(data)[2]
    assert max(abs(a - b) for a, b in zip(got, want)) <= 1


def test_pillow_reads_our_interlaced_files_the_same_way():
    # Checks the Adam7 writer used above against an independent decoder.
    Image = pytest.importorskip("PIL.Image")
    rng = random.Random(9)
    image = random_pixels(rng, 13, 11, 3, 8)
    data = interlaced_png(image, 2, 8)
    reread = Image.open(io.BytesIO(data))
    assert reread.info.get("interlace") == 1
    want = reread.convert("L").tobytes()
    got = decode_png(data)[2]
    assert max(abs(a - b) for a, b in zip(got, want)) <= 1


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_pgm_matches_pillow(mode):
    pytest.importorskip("PIL.Image")
    source = pillow_image(mode, (13, 7), seed=3)
    buffer = io.BytesIO()
    source.save(buffer, "PPM")
    data = buffer.getvalue()
    assert data.startswith(b"P5")
    raw = source.tobytes()
    if mode == "L":
        want = list(raw)
    else:
        values = struct.unpack(f"<{len(raw) // 2}H", raw)
        want = [round_half_up(Fraction(v * 255, 65535)) for v in values]
    assert decode_pgm(data) == (13, 7, bytes(want))


def test_pillow_reads_our_encoders():
    Image = pytest.importorskip("PIL.Image")
    pixels = smooth_image(10, 6)
    for data in (
        encode_png_gray(10, 6, pixels, filters=4),
        encode_pgm(10, 6, pixels),
        encode_pgm(10, 6, pixels, binary=False),
    ):
        image = Image.open(io.BytesIO(data))
        assert (image.mode, image.size) == ("L", (10, 6))
        assert image.tobytes() == pixels


# --------------------------------------------------------------------------- malformed PNG


def valid_png(width: int = 4, height: int = 3) -> bytes:
    return encode_png_gray(width, height, smooth_image(width, height))


def test_png_bad_crc():
    data = bytearray(valid_png())
    data[-13] ^= 1  # last byte of the IDAT chunk's CRC
    expect_error(bytes(data), "CRC mismatch in chunk IDAT")


@pytest.mark.parametrize("cut", [8, 10, 20, 33, 40, -13, -12, -1])
def test_png_truncated(cut):
    data = valid_png()
    expect_error(data[:cut], "truncated PNG")


def test_png_missing_ihdr():
    raw = b"\x00" * 5
    data = SIG + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    expect_error(data, "first chunk is IDAT", "must start with IHDR")


def test_png_missing_iend():
    data = valid_png()
    expect_error(data[:-12], "truncated PNG", "IEND")


def test_png_no_idat():
    expect_error(SIG + ihdr(2, 2) + chunk(b"IEND", b""), "no IDAT")


@pytest.mark.parametrize("bad_filter", [5, 255])
def test_png_bad_filter_byte(bad_filter):
    raw = b"\x00\x01\x02" + bytes([bad_filter]) + b"\x03\x04"
    expect_error(gray_png(2, 2, raw), "row 1", f"filter type {bad_filter}")


def test_png_oversize_inflate_is_refused_with_bounded_memory():
    # 32 MiB of zeros compress to ~32 KiB: a zip bomb for a 28x28 image.
    compressor = zlib.compressobj(9)
    block = bytes(1 << 20)
    stream = b"".join(compressor.compress(block) for _ in range(32)) + compressor.flush()
    data = gray_png(28, 28, b"", idat=stream)
    with PeakMemory() as memory:
        expect_error(data, "inflates to more than the 812 bytes")
    assert memory.peak < 4 << 20  # never the 32 MiB the stream would inflate to


def test_png_just_one_byte_too_many():
    raw = b"\x00" * (2 * 3) + b"\x00"
    expect_error(gray_png(2, 2, raw), "inflates to more than the 6 bytes")


def test_png_undersize_inflate():
    expect_error(gray_png(2, 2, b"\x00\x01\x02"), "inflates to 3 bytes", "implies 6")


def test_png_corrupt_and_truncated_zlib_stream():
    expect_error(gray_png(2, 2, b"", idat=b"\x78\x9c\xff\xff\xff\xff"), "corrupt compressed")
    stream = zlib.compress(b"\x00\x01\x02" * 2)
    expect_error(gray_png(2, 2, b"", idat=stream[:-6]), "truncated compressed image data")
    bad_adler = stream[:-1] + bytes([stream[-1] ^ 1])
    expect_error(gray_png(2, 2, b"", idat=bad_adler), "corrupt compressed")
    expect_error(
        gray_png(2, 2, b"", idat=stream + b"junk"),
        "4 bytes after the end of the compressed image data",
    )


def test_png_wrong_size_for_expect():
    data = encode_png_gray(32, 30, bytes(32 * 30))
    error = expect_error(
        data, "image is 32x30 pixels; ann predict takes 28x28 grayscale", expect=(28, 28)
    )
    assert error.path == "img"
    assert decode_png(data)[:2] == (32, 30)  # fine without expect


def test_png_size_is_checked_before_inflating():
    # A header claiming 100000x100000 with garbage data: the size error comes first.
    data = SIG + ihdr(100000, 100000) + chunk(b"IDAT", b"garbage") + chunk(b"IEND", b"")
    expect_error(data, "image is 100000x100000 pixels", expect=(28, 28))
    expect_error(data, "more than the limit of")


@pytest.mark.parametrize(
    "header,words",
    [
        (ihdr(0, 5), "invalid image size 0x5"),
        (ihdr(5, 2**31), "invalid image size"),
        (ihdr(2, 2, 8, 5), "invalid PNG colour type 5"),
        (ihdr(2, 2, 4, 2), "bit depth 4 is invalid for RGB"),
        (ihdr(2, 2, 16, 3), "bit depth 16 is invalid for palette"),
        (ihdr(2, 2, 3, 0), "bit depth 3 is invalid"),
        (ihdr(2, 2, interlace=2), "unknown PNG interlace method 2"),
        (ihdr(2, 2, compression=1), "unknown PNG compression method 1"),
        (ihdr(2, 2, filter_method=1), "unknown PNG filter method 1"),
        (chunk(b"IHDR", b"\x00" * 12), "IHDR chunk is 12 bytes"),
    ],
)
def test_png_bad_ihdr(header, words):
    data = SIG + header + chunk(b"IDAT", zlib.compress(b"\x00" * 6)) + chunk(b"IEND", b"")
    expect_error(data, words)


def test_png_chunk_structure_errors():
    base = valid_png()
    idat_at = base.index(b"IDAT") - 4
    head, tail = base[:idat_at], base[idat_at:]
    expect_error(head + chunk(b"IHDR", base[16:29]) + tail, "second IHDR")
    expect_error(head + chunk(b"ABCD", b"") + tail, "unknown critical chunk ABCD")
    expect_error(head + chunk(b"ab1d", b"") + tail, "invalid chunk type")
    expect_error(base + b"\x00", "1 bytes after the IEND chunk")
    expect_error(base[:-12] + chunk(b"IEND", b"x"), "IEND chunk is not empty")
    huge = struct.pack(">I", 0x80000000) + b"tEXt"
    expect_error(head + huge + tail, "above the PNG limit")
    # IDAT, then another chunk, then IDAT again
    raw = b"\x00" + smooth_image(4, 3)[:4]
    stream = zlib.compress(raw * 3)
    split = (
        SIG
        + ihdr(4, 3)
        + chunk(b"IDAT", stream[:5])
        + chunk(b"tEXt", b"a\x00b")
        + chunk(b"IDAT", stream[5:])
        + chunk(b"IEND", b"")
    )
    expect_error(split, "IDAT chunks are not consecutive")
    # An ancillary chunk between IDAT and IEND is fine.
    after = (
        SIG + ihdr(4, 3) + chunk(b"IDAT", stream) + chunk(b"tEXt", b"a\x00b") + chunk(b"IEND", b"")
    )
    assert decode_png(after)[2] == raw[1:] * 3


def test_png_palette_errors():
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x00\x01" * 2))
    plte = chunk(b"PLTE", bytes(range(6)))
    end = chunk(b"IEND", b"")
    expect_error(SIG + ihdr(2, 2, 8, 3) + idat + end, "no PLTE chunk")
    expect_error(
        SIG + ihdr(2, 2, 8, 3) + chunk(b"PLTE", b"\x00" * 4) + idat + end, "PLTE chunk of 4 bytes"
    )
    expect_error(SIG + ihdr(2, 2, 8, 3) + plte + plte + idat + end, "second PLTE")
    expect_error(SIG + ihdr(2, 2, 8, 0) + plte + idat + end, "PLTE chunk in a grayscale PNG")
    expect_error(SIG + ihdr(2, 2, 8, 3) + idat + plte + end, "no PLTE chunk")
    # Only 2 entries, index 2 used:
    out_of_range = chunk(b"IDAT", zlib.compress(b"\x00\x00\x01\x00\x02\x01"))
    expect_error(
        SIG + ihdr(2, 2, 8, 3) + plte + out_of_range + end,
        "palette index 2 is out of range",
        "2 entries",
    )
    # A palette is allowed (and ignored) in an RGB file.
    rgb = _encode_png(1, 1, 2, 8, [b"\x00\xff\x00"], palette=bytes(6))
    assert decode_png(rgb)[2] == bytes([150])


def test_png_signature_errors():
    expect_error(b"", "empty file")
    expect_error(b"\x89PNX\r\n\x1a\n", "bad signature")


# --------------------------------------------------------------------------- PGM


def test_pgm_round_trip_binary_and_ascii():
    for width, height in SIZES:
        pixels = smooth_image(width, height, seed=width)
        for binary in (True, False):
            data = encode_pgm(width, height, pixels, binary=binary)
            assert data.startswith(b"P5" if binary else b"P2")
            assert decode_pgm(data) == (width, height, pixels)
    text = encode_pgm(28, 28, smooth_image(28, 28), binary=False)
    assert max(len(line) for line in text.split(b"\n")) <= 70


def test_pgm_header_comments_and_whitespace():
    data = b"P5 # a comment\n#another\n 3\t#w\r\n2 # h\n255\n" + bytes([0, 128, 255, 1, 2, 3])
    assert decode_pgm(data) == (3, 2, bytes([0, 128, 255, 1, 2, 3]))
    ascii_data = b"P2\n# c\n2 2\n15\n0 15\n# inside\n 7\n\n8\n"
    assert decode_pgm(ascii_data) == (2, 2, bytes([0, 255, 119, 136]))


def test_pgm_maxval_scaling():
    # maxval 1: 0/255; maxval 3: 0, 85, 170, 255; maxval 1000: round(v * 255 / 1000)
    assert decode_pgm(b"P5 2 1 1\n\x00\x01")[2] == bytes([0, 255])
    assert decode_pgm(b"P2 4 1 3\n0 1 2 3")[2] == bytes([0, 85, 170, 255])
    values = [0, 2, 500, 998, 1000]
    data = b"P5 5 1 1000\n" + b"".join(struct.pack(">H", v) for v in values)
    want = [round_half_up(Fraction(v * 255, 1000)) for v in values]
    assert decode_pgm(data)[2] == bytes(want)
    data16 = b"P5 3 1 65535\n" + struct.pack(">3H", 0, 65535, 257 * 100)
    assert decode_pgm(data16)[2] == bytes([0, 255, 100])


def test_pgm_trailing_whitespace_is_allowed():
    assert decode_pgm(b"P5 2 1 255\n\x05\x06\n \n")[2] == b"\x05\x06"
    assert decode_pgm(b"P2 2 1 255\n5 6\n\n")[2] == b"\x05\x06"


@pytest.mark.parametrize(
    "data,words",
    [
        (b"P5\n2 2\n0\n\x00\x00\x00\x00", ["maxval is 0"]),
        (b"P5\n2 2\n65536\n" + bytes(8), ["maxval is 65536"]),
        (b"P5\n0 2\n255\n", ["invalid image size 0x2"]),
        (b"P5\nxx 2\n255\n" + bytes(4), ["expected the width", "b'xx 2"]),
        (b"P5\n28x28\n255\n", ["width 28 is followed by b'x'"]),
        (b"P5\n2", ["truncated PGM header", "height"]),
        (b"P2", ["truncated PGM header", "width"]),
        (b"P5\n2 2 # only a comment", ["truncated PGM header", "maxval"]),
        (b"P5\n2 2\n255", ["truncated PGM: no pixel data"]),
        (b"P5\n2 2\n255#x\n" + bytes(4), ["followed by one whitespace"]),
        (b"P5\n2 2\n255\n\x00\x00\x00", ["truncated PGM: 3 bytes", "implies 4"]),
        (b"P5\n2 2\n255\n\x00\x00\x00\x00P5", ["2 bytes after the pixel data"]),
        (b"P5\n2 2\n1000\n" + bytes(7), ["truncated PGM: 7 bytes", "implies 8"]),
        (b"P5\n2 1\n200\n\x00\xc9", ["pixel value 201 exceeds maxval 200"]),
        (b"P5\n1 1\n300\n\x01\x2d", ["pixel value 301 exceeds maxval 300"]),
        (b"P2\n2 2\n255\n1 2 3", ["truncated PGM: 3 samples", "declares 4"]),
        (b"P2\n2 2\n255\n1 2 3 4 5", ["more than the 4 samples"]),
        (b"P2\n2 1\n255\n1 x", ["sample 1 is b'x'", "not a decimal"]),
        (b"P2\n2 1\n255\n1 -2", ["sample 1", "not a decimal"]),
        (b"P2\n2 1\n255\n1 256", ["sample 1 is 256, above maxval 255"]),
        (b"P2\n2 1\n255\n1 99999999999999999999999", ["above maxval 255"]),
        (b"P5\n99999999999 2\n255\n", ["11 digits"]),
        (b"P52 2 255\n\x00", ["not a PNG or PGM"]),
        (b"P6\n2 2\n255\n" + bytes(12), ["PPM colour image", "only PNG and PGM"]),
        (b"", ["empty file"]),
    ],
)
def test_pgm_malformed(data, words):
    expect_error(data, *words, decoder=decode_pgm)


def test_pgm_wrong_size_checked_from_header():
    # The raster is missing entirely, but the size error is what the user needs to hear.
    expect_error(
        b"P5 32 30 255\n",
        "image is 32x30 pixels; ann predict takes 28x28",
        decoder=decode_pgm,
        expect=(28, 28),
    )
    expect_error(b"P2 4000 4000 255\n", "more than the limit", decoder=decode_pgm)


# --------------------------------------------------------------------------- read_image


def test_read_image_dispatches_on_content_not_extension(tmp_path: Path):
    pixels = smooth_image(28, 28)
    png_named_pgm = tmp_path / "digit.pgm"
    png_named_pgm.write_bytes(encode_png_gray(28, 28, pixels, filters=4))
    pgm_named_png = tmp_path / "digit.png"
    pgm_named_png.write_bytes(encode_pgm(28, 28, pixels, binary=False))
    no_extension = tmp_path / "digit"
    no_extension.write_bytes(encode_pgm(28, 28, pixels))
    for path in (png_named_pgm, pgm_named_png, no_extension, str(no_extension)):
        assert read_image(path) == pixels
    assert image_format(png_named_pgm.read_bytes()) == "png"
    assert image_format(pgm_named_png.read_bytes()) == "pgm"
    assert image_format(b"P5x") is None


def test_read_image_wrong_size_message(tmp_path: Path):
    path = tmp_path / "big.png"
    path.write_bytes(encode_png_gray(32, 30, bytes(32 * 30)))
    with pytest.raises(DataError) as info:
        read_image(path)
    assert str(info.value) == (
        f"{path}: image is 32x30 pixels; ann predict takes 28x28 grayscale images (like MNIST)"
    )
    assert read_image(path, expect=(30, 32)) == bytes(32 * 30)


def read_error(path) -> str:
    with pytest.raises(DataError) as info:
        read_image(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_read_image_file_errors(tmp_path: Path):
    assert "no such file" in read_error(tmp_path / "missing.png")
    assert "is a directory" in read_error(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert "empty file" in read_error(empty)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        assert "not a regular file" in read_error(fifo)
    big = tmp_path / "huge.png"
    with open(big, "wb") as stream:  # sparse: costs no disk
        stream.truncate((64 << 20) + 1)
    assert "larger than 64 MiB" in read_error(big)


@pytest.mark.parametrize(
    "head,words",
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "this is a JPEG image"),
        (b"GIF89a\x01\x00", "this is a GIF image"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "an IDX file"),
        (b"\x1f\x8b\x08\x00", "a gzip file"),
        (b"\x89PNG\n\x1a\n", "damaged PNG signature"),
        (b"hello world", "not a PNG or PGM image (it starts with bytes 68 65 6c"),
    ],
)
def test_read_image_names_unsupported_formats(tmp_path: Path, head, words):
    path = tmp_path / "x.png"
    path.write_bytes(head + bytes(100))
    assert words in read_error(path)


def test_looks_inverted():
    width = 28
    light_on_dark = bytearray(width * width)
    dark_on_light = bytearray([255]) * (width * width)
    for y in range(6, 22):  # a vertical stroke, a "1"
        for x in range(12, 16):
            light_on_dark[y * width + x] = 255
            dark_on_light[y * width + x] = 0
    assert not looks_inverted(bytes(light_on_dark))
    assert looks_inverted(bytes(dark_on_light))
    # A stroke touching the border does not flip the verdict.
    for y in range(width):
        light_on_dark[y * width] = 255
    assert not looks_inverted(bytes(light_on_dark))
    assert looks_inverted(bytes([200]) * 12, width=4)
    assert not looks_inverted(bytes(12), width=4)
    with pytest.raises(ValueError):
        looks_inverted(bytes(10))


def test_encoders_reject_wrong_pixel_counts():
    with pytest.raises(ValueError):
        encode_png_gray(3, 3, bytes(8))
    with pytest.raises(ValueError):
        encode_pgm(3, 3, bytes(10))
    with pytest.raises(ValueError):
        encode_png_gray(2, 2, bytes(4), filters=[0, 5])


# --------------------------------------------------------------------------- fuzzing


def check_decodes_or_data_error(decoder, data: bytes) -> None:
    """The only allowed outcomes: a consistent decode, or a one-line DataError."""
    try:
        width, height, pixels = decoder(data, path="fuzz", max_pixels=1 << 12)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert width > 0 and height > 0 and len(pixels) == width * height
    assert isinstance(pixels, bytes)


FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    for decoder in (decode_png, decode_pgm):
        check_decodes_or_data_error(decoder, data)
        check_decodes_or_data_error(decoder, SIG + data)
        check_decodes_or_data_error(decoder, b"P5 " + data)
        check_decodes_or_data_error(decoder, b"P2\n" + data)


SEED_FILES = [
    encode_png_gray(5, 4, smooth_image(5, 4), filters=[0, 1, 3, 4]),
    _encode_png(3, 2, 3, 2, [b"\x1b", b"\xe4"], 4, palette=bytes(range(12))),
    _encode_png(3, 2, 6, 16, [bytes(range(24)), bytes(range(24, 48))], 3),
    encode_pgm(4, 3, smooth_image(4, 3)),
    encode_pgm(4, 3, smooth_image(4, 3), binary=False),
    b"P5 2 2 1000\n" + bytes(range(8)),
]


@FUZZ
@given(
    st.sampled_from(SEED_FILES),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete"]),
            st.integers(0, 10**6),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzz_mutated_files(seed, mutations):
    data = bytearray(seed)
    for op, where, value in mutations:
        at = where % (len(data) + 1)
        if op == "flip" and at < len(data):
            data[at] ^= value or 1
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = bytes([value])
        elif op == "delete":
            del data[at : at + 1 + value % 4]
    for decoder in (decode_png, decode_pgm):
        check_decodes_or_data_error(decoder, bytes(data))


@FUZZ
@given(
    width=st.integers(1, 9),
    height=st.integers(1, 6),
    depth=st.sampled_from([1, 2, 4, 8, 16]),
    color=st.sampled_from([0, 2, 3, 4, 6]),
    interlace=st.sampled_from([0, 1]),
    raw=st.binary(max_size=400),
    plte=st.binary(max_size=30),
    exact=st.booleans(),
)
def test_fuzz_valid_chunks_random_contents(
    width, height, depth, color, interlace, raw, plte, exact
):
    # Correct CRCs and zlib framing around random header fields and pixel data, so the
    # fuzzing reaches the filters, the converters and the palette lookup.
    if exact:  # make the data exactly as long as the header implies
        bits = depth * CHANNELS[color]
        passes = ADAM7 if interlace else ((0, 0, 1, 1),)
        size = 0
        for x0, y0, dx, dy in passes:
            pw, ph = len(range(x0, width, dx)), len(range(y0, height, dy))
            if pw and ph:
                size += ph * (1 + (pw * bits + 7) // 8)
        raw = (raw * (size // max(1, len(raw)) + 1))[:size] if raw else bytes(size)
    body = (
        SIG
        + ihdr(width, height, depth, color, interlace)
        + (chunk(b"PLTE", plte) if plte else b"")
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    check_decodes_or_data_error(decode_png, body)
