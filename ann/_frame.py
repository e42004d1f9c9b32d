"""pandas DataFrames and Series as ``Dataset`` input, without importing pandas.

A DataFrame (pandas', or anything shaped like one: ``columns``, ``dtypes``, ``to_numpy``) is
a table: each column a feature, its values numbers used as they are (bool columns as 0 and
1, integer columns as numbers, not pixels). ``frame_values`` checks every column's type by
name, asks the frame for one C-ordered float64 NumPy array (``to_numpy``), reads it through
the buffer protocol and checks that every value is finite, naming the column and the row of
the first one that is not. A Series (``name``, ``dtype``, ``to_numpy``, no ``columns``) is one
column: labels or targets. The column names become ``Dataset.feature_names``.

Neither pandas nor NumPy is imported here: the frame makes its own array, with the NumPy its
program has loaded.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from ._errors import DataError

_FLOAT32_MAX = 3.4028234663852886e38
# dtype.kind letters: what each holds, for the message of a column that is not numbers
_NOT_NUMBERS = {
    "O": "text or Python objects",
    "U": "text",
    "S": "bytes",
    "M": "dates",
    "m": "time spans",
    "c": "complex numbers",
    "V": "raw records",
}


def is_frame(data: Any) -> bool:
    """A DataFrame: columns, dtypes and to_numpy (pandas', or one shaped like it)."""
    return all(hasattr(data, a) for a in ("columns", "dtypes", "to_numpy")) and not isinstance(
        data, type
    )


def is_series(data: Any) -> bool:
    """A Series: one named column with a dtype and to_numpy, and no columns."""
    return (
        all(hasattr(data, a) for a in ("dtype", "to_numpy", "name", "index"))
        and not hasattr(data, "columns")
        and not isinstance(data, type)
    )


def _kind(dtype: Any) -> str:
    """The NumPy kind letter of a column's dtype ("f", "i", "O", ...); a pandas extension type
    (nullable Int64, string, category) has one too; "" when it tells none."""
    kind = getattr(dtype, "kind", "")
    if str(dtype) == "category" or type(dtype).__name__ == "CategoricalDtype":
        return "category"
    return kind if isinstance(kind, str) else ""


def _check_column(name: Any, dtype: Any, what: str) -> None:
    kind = _kind(dtype)
    if kind == "category":
        raise DataError(
            f"{what}: column {str(name)!r} is categorical ({dtype}), not numbers: encode it "
            f"first (pandas.get_dummies, or .cat.codes for an ordered category)"
        )
    if kind in _NOT_NUMBERS:
        held = "text" if str(dtype).startswith(("str", "string")) else _NOT_NUMBERS[kind]
        raise DataError(
            f"{what}: column {str(name)!r} holds {held} ({dtype}), not "
            f"numbers: convert or encode it first (pandas.to_numeric, pandas.get_dummies)"
        )


def _float64(frame: Any, what: str) -> Any:
    """The frame's values as a C-ordered float64 NumPy array (its missing values as NaN)."""
    try:
        values = frame.to_numpy(dtype="float64", na_value=math.nan)
    except TypeError:  # a frame whose to_numpy takes no na_value
        values = frame.to_numpy(dtype="float64")
    except ValueError as exc:  # a column of objects that are not numbers
        raise DataError(f"{what}: cannot be read as numbers ({exc})") from None
    if not memoryview(values).c_contiguous:
        values = values.copy(order="C")
    return values


def _finite(
    values: array[float], width: int, names: list[str], rows: Any, what: str
) -> array[float]:
    """float64 values -> float32, refusing NaN, infinities and values beyond float32, with the
    column name and the row label of the first such value."""
    if all(math.isfinite(v) and -_FLOAT32_MAX <= v <= _FLOAT32_MAX for v in values):
        return array("f", values)
    bad = next(
        i
        for i, v in enumerate(values)
        if not (math.isfinite(v) and -_FLOAT32_MAX <= v <= _FLOAT32_MAX)
    )
    row, column = divmod(bad, width)
    label = rows[row] if rows is not None and row < len(rows) else row
    value = values[bad]
    why = (
        "a missing value (NaN): fill or drop missing values first (fillna, dropna)"
        if math.isnan(value)
        else "infinite"
        if math.isinf(value)
        else "beyond float32's range"
    )
    raise DataError(f"{what}: column {names[column]!r}, row {label!r} is {why}")


def frame_values(frame: Any, what: str) -> tuple[array[float], int, list[str]]:
    """(float32 values row by row, columns, column names) of a DataFrame of numbers."""
    columns = list(frame.columns)
    names = [str(c) for c in columns]
    dtypes = frame.dtypes
    kinds = list(dtypes) if not hasattr(dtypes, "items") else [t for _, t in dtypes.items()]
    for name, dtype in zip(columns, kinds):
        _check_column(name, dtype, what)
    if not columns:
        raise DataError(f"{what}: the DataFrame has no columns")
    view = memoryview(_float64(frame, what))
    if view.ndim != 2 or view.format not in ("d", "<d", "=d", "@d"):
        raise DataError(f"{what}: the DataFrame did not give a 2-D array of numbers")
    flat = array("d")
    flat.frombytes(view.tobytes())
    if not flat:
        raise DataError(f"{what}: the DataFrame has no rows")
    rows = list(frame.index) if hasattr(frame, "index") else None
    return _finite(flat, len(columns), names, rows, what), len(columns), names


def series_array(series: Any, what: str) -> Any:
    """A Series as its own NumPy array (a buffer Dataset reads): integers stay integers, the
    rest as float64; text or category columns are refused with a hint."""
    _check_column(series.name, series.dtype, what)
    kind = _kind(series.dtype)
    if kind in ("i", "u", "b") and not getattr(series, "hasnans", False):
        values = series.to_numpy(dtype="int64" if kind == "b" else None)
    else:
        values = _float64(series, what)
        flat = array("d")
        flat.frombytes(memoryview(values).tobytes())
        _finite(flat, 1, [str(series.name)], list(series.index), what)
    if not memoryview(values).c_contiguous:
        values = values.copy(order="C")
    return values
