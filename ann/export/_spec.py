"""What every exporter reads: a network as plain float64 numbers, batch norm folded in.

``ModelSpec`` is the whole inference computation of an ``ann.Network`` and nothing else:

    x      = raw / 255                       (image models: "pixels"; "features" are as given)
    x      = (x - mean) / std                (the input standardisation, when there is one)
    a_l    = act_l(W_l a_{l-1} + b_l)        (l = 1 .. L-1, hidden layers)
    scores = head(W_L a_{L-1} + b_L)

with each ``W_l`` kept as (n_out, n_in) rows (row j holds the weights into unit j: what a dot
product per output reads, contiguously) and batch norm folded into the dense layer before it:
BN(z) = gamma (z - mu) / sqrt(var + eps) + beta is affine in z, so with k = gamma /
sqrt(var + eps), W' = k W (row by row) and b' = k (b - mu) + beta give BN(W x + b) = W' x + b'
(docs/quantization.md). Dropout does nothing at inference, so it is not here.

``forward`` evaluates a spec in float64: the reference the exported C and ONNX are tested
against, and what int8 calibration measures.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import mul
from typing import TYPE_CHECKING, Any

from .._errors import _LocatedError
from ._activations import DEFAULT_LEAKY_SLOPE, HEADS, HIDDEN

if TYPE_CHECKING:
    from .._network import Network

#: batch norm's epsilon, as the float32 the C core adds (1e-5f)
BN_EPS = struct.unpack("<f", struct.pack("<f", 1e-5))[0]
INPUT_KINDS = ("pixels", "features")


class ExportError(_LocatedError):
    """A network (or its calibration data, or an output name) cannot be exported as asked."""


@dataclass
class Layer:
    """One dense layer and its activation (a ``HIDDEN`` name, or for the last layer a
    ``HEADS`` name); ``alpha`` is leaky ReLU's negative slope."""

    weight: list[list[float]]  # (n_out, n_in): row j holds the weights into unit j
    bias: list[float]  # (n_out)
    activation: str
    alpha: float = DEFAULT_LEAKY_SLOPE

    @property
    def n_in(self) -> int:
        return len(self.weight[0])

    @property
    def n_out(self) -> int:
        return len(self.weight)


@dataclass
class ModelSpec:
    """A network's inference computation (see the module docstring)."""

    layers: list[Layer]
    inputs: str = "pixels"  # "pixels": raw values 0..255, read as raw / 255; or "features"
    mean: list[float] | None = None  # (n_inputs) the standardisation, after the / 255
    std: list[float] | None = None
    classes: list[str] | None = None  # the name of each output
    about: dict[str, str] = field(default_factory=dict)  # the model file's metadata
    source: str = ""  # where the network came from (a file name), for the header's comment
    batchnorm: bool = False  # whether batch norm was folded in (for the comment)

    def __post_init__(self) -> None:
        self.check()

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def head(self) -> str:
        return self.layers[-1].activation

    def check(self) -> None:
        """ValueError unless the spec is complete and consistent."""
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        if self.inputs not in INPUT_KINDS:
            raise ValueError(f"inputs must be 'pixels' or 'features', not {self.inputs!r}")
        n_in = self.layers[0].n_in
        for l, layer in enumerate(self.layers):
            last = l == len(self.layers) - 1
            names = HEADS if last else HIDDEN
            if layer.activation not in names:
                raise ValueError(
                    f"layer {l + 1}: activation {layer.activation!r} is not one of "
                    f"{', '.join(names)}" + (" (the output heads)" if last else "")
                )
            if not layer.weight or any(len(row) != n_in for row in layer.weight):
                raise ValueError(f"layer {l + 1}: every weight row needs {n_in} values")
            if len(layer.bias) != layer.n_out:
                raise ValueError(f"layer {l + 1}: {len(layer.bias)} biases for {layer.n_out} units")
            values = [v for row in layer.weight for v in row] + list(layer.bias) + [layer.alpha]
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"layer {l + 1}: weights and biases must be finite")
            n_in = layer.n_out
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std of the standardisation, or neither")
        if self.mean is not None and self.std is not None:
            D = self.sizes[0]
            if len(self.mean) != D or len(self.std) != D:
                raise ValueError(f"mean and std need {D} values each")
            if not all(math.isfinite(m) for m in self.mean) or not all(
                math.isfinite(s) and s > 0 for s in self.std
            ):
                raise ValueError("the standardisation needs finite means and finite stds > 0")
        if self.classes is not None and len(self.classes) != self.sizes[-1]:
            raise ValueError(f"{len(self.classes)} class names for {self.sizes[-1]} outputs")


def dot(x: Sequence[float], w: Sequence[float]) -> float:
    """sum_i x_i w_i in float64, left to right (the same bits on every IEEE machine)."""
    return float(sum(map(mul, x, w)))


def prepare_input(spec: ModelSpec, raw: Sequence[float]) -> list[float]:
    """The raw values of one row as the first layer sees them: / 255 for pixels, then the
    standardisation."""
    x = [v / 255.0 for v in raw] if spec.inputs == "pixels" else [float(v) for v in raw]
    if spec.mean is not None and spec.std is not None:
        x = [(v - m) / s for v, m, s in zip(x, spec.mean, spec.std)]
    return x


def dense(x: Sequence[float], layer: Layer) -> list[float]:
    """z_j = sum_i x_i W_ji + b_j. Exact zeros of x (black pixels, units ReLU turned off) are
    left out of the sums, which changes no bit of them and skips most of an image."""
    nonzero = [i for i, v in enumerate(x) if v]
    if len(nonzero) > len(x) // 2:
        return [dot(x, row) + b for row, b in zip(layer.weight, layer.bias)]
    xs = [x[i] for i in nonzero]
    return [dot(xs, [row[i] for i in nonzero]) + b for row, b in zip(layer.weight, layer.bias)]


def forward(spec: ModelSpec, raw: Sequence[float]) -> list[tuple[list[float], list[float]]]:
    """(pre-activations, outputs) of every layer for one row of raw input, in float64; the
    last layer's are (logits, scores)."""
    x = prepare_input(spec, raw)
    out = []
    for l, layer in enumerate(spec.layers):
        z = dense(x, layer)
        if l < len(spec.layers) - 1:
            f, alpha = HIDDEN[layer.activation].f, layer.alpha
            x = [f(v, alpha) for v in z]
        else:
            x = HEADS[layer.activation].scores(z)
        out.append((z, x))
    return out


def predict(spec: ModelSpec, raw: Sequence[float]) -> tuple[int, list[float]]:
    """(class, scores) of one row, in float64."""
    logits, scores = forward(spec, raw)[-1]
    return HEADS[spec.head].classify(logits), scores


# ---- from an ann.Network ------------------------------------------------------------------


#: The exporters' name of each of ann.Network's activations and heads (a head's output
#: function: the loss plays no part in inference).
_EXPORT_NAMES = {
    "identity": "identity",
    "relu": "relu",
    "leaky-relu": "leaky_relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "gelu",
    "softmax-ce": "softmax",
    "sigmoid-bce": "sigmoid",
    "sigmoid-mse": "sigmoid",
    "identity-mse": "identity",
}


def _activations_of(net: Network) -> tuple[list[str], float]:
    """Each layer's activation name (hidden ones, then the head's output function) in the
    exporters' names, and leaky ReLU's slope: this is the one place that learns them from the
    network (``net.activations``, ``net.head``, ``net.negative_slope``)."""
    L = len(net.sizes) - 1
    names = [_EXPORT_NAMES[name] for name in [*net.activations, net.head]]
    if len(names) != L:
        raise ValueError(f"{len(names)} activations for {L} layers")
    return names, float(net.negative_slope)


def _f32(values: Any) -> list[float]:
    return [float(v) for v in values]


def from_network(net: Network, inputs: str | None = None, source: str = "") -> ModelSpec:
    """The spec of ``net`` (weights copied out of it, batch norm folded in float64).

    ``inputs`` says what the raw input is: "pixels" (0..255, read as / 255) or "features"
    (used as given, then standardised). By default a network with an input standardisation,
    or one trained on a CSV file (metadata dataset "csv"), takes features; others pixels."""
    if inputs is None:
        csv = net.metadata.get("dataset") == "csv"
        inputs = "features" if net.standardization is not None or csv else "pixels"
    names, slope = _activations_of(net)
    sizes = net.sizes
    L = len(sizes) - 1
    layers = []
    for l in range(L):
        n_out = sizes[l + 1]
        flat = _f32(net.tensor(l, "weight"))  # (n_in, n_out) row-major
        weight = [flat[j::n_out] for j in range(n_out)]  # (n_out, n_in)
        bias = _f32(net.tensor(l, "bias"))
        if net.batchnorm and l < L - 1:
            gamma, beta = _f32(net.tensor(l, "bn_gamma")), _f32(net.tensor(l, "bn_beta"))
            mu, var = _f32(net.tensor(l, "bn_running_mean")), _f32(net.tensor(l, "bn_running_var"))
            for j in range(n_out):
                k = gamma[j] / math.sqrt(var[j] + BN_EPS)
                weight[j] = [w * k for w in weight[j]]
                bias[j] = (bias[j] - mu[j]) * k + beta[j]
        layers.append(Layer(weight, bias, names[l], slope))
    std = net.standardization
    return ModelSpec(
        layers,
        inputs=inputs,
        mean=std[0] if std else None,
        std=std[1] if std else None,
        classes=list(net.classes) if net.classes is not None else None,
        about=dict(net.metadata),
        source=source,
        batchnorm=bool(net.batchnorm) and L > 1,
    )
