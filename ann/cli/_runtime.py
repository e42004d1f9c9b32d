"""What a command runs on: --threads, and which backend runs and why.

Imported once the command line is parsed (and not for ``ann --help``): it loads the C core.
"""

from __future__ import annotations

import argparse
import os
import warnings

from .._backend import backend_info, describe_backend, kernel_request_problem
from .._threads import get_num_threads, set_num_threads, threads_variable_problem
from ._output import UsageError, note, say


def apply_threads(requested: int) -> None:
    """--threads: set it, and say so when the count in force is not the one asked for."""
    used = set_num_threads(requested)
    if requested and used != requested:
        why = (
            f"the C core runs at most {used} threads"
            if backend_info()["c_core"]
            else "the pure-Python backend runs one thread"
        )
        note(f"--threads {requested}: {why}; using {used}")


def check_threads_variable() -> None:
    """$ANN_NUM_THREADS, when no --threads overrides it: a value the C core would ignore (it
    takes a whole number of 1 or more, and falls back to one thread per core) is a usage
    error; more threads than the core runs gets a note."""
    problem = threads_variable_problem()
    if problem:
        raise UsageError(f"ann: error: {problem}")
    text = os.environ.get("ANN_NUM_THREADS", "").strip()
    if not text:
        return
    asked, used = int(text), get_num_threads()
    if asked > used and backend_info()["c_core"]:
        note(f"ANN_NUM_THREADS={text}: the C core runs at most {used} threads; using {used}")


def announce_backend(args: argparse.Namespace) -> None:
    """Say which backend runs and why: on stdout for the commands that report a run (unless
    --quiet), and on stderr, for every command, when it is the slow pure-Python one. A
    $ANN_KERNEL that cannot run is a usage error, before anything runs."""
    warnings.filterwarnings("ignore", message="ann: using the pure-Python backend")
    info = backend_info()
    problem = kernel_request_problem() if info["backend"] == "c" else None
    if problem:
        raise UsageError(f"ann: error: {problem}")
    quiet = getattr(args, "quiet", False) or args.command == "trace" and args.json
    if args.command in ("train", "experiment", "gradcheck", "trace") and not quiet:
        say(f"backend: {describe_backend(info)}")
    elif info["backend"] == "python":
        note(f"backend: {describe_backend(info)}")
