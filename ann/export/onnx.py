"""``ann export-onnx``: a network as an ONNX model (opset 17), written in pure Python.

The graph computes what ``ann.Network.predict_proba`` does, from the same raw input:

    input (N, D) float32 --[Mul 1/255]--[Sub mean, Div std]--> Gemm W1, b1 -> act -> ...
        ... -> Gemm WL, bL -> logits --[head]--> probabilities (N, K)   (first output)
                                     --[ArgMax]--> class (N) int64

(the Mul only for image models, Sub/Div only with a standardisation; batch norm is folded
into the Gemm before it). A regression head's first output is "outputs" and it has no class.

Each activation and head is one entry of ``_ACTIVATION_NODES`` / ``_HEAD_NODES``: a function
adding its nodes after a tensor. The file is encoded by ``_protobuf`` with the field numbers
of onnx.proto, so no ``onnx`` package is needed to write it (the tests read it back with
``onnx`` and run it with ONNX Runtime).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Callable, Union

from .. import __version__
from ._protobuf import bytes_field, float_field, int_field, message, string_field
from ._spec import ModelSpec

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17 (ONNX 1.12)

# TensorProto.DataType
_FLOAT, _INT64 = 1, 7
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT = 1, 2


def _tensor(name: str, dims: Sequence[int], values: Sequence[float]) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9: little-endian)."""
    return message(
        [*(int_field(1, d) for d in dims), int_field(2, _FLOAT), string_field(8, name)]
        + [bytes_field(9, struct.pack(f"<{len(values)}f", *values))]
    )


def _int64_tensor(name: str, values: Sequence[int]) -> bytes:
    return message(
        [int_field(1, len(values)), int_field(2, _INT64), string_field(8, name)]
        + [bytes_field(9, struct.pack(f"<{len(values)}q", *values))]
    )


Attribute = Union[int, float]


def _attribute(name: str, value: Attribute) -> bytes:
    """AttributeProto: name (1), f (2) or i (3), type (20)."""
    if isinstance(value, float):
        return message([string_field(1, name), float_field(2, value), int_field(20, _ATTR_FLOAT)])
    return message([string_field(1, name), int_field(3, value), int_field(20, _ATTR_INT)])


def _value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto name (1), type (2) = TypeProto { tensor_type (1) = { elem_type (1),
    shape (2) = TensorShapeProto { dim (1) = { dim_value (1) or dim_param (2) } } } }."""
    shape = message(
        bytes_field(1, int_field(1, d) if isinstance(d, int) else string_field(2, d)) for d in dims
    )
    tensor_type = message([int_field(1, elem_type), bytes_field(2, shape)])
    return message([string_field(1, name), bytes_field(2, bytes_field(1, tensor_type))])


class _Graph:
    """Nodes and initializers, named uniquely as they are added."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._count = 0

    def constant(self, name: str, values: Sequence[float], dims: Sequence[int] = ()) -> str:
        self.initializers.append(_tensor(name, dims, values))
        return name

    def int64_constant(self, name: str, values: Sequence[int]) -> str:
        self.initializers.append(_int64_tensor(name, values))
        return name

    def node(
        self, op: str, inputs: Sequence[str], output: str | None = None, **attributes: Attribute
    ) -> str:
        """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5); returns the
        output's name (a fresh one unless given)."""
        self._count += 1
        output = output or f"{op.lower()}_{self._count}"
        fields = [string_field(1, i) for i in inputs] + [
            string_field(2, output),
            string_field(3, f"{op}_{self._count}"),
            string_field(4, op),
        ]
        fields += [bytes_field(5, _attribute(k, v)) for k, v in attributes.items()]
        self.nodes.append(message(fields))
        return output


def _gelu(g: _Graph, x: str, alpha: float) -> str:
    # x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (Gelu itself is an operator only from opset 20)
    inv_sqrt2 = g.constant(f"{x}_inv_sqrt2", [1.0 / math.sqrt(2.0)])
    one, half = g.constant(f"{x}_one", [1.0]), g.constant(f"{x}_half", [0.5])
    erf = g.node("Erf", [g.node("Mul", [x, inv_sqrt2])])
    return g.node("Mul", [g.node("Mul", [x, g.node("Add", [erf, one])]), half])


# hidden activation -> nodes after tensor x (alpha: leaky ReLU's slope)
_ACTIVATION_NODES: dict[str, Callable[[_Graph, str, float], str]] = {
    "identity": lambda g, x, alpha: x,
    "relu": lambda g, x, alpha: g.node("Relu", [x]),
    "leaky_relu": lambda g, x, alpha: g.node("LeakyRelu", [x], alpha=float(alpha)),
    "sigmoid": lambda g, x, alpha: g.node("Sigmoid", [x]),
    "tanh": lambda g, x, alpha: g.node("Tanh", [x]),
    "gelu": _gelu,
}


def _sigmoid_class(g: _Graph, z: str, K: int) -> str:
    if K > 1:
        return g.node("ArgMax", [z], "class", axis=1, keepdims=0)
    zero = g.constant("zero", [0.0])
    positive = g.node("Cast", [g.node("Greater", [z, zero])], to=_INT64)
    return g.node("Squeeze", [positive, g.int64_constant("class_axis", [1])], "class")


# head -> (first output's name, nodes making it from the logits z, nodes making the class
# output from z, or None for a regression)
_HEAD_NODES: dict[
    str, tuple[str, Callable[[_Graph, str], str], Callable[[_Graph, str, int], str] | None]
] = {
    "softmax": (
        "probabilities",
        lambda g, z: g.node("Softmax", [z], "probabilities", axis=1),
        lambda g, z, K: g.node("ArgMax", [z], "class", axis=1, keepdims=0),
    ),
    "sigmoid": (
        "probabilities",
        lambda g, z: g.node("Sigmoid", [z], "probabilities"),
        _sigmoid_class,
    ),
    "identity": ("outputs", lambda g, z: g.node("Identity", [z], "outputs"), None),
}


def model_bytes(spec: ModelSpec) -> bytes:
    """The ONNX ModelProto of ``spec``, encoded."""
    D, K = spec.sizes[0], spec.sizes[-1]
    g = _Graph()
    x = "input"
    if spec.inputs == "pixels":  # as ann's C core: pixel * (1.0f / 255.0f)
        x = g.node("Mul", [x, g.constant("inv_255", [1.0 / 255.0])], "pixels_scaled")
    if spec.mean is not None and spec.std is not None:
        x = g.node("Sub", [x, g.constant("mean", spec.mean, [D])])
        x = g.node("Div", [x, g.constant("std", spec.std, [D])], "standardised")
    for l, layer in enumerate(spec.layers, start=1):
        w = g.constant(f"w{l}", [v for row in layer.weight for v in row], [layer.n_out, layer.n_in])
        b = g.constant(f"b{l}", layer.bias, [layer.n_out])
        last = l == len(spec.layers)
        x = g.node("Gemm", [x, w, b], "logits" if last else f"z{l}", transB=1)
        if not last:
            x = _ACTIVATION_NODES[layer.activation](g, x, layer.alpha)
    first, scores, classify = _HEAD_NODES[spec.head]
    scores(g, x)
    outputs = [_value_info(first, _FLOAT, ["N", K])]
    if classify is not None:
        classify(g, x, K)
        outputs.append(_value_info("class", _INT64, ["N"]))
    doc = (
        f"ann network {'-'.join(map(str, spec.sizes))}: input the raw "
        + ("pixels 0..255" if spec.inputs == "pixels" else "features")
        + f", output {first}"
        + (" and class" if classify is not None else "")
    )
    graph = message(
        [bytes_field(1, n) for n in g.nodes]
        + [string_field(2, "ann")]
        + [bytes_field(5, t) for t in g.initializers]
        + [string_field(10, doc)]
        + [bytes_field(11, _value_info("input", _FLOAT, ["N", D]))]
        + [bytes_field(12, o) for o in outputs]
    )
    metadata = {"inputs": spec.inputs, "layers": json.dumps(spec.sizes)}
    if spec.classes is not None:
        metadata["classes"] = json.dumps(spec.classes)
    for key in ("dataset", "epochs", "best_val_loss"):
        if key in spec.about:
            metadata[key] = spec.about[key]
    opset = message([string_field(1, ""), int_field(2, OPSET)])
    return message(
        [
            int_field(1, IR_VERSION),
            string_field(2, "ann"),
            string_field(3, __version__),
            string_field(6, doc),
            bytes_field(7, graph),
            bytes_field(8, opset),
        ]
        + [
            bytes_field(14, message([string_field(1, k), string_field(2, v)]))
            for k, v in metadata.items()
        ]
    )
