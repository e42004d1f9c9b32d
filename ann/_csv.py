"""``ann.load_csv``: a table of numbers with a label column, read strictly.

Parsed with the standard library's ``csv`` module (quoted fields, any line ending, a UTF-8
byte-order mark). Every feature cell must be a finite number and every row as long as the
first: anything else is a ``DataError`` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from array import array
from collections.abc import Sequence
from typing import NamedTuple, Union

from ._data import Dataset
from ._errors import DataError, PathLike

Label = Union[int, str, None]
_DELIMITERS = ",;\t|"


class Table(NamedTuple):
    """A CSV file read by ``read_table``."""

    features: array[float]  # (rows, width) float32, row by row
    width: int  # features per row
    labels: list[str] | None  # the label cell of each row (canonical, see _canonical)
    feature_names: list[str] | None  # from the header
    lines: list[int]  # the line each row ends on


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value


def _canonical(label: str) -> str:
    """A label cell as a class name: integral numbers written one way ("1", "1.0", " 01" are
    all "1"), anything else as written (without surrounding spaces)."""
    text = label.strip()
    value = _number(text)
    if value is not None and math.isfinite(value) and value == int(value):
        return str(int(value))
    return text


def _decode(path: PathLike) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    try:
        return raw.decode("utf-8-sig")  # drops a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"line {line}: not UTF-8 text", path=path, offset=exc.start) from None


def _sniff_delimiter(text: str) -> str:
    """The delimiter of the first lines: csv.Sniffer among , ; tab |, else a comma."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _rows(text: str, delimiter: str, path: PathLike) -> list[tuple[int, list[str]]]:
    """(line, cells) of every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    out = []
    try:
        for cells in reader:
            if len(cells) > 1 or (cells and cells[0].strip()):  # blank lines are skipped
                out.append((reader.line_num, cells))
    except csv.Error as exc:
        raise DataError(f"line {reader.line_num}: {exc}", path=path) from None
    return out


def _column_index(label: Label, names: list[str] | None, n_cols: int, path: PathLike) -> int:
    if isinstance(label, str):
        if names is None:
            raise DataError(f"label column {label!r} named, but the file has no header", path=path)
        matches = [i for i, name in enumerate(names) if name.strip() == label]
        if not matches:
            shown = ", ".join(repr(n) for n in names[:10])
            raise DataError(f"no column named {label!r} (columns: {shown})", path=path)
        return matches[0]
    if isinstance(label, bool) or not isinstance(label, int):
        raise ValueError(f"label must be a column name or index, got {label!r}")
    if not -n_cols <= label < n_cols:
        raise DataError(
            f"label column {label} does not exist: rows have {n_cols} columns", path=path
        )
    return label % n_cols


def read_table(
    path: PathLike,
    *,
    label: Label = -1,
    header: bool | str | None = None,
    delimiter: str | None = None,
    width: int | None = None,
) -> Table:
    """The cells of a CSV file: float32 features and the label column's cells as text.

    ``label`` is the label column (a header name, or an index, negative from the end), or
    None for a file of features only. With ``width`` (the features a network takes), a row
    of exactly ``width`` cells has no label column and one of ``width + 1`` has one.
    ``header`` None detects a header: the first row is one when a cell of it is not a number
    where the second row's cell is (or when ``label`` is a name)."""
    if header == "auto":
        header = None
    if header not in (None, True, False):
        raise ValueError(f"header must be True, False or 'auto', got {header!r}")
    text = _decode(path)
    if delimiter in (None, "auto"):
        delimiter = _sniff_delimiter(text)
    elif not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be one character, got {delimiter!r}")
    rows = _rows(text, delimiter, path)
    if not rows:
        raise DataError("the file is empty: no rows", path=path)
    if header is None:
        if isinstance(label, str):
            header = True
        elif len(rows) == 1:
            header = all(_number(c) is None for c in rows[0][1])
        else:
            first, second = rows[0][1], rows[1][1]
            header = any(
                _number(a) is None and _number(b) is not None for a, b in zip(first, second)
            )
    names = [c.strip() for c in rows[0][1]] if header else None
    body = rows[1:] if header else rows
    if not body:
        raise DataError("the file has a header but no data rows", path=path)
    n_cols = len(names) if names is not None else len(body[0][1])
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
    at = _column_index(label, names, n_cols, path) if has_label and label is not None else -1
    if n_cols - (at >= 0) < 1:
        raise DataError(f"rows have {n_cols} column(s): no feature columns", path=path)

    def column(j: int) -> str:
        return f"column {j + 1}" + (f" ({names[j]!r})" if names is not None and names[j] else "")

    features: list[float] = []
    labels: list[str] | None = [] if at >= 0 else None
    lines = []
    for line, cells in body:
        if len(cells) != n_cols:
            raise DataError(f"line {line}: {len(cells)} fields, expected {n_cols}", path=path)
        for j, cell in enumerate(cells):
            stripped = cell.strip()
            if not stripped:
                what = "label" if j == at else "value"
                raise DataError(f"line {line}, {column(j)}: missing {what} (empty cell)", path=path)
            if j == at:
                assert labels is not None
                labels.append(_canonical(stripped))
                continue
            value = _number(stripped)
            if value is None or not math.isfinite(value):
                kind = "not a number" if value is None else "not a finite number"
                raise DataError(f"line {line}, {column(j)}: {stripped!r} is {kind}", path=path)
            features.append(value)
        lines.append(line)
    values = array("f", features)
    if not math.isfinite(sum(values)):  # a value beyond float32's range became inf
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        feature_width = n_cols - (at >= 0)
        row, j = divmod(bad, feature_width)
        j += j >= at >= 0
        raise DataError(
            f"line {lines[row]}, {column(j)}: {features[bad]!r} is beyond float32's range",
            path=path,
        )
    feature_names = [name for j, name in enumerate(names) if j != at] if names is not None else None
    return Table(values, n_cols - (at >= 0), labels, feature_names, lines)


def class_names(labels: Sequence[str]) -> list[str]:
    """The distinct labels in order: numerically when all are integers, else as text."""
    distinct = set(labels)
    if all(_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: (float(v), v))
    return sorted(distinct)


def load_csv(
    path: PathLike,
    *,
    label: int | str = -1,
    header: bool | str | None = None,
    delimiter: str | None = None,
    classes: Sequence[str] | None = None,
) -> Dataset:
    """A Dataset of float32 features from a CSV file, with one label column.

    ``label``: the label column, by header name or index (default: the last). ``header``:
    True, False, or None / "auto" (the default) to detect it: the first row is a header when one of
    its cells is not a number where the second row's is. ``delimiter``: one character, or
    None / "auto" to detect it among ``,`` ``;`` tab and ``|``. Labels are class names (numbers or
    text): each distinct label becomes a class index, in numeric order when all are integers,
    else in text order, and ``ds.classes`` keeps the names. ``classes`` (for instance
    ``net.classes`` of a trained network) fixes the names and their order instead: a label
    that is not one of them is an error. Features are used as they are (a network standardises
    them when it trains, see ``ann.Network``). Strict: an empty file, a ragged row, an empty
    cell, a cell that is not a finite number raise a ``DataError`` naming the file, the line
    and the column."""
    if label is None:
        raise ValueError("label must be a column name or index")
    table = read_table(path, label=label, header=header, delimiter=delimiter)
    return table_dataset(table, path, classes)


def table_dataset(table: Table, path: PathLike, classes: Sequence[str] | None = None) -> Dataset:
    """The Dataset of a ``read_table`` result that has a label column (``load_csv``'s second
    half, for a caller that has read the table already); ``classes`` as in ``load_csv``."""
    assert table.labels is not None
    if classes is None:
        names = class_names(table.labels)
    else:
        names = [_canonical(str(c)) for c in classes]
    index = {name: i for i, name in enumerate(names)}
    labels = array("i")
    for line, value in zip(table.lines, table.labels):
        k = index.get(value)
        if k is None:
            shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
            raise DataError(
                f"line {line}: label {value!r} is not one of the classes {shown}", path=path
            )
        labels.append(k)
    if len(names) < 2:
        raise DataError(
            f"every row has the label {names[0]!r}: a classifier needs 2 classes", path=path
        )
    ds = Dataset(
        table.features,
        labels,
        table.width,
        classes=names,
        name=os.path.basename(os.fspath(path)),
    )
    ds.feature_names = table.feature_names
    return ds
