"""``ann train --save`` and ``--resume``: the checkpoint written as training goes, the
metadata that lets a run continue, and what the file holds when training fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from copy import deepcopy
from typing import Any, Callable

import ann

from .._errors import AnnError, ModelFileError
from ._options import describe_schedule, is_csv
from ._output import UsageError, note


class Checkpoint:
    """``--save`` during training: the best model is written at each check that improves it.

    A write that fails (a full disk, a quota) does not end the run: one warning, training goes
    on, the file keeps the last model written, and the model that could not be written is
    kept in memory. ``finish`` writes it (or, if no check ever saved, the final weights) once
    more at the end; if that fails too, ``error`` says why and the command fails."""

    def __init__(
        self, path: str, prepare: Callable[[ann.Network], ann.Network] | None = None
    ) -> None:
        self.path = path
        #: what is written of a network (a regression's: a copy with its target scale folded
        #: in; see ann/_tabular.py), or None: the network itself
        self.prepare = prepare
        self.step: int | None = None  # step of the model in the file
        # (params, state, metadata, step) not written yet
        self.pending: tuple[Any, Any, dict[str, str], int] | None = None
        self.error: str | None = None

    def write(self, net: ann.Network, metadata: dict[str, str]) -> None:
        """One save of ``net`` with its optimizer state (so --resume continues it)."""
        if self.prepare is not None:
            net = self.prepare(net)
        try:
            net.save(self.path, metadata=metadata, optimizer_state=True)
        except MemoryError as exc:
            raise MemoryError(
                f"saving the model to {self.path}" + (f": {exc}" if str(exc) else "")
            ) from None

    def save(self, net: ann.Network, metadata: dict[str, str], step: int) -> None:
        try:
            self.write(net, metadata)
        except (AnnError, OSError) as exc:
            if self.pending is None:  # once per run of failures, not at every check
                kept = (
                    f"the file keeps the model of step {self.step}"
                    if self.step is not None
                    else "nothing saved yet"
                )
                note(
                    f"warning: could not save the model of step {step}: {exc}; {kept}; "
                    f"training goes on and the save is retried"
                )
            self.pending = (net.get_weights(), net.get_state(), metadata, step)
            return
        if self.pending is not None:
            note(f"saved the model of step {step} to {self.path}")
        self.step, self.pending = step, None

    def finish(self, net: ann.Network, metadata: dict[str, str]) -> None:
        """After training: write what is not on disk yet; sets ``error`` if that fails."""
        if self.pending is None and self.step is not None:
            return
        if self.pending is not None:  # the best model, which the last write lost
            params, state, metadata, _ = self.pending
            if (params, state) != (net.get_weights(), net.get_state()):
                kept = deepcopy(net)  # the same design (activations, head, standardisation)
                kept.set_weights(params)
                kept.set_state(state)
                net = kept
        # else no validation check has run (Ctrl-C in the first steps): keep what there is
        try:
            self.write(net, metadata)
        except (AnnError, OSError) as exc:
            self.error = f"{exc}" + (
                f" (the file keeps the model of step {self.step})" if self.step is not None else ""
            )
            return
        self.pending = None


def train_metadata(
    args: argparse.Namespace,
    history: ann.History,
    counters: tuple[int, float] = (0, 0.0),
    index: int = -1,
) -> dict[str, str]:
    return {
        # names the classes for ann predict / evaluate ("csv": they are in the model's classes)
        "dataset": "csv" if is_csv(args.data) else args.dataset,
        # a CSV file's name, label column(s) and task, for ann evaluate / predict / --resume
        **({"data_file": os.path.basename(args.data)} if is_csv(args.data) else {}),
        **_table_metadata(args),
        "optimizer": args.optimizer,
        "lr": repr(args.lr),
        "batch_size": str(args.batch_size),
        "l2": repr(args.l2),
        "schedule": describe_schedule(args),
        "max_norm": repr(args.max_norm or 0.0),
        "seed": str(args.seed),
        "val_fraction": repr(args.val_fraction),
        "best_step": str(history.best_step),
        "best_val_loss": repr(history.best_val_loss),
        # the counters of these weights, which --resume continues from
        "steps": str(history.steps[index] if history.steps else counters[0]),
        "epochs": repr(history.epochs[index] if history.epochs else counters[1]),
    }


def _table_metadata(args: argparse.Namespace) -> dict[str, str]:
    """The label columns (header names, or indices without a header) and the task of a run
    on a CSV file (the feature names the network records itself: Network.feature_names)."""
    labelled = getattr(args, "labelled", None)
    if labelled is None:
        return {}
    return {"label_columns": json.dumps(labelled.columns), "task": labelled.task.task}


def check_resume(args: argparse.Namespace, net: ann.Network) -> tuple[int, float]:
    """Reject the flags that contradict the model being resumed (its architecture comes from
    the file), explain the ones that change how it trains, and return the (steps, epochs)
    counters it was saved at."""
    meta = getattr(net, "metadata", {})
    hidden = ",".join(map(str, net.sizes[1:-1]))
    if args.layers is not None and net.sizes[1:-1] != args.layers:
        raise UsageError(
            f"ann train: --layers {','.join(map(str, args.layers))} does not "
            f"match the resumed model's hidden sizes {hidden}"
        )
    if args.batchnorm and not net.batchnorm:
        raise UsageError(
            f"ann train: --batchnorm, but the resumed model {args.resume} has no "
            f"batch norm (resuming cannot add layers; train a new model instead)"
        )
    if args.dropout is not None and args.dropout != net.dropout:
        raise UsageError(
            f"ann train: --dropout {args.dropout:g} does not match the resumed "
            f"model's dropout {net.dropout:g} (leave --dropout out to keep it)"
        )
    for flag, given, has in (
        (
            "--activation",
            getattr(args, "activation", None),
            ",".join(dict.fromkeys(net.activations)),
        ),
        ("--head", getattr(args, "head", None), net.head),
        ("--negative-slope", getattr(args, "negative_slope", None), net.negative_slope),
    ):
        if given is not None and given != has:
            raise UsageError(
                f"ann train: {flag} {given} does not match the resumed model's {has} "
                f"(leave {flag} out to keep it)"
            )
    state = net.optimizer_state()
    if state is not None and state["optimizer"] != args.optimizer:
        note(
            f"{args.resume} holds the state of the {state['optimizer']} optimizer it was "
            f"trained with; this run uses --optimizer {args.optimizer}, so that state is "
            f"not used (pass --optimizer {state['optimizer']} to continue it)"
        )
    if (
        "seed" in meta
        and meta["seed"] != str(args.seed)
        or "val_fraction" in meta
        and meta["val_fraction"] != repr(args.val_fraction)
    ):
        note(
            f"{args.resume} was trained with --seed {meta.get('seed', '?')} --val-fraction "
            f"{meta.get('val_fraction', '0.2')}: with other values the validation images "
            f"differ and may include images it was trained on"
        )
    try:
        steps = int(meta.get("steps", "0"))
        epochs = float(meta.get("epochs", "0"))
        if steps < 0 or not 0 <= epochs < math.inf:
            raise ValueError
    except ValueError:
        raise ModelFileError(
            f"metadata steps {meta.get('steps')!r} / epochs {meta.get('epochs')!r} are not counts",
            path=args.resume,
        ) from None
    return steps, epochs


def kept_on_failure(
    args: argparse.Namespace,
    history: ann.History,
    checkpoint: Checkpoint | None,
    save: Callable[[ann.History, int], None],
) -> str:
    """After training failed (diverged, out of memory) with --save: make sure the best model
    is in the file when the network still holds it, and say what the file holds."""
    assert checkpoint is not None  # called only with --save
    best = history.best_step
    holds_best = best is not None and (history.restored_best or best == history.stopped_step)
    if best is not None and checkpoint.step != best and holds_best and best in history.steps:
        try:
            save(history, history.steps.index(best))
        except (MemoryError, AnnError, OSError) as exc:
            return f"The best model (step {best}) could not be saved: {exc or 'out of memory'}."
        if checkpoint.step != best:
            return f"The best model (step {best}) could not be saved (see the warning above)."
    if checkpoint.step is None:
        return (
            f"Nothing was saved to {args.save}: no validation check had passed before "
            f"training failed (a file already there was left as it was)."
        )
    if checkpoint.step == best:
        return (
            f"The best model (step {best}, validation loss {history.best_val_loss:.4f}) "
            f"is in {args.save}."
        )
    return f"{args.save} holds the model of step {checkpoint.step}."
