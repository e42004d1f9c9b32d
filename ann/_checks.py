"""Checks of the arguments that training and ``ann trace`` share: each returns the value to use
(an int, a float) or raises ``ValueError`` with one line naming the argument and what is wrong.

``Network`` (its constructor and ``fit``), ``EarlyStopping`` and ``Network.trace`` all take
some of the same settings; checking each in one place keeps their rules and messages the same.
A leaf module: it imports nothing from ann, so any module may use it.
"""

from __future__ import annotations

import math
import numbers
from array import array
from collections.abc import Collection
from typing import Any

# the widest layer the C core builds (ann_net_create)
MAX_LAYER_SIZE = 1 << 24


FLOAT32_MAX = 3.4028234663852886e38


def float32(value: float) -> float:
    """``value`` as the float32 the backends compute with: inf beyond float32's range, 0 below
    its smallest, 1.0 for 1 - 1e-9. A check passes only when this value passes too."""
    return array("f", [value])[0]


def _in_float32(value: float) -> str:
    """What float32 makes of ``value``, for a message: " (in float32, 1e-50 is 0)"."""
    return f" (the network computes in float32, where {value!r} is {float32(value)!r})"


def _is_number(value: Any) -> bool:
    """A real number (int, float, NumPy's float32 and friends), but not a bool (True is 1 to
    Python, never a setting here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def layer_sizes(layers: Any) -> list[int]:
    """Every width of a network, input and output included: at least two ints in 1..2^24."""
    try:
        sizes = list(layers)
    except TypeError:
        raise ValueError(f"layers must be a list of layer sizes, got {layers!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layers needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= MAX_LAYER_SIZE:
            raise ValueError(
                f"every layer size must be an int in 1..{MAX_LAYER_SIZE}, got {s!r} in {sizes}"
            )
    return sizes


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def optimizer(value: Any, names: Collection[str]) -> str:
    """One of the update rules ``names`` (ann._constants.OPTIMIZERS)."""
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"optimizer must be one of {', '.join(names)}, not {value!r}")
    return value


def learning_rate(value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {value!r}")
    if not math.isfinite(float32(value)):
        raise ValueError(
            f"lr must be at most {FLOAT32_MAX:.4g}, got {value!r}" + _in_float32(value)
        )
    return float(value)


def momentum(value: Any) -> float:
    if not _is_number(value) or not 0 <= value < 1:
        raise ValueError(f"momentum must be in [0, 1), got {value!r}")
    if not float32(value) < 1:
        raise ValueError(f"momentum must be in [0, 1), got {value!r}" + _in_float32(value))
    return float(value)


def probability(value: Any, name: str) -> float:
    """A probability in [0, 1) that stays below 1 in float32 (dropout)."""
    if _is_number(value) and 0 <= value < 1 and float32(value) < 1:
        return float(value)
    extra = _in_float32(value) if _is_number(value) and 0 <= value < 1 else ""
    raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}{extra}")


def adam_betas(value: Any) -> tuple[float, float]:
    try:
        beta1, beta2 = value
    except (TypeError, ValueError):
        beta1 = beta2 = None
    for beta in (beta1, beta2):
        # the float32 the backends compute with must be < 1 too (1 - 1e-9 rounds to 1.0)
        if not _is_number(beta) or not 0 <= beta < 1 or not array("f", [beta])[0] < 1:
            raise ValueError(f"betas must be two numbers in [0, 1), got {value!r}")
    return float(beta1), float(beta2)


def adam_eps(value: Any, name: str = "eps") -> float:
    if not _is_number(value) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not 0 < float32(value) < math.inf:
        raise ValueError(
            f"{name} must be between 1.4e-45 and {FLOAT32_MAX:.4g}, got {value!r}"
            + _in_float32(value)
        )
    return float(value)


def finite_float32(value: Any, name: str, rest: str = "") -> float:
    """A number >= 0 that float32 holds (l2, max_norm); ``rest`` ends the message."""
    if not _is_number(value) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0{rest}, got {value!r}")
    if not math.isfinite(float32(value)):
        raise ValueError(
            f"{name} must be at most {FLOAT32_MAX:.4g}{rest}, got {value!r}" + _in_float32(value)
        )
    return float(value)


def l2(value: Any) -> float:
    return finite_float32(value, "l2")


def max_norm(value: Any) -> float:
    """The max-norm bound c, 0.0 for None (off)."""
    if value is None:
        return 0.0
    return finite_float32(value, "max_norm", " (or None: off)")


def verbosity(verbose: Any, progress: Any) -> int:
    """``fit``'s verbose (0, 1, 2) from ``verbose`` or its older spelling ``progress``."""
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    if verbose is None:
        return 0 if progress is False else 1
    if progress is not None:
        raise ValueError("give verbose or progress (its older spelling), not both")
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(
            "verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), "
            f"got {verbose!r}"
        )
    return int(verbose)


def choice(value: Any, names: Collection[str], what: str) -> str:
    """One of ``names`` (an activation, a head, an initialisation scheme)."""
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"{what} must be one of {', '.join(names)}, not {value!r}")
    return value


def activations(value: Any, names: Collection[str], hidden: int) -> list[str]:
    """One activation name per hidden layer: from one name (every hidden layer) or a list."""
    if isinstance(value, str):
        return [choice(value, names, "activation")] * hidden
    try:
        given = list(value)
    except TypeError:
        raise ValueError(
            f"activation must be a name ({', '.join(names)}) or a list of them, one per "
            f"hidden layer, not {value!r}"
        ) from None
    if len(given) != hidden:
        raise ValueError(
            f"activation: {len(given)} names for {hidden} hidden layer{'s' if hidden != 1 else ''}"
            " (give one name for all, or one per hidden layer)"
        )
    return [choice(v, names, "activation") for v in given]


def negative_slope(value: Any) -> float:
    """Leaky ReLU's slope below 0: a finite number >= 0 (the core keeps it as a float32)."""
    if not _is_number(value) or not math.isfinite(value) or value < 0 or value > 3.4e38:
        raise ValueError(f"negative_slope must be a finite number >= 0, got {value!r}")
    return float(value)
