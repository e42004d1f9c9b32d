"""``csv_rows``: the C core's fast path of ``ann.load_csv`` (``ann_csv_rows``, csrc/csv.c).

One call converts a block of plain CSV lines (no quote, no CR, no blank line) to float32
values and label cells. ann/_csv.py decides when to call it and what to do when the core is
missing (Python's bulk path) or declines a block (the block is read again with csv.reader,
which also words the error): so a non-zero status here is no exception, only ``None``.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

from . import ffi, lib


class CsvCounts(NamedTuple):
    """What one call of ``csv_rows`` filled."""

    rows: int  # lines converted
    label_bytes: int  # bytes written to ``labels``: each label cell followed by b"\n"
    hard: int  # numbers left to Python's float(): rows of ``hard`` filled


def csv_available() -> bool:
    """Is there a C core, and does it have the CSV parser?"""
    return lib is not None and hasattr(lib, "ann_csv_rows")


def csv_rows(
    values: array[float],
    labels: bytearray,
    hard: array[int],
    text: bytes,
    sep: bytes,
    cols: int,
    label: int,
) -> CsvCounts | None:
    """ann_csv_rows over ``text``, rows of ``cols`` cells separated by the byte ``sep``, the
    label in column ``label`` (-1: none). Fills ``values`` (array('f'), R x (cols - 1 or
    cols)), ``labels`` and ``hard`` (array('q'), 3 per number the core left to float(): its
    index in values, its byte range in text), each up to its length. None when the core
    declines the block (not such a table, or a buffer too small)."""
    counts = ffi.new("int64_t[3]")
    status = lib.ann_csv_rows(
        ffi.from_buffer("float[]", values),
        ffi.from_buffer("char[]", labels),
        ffi.from_buffer("int64_t[]", hard),
        counts,
        text,
        len(text),
        sep,
        cols,
        label,
        len(values),
        len(labels),
        len(hard) // 3,
    )
    if status != 0:
        return None
    return CsvCounts(int(counts[0]), int(counts[1]), int(counts[2]))
