"""The thread count of the C kernels: ``ann.set_num_threads`` and ``ann.get_num_threads``."""

from __future__ import annotations

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
