"""A CSV file as ``ann train``, ``evaluate`` and ``predict`` read it: its label column(s) and
the task they ask for (``ann/_task.py``), classes or float targets.

``--label`` names one column (a class label, or a regression's target) or several, comma
separated (``--label y1,y2``: the outputs of one regression); each is a header name or an
index (0-based, negative from the end). Without it, the last column. A regression's labels
must be numbers on every row: a missing value (``NaN``, ``NA``, ...) or text is an error
naming the line, as is a label column of text given ``--task regression``: a usage error
(exit status 2), as the label does not fit what was asked of it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ann

from .._csv import _decode, _rows, _sniff_delimiter, read_table, table_dataset
from .._errors import DataError, PathLike
from .._task import TaskChoice, chosen_task, number
from ._output import UsageError

FLOAT32_MAX = 3.4028234663852886e38

# label cells that stand for a missing value in a column of numbers
MISSING = {"nan", "-nan", "na", "n/a", "null", "none", "?", "-", "missing", "inf", "-inf",
           "+inf", "infinity", "-infinity"}  # fmt: skip


def label_error(text: str) -> UsageError:
    """A label that does not fit what was asked of it (the task, the head, the model): one
    line "ann: error: ...", exit status 2."""
    return UsageError(f"ann: error: {text}")


def label_columns(text: str | None) -> list[int | str]:
    """--label as a list of columns: each an index when it is an integer, else a name; None
    is the last column."""
    if text is None:
        return [-1]
    columns: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise label_error(f"--label {text!r}: an empty column name (columns: a,b or 0,3)")
        try:
            columns.append(int(part))
        except ValueError:
            columns.append(part)
    if len(set(columns)) != len(columns):
        raise label_error(f"--label {text!r} names a column twice")
    return columns


@dataclass
class Labelled:
    """A table read with its labels: the data set, the task and the label columns' names."""

    data: ann.Dataset
    task: TaskChoice
    names: list[str]  # each label column's header name, or "column N" (1-based) without one
    columns: list[int | str]  # the same as the model file records them: names, or indices


def header_cells(path: PathLike, delimiter: str | None = None) -> list[str]:
    """The cells of the first record (the header, when the file has one)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    return [c.strip() for c in next(csv.reader(io.StringIO(first), delimiter=delimiter), [])]


def _name(column: int | str, header: list[str] | None, n_cols: int) -> str:
    if isinstance(column, str):
        return column
    index = column % n_cols if -n_cols <= column < n_cols else column
    if header is not None and 0 <= index < len(header):
        return header[index]
    return f"column {index + 1}"


def read_labelled(
    path: str,
    columns: list[int | str],
    task: str | None,
    *,
    classes: list[str] | None = None,
) -> Labelled:
    """The rows of a CSV file with their label column(s): classes (one column) or float
    targets (a regression, one column or several), the task chosen by ``chosen_task``."""
    if len(columns) > 1:
        return _several(path, columns, task)
    table = read_table(path, label=columns[0])
    assert table.labels is not None
    n_cols = table.width + 1
    header = header_cells(path) if table.feature_names is not None else None
    name = _name(columns[0], header, n_cols)
    distinct = sorted(set(table.labels))
    _refuse_missing(path, name, table.labels, table.lines, distinct)
    try:
        choice = chosen_task(task, [name], [distinct])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    if choice.task == "classification":
        data = table_dataset(table, path, classes)
    else:
        targets = [float(v) for v in table.labels]
        _check_float32(path, name, targets, table.lines)
        data = ann.Dataset(
            table.features, None, table.width, targets=targets, name=os.path.basename(path)
        )
        data.feature_names = table.feature_names
    index = columns[0] % n_cols if isinstance(columns[0], int) else columns[0]
    recorded: int | str = name if header is not None else index
    return Labelled(data, choice, [name], [recorded])


def _several(path: str, columns: list[int | str], task: str | None) -> Labelled:
    """Several label columns: a regression with one output per column, every cell a number
    (a missing value or text in a label column is a usage error naming its line)."""
    try:  # before reading: --task classification does not take several columns
        chosen_task(task, [str(c) for c in columns], [[] for _ in columns])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    raw = raw_table(path, named=any(isinstance(c, str) for c in columns))
    header, n_cols = raw.header, raw.width
    indices = [_column_index(path, column, header, n_cols) for column in columns]
    names = [_name(c, header, n_cols) for c in indices]
    if len(set(indices)) != len(indices):
        raise label_error(f"--label names column {names[0]!r} twice")
    try:
        choice = chosen_task(task, names, [[] for _ in names])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    if n_cols - len(indices) < 1:
        raise DataError("every column is a label: no feature columns left", path=path)
    # the label cells first: a missing value or text there is the label's problem, said so
    targets = [target_cells(path, raw, j, name) for j, name in zip(indices, names)]
    # then every column as numbers (the features' errors name their cell)
    table = read_table(path, label=None, header=header is not None)
    keep = [j for j in range(n_cols) if j not in indices]
    features = columns_of(table.features, n_cols, keep)
    rows = [list(t) for t in zip(*targets)]
    data = ann.Dataset(features, None, len(keep), targets=rows, name=os.path.basename(path))
    data.feature_names = [header[j] for j in keep] if header is not None else None
    recorded: list[int | str] = list(names) if header is not None else list(indices)
    return Labelled(data, choice, names, recorded)


def columns_of(values: array[float], n_cols: int, keep: list[int]) -> array[float]:
    """Columns ``keep`` (in that order) of ``values``, rows of ``n_cols`` numbers."""
    out = array("f")
    for r in range(len(values) // n_cols):
        row = values[r * n_cols : (r + 1) * n_cols]
        out.extend(row[j] for j in keep)
    return out


# ---- the raw cells, for what read_table does not do: label columns of their own, and a
# model's feature columns found by name ----------------------------------------------------------


@dataclass
class RawTable:
    """A CSV file's cells as text: the header (or None) and the data rows with their lines."""

    header: list[str] | None
    rows: list[tuple[int, list[str]]]
    width: int


def raw_table(path: str, *, named: bool = False, header: list[str] | None = None) -> RawTable:
    """The cells of ``path``. Its first row is a header when ``named`` (a column was named),
    when it holds every name of ``header`` (a model's feature names), or, as ``read_table``
    decides it, when one of its cells is not a number where the second row's is. Rows of
    another length than the first are an error naming their line."""
    text = _decode(path)
    rows = _rows(text, _sniff_delimiter(text), path)
    if not rows:
        raise DataError("the file is empty: no rows", path=path)
    first = [c.strip() for c in rows[0][1]]
    if named or (header is not None and set(header) <= set(first)):
        has_header = True
    elif len(rows) == 1:
        has_header = all(number(c) is None for c in first)
    else:
        has_header = any(
            number(a) is None and number(b.strip()) is not None for a, b in zip(first, rows[1][1])
        )
    body = rows[1:] if has_header else rows
    if not body:
        raise DataError("the file has a header but no data rows", path=path)
    width = len(first) if has_header else len(body[0][1])
    for line, cells in body:
        if len(cells) != width:
            raise DataError(f"line {line}: {len(cells)} fields, expected {width}", path=path)
    return RawTable(first if has_header else None, body, width)


def _column_index(path: str, column: int | str, header: list[str] | None, n_cols: int) -> int:
    if isinstance(column, str):
        if header is None:
            raise DataError(f"label column {column!r} named, but the file has no header", path=path)
        if column not in header:
            shown = ", ".join(repr(n) for n in header[:10]) + (", ..." if len(header) > 10 else "")
            raise DataError(f"no column named {column!r} (columns: {shown})", path=path)
        return header.index(column)
    if -n_cols <= column < n_cols:
        return column % n_cols
    raise DataError(f"label column {column} does not exist: rows have {n_cols} columns", path=path)


def target_cells(path: str, raw: RawTable, j: int, name: str) -> list[float]:
    """Column ``j`` of ``raw`` as a regression's targets: every cell a finite float32 number;
    a missing value (empty, NaN, NA, ...) or text is a usage error naming its line."""
    out = []
    for line, cells in raw.rows:
        cell = cells[j].strip()
        value = number(cell)
        if value is None or abs(value) > FLOAT32_MAX:
            if not cell or cell.lower() in MISSING:
                what = "an empty cell" if not cell else f"{cell!r}"
                raise label_error(
                    f"{path}: line {line}, label {name!r}: {what} is a missing value; every "
                    f"row needs its label (drop the row, or fill it in)"
                )
            problem = "is beyond float32's range" if value is not None else "is text"
            raise label_error(
                f"{path}: line {line}, label {name!r}: {cell!r} {problem}: a regression's "
                f"labels are numbers"
            )
        out.append(value)
    return out


def model_rows(
    path: str, net: ann.Network, labels: list[int | str], *, need_labels: bool
) -> tuple[RawTable, list[int], list[int]] | None:
    """The rows of ``path`` as a model trained by ``ann train`` on a table reads them: its
    feature columns found by the names it recorded (in any order, among other columns),
    and the indices of its feature and label columns. None when the model recorded no
    names, or the file's first row does not hold them: the columns are then read by
    position. A label column the model needs that the file lacks is an error."""
    names = feature_names(net)
    if names is None:
        return None
    raw = raw_table(path, header=names)
    if raw.header is None:
        return None
    if not set(names) <= set(raw.header):
        missing = [n for n in names if n not in raw.header]
        shown = ", ".join(repr(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"the model was trained on columns this file's header lacks: {shown} "
            f"({len(missing)} of its {len(names)} features)",
            path=path,
        )
    features = [raw.header.index(n) for n in names]
    found = []
    for column in labels:
        j = None
        if isinstance(column, str) and column in raw.header:
            j = raw.header.index(column)
        elif isinstance(column, int) and -raw.width <= column < raw.width:
            j = column % raw.width
        if j is not None and j not in features:
            found.append(j)
            continue
        if not need_labels:
            continue
        trained = recorded_labels(net)
        was = f" (it was trained with --label {','.join(map(str, trained))})" if trained else ""
        if labels in ([-1], trained):  # the model's own label columns, or the last
            others = [n for n in raw.header if n not in names]
            raise DataError(
                f"no label column {_label_text(trained or labels)} to score the model against "
                f"(the file's columns besides its features: {_label_text(others) or 'none'})",
                path=path,
            )
        if j is not None:  # --label names one of the features
            raise label_error(
                f"{path}: --label {column}: column {raw.header[j]!r} is one of the model's "
                f"features, not a label{was}"
            )
        raise DataError(f"no column {column!r} to score the model against{was}", path=path)
    return raw, features, found


def _label_text(columns: Sequence[int | str]) -> str:
    return ", ".join(repr(c) for c in columns)


def recorded_labels(net: ann.Network) -> list[int | str]:
    """The label columns ann train recorded in the model file (names, or indices), else []."""
    try:
        recorded = json.loads(net.metadata.get("label_columns", "[]"))
    except ValueError:
        return []
    if not isinstance(recorded, list):
        return []
    return [c for c in recorded if isinstance(c, (int, str)) and not isinstance(c, bool)]


def feature_values(path: str, raw: RawTable, columns: list[int]) -> array[float]:
    """Columns ``columns`` of ``raw``, in that order, as float32 features; a cell that is
    not a finite number is an error naming its line and column."""
    header = raw.header or []
    out = array("f")
    for line, cells in raw.rows:
        for j in columns:
            cell = cells[j].strip()
            value = number(cell)
            if value is None or abs(value) > FLOAT32_MAX:
                where = f"column {j + 1}" + (f" ({header[j]!r})" if j < len(header) else "")
                problem = "missing value (empty cell)" if not cell else f"{cell!r} is not a number"
                if value is not None:
                    problem = f"{cell!r} is beyond float32's range"
                raise DataError(f"line {line}, {where}: {problem}", path=path)
            out.append(value)
    return out


def feature_names(net: ann.Network) -> list[str] | None:
    """The feature names ann train recorded in the model file (a table with a header), else
    None."""
    try:
        names = json.loads(net.metadata.get("feature_names", "null"))
    except ValueError:
        return None
    if (
        isinstance(names, list)
        and len(names) == net.sizes[0]
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    ):
        return names
    return None


def _refuse_missing(
    path: str, name: str, labels: list[str], lines: Any, distinct: list[str]
) -> None:
    """A column of numbers with a missing-value marker (NaN, NA, ...) in some rows: an error
    naming the first such line, rather than a class called 'NaN'."""
    missing = {v for v in distinct if v.lower() in MISSING}
    if not missing or any(number(v) is None for v in distinct if v not in missing):
        return
    row = next(i for i, v in enumerate(labels) if v in missing)
    raise label_error(
        f"{path}: line {lines[row]}, label {name!r}: {labels[row]!r} is a missing value; "
        f"every row needs its label (drop the row, or fill it in)"
    )


def _check_float32(path: str, name: str, targets: list[float], lines: Any) -> None:
    for i, v in enumerate(targets):
        if not (math.isfinite(v) and abs(v) <= FLOAT32_MAX):
            raise label_error(
                f"{path}: line {lines[i]}, label {name!r}: {v!r} is beyond float32's range: "
                f"a regression's labels are float32 numbers"
            )


def task_argument(args: argparse.Namespace) -> str | None:
    """--task, or None (infer it)."""
    value = getattr(args, "task", None)
    return None if value in (None, "auto") else str(value)
