"""``ann.load_csv``: a table of numbers with a label column, read strictly and streamed.

The file is read in blocks of 65,536 characters (whole lines), so memory is the table itself
(float32 features, an int32 label code per row, runs of line numbers) plus one block, whatever
the size of the file. A block goes one of three ways, with the same result (the tests and
tests/fuzz/fuzz_csv.py compare them on generated files):

* the C core (``ann_csv_rows`` in csrc/csv.c): a block of plain lines (no quote character,
  no blank line, no lone CR) whose numbers it converts exactly as float() does, in one call;
* Python's bulk path, where the C core is missing or declines: the block is split on the
  delimiter and converted with ``map`` over the cells (a cache converts each distinct cell
  once), when its feature cells hold nothing but digits, signs, points, exponents, spaces;
* the record path: the standard library's ``csv.reader``, record by record, checking every
  cell (quoted fields, line breaks in quotes, CR line ends, anything odd). It is the
  reference, and what words every error: when a faster path meets anything it does not
  handle, the block is parsed again this way.

The rules (``load_csv``'s docstring says them for users):

* Text is UTF-8 (a byte-order mark is dropped); any line end; blank lines are skipped.
* A number is ``[+-]digits[.digits][e[+-]digits]`` (or ``.digits``) in ASCII, with spaces
  around it: what ``float()`` also takes (``1_000``, ``nan``, Arabic-Indic or other Unicode
  digits) is text here. Features must be numbers within float32's range.
* The delimiter, unless given: among ``,`` ``;`` tab ``|``, the one that splits the first lines
  (up to 20, up to 64 KiB) into the same number of fields in every line and makes the most
  cells numbers (then: the most fields; then that order).
* Whether the first row is a header, unless given: see load_csv (``_first_row_is_header``,
  ``_header_by_labels``).
* Labels: when every label of the file is a number, labels are numbers (``1``, ``1.0`` and
  ``01`` are one class, named ``1``; ``0.1``, ``0.10`` and ``.1`` one class named ``0.1``),
  ordered by value; otherwise they are text, compared as written (after trimming spaces), in
  text order.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import json
import math
import os
import re
import stat
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice, repeat
from typing import BinaryIO, NamedTuple, Union, overload

from ._c.csv import csv_available, csv_rows
from ._data import Dataset
from ._errors import DataError, MissingLabelError, ModelFileError, PathLike
from ._files import regular_file

Label = Union[int, str, None]

_DELIMITERS = ",;\t|"
_BLOCK = 1 << 16  # characters read at a time (and the memory a block takes stays small)
#: A line longer than this (characters) is refused: a row must fit in memory, and a file of one
#: endless line (a binary file, /dev/zero copied to disk) must not read until memory runs out.
MAX_LINE = 1 << 26
#: A line of more fields than this is refused (a network takes at most 2^24 inputs, and every
#: field of the first rows is a Python string for a while).
MAX_COLUMNS = 1 << 20
_SNIFF_LINES, _SNIFF_CHARS = 20, 1 << 16
_CACHE_MAX = 1 << 16  # distinct values kept by the bulk path's cache (see _Builder._floats)
_SHOWN = 40  # at most this many characters of a cell or a name are quoted in a message
_NAMES_SHOWN = 10  # and at most this many names in a list of them

#: The number grammar of a cell (after stripping spaces), ASCII digits only: ``re``'s ``\d``
#: would take any Unicode digit, as ``float()`` does.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
#: The ASCII characters ``float()`` takes beyond ``_NUMBER`` and spaces or tabs around it: other
#: whitespace, ``_`` between digits, and the letters of inf / infinity / nan (each has an n).
#: A cell of ASCII characters without these is a number iff ``float()`` accepts it, and then
#: ``float()`` gives the value of the cell without its spaces.
_LOOSE = "_nN\r\n\x0b\x0c\x1c\x1d\x1e\x1f"
#: Doubles of this magnitude or more become infinite as float32 (round to nearest, ties to even).
_FLOAT32_LIMIT = 2.0**128 - 2.0**103
_INF32 = (array("f", [math.inf]).tobytes(), array("f", [-math.inf]).tobytes())
_PACK_F32 = struct.Struct("=f").pack  # rounds as array("f") does; "=": refuses what overflows
#: False: every block takes the record path; _USE_C False: the bulk path is Python's alone
#: (the tests and the fuzzer compare the three paths).
_BULK = True
_USE_C = True
_HARD_MAX = 4096  # numbers per block the C core may leave to float() (more: Python's bulk path)


class Lines(Sequence[int]):
    """The line each row of a table ends on, kept as runs of consecutive lines: a file of a
    million rows without blank lines or line breaks in quotes is one run, not a million
    numbers."""

    def __init__(self) -> None:
        self._rows = array("q")  # the first row of each run
        self._lines = array("q")  # the line of that row
        self._len = 0

    def add(self, line: int, count: int = 1) -> None:
        """``count`` more rows, on lines ``line``, ``line + 1``, ..."""
        if count <= 0:
            return
        if not self._rows or line != self._lines[-1] + self._len - self._rows[-1]:
            self._rows.append(self._len)
            self._lines.append(line)
        self._len += count

    def add_first(self, line: int) -> None:
        """One more row before all the others."""
        self._rows = array("q", [0, *(r + 1 for r in self._rows)])
        self._lines.insert(0, line)
        if len(self._rows) > 1 and self._lines[1] == line + 1:
            del self._rows[1], self._lines[1]
        self._len += 1

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> list[int]: ...
    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._len))]
        if not -self._len <= i < self._len:
            raise IndexError("row out of range")
        i %= self._len
        run = bisect.bisect_right(self._rows, i) - 1
        return self._lines[run] + i - self._rows[run]

    def __iter__(self) -> Iterator[int]:
        ends = [*self._rows[1:], self._len]
        for start, end, line in zip(self._rows, ends, self._lines):
            yield from range(line, line + end - start)


class Table(NamedTuple):
    """A CSV file read by ``read_table``."""

    features: array[float]  # (rows, width) float32, row by row
    width: int  # features per row
    labels: array[int] | None  # the label of each row, as an index into label_keys
    label_keys: list[str]  # each distinct label cell as written, spaces trimmed
    feature_names: list[str] | None  # from the header (in the network's order when matched)
    lines: Lines  # the line each row ends on
    header: bool  # whether the first row was a header


# ---- messages ------------------------------------------------------------------------------


def _quote(text: str, limit: int = _SHOWN) -> str:
    """repr() of a cell or a name, cut to ``limit`` characters: a 100 KB cell must not make a
    100 KB error message."""
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def _name_list(names: Sequence[str], limit: int = _NAMES_SHOWN) -> str:
    shown = ", ".join(_quote(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# ---- numbers -------------------------------------------------------------------------------


def _number(cell: str) -> float | None:
    """The value of a (stripped) cell under the strict grammar, else None."""
    return float(cell) if _NUMBER.fullmatch(cell) else None


def _label_number(key: str) -> float | None:
    value = _number(key)
    return value if value is not None and math.isfinite(value) else None


def _number_name(value: float) -> str:
    """The name of a numeric class: an integer without a point, else Python's shortest repr."""
    if value == int(value) and abs(value) < 2.0**53:
        return str(int(value))
    return repr(value)


# ---- the text stream -----------------------------------------------------------------------


def _open(path: PathLike) -> BinaryIO:
    """The file, opened for reading only if it is a regular file (a named pipe would block, a
    device could be endless)."""
    regular_file(path, DataError, "a CSV file")
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check above
            raise DataError("is not a regular file (named pipe, device or socket)", path=path)
        return open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def _line_ends(text: str) -> int:
    """Line ends in ``text`` as ``csv`` counts them: LF, CRLF and a lone CR."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


_LINE_END = re.compile(r"\r\n?|\n")


def _lines_of(text: str) -> Iterator[str]:
    """The lines of ``text`` with their ends, as csv counts them (io.StringIO would do, but
    holds four bytes a character: 200 MB for a line of 50 million)."""
    start = 0
    for end in _LINE_END.finditer(text):
        yield text[start : end.end()]
        start = end.end()
    if start < len(text):
        yield text[start:]


class _Source:
    """Blocks of whole lines of a UTF-8 file (a byte-order mark dropped), and the line numbers
    they start at. Bytes that are not UTF-8, or a NUL character, end the text where they are:
    the error is raised when reading gets there, so a file's problems are reported in the
    order they come."""

    def __init__(self, raw: BinaryIO, path: PathLike) -> None:
        self.raw = raw
        self.path = path
        self.line = 0  # lines before ``pending`` (the caller counts what it parses)
        self.pending = ""  # handed out, not parsed yet: whole lines
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""  # decoded, not handed out yet
        self._bytes = 0  # bytes read from the file
        self._end = False  # the file is read to its end (or to a bad byte)
        self._error: tuple[str, int | None] | None = None  # (what, byte offset) at _buf's end

    def _decode(self) -> str | None:
        """The text of the next bytes of the file, or None when there are none."""
        if self._end:
            return None
        chunk = self.raw.read(_BLOCK)
        start = self._bytes
        self._bytes += len(chunk)
        if start == 0 and chunk.startswith(codecs.BOM_UTF8):
            chunk, start = chunk[3:], 3
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:  # exc.object: the bytes held back, then chunk
            good = exc.object[: exc.start].decode("utf-8")
            offset = start - (len(exc.object) - len(chunk)) + exc.start
            text, self._error, self._end = good, ("not UTF-8 text", offset), True
        if "\x00" in text:
            text = text[: text.index("\x00")]
            self._error, self._end = ("a NUL character (binary data, not text)", None), True
        self._end = self._end or not chunk
        return text

    def _more(self) -> bool:
        """Decode the next bytes of the file into _buf; False when there are none."""
        text = self._decode()
        if text is None:
            return False
        self._buf += text
        return True

    def _fill_line(self, line: int) -> None:
        """Read on until _buf ends a line after its last whole one (or the text ends). Pieces
        are joined once, so a long line costs its length, not its length squared; one longer
        than MAX_LINE, ``line``, is an error."""
        parts = [self._buf]
        tail = len(self._buf) - self._last_line_end()  # the unfinished line so far
        after_cr = self._buf.endswith("\r")
        while True:
            text = self._decode()
            if text is None:
                break
            if not text:
                continue
            parts.append(text)
            if after_cr or "\n" in text or "\r" in text[:-1]:
                break
            after_cr = text.endswith("\r")
            tail += len(text)
            if tail > MAX_LINE:
                raise self._too_long(line)
        self._buf = "".join(parts)

    def _raise(self, line: int) -> None:
        """At the end of the text: the error that ended it, if any, on ``line``."""
        if self._error is not None:
            what, offset = self._error
            raise DataError(f"line {line}: {what}", path=self.path, offset=offset)

    def _too_long(self, line: int) -> DataError:
        return DataError(f"line {line} is longer than {MAX_LINE} characters", path=self.path)

    def _last_line_end(self) -> int:
        """The index after the last whole line of _buf (0: none yet). A CR at the very end
        waits for the next character: the LF of a CRLF may follow."""
        buf = self._buf
        i = max(buf.rfind("\n"), buf.rfind("\r"))
        if i >= 0 and buf[i] == "\r" and i == len(buf) - 1 and not self._end:
            i = max(buf.rfind("\n", 0, i), buf.rfind("\r", 0, i))
        return i + 1

    def block(self) -> str:
        """``pending``, or the next block of whole lines ("" at the end of the text)."""
        if self.pending:
            text, self.pending = self.pending, ""
            return text
        while len(self._buf) < _BLOCK and self._more():
            pass
        end = self._last_line_end()
        if end == 0:  # a line longer than a block
            self._fill_line(self.line + 1)
            end = self._last_line_end()
        if end == 0:  # the last line has no line end, or the text stops inside it
            self._raise(self.line + 1)
            end = len(self._buf)
        text, self._buf = self._buf[:end], self._buf[end:]
        return text

    def peek(self, n: int) -> str:
        """The next ``n`` characters of the text (fewer at its end), left to be read."""
        while len(self.pending) + len(self._buf) < n and self._more():
            pass
        return (self.pending + self._buf)[:n]

    def readline(self, line: int) -> str:
        """The next line, ``line``, with its line end (for a record that goes on past a
        block); "" at the end of the text."""
        found = _LINE_END.search(self._buf)
        if not self._ends(found):
            self._fill_line(line)
            found = _LINE_END.search(self._buf)
        if found is not None and self._ends(found):
            text, self._buf = self._buf[: found.end()], self._buf[found.end() :]
            return text
        self._raise(line)  # the text stops inside the line
        text, self._buf = self._buf, ""
        return text

    def _ends(self, found: re.Match[str] | None) -> bool:
        """Whether a line end found in _buf is one (a CR at its very end may be half a CRLF)."""
        if found is None:
            return False
        return found.end() < len(self._buf) or found.group() != "\r" or self._end


def _records(source: _Source, delimiter: str, limit: int | None) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of the non-blank records of ``source.block()`` through ``csv.reader``, up
    to ``limit`` of them; a record that goes on past the block reads on from the stream. What
    is left of the block goes back to ``source.pending``."""
    text = source.block()
    base = source.line
    pos = 0
    past = False  # the reader has gone beyond the block

    def lines() -> Iterator[str]:
        nonlocal pos, past
        for n, line in enumerate(_lines_of(text), base + 1):
            pos += len(line)
            yield _not_too_wide(line, n)
        past = True
        while True:
            n = base + reader.line_num + 1
            line = source.readline(n)
            if not line:
                return
            yield _not_too_wide(line, n)

    def _not_too_wide(line: str, n: int) -> str:
        if line.count(delimiter) >= MAX_COLUMNS:  # (csv.reader would make a list of them)
            raise DataError(f"line {n} has more than {MAX_COLUMNS} fields", path=source.path)
        return line

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    count = 0
    try:
        while not past and pos < len(text) and (limit is None or count < limit):
            cells = next(reader, None)
            if cells is None:
                break
            if len(cells) > 1 or (cells and cells[0].strip()):  # blank lines are skipped
                count += 1
                yield base + reader.line_num, cells
    except csv.Error as exc:
        raise DataError(f"line {base + reader.line_num}: {exc}", path=source.path) from None
    source.line = base + reader.line_num
    source.pending = "" if past else text[pos:]


def _sniff_delimiter(sample: str) -> str:
    """The delimiter of the first lines of a file: among , ; tab |, the one that splits every
    line into the same number (> 1) of fields and makes the most cells numbers; then the one
    with the most fields; then the first in that order. A comma when nothing splits."""
    if len(sample) >= _SNIFF_CHARS:  # maybe cut: drop the last line unless it is all there is
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[: cut + 1] if cut > 0 else sample
    lines = list(islice(_lines_of(sample), _SNIFF_LINES))
    best, best_score = ",", (False, 0, 1, 0)
    for order, d in enumerate(_DELIMITERS):
        try:
            rows = [r for r in csv.reader(lines, delimiter=d) if len(r) > 1 or (r and r[0])]
        except csv.Error:
            continue
        if not rows:
            continue
        counts = {len(r) for r in rows}
        numbers = sum(_number(c.strip()) is not None for r in rows for c in r)
        score = (len(counts) == 1, numbers, len(rows[0]), -order)
        if len(rows[0]) > 1 and score > best_score:
            best, best_score = d, score
    return best


# ---- the table -----------------------------------------------------------------------------


def _row_floats(cells: list[str]) -> array[float] | None:
    """The float32 values of cells that are all plain numbers (see _LOOSE), else None."""
    joined = ",".join(cells)
    if not joined.isascii() or any(c in joined for c in _LOOSE):
        return None
    out = array("f")
    try:
        out.fromlist(list(map(float, cells)))
    except ValueError:
        return None
    raw = out.tobytes()
    if _INF32[0] in raw or _INF32[1] in raw:  # beyond float32 (or a pattern across two values)
        return None
    return out


class _Values(dict[str, bytes]):
    """Cells and their float32 values (4 bytes, native order): a cell not in it yet is converted
    (and kept) when looked up. ValueError: not a number; OverflowError: beyond float32."""

    def __missing__(self, cell: str) -> bytes:
        value = float(cell)
        if math.isinf(value):  # beyond float64: "=f" would pack the infinity
            raise OverflowError(cell)
        packed = self[cell] = _PACK_F32(value)
        return packed


def c_core_reads(delimiter: str) -> bool:
    """Does the C core read plain blocks with this delimiter? Not without a built core (or one
    built before csrc/csv.c), nor when ``_USE_C`` is off or the delimiter is not one byte."""
    return _USE_C and delimiter.isascii() and csv_available()


class _Builder:
    """The growing table: float32 features, label codes and line numbers, row by row (``row``)
    or a block at a time (``block``)."""

    def __init__(self, n_cols: int, at: int, delimiter: str, path: PathLike) -> None:
        self.n_cols = n_cols
        self.at = at  # the label column, or -1
        self.delimiter = delimiter
        self.path = path
        self.names: list[str] | None = None  # the header, for messages
        self.features = array("f")
        self.codes = array("i")
        self.lines = Lines()
        self.keys: dict[str, int] = {}  # label (spaces trimmed) -> code
        self.cells: dict[str, int] = {}  # label cell as written -> code
        self.field_limit = csv.field_size_limit()
        self._loose = tuple(_LOOSE.replace(delimiter, "").replace("\n", ""))
        self._cache = _Values()  # see _floats
        self._skip = 0
        self._use_c = c_core_reads(delimiter)
        self._hard = array("q", [0]) * (3 * _HARD_MAX)
        self._sep = delimiter.encode("utf-8")

    def column(self, j: int) -> str:
        name = self.names[j] if self.names is not None else ""
        return f"column {j + 1}" + (f" ({_quote(name)})" if name else "")

    def code(self, key: str) -> int:
        return self.keys.setdefault(key, len(self.keys))

    def parse(self, line: int, cells: list[str]) -> tuple[array[float], str | None]:
        """The features and the label of one record, every cell checked."""
        if len(cells) != self.n_cols:
            raise DataError(
                f"line {line}: {len(cells)} fields, expected {self.n_cols}", path=self.path
            )
        at = self.at
        label = cells[at].strip() if at >= 0 else None
        values = _row_floats(cells[:at] + cells[at + 1 :] if at >= 0 else cells)
        if values is not None and label != "":
            return values, label
        values = array("f")  # something is wrong: find it, cell by cell
        for j, cell in enumerate(cells):
            text = cell.strip()
            if not text:
                what = "label" if j == self.at else "value"
                error = MissingLabelError if j == self.at else DataError
                raise error(
                    f"line {line}, {self.column(j)}: missing {what} (empty cell)", path=self.path
                )
            if j == self.at:
                label = text
                continue
            value = _number(text)
            if value is None or not abs(value) < _FLOAT32_LIMIT:
                if value is not None:
                    kind = "beyond float32's range"
                elif _NOT_FINITE.fullmatch(text):
                    kind = "not a finite number"
                else:
                    kind = "not a number"
                raise DataError(
                    f"line {line}, {self.column(j)}: {_quote(text)} is {kind}", path=self.path
                )
            values.append(value)
        return values, label

    def row(self, line: int, cells: list[str]) -> None:
        values, label = self.parse(line, cells)
        self.features.extend(values)
        if label is not None:
            self.codes.append(self.code(label))
        self.lines.add(line)

    def _floats(self, cells: list[str], plain: bool) -> array[float] | None:
        """The float32 values of feature cells, or None when one is not a plain number (``plain``:
        the block holds no character that could make one loose).

        float() costs more per cell than all of csv.reader's work, and many tables hold few
        distinct values (integers, readings to a few decimals): cells are looked up in a cache
        of the values met so far, which converts each distinct cell once. When the cache
        outgrows ``_CACHE_MAX`` values (the cells do not repeat enough), it is emptied and the
        next 15 blocks call float() directly."""
        if self._skip:
            self._skip -= 1
            return _row_floats(cells)
        if not plain:
            joined = ",".join(cells)
            if not joined.isascii() or any(c in joined for c in _LOOSE):
                return None
        cache = self._cache
        out = array("f")
        try:
            out.frombytes(b"".join(map(cache.__getitem__, cells)))
        except (ValueError, OverflowError):
            return None
        if len(cache) > _CACHE_MAX:
            cache.clear()
            self._skip = 15
        return out

    def _c_rows(self, body: str, n_lines: int) -> tuple[array[float], list[str]] | None:
        """The values and label cells of a block, by the C core (csrc/csv.c via ann/_c/csv.py),
        or None when it declines the block."""
        raw = body.encode("utf-8")
        n, at = self.n_cols, self.at
        values = array("f", [0.0]) * (n_lines * (n - (at >= 0)))
        labels = bytearray(len(raw) + n_lines if at >= 0 else 1)
        hard = self._hard
        counts = csv_rows(values, labels, hard, raw, self._sep, n, at)
        if counts is None or counts.rows != n_lines:
            return None
        for k in range(0, 3 * counts.hard, 3):  # numbers the C core left to float()
            i, a, b = hard[k : k + 3]
            if b - a > self.field_limit:
                return None  # csv.reader refuses such a field
            values[i] = float(raw[a:b])
        if counts.hard and (_INF32[0] in values.tobytes() or _INF32[1] in values.tobytes()):
            return None  # beyond float32's range
        cells = labels[: counts.label_bytes].decode("utf-8").split("\n")[:-1] if at >= 0 else []
        return values, cells

    def block(self, first_line: int, text: str) -> int | None:
        """Every row of a block of plain lines, in bulk: the number of lines it held, or None
        (and nothing added) when the block needs the record path. The C core converts the
        block when it can; else, or when it declines, Python does it in bulk."""
        d, n, at = self.delimiter, self.n_cols, self.at
        if '"' in text:
            return None
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                return None
            text = text.replace("\r\n", "\n")
        body = text[:-1] if text.endswith("\n") else text
        n_lines = body.count("\n") + 1
        result = self._c_rows(body, n_lines) if self._use_c else None
        if result is not None:
            values, labels = result
        else:
            lines = body.split("\n")
            if set(map(str.count, lines, repeat(d, len(lines)))) != {n - 1}:
                return None  # a blank or ragged line
            cells = body.replace("\n", d).split(d) if n > 1 else lines
            if max(map(len, lines)) > self.field_limit:
                if max(map(len, cells)) > self.field_limit:
                    return None  # csv.reader refuses such a field
            labels = []
            if at >= 0:
                labels = cells[at::n]
                del cells[at::n]
            plain = body.isascii() and not any(c in body for c in self._loose)
            floats = self._floats(cells, plain)
            if floats is None:
                return None
            values = floats
        new = [cell for cell in set(labels) if cell not in self.cells]
        if any(not cell.strip() or len(cell) > self.field_limit for cell in new):
            return None
        for cell in new:
            self.cells[cell] = self.code(cell.strip())
        self.codes.extend(map(self.cells.__getitem__, labels))
        self.features.extend(values)
        self.lines.add(first_line, n_lines)
        return n_lines


def _column_index(label: Label, names: list[str] | None, n_cols: int, path: PathLike) -> int:
    if isinstance(label, str):
        if names is None:
            raise DataError(
                f"label column {_quote(label)} named, but the file has no header", path=path
            )
        matches = [i for i, name in enumerate(names) if name == label.strip()]
        if not matches:
            raise DataError(
                f"no column named {_quote(label)} (columns: {_name_list(names)})", path=path
            )
        return matches[0]
    if isinstance(label, bool) or not isinstance(label, int):
        raise ValueError(f"label must be a column name or index, got {label!r}")
    if not -n_cols <= label < n_cols:
        raise DataError(
            f"label column {label} does not exist: rows have {n_cols} columns", path=path
        )
    return label % n_cols


def _match_columns(
    names: list[str], wanted: Sequence[str], label: Label, path: PathLike
) -> tuple[list[int], int]:
    """Where each of ``wanted`` (the feature names a network recorded) is among ``names`` (a
    header), and the label column: the one other column, or -1 when there is none."""
    where: dict[str, int] = {}
    for j, name in enumerate(names):
        where.setdefault(name, j)
    missing = [name for name in wanted if name not in where]
    if missing:
        raise DataError(
            f"the network's feature{'s' if len(missing) > 1 else ''} {_name_list(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not in the header (columns: "
            f"{_name_list(names)})",
            path=path,
        )
    order = [where[name] for name in wanted]
    others = sorted(set(range(len(names))) - set(order))
    if len(others) > 1:
        raise DataError(
            f"columns {_name_list([names[j] for j in others])} are not among the network's "
            f"features: a file may hold one label column besides them",
            path=path,
        )
    at = others[0] if others else -1
    if isinstance(label, str) and label.strip() not in where:
        raise DataError(
            f"no column named {_quote(label)} (columns: {_name_list(names)})", path=path
        )
    if isinstance(label, str) and (at < 0 or names[at] != label.strip()):
        raise DataError(
            f"the label column {_quote(label)} is one of the network's features", path=path
        )
    if isinstance(label, int) and not isinstance(label, bool) and label != -1 and at >= 0:
        if label % len(names) != at:
            raise DataError(
                f"label column {label} is the feature {_quote(names[label % len(names)])}; "
                f"the one column that is not a feature of the network is "
                f"{_quote(names[at])}",
                path=path,
            )
    return order, at


def _integer_run(cells: list[str]) -> bool:
    """Whether cells are column numbers: consecutive integers from 0 or from 1 (how pandas and
    R name unnamed columns), at least 3 of them, after an optional empty first cell (pandas'
    index column)."""
    if cells and not cells[0]:
        cells = cells[1:]
    if len(cells) < 3 or not all(c.isascii() and c.isdigit() for c in cells):
        return False
    start = int(cells[0])
    return start in (0, 1) and [int(c) for c in cells] == list(range(start, start + len(cells)))


def _first_row_is_header(
    first: list[str], second: list[str] | None, at: int, n_cols: int
) -> bool | None:
    """The rules that decide from the first two rows (``first`` stripped): True when the first
    row is a header, None when only the whole label column can tell (see
    ``_header_by_labels``).

    The first row is a header when more than half of its feature cells are not numbers and,
    under one of its cells that is not a number, the second row has a number (names over
    values; "1,NA,0" over numbers is a data row with a missing value, an error)."""
    features = [c for j, c in enumerate(first) if j != at]
    names = [j for j, c in enumerate(first) if _number(c) is None]
    if second is None:
        return len(names) == n_cols or None
    if 2 * sum(j != at for j in names) > len(features) and any(
        j < len(second) and _number(second[j].strip()) is not None for j in names
    ):
        return True
    return None


def _header_by_labels(first: list[str], table: _Builder, key: str | None) -> bool:
    """The rules that need the whole label column (``key``: the first row's label, which the
    table does not hold). The first row is a header when

    * it is a run of column numbers (``_integer_run``) whose label, if any, is no other row's
      label (``0,1,2,3`` over rows labelled 0, 1, 2); or
    * its label is text that no other row has while other rows share theirs (a class of one
      row, the first, is a column name: ``0,1,2,species`` over rows labelled setosa, ...)."""
    codes, keys = table.codes, table.keys
    if key is None:
        return _integer_run(first)
    value = _label_number(key)
    if value is not None and not _integer_run(first):
        return False  # (before the scan below, which costs a pass over the distinct labels)
    if value is None:
        unique = key not in keys
    else:  # numbers compare as numbers: "3" and "3.0" are one label
        same = [c for k, c in keys.items() if _label_number(k) == value]
        unique = not any(codes.count(c) for c in same)
    if not unique:
        return False
    if _integer_run(first):
        return True
    return value is None and len(codes) > len(keys)


def read_table(
    path: PathLike,
    *,
    label: Label = -1,
    header: bool | str | None = None,
    delimiter: str | None = None,
    width: int | None = None,
    feature_names: Sequence[str] | None = None,
) -> Table:
    """The rows of a CSV file: float32 features and the label column's cells, streamed.

    ``label`` is the label column (a header name, or an index, negative from the end), or
    None for a file of features only. With ``width`` (the features a network takes), a row of
    exactly ``width`` cells has no label column and one of ``width + 1`` has one.
    ``feature_names`` (the names a network recorded): in a file with a header, the columns are
    found by name, in any order, and the one other column, if any, is the label column.
    ``header`` None detects a header (see ``load_csv``)."""
    if header == "auto":
        header = None
    if header not in (None, True, False):
        raise ValueError(f"header must be True, False or 'auto', got {header!r}")
    if delimiter not in (None, "auto") and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '0123456789.+-eE"\r\n'
    ):
        raise ValueError(
            f"delimiter must be one character that cannot be part of a number, a quote or a "
            f"line end, got {delimiter!r}"
        )
    wanted = list(feature_names) if feature_names is not None else None
    if wanted is not None and len(set(wanted)) != len(wanted):
        wanted = None  # names that repeat cannot find columns: the file is read by position
    with _open(path) as raw:
        return _read(raw, path, label, header, delimiter, width, wanted)


def _read(
    raw: BinaryIO,
    path: PathLike,
    label: Label,
    header: bool | None,
    delimiter: str | None,
    width: int | None,
    wanted: list[str] | None,
) -> Table:
    source = _Source(raw, path)
    if delimiter in (None, "auto"):
        delimiter = _sniff_delimiter(source.peek(_SNIFF_CHARS))
    assert delimiter is not None
    first_rows: list[tuple[int, list[str]]] = []
    while len(first_rows) < 2:  # (a block may hold fewer: blank lines, one long line)
        if not source.pending:
            source.pending = source.block()
            if not source.pending:
                break
        first_rows += _records(source, delimiter, 2 - len(first_rows))
    if not first_rows:
        raise DataError("the file is empty: no rows", path=path)
    line1, cells1 = first_rows[0]
    first = [c.strip() for c in cells1]
    second = first_rows[1][1] if len(first_rows) > 1 else None
    n_cols = len(first)

    # the label column, by position (a name needs the header: see below)
    has_label = label is not None
    if width is not None:
        if n_cols == width:
            has_label = False
        elif n_cols != width + 1 or label is None:
            raise DataError(
                f"rows have {n_cols} columns, but the network takes {width} features "
                f"({width} columns, or {width + 1} with the label)",
                path=path,
            )
    if isinstance(label, str) and has_label:
        if header is False:
            raise DataError(
                f"label column {_quote(label)} named, but header=False: the file has no names",
                path=path,
            )
        header = True
    elif has_label and label is not None:
        _column_index(label, None, n_cols, path)  # an index that does not exist fails first
    if header is None and wanted is not None and set(wanted) <= set(first):
        header = True
    at = -1
    if has_label and label is not None and not isinstance(label, str):
        at = _column_index(label, None, n_cols, path)
    if header is None:
        header = _first_row_is_header(first, second, at, n_cols)

    order: list[int] | None = None
    if header:
        if wanted is not None:
            order, at = _match_columns(first, wanted, label if has_label else None, path)
            if width is None and at < 0:
                raise DataError(
                    "every column is a feature of the network: the file has no label column",
                    path=path,
                )
        elif has_label and label is not None:
            at = _column_index(label, first, n_cols, path)
    if n_cols - (at >= 0) < 1:
        raise DataError(f"rows have {n_cols} column(s): no feature columns", path=path)

    table = _Builder(n_cols, at, delimiter, path)
    if header:
        table.names = first
    held: tuple[array[float], str | None] | None = None  # the first row, header or not
    held_error: DataError | None = None
    if header is not True:
        try:
            held = table.parse(line1, cells1)
        except DataError as exc:
            if header is False:
                raise
            held_error = exc
    for line, cells in first_rows[1:]:
        table.row(line, cells)
    while True:
        text = source.block()
        if not text:
            break
        lines = table.block(source.line + 1, text) if _BULK else None
        if lines is not None:
            source.line += lines
            continue
        source.pending = text
        for line, cells in _records(source, delimiter, None):
            table.row(line, cells)

    if header is None:  # rules that needed the whole label column
        header = _header_by_labels(first, table, first[at] if at >= 0 else None)
        if header:
            table.names = first
            if wanted is not None:
                order, matched_at = _match_columns(first, wanted, None, path)
                if matched_at != at:
                    raise DataError(
                        f"the header {_name_list(first)} does not leave column {at + 1} as "
                        f"the only one that is not a feature of the network",
                        path=path,
                    )
    if not header:
        if held_error is not None:
            raise held_error
        assert held is not None
        values, key = held
        table.features[0:0] = values
        table.lines.add_first(line1)
        if key is not None:
            table.codes[0:0] = array("i", [table.code(key)])
    if not table.lines:
        raise DataError("the file has a header but no data rows", path=path)

    features = table.features
    n_features = n_cols - (at >= 0)
    names = [name for j, name in enumerate(first) if j != at] if header else None
    if order is not None:
        file_pos = [j - (at >= 0 and j > at) for j in order]  # column -> feature position
        if file_pos != list(range(n_features)):
            features = array("f", bytes(4 * len(table.features)))
            for k, p in enumerate(file_pos):
                features[k::n_features] = table.features[p::n_features]
        names = [first[j] for j in order]
    keys = sorted(table.keys, key=table.keys.__getitem__)
    return Table(
        features,
        n_features,
        table.codes if at >= 0 else None,
        keys,
        names,
        table.lines,
        bool(header),
    )


# ---- classes -------------------------------------------------------------------------------


def _class_index(
    keys: Sequence[str], classes: Sequence[str] | None, path: PathLike
) -> tuple[list[str], list[int]]:
    """The class names and, for each label key, its class index (-1: not one of ``classes``).

    Labels are numbers when every key (and every given class name, no two of them equal in
    value) is a number: equal values are one class, named by ``_number_name``, in numeric
    order. Otherwise they are text, compared as written, in text order."""
    numbers = [_label_number(k) for k in keys]
    if classes is None:
        if all(v is not None for v in numbers):
            values = sorted({v for v in numbers if v is not None})
            names = [_number_name(v) for v in values]
            rank = {v: i for i, v in enumerate(values)}
            return names, [rank[v] for v in numbers if v is not None]
        names = sorted(set(keys))
        index = {name: i for i, name in enumerate(names)}
        return names, [index[k] for k in keys]
    names = [str(c).strip() for c in classes]
    given = [_label_number(n) for n in names]
    if (
        all(v is not None for v in numbers)
        and all(v is not None for v in given)
        and len(set(given)) == len(given)  # (else, as a model of the old reader has, as text)
    ):
        by_value = {v: i for i, v in enumerate(given)}
        return names, [by_value.get(v, -1) for v in numbers]
    if len(set(names)) != len(names):
        raise ValueError(f"classes {_name_list(names)} repeat a name")
    index = {name: i for i, name in enumerate(names)}
    return names, [index.get(k, -1) for k in keys]


def _relabel(codes: array[int], index: list[int]) -> array[int]:
    """``index[code]`` for every code: through bytes.translate when they fit in a byte."""
    if index == list(range(len(index))):
        return codes
    if max(index) < 256 and codes.itemsize == 4:
        low = 0 if sys.byteorder == "little" else 3
        table = bytes(index) + bytes(256 - len(index))
        raw = codes.tobytes()
        out = bytearray(len(raw))
        out[low::4] = raw[low::4].translate(table)
        return array("i", bytes(out))
    return array("i", map(index.__getitem__, codes))


def class_names(labels: Sequence[str]) -> list[str]:
    """The classes the labels make: numbers by value when all are numbers, else text."""
    return _class_index(list(dict.fromkeys(labels)), None, "")[0]


def load_csv(
    path: PathLike,
    *,
    label: int | str = -1,
    header: bool | str | None = None,
    delimiter: str | None = None,
    classes: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Dataset:
    """A Dataset of float32 features from a CSV file, with one label column.

    ``label``: the label column, by header name or index (default: the last). ``delimiter``:
    one character, or None / "auto" to detect it among ``,`` ``;`` tab and ``|`` (the one that
    splits the first lines into equally many fields and makes the most cells numbers).

    Numbers are ``[+-]digits[.digits][e[+-]digits]`` (or ``.digits``) in ASCII, spaces around
    them allowed; ``1_000``, ``nan``, ``inf`` or digits of other scripts are not numbers here,
    though Python's ``float()`` takes them. Every feature cell must be a number within
    float32's range.

    ``header``: True, False, or None / "auto" (the default) to detect it. The first row is a
    header when ``label`` is a name; when it holds all of ``feature_names``; when more than
    half of its feature cells are not numbers and the second row has a number under one of
    them (``x,y,label`` over ``1,2,0``; not ``1,NA,0``, a data row with a missing value); when
    it is a run of column numbers, ``0,1,2,...`` or ``1,2,3,...`` (at least 3, after an
    optional empty cell) whose label no other row has; or when its label is text that no other
    row has while the other rows share labels (``0,1,2,species`` over rows labelled
    ``setosa``...: a class of one row is a column name). Otherwise it is data.

    Labels are class names, numbers or text. When every label is a number they are compared
    as numbers: ``1``, ``1.0`` and ``01`` are one class named ``1``, ``0.1``, ``0.10`` and
    ``.1`` one class named ``0.1``, in numeric order. Otherwise every label is text, compared
    as written (spaces around it trimmed), in text order. ``ds.classes`` keeps the names.
    ``classes`` (for instance ``net.classes`` of a trained network) fixes the names and their
    order instead (compared as numbers when they and the labels all are): a label that is not
    one of them is an error.

    ``feature_names`` (for instance ``net.feature_names``, which a network records from the
    header it trained on): when the file has a header, features are found by name and put in
    that order, whatever the file's order, and the one other column is the label column; a
    missing name or an extra column is an error. A file without a header is read by position.

    Features are used as they are (a network standardises them when it trains, see
    ``ann.Network``). Strict: an empty file, a ragged row, an empty cell, a cell that is not a
    number raise a ``DataError`` naming the file, the line and the column, as do a line of
    more than ``MAX_COLUMNS`` (2^20) fields or ``MAX_LINE`` (2^26) characters, a NUL character
    and bytes that are not UTF-8. The file is read in blocks, never whole; it must be a regular
    file (not a named pipe or a device)."""
    if label is None:
        raise ValueError("label must be a column name or index")
    table = read_table(
        path, label=label, header=header, delimiter=delimiter, feature_names=feature_names
    )
    return table_dataset(table, path, classes)


def table_dataset(table: Table, path: PathLike, classes: Sequence[str] | None = None) -> Dataset:
    """The Dataset of a ``read_table`` result that has a label column (``load_csv``'s second
    half, for a caller that has read the table already); ``classes`` as in ``load_csv``."""
    assert table.labels is not None
    names, index = _class_index(table.label_keys, classes, path)
    missing = [code for code, k in enumerate(index) if k < 0]
    if missing:
        row = min(table.labels.index(code) for code in missing)
        raise DataError(
            f"line {table.lines[row]}: label {_quote(table.label_keys[table.labels[row]])} is "
            f"not one of the classes {_name_list(names)}",
            path=path,
        )
    if len(names) < 2:
        raise DataError(
            f"every row has the label {_quote(names[0])}: a classifier needs 2 classes", path=path
        )
    labels = _relabel(table.labels, index)
    ds = Dataset(
        table.features,
        labels,
        table.width,
        classes=names,
        name=os.path.basename(os.fspath(path)),
    )
    ds.feature_names = table.feature_names
    return ds


# ---- feature names in a model file ---------------------------------------------------------


def recorded_feature_names(
    metadata: Mapping[str, str], inputs: int, path: PathLike | None
) -> list[str] | None:
    """The feature names a model file records (metadata ``feature_names``: a JSON list of one
    string per input), or None; ``ModelFileError`` when the entry is malformed."""
    text = metadata.get("feature_names")
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if (
        not isinstance(names, list)
        or len(names) != inputs
        or not all(isinstance(n, str) for n in names)
    ):
        raise ModelFileError(
            f"metadata feature_names is {_quote(text)}, expected a JSON list of {inputs} "
            f"strings (one per input)",
            path=path,
        )
    return names


def check_feature_names(
    network: Sequence[str] | None, data: Sequence[str] | None, what: str
) -> None:
    """Refuse data whose named columns are not the network's, in its order (a Dataset read
    from a file with the columns in another order would be predicted silently wrong)."""
    if network is None or data is None or list(network) == list(data):
        return
    same = sorted(network) == sorted(data)
    raise DataError(
        f"{what} has the features {_name_list(list(data))} but the network was trained on "
        f"{_name_list(list(network))}"
        + (" (the same, in another order)" if same else "")
        + ": read the file with ann.load_csv(..., feature_names=net.feature_names), which finds "
        "the columns by name"
    )
