"""The estimators' inputs as scikit-learn accepts them, read without importing NumPy: X as a
2-D buffer (a NumPy array through memoryview), a DataFrame or a list of rows, every value a
finite number, and its feature names when it is a DataFrame; ``MLPClassifier``'s y as any
hashable, sortable labels (a column vector read as 1-D, with scikit-learn's warning);
``MLPRegressor``'s y as finite numbers, one column or several. The error messages use
scikit-learn's wording where its ``check_estimator`` suite looks for it.
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


def feature_names(X: Any) -> list[str] | None:
    """The column names of a DataFrame (anything with ``columns`` beside its values) when all
    are strings, else None, as scikit-learn's ``feature_names_in_``; a mix of string and
    other names is a TypeError, as there."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, (list, tuple, array, memoryview)):
        return None
    try:
        names = list(columns)
    except TypeError:
        return None
    kinds = sorted({"str" if isinstance(c, str) else type(c).__name__ for c in names})
    if "str" not in kinds:
        return None
    if len(kinds) > 1:
        raise TypeError(
            f"Feature names are only supported if all input features have string names, "
            f"but your input has {kinds} as feature name / column name types. If you want "
            f"feature names to be stored and validated, you must convert them all to "
            f"strings, by using X.columns = X.columns.astype(str) for example. Otherwise "
            f"you can remove feature / column names from your input data, or convert them "
            f"all to a non-string data type."
        )
    return [str(c) for c in names]


def check_feature_names(estimator: Any, names: list[str] | None) -> None:
    """X's feature names against those of the fit, as scikit-learn checks them: a warning
    when only one side has names, a ValueError listing the difference otherwise."""
    fitted = getattr(estimator, "feature_names_in_", None)
    fitted = None if fitted is None else [str(c) for c in fitted]
    kind = type(estimator).__name__
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {kind} was fitted without feature names",
            UserWarning,
            stacklevel=4,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {kind} was fitted with feature names",
            UserWarning,
            stacklevel=4,
        )
        return
    if names == fitted:
        return

    def listed(values: list[str]) -> str:
        shown = [f"- {v}\n" for v in values[:5]]
        return "".join(shown) + ("- ...\n" if len(values) > 5 else "")

    message = "The feature names should match those that were passed during fit.\n"
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    if unseen:
        message += "Feature names unseen at fit time:\n" + listed(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


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


def read_targets(y: Any, n: int) -> tuple[array[float], int]:
    """(float32 targets row by row, outputs per row) for a regressor: y is n numbers, or n
    rows of the same number of numbers (multi-output), every one finite."""
    if y is None:
        raise ValueError("MLPRegressor requires y to be passed, but the target y is None")
    if hasattr(y, "to_numpy") and (hasattr(y, "name") or hasattr(y, "columns")):
        y = y.to_numpy()  # a pandas Series or DataFrame
    elif not hasattr(y, "__iter__") and caller_numpy(y) is not None:
        y = caller_numpy(y).asarray(y)  # an array-like of the caller's NumPy
    if isinstance(y, (str, bytes)) or not hasattr(y, "__iter__"):
        raise ValueError(f"y should be an array of numbers, got {type(y).__name__}")
    values = y.tolist() if hasattr(y, "tolist") else list(y)
    if len(values) != n:
        raise ValueError(f"X has {n} samples but y has {len(values)} targets")
    one_d = not (values and isinstance(values[0], (list, tuple)))
    rows = [[v] for v in values] if one_d else [list(v) for v in values]
    width = len(rows[0]) if rows else 0
    flat = array("d")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"y: row {i} has {len(row)} targets, row 0 has {width}")
        for v in row:
            if isinstance(v, (str, bytes)):
                raise ValueError(
                    f"y holds the text {v!r}: MLPRegressor predicts numbers (for class "
                    f"labels use MLPClassifier)"
                )
            if isinstance(v, complex):
                raise ValueError("Complex data not supported: y holds complex numbers")
            try:
                flat.append(float(v))
            except (TypeError, ValueError):
                raise ValueError(f"y[{i}] is {v!r}, not a number") from None
    if width == 0:
        raise ValueError("y has no targets: each sample needs at least one")
    if not all(math.isfinite(v) for v in flat):
        if any(math.isnan(v) for v in flat):
            raise ValueError("Input y contains NaN.")
        raise ValueError("Input y contains infinity or a value too large for dtype('float64').")
    targets = array("f", flat)
    if not math.isfinite(sum(targets)):
        raise ValueError("y holds a value beyond float32's range (about 3.4e38)")
    return targets, width


def sorted_classes(labels: Sequence[Any]) -> list[Any]:
    try:
        return sorted(set(labels))
    except TypeError:
        kinds = sorted({type(v).__name__ for v in labels})
        raise TypeError(
            f"y mixes labels of types {', '.join(kinds)} that cannot be sorted: use labels "
            f"of one kind (all numbers or all strings)"
        ) from None
