"""Loading an IDX data set of the catalogue by name: ``ann.load_dataset`` and
``ann.load_mnist``.

``find_files`` (``_locate.py``) says where the set's four files are (a folder, the cache after
a download, or MNIST's built-in sample); ``read_parts`` reads them with the strict IDX reader
(``_idx.py``) into ``Dataset`` objects, with the catalogue's class names, labels counted from
0 and images upright (``_datasets.py`` records the sets whose files differ).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Union

from . import _idx
from ._data import Dataset
from ._datasets import DatasetSpec, get_spec
from ._errors import DataError
from ._locate import find_files

PathArg = Union[str, "os.PathLike[str]"]


def load_dataset(
    name: str,
    path: PathArg | None = None,
    *,
    download: bool = True,
    progress: bool = True,
) -> tuple[Dataset, Dataset]:
    """(train, test) of the IDX data set ``name``: ``"mnist"``, ``"fashion-mnist"``,
    ``"kmnist"``, ``"emnist-balanced"`` (47 classes), ``"emnist-letters"`` (26; the files'
    labels 1..26 become 0..25) or ``"emnist-digits"``.

    ``path`` is a folder holding the set's four IDX files (raw or .gz; for EMNIST also the
    ``gzip`` folder unpacked from NIST's zip). Without a path: ``$ANN_DATA``, else the user
    cache folder (MNIST at its top, every other set in a subfolder named after it), where the
    files are downloaded and verified when missing and ``download`` is true. Only MNIST falls
    back to the built-in sample (with a warning) when it cannot be had; any other set raises
    ``DataError``. Each data set's ``classes`` names its classes (``"T-shirt/top"``, ...), and
    EMNIST's images come out upright (the files store them transposed).
    """
    return load(name, path, download=download, progress=progress, stacklevel=3)


def load(
    name: str, path: PathArg | None, *, download: bool, progress: bool, stacklevel: int
) -> tuple[Dataset, Dataset]:
    """``load_dataset``, with the sample warning pointed ``stacklevel`` frames up."""
    spec = get_spec(name)
    source = find_files(spec, path, download=download, progress=progress)
    if source.kind == "sample" and path != "sample":
        warnings.warn(source.note, UserWarning, stacklevel=stacklevel)
    train, test = read_parts(spec, source.paths, ("train", "test"))
    return train, test


def read_parts(
    spec: DatasetSpec, paths: Mapping[str, Any], parts: Sequence[str] = ("train", "test")
) -> list[Dataset]:
    """The data sets of ``parts`` ("train", "test") from their IDX files in ``paths`` (keys
    as in ``KEYS``), with the spec's class names, labels from 0 and images upright."""
    read = []
    for part in parts:
        images = _idx.read_images(paths[f"{part}_images"])
        labels = _idx.read_labels(
            paths[f"{part}_labels"], num_classes=spec.num_classes + spec.label_offset
        )
        _idx.check_pair(images, labels)
        read.append((part, images, labels))
    stored = (read[0][1].rows, read[0][1].cols)
    shape = stored[::-1] if spec.transposed else stored  # transposed: the picture is cols x rows
    sets = []
    for part, images, labels in read:
        if (images.rows, images.cols) != stored:
            raise DataError(
                f"training images are {stored[0]}x{stored[1]} but test images are "
                f"{images.rows}x{images.cols}",
                path=images.path,
            )
        pixels = images.data
        if spec.transposed:
            pixels = _idx.transpose_images(pixels, images.count, images.rows, images.cols)
        sets.append(
            Dataset(
                pixels,
                _from_zero(labels, spec.label_offset),
                shape,
                num_classes=spec.num_classes,
                classes=spec.classes,
                name=part,
            )
        )
    return sets


def _from_zero(labels: Any, offset: int) -> bytes:
    """Labels ``offset..offset+K-1`` as ``0..K-1``; a label below ``offset`` is an error."""
    data: bytes = labels.data
    if not offset:
        return data
    if min(data) < offset:
        index = next(i for i, v in enumerate(data) if v < offset)
        raise DataError(
            f"label {index} is {data[index]}, but this data set numbers its classes from {offset}",
            path=labels.path,
            offset=8 + index,
        )
    return data.translate(bytes(max(v - offset, 0) for v in range(256)))


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
    return load("mnist", path, download=download, progress=progress, stacklevel=3)
