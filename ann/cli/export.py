"""``ann export-c`` and ``ann export-onnx``: a saved model as C99 or ONNX; and the quantized
network ``ann evaluate --int8`` scores.

    ann export-c MODEL [-o FILE.h] [--name PREFIX] [--int8 [--calibrate N] [--data ...]]
    ann export-onnx MODEL [-o FILE.onnx]

Input that cannot be exported (a file that is not an ann model, a name that is not a C
identifier, an output in a folder that does not exist, calibration data that does not fit the
network or has fewer rows than asked) ends with one line and exit status 2, and nothing is
written: a file appears whole or not at all.
"""

from __future__ import annotations

import argparse
import os

import ann

from .._datasets import DATASETS
from .._errors import ModelFileError
from ..export import (
    ExportError,
    QuantizedNetwork,
    c_float,
    c_int8,
    default_prefix,
    output_folder_check,
)
from ..export._c_common import check_prefix
from ..export._spec import from_network
from ._load import load_data, source_where
from ._options import is_csv
from ._output import UsageError, say
from ._paths import Named, check_separate
from ._table import labelled_rows


def _fail(command: str, exc: Exception) -> UsageError:
    return UsageError(f"ann {command}: error: {exc}")


def _check_separate(command: str, args: argparse.Namespace, output: str, data: list[Named]) -> None:
    """The output (-o, or the name made from MODEL's) is none of the files read: MODEL,
    a CSV file, the IDX files of a data set (usage error, nothing written)."""
    inputs: list[Named] = [("MODEL", args.model), *data]
    inputs += [("--data", path) for path in getattr(args, "files_read", ())]
    check_separate(command, inputs, [("-o" if args.output else "the output", output)])


def load_model(path: str, command: str) -> ann.Network:
    """The model at ``path``; a file that is not one is a usage error (exit 2)."""
    try:
        return ann.Network.load(path)
    except ModelFileError as exc:
        raise _fail(command, exc) from None


def _default_output(model: str, suffix: str) -> str:
    return os.path.splitext(model)[0] + suffix


def calibration_sets(
    args: argparse.Namespace, net: ann.Network, csv_path: str | None
) -> tuple[ann.Dataset, ann.Dataset | None, str]:
    """(training rows to calibrate on, the test split or None, where they came from): a CSV
    model's rows from ``csv_path``, an image model's from its data set (--dataset, else the
    one it was trained on)."""
    if csv_path is not None:  # the model's columns, as ann evaluate reads them
        return labelled_rows(args, net, csv_path), None, csv_path
    if net.standardization is not None or net.metadata.get("dataset") == "csv":
        raise UsageError(
            f"ann {args.command}: --int8 of a model trained on a CSV file calibrates on its "
            f"training rows: give them with "
            + ("--data FILE.csv" if args.command == "export-c" else "--calibration-data FILE.csv")
        )
    if args.dataset is None:
        trained_on = net.metadata.get("dataset")
        args.dataset = trained_on if trained_on in DATASETS else "mnist"
    source, train, test = load_data(args, quiet=getattr(args, "json", False))
    return train, test, source_where(source)


def quantize(args: argparse.Namespace, net: ann.Network, train: ann.Dataset) -> QuantizedNetwork:
    """``net`` quantized on ``args.calibrate`` rows of ``train``; bad data is exit 2."""
    try:
        return ann.quantize(net, train, rows=args.calibrate)
    except ExportError as exc:
        raise _fail(args.command, exc) from None


def cmd_export_c(args: argparse.Namespace) -> int:
    """ann export-c: the model as one C99 header, float32 or (--int8) integer arithmetic."""
    if not args.int8:
        given = [f for f, v in (("--calibrate", args.calibrate), ("--data", args.data)) if v]
        given += ["--dataset"] if args.dataset is not None else []
        given += ["--label"] if args.label is not None else []
        given += ["--header"] if args.header is not None else []
        if given:
            raise UsageError(
                f"ann export-c: {', '.join(given)} {'chooses' if len(given) == 1 else 'choose'} "
                f"the calibration rows of --int8; "
                f"the float32 header needs no data"
            )
    net = load_model(args.model, "export-c")
    output = args.output or _default_output(args.model, "_int8.h" if args.int8 else ".h")
    csv_path = args.data if is_csv(args.data) else None
    _check_separate("export-c", args, output, [("--data", csv_path)])
    try:  # everything that can be checked before the work is
        output_folder_check(output)
        prefix = check_prefix(args.name) if args.name is not None else default_prefix(output)
    except ExportError as exc:
        raise _fail("export-c", exc) from None
    source = os.path.basename(args.model)
    spec = from_network(net)
    say(f"model: {args.model} ({'-'.join(map(str, net.sizes))})")
    try:
        if not args.int8:
            ann.export_c(net, output, name=prefix, source=source)
            size = c_float.table_bytes(spec)
            kind = "float32"
        else:
            train, test, where = calibration_sets(args, net, csv_path)
            _check_separate("export-c", args, output, [])  # and the IDX files it read
            q = quantize(args, net, train)
            say(f"int8: calibrated on {q.calibration} ({where})")
            notes = []
            if test is not None and test.features == net.sizes[0]:
                float_accuracy = net.evaluate(test)["accuracy"]
                int8_accuracy = q.evaluate(test)["accuracy"]
                line = (
                    f"Test accuracy ({len(test):,} images of {args.dataset}): float32 "
                    f"{float_accuracy:.2%}, int8 {int8_accuracy:.2%}"
                )
                say(line[0].lower() + line[1:])
                notes.append(line)
            ann.export_c(q, output, name=prefix, source=source, notes=notes)
            size = c_int8.table_bytes(q)
            kind = "int8"
    except ExportError as exc:
        raise _fail("export-c", exc) from None
    entries = f"{prefix}_predict" + (f", {prefix}_predict_u8" if spec.inputs == "pixels" else "")
    say(f"wrote {output}: {kind} C99, {size:,} bytes of tables; call {entries}")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """ann export-onnx: the model as an ONNX file (opset 17) of the same raw inputs."""
    net = load_model(args.model, "export-onnx")
    output = args.output or _default_output(args.model, ".onnx")
    _check_separate("export-onnx", args, output, [])
    try:
        ann.export_onnx(net, output, source=os.path.basename(args.model))
    except ExportError as exc:
        raise _fail("export-onnx", exc) from None
    say(f"model: {args.model} ({'-'.join(map(str, net.sizes))})")
    first = "'outputs'" if from_network(net).head == "identity" else "'probabilities'"
    classes = "" if first == "'outputs'" else " and 'class' (N) int64"
    say(
        f"wrote {output}: ONNX opset 17, input 'input' (N, {net.sizes[0]}) float32, output "
        f"{first} (N, {net.sizes[-1]}){classes}"
    )
    return 0
