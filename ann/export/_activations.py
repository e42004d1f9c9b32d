"""The activations and output heads the exporters know: what each one means, in float64.

Each exporter keeps its own table keyed by these names (``c_float._ACTIVATION_C``,
``c_int8`` through ``INT8_KIND``, ``onnx._ACTIVATION_NODES``...), so supporting a new
activation is one entry in each table; ``tests/test_export_units.py`` checks that every table
covers every name here, and holds each exporter's code to the float64 meaning given here.

Hidden activations, applied to each pre-activation v of a hidden layer:

    identity     v
    relu         max(v, 0)
    leaky_relu   v if v > 0 else alpha v          (alpha: the layer's negative slope)
    sigmoid      1 / (1 + e^-v)
    tanh         tanh v
    gelu         v Phi(v) = v (1 + erf(v / sqrt 2)) / 2     (the exact form, not the tanh fit)

Heads, applied to the output layer's logits z (K of them), give the scores ``predict`` writes
and the class it returns:

    softmax      p_k = e^z_k / sum_j e^z_j;    class argmax_k z_k      (softmax + cross-entropy)
    sigmoid      p_k = 1 / (1 + e^-z_k);       class argmax_k z_k, or z_0 > 0 for K = 1
                                               (sigmoid + binary cross-entropy or + MSE)
    identity     y_k = z_k;                    class 0 (regression, identity + MSE)

The argmax is the first largest, as ann's C core takes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable


def _sigmoid(v: float) -> float:
    # two forms, so that e^x never overflows: e^-v for v >= 0, e^v below
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Hidden:
    """A hidden-layer activation: ``f(v, alpha)`` in float64 (alpha is only read by leaky
    ReLU) and how the int8 path computes it: "linear" ones (piecewise linear through 0) are
    requantized straight from the int32 accumulator, "table" ones through a 256-entry lookup
    table over the int8 pre-activation (docs/quantization.md)."""

    name: str
    f: Callable[[float, float], float]
    int8: str


HIDDEN: dict[str, Hidden] = {
    h.name: h
    for h in (
        Hidden("identity", lambda v, a: v, "linear"),
        Hidden("relu", lambda v, a: v if v > 0.0 else 0.0, "linear"),
        Hidden("leaky_relu", lambda v, a: v if v > 0.0 else a * v, "linear"),
        Hidden("sigmoid", lambda v, a: _sigmoid(v), "table"),
        Hidden("tanh", lambda v, a: math.tanh(v), "table"),
        Hidden("gelu", lambda v, a: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))), "table"),
    )
}


def argmax(values: Sequence[float]) -> int:
    """The index of the first largest value."""
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best]:
            best = k
    return best


def _softmax(z: Sequence[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = math.fsum(e)
    return [v / total for v in e]


def _sigmoid_class(z: Sequence[float]) -> int:
    return argmax(z) if len(z) > 1 else int(z[0] > 0.0)


@dataclass(frozen=True)
class Head:
    """An output head: ``scores(z)`` and ``classify(z)`` over the logits, in float64;
    ``probabilities`` says whether the scores are probabilities (ann's loss and accuracy apply)
    or plain outputs (regression)."""

    name: str
    scores: Callable[[Sequence[float]], list[float]]
    classify: Callable[[Sequence[float]], int]
    probabilities: bool


HEADS: dict[str, Head] = {
    h.name: h
    for h in (
        Head("softmax", _softmax, argmax, True),
        Head("sigmoid", lambda z: [_sigmoid(v) for v in z], _sigmoid_class, True),
        Head("identity", lambda z: list(z), lambda z: 0, False),
    )
}

#: Leaky ReLU's negative slope when the model does not say (PyTorch's default).
DEFAULT_LEAKY_SLOPE = 0.01
