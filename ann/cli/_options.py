"""What the parsed options mean: the CSV label column and header, the augmentation, the schedule.

The readings of ``argparse.Namespace`` values that more than one command (or ``ann train``
and its ``--preset``) needs; a contradiction between flags raises ``UsageError``.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import _defaults as default
from .._augment import Augment, for_mode
from .._presets import make_schedule
from ._output import UsageError

# ---- data -----------------------------------------------------------------------------------


def label_column(text: str | None) -> int | str:
    """--label as load_csv takes it: an index when it is an integer, else a column name."""
    if text is None:
        return -1
    try:
        return int(text)
    except ValueError:
        return text


def header_flag(text: str | None) -> bool | None:
    """--header as load_csv takes it: "yes" True, "no" False, "auto" (the default) None."""
    return {"yes": True, "no": False}.get(text or "auto")


def is_csv(path: str | None) -> bool:
    return path is not None and path.lower().endswith((".csv", ".tsv", ".txt"))


# ---- augmentation ---------------------------------------------------------------------------


def augment_text(augment: Augment) -> str:
    """'rotate 12, scale 0.12, ...': the ranges of an ann.Augment, for the run's log."""
    return ", ".join(
        f"{name.replace('_', ' ')} {getattr(augment, name):g}"
        for name in ("rotate", "scale", "shear", "shift", "elastic_alpha", "elastic_sigma")
    )


def augment_from_args(args: argparse.Namespace) -> Augment | None:
    """The ann.Augment the flags describe, or None for --augment none."""
    try:
        return for_mode(
            args.augment,
            rotate=args.rotate,
            scale=args.scale,
            shear=args.shear,
            shift=args.shift,
            elastic_alpha=args.elastic_alpha,
            elastic_sigma=args.elastic_sigma,
        )
    except ValueError as exc:
        flag = str(exc).split(" must ")[0].replace("Augment: ", "--").replace("_", "-")
        raise UsageError(f"ann {args.command}: {flag}: {str(exc).split(': ', 1)[1]}") from None


# ---- the learning-rate schedule -------------------------------------------------------------


def train_schedule(args: argparse.Namespace) -> Any:
    """The ``fit(schedule=...)`` that --schedule, --lr-decay, --warmup and --min-lr ask for."""
    kind = schedule_kind(args)
    if args.lr_decay and kind != "plateau":
        raise UsageError(f"ann train: --lr-decay is the plateau schedule's, not {kind}'s")
    if args.min_lr and kind != "cosine":
        raise UsageError(f"ann train: --min-lr sets where cosine ends; --schedule is {kind}")
    if args.warmup is not None and kind == "onecycle":
        raise UsageError("ann train: --warmup does not go with --schedule onecycle (it rises)")
    if args.warmup is not None and args.warmup > args.epochs:
        raise UsageError(
            f"ann train: --warmup {args.warmup:g} is longer than the whole run (--epochs "
            f"{args.epochs}): the rate would still be rising when training ends"
        )
    return make_schedule(kind, args.lr_decay, args.warmup, args.min_lr)


def schedule_kind(args: argparse.Namespace) -> str:
    """The --schedule asked for: given, else plateau when --lr-decay is, else none."""
    return str(args.schedule or ("plateau" if args.lr_decay else "none"))


def describe_schedule(args: argparse.Namespace) -> str:
    kind = schedule_kind(args)
    text = {
        "none": "constant lr",
        "plateau": f"lr x{args.lr_decay or default.PLATEAU_FACTOR:g} on a plateau",
        "cosine": f"cosine decay to {args.min_lr:g}",
        "onecycle": f"one-cycle up to {args.lr:g}",
    }[kind]
    return (f"warm-up {plural(args.warmup, 'epoch')}, then " if args.warmup else "") + text


def plural(count: float, noun: str) -> str:
    """'1 epoch', '2 epochs', '0.5 epochs'."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")
