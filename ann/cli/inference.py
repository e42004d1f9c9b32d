"""``ann evaluate`` and ``ann predict``: a saved model applied to data.

``evaluate`` scores a model on the test split of its data set or on a labelled CSV file;
``predict`` classifies IDX files, PNG or PGM drawings (framed as MNIST's digits are, unless
--raw) and the rows of CSV files, one line or JSON object per example.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import ann

from .._confusion import confusion_matrix, format_confusion
from .._csv import read_table, table_dataset
from .._datasets import DATASETS, classes_of
from .._errors import AnnError, DataError
from .._idx import read_images
from .._images import read_gray_image, read_image
from .._preprocess import looks_inverted, mnist_preprocess
from ._load import load_data, source_where
from ._options import is_csv, label_column
from ._output import note, say


def _class_name(net: ann.Network, k: int) -> str:
    return net.classes[k] if net.classes is not None else str(k)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """ann evaluate: loss, accuracy, per-class accuracy and confusion matrix of a model on the
    test split of its data set, or on the labelled rows of a CSV file."""
    net = ann.Network.load(args.model)
    if is_csv(args.data):
        table = read_table(args.data, label=label_column(args.label), width=net.sizes[0])
        if table.labels is None:
            raise DataError(
                f"rows have the model's {net.sizes[0]} features but no label column to "
                f"evaluate against (ann predict classifies such rows)",
                path=args.data,
            )
        classes = net.classes or [str(k) for k in range(net.sizes[-1])]
        test = table_dataset(table, args.data, classes)  # the file is read once
        where, what = args.data, f"{len(test)} rows from {args.data}"
    else:
        if args.dataset is None:  # the one the model was trained on
            trained_on = net.metadata.get("dataset")
            args.dataset = trained_on if trained_on in DATASETS else "mnist"
        source, _, test = load_data(args, quiet=args.json, test_only=True)
        where = source_where(source)
        what = f"{len(test)} test images from {source.kind} ({where})"
    if test.features != net.sizes[0]:
        raise DataError(
            f"{args.model}: the model takes {net.sizes[0]} inputs but the test "
            f"images have {test.features} pixels"
        )
    result = net.evaluate(test)
    predicted = net.predict(test)
    matrix = confusion_matrix(list(test.labels), predicted, net.sizes[-1])
    per_class = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(matrix)]
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "data": where,
                    "images": len(test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    "confusion_matrix": matrix,
                    "per_class_accuracy": per_class,
                    "classes": [_class_name(net, k) for k in range(net.sizes[-1])],
                }
            )
        )
        return 0
    say(
        f"model: {args.model} ({'-'.join(map(str, net.sizes))}"
        f"{', batch norm' if net.batchnorm else ''})"
    )
    say(f"data: {what}")
    say(f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f}")
    say("")
    if net.classes is not None:
        say("classes: " + ", ".join(f"{k} {name}" for k, name in enumerate(net.classes)))
    say(format_confusion(matrix))
    return 0


def _predict_inputs(args: argparse.Namespace, features: int) -> Iterator[tuple[str, Any]]:
    """(name, pixels) for every image in the files given."""
    for path in args.files:
        with open(path, "rb") as f:  # a missing file fails here, with its name
            head = f.read(4)
        is_idx = len(head) == 4 and head[:2] == b"\0\0" or head[:2] == b"\x1f\x8b"
        if is_idx:
            images = read_images(path)
            size = images.rows * images.cols
            if size != features:
                raise DataError(
                    f"images are {images.rows}x{images.cols} but the model takes {features} pixels",
                    path=path,
                )
            for i in range(images.count):
                yield f"{path}[{i}]", images.data[i * size : (i + 1) * size]
        else:
            side = int(round(math.sqrt(features)))
            if side * side != features:
                raise DataError(
                    f"the model takes {features} inputs, which is not a square "
                    f"image, so it cannot read PNG or PGM images; give an IDX "
                    f"file of {features}-pixel images",
                    path=path,
                )
            if args.raw:
                pixels = read_image(path, expect=(side, side))
                width = height = side
            else:  # any size: framed as MNIST's digits below
                width, height, pixels = read_gray_image(path)
            if args.invert:
                pixels = bytes(255 - v for v in pixels)
            elif looks_inverted(pixels, width=width):
                note(
                    f"{path}: looks like dark ink on a light background; MNIST digits are "
                    f"light on dark (try --invert)"
                )
            if not args.raw:
                pixels = mnist_preprocess(pixels, width, height, size=side, path=path)
            yield path, pixels


def _float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32: all the precision the network
    computed, without the digits of its float64 widening (0.7579806, not 0.7579805850982666)."""
    exact = struct.pack("<f", value)
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == exact:
            return short
    return value


def _predict_csv(args: argparse.Namespace, net: ann.Network, path: str) -> None:
    """One line (or JSON object) per row of a CSV file: the class name and its probability.
    A row holds the model's features, with or without the label column (--label)."""
    table = read_table(path, label=label_column(args.label), width=net.sizes[0])
    probs = net.predict_proba(table.features)
    for line, p in zip(table.lines, probs):
        _say_prediction(args, {"file": path, "line": line}, p, lambda k: _class_name(net, k))


def cmd_predict(args: argparse.Namespace) -> int:
    """ann predict: the class and its probability of every image or CSV row given."""
    net = ann.Network.load(args.model)
    tables = [path for path in args.files if is_csv(path)]
    for path in tables:
        _predict_csv(args, net, path)
    args.files = [path for path in args.files if not is_csv(path)]
    if not args.files:
        return 0
    inputs = list(_predict_inputs(args, net.sizes[0]))
    for name, pixels in inputs:  # each image is one row of the model's input, no more
        if len(pixels) != net.sizes[0]:
            raise DataError(
                f"{name}: image has {len(pixels)} pixels but the model takes {net.sizes[0]} inputs"
            )
    names = getattr(net, "classes", None) or classes_of(net.metadata.get("dataset"))
    if names is not None and len(names) != net.sizes[-1]:
        names = None  # a model whose outputs are not the data set's classes
    probs = net.predict_proba(b"".join(pixels for _, pixels in inputs))
    if len(probs) != len(inputs):
        raise AnnError(f"internal error: {len(inputs)} images gave {len(probs)} predictions")
    for (name, _), p in zip(inputs, probs):
        _say_prediction(args, {"file": name}, p, None if names is None else names.__getitem__)
    return 0


def _say_prediction(
    args: argparse.Namespace,
    where: dict[str, Any],
    p: Sequence[float],
    name_of: Callable[[int], str] | None,
) -> None:
    """One example's prediction: with --json an object (``where``, the class, its name when
    ``name_of`` gives one, the probabilities), else a line "FILE[:LINE]: NAME (p = 0.987)"."""
    best = max(range(len(p)), key=p.__getitem__)
    name = name_of(best) if name_of is not None else None
    if args.json:
        print(
            json.dumps(
                {
                    **where,
                    "class": best,
                    **({"name": name} if name is not None else {}),
                    "probability": _float32(p[best]),
                    "probabilities": [_float32(v) for v in p],
                }
            )
        )
    else:
        place = ":".join(map(str, where.values()))
        say(f"{place}: {name if name is not None else best} (p = {p[best]:.3f})")
