"""``MLPClassifier``'s inputs as scikit-learn accepts them, read without importing NumPy: X as a
2-D buffer (a NumPy array through memoryview), a DataFrame or a list of rows, every value a
finite number; y as any hashable, sortable labels (a column vector read as 1-D, with
scikit-learn's warning). The error messages use scikit-learn's wording where its
``check_estimator`` suite looks for it.
"""

from __future__ import annotations

import math
import sys
import warnings
from array import array
from collections.abc import Hashable, Sequence
from typing import Any

from ._data import _read_buffer, _to_float32
from ._errors import DataConversionWarning, sklearn_class


def caller_numpy(data: Any) -> Any:
    """The caller's NumPy module when ``data`` is an array of it (or has ``__array__``), else
    None. NumPy is never imported here: it is taken from sys.modules."""
    if isinstance(data, (list, tuple, array, bytes, bytearray, memoryview)):
        return None
    if not hasattr(data, "__array__") and not _is_sparse(data):
        return None
    return sys.modules.get("numpy")


def _is_sparse(X: Any) -> bool:
    """A SciPy sparse matrix or array (recognised without importing SciPy)."""
    module = type(X).__module__ or ""
    return module.startswith("scipy.sparse") or (hasattr(X, "tocsr") and hasattr(X, "nnz"))


def read_X(X: Any, what: str = "X") -> tuple[array[float], int, int]:
    """(float32 values row by row, n_samples, n_features) from a 2-D buffer (a NumPy array
    through memoryview), a DataFrame, or a list of rows; every value must be a finite number."""
    if X is None:
        raise ValueError(f"{what} is None: expected a 2-D array (n_samples, n_features)")
    if _is_sparse(X):
        return _read_sparse(X, what)
    if hasattr(X, "to_numpy") and not hasattr(X, "__buffer__") and hasattr(X, "columns"):
        X = X.to_numpy()  # a DataFrame: its own NumPy array
    elif caller_numpy(X) is not None and not hasattr(X, "__buffer__"):
        X = caller_numpy(X).asarray(X)  # an array-like of the caller's NumPy
    try:
        view: memoryview | None = memoryview(X)
    except (TypeError, ValueError):  # no buffer, or NumPy's object arrays
        view = None
    if view is not None:
        if "Z" in view.format:
            raise ValueError(f"Complex data not supported: {what} holds complex numbers")
        if view.ndim != 2:
            raise ValueError(
                f"{what} must be 2-D (n_samples, n_features), got {view.ndim}-D of shape "
                f"{tuple(view.shape or ())}. Reshape your data: X.reshape(-1, 1) for a "
                f"single feature, X.reshape(1, -1) for a single sample"
            )
        n, d = view.shape  # type: ignore[misc]
        _check_size(n, d, what)
        if view.c_contiguous and view.format.lstrip("@=<>!") not in ("?", "O"):
            buf = _read_buffer(X, what)
            assert buf is not None
            return _finite(_to_float32(buf.values, what), what), n, d
        rows: list[Any] = X.tolist() if hasattr(X, "tolist") else view.tolist()
    elif isinstance(X, (str, bytes, dict)) or not hasattr(X, "__iter__"):
        raise ValueError(
            f"{what} must be a 2-D array or a list of rows, not {type(X).__name__}: "
            f"expected (n_samples, n_features)"
        )
    else:
        rows = X.tolist() if hasattr(X, "tolist") else list(X)
    n = len(rows)
    flat = array("d")
    d = -1
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            raise ValueError(
                f"{what} must be 2-D (n_samples, n_features), but row {i} is "
                f"{type(row).__name__}. Reshape your data: one list of values per sample"
            )
        values = list(row)
        if d < 0:
            d = len(values)
        if len(values) != d:
            raise ValueError(f"{what}: row {i} has {len(values)} values, row 0 has {d}")
        for j, v in enumerate(values):
            if isinstance(v, complex):
                raise ValueError(f"Complex data not supported: {what}[{i}, {j}] is {v!r}")
            try:
                flat.append(float(v))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{what}[{i}, {j}]: {exc}") from None
    _check_size(n, max(d, 0), what)
    return _finite(_to_float32(flat, what), what), n, d


def _read_sparse(X: Any, what: str) -> tuple[array[float], int, int]:
    """A SciPy sparse matrix (or array) as dense float32 rows, a block of rows at a time so
    that no more than one block is ever held densely besides the result."""
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    n, d = X.shape
    _check_size(n, d, what)
    rows = X.tocsr()
    out = array("f")
    block = max(1, (1 << 20) // d)
    for start in range(0, n, block):
        dense = rows[start : start + block].toarray()
        if dense.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {what} holds complex numbers")
        out.frombytes(dense.astype("<f4").tobytes())
    return _finite(out, what), n, d


def read_weights(sample_weight: Any, n: int) -> list[float]:
    """``sample_weight`` as n finite numbers >= 0 (scikit-learn's ``score`` argument)."""
    if hasattr(sample_weight, "tolist"):
        sample_weight = sample_weight.tolist()
    try:
        weights = [float(w) for w in sample_weight]
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight must be a 1-D sequence of {n} numbers, got "
            f"{type(sample_weight).__name__}"
        ) from None
    if len(weights) != n:
        raise ValueError(f"sample_weight has {len(weights)} values for {n} samples")
    if not all(0 <= w < math.inf for w in weights):
        raise ValueError("sample_weight must hold finite numbers >= 0")
    return weights


def _check_size(n: int, d: int, what: str) -> None:
    # scikit-learn's wording, which its checks look for
    if n == 0:
        raise ValueError(
            f"{what}: found array with 0 sample(s) (shape=(0, {d})) while a minimum of 1 is "
            f"required."
        )
    if d == 0:
        raise ValueError(
            f"{what}: found array with 0 feature(s) (shape=({n}, 0)) while a minimum of 1 is "
            f"required."
        )


def _finite(values: array[float], what: str) -> array[float]:
    # float32 values sum without overflow in float64, so the sum is finite iff all are
    if not math.isfinite(sum(values)):
        raise ValueError(f"{what} contains NaN or infinity: every value must be finite")
    return values


def read_y(y: Any, n: int | None) -> list[Any]:
    """The labels as a list of n (any number for None) hashable Python values (a column
    vector is read as 1-D, with a DataConversionWarning, as scikit-learn does)."""
    if y is None:
        raise ValueError("MLPClassifier requires y to be passed, but the target y is None")
    if hasattr(y, "to_numpy") and hasattr(y, "name"):
        y = y.to_numpy()  # a pandas Series
    elif not hasattr(y, "__iter__") and caller_numpy(y) is not None:
        y = caller_numpy(y).asarray(y)  # an array-like of the caller's NumPy
    if isinstance(y, (str, bytes)) or not hasattr(y, "__iter__"):
        raise ValueError(f"y should be a 1d array of labels, got {type(y).__name__}")
    values = y.tolist() if hasattr(y, "tolist") else list(y)
    if values and all(isinstance(v, (list, tuple)) for v in values):
        if all(len(v) == 1 for v in values):
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                sklearn_class(DataConversionWarning),
                stacklevel=4,
            )
            values = [v[0] for v in values]
        else:
            raise ValueError(
                "y should be a 1d array of labels: MLPClassifier predicts one label per sample "
                "(multi-output and multi-label targets are not supported)"
            )
    if n is not None and len(values) != n:
        raise ValueError(f"X has {n} samples but y has {len(values)} labels")
    for v in values:
        if isinstance(v, float):
            if math.isnan(v):
                raise ValueError("Input y contains NaN.")
            if math.isinf(v):
                raise ValueError(
                    "Input y contains infinity or a value too large for dtype('float64')."
                )
            if v != int(v):
                raise ValueError(
                    f"Unknown label type: continuous (y holds {v!r}). MLPClassifier is a "
                    f"classifier: y must hold class labels (ints, strings, ...)"
                )
        elif isinstance(v, (list, dict, set)) or not isinstance(v, Hashable):
            raise ValueError(f"Unknown label type: {type(v).__name__} labels cannot be classes")
    return values


def sorted_classes(labels: Sequence[Any]) -> list[Any]:
    try:
        return sorted(set(labels))
    except TypeError:
        kinds = sorted({type(v).__name__ for v in labels})
        raise TypeError(
            f"y mixes labels of types {', '.join(kinds)} that cannot be sorted: use labels "
            f"of one kind (all numbers or all strings)"
        ) from None
