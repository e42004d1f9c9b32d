"""One run of ``Network.fit``, in named parts, and what it reports (``History``) and obeys
(``EarlyStopping``).

``Network.fit`` checks its arguments into a ``FitSettings`` and hands them to a ``FitRun``,
whose methods are the parts of the training loop, in the order they happen:

* ``run``: the epochs, Ctrl-C handling, and the end of training (stop reason, best weights);
* ``epoch``: one shuffled pass over the training set, batch by batch, with its progress line;
* ``train_step``: one mini-batch through the backend at the learning rate the schedule gives;
* ``check``: a validation check, recorded in the History; it calls
  ``early_stopping`` (is the validation loss still improving?), the schedule's ``on_check``
  (the plateau rule) and ``snapshot_best`` (a copy of the best weights);
* ``restore_best``: put the best weights back when training ends;
* ``fail``: turn a divergence or an out-of-memory into a ``TrainingError``.

The arithmetic happens in the backend (the C core, or the Python reference), one foreign call
per mini-batch; this module is only the control side.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TextIO

from . import _defaults
from ._checks import positive_int
from ._errors import TrainingError
from ._schedules import LRPlan, Schedule

if TYPE_CHECKING:
    from ._data import Dataset
    from ._network import Network


@dataclass
class History:
    """What happened during ``fit``: parallel lists with one entry per validation check
    (``history`` has them under Keras's names)."""

    steps: list[int] = field(default_factory=list)  # optimizer steps done so far
    epochs: list[float] = field(default_factory=list)  # epochs done so far (fractional)
    train_loss: list[float] = field(default_factory=list)  # mean batch loss since the last check
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # NaN when there is no validation set
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time since fit started
    lr: list[float] = field(default_factory=list)  # learning rate in force at the check
    best_step: int | None = None  # step of the lowest validation loss
    best_val_loss: float = math.nan
    stop_reason: str = ""  # "completed", "early_stopping", "interrupted" or "diverged"
    stopped_step: int = 0
    restored_best: bool = False

    _COLUMNS = (
        "steps",
        "epochs",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "lr",
    )

    # Keras's names for the columns, in ``history`` (and the History's own for the rest)
    _KERAS_NAMES = {
        "train_loss": "loss",
        "train_accuracy": "accuracy",
        "val_loss": "val_loss",
        "val_accuracy": "val_accuracy",
        "lr": "lr",
        "steps": "step",
        "epochs": "epoch",
        "seconds": "seconds",
    }

    def __repr__(self) -> str:
        """A summary of one line: how many checks, the last and best losses, why it stopped
        (the lists themselves can be thousands of numbers: ``rows()`` or ``history``)."""
        if not self.steps:
            return f"<ann.History: no checks yet{self._stopped()}>"
        best = (
            f", best val_loss {self.best_val_loss:.4g} at step {self.best_step}"
            if self.best_step is not None
            else ""
        )
        return (
            f"<ann.History: {len(self.steps)} checks, steps {self.steps[0]}-{self.steps[-1]}, "
            f"epochs {self.epochs[-1]:.4g}, last train_loss {self.train_loss[-1]:.4g}, "
            f"val_loss {self.val_loss[-1]:.4g}{best}{self._stopped()}>"
        )

    def _stopped(self) -> str:
        return f", stopped: {self.stop_reason}" if self.stop_reason else ""

    @property
    def history(self) -> dict[str, list[float]]:
        """The columns as a dict of lists under Keras's names, as Keras's
        ``History.history``: "loss", "accuracy", "val_loss", "val_accuracy", "lr", plus
        "step", "epoch" and "seconds". One entry per check (once per epoch unless
        ``check_every`` or early stopping check more often). The lists are the History's
        own, not copies."""
        return {name: getattr(self, column) for column, name in self._KERAS_NAMES.items()}

    def rows(self) -> list[dict[str, float]]:
        return [
            dict(zip(self._COLUMNS, values))
            for values in zip(*(getattr(self, c) for c in self._COLUMNS))
        ]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self._COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())

    def to_jsonl(self, path: str | os.PathLike[str]) -> None:
        """One JSON object per check, then one summary object with the stop reason."""
        with open(path, "w", encoding="utf-8") as f:
            for row in self.rows():
                f.write(json.dumps(row) + "\n")
            f.write(
                json.dumps(
                    {
                        "best_step": self.best_step,
                        "best_val_loss": self.best_val_loss,
                        "stop_reason": self.stop_reason,
                        "stopped_step": self.stopped_step,
                        "restored_best": self.restored_best,
                    }
                )
                + "\n"
            )


@dataclass
class EarlyStopping:
    """Stop when the validation loss has not improved on its best by more than ``min_delta``
    for ``patience`` checks in a row; checks happen every ``check_every`` optimizer steps, or
    with ``check_every=None`` at the end of every epoch (and once more at the end). With
    ``restore_best`` the network ends with the weights of the best check, however training
    stops (early stop, last epoch, Ctrl-C)."""

    patience: int = _defaults.PATIENCE
    min_delta: float = _defaults.MIN_DELTA
    check_every: int | None = _defaults.CHECK_EVERY
    restore_best: bool = True

    def __post_init__(self) -> None:
        positive_int(self.patience, "patience")
        if self.check_every is not None:
            positive_int(self.check_every, "check_every")
        if (
            not isinstance(self.min_delta, (int, float))
            or not self.min_delta >= 0
            or not math.isfinite(self.min_delta)
        ):
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta!r}")


@dataclass
class FitSettings:
    """Everything ``fit`` was asked for, checked (see ``Network.fit`` for each meaning)."""

    epochs: int
    batch_size: int
    lr: float
    schedule: Schedule | None
    early_stopping: EarlyStopping | None
    check_every: int | None  # None: once per epoch
    verbose: int  # 0 silent, 1 progress bar, 2 one line per epoch
    seed: int
    stream: TextIO | None
    callback: Callable[[History], None] | None
    initial_step: int
    initial_epoch: float


class InterruptFlag:
    """While active, Ctrl-C (SIGINT) sets ``flag`` instead of raising KeyboardInterrupt, so the
    training loop can stop after the current mini-batch. A second Ctrl-C raises at once.
    Outside the main thread (where signal handlers cannot be set) it does nothing."""

    def __init__(self) -> None:
        self.flag = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)


class Diverged(Exception):
    """The loss became NaN or infinite, or is exploding."""


def batch_bounds(n: int, batch_size: int, batchnorm: bool) -> tuple[list[int], list[int]]:
    """(starts, ends) of each epoch's batches over n rows. Batch norm cannot learn from a
    one-row batch (its variance is 0; the core refuses it, as PyTorch does), so with batch norm
    a lone last row joins the batch before it: with n % b == 1 each epoch's last batch has
    b + 1 rows, and every row is still trained on."""
    starts = list(range(0, n, batch_size))
    if batchnorm and n % batch_size == 1:
        starts.pop()
    return starts, starts[1:] + [n]


def guessing_loss(network: Network, train: Dataset) -> tuple[float, str]:
    """(the loss of a network that knows nothing, what it guesses): softmax + cross-entropy
    guessing every class alike, ln K; sigmoid + BCE guessing 1/2, ln 2; sigmoid + MSE guessing 1/2
    for 0/1 targets, 1/4; identity + MSE predicting 0 (where an untrained network starts), the
    mean square of the training targets."""
    head, K = network.head, network.sizes[-1]
    if head == "sigmoid-bce":
        return math.log(2.0), "guessing 1/2"
    if head == "sigmoid-mse":
        return 0.25, "guessing 1/2"
    if head == "identity-mse":
        targets = train.targets
        if targets is None:
            return 1.0 / K if K > 1 else 1.0, "predicting 0"
        return math.fsum(v * v for v in targets) / len(targets), "predicting 0"
    return math.log(K), "guessing uniformly"


class FitRun:
    """The state of one ``fit``: counters, the History being written, the best weights."""

    def __init__(
        self,
        network: Network,
        train: Dataset,
        validation: Dataset | None,
        settings: FitSettings,
        batchnorm: bool,
    ) -> None:
        self.network, self.net = network, network._net
        self.train, self.validation, self.s = train, validation, settings
        self.n = len(train)
        self.starts, self.ends = batch_bounds(self.n, settings.batch_size, batchnorm)
        self.order = train.index_array()
        self.buffers = train.buffers()
        self.targets = train.target_buffer()
        # training accuracy means something when there are labels, or 0/1 targets of a sigmoid
        self.counts_hits = train.has_labels or (
            train.targets is not None and network.head in ("sigmoid-bce", "sigmoid-mse")
        )
        self.rng = settings.seed ^ 0x5EED5EED  # the shuffle stream
        total = settings.epochs * len(self.starts)
        self.plan = LRPlan(settings.lr, settings.schedule, total, len(self.starts))
        es = settings.early_stopping
        self.restore = es.restore_best if es else False
        self.history = History()
        self.best: tuple[array[float], array[float]] | None = None  # params, state
        self.since_best = 0  # checks without improvement, for early stopping
        self.step = settings.initial_step  # optimizer steps, counted across resumed runs
        self.fit_steps = 0  # steps of this fit (what the schedule counts)
        self.loss_sum, self.hits, self.seen = 0.0, 0, 0  # since the last check
        self.epochs_done = float(settings.initial_epoch)
        self.stop: str | None = None
        self.started = time.perf_counter()
        # A mean loss this far above guessing is not a bad patch: it explodes.
        self.guess, self.guessing = guessing_loss(network, train)
        self.exploding = 10.0 * max(self.guess, 1.0)
        self.doing = "starting"  # for the out-of-memory message
        self.bar: Any = None
        self.interrupted = InterruptFlag()

    # ---- the loop ---------------------------------------------------------------------------

    def run(self) -> History:
        try:
            with self.interrupted:
                for epoch in range(self.s.epochs):
                    self.epoch(epoch)
                    if self.stop or self.interrupted.flag:
                        break
            if self.interrupted.flag:
                self.stop = "interrupted"
            if self.seen:  # steps since the last check: check once more
                self.check(self.epochs_done)
        except (Diverged, MemoryError) as exc:
            raise self.fail(exc) from None
        self.history.stop_reason = self.stop or "completed"
        self.history.stopped_step = self.step
        self.restore_best()
        return self.history

    def epoch(self, epoch: int) -> None:
        """One pass over the training set in a fresh order, checking as it goes."""
        from ._progress import ProgressBar

        s = self.s
        self.rng = self.network._backend.shuffle(self.order, self.rng)
        self.bar = ProgressBar(
            self.n,
            label=f"epoch {epoch + 1}/{s.epochs}",
            stream=s.stream or sys.stderr,
            enabled=s.verbose > 0,
            redraw=s.verbose == 1,
        )
        epoch_loss, epoch_seen = 0.0, 0
        for start, end in zip(self.starts, self.ends):
            b = end - start
            loss = self.train_step(start, b)
            epoch_loss += loss * b
            epoch_seen += b
            self.epochs_done = s.initial_epoch + epoch + (start + b) / self.n
            self.bar.update(start + b, loss=epoch_loss / epoch_seen)
            if s.check_every is not None and self.step % s.check_every == 0:
                self.check(self.epochs_done)
            if self.stop or self.interrupted.flag:
                break
        if s.check_every is None and not self.interrupted.flag:
            self.check(s.initial_epoch + epoch + 1.0)
        fields: dict[str, float] = {"loss": epoch_loss / max(epoch_seen, 1)}
        history = self.history
        if history.val_loss and not math.isnan(history.val_loss[-1]):
            fields.update(val_loss=history.val_loss[-1], val_acc=history.val_accuracy[-1])
        self.bar.close(**fields)

    def train_step(self, start: int, b: int) -> float:
        """Rows order[start : start + b] through one optimizer step; returns the batch loss."""
        self.doing = "a training step"
        images, labels, n_rows, _ = self.buffers
        lr = self.plan.lr_for(self.fit_steps)
        try:
            # float targets go with the call only when there are some, so that a backend (or a
            # test's stand-in) that knows nothing of them is called as before
            extra = {} if self.targets is None else {"targets": self.targets}
            loss, correct = self.net.train_step(
                images, labels, n_rows, self.order, start, b, lr, **extra
            )
        except TrainingError as exc:
            raise Diverged(f"the loss of step {self.step + 1} became NaN or infinite") from exc
        self.step += 1
        self.fit_steps += 1
        self.loss_sum += loss * b
        self.hits += correct
        self.seen += b
        return float(loss)

    # ---- the validation check ---------------------------------------------------------------

    def check(self, epoch_float: float) -> None:
        """Record the training metrics since the last check and the validation metrics, then
        let early stopping, the schedule and the snapshot of the best weights decide."""
        history = self.history
        history.steps.append(self.step)
        history.epochs.append(round(epoch_float, 6))
        train_loss = self.loss_sum / self.seen if self.seen else math.nan
        history.train_loss.append(train_loss)
        history.train_accuracy.append(
            self.hits / self.seen if self.seen and self.counts_hits else math.nan
        )
        history.lr.append(self.plan.current)
        self.loss_sum, self.hits, self.seen = 0.0, 0, 0
        if train_loss > self.exploding:
            history.val_loss.append(math.nan)
            history.val_accuracy.append(math.nan)
            history.seconds.append(time.perf_counter() - self.started)
            raise Diverged(
                f"the mean training loss since the last check is "
                f"{train_loss:.4g}, more than ten times the {self.exploding / 10:.2f} "
                f"of {self.guessing}: it is exploding"
            )
        if self.validation is None:
            history.val_loss.append(math.nan)
            history.val_accuracy.append(math.nan)
        else:
            self.doing = "checking the validation set"
            result = self.network.evaluate(self.validation)
            history.val_loss.append(result["loss"])
            history.val_accuracy.append(result.get("accuracy", math.nan))
            self.early_stopping(result["loss"])
            self.plan.on_check(result["loss"])
        history.seconds.append(time.perf_counter() - self.started)
        if self.s.callback is not None:
            self.doing = "running the callback"
            self.s.callback(history)

    def early_stopping(self, val_loss: float) -> None:
        """Is this the best check so far (then snapshot it), and has the loss stopped improving
        for ``patience`` checks (then stop)? Without early stopping only the best is kept."""
        es, history = self.s.early_stopping, self.history
        delta = es.min_delta if es else 0.0
        finite = math.isfinite(val_loss)  # a NaN loss is never the best
        if finite and (val_loss < history.best_val_loss - delta or history.best_step is None):
            history.best_val_loss, history.best_step = val_loss, self.step
            self.since_best = 0
            self.snapshot_best()
        else:
            self.since_best += 1
            if es and self.since_best >= es.patience:
                self.stop = "early_stopping"

    # ---- the best weights -------------------------------------------------------------------

    def snapshot_best(self) -> None:
        if self.restore:
            self.doing = "copying the best weights"
            self.best = None  # free the old copy before making the new one
            self.best = (self.network.get_weights(), self.network.get_state())

    def restore_best(self) -> None:
        if self.restore and self.best is not None and self.history.best_step != self.step:
            self.network.set_weights(self.best[0])
            self.network.set_state(self.best[1])
            self.history.restored_best = True

    # ---- training that cannot go on ---------------------------------------------------------

    def fail(self, exc: Diverged | MemoryError) -> TrainingError:
        """The TrainingError for a divergence or an out-of-memory, the best weights restored."""
        if self.bar is not None:
            self.bar.close()
        history, step = self.history, self.step
        history.stopped_step = step
        history.stop_reason = "diverged" if isinstance(exc, Diverged) else "out_of_memory"
        self.restore_best()
        self.best = None  # the error's traceback keeps this object: free the copy
        if isinstance(exc, Diverged):
            what = f"training diverged after step {step} (epoch {self.epochs_done:.2f}): {exc}"
            hint = "Try a smaller lr."
        else:
            detail = f" ({exc})" if str(exc) else ""
            params = self.network.num_params
            what = (
                f"out of memory at step {step} (epoch {self.epochs_done:.2f}) while {self.doing}"
                f"{detail}: the network has {params} parameters, "
                f"{4 * params / 1e6:.0f} MB per copy of the weights"
            )
            hint = "Try smaller layers or a smaller batch."
        kept = (
            f"the network has the best weights, of step {history.best_step}"
            if history.restored_best or history.best_step == step
            else "the weights are those before the failing step"
        )
        err = TrainingError(f"{what}; {kept}. {hint}")
        err.history = history  # type: ignore[attr-defined]
        return err
