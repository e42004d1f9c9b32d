"""``ann evaluate`` and ``ann predict``: a saved model applied to data.

``evaluate`` scores a model on the test split of its data set or on a labelled CSV file;
``predict`` classifies IDX files, PNG or PGM drawings (framed as MNIST's digits are, unless
--raw) and the rows of CSV files, one line or JSON object per example.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import ann

from .._confusion import format_confusion
from .._csv import read_table
from .._datasets import DATASETS, classes_of
from .._errors import AnnError, DataError
from .._files import regular_file
from .._idx import IdxImages, read_header, read_images
from .._images import read_gray_image, read_image
from .._preprocess import looks_inverted, mnist_preprocess
from ._load import load_data, source_where
from ._options import header_flag, is_csv
from ._output import UsageError, note, say
from ._table import labelled_rows, model_labels, numeric_rows, output_names

# ann evaluate prints the confusion matrix as a table up to this many classes (EMNIST's 62
# fit), and beyond it the CONFUSION_TOP most frequent confusions and lowest recalls
CONFUSION_MAX_CLASSES = 64
CONFUSION_TOP = 20

# images classified per call of the network by ann predict: the inputs as float32 and the
# probabilities of a batch are held at once, not those of every image of a large IDX file
PREDICT_BATCH = 4096


def _class_name(net: ann.Network, k: int) -> str:
    return net.classes[k] if net.classes is not None else str(k)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """ann evaluate: loss, accuracy, per-class accuracy and confusion matrix of a model on the
    test split of its data set, or on the labelled rows of a CSV file."""
    net = ann.Network.load(args.model)
    if not args.int8 and (args.calibrate is not None or args.calibration_data is not None):
        flag = "--calibrate" if args.calibrate is not None else "--calibration-data"
        raise UsageError(f"ann evaluate: {flag} goes with --int8")
    if args.int8 and net.regression:
        raise UsageError(
            f"ann evaluate: --int8 scores a classifier's int8 arithmetic, and {args.model} is a "
            f"regression (ann export-c --int8 exports it)"
        )
    train = None  # the training split, loaded only to calibrate --int8
    if is_csv(args.data):
        test = labelled_rows(args, net, args.data)
        where, what = args.data, f"{len(test)} rows from {args.data}"
    else:
        _check_not_a_table_model(args, net)
        if args.dataset is None:  # the one the model was trained on
            trained_on = net.metadata.get("dataset")
            args.dataset = trained_on if trained_on in DATASETS else "mnist"
        if args.int8:
            source, train, test = load_data(args, quiet=args.json)
        else:
            source, _, test = load_data(args, quiet=args.json, test_only=True)
        where = source_where(source)
        what = f"{len(test)} test images from {source.kind} ({where})"
    if test.features != net.sizes[0]:
        raise DataError(
            f"{args.model}: the model takes {net.sizes[0]} inputs but the test "
            f"images have {test.features} pixels"
        )
    model: ann.Network | ann.QuantizedNetwork = net
    float_result = None
    if args.int8:  # the int8 header's arithmetic, calibrated as ann export-c --int8 does
        from .export import calibration_sets, quantize

        if train is None or args.calibration_data is not None:
            train = calibration_sets(args, net, args.calibration_data)[0]
        model = quantize(args, net, train)
        float_result = net.evaluate(test)
    result = model.evaluate(test)
    if net.regression:
        _say_regression(args, net, test, result, where, what)
        return 0
    K = net.sizes[-1]
    cells = Counter(zip(test.labels, model.predict(test)))  # (true, predicted) -> count
    support = Counter(test.labels)
    per_class = [cells[k, k] / support[k] if support[k] else None for k in range(K)]
    as_table = K <= CONFUSION_MAX_CLASSES  # else too big to print: the most frequent errors
    if args.json:
        confusion: dict[str, Any] = (
            {"confusion_matrix": _dense(cells, K)}
            if as_table
            else {"confusion_cells": [[t, p, n] for (t, p), n in sorted(cells.items())]}
        )
        print(
            json.dumps(
                {
                    "model": args.model,
                    "data": where,
                    "images": len(test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    **confusion,
                    "per_class_accuracy": per_class,
                    "classes": [_class_name(net, k) for k in range(K)],
                    **_int8_fields(model, float_result),
                }
            )
        )
        return 0
    say(
        f"model: {args.model} ({'-'.join(map(str, net.sizes))}"
        f"{', batch norm' if net.batchnorm else ''})"
    )
    say(f"data: {what}")
    if isinstance(model, ann.QuantizedNetwork) and float_result is not None:
        say(f"int8: the arithmetic of ann export-c --int8, calibrated on {model.calibration}")
        points = 100 * (result["accuracy"] - float_result["accuracy"])
        say(
            f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"(float32: {float_result['accuracy']:.4f}; int8 {points:+.2f} points)"
        )
    else:
        say(f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f}")
    say("")
    if not as_table:
        say(_confusion_summary(cells, support, lambda k: _class_name(net, k), K))
        return 0
    if net.classes is not None:
        say("classes: " + ", ".join(f"{k} {name}" for k, name in enumerate(net.classes)))
    say(format_confusion(_dense(cells, K)))
    return 0


def _dense(cells: Counter[tuple[int, int]], K: int) -> list[list[int]]:
    """The K x K confusion matrix of ``cells``: row true class, column predicted class."""
    return [[cells[t, p] for p in range(K)] for t in range(K)]


def _confusion_summary(
    cells: Counter[tuple[int, int]], support: Counter[int], name: Callable[[int], str], K: int
) -> str:
    """For more classes than a table can show: the most frequent confusions, the classes
    recognised worst, the accuracy, and where the whole matrix is."""
    shown = CONFUSION_TOP
    errors = sorted(((n, t, p) for (t, p), n in cells.items() if t != p), key=lambda e: -e[0])
    lines = [
        f"confusion matrix: {K} classes, more than the {CONFUSION_MAX_CLASSES} a table shows "
        f"(ann evaluate --json lists every nonzero cell as [true, predicted, count])",
        f"most frequent confusions ({min(shown, len(errors))} of {len(errors)} pairs), "
        "true -> predicted: count",
    ]
    lines += [f"  {name(t)} -> {name(p)}: {n}" for n, t, p in errors[:shown]]
    recalls = sorted((cells[k, k] / support[k], k) for k in support)
    lines.append(
        f"lowest recall ({min(shown, len(recalls))} of the {len(recalls)} classes with examples)"
    )
    lines += [
        f"  {name(k)}: {100 * r:.1f}% ({cells[k, k]}/{support[k]})" for r, k in recalls[:shown]
    ]
    correct, total = sum(cells[k, k] for k in support), sum(support.values())
    lines.append(f"accuracy: {100 * correct / total:.2f}% ({correct}/{total})")
    return "\n".join(lines)


def _say_regression(
    args: argparse.Namespace,
    net: ann.Network,
    test: ann.Dataset,
    result: dict[str, Any],
    where: str,
    what: str,
) -> None:
    """ann evaluate of a regression: MSE, MAE and R², averaged and per output."""
    names = output_names(net)
    per_output = result["per_output"]
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "data": where,
                    "rows": len(test),
                    "task": "regression",
                    "loss": result["loss"],
                    "mse": result["mse"],
                    "mae": result["mae"],
                    "r2": result["r2"],
                    "outputs": [{"name": n, **scores} for n, scores in zip(names, per_output)],
                }
            )
        )
        return
    say(f"model: {args.model} ({'-'.join(map(str, net.sizes))}, {net.head} head)")
    say(f"data: {what}")
    say(f"MSE {result['mse']:.6g}, MAE {result['mae']:.6g}, R² {result['r2']:.4f}")
    if len(per_output) > 1:
        for name, scores in zip(names, per_output):
            say(
                f"  {name}: MSE {scores['mse']:.6g}, MAE {scores['mae']:.6g}, R² {scores['r2']:.4f}"
            )


def _check_not_a_table_model(args: argparse.Namespace, net: ann.Network) -> None:
    """A model trained on a CSV file is scored on a CSV file of its columns: say so, rather
    than read (or download) MNIST and fail on its 784 inputs."""
    if net.metadata.get("dataset") != "csv":
        return
    meta = net.metadata
    trained = f" ({meta['data_file']})" if meta.get("data_file") else ""
    given = f"--data {args.data} is not a CSV file" if args.data else "no --data was given"
    raise UsageError(
        f"ann evaluate: {args.model} was trained on a CSV file{trained} and {given}: give a "
        f"CSV file of its {net.sizes[0]} feature columns and its label with --data FILE.csv"
    )


def _int8_fields(model: Any, float_result: dict[str, float] | None) -> dict[str, Any]:
    """The JSON of ann evaluate --int8: the calibration and the float32 accuracy beside."""
    if float_result is None:
        return {}
    return {
        "int8": True,
        "calibration": model.calibration,
        "float_loss": float_result["loss"],
        "float_accuracy": float_result["accuracy"],
    }


def _predict_inputs(args: argparse.Namespace, features: int) -> list[tuple[str, int, Any]]:
    """(path, count, pixels) of every file given, each read and checked: ``count`` images of
    ``features`` pixels from an IDX file, or 0 for a PNG or PGM file's one image."""
    blocks: list[tuple[str, int, Any]] = []
    for path in args.files:
        regular_file(path, DataError, "an image or IDX file")  # a named pipe would hang open()
        with open(path, "rb") as f:
            head = f.read(4)
        is_idx = len(head) == 4 and head[:2] == b"\0\0" or head[:2] == b"\x1f\x8b"
        if is_idx:
            images = _read_idx_images(path)
            if images.rows * images.cols != features:
                raise DataError(
                    f"images are {images.rows}x{images.cols} but the model takes {features} pixels",
                    path=path,
                )
            blocks.append((path, images.count, images.data))
            continue
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
        if len(pixels) != features:  # each image is one row of the model's input, no more
            raise DataError(
                f"{path}: image has {len(pixels)} pixels but the model takes {features} inputs"
            )
        blocks.append((path, 0, pixels))
    return blocks


def _images(blocks: list[tuple[str, int, Any]], features: int) -> Iterator[tuple[str, Any]]:
    """(name, pixels) of every image of ``blocks``, one at a time: "FILE" for a drawing,
    "FILE[i]" for image i of an IDX file (its pixels a view, not a copy)."""
    for path, count, pixels in blocks:
        if not count:
            yield path, pixels
            continue
        whole = memoryview(pixels)
        for i in range(count):
            yield f"{path}[{i}]", whole[i * features : (i + 1) * features]


def _read_idx_images(path: str) -> IdxImages:
    """read_images, with what it was reading when memory ran out."""
    try:
        return read_images(path)
    except MemoryError:
        _, dims = read_header(path)
        raise MemoryError(
            f"{path}: out of memory reading its {'x'.join(map(str, dims))} pixels "
            f"({math.prod(dims):,} bytes)"
        ) from None


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
    """One line (or JSON object) per row of a CSV file: the class name and its probability,
    or a regression's value(s). A row holds the model's features, with or without the label
    column(s) (--label; by default the model's), found by name when the model recorded them."""
    columns = model_labels(args, net, path)
    header = header_flag(args.header)
    if net.regression and net.sizes[-1] > 1:
        rows = numeric_rows(
            path, columns, header=header, feature_names=net.feature_names, labels=False,
            width=net.sizes[0],
        )  # fmt: skip
        features, lines = rows.features, rows.lines
    else:
        table = read_table(
            path,
            label=columns[0],
            header=header,
            width=net.sizes[0],
            feature_names=net.feature_names,  # the model's columns, found by name
        )
        features, lines = table.features, table.lines
    if net.regression:
        names = output_names(net)
        for line, row in zip(lines, net.predict_values(features)):
            _say_values(args, {"file": path, "line": line}, row, names)
        return
    probs = net.predict_proba(features)
    for line, p in zip(lines, probs):
        _say_prediction(args, {"file": path, "line": line}, p, lambda k: _class_name(net, k))


def _say_values(
    args: argparse.Namespace, where: dict[str, Any], row: Sequence[float], names: list[str]
) -> None:
    """One row's predicted values: with --json an object ("value", or "values" by output
    name), else a line "FILE:LINE: 152.3" (several outputs: "NAME value, ...")."""
    if args.json:
        values: dict[str, Any] = (
            {"value": _float32(row[0])}
            if len(row) == 1
            else {"values": {n: _float32(v) for n, v in zip(names, row)}}
        )
        print(json.dumps({**where, **values}))
        return
    place = ":".join(map(str, where.values()))
    shown = (
        f"{row[0]:.6g}" if len(row) == 1 else ", ".join(f"{n} {v:.6g}" for n, v in zip(names, row))
    )
    say(f"{place}: {shown}")


def cmd_predict(args: argparse.Namespace) -> int:
    """ann predict: the class and its probability of every image or CSV row given."""
    net = ann.Network.load(args.model)
    tables = [path for path in args.files if is_csv(path)]
    for path in tables:
        _predict_csv(args, net, path)
    args.files = [path for path in args.files if not is_csv(path)]
    if not args.files:
        return 0
    blocks = _predict_inputs(args, net.sizes[0])  # every file read and checked before output
    names = getattr(net, "classes", None) or classes_of(net.metadata.get("dataset"))
    if names is not None and len(names) != net.sizes[-1]:
        names = None  # a model whose outputs are not the data set's classes
    name_of = None if names is None else names.__getitem__
    images = _images(blocks, net.sizes[0])
    while batch := list(itertools.islice(images, PREDICT_BATCH)):  # memory: one batch at a time
        if net.regression:  # values, not classes
            rows = net.predict_values(b"".join(pixels for _, pixels in batch))
            for (name, _), row in zip(batch, rows):
                _say_values(args, {"file": name}, row, output_names(net))
            continue
        probs = net.predict_proba(b"".join(pixels for _, pixels in batch))
        if len(probs) != len(batch):
            raise AnnError(f"internal error: {len(batch)} images gave {len(probs)} predictions")
        for (name, _), p in zip(batch, probs):
            _say_prediction(args, {"file": name}, p, name_of)
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
