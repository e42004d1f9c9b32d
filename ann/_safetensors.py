"""Reading and writing the safetensors file format, in pure Python.

Layout of a file (all integers little-endian)::

    bytes [0, 8)          N, an unsigned 64-bit header length
    bytes [8, 8+N)        UTF-8 JSON object (may end in space padding)
    bytes [8+N, EOF)      the data section: every tensor's raw bytes, packed

The JSON maps each tensor name to ``{"dtype": "F32", "shape": [..],
"data_offsets": [begin, end]}``, offsets counted from the start of the data
section, plus an optional ``"__metadata__"`` object of string -> string.
Tensor data is C-ordered (row-major) and little-endian.

This module knows nothing of networks; ``ann._modelfile`` builds the model
schema on top.  The reader treats every file as hostile: each number in the
header is checked before it is used, the tensors must tile the data section
exactly (no overlap, no hole, no trailing bytes), and memory use is bounded by
the file size plus ``max_header``.  The writer replaces its target atomically,
so a crash mid-save never destroys the previous file.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, Callable, Optional, Union

from ann._errors import ModelFileError, PathLike
from ann._files import atomic_write, regular_file, write_chunks

__all__ = ["DTYPE_SIZES", "save_file", "load_file"]

#: Bytes per element of each dtype of the format.  F16/BF16 and the 8-bit
#: floats are listed so a file holding them is read (and can be rejected by a
#: higher layer by name) rather than refused as "unknown dtype".
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
}

METADATA_KEY = "__metadata__"
_HEADER_LENGTH_BYTES = 8
# The reference writer pads the header so the data section starts on an
# 8-byte boundary; that lets a reader of a mapped file view F64 data in place.
_ALIGNMENT = 8
_ENTRY_KEYS = frozenset(("dtype", "shape", "data_offsets"))

Shape = tuple[int, ...]
# (any buffer of the raw little-endian bytes; quoted: array is subscriptable from 3.12 only)
TensorIn = tuple[str, Shape, Union[bytes, bytearray, memoryview, "array[Any]"]]
TensorOut = tuple[str, Shape, memoryview]
# fail(message, offset) is the error to raise for a malformed file
Fail = Callable[[str, Optional[int]], ModelFileError]


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _product(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def save_file(
    path: PathLike, tensors: Mapping[str, TensorIn], metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``tensors`` (name -> (dtype, shape, raw bytes)) to ``path``.

    The raw bytes must already be little-endian and C-ordered: this layer
    stores them as given (``ann._modelfile`` byteswaps on big-endian hosts).

    Output is deterministic: tensors are laid out in sorted-name order and the
    JSON has sorted keys, so equal inputs give byte-identical files.

    The write is atomic: the bytes go to a fresh file in the same folder, which
    is flushed, fsync'ed and then renamed over ``path`` (rename within one
    file system is atomic on POSIX and Windows), and the folder is fsync'ed so
    the rename itself survives a power cut.  On any failure, including
    KeyboardInterrupt, the temporary file is removed and an existing ``path``
    is left untouched.
    """
    header, blobs = _build_header(path, tensors, metadata)
    _atomic_write(path, header, blobs)


def _build_header(
    path: PathLike, tensors: Mapping[str, TensorIn], metadata: Mapping[str, str] | None
) -> tuple[bytes, list[memoryview]]:
    """Check the caller's tensors and return (prefix + padded header, data)."""
    doc: dict[str, object] = {}
    blobs: list[memoryview] = []
    offset = 0
    for name in sorted(tensors):
        if not isinstance(name, str) or not name or name == METADATA_KEY:
            raise ModelFileError(f"cannot save a tensor named {name!r}", path=path)
        dtype, shape, data = tensors[name]
        if dtype not in DTYPE_SIZES:
            raise ModelFileError(f"tensor {_short(name)}: unknown dtype {dtype!r}", path=path)
        shape = tuple(shape)
        if not all(type(d) is int and d >= 0 for d in shape):
            raise ModelFileError(
                f"tensor {_short(name)}: shape {list(shape)} is not a list of non-negative ints",
                path=path,
            )
        raw = memoryview(data).cast("B")
        expected = _product(shape) * DTYPE_SIZES[dtype]
        if raw.nbytes != expected:
            raise ModelFileError(
                f"tensor {_short(name)}: {raw.nbytes} bytes given but {dtype} shape "
                f"{list(shape)} needs {expected}",
                path=path,
            )
        doc[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + expected],
        }
        offset += expected
        blobs.append(raw)
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ModelFileError(
                    f"metadata must map str to str, got {_short(key)}: {_short(value)}", path=path
                )
        doc[METADATA_KEY] = dict(metadata)
    try:
        text = json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        body = text.encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        raise ModelFileError(f"cannot encode header: {exc}", path=path) from None
    # Pad with spaces (JSON whitespace) so 8 + len(body) is a multiple of 8.
    body += b" " * (-len(body) % _ALIGNMENT)
    prefix = len(body).to_bytes(_HEADER_LENGTH_BYTES, "little")
    return prefix + body, blobs


def _atomic_write(path: PathLike, header: bytes, blobs: list[memoryview]) -> None:
    atomic_write(path, write_chunks([header, *blobs]), ModelFileError)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # The format forbids duplicate keys; json.loads would silently keep the
    # last one, letting two readers of one file disagree about its contents.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def load_file(
    path: PathLike, *, max_header: int = 100 * 1024 * 1024, max_entries: int | None = None
) -> tuple[dict[str, TensorOut], dict[str, str]]:
    """Read and validate a safetensors file.

    Returns ``(tensors, metadata)``: ``tensors`` maps each name to
    ``(dtype, shape, data)`` with ``data`` a read-only byte memoryview of
    little-endian values; ``metadata`` is the ``__metadata__`` map ({} if
    absent).  Any defect, including an unreadable file, raises a one-line
    :class:`ModelFileError` naming ``path`` and, where useful, the byte offset.

    Memory is bounded: the header is read only after its length is checked
    against ``max_header`` and the file size, and the data section is read in
    one call of the size the validated header implies. ``max_entries`` bounds
    the keys of the header (tensors and metadata entries) before the JSON is
    decoded: a header of a million tiny entries fits in 100 MB but takes
    gigabytes and many seconds as Python objects.
    """
    regular_file(path, ModelFileError, "a model file")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return _read(f, size, path, max_header, max_entries)
    except OSError as exc:
        raise ModelFileError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def _read(
    f: BinaryIO, size: int, path: PathLike | None, max_header: int, max_entries: int | None = None
) -> tuple[dict[str, TensorOut], dict[str, str]]:
    """Parse an open file of ``size`` bytes (also used on BytesIO by the fuzzer)."""

    def fail(message: str, offset: int | None = None) -> ModelFileError:
        return ModelFileError(message, path=path, offset=offset)

    prefix = f.read(_HEADER_LENGTH_BYTES)
    n = int.from_bytes(prefix, "little")
    if len(prefix) < _HEADER_LENGTH_BYTES or n > min(max_header, size - _HEADER_LENGTH_BYTES):
        # Not a safetensors file at all is the likely story (a swapped argument): say what the
        # file looks like rather than quoting a header length read from someone else's bytes.
        kind = _looks_like(prefix + f.read(_SNIFF_BYTES - len(prefix)))
        if kind:
            raise fail(f"not a model file (it looks like {kind})")
    if size < _HEADER_LENGTH_BYTES:
        raise fail(f"file is {size} bytes, too short for the 8-byte header length", 0)
    if len(prefix) != _HEADER_LENGTH_BYTES:
        raise fail("file ended inside the 8-byte header length", len(prefix))
    if n > max_header:
        raise fail(f"header length {n} exceeds the limit of {max_header} bytes", 0)
    if n > size - _HEADER_LENGTH_BYTES:
        raise fail(f"header length {n} runs past the end of the {size}-byte file", 0)
    raw_header = f.read(n)
    if len(raw_header) != n:
        raise fail("file ended inside the header", _HEADER_LENGTH_BYTES + len(raw_header))
    data_size = size - _HEADER_LENGTH_BYTES - n
    if max_entries is not None:
        # every key of a JSON object ends in '":' (inside a string the quote is escaped as
        # \" and may be counted too: an upper bound, counted in C, before any decoding)
        keys = raw_header.count(b'":')
        if keys > 4 * max_entries:  # a tensor entry has 4 keys: itself, dtype, shape, offsets
            raise fail(
                f"header holds about {keys // 4:,} entries, more than the {max_entries:,} "
                "a model file can have",
                _HEADER_LENGTH_BYTES,
            )
    entries, metadata = _parse_header(raw_header, data_size, fail)
    data = f.read(data_size)
    if len(data) != data_size:
        raise fail(
            "file ended inside the data section (was it truncated while being read?)",
            _HEADER_LENGTH_BYTES + n + len(data),
        )
    view = memoryview(data)
    tensors = {
        name: (dtype, shape, view[begin:end])
        for name, (dtype, shape, begin, end) in entries.items()
    }
    return tensors, metadata


_SNIFF_BYTES = 512


def _looks_like(head: bytes) -> str | None:
    """What kind of file starts with ``head``, for files that are not safetensors: the formats
    ann reads elsewhere (and text), recognised by their first bytes; None when unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return "a PGM/PNM image"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file, such as a compressed MNIST IDX file"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if (
        len(head) >= 4
        and head[:2] == b"\0\0"
        and head[2] in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)
        and 1 <= head[3] <= 4
    ):
        return "an IDX data file, such as MNIST images or labels"
    if head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is still text
            text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
        if text and all(c.isprintable() or c in "\t\r\n\f" for c in text):
            return "a text file"
    return None


def _parse_header(
    raw: bytes, data_size: int, fail: Fail
) -> tuple[dict[str, tuple[str, Shape, int, int]], dict[str, str]]:
    """Decode and check the JSON header against a data section of ``data_size``."""
    base = _HEADER_LENGTH_BYTES
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail("header is not valid UTF-8", base + exc.start) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        raise fail(f"header has duplicate key {_short(exc.args[0])}", base) from None
    except json.JSONDecodeError as exc:
        at = base + len(text[: exc.pos].encode("utf-8"))
        raise fail(f"header is not valid JSON: {exc.msg}", at) from None
    except RecursionError:
        raise fail("header JSON is nested too deeply", base) from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise fail(f"header is not valid JSON: {exc}", base) from None
    if not isinstance(doc, dict):
        raise fail(f"header is a JSON {type(doc).__name__}, not an object", base)

    metadata: dict[str, str] = {}
    entries: dict[str, tuple[str, Shape, int, int]] = {}
    for name, entry in doc.items():
        if name == METADATA_KEY:
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise fail("__metadata__ must be an object mapping strings to strings", base)
            metadata = entry
            continue
        entries[name] = _check_entry(name, entry, data_size, fail)

    # The tensors must tile [0, data_size) exactly.  Sorting by (begin, end)
    # and walking a cursor finds overlaps (begin < cursor), holes
    # (begin > cursor) and trailing bytes (cursor < data_size at the end).
    # Empty tensors (begin == end) may sit at any boundary.
    cursor = 0
    data_base = base + len(raw)
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin < cursor:
            raise fail(
                f"tensor {_short(name)} data_offsets [{begin}, {end}] overlap the "
                f"previous tensor, which ends at {cursor}",
                data_base + begin,
            )
        if begin > cursor:
            raise fail(
                f"hole in the data section: bytes [{cursor}, {begin}) belong to "
                f"no tensor (before {_short(name)})",
                data_base + cursor,
            )
        cursor = end
    if cursor != data_size:
        raise fail(f"{data_size - cursor} trailing bytes after the last tensor", data_base + cursor)
    return entries, metadata


def _is_int(value: object) -> bool:
    # bool is a subclass of int; JSON true/false must not pass as 1/0.
    return type(value) is int


def _check_entry(
    name: str, entry: object, data_size: int, fail: Fail
) -> tuple[str, Shape, int, int]:
    base = _HEADER_LENGTH_BYTES
    if not isinstance(entry, dict):
        raise fail(f"tensor {_short(name)}: entry is not an object", base)
    keys = set(entry)
    if keys != _ENTRY_KEYS:
        missing = sorted(_ENTRY_KEYS - keys)
        extra = sorted(keys - _ENTRY_KEYS)
        what = (
            f"missing {', '.join(missing)}"
            if missing
            else f"unexpected key {', '.join(repr(k) for k in extra)}"
        )
        raise fail(f"tensor {_short(name)}: {what}", base)
    dtype = entry["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise fail(f"tensor {_short(name)}: unknown dtype {_short(dtype)}", base)
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise fail(
            f"tensor {_short(name)}: shape {_short(shape)} is not a list of non-negative integers",
            base,
        )
    offsets = entry["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
    ):
        raise fail(
            f"tensor {_short(name)}: data_offsets {_short(offsets)} is not a pair "
            f"of non-negative integers",
            base,
        )
    begin, end = offsets
    if begin > end:
        raise fail(
            f"tensor {_short(name)}: data_offsets [{begin}, {end}] end before they begin", base
        )
    # Python ints do not overflow, so a huge shape cannot wrap around to match.
    needed = _product(shape) * DTYPE_SIZES[dtype]
    if end - begin != needed:
        raise fail(
            f"tensor {_short(name)}: data_offsets [{begin}, {end}] hold {end - begin} "
            f"bytes but {dtype} shape {_short(shape)} needs {needed}",
            base,
        )
    if end > data_size:
        raise fail(
            f"tensor {_short(name)}: data_offsets [{begin}, {end}] run past the "
            f"{data_size}-byte data section",
            base,
        )
    return dtype, tuple(shape), begin, end


def _short(value: object, limit: int = 60) -> str:
    """repr() cut to one short line, so a hostile header cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
