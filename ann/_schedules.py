"""Learning-rate schedules for ``Network.fit(schedule=...)``.

A schedule says which learning rate each optimizer step of a ``fit`` uses. Four kinds:

* ``ReduceLROnPlateau``: constant, multiplied by ``factor`` when the validation loss stops
  improving (decided at the validation checks; the seed study's habit);
* ``Cosine``: from ``lr`` down to ``min_lr`` along half a cosine over the run's steps
  (Loshchilov & Hutter 2017, SGDR, without restarts);
* ``OneCycle``: up from ``max_lr / div_factor`` to ``max_lr`` and down to far below the start,
  both along half cosines (Smith & Topin 2018, "Super-convergence");
* ``Warmup``: a linear ramp over the first steps, then any of the others (``then``).

The schedule objects are settings only (they can be reused for several fits); what changes
during one fit lives in ``LRPlan``, which the training loop asks for each step's rate. Step
indices count the steps of this fit from 0 (a resumed run starts its schedule afresh), and
"the run's steps" are ``epochs`` times the batches per epoch, whether or not early stopping
ends it sooner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

from . import _defaults

__all__ = ["Cosine", "LRPlan", "OneCycle", "ReduceLROnPlateau", "Schedule", "Warmup"]


def _number(value: Any, name: str, *, low: float = 0.0, strict: bool = False) -> float:
    """value as a float, which must be finite and >= low (> low when strict)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not (value > low if strict else value >= low)
    ):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _half_cosine(start: float, end: float, t: float) -> float:
    """From start (t = 0) to end (t = 1) along half a cosine: flat at both ends."""
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass
class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` after ``patience`` checks without a validation
    loss improvement larger than ``min_delta``, never going below ``min_lr``."""

    factor: float = _defaults.PLATEAU_FACTOR
    patience: int = _defaults.PLATEAU_PATIENCE
    min_delta: float = 0.0
    min_lr: float = 1e-6

    def __post_init__(self) -> None:
        if not isinstance(self.factor, (int, float)) or not 0 < self.factor < 1:
            raise ValueError(f"factor must be between 0 and 1, got {self.factor!r}")
        _count(self.patience, "patience")


@dataclass
class Cosine:
    """Cosine decay, per step: lr(i) = min_lr + (lr - min_lr) (1 + cos(pi i / T)) / 2 for step
    i of T (the run's steps), so it starts at ``fit``'s ``lr`` and ends near ``min_lr``."""

    min_lr: float = 0.0

    def __post_init__(self) -> None:
        self.min_lr = _number(self.min_lr, "min_lr")

    def lr_at(self, lr: float, i: int, total: int) -> float:
        return _half_cosine(lr, min(self.min_lr, lr), min(i / total, 1.0))


@dataclass
class OneCycle:
    """One cycle, per step (Smith & Topin 2018; PyTorch's ``OneCycleLR`` with its defaults):
    the first ``pct_start`` of the run's T steps rise from ``max_lr / div_factor`` to
    ``max_lr`` (reached at step pct_start T - 1), the rest fall to ``max_lr / (div_factor *
    final_div_factor)`` (reached at the last step, T - 1), both along half cosines.
    ``max_lr`` None takes ``fit``'s ``lr`` as the peak. The momentum is not cycled."""

    max_lr: float | None = None
    pct_start: float = 0.3
    div_factor: float = _defaults.ONECYCLE_DIV
    final_div_factor: float = _defaults.ONECYCLE_FINAL_DIV

    def __post_init__(self) -> None:
        if self.max_lr is not None:
            self.max_lr = _number(self.max_lr, "max_lr", strict=True)
        if (
            isinstance(self.pct_start, bool)
            or not isinstance(self.pct_start, (int, float))
            or not 0 < self.pct_start < 1
        ):
            raise ValueError(f"pct_start must be between 0 and 1, got {self.pct_start!r}")
        self.div_factor = _number(self.div_factor, "div_factor", low=1.0)
        self.final_div_factor = _number(self.final_div_factor, "final_div_factor", low=1.0)

    def lr_at(self, lr: float, i: int, total: int) -> float:
        peak = lr if self.max_lr is None else self.max_lr
        start = peak / self.div_factor
        # as PyTorch: step 0 at start, step pct_start T - 1 at the peak, step T - 1 at the end
        top, last = self.pct_start * total - 1.0, total - 1.0
        end = start / self.final_div_factor
        if i < top:
            return _half_cosine(start, peak, i / top)
        if i >= last:
            return end
        top = max(top, 0.0)  # a rise shorter than one step: start at the peak
        return _half_cosine(peak, end, (i - top) / (last - top))


@dataclass
class Warmup:
    """Linear warm-up: step i of the first N uses (i + 1) / N of the rate ``then`` gives (the
    first step lr / N, step N - 1 the full rate), then ``then`` takes over: None (constant
    ``lr``), a ``Cosine`` (which then decays over the steps after the warm-up) or a
    ``ReduceLROnPlateau``. N is ``steps``, or ``epochs`` (may be fractional) times the batches
    per epoch; give exactly one. (``OneCycle`` rises on its own: it takes no warm-up.)"""

    steps: int | None = None
    epochs: float | None = None
    then: Cosine | ReduceLROnPlateau | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("Warmup needs exactly one of steps= and epochs=")
        if self.steps is not None:
            _count(self.steps, "warm-up steps")
        if self.epochs is not None:
            self.epochs = _number(self.epochs, "warm-up epochs", strict=True)
        if isinstance(self.then, (Warmup, OneCycle)) or not (
            self.then is None or isinstance(self.then, (Cosine, ReduceLROnPlateau))
        ):
            raise ValueError(
                "Warmup's then= must be None, an ann.Cosine or an ann.ReduceLROnPlateau, "
                f"not {self.then!r}" + (" (one-cycle rises on its own)" if self.then else "")
            )

    def steps_for(self, steps_per_epoch: int) -> int:
        if self.steps is not None:
            return self.steps
        assert self.epochs is not None
        # (capped: a warm-up of 1e308 epochs is one that never ends, not an OverflowError)
        return max(1, round(min(self.epochs * steps_per_epoch, float(1 << 62))))


Schedule = Union[ReduceLROnPlateau, Cosine, OneCycle, Warmup]
SCHEDULES = (ReduceLROnPlateau, Cosine, OneCycle, Warmup)


def checked_schedule(schedule: Any, lr_decay: Any) -> Schedule | None:
    """``fit``'s schedule: ``schedule``, or ``lr_decay`` (the older name of a plateau)."""
    if lr_decay is not None:
        if schedule is not None:
            raise ValueError("give schedule or lr_decay (the older name of a plateau), not both")
        if not isinstance(lr_decay, ReduceLROnPlateau):
            raise TypeError("lr_decay must be an ann.ReduceLROnPlateau")
        return lr_decay
    if schedule is not None and not isinstance(schedule, SCHEDULES):
        raise TypeError(
            "schedule must be None, an ann.ReduceLROnPlateau, ann.Cosine, ann.OneCycle or "
            f"ann.Warmup, not {type(schedule).__name__}"
        )
    return schedule


def plateau_of(schedule: Schedule | None) -> ReduceLROnPlateau | None:
    """The plateau rule a schedule holds (itself, or a warm-up's ``then``), if any."""
    if isinstance(schedule, Warmup):
        schedule = schedule.then
    return schedule if isinstance(schedule, ReduceLROnPlateau) else None


class LRPlan:
    """The learning rate of one fit, step by step: ``lr_for(i)`` before step i (0-based, this
    fit's steps), ``on_check(val_loss)`` at each validation check (the plateau rule decides
    there). ``base`` is the rate without warm-up: ``lr``, lowered by the plateau rule."""

    def __init__(
        self, lr: float, schedule: Schedule | None, total_steps: int, steps_per_epoch: int
    ) -> None:
        self.base = lr
        self.warmup = 0
        inner = schedule
        if isinstance(schedule, Warmup):
            self.warmup, inner = schedule.steps_for(steps_per_epoch), schedule.then
        self.curve = inner if isinstance(inner, (Cosine, OneCycle)) else None
        self.plateau = inner if isinstance(inner, ReduceLROnPlateau) else None
        self.total = total_steps
        self.current = lr  # the rate of the step taken last (lr before the first)
        self._best = math.inf
        self._since_best = 0

    def lr_for(self, i: int) -> float:
        lr = self.base
        if self.curve is not None:
            after = max(i - self.warmup, 0)  # a curve after a warm-up spans the steps left
            lr = self.curve.lr_at(self.base, after, max(self.total - self.warmup, 1))
        if i < self.warmup:
            lr *= (i + 1) / self.warmup
        self.current = lr
        return lr

    def on_check(self, val_loss: float) -> None:
        rule = self.plateau
        if rule is None:
            return
        if val_loss < self._best - rule.min_delta:  # NaN never improves
            self._best, self._since_best = val_loss, 0
            return
        self._since_best += 1
        if self._since_best >= rule.patience:
            self.base = max(self.base * rule.factor, rule.min_lr)
            self._since_best = 0
            if self.curve is None and self.warmup == 0:
                self.current = self.base
