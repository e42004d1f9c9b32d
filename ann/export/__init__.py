"""Deploying a trained network where Python is not: C99 headers (float32 or int8) and ONNX.

    net = ann.Network.load("seed.safetensors")
    ann.export_c(net, "seed.h")                    # float32 C99, needs <math.h>'s expf
    q = ann.quantize(net, train)                   # int8, calibrated on 1000 training rows
    print(q.evaluate(test))                        # the int8 header's own arithmetic
    ann.export_c(q, "seed_int8.h")                 # integer C99, down to an 8-bit AVR
    ann.export_onnx(net, "seed.onnx")              # opset 17, for ONNX Runtime and the rest

The parts: ``_spec`` reads a network into plain numbers (batch norm folded), ``c_float`` and
``c_int8`` write the headers, ``quantization`` calibrates and holds the int8 arithmetic (run in
Python by ``_int8``), ``onnx`` builds the graph and ``_protobuf`` encodes it. Every file is
written atomically: a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import PathLike
from ._c_common import check_prefix
from ._spec import ExportError, ModelSpec, from_network
from .quantization import QuantizedNetwork, calibration_rows, quantize_spec

if TYPE_CHECKING:
    from .._network import Network

__all__ = ["ExportError", "QuantizedNetwork", "export_c", "export_onnx", "quantize"]


def _spec_of(net: Any, inputs: str | None, source: str = "") -> ModelSpec:
    from .._network import Network

    if not isinstance(net, Network):
        raise TypeError(f"expected an ann.Network, got {type(net).__name__}")
    try:
        return from_network(net, inputs, source)
    except ValueError as exc:  # a model the exporters cannot describe
        raise ExportError(str(exc)) from None


def output_folder_check(path: PathLike) -> str:
    """``path`` as a string, or ExportError when its folder does not exist (checked before
    any work, so that a typo costs nothing)."""
    text = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise ExportError(f"cannot write there: folder {folder} does not exist", path=text)
    if os.path.isdir(text):
        raise ExportError("is a folder: give a file name to write", path=text)
    return text


def default_prefix(path: PathLike) -> str:
    """The prefix a header gets when none is given: its file name without the extension."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    try:
        return check_prefix(stem)
    except ExportError:
        raise ExportError(
            f"the file name {stem!r} is not a C identifier, so it cannot name the functions: "
            f"give a name (--name PREFIX) such as {_suggest(stem)}"
        ) from None


def _suggest(stem: str) -> str:
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in stem)
    cleaned = cleaned.strip("_") or "model"
    return cleaned if not cleaned[0].isdigit() else "m" + cleaned


def write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (all or nothing), ExportError on failure."""
    from .._files import atomic_write, write_chunks

    atomic_write(path, write_chunks([text.encode("utf-8")]), ExportError)


def write_bytes(path: PathLike, data: bytes) -> None:
    from .._files import atomic_write, write_chunks

    atomic_write(path, write_chunks([data]), ExportError)


def quantize(
    net: Network,
    data: Any,
    *,
    rows: int | None = None,
    seed: int = 0,
    inputs: str | None = None,
) -> QuantizedNetwork:
    """``net`` quantized to int8, its activation ranges calibrated on ``rows`` rows of
    ``data`` (an ann.Dataset of training rows; default 1000, or all of them if fewer) drawn
    at random with ``seed``. ``inputs`` as for ``export_c``. Raises ExportError when the data
    do not fit the network or hold fewer rows than asked."""
    from .._data import Dataset

    spec = _spec_of(net, inputs)
    if not isinstance(data, Dataset):
        raise TypeError(f"calibration data must be an ann.Dataset, got {type(data).__name__}")
    if data.features != spec.sizes[0]:
        raise ExportError(
            f"the network takes {spec.sizes[0]} inputs but the calibration data {data.name} "
            f"has {data.features} features per row"
        )
    wanted = "uint8" if spec.inputs == "pixels" else "float32"
    if data.dtype != wanted:
        raise ExportError(
            f"the network reads {spec.inputs} but the calibration data {data.name} holds "
            f"{data.dtype} values, not {wanted}"
        )
    picked = calibration_rows(data, rows, seed)
    about = f"{len(picked):,} of the {len(data):,} rows of {data.name!r}, drawn with seed {seed}"
    return quantize_spec(spec, picked, about)


def export_c(
    model: Network | QuantizedNetwork,
    path: PathLike,
    *,
    name: str | None = None,
    inputs: str | None = None,
    source: str = "",
    notes: Sequence[str] = (),
) -> str:
    """Write ``model`` as one self-contained C99 header: float32 for an ann.Network, integer
    arithmetic for a QuantizedNetwork (``ann.quantize``). Its identifiers start with
    ``name`` (default: the file name without extension, which must then be a C identifier).
    ``inputs``: "pixels" (raw 0..255, read as / 255) or "features"; by default a network
    with an input standardisation, or trained on a CSV file, reads features, others pixels.
    ``source`` names the model file in the header's comment, ``notes`` are more lines for it
    (a test accuracy, say). Returns the prefix used."""
    from . import c_float, c_int8

    target = output_folder_check(path)
    prefix = check_prefix(name) if name is not None else default_prefix(target)
    if isinstance(model, QuantizedNetwork):
        if source:
            model.spec.source = source
        text = c_int8.render(model, prefix, notes=notes)
    else:
        text = c_float.render(_spec_of(model, inputs, source), prefix, notes=notes)
    write_text(target, text)
    return prefix


def export_onnx(
    net: Network, path: PathLike, *, inputs: str | None = None, source: str = ""
) -> None:
    """Write ``net`` as an ONNX model (opset 17): input "input" (N, n_inputs) float32 of the
    raw values ``ann predict`` takes; outputs "probabilities" (N, K) and "class" (N) int64,
    or "outputs" for a regression. No onnx package is needed."""
    from .onnx import model_bytes

    target = output_folder_check(path)
    write_bytes(target, model_bytes(_spec_of(net, inputs, source)))
