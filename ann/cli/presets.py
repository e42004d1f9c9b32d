"""``ann train --preset NAME`` and ``ann presets``: the named recipes on the command line.

A preset sets every hyperparameter of ``ann train``; a flag given next to it keeps the user's
value. Telling a given flag from a default takes a second parse of the command line with the
defaults suppressed (``build_parser(argument_default=argparse.SUPPRESS)``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from .._presets import PRESETS, TABLE_PRESETS
from ._options import is_csv, train_schedule
from ._output import UsageError, say
from ._parser import build_parser

# the settings a resumed model brings from its file, which a preset cannot change
ARCHITECTURE = ("layers", "batchnorm", "dropout")


def given_options(argv: Sequence[str] | None) -> set[str]:
    """The argparse names of the options written on the command line. argparse fills every
    other option with its default, and a default must not override a preset's value: parse
    once more with the defaults suppressed, so that only the given options land."""
    return set(vars(build_parser(argument_default=argparse.SUPPRESS).parse_args(argv)))


def default_preset(args: argparse.Namespace) -> None:
    """``ann train`` on a table (a CSV file) without --preset: the recipe for tables, as if
    --preset tabular were given (flags given still win). The MNIST study's defaults, which
    learn nothing on most tables, stay one flag away: --preset seed."""
    if args.command == "train" and args.preset is None and is_csv(args.data):
        args.preset = TABLE_PRESETS[0]
        args.preset_by_default = True


def apply_preset(args: argparse.Namespace, argv: Sequence[str] | None) -> None:
    """Set the options of --preset that the command line does not give itself, and say so."""
    chosen = PRESETS[args.preset]
    given = given_options(argv)
    args.from_preset = set()  # the options the preset set, for messages about them
    for name, value in chosen.options().items():
        if name not in given and not (args.resume and name in ARCHITECTURE):
            setattr(args, name, value)
            args.from_preset.add(name)
    if "val_fraction" in given and not args.val_fraction and "patience" not in given:
        args.patience = 0  # the preset's early stopping has no validation loss to read
    try:
        train_schedule(args)
    except UsageError as exc:  # say where the schedule the flag contradicts came from
        if "schedule" in given:
            raise
        raise UsageError(
            f"{exc} (--preset {chosen.name} sets --schedule {chosen.schedule}; give --schedule too)"
        ) from None
    overridden = sorted(given & set(chosen.options()))
    settings = f"preset: {chosen.name} ({chosen.describe()})"
    if getattr(args, "preset_by_default", False):
        settings = (
            f"recipe: {chosen.name}, the default for a table (--preset seed for the MNIST "
            f"study's): {chosen.describe()}"
        )
    say(
        settings
        + (
            f"; given: {', '.join('--' + n.replace('_', '-') for n in overridden)}"
            if overridden
            else ""
        )
        + (
            f"; the network comes from {args.resume}, the preset sets how it trains"
            if args.resume
            else ""
        )
    )


def cmd_presets(args: argparse.Namespace) -> int:
    """ann presets: every recipe's settings, as text or one JSON object."""
    if args.json:
        say(json.dumps({p.name: p.options() for p in PRESETS.values()}))
        return 0
    for p in PRESETS.values():
        say(f"{p.name}: {p.summary}\n    {p.describe()}")
        if p.measured:
            say(f"    measured: {p.measured}")
    return 0
