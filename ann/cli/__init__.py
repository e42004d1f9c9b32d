"""The ``ann`` command line: train, evaluate, predict, export, experiment, gradcheck, trace.

Anything a user can get wrong ends in one line on stderr and a non-zero exit status, never a
traceback; Ctrl-C during training stops after the current mini-batch, keeps the best weights
(saving them with --save) and exits with status 130.

The package, one module per idea:

    _parser       the options of every command (build_parser) and their argument types
    _options      what parsed options mean (CSV label, augmentation, schedule)
    _output       say / note, the exit statuses, UsageError
    _runtime      --threads, and which backend runs and why
    _load         --dataset / --data / --no-download to files and examples
    _paths        the files a command writes: writable, and none of them an input
    presets       ann train --preset, ann presets
    train         ann train  (_checkpoint: its --save and --resume)
    inference     ann evaluate, ann predict
    export        ann export-c, ann export-onnx, and the int8 side of ann evaluate
    study         ann trace, ann gradcheck, ann experiment, ann augment-preview

A command's module (and ``_runtime``) is imported when that command runs, so ``ann --help``
loads neither the data and training code nor the C core.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Callable, cast

from .._errors import AnnError, MissingLabelError
from ._output import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from ._parser import build_parser
from .presets import apply_preset, default_preset

__all__ = ["build_parser", "main"]

# command -> (module of this package, function): ann COMMAND runs module.function(args)
COMMANDS = {
    "train": ("train", "cmd_train"),
    "evaluate": ("inference", "cmd_evaluate"),
    "predict": ("inference", "cmd_predict"),
    "experiment": ("study", "cmd_experiment"),
    "gradcheck": ("study", "cmd_gradcheck"),
    "trace": ("study", "cmd_trace"),
    "augment-preview": ("study", "cmd_augment_preview"),
    "presets": ("presets", "cmd_presets"),
    "export-c": ("export", "cmd_export_c"),
    "export-onnx": ("export", "cmd_export_onnx"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        from ._runtime import announce_backend, apply_threads, check_threads_variable

        if getattr(args, "threads", None) is not None:  # (those load the C core: not for --help)
            apply_threads(args.threads)
        else:
            check_threads_variable()
        announce_backend(args)
        default_preset(args)  # a table (CSV file) trains with the tabular recipe
        if getattr(args, "preset", None) is not None:
            apply_preset(args, argv)
        return _command(args.command)(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except MissingLabelError as exc:  # as a NaN or text label is (see _table.label_error)
        print(f"ann: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ann: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ann ... | head` closed the pipe: nothing left to say
        return EXIT_ERROR
    except MemoryError as exc:  # Python's own says nothing: say what ran out, and where
        where = f"ann {args.command}" if "args" in locals() else "ann"
        text = str(exc)
        if not text:
            text = (
                f"out of memory in {where}: the data or the network needs more memory than "
                "this process could get"
            )
        elif "out of memory" not in text:
            text = f"out of memory: {text}"
        print(f"ann: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    except (AnnError, ValueError, OSError) as exc:
        text = (
            str(exc)
            if not isinstance(exc, OSError) or not exc.filename
            else f"{exc.filename}: {exc.strerror or exc}"
        )
        print(f"ann: error: {text}", file=sys.stderr)
        return EXIT_ERROR


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The function of command ``name``, its module imported now (see the module's doc)."""
    module, function = COMMANDS[name]
    run = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return cast(Callable[[argparse.Namespace], int], run)
