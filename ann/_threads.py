"""The thread count of the C kernels: ``ann.set_num_threads`` and ``ann.get_num_threads``."""

from __future__ import annotations

import os
import re
import warnings

from . import _c

# The C core takes a C int; any larger request means "as many as you run", which the core
# caps at its own maximum (ANN_MAX_THREADS), so clamping here changes nothing but the type.
_C_INT_MAX = 2**31 - 1


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in the C kernels (``n <= 0``: one per core). Returns the count in force,
    which is at most the C core's maximum (64): a larger ``n`` gets that maximum.

    Results do not depend on the thread count: every sum is taken in the same order.
    ``$ANN_NUM_THREADS`` sets the default."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"set_num_threads takes an int, got {n!r}")
    return _c.set_num_threads(max(min(n, _C_INT_MAX), 0))


def get_num_threads() -> int:
    """The number of threads the C kernels use."""
    return _c.get_num_threads()


def threads_variable_problem() -> str | None:
    """Why ``$ANN_NUM_THREADS`` does not set the thread count, when it is set to something the
    C core ignores (it reads a whole number, as strtol does, and falls back to one thread per
    core for anything else, silently): one line, else None."""
    text = os.environ.get("ANN_NUM_THREADS")
    if text is None or not text.strip() or re.fullmatch(r"\s*\+?[0-9]+", text):
        return None
    return (
        f"ANN_NUM_THREADS={text!r} is not a thread count: give a whole number (1 or more; "
        "0, or unset: one thread per core)"
    )


_threads_warned = False


def warn_threads_variable() -> None:
    """The library's word on a bad ``$ANN_NUM_THREADS``: a RuntimeWarning, once per process
    (the first network on the C core); the command line refuses it outright instead."""
    global _threads_warned
    problem = threads_variable_problem()
    if problem and not _threads_warned:
        _threads_warned = True
        warnings.warn(f"ann: {problem}; using one thread per core", RuntimeWarning, stacklevel=4)
