"""int8 post-training quantization, and the quantized network's own predictions.

Every real value r of a tensor is stored as an 8-bit code q with a scale s and a zero point
z, r = s (q - z) (docs/quantization.md derives all of this step by step):

* weights: symmetric, one scale per output unit ("per channel"), s_j = max_i |W_ji| / 127,
  z = 0, q = round(W / s_j) in -127..127;
* pixels: the uint8 bytes themselves, s = 1/255, z = 0 (no conversion at all);
* features: standardised in float32 as ann does, then to int8 with one scale and zero point
  calibrated on the training rows;
* hidden activations: int8 with a scale and zero point calibrated on N training rows (the
  range each layer's outputs took there, widened to hold 0 so that 0 is exact);
* accumulators: int32, acc_j = B_j + sum_i q_i w_ji with the bias and the input's zero point
  folded into B_j = round(b_j / (s_x s_j)) - z_x sum_i w_ji;
* requantization: the next layer's code is z_y + round(acc_j M_j) with M_j = s_x s_j / s_y
  applied as an integer multiplier and a right shift, M_j = m_j / 2^shift_j with m_j in
  [2^30, 2^31) (as TensorFlow Lite Micro does), rounding halves away from zero;
* smooth activations (sigmoid, tanh, GELU): the accumulator is requantized to an int8
  pre-activation and looked up in a 256-entry table of the activation's int8 outputs;
* the output: softmax and sigmoid heads get the logits as int32 fixed point with 16
  fractional bits (the same scale for every class, so the class is their argmax) and the
  probabilities from an integer exponential; a regression head's outputs are the
  accumulators times s_x s_j, in float32.

Everything after calibration is integer arithmetic, which ``_int8`` runs in Python exactly as
the generated C does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._defaults import CALIBRATION_ROWS
from ._activations import HEADS, HIDDEN, argmax
from ._int8 import (
    INT32_MAX,
    LOGIT_BITS,
    ONE_Q24,
    PackedLayer,
    clamp,
    dot_naive,
    exp_neg,
    f32,
    pixel_code,
    quantize_input,
    scale,
)
from ._spec import ExportError, Layer, ModelSpec, forward, prepare_input

#: calibration rows when the caller does not say
DEFAULT_CALIBRATION_ROWS = CALIBRATION_ROWS
#: the bias of a unit must fit in this many bits of its int32 accumulator, leaving the rest
#: for the sum of products (see _weight_scales)
_BIAS_BITS = 29


def round_half_away(x: float) -> int:
    """x rounded to the nearest integer, halves away from zero."""
    r = math.floor(abs(x) + 0.5)
    return int(r) if x >= 0 else -int(r)


def quantize_multiplier(m: float) -> tuple[int, int]:
    """(multiplier, shift) with m ~= multiplier / 2^shift, multiplier in [2^30, 2^31) and
    1 <= shift <= 62 (ExportError for m >= 2^30, which no sane network needs)."""
    if m <= 0.0:
        return 0, 1
    frac, exp = math.frexp(m)  # m = frac 2^exp, 1/2 <= frac < 1
    mult = round_half_away(frac * 2**31)
    if mult == 2**31:
        mult, exp = mult // 2, exp + 1
    shift = 31 - exp
    if shift < 1:
        raise ExportError(f"a requantization multiplier of {m:.3g} is too large for int8")
    if shift > 62:  # a tiny multiplier: fewer bits of it
        mult, shift = round_half_away(mult / 2 ** (shift - 62)), 62
    return mult, shift


def domain(low: float, high: float) -> tuple[float, int]:
    """(scale, zero point) of int8 codes covering [low, high] widened to hold 0:
    s = (high - low) / 255, z = round(-128 - low / s), so that r = 0 is the code z exactly."""
    low, high = min(low, 0.0), max(high, 0.0)
    if not high > low:  # a layer that only ever gave 0
        return 1.0, 0
    s = (high - low) / 255.0
    return s, clamp(round_half_away(-128.0 - low / s), -128, 127)


@dataclass
class QuantizedLayer:
    """One layer's integer tables (see the module docstring for each symbol).

    ``kind`` says how the accumulators become outputs: "linear" (identity, ReLU, leaky ReLU:
    requantized to int8 directly), "table" (sigmoid, tanh, GELU: requantized to an int8
    pre-activation, then looked up), "logits" (softmax and sigmoid heads: Q16 logits),
    "outputs" (the identity head: float32 outputs)."""

    n_in: int
    n_out: int
    activation: str
    kind: str
    in_scale: float  # s_x
    in_zero: int  # z_x
    weight: list[int]  # (n_out, n_in) int8 codes, row j the weights into unit j
    weight_scale: list[float]  # s_j (n_out)
    bias: list[int]  # B_j (n_out) int32
    multiplier: list[int] = field(default_factory=list)  # m_j (n_out): linear, table, logits
    shift: list[int] = field(default_factory=list)
    negative_multiplier: list[int] | None = None  # leaky ReLU: alpha M_j for acc < 0
    negative_shift: list[int] | None = None
    zero: int = 0  # linear: the output's zero point; table: the pre-activation's
    low: int = -128  # linear: the lowest output code (ReLU: its zero point)
    table: list[int] | None = None  # table: the 256 output codes, by pre-activation code + 128
    pre_scale: float = 0.0  # table: the pre-activation's scale
    out_scale: float = 0.0  # linear and table: the outputs' scale and zero point
    out_zero: int = 0
    dequantize: list[float] | None = None  # outputs: float32 s_x s_j (n_out)
    packed: PackedLayer | None = field(default=None, repr=False, compare=False)


def _weight_scales(layer: Layer, in_scale: float) -> list[float]:
    """s_j = max_i |W_ji| / 127, raised where the bias would not fit 2^29 accumulator units
    (a unit whose weights are all but zero), and 1 for a unit with no weight at all."""
    scales = []
    for row, b in zip(layer.weight, layer.bias):
        s = max(map(abs, row)) / 127.0
        s = max(s, abs(b) / (in_scale * 2**_BIAS_BITS))
        scales.append(s if s > 0.0 else 1.0)
    return scales


def _quantize_layer(
    l: int,
    layer: Layer,
    last: bool,
    in_scale: float,
    in_zero: int,
    unsigned_input: bool,
    pre: tuple[float, float],
    post: tuple[float, float],
) -> QuantizedLayer:
    n_in, n_out = layer.n_in, layer.n_out
    scales = _weight_scales(layer, in_scale)
    weight = [
        clamp(round_half_away(w / s), -127, 127)
        for row, s in zip(layer.weight, scales)
        for w in row
    ]
    bias = []
    largest_input = 255 if unsigned_input else 128
    for j, (b, s) in enumerate(zip(layer.bias, scales)):
        B = round_half_away(b / (in_scale * s)) - in_zero * sum(weight[j * n_in : (j + 1) * n_in])
        if n_in * largest_input * 127 + abs(B) > INT32_MAX:
            raise ExportError(
                f"layer {l + 1} has {n_in} inputs, too many for int8 with int32 accumulators "
                f"(at most {(INT32_MAX - 2**_BIAS_BITS) // (largest_input * 127):,})"
            )
        bias.append(B)
    q = QuantizedLayer(n_in, n_out, layer.activation, "", in_scale, in_zero, weight, scales, bias)
    real = [in_scale * s for s in scales]  # one accumulator unit of each output, in reals

    def multipliers(ms: Sequence[float]) -> tuple[list[int], list[int]]:
        pairs = [quantize_multiplier(m) for m in ms]
        return [m for m, _ in pairs], [s for _, s in pairs]

    if last:
        if HEADS[layer.activation].name == "identity":
            q.kind = "outputs"
            q.dequantize = [f32(r) for r in real]
        else:
            q.kind = "logits"
            q.multiplier, q.shift = multipliers([r * 2**LOGIT_BITS for r in real])
        return q
    hidden = HIDDEN[layer.activation]
    if hidden.int8 == "linear":
        q.kind = "linear"
        q.out_scale, q.out_zero = domain(*post)
        q.zero = q.out_zero
        q.low = q.out_zero if layer.activation == "relu" else -128
        q.multiplier, q.shift = multipliers([r / q.out_scale for r in real])
        if layer.activation == "leaky_relu":
            q.negative_multiplier, q.negative_shift = multipliers(
                [layer.alpha * r / q.out_scale for r in real]
            )
        return q
    q.kind = "table"
    q.pre_scale, q.zero = domain(*pre)
    q.multiplier, q.shift = multipliers([r / q.pre_scale for r in real])
    values = [hidden.f(q.pre_scale * (k - q.zero), layer.alpha) for k in range(-128, 128)]
    q.out_scale, q.out_zero = domain(min(values), max(values))
    q.table = [clamp(round_half_away(v / q.out_scale) + q.out_zero, -128, 127) for v in values]
    return q


def _fold_pixel_standardisation(spec: ModelSpec) -> list[Layer]:
    """The layers with an image model's standardisation folded into the first one, so that
    it reads the pixel bytes: with x = p / 255 and x' = (x - m) / s, W x' + b = W' x + b'
    for W'_ji = W_ji / s_i and b'_j = b_j - sum_i W_ji m_i / s_i."""
    layers = list(spec.layers)
    if spec.inputs != "pixels" or spec.mean is None or spec.std is None:
        return layers
    first = layers[0]
    mean, std = spec.mean, spec.std
    weight = [[w / s for w, s in zip(row, std)] for row in first.weight]
    bias = [
        b - sum(w * m / s for w, m, s in zip(row, mean, std))
        for row, b in zip(first.weight, first.bias)
    ]
    layers[0] = Layer(weight, bias, first.activation, first.alpha)
    return layers


class QuantizedNetwork:
    """A network quantized to int8 (``ann.quantize`` makes one): the tables of the int8 C
    header and its exact arithmetic in Python.

    ``predict(data)`` and ``predict_proba(data)`` take what ``ann.Network.predict`` takes
    (a Dataset, or rows: uint8 pixels for an image model, float features otherwise);
    ``evaluate(ds)`` gives {"loss", "accuracy"} of the int8 arithmetic."""

    def __init__(
        self,
        spec: ModelSpec,
        layers: list[QuantizedLayer],
        input_scale: float,
        input_zero: int,
        calibration: str,
        rows: int,
    ) -> None:
        self.spec = spec
        self.layers = layers
        self.input_scale, self.input_zero = input_scale, input_zero
        # features: code = z + round((x - mean_i) / divisor_i), divisor_i = std_i s_x (float32)
        D = spec.sizes[0]
        self.input_mean = [f32(v) for v in spec.mean] if spec.mean is not None else [0.0] * D
        stds = spec.std if spec.std is not None else [1.0] * D
        self.input_divisor = [f32(s * input_scale) for s in stds]
        self.calibration = calibration  # which rows calibrated it, in words
        self.rows = rows

    @property
    def sizes(self) -> list[int]:
        return self.spec.sizes

    @property
    def classes(self) -> list[str] | None:
        return self.spec.classes

    def __repr__(self) -> str:
        return (
            f"<ann.QuantizedNetwork {'-'.join(map(str, self.sizes))} int8, calibrated on "
            f"{self.calibration}>"
        )

    # ---- the arithmetic ---------------------------------------------------------------

    def input_codes(self, raw: Any) -> bytes:
        """One row of raw input as the first layer's codes, shifted to 0..255: the pixel
        bytes themselves, or each standardised feature's int8 code + 128."""
        if self.spec.inputs == "pixels":
            if isinstance(raw, (bytes, bytearray)):
                return bytes(raw)
            return bytes(pixel_code(f32(v)) for v in raw)
        return bytes(
            quantize_input(f32(v), m, d, self.input_zero) + 128
            for v, m, d in zip(raw, self.input_mean, self.input_divisor)
        )

    def accumulators(self, raw: Any, naive: bool = False) -> list[int]:
        """The output layer's int32 accumulators for one row (``naive``: with the plain
        loops instead of the packed sums; the two are equal)."""
        u = self.input_codes(raw)
        for l, q in enumerate(self.layers):
            offset = 0 if (l == 0 and self.spec.inputs == "pixels") else 128
            if naive:
                x = [v - offset for v in u]
                acc = dot_naive(x, q.weight, q.n_in, q.n_out)
            else:
                if q.packed is None:
                    q.packed = PackedLayer(q.weight, q.n_in, q.n_out, offset)
                acc = q.packed(u)
            acc = [a + b for a, b in zip(acc, q.bias)]
            if l == len(self.layers) - 1:
                return acc
            u = bytes(c + 128 for c in _activate(q, acc))
        raise AssertionError("unreachable")

    def run(self, raw: Any, naive: bool = False) -> tuple[int, list[float], list[int]]:
        """(class, scores, logits) of one row, as the header's predict gives them; the
        logits are the Q16 integers (the accumulators for a regression head)."""
        acc = self.accumulators(raw, naive)
        return _output(self.layers[-1], acc)

    # ---- the public side ---------------------------------------------------------------

    def _rows(self, data: Any) -> tuple[list[Any], list[int] | None]:
        from .._data import Dataset, read_features

        if isinstance(data, Dataset):
            self._check_kind(data.dtype, data.name)
            if data.features != self.sizes[0]:
                raise ExportError(
                    f"{data.name} has {data.features} features per row but the network takes "
                    f"{self.sizes[0]} inputs"
                )
            labels = list(data.labels) if data.has_labels else None  # a regression's: none
            return [data[i][0] for i in range(len(data))], labels
        dtype, values, _ = read_features(data, "predict input")
        self._check_kind(dtype, "predict input")
        D = self.sizes[0]
        if not len(values) or len(values) % D:
            raise ExportError(f"{len(values)} values are not a whole number of rows of {D}")
        if dtype == "uint8":
            raw = bytes(values)
            return [raw[r * D : (r + 1) * D] for r in range(len(raw) // D)], None
        return [values[r * D : (r + 1) * D] for r in range(len(values) // D)], None

    def _check_kind(self, dtype: str, what: str) -> None:
        pixels = self.spec.inputs == "pixels"
        if pixels and dtype != "uint8":
            raise ExportError(f"{what}: the int8 image network reads uint8 pixels, not {dtype}")
        if not pixels and dtype == "uint8":
            raise ExportError(f"{what}: the int8 network reads float features, not uint8 pixels")

    def predict(self, data: Any) -> list[int]:
        """The class the int8 header returns for each row."""
        rows, _ = self._rows(data)
        return [self.run(r)[0] for r in rows]

    def predict_proba(self, data: Any) -> list[list[float]]:
        """The scores the int8 header writes for each row (float32 values)."""
        rows, _ = self._rows(data)
        return [self.run(r)[1] for r in rows]

    def evaluate(self, data: Any) -> dict[str, float]:
        """{"loss": mean cross-entropy of the int8 logits, "accuracy"} over a Dataset."""
        head = self.spec.head
        if head == "identity":
            raise ExportError("evaluate needs a classifier: this network is a regression")
        rows, labels = self._rows(data)
        if labels is None or not rows:
            raise ExportError("evaluate needs a labelled, non-empty ann.Dataset")
        loss = 0.0
        correct = 0
        for raw, label in zip(rows, labels):
            cls, _, logits = self.run(raw)
            correct += cls == label
            loss += _cross_entropy(head, [v / 2**LOGIT_BITS for v in logits], label)
        return {"loss": loss / len(rows), "accuracy": correct / len(rows)}


def _activate(q: QuantizedLayer, acc: list[int]) -> list[int]:
    """A hidden layer's int8 outputs from its accumulators."""
    out = []
    for j, a in enumerate(acc):
        if q.kind == "table":
            assert q.table is not None
            pre = clamp(q.zero + scale(a, q.multiplier[j], q.shift[j]), -128, 127)
            out.append(q.table[pre + 128])
            continue
        if a < 0 and q.negative_multiplier is not None and q.negative_shift is not None:
            v = scale(a, q.negative_multiplier[j], q.negative_shift[j])
        else:
            v = scale(a, q.multiplier[j], q.shift[j])
        out.append(clamp(q.zero + v, q.low, 127))
    return out


def _output(q: QuantizedLayer, acc: list[int]) -> tuple[int, list[float], list[int]]:
    """(class, scores, logits) from the output layer's accumulators."""
    if q.kind == "outputs":
        assert q.dequantize is not None
        return 0, [f32(f32(a) * d) for a, d in zip(acc, q.dequantize)], acc
    logits = [
        clamp(scale(a, m, s), -INT32_MAX, INT32_MAX) for a, m, s in zip(acc, q.multiplier, q.shift)
    ]
    if q.activation == "softmax":
        top = max(logits)
        e = [exp_neg(top - v) for v in logits]
        total = f32(sum(e))
        return argmax(logits), [f32(v / total) for v in e], logits
    scores = []  # sigmoid
    for v in logits:
        tail = exp_neg(abs(v))  # 2^24 e^-|v|
        denominator = f32(ONE_Q24 + tail)
        scores.append(f32((ONE_Q24 if v >= 0 else tail) / denominator))
    cls = argmax(logits) if len(logits) > 1 else int(logits[0] > 0)
    return cls, scores, logits


def _cross_entropy(head: str, z: list[float], label: int) -> float:
    if head == "softmax":
        top = max(z)
        return top + math.log(math.fsum(math.exp(v - top) for v in z)) - z[label]

    # sigmoid: binary cross-entropy of each output against the one-hot label, averaged;
    # log(1 + e^-|v|) + max(-v, 0) is -log sigmoid(v), without overflow
    def nll(v: float) -> float:
        return math.log1p(math.exp(-abs(v))) + max(-v, 0.0)

    if len(z) == 1:
        return nll(z[0] if label == 1 else -z[0])
    return sum(nll(v if k == label else -v) for k, v in enumerate(z)) / len(z)


# ---- calibration ------------------------------------------------------------------------


def calibration_rows(data: Any, rows: int | None, seed: int = 0) -> list[Any]:
    """The raw rows calibration runs on: ``rows`` of ``data`` (a Dataset) drawn at random
    (seeded), in data order; all of them when rows is None and there are at most 1000."""
    n = len(data)
    if rows is None:
        rows = min(n, DEFAULT_CALIBRATION_ROWS)
    elif isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"calibration rows must be a positive int, got {rows!r}")
    if rows > n:
        raise ExportError(
            f"calibration needs {rows:,} rows but {data.name!r} has only {n:,}: ask for fewer"
        )
    chosen = sorted(random.Random(seed).sample(range(n), rows))
    return [data[i][0] for i in chosen]


def quantize_spec(spec: ModelSpec, rows: Sequence[Any], calibration: str = "") -> QuantizedNetwork:
    """Quantize ``spec`` with activation ranges measured on ``rows`` (raw input rows)."""
    if not rows:
        raise ExportError("calibration needs at least one row")
    layers = _fold_pixel_standardisation(spec)
    folded = ModelSpec(layers, inputs=spec.inputs, classes=spec.classes)
    if spec.inputs == "features":
        folded.mean, folded.std = spec.mean, spec.std
    L = len(layers)
    inf = math.inf
    pre = [[inf, -inf] for _ in range(L)]
    post = [[inf, -inf] for _ in range(L)]
    x_low, x_high = inf, -inf
    for raw in rows:
        if spec.inputs == "features":
            x = prepare_input(folded, raw)
            x_low, x_high = min(x_low, min(x)), max(x_high, max(x))
        for l, (z, a) in enumerate(forward(folded, raw)):
            pre[l][0], pre[l][1] = min(pre[l][0], min(z)), max(pre[l][1], max(z))
            post[l][0], post[l][1] = min(post[l][0], min(a)), max(post[l][1], max(a))
    if spec.inputs == "pixels":
        in_scale, in_zero = 1.0 / 255.0, 0
    else:
        in_scale, in_zero = domain(x_low, x_high)
    input_scale, input_zero = in_scale, in_zero
    out = []
    for l, layer in enumerate(layers):
        q = _quantize_layer(
            l,
            layer,
            l == L - 1,
            in_scale,
            in_zero,
            l == 0 and spec.inputs == "pixels",
            (pre[l][0], pre[l][1]),
            (post[l][0], post[l][1]),
        )
        out.append(q)
        in_scale, in_zero = q.out_scale, q.out_zero
    return QuantizedNetwork(spec, out, input_scale, input_zero, calibration, len(rows))
