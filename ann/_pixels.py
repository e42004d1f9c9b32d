"""What the single-image decoders (``_png.py``, ``_pgm.py``) share: which format a file is, from
its first bytes; the size limits checked from the header alone; and the conversion of any
sample to 8-bit gray.

What every decoder returns is 8-bit gray, row-major, 0 = black and 255 = white, which is
also how MNIST stores its digits (light ink on a black background). Conversions (and why):

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
"""

from __future__ import annotations

from ann._errors import DataError, PathLike

#: Default cap on width * height when no exact size is expected. Decoding is pure
#: Python (a few bytecodes per byte), so this also bounds the time spent.
MAX_PIXELS = 1 << 22

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PGM_WHITESPACE = b" \t\n\v\f\r"

Image = tuple[int, int, bytes]
Size = tuple[int, int]


def image_format(data: bytes) -> str | None:
    """``"png"``, ``"pgm"`` or ``None``, from the first bytes (never the file name)."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data[:2] in (b"P5", b"P2") and (len(data) == 2 or data[2] in PGM_WHITESPACE + b"#"):
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


def unrecognised(data: bytes) -> str:
    for magic, what in _OTHER_FORMATS:
        if data.startswith(magic):
            return f"this is {what}; only PNG and PGM (P5/P2) images are supported"
    if data.startswith(PNG_SIGNATURE[:4]):
        return "damaged PNG signature (was the file transferred in text mode?)"
    head = data[:8].hex(" ")
    return f"not a PNG or PGM image (it starts with bytes {head})"


def check_size(
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


def rescale_table(maxval: int) -> list[int]:
    """v -> round(v * 255 / maxval) for v in 0..maxval (half rounds up)."""
    return [(v * 510 + maxval) // (2 * maxval) for v in range(maxval + 1)]


def luma8(r: int, g: int, b: int) -> int:
    """BT.601 luma of an 8-bit RGB triple, rounded to nearest."""
    return (299 * r + 587 * g + 114 * b + 500) // 1000


def luma16(r: int, g: int, b: int) -> int:
    """Luma of a 16-bit RGB triple, scaled to 8 bits with a single rounding."""
    den = 1000 * 65535
    return ((299 * r + 587 * g + 114 * b) * 255 * 2 + den) // (2 * den)
