"""Reading one image file for ``ann predict``: a PNG or a PGM, recognised from its bytes (never
the file name), as 8-bit gray pixels.

``ann predict`` classifies a digit a user drew or scanned. Pulling in Pillow for that would
break the "cffi only" rule, and the formats needed are small: PNG is chunks + zlib + five
byte filters (``_png.py``), PGM is a text header + samples (``_pgm.py``); what they share --
recognising the format, the size limits, the conversion to gray -- is ``_pixels.py``.
Framing a drawing as MNIST's digits are framed is ``_preprocess.py``.
"""

from __future__ import annotations

from ann._errors import DataError, PathLike
from ann._files import regular_file
from ann._pgm import decode_pgm
from ann._pixels import Image, Size, image_format, unrecognised
from ann._png import decode_png

__all__ = ["read_gray_image", "read_image"]

#: A single-image file bigger than this is refused before it is read in full. Real
#: 28x28 images are a few hundred bytes; metadata (ICC profiles, EXIF) can add a few
#: hundred KB, never tens of MB.
MAX_FILE_BYTES = 64 << 20


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
    ``MAX_PIXELS``, in 8-bit gray (colour converted as ``_pixels.py`` says)."""
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
    raise DataError(unrecognised(data), path=path)
