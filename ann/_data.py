"""Data sets held as raw uint8 bytes, and the MNIST loader.

A ``Dataset`` keeps the pixels exactly as read from the IDX file (one byte per pixel, one
image per row) and never expands them to Python floats: the C core turns the rows it needs
into a normalized float batch itself. Slices, subsets and splits are views: they share the
pixel bytes and hold only an index array of int32 row numbers.
"""

from __future__ import annotations

import os
import random
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Union

from ._errors import DataError

Shape = Union[int, Sequence[int]]


class Buffers(NamedTuple):
    """What ``Dataset.buffers`` returns: everything a backend reads a batch from."""

    images: bytes  # (n_rows, features) pixels of the base data set, shared, not copied
    labels: bytes  # (n_rows) labels of the base data set, shared
    n_rows: int  # images in the base data set
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


class Images:
    """The images of a data set as a read-only sequence of rows (each a ``bytes`` of D pixels)."""

    def __init__(self, dataset: Dataset) -> None:
        self._ds = dataset

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, i: int) -> bytes:
        row = self._ds._row(i)
        D = self._ds.features
        return self._ds._images[row * D : (row + 1) * D]

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self)):
            yield self[i]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._ds),) + self._ds.shape

    def tobytes(self) -> bytes:
        """All rows, concatenated (a copy only when the data set is a non-contiguous view)."""
        ds = self._ds
        D = ds.features
        if ds._index is None:
            return ds._images[ds._start * D : (ds._start + len(ds)) * D]
        return b"".join(ds._images[i * D : (i + 1) * D] for i in ds._index)


class Dataset:
    """Images (uint8, one per row) with integer labels.

    ``Dataset(images, labels, shape)``: ``images`` holds ``len(labels) * prod(shape)`` bytes,
    ``labels`` one int in ``0..num_classes-1`` per image, ``shape`` the shape of one image
    (``(28, 28)``) or its number of features. ``classes`` optionally names each class
    (a tuple of ``num_classes`` strings, also settable later as the ``classes`` attribute).
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        shape: Shape,
        *,
        num_classes: int = 10,
        classes: Sequence[str] | None = None,
        name: str = "dataset",
    ) -> None:
        self.shape: tuple[int, ...] = (shape,) if isinstance(shape, int) else tuple(shape)
        if not self.shape or any(not isinstance(s, int) or s < 1 for s in self.shape):
            raise DataError(f"shape must be positive ints, got {shape!r}")
        if not isinstance(num_classes, int) or not 2 <= num_classes <= 255:
            raise DataError(f"num_classes must be an int in 2..255, got {num_classes!r}")
        self._images = _as_bytes(images, "images")
        self._labels = _as_bytes(labels, "labels")
        self.features = 1
        for s in self.shape:
            self.features *= s
        n = len(self._labels)
        if n == 0:
            raise DataError(f"{name} has no labels")
        if len(self._images) != n * self.features:
            raise DataError(
                f"{name}: {len(self._images)} bytes of images do not make {n} images "
                f"of {self.features} pixels ({n * self.features} bytes)"
            )
        if n >= 2**31:
            raise DataError(f"{name}: {n} images is more than this version supports (2^31 - 1)")
        top = max(self._labels)
        if top >= num_classes:
            at = next(i for i, v in enumerate(self._labels) if v >= num_classes)
            raise DataError(
                f"{name}: label {self._labels[at]} of image {at} is outside 0..{num_classes - 1}"
            )
        self.num_classes = num_classes
        if classes is not None and len(classes) != num_classes:
            raise DataError(f"{name}: {len(classes)} class names for {num_classes} classes")
        #: the name of each class index, or None
        self.classes: tuple[str, ...] | None = tuple(classes) if classes is not None else None
        self.name = name
        self._start = 0  # a contiguous view covers base rows start..start+len
        self._len = n
        self._index: array[int] | None = None  # or int32 base-row numbers of a gathered view

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
        """``ds[i]`` -> (image bytes, label); ``ds[i:j]`` -> a view of those rows."""
        if isinstance(key, slice):
            start, stop, step = key.indices(self._len)
            if self._index is None and step == 1:
                return self._view(self._start + start, max(0, stop - start), None)
            return self.subset(range(start, stop, step))
        if not isinstance(key, int):
            raise TypeError(f"data set indices must be ints or slices, not {type(key).__name__}")
        row = self._row(key)
        D = self.features
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
    def labels(self) -> bytes:
        """The labels as bytes (a sequence of ints)."""
        if self._index is None:
            return self._labels[self._start : self._start + self._len]
        labels = self._labels
        return bytes(labels[i] for i in self._index)

    def index_array(self) -> array[int]:
        """Base-row numbers of this data set's items, as int32 (what the C core takes)."""
        if self._index is not None:
            return array("i", self._index)
        return array("i", range(self._start, self._start + self._len))

    def buffers(self) -> Buffers:
        """(images, labels, n_rows, rows): the pixel and label bytes of the whole data set this
        one is a view of (shared, never copied), its number of images, and this data set's
        items as int32 row numbers into them -- or None when they are rows 0..len(self) - 1 in
        order. This is what a backend needs to read any batch of this data set in place."""
        rows = None if self._index is None and self._start == 0 else self.index_array()
        return Buffers(self._images, self._labels, len(self._labels), rows)

    def __repr__(self) -> str:
        return (
            f"<ann.Dataset {self.name!r}: {self._len} images of shape "
            f"{'x'.join(map(str, self.shape))}, {self.num_classes} classes>"
        )


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


def normalize(pixels: Any) -> array[float]:
    """uint8 pixels -> float32 values in [0, 1] (x / 255), as the C core does per batch."""
    data = _as_bytes(pixels, "pixels")
    scale = 1.0 / 255.0
    return array("f", [v * scale for v in data])


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> tuple[Dataset, Dataset]:
    """(train, test) MNIST data sets: ``ann.load_dataset("mnist", ...)``.

    ``path`` is a folder holding the four IDX files (raw or .gz), or ``"sample"`` for the small
    sample built into the package. Without a path: ``$ANN_DATA``, else the user cache folder,
    downloading there when ``download`` is true, and falling back to the sample (with a warning)
    when the full set cannot be had. An explicit folder never falls back: its errors are raised.
    """
    from ._datasets import load

    return load("mnist", path, download=download, progress=progress, stacklevel=3)
