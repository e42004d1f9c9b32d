"""Data sets: uint8 pixels or float32 features, one example per row, with int32 labels and/or
float32 targets.

A ``Dataset`` keeps uint8 pixels exactly as read (one byte per pixel) and float features as
float32, and never expands either to Python floats: the C core turns the rows it needs into
a float batch itself (pixels / 255, floats as they are). Slices, subsets and splits are
views: they share the feature and label buffers and hold only an index array of int32 row
numbers.

The one input rule, for ``Dataset`` and for ``Network.predict``: uint8 data (``bytes``,
``bytearray``, ``array('B')``, a uint8 buffer such as a NumPy ``uint8`` array) is pixels,
read as value / 255; any other numbers (float16/32/64 or integer buffers, ``array.array``
of those, lists of numbers or of rows) are features, used as they are. Buffers are read
through ``memoryview`` (element type, shape, C-contiguity), so NumPy is never imported. A
pandas DataFrame is a table of features (any numeric column types, bool as 0/1; its column
names become ``feature_names``) and a Series one column, read through their own NumPy
arrays without importing pandas (``_frame.py``).
"""

from __future__ import annotations

import math
import numbers
import operator
import random
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Union

from ._errors import DataError
from ._frame import frame_values, is_frame, is_series, series_array

Shape = Union[int, Sequence[int], None]
Features = Union[bytes, "array[float]"]

_MAX_CLASSES = 1 << 24  # the widest layer the core builds
# memoryview format letters by kind; the item size comes from the buffer itself
_SIGNED, _UNSIGNED, _FLOATS = "bhilqn", "BHILQN", "efd"
_ARRAY_CODES = {
    ("i", 1): "b",
    ("i", 2): "h",
    ("i", 4): "i",
    ("i", 8): "q",
    ("u", 1): "B",
    ("u", 2): "H",
    ("u", 4): "I",
    ("u", 8): "Q",
    ("f", 4): "f",
    ("f", 8): "d",
}
_NAMES = {"i": "int", "u": "uint", "f": "float"}


class Buffers(NamedTuple):
    """What ``Dataset.buffers`` returns: everything a backend reads a batch from (and
    ``Dataset.target_buffer``, the float targets)."""

    images: Features  # (n_rows, features) uint8 bytes or array('f') of the base set, shared
    labels: array[int] | None  # (n_rows) int32 labels of the base data set, shared, or None
    n_rows: int  # rows in the base data set
    rows: array[int] | None  # this data set's items as int32 rows of the base, or None: 0..len-1


def _as_bytes(data: Any, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, array):
        if data.typecode not in "bB":
            raise DataError(
                f"{what} must hold uint8 values, got an array of type {data.typecode!r}"
            )
        return data.tobytes()
    try:
        return bytes(data)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be bytes or a sequence of ints 0..255 ({exc})") from None


# ---- reading any buffer -------------------------------------------------------------------


class _Buffer(NamedTuple):
    kind: str  # "i", "u" or "f"
    itemsize: int
    shape: tuple[int, ...]
    values: Any  # array of the native type (or a list, for float16)


def _read_buffer(data: Any, what: str) -> _Buffer | None:
    """The contents of an object with the buffer protocol (None if it has none), checked:
    C-contiguous, a numeric element type, native or swapped byte order."""
    if isinstance(data, array):  # flat, native: no memoryview needed
        code = data.typecode
        if code in "uw":
            raise DataError(f"{what}: an array of type {code!r} holds text, not numbers")
        kind = "f" if code in "fd" else "u" if code in _UNSIGNED else "i"
        return _Buffer(kind, data.itemsize, (len(data),), data)
    try:
        view = memoryview(data)
    except TypeError:
        return None
    except (ValueError, BufferError) as exc:  # e.g. NumPy's datetime64: no buffer format
        raise DataError(f"{what}: cannot be read as numbers ({exc})") from None
    fmt = view.format
    order = fmt[0] if fmt and fmt[0] in "@=<>!" else "@"
    letter = fmt[1:] if order != "@" or fmt[:1] == "@" else fmt
    if letter in _SIGNED:
        kind = "i"
    elif letter in _UNSIGNED:
        kind = "u"
    elif letter in _FLOATS:
        kind = "f"
    else:
        described = {"?": "bool", "c": "char", "O": "Python objects"}.get(letter, repr(fmt))
        raise DataError(
            f"{what}: element type {described} is not supported (uint8 pixels, other "
            f"integers or float16/32/64 features)"
        )
    if view.ndim == 0:
        raise DataError(f"{what} is a single number (0-dimensional), not rows of values")
    if not view.c_contiguous:
        raise DataError(
            f"{what} is not C-contiguous (a transposed or strided view): make a contiguous "
            f"copy first (numpy.ascontiguousarray)"
        )
    itemsize = view.itemsize
    shape = tuple(view.shape or ())
    raw = view.tobytes()
    swapped = (order in ">!" and sys.byteorder == "little") or (
        order == "<" and sys.byteorder == "big"
    )
    if kind == "f" and itemsize == 2:  # float16: no array type; unpacked as Python floats
        if swapped:
            halves = array("H")
            halves.frombytes(raw)
            halves.byteswap()
            raw = halves.tobytes()
        return _Buffer(kind, 2, shape, list(struct.unpack(f"{len(raw) // 2}e", raw)))
    typecode = _ARRAY_CODES.get((kind, itemsize))
    if typecode is None:
        raise DataError(f"{what}: {itemsize}-byte {_NAMES[kind]} elements are not supported")
    values: Any = array(typecode)
    values.frombytes(raw)
    if swapped:
        values.byteswap()
    return _Buffer(kind, itemsize, shape, values)


def _to_float32(values: Any, what: str, noun: str = "features") -> array[float]:
    """Numbers -> array('f'), refusing NaN, infinities and values beyond float32's range
    (``noun`` names the values in the message)."""
    try:
        out = values if isinstance(values, array) and values.typecode == "f" else array("f", values)
    except (TypeError, ValueError, OverflowError):
        for i, v in enumerate(values):
            if isinstance(v, (bool, str, bytes)) or not isinstance(v, numbers.Real):
                raise DataError(f"{what}: value {i} is {v!r}, not a number") from None
        raise DataError(f"{what}: a value is too large for float32") from None
    # float32 values sum without overflow in float64, so the sum is finite iff all are
    if not math.isfinite(sum(out)):
        bad = next(i for i, v in enumerate(out) if not math.isfinite(v))
        src = values[bad] if not isinstance(values, array) or values.typecode != "f" else out[bad]
        note = "" if not math.isfinite(src) else " (beyond float32's range)"
        raise DataError(
            f"{what}: value {bad} is {src!r}{note}; {noun} must be finite (no NaN or infinity)"
        )
    return out


def read_targets(data: Any, what: str = "targets") -> tuple[array[float], int]:
    """(values flat as float32, T columns) of float targets: a 1-D buffer or list of numbers
    (one target per row, T = 1), or a 2-D buffer or list of rows (T per row), or a pandas
    Series (T = 1) or DataFrame (its columns). Every value must be finite."""
    if is_frame(data):  # read through its own NumPy array (_frame.py)
        table, width, _ = frame_values(data, what)
        return table, width
    if is_series(data):
        data = series_array(data, what)
    buf = _read_buffer(data, what) if not isinstance(data, (list, tuple, range)) else None
    if buf is not None:
        if len(buf.shape) > 2:
            raise DataError(
                f"{what} must be 1-D (one per row) or 2-D (rows), got shape {buf.shape}"
            )
        T = buf.shape[1] if len(buf.shape) == 2 else 1
        if T < 1:
            raise DataError(f"{what} has shape {buf.shape}: no target columns")
        return _to_float32(buf.values, what, "targets"), T
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise DataError(
            f"{what} must be numbers, rows of numbers or a buffer (such as a NumPy array), "
            f"not {type(data).__name__}"
        )
    rows = list(data)
    if not rows:
        raise DataError(f"{what} is empty")
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in rows):
        return _to_float32(rows, what, "targets"), 1
    flat: list[Any] = []
    width = -1
    for i, r in enumerate(rows):
        if isinstance(r, (str, bytes)) or not hasattr(r, "__iter__"):
            raise DataError(f"{what}: row {i} is {r!r}, not a number or a row of numbers")
        values = list(r)
        if width < 0:
            width = len(values)
        if len(values) != width or not values:
            raise DataError(f"{what}: row {i} has {len(values)} values, row 0 has {width}")
        flat.extend(values)
    return _to_float32(flat, what, "targets"), width


def read_features(data: Any, what: str = "images") -> tuple[str, Features, tuple[int, ...] | None]:
    """(dtype "uint8" or "float32", the values flat, the shape of one row if the data tells)
    from any input the one rule above accepts."""
    if isinstance(data, (bytes, bytearray)):
        return "uint8", bytes(data), None
    if is_frame(data):  # a table: float32 features whatever its column types (_frame.py)
        table, width, _ = frame_values(data, what)
        return "float32", table, (width,)
    if is_series(data):
        data = series_array(data, what)
    if isinstance(data, Images):
        ds = data._ds
        return ds.dtype, data._values(), ds.shape
    buf = _read_buffer(data, what)
    if buf is not None:
        row = buf.shape[1:] or None
        if buf.kind == "u" and buf.itemsize == 1:
            return "uint8", buf.values.tobytes(), row
        return "float32", _to_float32(buf.values, what), row
    if isinstance(data, (str, dict)) or not hasattr(data, "__iter__"):
        raise DataError(
            f"{what} must be bytes, an array, a buffer (such as a NumPy array) or a list of "
            f"rows, not {type(data).__name__}"
        )
    rows = list(data)
    if not rows:
        raise DataError(f"{what} is empty")
    first = rows[0]
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return "float32", _to_float32(rows, what), None
    if all(isinstance(r, (bytes, bytearray)) for r in rows):  # rows of pixels
        width = len(first)
        for i, r in enumerate(rows):
            if len(r) != width:
                raise DataError(f"{what}: row {i} has {len(r)} values, row 0 has {width}")
        return "uint8", b"".join(rows), (width,)
    flat: list[Any] = []
    width = -1
    for i, r in enumerate(rows):
        try:
            values = list(r)
        except TypeError:
            raise DataError(
                f"{what}: row {i} is {type(r).__name__}, not a row of numbers"
            ) from None
        if width < 0:
            width = len(values)
        if len(values) != width or not values:
            raise DataError(f"{what}: row {i} has {len(values)} values, row 0 has {width}")
        flat.extend(values)
    return "float32", _to_float32(flat, what), (width,)


def read_labels(data: Any, what: str = "labels") -> array[int]:
    """Integer labels >= 0 from bytes, an integer array or buffer, or a list of ints, as
    int32."""
    if isinstance(data, (bytes, bytearray)):
        return array("i", memoryview(data))
    if is_series(data):  # its own NumPy array (_frame.py)
        data = series_array(data, what)
    buf = _read_buffer(data, what) if not isinstance(data, (list, tuple, range)) else None
    if buf is not None:
        if buf.kind == "f":
            raise DataError(
                f"{what} must be integers, got {8 * buf.itemsize}-bit floats (class "
                f"indices: convert them, e.g. .astype(int))"
            )
        if len(buf.shape) != 1:
            raise DataError(f"{what} must be 1-dimensional, got shape {buf.shape}")
        values: Any = buf.values
    else:
        if isinstance(data, (str, dict)) or not hasattr(data, "__iter__"):
            raise DataError(f"{what} must be a sequence of ints, not {type(data).__name__}")
        values = []
        for i, v in enumerate(data):
            try:
                if isinstance(v, bool) or type(v).__name__ in ("bool_", "bool"):
                    raise TypeError
                values.append(operator.index(v))
            except TypeError:
                hint = (
                    " (string labels: give class indices, or read the file with ann.load_csv)"
                    if isinstance(v, str)
                    else ""
                )
                raise DataError(f"{what}: label {i} is {v!r}, not an integer{hint}") from None
    if len(values) and min(values) < 0:
        at = next(i for i, v in enumerate(values) if v < 0)
        raise DataError(f"{what}: label {at} is {values[at]}, and labels must be >= 0")
    try:
        return (
            values if isinstance(values, array) and values.typecode == "i" else array("i", values)
        )
    except OverflowError:
        raise DataError(f"{what}: a label is beyond 2^31 - 1") from None


class Images:
    """The rows of a data set as a read-only sequence (each a ``bytes`` of D pixels, or an
    ``array('f')`` of D features)."""

    def __init__(self, dataset: Dataset) -> None:
        self._ds = dataset

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, i: int) -> Any:
        row = self._ds._row(i)
        D = self._ds.features
        return self._ds._images[row * D : (row + 1) * D]

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._ds),) + self._ds.shape

    def _values(self) -> Features:
        """All rows, concatenated, in the data set's own type (bytes or array('f'))."""
        ds = self._ds
        D = ds.features
        if ds._index is None:
            return ds._images[ds._start * D : (ds._start + len(ds)) * D]
        if ds.dtype == "uint8":
            return b"".join(ds._images[i * D : (i + 1) * D] for i in ds._index)
        out = array("f")
        for i in ds._index:
            out.extend(ds._images[i * D : (i + 1) * D])
        return out

    def tobytes(self) -> bytes:
        """All rows, concatenated: the pixels, or the float32 features' bytes (a copy only when
        the data set is a non-contiguous view)."""
        values = self._values()
        return values if isinstance(values, bytes) else values.tobytes()


class Dataset:
    """Examples (one per row) with integer labels and/or float targets: uint8 pixels or float32
    features.

    ``Dataset(images, labels, shape=None, *, targets=None)``: ``images`` is uint8 pixels
    (``bytes``, a uint8 array or buffer: each read as value / 255 when a batch is formed) or
    numbers of any other type (float or integer buffers such as NumPy arrays,
    ``array.array``, lists of rows: float32 features, used as they are). ``labels`` holds one
    integer >= 0 per row (bytes, any integer array or buffer, a list of ints): class indices,
    what a classification head reads. ``targets`` holds float targets, what the heads other
    than softmax + cross-entropy read: one number per row (a 1-D buffer or list: a regression
    with one output, or a binary 0/1) or T per row (a 2-D buffer or a list of rows: several
    outputs, or multi-label 0/1); they must be finite. Give labels, targets or both (then with
    one row each). A head that needs float targets reads one-hot(labels) from a data set
    with only labels (so MNIST trains with the sigmoid + MSE head as in Nielsen's book).
    ``shape`` is the shape of one row (``(28, 28)``) or its number of features; by default it
    comes from the data (a 2-D or 3-D buffer, rows of a list) or is ``len(images) / rows``.
    ``num_classes`` defaults to ``len(classes)`` when class names are given, else the largest
    label + 1 (at least 2); 0 without labels. ``classes`` names each class index
    (``load_csv`` fills it from string labels, ``load_dataset`` from the data set's
    publication); also settable later as an attribute. Float features must be finite.
    """

    def __init__(
        self,
        images: Any,
        labels: Any = None,
        shape: Shape = None,
        *,
        targets: Any = None,
        num_classes: int | None = None,
        classes: Sequence[str] | None = None,
        name: str = "dataset",
    ) -> None:
        self.name = name
        if labels is None and targets is None:
            raise DataError(f"{name}: give labels (class indices), targets (float values), or both")
        self._labels: array[int] | None = None
        self._targets: array[float] | None = None
        #: float targets per row (0 without targets)
        self.num_targets = 0
        if labels is not None:
            self._labels = read_labels(labels, f"{name}: labels")
            n = len(self._labels)
            if n == 0:
                raise DataError(f"{name} has no labels")
        if targets is not None:
            self._targets, self.num_targets = read_targets(targets, f"{name}: targets")
            rows = len(self._targets) // self.num_targets
            if labels is None:
                n = rows
            elif rows != n:
                raise DataError(
                    f"{name}: {rows} rows of targets for {n} labels (one of each per row)"
                )
            if len(self._targets) != n * self.num_targets or n == 0:
                raise DataError(f"{name}: targets do not make whole rows of {self.num_targets}")
        if n >= 2**31:
            raise DataError(f"{name}: {n} images is more than this version supports (2^31 - 1)")
        self.dtype, self._images, row_shape = read_features(images, f"{name}: images")
        if shape is None:
            if row_shape is not None:
                shape = row_shape
            elif len(self._images) % n == 0 and self._images:
                shape = len(self._images) // n
            else:
                raise DataError(
                    f"{name}: {len(self._images)} values of images do not make {n} rows "
                    f"(one per {'label' if labels is not None else 'row of targets'})"
                )
        self.shape: tuple[int, ...] = (shape,) if isinstance(shape, int) else tuple(shape)
        if not self.shape or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.shape
        ):
            raise DataError(f"shape must be positive ints, got {shape!r}")
        self.features = 1
        for s in self.shape:
            self.features *= s
        what = "bytes" if self.dtype == "uint8" else "values"
        if len(self._images) != n * self.features:
            raise DataError(
                f"{name}: {len(self._images)} {what} of images do not make {n} images "
                f"of {self.features} {'pixels' if what == 'bytes' else 'features'} "
                f"({n * self.features} {what})"
            )
        if self._labels is None:
            if classes is not None or num_classes is not None:
                raise DataError(f"{name}: classes and num_classes need labels")
            self.num_classes = 0
            self.classes: list[str] | None = None
        else:
            self._set_classes(self._labels, num_classes, classes, name)
        #: the name of each feature (a CSV file's header, a DataFrame's columns), or None
        self.feature_names: list[str] | None = (
            [str(c) for c in images.columns] if is_frame(images) else None
        )
        self._rows = n  # rows of the base data set (views share its buffers)
        self._start = 0  # a contiguous view covers base rows start..start+len
        self._len = n
        self._index: array[int] | None = None  # or int32 base-row numbers of a gathered view

    def _set_classes(
        self,
        labels: array[int],
        num_classes: int | None,
        classes: Sequence[str] | None,
        name: str,
    ) -> None:
        """num_classes and classes, checked against the labels."""
        top = max(labels)
        if classes is not None:
            classes = [str(c) if not isinstance(c, str) else c for c in classes]
            if len(set(classes)) != len(classes):
                raise DataError(f"{name}: classes has repeated names: {classes}")
            if num_classes is None:
                num_classes = len(classes)
            elif len(classes) != num_classes:
                raise DataError(f"{name}: {len(classes)} class names for num_classes {num_classes}")
        if num_classes is None:
            num_classes = max(2, top + 1)
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, int)
            or not 2 <= num_classes <= _MAX_CLASSES
        ):
            raise DataError(f"num_classes must be an int in 2..{_MAX_CLASSES}, got {num_classes!r}")
        if top >= num_classes:
            at = next(i for i, v in enumerate(labels) if v >= num_classes)
            raise DataError(
                f"{name}: label {labels[at]} of image {at} is outside 0..{num_classes - 1}"
            )
        self.num_classes = num_classes
        #: the name of each class index (``None``: the indices themselves)
        self.classes = list(classes) if classes is not None else None
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise DataError(
                f"{name}: {len(self.classes)} class names for {self.num_classes} classes"
            )

    # ---- views ----------------------------------------------------------------------------

    def _view(self, start: int, length: int, index: array[int] | None) -> Dataset:
        view = object.__new__(Dataset)
        view.__dict__.update(self.__dict__)
        view._start, view._len, view._index = start, length, index
        return view

    def __len__(self) -> int:
        return self._len

    def _row(self, i: int) -> int:
        """Base row number of item i (negative i counts from the end)."""
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} out of range for a data set of {self._len} images")
        i %= self._len
        return self._index[i] if self._index is not None else self._start + i

    def __getitem__(self, key: int | slice) -> Any:
        """``ds[i]`` -> (row, label): the row as bytes (pixels) or array('f') (features), and
        its label (or, in a data set without labels, its targets as an array('f'));
        ``ds[i:j]`` -> a view of those rows."""
        if isinstance(key, slice):
            start, stop, step = key.indices(self._len)
            if self._index is None and step == 1:
                return self._view(self._start + start, max(0, stop - start), None)
            return self.subset(range(start, stop, step))
        if not isinstance(key, int):
            raise TypeError(f"data set indices must be ints or slices, not {type(key).__name__}")
        row = self._row(key)
        D, T = self.features, self.num_targets
        if self._labels is None:
            assert self._targets is not None
            return self._images[row * D : (row + 1) * D], self._targets[row * T : (row + 1) * T]
        return self._images[row * D : (row + 1) * D], self._labels[row]

    def subset(self, indices: Sequence[int]) -> Dataset:
        """A view of the given items (positions in this data set, in this order)."""
        rows = array("i")
        n = self._len
        for i in indices:
            if not isinstance(i, int) or not 0 <= i < n:
                raise IndexError(f"subset index {i!r} out of range for a data set of {n} images")
            rows.append(self._index[i] if self._index is not None else self._start + i)
        return self._view(0, len(rows), rows)

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """(rest, part): a random ``fraction`` of the items goes to ``part``, seeded.

        ``train.split(0.2, seed=0)`` gives MNIST's 48,000 / 12,000 train/validation split, the
        one ``ann train`` makes with its default ``--seed 0``."""
        if not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction!r}")
        n_part = int(round(self._len * fraction))
        if n_part < 1 or n_part >= self._len:
            raise ValueError(f"a fraction of {fraction} of {self._len} items leaves one side empty")
        order = list(range(self._len))
        random.Random(seed).shuffle(order)
        return self.subset(sorted(order[n_part:])), self.subset(sorted(order[:n_part]))

    # ---- contents ---------------------------------------------------------------------------

    @property
    def images(self) -> Images:
        return Images(self)

    @property
    def has_labels(self) -> bool:
        """Does the data set hold class labels? (Else it holds only float targets.)"""
        return self._labels is not None

    @property
    def labels(self) -> array[int]:
        """The labels, as an int32 array (DataError for a data set of float targets only)."""
        labels = self._labels
        if labels is None:
            raise DataError(
                f"{self.name} has no labels, only float targets ({self.num_targets} per row: "
                f"see .targets)"
            )
        if self._index is None:
            return labels[self._start : self._start + self._len]
        return array("i", (labels[i] for i in self._index))

    @property
    def targets(self) -> array[float] | None:
        """The float targets, ``num_targets`` per row, as one float32 array (row after row),
        or None when the data set has none."""
        targets, T = self._targets, self.num_targets
        if targets is None:
            return None
        if self._index is None:
            return targets[self._start * T : (self._start + self._len) * T]
        out = array("f")
        for i in self._index:
            out.extend(targets[i * T : (i + 1) * T])
        return out

    def target_buffer(self) -> array[float] | None:
        """The float targets of the whole data set this one is a view of (shared, never
        copied; rows as ``buffers()`` numbers them), or None: what a backend reads."""
        return self._targets

    def index_array(self) -> array[int]:
        """Base-row numbers of this data set's items, as int32 (what the C core takes)."""
        if self._index is not None:
            return array("i", self._index)
        return array("i", range(self._start, self._start + self._len))

    def buffers(self) -> Buffers:
        """(images, labels, n_rows, rows): the features (uint8 bytes or array('f')) and int32
        labels (None without labels) of the whole data set this one is a view of (shared,
        never copied), its number of images, and this data set's items as int32 row numbers
        into them -- or None when they are rows 0..len(self) - 1 in order. This is what a
        backend needs to read any batch of this data set in place (with ``target_buffer``)."""
        rows = None if self._index is None and self._start == 0 else self.index_array()
        return Buffers(self._images, self._labels, self._rows, rows)

    def __repr__(self) -> str:
        rows = "images" if self.dtype == "uint8" else "rows"
        what = []
        if self._labels is not None:
            what.append(f"{self.num_classes} classes")
        if self._targets is not None:
            what.append(f"{self.num_targets} target{'s' if self.num_targets > 1 else ''}")
        return (
            f"<ann.Dataset {self.name!r}: {self._len} {rows}"
            f" of shape {'x'.join(map(str, self.shape))} ({self.dtype}), "
            f"{', '.join(what)}>"
        )

    def feature_stats(self) -> tuple[list[float], list[float]]:
        """(mean, standard deviation) of each feature over this data set's rows, as the network
        sees them (pixels / 255, floats as they are): the population standard deviation
        (divided by n), computed in float64 in two passes; exactly 0 for a constant feature."""
        values = self.images._values()
        n, D = len(self), self.features
        scale = 1.0 / 255.0 if self.dtype == "uint8" else 1.0
        means, stds = [], []
        for j in range(D):
            column = values[j::D]
            if min(column) == max(column):
                means.append(column[0] * scale)
                stds.append(0.0)
                continue
            mean = math.fsum(column) / n
            var = math.fsum((v - mean) ** 2 for v in column) / n
            means.append(mean * scale)
            stds.append(math.sqrt(var) * scale)
        return means, stds


def one_hot(labels: Sequence[int], num_classes: int = 10) -> list[list[float]]:
    """Each label as a list of ``num_classes`` floats with a 1.0 at the label's position."""
    rows = []
    for i, label in enumerate(labels):
        if not isinstance(label, int) or not 0 <= label < num_classes:
            raise ValueError(f"label {label!r} at position {i} is outside 0..{num_classes - 1}")
        row = [0.0] * num_classes
        row[label] = 1.0
        rows.append(row)
    return rows


def scale_pixels(pixels: Any) -> array[float]:
    """uint8 pixels -> float32 values in [0, 1] (x / 255), as the C core does per batch. Only
    a scaling: the per-feature standardisation (x - mean) / std is ``Network``'s
    ``standardize``."""
    data = _as_bytes(pixels, "pixels")
    scale = 1.0 / 255.0
    return array("f", [v * scale for v in data])
