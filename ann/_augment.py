"""Data augmentation: the ``Augment`` settings and the float64 twin of csrc/augment.c.

``Augment`` says how each training image is distorted, afresh for every mini-batch (the C core
does it as the batch is gathered, so no augmented copy of the data set is ever stored):

- a random affine map: rotation by U(-rotate, rotate) degrees, scaling by 1 + U(-scale, scale),
  horizontal shear U(-shear, shear), shift U(-shift, shift) pixels in x and in y;
- Simard's elastic distortion (Simard, Steinkraus & Platt 2003): a field of U(-1, 1)
  displacements smoothed by a Gaussian of width ``elastic_sigma`` pixels and scaled by
  ``elastic_alpha``, or instead rescaled image by image so that its largest displacement is
  ``elastic_max`` pixels.

``augment_batch`` below is the same transform written plainly in float64, draw for draw the
same random numbers as the C core; read it next to csrc/augment.c, whose opening comment
derives the math (inverse mapping, bilinear weights, separable Gaussian). The reference
backend (ann/_reference.py) trains with it, and the tests hold the C core to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ._checks import FLOAT32_MAX, float32
from ._rng import augment_stream, uniform

Matrix = list[float]

MAX_ROTATE = 180.0
MAX_SHEAR = 10.0
MAX_SIGMA = 100.0


def _range(value: Any, name: str, upper: float, inclusive: bool = True) -> float:
    """``value`` as a float in [0, upper] (or [0, upper)), checked as the float32 the C core
    gets too (0.99999999999 is 1 there; 1e300 is inf)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    single = float32(value) if ok else 0.0
    ok = ok and all(
        (v <= upper if inclusive else v < upper) and math.isfinite(v) for v in (value, single)
    )
    if not ok:
        bound = ("<= " if inclusive else "< ") + f"{upper:g}"
        if upper == math.inf:
            bound = f"at most {FLOAT32_MAX:.4g} (float32's largest)"
        raise ValueError(
            f"Augment: {name} must be a number >= 0 and {bound}, got {value!r}"
            + (f" (in float32, {single!r})" if single != value else "")
        )
    return float(value)


@dataclass(frozen=True)
class Augment:
    """How ``Network.fit(..., augment=...)`` distorts each training image, drawn afresh per
    mini-batch (never at validation, evaluation or prediction). Each range is symmetric and
    0 turns that part off; the defaults are a strong recipe for MNIST digits.

    - ``rotate``: degrees, the angle is uniform in [-rotate, rotate] (at most 180)
    - ``scale``: the size factor is uniform in [1 - scale, 1 + scale] (scale < 1)
    - ``shear``: horizontal shear factor uniform in [-shear, shear] (at most 10)
    - ``shift``: pixels, x and y each uniform in [-shift, shift]
    - ``elastic_alpha``: strength of the elastic distortion (0: none); with the default
      ``elastic_sigma`` = 4, alpha = 34 (Simard's value) moves pixels about 2 px (RMS), with
      no bound on the largest move
    - ``elastic_sigma``: pixels, width of the Gaussian that smooths the displacement field
      (in (0, 100])
    - ``elastic_max``: pixels; > 0 rescales each image's smoothed field so that its largest
      displacement (in x or in y) is ``elastic_max``, in place of ``elastic_alpha``'s fixed
      scale (which it sets to 0). With sigma 4, ``elastic_max`` = 2 moves pixels about 1 px
      (RMS), half as far as alpha 34, and never more than 2 px in x or in y

    The distortions are seeded by the ``fit`` seed, the batch number and the row, so a run is
    repeatable and the same for any thread count."""

    #: the ranges, each also a field of the C core's ann_augment
    FIELDS: ClassVar[tuple[str, ...]] = (
        "rotate",
        "scale",
        "shear",
        "shift",
        "elastic_alpha",
        "elastic_sigma",
        "elastic_max",
    )

    rotate: float = 12.0
    scale: float = 0.12
    shear: float = 0.2
    shift: float = 2.5
    elastic_alpha: float = 34.0
    elastic_sigma: float = 4.0
    elastic_max: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: store the validated floats
        set_(self, "rotate", _range(self.rotate, "rotate", MAX_ROTATE))
        set_(self, "scale", _range(self.scale, "scale", 1.0, inclusive=False))
        set_(self, "shear", _range(self.shear, "shear", MAX_SHEAR))
        set_(self, "shift", _range(self.shift, "shift", math.inf, inclusive=False))
        set_(self, "elastic_alpha", _range(self.elastic_alpha, "elastic_alpha", math.inf, False))
        set_(self, "elastic_max", _range(self.elastic_max, "elastic_max", math.inf, False))
        if self.elastic_max > 0:  # the bounded field replaces alpha's scaling
            set_(self, "elastic_alpha", 0.0)
        sigma = self.elastic_sigma
        if not (
            isinstance(sigma, (int, float))
            and not isinstance(sigma, bool)
            and 0 < sigma <= MAX_SIGMA
            and float32(sigma) > 0
        ):
            raise ValueError(
                f"Augment: elastic_sigma must be a number in (0, {MAX_SIGMA:g}], got {sigma!r}"
            )
        set_(self, "elastic_sigma", float(sigma))

    @classmethod
    def none(cls) -> Augment:
        """Zero ranges: the identity transform (each image comes back unchanged)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def elastic(self) -> bool:
        """Whether the elastic part is on (scaled by alpha, or bounded by elastic_max)."""
        return self.elastic_alpha > 0 or self.elastic_max > 0


#: the values of ``ann train --augment``: which of the two families distort the batches
MODES = ("none", "affine", "elastic", "affine+elastic")


def for_mode(mode: str, **ranges: float) -> Augment | None:
    """The ``Augment`` of an ``--augment`` mode: the ``ranges`` given (the rest at Augment's
    defaults) for the families the mode names, zero for the other; None for "none"."""
    if mode not in MODES:
        raise ValueError(f"augment mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none":
        return None
    if "affine" not in mode:
        ranges.update(rotate=0.0, scale=0.0, shear=0.0, shift=0.0)
    if "elastic" not in mode:
        ranges.update(elastic_alpha=0.0, elastic_max=0.0)
    return Augment(**ranges)


def image_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of a data set's images for augmentation: a 2-D shape, or a square 1-D one."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        return side, side
    raise ValueError(f"augment needs images (a 2-D or square shape), not data of shape {shape}")


# ---- the float64 twin of csrc/augment.c ------------------------------------------------


def gaussian_taps(sigma: float) -> list[float]:
    """g(0..r), r = ceil(3 sigma): exp(-k^2 / (2 sigma^2)) over the sum of all 2r + 1 taps."""
    # (an excess below 1e-5 relative is ignored, as in C: float32 and float64 sigma agree)
    r = max(1, math.ceil(3.0 * sigma * (1.0 - 1e-5)))
    raw = [math.exp(-k * k / (2.0 * sigma * sigma)) for k in range(r + 1)]
    total = raw[0] + 2.0 * sum(raw[1:])
    return [v / total for v in raw]


def mirror_index(i: int, n: int) -> int:
    """Index i of a row of n values mirrored about both ends without repeating them
    (... 2 1 | 0 1 ... n-1 | n-2 ...): period 2 (n - 1)."""
    if n == 1:
        return 0
    i %= 2 * (n - 1)
    return i if i < n else 2 * (n - 1) - i


def smooth(u: Matrix, taps: list[float], H: int, W: int, mirror: bool = False) -> Matrix:
    """u (H, W) convolved with the 2-D Gaussian as two 1-D passes (rows, then columns), 0
    outside the image (or, with ``mirror``, the image mirrored about its edges): the separable
    form of sum_{a,b} g(a) g(b) u[i + a][j + b]."""
    r = len(taps) - 1

    def line(values: list[float], at: int, n: int) -> float:
        if mirror:
            return sum(taps[abs(k)] * values[mirror_index(at + k, n)] for k in range(-r, r + 1))
        return sum(taps[abs(k)] * values[at + k] for k in range(-r, r + 1) if 0 <= at + k < n)

    rows = [0.0] * (H * W)
    for i in range(H):
        for j in range(W):
            rows[i * W + j] = line(u[i * W : (i + 1) * W], j, W)
    out = [0.0] * (H * W)
    for j in range(W):
        column = rows[j::W]
        for i in range(H):
            out[i * W + j] = line(column, i, H)
    return out


def bilinear(img: Matrix, H: int, W: int, qx: float, qy: float) -> float:
    """img (H, W) at the point (qx, qy): the four neighbours weighted by the areas of the
    opposite sub-rectangles; a neighbour outside the image counts as 0."""
    x0, y0 = math.floor(qx), math.floor(qy)
    fx, fy = qx - x0, qy - y0

    def at(i: int, j: int) -> float:
        return img[i * W + j] if 0 <= i < H and 0 <= j < W else 0.0

    return (
        (1 - fx) * (1 - fy) * at(y0, x0)
        + fx * (1 - fy) * at(y0, x0 + 1)
        + (1 - fx) * fy * at(y0 + 1, x0)
        + fx * fy * at(y0 + 1, x0 + 1)
    )


def augment_image(
    img: Matrix, params: Augment, seed: int, step: int, row: int, H: int, W: int
) -> Matrix:
    """One image (H, W) distorted as ann_augment_batch distorts row ``row`` of batch ``step``:
    out(p) = in(T^-1 (p + d(p) - c - t) + c), bilinearly (csrc/augment.c derives it)."""
    state = augment_stream(seed, step, row)
    draws = []
    for limit in (params.rotate, params.scale, params.shear, params.shift, params.shift):
        u, state = uniform(state)
        draws.append((2.0 * u - 1.0) * limit)
    theta, s, k, tx, ty = math.radians(draws[0]), 1.0 + draws[1], draws[2], draws[3], draws[4]
    c, sn = math.cos(theta), math.sin(theta)
    # T^-1 = (1/s) Sh(-k) R(-theta)
    m00, m01, m10, m11 = (c + k * sn) / s, (sn - k * c) / s, -sn / s, c / s
    cx, cy = (W - 1) / 2.0, (H - 1) / 2.0
    dx = dy = [0.0] * (H * W)
    if params.elastic:
        ux, uy = [0.0] * (H * W), [0.0] * (H * W)
        for field in (ux, uy):
            for i in range(H * W):
                u, state = uniform(state)
                field[i] = 2.0 * u - 1.0
        taps = gaussian_taps(params.elastic_sigma)
        bounded = params.elastic_max > 0  # rescaled to a largest size, the edge mirrored
        sx, sy = smooth(ux, taps, H, W, bounded), smooth(uy, taps, H, W, bounded)
        alpha = params.elastic_alpha
        if bounded:
            largest = max(max(map(abs, sx)), max(map(abs, sy)))
            alpha = params.elastic_max / largest if largest > 0 else 0.0
        dx, dy = [alpha * v for v in sx], [alpha * v for v in sy]
    out = [0.0] * (H * W)
    for i in range(H):
        for j in range(W):
            px = j + dx[i * W + j] - cx - tx
            py = i + dy[i * W + j] - cy - ty
            out[i * W + j] = bilinear(img, H, W, m00 * px + m01 * py + cx, m10 * px + m11 * py + cy)
    return out


def augment_batch(
    x: Matrix, params: Augment, seed: int, step: int, B: int, H: int, W: int
) -> Matrix:
    """x (B, H, W) distorted image by image: the float64 ann_augment_batch."""
    HW = H * W
    out: Matrix = []
    for b in range(B):
        out.extend(augment_image(x[b * HW : (b + 1) * HW], params, seed, step, b, H, W))
    return out
