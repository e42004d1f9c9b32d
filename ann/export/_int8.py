"""The int8 header's arithmetic in Python, operation for operation, so that ``ann evaluate
--int8`` reports what the C computes, bit for bit, with no compiler.

Every step is an integer operation with one defined result (no C behaviour that is
implementation-defined: right shifts are of non-negative values only), except the last one,
the scores: integer-valued floats divided in float32, which ``f32`` reproduces (a float64
quotient of two float32 values, rounded once more to float32, is the float32 quotient: the
double rounding is harmless for division when the wide format has at least 2 x 24 + 2 bits).

Two implementations of a layer's int32 accumulators: ``dot_naive`` (the C loop, the
reference) and ``PackedLayer`` (the same integers many times faster, for 10,000 test images
in a second): it packs each input's weights into the lanes of one Python integer, so that a
whole layer is one sum of (input x big integer) products done by the interpreter's C code.
``tests/test_export_int8.py`` holds the two equal, and both equal to the compiled header.
The derivation is in docs/quantization.md.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import compress
from operator import mul

INT32_MAX = 2**31 - 1
#: the logits of the softmax and sigmoid heads are fixed point with 16 fractional bits
LOGIT_BITS = 16
#: e^-d is computed as 2^(-d log2 e): log2 e in Q24
LOG2E_Q24: int = round(math.log2(math.e) * (1 << 24))
#: 2^(-k/64) in Q24 for k = 0..64: the table exp_neg interpolates
EXP2_STEPS = 64
EXP2_TABLE: tuple[int, ...] = tuple(
    round(2.0**24 * 2.0 ** (-k / EXP2_STEPS)) for k in range(EXP2_STEPS + 1)
)
ONE_Q24 = 1 << 24


def f32(value: float) -> float:
    """``value`` rounded to float32 (round half to even), as a C cast to float does."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def shift_round(v: int, shift: int) -> int:
    """round(v / 2^shift), halves away from zero (shift >= 1): the C writes it with shifts of
    non-negative values only, which C defines on every machine."""
    half = 1 << (shift - 1)
    return (v + half) >> shift if v >= 0 else -((-v + half) >> shift)


def scale(acc: int, multiplier: int, shift: int) -> int:
    """acc x M with M = multiplier / 2^shift, rounded: the requantization step."""
    return shift_round(acc * multiplier, shift)


def clamp(v: int, low: int, high: int) -> int:
    return low if v < low else high if v > high else v


def exp_neg(d: int) -> int:
    """2^24 e^(-d / 2^16) for d >= 0 (d in Q16), in integers: e^-x = 2^-y with y = x log2 e,
    split into y = n + f (n whole, 0 <= f < 1, f in Q16); 2^-f by linear interpolation in a
    table of 64 steps (relative error below 2e-5 in all), then >> n."""
    y = (d * LOG2E_Q24 + (1 << 23)) >> 24  # Q16
    n = y >> LOGIT_BITS
    if n > 24:
        return 0
    f = y & 0xFFFF
    i, r = f >> 10, f & 0x3FF
    hi, lo = EXP2_TABLE[i], EXP2_TABLE[i + 1]
    v = hi - (((hi - lo) * r + 512) >> 10)
    return (v + ((1 << n) >> 1)) >> n


def quantize_input(value: float, mean: float, divisor: float, zero: int) -> int:
    """A float32 feature to its int8 code, as the header's C does in float32: u = (x - m) / d
    (d is the standardisation's std times the input scale: one division, which no compiler
    fuses with the rounding's addition), clamped to +-256 (NaN to 256), rounded half away
    from zero by adding 1/2 and truncating, then + zero and clamped to -128..127."""
    u = f32(f32(value - mean) / divisor)
    if not u < 256.0:  # NaN too
        u = 256.0
    if not u > -256.0:
        u = -256.0
    r = int(f32(u + 0.5)) if u >= 0.0 else -int(f32(0.5 - u))
    return clamp(r + zero, -128, 127)


def pixel_code(value: float) -> int:
    """A float pixel value (0..255) to the uint8 the image header's predict(float) uses:
    rounded half up, clamped (NaN to 0)."""
    if not value > 0.0:
        return 0
    if value >= 255.0:
        return 255
    return int(f32(value + 0.5))


def dot_naive(x: Sequence[int], weights: Sequence[int], n_in: int, n_out: int) -> list[int]:
    """acc_j = sum_i x_i w_ji, the C loop (weights (n_out, n_in) row by row)."""
    return [sum(map(mul, x, weights[j * n_in : (j + 1) * n_in])) for j in range(n_out)]


class PackedLayer:
    """acc_j = sum_i x_i w_ji for every j at once.

    The codes are shifted to be non-negative, u_i = x_i + offset (offset 0 for pixels, 128
    for int8) and v_ji = w_ji + 128, and input i's v_ji for all j are packed into one integer
    R_i = sum_j v_ji 2^(B j) with B-bit lanes wide enough (n_in 255^2 < 2^B) that no lane
    carries into the next. Then S = sum_i u_i R_i holds sum_i u_i v_ji in lane j, and
        sum_i x_i w_ji = lane_j - 128 sum_i u_i - offset sum_i w_ji.
    Inputs with u_i = 0 (black pixels, units ReLU set to zero) are skipped."""

    def __init__(self, weights: Sequence[int], n_in: int, n_out: int, offset: int) -> None:
        self.n_out, self.offset = n_out, offset
        self.lane = 32 if n_in * 255 * 255 < 2**32 else 64
        self.format = f"<{n_out}{'I' if self.lane == 32 else 'Q'}"
        self.nbytes = n_out * self.lane // 8
        self.rows = []
        for i in range(n_in):
            packed = 0
            for j in reversed(range(n_out)):
                packed = (packed << self.lane) | (weights[j * n_in + i] + 128)
            self.rows.append(packed)
        self.column_sums = [sum(weights[j * n_in : (j + 1) * n_in]) for j in range(n_out)]

    def __call__(self, u: bytes) -> list[int]:
        """The accumulators for the shifted codes ``u`` (bytes: each x_i + offset)."""
        total = sum(map(mul, filter(None, u), compress(self.rows, u)))
        lanes = struct.unpack(self.format, total.to_bytes(self.nbytes, "little"))
        base = 128 * sum(u)
        return [lane - base - self.offset * c for lane, c in zip(lanes, self.column_sums)]
