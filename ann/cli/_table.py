"""A CSV file as ``ann train``, ``evaluate``, ``predict`` and ``export-c --int8`` read it: its
label column(s) and the task they ask for (``ann/_task.py``), classes or float targets.

``--label`` names one column (a class label, or a regression's target) or several, comma
separated (``--label y1,y2``: the outputs of one regression); each is a header name or an
index (0-based, negative from the end). Without it, the last column (a trained model: the
column(s) it was trained with). The rows are read by ``ann._csv.read_table``; a model's
feature columns are found by the names it recorded. A regression's labels must be numbers on
every row: a missing value (``NaN``, ``NA``, ...) or text is an error naming the line, as is a
label column of text given ``--task regression``: a usage error (exit status 2), as the label
does not fit what was asked of it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import ann

from .._csv import Table, _sniff_delimiter, read_table, table_dataset
from .._errors import DataError, PathLike
from .._files import regular_file
from .._task import TaskChoice, chosen_task, number
from ._options import header_flag
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


def header_cells(path: PathLike) -> list[str]:
    """The cells of the first record (the header, when the file has one), split as
    ``read_table`` splits them."""
    regular_file(path, DataError, "a CSV file")  # a named pipe would hang open()
    with open(path, encoding="utf-8-sig", newline="") as f:
        sample = f.read(1 << 16)
    first = next(csv.reader(io.StringIO(sample), delimiter=_sniff_delimiter(sample)), [])
    return [c.strip() for c in first]


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
    header: bool | None = None,
    classes: list[str] | None = None,
    feature_names: Sequence[str] | None = None,
) -> Labelled:
    """The rows of a CSV file with their label column(s): classes (one column) or float
    targets (a regression, one column or several), the task chosen by ``chosen_task``.
    ``feature_names`` (a resumed model's) finds the feature columns by name."""
    if len(columns) > 1:
        return _several(path, columns, task, header, feature_names)
    table = read_table(path, label=columns[0], header=header, feature_names=feature_names)
    assert table.labels is not None
    n_cols = table.width + 1
    names = header_cells(path) if table.header else None
    label = columns[0]
    if feature_names is not None and names is not None:  # the one column not a feature
        label = next((n for n in names if n not in feature_names), label)
    name = _name(label, names, n_cols)
    distinct = table.label_keys
    _refuse_missing(path, name, table)
    try:
        choice = chosen_task(task, [name], [distinct])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    if choice.task == "classification":
        data = table_dataset(table, path, classes)
    else:
        data = regression_data(path, name, table)
    index = label % n_cols if isinstance(label, int) else label
    recorded: int | str = name if names is not None else index
    return Labelled(data, choice, [name], [recorded])


def regression_data(path: str, name: str, table: Table) -> ann.Dataset:
    """A table read with one label column as a regression's Dataset: each label a float32
    number, else a usage error naming its line."""
    assert table.labels is not None
    values = [number(key) for key in table.label_keys]
    for code, (key, value) in enumerate(zip(table.label_keys, values)):
        if value is None or abs(value) > FLOAT32_MAX:
            row = table.labels.index(code)
            raise label_error(_bad_target(path, table.lines[row], name, key, value))
    targets = array("f", (values[code] or 0.0 for code in table.labels))
    rows = memoryview(targets).cast("B").cast("f", (len(targets), 1))
    data = ann.Dataset(table.features, None, table.width, targets=rows, name=os.path.basename(path))
    data.feature_names = table.feature_names
    return data


def _bad_target(path: str, line: int, name: str, cell: str, value: float | None) -> str:
    """What is wrong with a regression's label cell (missing, text, or beyond float32)."""
    where = f"{path}: line {line}, label {name!r}"
    if not cell or cell.lower() in MISSING:
        what = "an empty cell" if not cell else repr(cell)
        return (
            f"{where}: {what} is a missing value; every row needs its label (drop the row, "
            f"or fill it in)"
        )
    problem = "is beyond float32's range" if value is not None else "is text"
    return f"{where}: {cell!r} {problem}: a regression's labels are numbers"


def _several(
    path: str,
    columns: list[int | str],
    task: str | None,
    header: bool | None,
    feature_names: Sequence[str] | None,
) -> Labelled:
    """Several label columns: a regression with one output per column, every cell a number
    (a missing value or text in a label column is a usage error naming its line)."""
    try:  # before reading: --task classification does not take several columns
        chosen_task(task, [str(c) for c in columns], [[] for _ in columns])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    rows = numeric_rows(path, columns, header=header, feature_names=feature_names, labels=True)
    try:
        choice = chosen_task(task, rows.label_names, [[] for _ in rows.label_names])
    except ValueError as exc:
        raise label_error(str(exc)) from None
    assert rows.targets is not None
    T = len(rows.label_names)
    targets = memoryview(rows.targets).cast("B").cast("f", (len(rows.targets) // T, T))
    data = ann.Dataset(
        rows.features, None, rows.width, targets=targets, name=os.path.basename(path)
    )
    data.feature_names = rows.feature_names
    return Labelled(data, choice, rows.label_names, rows.recorded)


@dataclass
class NumericRows:
    """A table of numbers split into features and label columns (``numeric_rows``)."""

    features: array[float]  # (rows, width)
    width: int
    targets: array[float] | None  # (rows, T), or None: the file has no label columns
    feature_names: list[str] | None
    label_names: list[str]  # each label column's header name, or "column N"
    recorded: list[int | str]  # the label columns as a model file records them
    lines: Sequence[int]


def numeric_rows(
    path: str,
    columns: list[int | str],
    *,
    header: bool | None = None,
    feature_names: Sequence[str] | None = None,
    labels: bool,
    width: int | None = None,
) -> NumericRows:
    """The rows of a CSV file of numbers only, split into features and the label
    ``columns`` (a regression of several outputs). With ``feature_names`` (a model's) and a
    header, the features are those columns, found by name. With ``width`` (the features a
    model takes), a file of exactly ``width`` columns has no label columns (``labels``
    False: allowed, for ann predict). A label cell that is not a number is a usage error
    naming its line, a feature cell's as ``read_table`` says it."""
    named = any(isinstance(c, str) for c in columns)
    names = header_cells(path)
    if header is None and (
        named or (feature_names is not None and set(feature_names) <= set(names))
    ):
        header = True
    try:
        table = read_table(path, label=None, header=header)
    except DataError:
        _refuse_bad_labels(path, columns, header, names)
        raise
    n_cols = table.width
    head = table.feature_names
    if width is not None and n_cols == width and not labels:
        indices: list[int] = []
    else:
        if width is not None and n_cols != width + len(columns):
            raise DataError(
                f"rows have {n_cols} columns, but the model takes {width} features ({width} "
                f"columns, or {width + len(columns)} with its {len(columns)} label columns)",
                path=path,
            )
        indices = [_column_index(path, c, head, n_cols) for c in columns]
    label_names = [_name(j, head, n_cols) for j in indices]
    if len(set(indices)) != len(indices):
        raise label_error(f"--label names column {label_names[0]!r} twice")
    if feature_names is not None and head is not None:
        missing = [n for n in feature_names if n not in head]
        if missing:
            raise DataError(
                f"the network's features {', '.join(repr(n) for n in missing[:10])} are not "
                f"in the header (columns: {', '.join(repr(n) for n in head[:10])})",
                path=path,
            )
        keep = [head.index(n) for n in feature_names]
        clash = [head[j] for j in indices if j in keep]
        if clash:
            raise label_error(f"{path}: label column {clash[0]!r} is one of the network's features")
    else:
        keep = [j for j in range(n_cols) if j not in indices]
    if not keep:
        raise DataError("every column is a label: no feature columns left", path=path)
    return NumericRows(
        columns_of(table.features, n_cols, keep),
        len(keep),
        columns_of(table.features, n_cols, indices) if indices else None,
        [head[j] for j in keep] if head is not None else None,
        label_names,
        list(label_names) if head is not None else list(indices),
        table.lines,
    )


def _refuse_bad_labels(
    path: str, columns: list[int | str], header: bool | None, first: list[str]
) -> None:
    """After ``read_table`` refused a file of numbers: a usage error naming the first label
    cell that is not a number (a missing value, or text), when one is the cause; else
    nothing (the caller re-raises read_table's error, about a feature cell)."""
    if header is None:  # as read_table decides it, near enough: names over numbers
        header = any(number(c) is None for c in first)
    n_cols = len(first)
    names = first if header else None
    try:
        indices = [_column_index(path, c, names, n_cols) for c in columns]
    except DataError:
        return
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    reader = csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(text[: 1 << 16]))
    for record in reader:
        if header:
            header = False
            continue
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        for j in indices:
            cell = record[j].strip() if j < len(record) else ""
            value = number(cell)
            if value is None or abs(value) > FLOAT32_MAX:
                name = _name(j, names, n_cols)
                raise label_error(_bad_target(path, reader.line_num, name, cell, value))


def columns_of(values: array[float], n_cols: int, keep: list[int]) -> array[float]:
    """Columns ``keep`` (in that order) of ``values``, rows of ``n_cols`` numbers."""
    out = array("f")
    for r in range(len(values) // n_cols):
        row = values[r * n_cols : (r + 1) * n_cols]
        out.extend(row[j] for j in keep)
    return out


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


def recorded_labels(net: ann.Network) -> list[int | str]:
    """The label columns ann train recorded in the model file (names, or indices), else []."""
    try:
        recorded = json.loads(net.metadata.get("label_columns", "[]"))
    except ValueError:
        return []
    if not isinstance(recorded, list):
        return []
    return [c for c in recorded if isinstance(c, (int, str)) and not isinstance(c, bool)]


def _refuse_missing(path: str, name: str, table: Table) -> None:
    """A column of numbers with a missing-value marker (NaN, NA, ...) in some rows: an error
    naming the first such line, rather than a class called 'NaN'."""
    assert table.labels is not None
    keys = table.label_keys
    missing = {code for code, v in enumerate(keys) if v.lower() in MISSING}
    if not missing or any(number(v) is None for v in keys if v.lower() not in MISSING):
        return
    row = min(table.labels.index(code) for code in missing)
    raise label_error(_bad_target(path, table.lines[row], name, keys[table.labels[row]], None))


def model_labels(args: argparse.Namespace, net: ann.Network, path: str) -> list[int | str]:
    """--label's columns; without it, those the model was trained with (recorded by ann train
    in the model file: header names, used when ``path``'s first row holds them and --header
    no does not say it is data, or indices), else the last column."""
    if args.label is None:
        columns = recorded_labels(net)
        named = {c for c in columns if isinstance(c, str)}
        if named and header_flag(getattr(args, "header", None)) is False:
            columns = []  # the first row is data: no names to find
        if columns and (not named or named <= set(header_cells(path))):
            return columns
    return label_columns(args.label)


def output_names(net: ann.Network) -> list[str]:
    """The name of each output of a regression model: its label columns' header names (as
    ann train recorded them), else "output k"."""
    K = net.sizes[-1]
    recorded = recorded_labels(net)
    if len(recorded) == K and all(isinstance(c, str) for c in recorded):
        return [str(c) for c in recorded]
    return [f"output {k}" for k in range(K)]


def labelled_rows(args: argparse.Namespace, net: ann.Network, path: str) -> ann.Dataset:
    """The rows of a CSV file with the model's label column(s) (--label, else those it was
    trained with): classes for a classifier, float targets for a regression; the feature
    columns found by the names the model recorded, else by position."""
    columns = model_labels(args, net, path)
    header = header_flag(getattr(args, "header", None))
    T = net.sizes[-1]
    if net.regression and T > 1:
        if len(columns) != T and args.label is not None:
            raise UsageError(
                f"ann {args.command}: --label gives {len(columns)} column(s), and {args.model} "
                f"predicts {T} values a row: name one label column for each"
            )
        if len(columns) != T:
            trained = recorded_labels(net)
            wanted = ", ".join(repr(c) for c in trained) if len(trained) == T else f"{T} columns"
            raise DataError(
                f"{args.model} predicts {T} values a row: no label columns {wanted} to score "
                f"it against (--label Y1,Y2,... names them; ann predict values rows without)",
                path=path,
            )
        rows = numeric_rows(
            path, columns, header=header, feature_names=net.feature_names, labels=True,
            width=net.sizes[0],
        )  # fmt: skip
        if rows.targets is None or len(rows.label_names) != T:
            raise DataError(
                f"{args.model} predicts {T} values a row, but the label column(s) "
                f"{', '.join(repr(c) for c in columns)} are {len(rows.label_names)}",
                path=path,
            )
        targets = memoryview(rows.targets).cast("B").cast("f", (len(rows.targets) // T, T))
        data = ann.Dataset(
            rows.features, None, rows.width, targets=targets, name=os.path.basename(path)
        )
        data.feature_names = rows.feature_names
        return data
    if len(columns) > 1:
        raise UsageError(
            f"ann {args.command}: {args.model} has {T} output{'s' if T > 1 else ''}: it reads "
            f"one label column, and --label gives {len(columns)}"
        )
    table = read_table(
        path, label=columns[0], header=header, width=net.sizes[0], feature_names=net.feature_names
    )
    if table.labels is None:
        raise DataError(
            f"rows have the model's {net.sizes[0]} features but no label column to "
            f"evaluate against (ann predict {'values' if net.regression else 'classifies'} "
            f"such rows)",
            path=path,
        )
    if net.regression:
        name = columns[0] if isinstance(columns[0], str) else output_names(net)[0]
        return regression_data(path, name, table)
    classes = net.classes or [str(k) for k in range(net.sizes[-1])]
    return table_dataset(table, path, classes)  # the file is read once


def task_argument(args: argparse.Namespace) -> str | None:
    """--task, or None (infer it)."""
    value = getattr(args, "task", None)
    return None if value in (None, "auto") else str(value)
