"""ann's model file: a multilayer perceptron stored as a safetensors file.

On disk a network with ``sizes = [n_0, n_1, ..., n_L]`` is ``2 L`` F32
tensors, named as PyTorch names the parameters of ``nn.Linear`` layers so a
user can load the file straight into torch::

    layers.{l}.weight   shape [n_{l+1}, n_l]   (out, in): torch's nn.Linear layout
    layers.{l}.bias     shape [n_{l+1}]

and, in a network with batch normalization (Linear -> BN -> ReLU on every
hidden layer l < L - 1, eps 1e-5, as torch's nn.BatchNorm1d), four vectors
of shape [n_{l+1}] per hidden layer, named like BatchNorm1d's state::

    layers.{l}.bn.weight          gamma
    layers.{l}.bn.bias            beta
    layers.{l}.bn.running_mean
    layers.{l}.bn.running_var     (>= 0)

and a ``__metadata__`` map that makes the file self-describing::

    format          "ann-mlp"
    format_version  "1"
    layers          JSON list of sizes, e.g. "[784, 20, 7, 5, 10]"
    activations     JSON list, one per layer, e.g. '["relu", "relu", "relu", "softmax"]':
                    each hidden layer's activation ("relu", "leaky-relu", "sigmoid",
                    "tanh", "gelu", "identity"), then the output layer's function
                    ("softmax", "sigmoid" or "identity")
    batchnorm       "false", or "true" when the bn tensors are present

and, written by ann since issue 22 (a file without them is read as today's network: ReLU
hidden layers and softmax + cross-entropy, which is what its "activations" say)::

    head            the output function and loss: "softmax-ce", "sigmoid-bce",
                    "identity-mse" or "sigmoid-mse" (without it: "softmax-ce" for a
                    softmax output, "sigmoid-bce" for sigmoid, "identity-mse" for identity)
    negative_slope  leaky ReLU's slope below 0, a number (default "0.01")

plus any other string keys a caller adds (e.g. "best_val_loss", "epochs").

Optionally, for resuming training, the optimizer's state: with metadata
``optimizer_state`` "momentum" or "nesterov", one tensor ``optimizer.m`` (the
velocity), with "adam" also ``optimizer.v`` (first and second moments), each
F32 of shape [P], P the number of trained values, in ann's parameter order
(layer by layer: W as (n_in, n_out) row-major, b, then gamma and beta of a
batch-normalized layer); and ``optimizer_step`` (Adam's update count, an int).
Files without them load as before.

Optionally, for a network trained on float features, the input
standardisation (x - mean) / std applied to every input row, as two F32
tensors of shape [n_0] (std > 0)::

    input.mean
    input.std

and, for classes with names (string labels of a CSV file), metadata
``classes``: a JSON list of n_L distinct strings, the name of each output;
for a network trained on a CSV file with a header, metadata ``feature_names``:
a JSON list of n_0 strings, the name of each input column (``ann predict`` and
``ann evaluate`` find the columns of a new file by these names).

In memory ann keeps each weight matrix as (n_in, n_out) row-major, so
``y = x @ W + b``; saving transposes to (n_out, in) and loading transposes
back.  Loading trusts nothing: the metadata must agree with every tensor's
shape, no tensor may be missing or extra, and no weight may be NaN or
infinite.  Every failure is a one-line :class:`ModelFileError` naming the
file.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ann._csv import recorded_feature_names
from ann._errors import ModelFileError, PathLike
from ann._safetensors import TensorIn, TensorOut, _short, load_file, save_file

if TYPE_CHECKING:
    from ann._network import Network

# fail(message) is the error to raise for a file that breaks the schema
Fail = Callable[[str], ModelFileError]

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ACTIVATIONS",
    "ModelFile",
    "default_activations",
    "save_model",
    "load_model",
    "save_network",
    "load_network",
]

FORMAT_NAME = "ann-mlp"
FORMAT_VERSION = "1"
#: Activation names a model file may carry, one per layer.
ACTIVATIONS = ("relu", "leaky-relu", "sigmoid", "tanh", "gelu", "identity", "softmax")
#: The output function of each head, the last name of "activations" (and the head a file that
#: names no head has, by that name).
HEAD_OUTPUTS = {
    "softmax-ce": "softmax",
    "sigmoid-bce": "sigmoid",
    "identity-mse": "identity",
    "sigmoid-mse": "sigmoid",
}
_DEFAULT_HEADS = {"softmax": "softmax-ce", "sigmoid": "sigmoid-bce", "identity": "identity-mse"}
_HIDDEN = ("relu", "leaky-relu", "sigmoid", "tanh", "gelu", "identity")

_FLOAT_BYTES = 4
# ModelFile.batchnorm keys -> on-disk suffixes (torch's BatchNorm1d names).
_BN_TENSORS = (
    ("gamma", "bn.weight"),
    ("beta", "bn.bias"),
    ("running_mean", "bn.running_mean"),
    ("running_var", "bn.running_var"),
)
_LINEAR_TENSORS = ("weight", "bias")
# The format is little-endian; array('f') holds native-order floats.
_BIG_ENDIAN_HOST = sys.byteorder == "big"


@dataclass
class ModelFile:
    """A network's parameters plus the file's metadata.

    ``weights[l]`` is an ``array('f')`` of ``sizes[l] * sizes[l+1]`` floats in
    ann's (n_in, n_out) row-major layout; ``biases[l]`` has ``sizes[l+1]``.
    ``metadata`` is the whole ``__metadata__`` map of the file; on save the
    reserved keys (format, format_version, layers, batchnorm) are filled in
    from the model (an existing value that contradicts it is an error, which
    catches stale metadata copied from another model) and "activations"
    defaults to relu hidden layers and a softmax output (see
    :func:`default_activations`).
    """

    sizes: list[int]
    weights: list[array[float]]
    biases: list[array[float]]
    metadata: dict[str, str] = field(default_factory=dict)
    #: None without batch normalization; else one dict per hidden layer (L - 1
    #: of them) with keys "gamma", "beta", "running_mean", "running_var", each
    #: an array('f') of n_out values.
    batchnorm: list[dict[str, array[float]]] | None = None
    #: None, or the optimizer state: {"m": array('f')} (momentum, nesterov) or {"m", "v"}
    #: (adam) of num_params(sizes, batchnorm) values; metadata["optimizer_state"] names
    #: the rule and metadata["optimizer_step"] holds its step count.
    optimizer: dict[str, array[float]] | None = None
    #: None, or {"mean": array('f'), "std": array('f')} of sizes[0] values each: the input
    #: standardisation, stored as tensors input.mean / input.std.
    standardization: dict[str, array[float]] | None = None
    #: None, or the name of each output class (sizes[-1] distinct strings), stored as
    #: metadata "classes".
    classes: list[str] | None = None

    @property
    def activations(self) -> list[str]:
        """The per-layer activations named in ``metadata`` (or the default)."""
        text = self.metadata.get("activations")
        if text is None:
            return default_activations(len(self.sizes) - 1)
        return _parse_activations(text, len(self.sizes) - 1, None)


#: optimizer_state metadata values -> the tensors that state has.
OPTIMIZER_TENSORS = {"momentum": ("m",), "nesterov": ("m",), "adam": ("m", "v")}


def num_params(sizes: Sequence[int], batchnorm: bool) -> int:
    """Trained values of a network: W and b per layer, gamma and beta per BN layer."""
    n_layers = len(sizes) - 1
    return sum(
        sizes[l] * sizes[l + 1]
        + sizes[l + 1]
        + (2 * sizes[l + 1] if batchnorm and l < n_layers - 1 else 0)
        for l in range(n_layers)
    )


def _optimizer_kind(metadata: Mapping[str, str], fail: Fail) -> str | None:
    """The optimizer_state named in metadata (checked, with its step count), or None."""
    kind = metadata.get("optimizer_state")
    if kind is None:
        return None
    if kind not in OPTIMIZER_TENSORS:
        raise fail(
            f"metadata optimizer_state is {_short(kind)}, expected one of "
            f"{', '.join(OPTIMIZER_TENSORS)}"
        )
    step = metadata.get("optimizer_step", "")
    if not (step.isascii() and step.isdigit() and len(step) <= 18):
        raise fail(f"metadata optimizer_step is {_short(step)}, expected a count >= 0")
    return kind


def default_activations(n_layers: int) -> list[str]:
    """ReLU on every hidden layer, softmax on the output: ann's MLP."""
    return ["relu"] * (n_layers - 1) + ["softmax"]


def network_design(model: ModelFile, fail: Fail) -> tuple[list[str], str, float]:
    """(hidden activations, head, negative slope) of the network a model file holds, checked
    (a hidden layer's activation must be one a hidden layer can have, the output's the one the
    head has), as ``Network.load`` builds it. A file that names no head (written before heads
    were chosen) gets the one its output function implies: softmax -> softmax-ce."""
    names = model.activations
    hidden, output = names[:-1], names[-1]
    for name in hidden:
        if name not in _HIDDEN:
            raise fail(f"activation {_short(name)} cannot be a hidden layer's")
    head = model.metadata.get("head")
    if head is None:
        if output not in _DEFAULT_HEADS:
            raise fail(f"activation {_short(output)} cannot be the output layer's")
        head = _DEFAULT_HEADS[output]
    elif head not in HEAD_OUTPUTS:
        raise fail(f"unknown head {_short(head)} (known: {', '.join(HEAD_OUTPUTS)})")
    if HEAD_OUTPUTS[head] != output:
        raise fail(
            f"metadata head {head} needs a {HEAD_OUTPUTS[head]} output, but the activations end "
            f"in {_short(output)}"
        )
    text = model.metadata.get("negative_slope", "0.01")
    try:
        slope = float(text)
    except ValueError:
        slope = -1.0
    if not (math.isfinite(slope) and slope >= 0.0):
        raise fail(f"metadata negative_slope {_short(text)} is not a finite number >= 0")
    return hidden, head, slope


# --------------------------------------------------------------------------
# Layout helpers
# --------------------------------------------------------------------------


def _transpose(src: array[float], rows: int, cols: int) -> array[float]:
    """Return the (cols, rows) row-major transpose of a (rows, cols) array.

    dst[c * rows + r] = src[r * cols + c].  Each iteration moves a whole row or
    column with one extended-slice copy, which array does in C, and we loop
    over the smaller dimension, so a 784 x 20 matrix costs 20 Python steps.
    """
    dst = array("f", bytes(_FLOAT_BYTES * rows * cols))
    if rows <= cols:
        for r in range(rows):
            dst[r::rows] = src[r * cols : (r + 1) * cols]
    else:
        for c in range(cols):
            dst[c * rows : (c + 1) * rows] = src[c::cols]
    return dst


def _le_bytes(values: array[float]) -> array[float]:
    """The values as little-endian float32 data for save_file (which takes any buffer): the
    array itself on a little-endian host, so a big model is not copied once more to save it."""
    if _BIG_ENDIAN_HOST:
        values = array("f", values)  # copy: never byteswap the caller's array
        values.byteswap()
    return values


def _first_non_finite(values: array[float]) -> int | None:
    """Index of the first NaN/inf, or None.

    sum() runs in C and is finite exactly when every term is: NaN and inf
    propagate (inf + -inf = NaN), and a double cannot overflow from summing
    float32 values (|x| < 3.5e38, so 1e9 of them stay below 1e48).  The slow
    scan runs only to name the culprit.
    """
    if math.isfinite(sum(values)):
        return None
    return next(i for i, v in enumerate(values) if not math.isfinite(v))


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------


def save_model(path: PathLike, model: ModelFile) -> None:
    """Write ``model`` to ``path`` atomically (see ``_safetensors.save_file``).

    Raises ModelFileError (without touching ``path``) if the arrays do not
    match ``sizes``, a value is NaN/inf, or the metadata contradicts the model.
    """
    sizes = _check_sizes(model.sizes, path, "sizes")
    n_layers = len(sizes) - 1
    if len(model.weights) != n_layers or len(model.biases) != n_layers:
        raise ModelFileError(
            f"sizes {sizes} describe {n_layers} layers but the model has "
            f"{len(model.weights)} weight and {len(model.biases)} bias arrays",
            path=path,
        )

    bn = model.batchnorm
    if bn is not None and (not isinstance(bn, (list, tuple)) or len(bn) != n_layers - 1):
        raise ModelFileError(
            f"batchnorm must be None or a list of {n_layers - 1} dicts "
            f"(one per hidden layer), got {_short(bn)}",
            path=path,
        )
    metadata = _metadata_for_save(model, sizes, path)
    tensors: dict[str, TensorIn] = {}
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        weight = _check_array(model.weights[l], n_in * n_out, f"weights[{l}]", path)
        bias = _check_array(model.biases[l], n_out, f"biases[{l}]", path)
        tensors[f"layers.{l}.weight"] = (
            "F32",
            (n_out, n_in),
            _le_bytes(_transpose(weight, n_in, n_out)),
        )
        tensors[f"layers.{l}.bias"] = ("F32", (n_out,), _le_bytes(bias))
        if bn is not None and l < n_layers - 1:
            layer = bn[l]
            if not isinstance(layer, dict) or set(layer) != {k for k, _ in _BN_TENSORS}:
                raise ModelFileError(
                    f"batchnorm[{l}] must be a dict with keys gamma, beta, "
                    f"running_mean, running_var",
                    path=path,
                )
            for key, suffix in _BN_TENSORS:
                values = _check_array(layer[key], n_out, f"batchnorm[{l}][{key!r}]", path)
                if key == "running_var" and n_out and min(values) < 0:
                    raise ModelFileError(
                        f"batchnorm[{l}]['running_var'] has a negative variance {min(values)}",
                        path=path,
                    )
                tensors[f"layers.{l}.{suffix}"] = ("F32", (n_out,), _le_bytes(values))
    if model.standardization is not None:
        st = model.standardization
        if not isinstance(st, dict) or set(st) != {"mean", "std"}:
            raise ModelFileError(
                "standardization must be None or a dict with keys mean and std", path=path
            )
        for key in ("mean", "std"):
            values = _check_array(st[key], sizes[0], f"standardization[{key!r}]", path)
            if key == "std" and min(values) <= 0:
                raise ModelFileError(
                    f"standardization['std'] has a value {min(values)} <= 0", path=path
                )
            tensors[f"input.{key}"] = ("F32", (sizes[0],), _le_bytes(values))
    kind = _optimizer_kind(metadata, lambda message: ModelFileError(message, path=path))
    if (kind is None) != (model.optimizer is None):
        raise ModelFileError(
            "metadata optimizer_state and the optimizer tensors go together: give both or neither",
            path=path,
        )
    if kind is not None:
        assert model.optimizer is not None
        if not isinstance(model.optimizer, dict) or set(model.optimizer) != set(
            OPTIMIZER_TENSORS[kind]
        ):
            raise ModelFileError(
                f"optimizer state {kind} needs the arrays {', '.join(OPTIMIZER_TENSORS[kind])}",
                path=path,
            )
        P = num_params(sizes, bn is not None)
        for key in OPTIMIZER_TENSORS[kind]:
            values = _check_array(model.optimizer[key], P, f"optimizer[{key!r}]", path)
            tensors[f"optimizer.{key}"] = ("F32", (P,), _le_bytes(values))
    save_file(path, tensors, metadata)


def _check_array(values: object, length: int, what: str, path: PathLike) -> array[float]:
    if not isinstance(values, array) or values.typecode != "f":
        raise ModelFileError(
            f"{what} must be an array('f'), got {type(values).__name__}"
            + (f"('{values.typecode}')" if isinstance(values, array) else ""),
            path=path,
        )
    if len(values) != length:
        raise ModelFileError(f"{what} has {len(values)} values, expected {length}", path=path)
    bad = _first_non_finite(values)
    if bad is not None:
        raise ModelFileError(
            f"{what}[{bad}] is {values[bad]}; refusing to save a non-finite parameter", path=path
        )
    return values


def _metadata_for_save(model: ModelFile, sizes: list[int], path: PathLike) -> dict[str, str]:
    given = dict(model.metadata)
    for key, value in given.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ModelFileError(
                f"metadata must map str to str, got {_short(key)}: {_short(value)}", path=path
            )
    n_layers = len(sizes) - 1
    if "activations" in given:
        activations = _parse_activations(given["activations"], n_layers, path)
    else:
        activations = default_activations(n_layers)
    reserved = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "layers": json.dumps(sizes),
        "activations": json.dumps(activations),
        "batchnorm": "false" if model.batchnorm is None else "true",
    }
    # Metadata carried over from another file (say, a loaded model) must not
    # contradict the arrays being saved: that would be a stale or wrong map.
    if "layers" in given and _parse_json(given["layers"]) != sizes:
        raise ModelFileError(
            f"metadata layers {_short(given['layers'])} contradicts the model's sizes {sizes}",
            path=path,
        )
    if model.classes is not None:
        names = model.classes
        if (
            not isinstance(names, list)
            or not all(isinstance(c, str) for c in names)
            or len(set(names)) != len(names)
            or len(names) != sizes[-1]
        ):
            raise ModelFileError(
                f"classes must be {sizes[-1]} distinct strings (one per output), got "
                f"{_short(names)}",
                path=path,
            )
        reserved["classes"] = json.dumps(names)
    elif "classes" in given:
        del given["classes"]  # stale names from another model: this one has none
    for key in ("format", "format_version", "batchnorm"):
        if key in given and given[key] != reserved[key]:
            raise ModelFileError(
                f"metadata {key} is {_short(given[key])}, but this model needs {reserved[key]!r}",
                path=path,
            )
    given.update(reserved)
    return given


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


# Header entries an ann model file may hold: six tensors per layer at most (weight, bias and
# batch norm's four), the optimizer's and the standardisation's, and the metadata: this many
# are networks of thousands of layers, and a header of a million entries is refused before it
# is decoded (1.5 GB and many seconds as Python objects).
MAX_ENTRIES = 100_000


def load_model(path: PathLike) -> ModelFile:
    """Read and fully validate an ann model file."""
    tensors, metadata = load_file(path, max_entries=MAX_ENTRIES)
    return _model_from_tensors(tensors, metadata, path)


def _model_from_tensors(
    tensors: Mapping[str, TensorOut], metadata: Mapping[str, str], path: PathLike | None
) -> ModelFile:
    """Check a parsed safetensors file against the ann-mlp schema."""

    def fail(message: str) -> ModelFileError:
        return ModelFileError(message, path=path)

    fmt = metadata.get("format")
    if fmt is None:
        raise fail("not an ann model file: __metadata__ has no 'format' (expected 'ann-mlp')")
    if fmt != FORMAT_NAME:
        raise fail(f"not an ann model file: format is {_short(fmt)}, expected {FORMAT_NAME!r}")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        if version is None:
            raise fail("__metadata__ has no 'format_version'")
        raise fail(
            f"format_version {_short(version)} is not supported: this ann reads "
            f"version {FORMAT_VERSION} (a newer ann may have written the file)"
        )
    if "layers" not in metadata:
        raise fail("__metadata__ has no 'layers'")
    sizes = _check_sizes(
        _parse_json(metadata["layers"]), path, "metadata layers", shown=metadata["layers"]
    )
    n_layers = len(sizes) - 1
    if "activations" not in metadata:
        raise fail("__metadata__ has no 'activations'")
    _parse_activations(metadata["activations"], n_layers, path)
    flag = metadata.get("batchnorm")
    if flag is None:
        raise fail("__metadata__ has no 'batchnorm'")
    if flag not in ("true", "false"):
        raise fail(f"metadata batchnorm is {_short(flag)}, expected 'true' or 'false'")
    has_bn = flag == "true"

    def kinds(l: int) -> Sequence[str]:
        if has_bn and l < n_layers - 1:
            return _LINEAR_TENSORS + tuple(suffix for _, suffix in _BN_TENSORS)
        return _LINEAR_TENSORS

    # Both checks cost O(number of tensors), never O(len(sizes)): a header
    # claiming millions of layers must not make us build millions of names.
    opt_kind = _optimizer_kind(metadata, fail)
    optimizer_names = {f"optimizer.{key}" for key in OPTIMIZER_TENSORS.get(opt_kind or "", ())}
    input_names = {"input.mean", "input.std"}
    extra = sorted(
        name
        for name in tensors
        if name not in optimizer_names
        and name not in input_names
        and not _is_parameter_name(name, n_layers, kinds)
    )
    if extra:
        names = ", ".join(_short(n) for n in extra[:3]) + (", ..." if len(extra) > 3 else "")
        raise fail(
            f"unexpected tensor{'s' if len(extra) > 1 else ''} {names} for layers {_short(sizes)}"
        )
    for l in range(n_layers):  # stops within len(tensors) / 2 + 1 steps
        for kind in kinds(l):
            if f"layers.{l}.{kind}" not in tensors:
                raise fail(
                    f"missing tensor layers.{l}.{kind} (layers {_short(sizes)}, batchnorm {flag})"
                )
    optimizer: dict[str, array[float]] | None = None
    if opt_kind is not None:
        P = num_params(sizes, has_bn)
        optimizer = {}
        for name in sorted(optimizer_names):
            if name not in tensors:
                raise fail(f"missing tensor {name} (metadata optimizer_state {opt_kind})")
            if list(_check_f32(tensors, name, fail)) != [P]:
                raise fail(
                    f"{name} has shape {list(tensors[name][1])} but this network has "
                    f"{P} parameters, so it must be [{P}]"
                )
            optimizer[name.split(".")[1]] = _floats(tensors[name][2], name, None, fail)

    standardization: dict[str, array[float]] | None = None
    present = input_names & set(tensors)
    if present and present != input_names:
        raise fail(
            f"tensor {sorted(present)[0]} needs its partner {sorted(input_names - present)[0]}"
        )
    if present:
        standardization = {}
        for key in ("mean", "std"):
            name = f"input.{key}"
            if list(_check_f32(tensors, name, fail)) != [sizes[0]]:
                raise fail(
                    f"{name} has shape {list(tensors[name][1])} but the network takes "
                    f"{sizes[0]} inputs, so it must be [{sizes[0]}]"
                )
            values = _floats(tensors[name][2], name, None, fail)
            if key == "std" and min(values) <= 0:
                raise fail(f"{name} holds {min(values)}: a standard deviation must be > 0")
            standardization[key] = values
    classes: list[str] | None = None
    if "classes" in metadata:
        parsed = _parse_json(metadata["classes"])
        if (
            not isinstance(parsed, list)
            or not all(isinstance(c, str) for c in parsed)
            or len(set(parsed)) != len(parsed)
            or len(parsed) != sizes[-1]
        ):
            raise fail(
                f"metadata classes is {_short(metadata['classes'])}, expected a JSON list of "
                f"{sizes[-1]} distinct strings (one per output)"
            )
        classes = parsed

    weights: list[array[float]] = []
    biases: list[array[float]] = []
    bn_layers: list[dict[str, array[float]]] = []
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        w_name, b_name = f"layers.{l}.weight", f"layers.{l}.bias"
        w_shape = _check_f32(tensors, w_name, fail)
        if len(w_shape) != 2:
            raise fail(f"{w_name} has shape {list(w_shape)} but a weight must be 2-D [n_out, n_in]")
        if w_shape[1] != n_in:
            raise fail(
                f"{w_name} has shape {list(w_shape)} but layer {l} takes {n_in} "
                f"inputs (layers {_short(sizes)})"
            )
        if w_shape[0] != n_out:
            raise fail(
                f"{w_name} has shape {list(w_shape)} but layer {l} has {n_out} "
                f"outputs (layers {_short(sizes)})"
            )
        b_shape = _check_f32(tensors, b_name, fail)
        if list(b_shape) != [n_out]:
            raise fail(
                f"{b_name} has shape {list(b_shape)} but layer {l} has {n_out} "
                f"outputs, so it must be [{n_out}]"
            )
        on_disk = _floats(tensors[w_name][2], w_name, n_in, fail)
        weights.append(_transpose(on_disk, n_out, n_in))
        biases.append(_floats(tensors[b_name][2], b_name, None, fail))
        if has_bn and l < n_layers - 1:
            bn_layers.append(_load_bn(tensors, l, n_out, fail))
    return ModelFile(
        sizes=sizes,
        weights=weights,
        biases=biases,
        metadata=dict(metadata),
        batchnorm=bn_layers if has_bn else None,
        optimizer=optimizer,
        standardization=standardization,
        classes=classes,
    )


def _load_bn(
    tensors: Mapping[str, TensorOut], l: int, n_out: int, fail: Fail
) -> dict[str, array[float]]:
    layer = {}
    for key, suffix in _BN_TENSORS:
        name = f"layers.{l}.{suffix}"
        shape = _check_f32(tensors, name, fail)
        if list(shape) != [n_out]:
            raise fail(
                f"{name} has shape {list(shape)} but layer {l} has {n_out} outputs, "
                f"so it must be [{n_out}]"
            )
        values = _floats(tensors[name][2], name, None, fail)
        if key == "running_var":
            bad = next((i for i, v in enumerate(values) if v < 0), None)
            if bad is not None:
                raise fail(f"{name}[{bad}] is {values[bad]}; a variance cannot be negative")
        layer[key] = values
    return layer


def _check_f32(tensors: Mapping[str, TensorOut], name: str, fail: Fail) -> Sequence[int]:
    dtype, shape, _ = tensors[name]
    if dtype != "F32":
        raise fail(f"{name} has dtype {dtype}; ann model files store F32")
    return shape


def _floats(data: memoryview, name: str, row_length: int | None, fail: Fail) -> array[float]:
    values = array("f")
    values.frombytes(data)
    if _BIG_ENDIAN_HOST:
        values.byteswap()
    bad = _first_non_finite(values)
    if bad is not None:
        where = f"[{bad // row_length}, {bad % row_length}]" if row_length else f"[{bad}]"
        raise fail(f"{name}{where} is {values[bad]}; parameters must be finite")
    return values


# --------------------------------------------------------------------------
# Metadata parsing
# --------------------------------------------------------------------------


def _parse_json(text: str) -> object:
    """json.loads that returns None instead of raising on any malformed text."""
    try:
        return json.loads(text, parse_constant=lambda name: None)
    except (ValueError, RecursionError):
        return None


def _check_sizes(
    sizes: object, path: PathLike | None, what: str, shown: object = None
) -> list[int]:
    """``sizes`` as a list of >= 2 positive ints; ``shown`` is what to quote."""
    if (
        not isinstance(sizes, (list, tuple))
        or len(sizes) < 2
        or not all(type(n) is int and n > 0 for n in sizes)
    ):
        quoted = _short(sizes if shown is None else shown)
        raise ModelFileError(
            f"{what} must be a list of at least 2 positive integers, got {quoted}", path=path
        )
    return list(sizes)


def _is_parameter_name(name: str, n_layers: int, kinds: Callable[[int], Container[str]]) -> bool:
    """True for 'layers.{l}.{kind}' with 0 <= l < n_layers and kind in kinds(l)."""
    parts = name.split(".", 2)
    if len(parts) != 3 or parts[0] != "layers":
        return False
    index = parts[1]
    # Only the canonical spelling: "01" or "+1" would be a second name for layer 1.
    if not index.isascii() or not index.isdigit() or (len(index) > 1 and index[0] == "0"):
        return False
    return len(index) <= 18 and int(index) < n_layers and parts[2] in kinds(int(index))


def _parse_activations(text: str, n_layers: int, path: PathLike | None) -> list[str]:
    names = _parse_json(text)
    if not isinstance(names, list) or not all(isinstance(a, str) for a in names):
        raise ModelFileError(
            f"metadata activations {_short(text)} is not a JSON list of strings", path=path
        )
    if len(names) != n_layers:
        raise ModelFileError(
            f"metadata activations name {len(names)} functions but the "
            f"network has {n_layers} layers",
            path=path,
        )
    for name in names:
        if name not in ACTIVATIONS:
            raise ModelFileError(
                f"unknown activation {_short(name)} (known: {', '.join(ACTIVATIONS)})", path=path
            )
    return names


# --------------------------------------------------------------------------
# A Network to and from a ModelFile (Network.save and Network.load)
# --------------------------------------------------------------------------


def save_network(
    net: Network, path: PathLike, metadata: dict[str, str] | None, optimizer_state: bool
) -> None:
    """``Network.save``: the network's tensors, input standardisation, class and feature
    names, dropout and (with ``optimizer_state``) optimizer state as a ModelFile, written by
    save_model. Refuses weights so large that a prediction could overflow float32."""
    L = len(net.sizes) - 1
    params, state = net.get_weights(), net.get_state()
    bound, layer = net._overflow_bound(params, state)
    if layer >= 0:
        raise ModelFileError(
            f"refusing to save: the weights are so large that layer "
            f"{layer}'s outputs can reach {bound:.3g}, beyond float32's "
            f"range, so predictions would overflow (did training "
            f"diverge? try a smaller lr)",
            path=path,
        )

    def cut(l: int, kind: str) -> array[float]:
        return net._slice(l, kind, params, state)

    model = ModelFile(
        sizes=list(net.sizes),
        weights=[cut(l, "weight") for l in range(L)],
        biases=[cut(l, "bias") for l in range(L)],
        metadata=dict(metadata or {}),
        classes=list(net.classes) if net.classes is not None else None,
    )
    if net._standardization is not None:
        mean, std = net._standardization
        model.standardization = {"mean": mean, "std": std}
    if net.batchnorm:
        model.batchnorm = [
            {
                kind: cut(l, "bn_" + kind)
                for kind in ("gamma", "beta", "running_mean", "running_var")
            }
            for l in range(L - 1)
        ]
    params = state = array("f")  # the tensors are cut: free the snapshot before saving
    model.metadata.setdefault("dropout", repr(net.dropout))
    if net.feature_names is not None:
        model.metadata["feature_names"] = json.dumps(net.feature_names)
    model.metadata["activations"] = json.dumps([*net.activations, HEAD_OUTPUTS[net.head]])
    model.metadata["head"] = net.head
    model.metadata["negative_slope"] = repr(net.negative_slope)
    opt = net.optimizer_state() if optimizer_state else None
    if opt is not None:
        model.optimizer = {"m": opt["m"]} if opt["v"] is None else {"m": opt["m"], "v": opt["v"]}
        model.metadata["optimizer_state"] = opt["optimizer"]
        model.metadata["optimizer_step"] = str(opt["step"])
    save_model(path, model)


def load_network(cls: type[Network], path: PathLike, backend: str | None) -> Network:
    """``Network.load``: a network of class ``cls`` on ``backend`` from the file at ``path``,
    with the file's tensors, standardisation, class and feature names, metadata and optimizer
    state (the latter applied by the network's next ``fit`` with the same optimizer)."""
    model = load_model(path)
    hidden, head, slope = network_design(model, lambda message: ModelFileError(message, path=path))
    try:
        dropout = float(model.metadata.get("dropout", "0.0"))
    except ValueError:
        dropout = -1.0
    if not 0.0 <= dropout < 1.0:
        raise ModelFileError(
            f"metadata dropout {model.metadata.get('dropout')!r} is not a probability in [0, 1)",
            path=path,
        )
    net = cls(
        model.sizes,
        activation=hidden,
        head=head,
        negative_slope=slope,
        batchnorm=bool(model.batchnorm),
        dropout=dropout,
        backend=backend,
    )
    params, state = net.get_weights(), net.get_state()
    for kind, name in (("weight", "weights"), ("bias", "biases")):
        for l, values in enumerate(getattr(model, name)):
            net._place(l, kind, values, params, state)
    for l, layer in enumerate(model.batchnorm or ()):
        for key, values in layer.items():
            net._place(l, "bn_" + key, values, params, state)
    reach, where = net._overflow_bound(params, state)
    if where >= 0:  # what save refuses, load refuses: its predictions would overflow
        raise ModelFileError(
            f"the weights are so large that layer {where}'s outputs can reach {reach:.3g}, "
            f"beyond float32's range, so predictions would overflow (save refuses such a "
            f"network too)",
            path=path,
        )
    net.set_weights(params)
    net.set_state(state)
    if model.standardization is not None:
        net.set_standardization(model.standardization["mean"], model.standardization["std"])
    net.classes = model.classes
    net.feature_names = recorded_feature_names(model.metadata, model.sizes[0], path)
    net.metadata = dict(model.metadata)
    if model.optimizer is not None:
        net._pending_optimizer = {
            "optimizer": model.metadata["optimizer_state"],
            "step": int(model.metadata["optimizer_step"]),
            "m": model.optimizer["m"],
            "v": model.optimizer.get("v"),
        }
    return net
