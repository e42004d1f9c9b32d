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
import math
import os
from dataclasses import dataclass
from typing import Any

import ann

from .._csv import read_table, table_dataset
from .._errors import DataError, PathLike
from .._task import TaskChoice, chosen_task, number
from ._output import UsageError

# label cells that stand for a missing value in a column of numbers
MISSING = {"nan", "-nan", "na", "n/a", "null", "none", "?", "-", "missing", "inf", "-inf",
           "+inf", "infinity", "-infinity"}  # fmt: skip


def label_columns(text: str | None) -> list[int | str]:
    """--label as a list of columns: each an index when it is an integer, else a name; None
    is the last column."""
    if text is None:
        return [-1]
    columns: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"--label {text!r}: an empty column name (columns: a,b or 0,3)")
        try:
            columns.append(int(part))
        except ValueError:
            columns.append(part)
    if len(set(columns)) != len(columns):
        raise UsageError(f"--label {text!r} names a column twice")
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
        raise UsageError(f"ann: {exc}") from None
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
    """Several label columns: a regression with one output per column, every cell a number."""
    try:  # before reading: --task classification does not take several columns
        chosen_task(task, [str(c) for c in columns], [[] for _ in columns])
    except ValueError as exc:
        raise UsageError(f"ann: {exc}") from None
    table = read_table(path, label=None)  # every column: numbers, or an error naming the cell
    n_cols = table.width
    header = table.feature_names
    indices = []
    for column in columns:
        if isinstance(column, str):
            if header is None:
                raise DataError(
                    f"label column {column!r} named, but the file has no header", path=path
                )
            if column not in header:
                raise DataError(
                    f"no column named {column!r} (columns: {', '.join(header[:10])})", path=path
                )
            indices.append(header.index(column))
        elif -n_cols <= column < n_cols:
            indices.append(column % n_cols)
        else:
            raise DataError(
                f"label column {column} does not exist: rows have {n_cols} columns", path=path
            )
    names = [_name(c, header, n_cols) for c in indices]
    if len(set(indices)) != len(indices):
        raise UsageError(f"ann train: --label names column {names[0]!r} twice")
    try:
        choice = chosen_task(task, names, [[] for _ in names])
    except ValueError as exc:
        raise UsageError(f"ann: {exc}") from None
    if n_cols - len(indices) < 1:
        raise DataError("every column is a label: no feature columns left", path=path)
    rows = len(table.features) // n_cols
    keep = [j for j in range(n_cols) if j not in indices]
    features, targets = [], []
    values = table.features
    for r in range(rows):
        row = values[r * n_cols : (r + 1) * n_cols]
        features.append([row[j] for j in keep])
        targets.append([row[j] for j in indices])
    data = ann.Dataset(features, None, len(keep), targets=targets, name=os.path.basename(path))
    data.feature_names = [header[j] for j in keep] if header is not None else None
    recorded: list[int | str] = list(names) if header is not None else list(indices)
    return Labelled(data, choice, names, recorded)


def _refuse_missing(
    path: str, name: str, labels: list[str], lines: Any, distinct: list[str]
) -> None:
    """A column of numbers with a missing-value marker (NaN, NA, ...) in some rows: an error
    naming the first such line, rather than a class called 'NaN'."""
    missing = {v for v in distinct if v.lower() in MISSING}
    if not missing or any(number(v) is None for v in distinct if v not in missing):
        return
    row = next(i for i, v in enumerate(labels) if v in missing)
    raise UsageError(
        f"ann: {path}: line {lines[row]}, label {name!r}: {labels[row]!r} is a missing value; "
        f"every row needs its label (drop the row, or fill it in)"
    )


def _check_float32(path: str, name: str, targets: list[float], lines: Any) -> None:
    for i, v in enumerate(targets):
        if not (math.isfinite(v) and abs(v) <= 3.4028234663852886e38):
            raise DataError(
                f"line {lines[i]}, label {name!r}: {v!r} is not a finite float32 number",
                path=path,
            )


def task_argument(args: argparse.Namespace) -> str | None:
    """--task, or None (infer it)."""
    value = getattr(args, "task", None)
    return None if value in (None, "auto") else str(value)
