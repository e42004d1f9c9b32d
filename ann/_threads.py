"""Thread count of the C kernels, and which backend/kernel this installation runs."""
from __future__ import annotations

from typing import Dict, Union


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in the C kernels (``n <= 0``: one per core). Returns the count in force.

    Results do not depend on the thread count: every sum is taken in the same order.
    ``$ANN_NUM_THREADS`` sets the default."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"set_num_threads takes an int, got {n!r}")
    from ._backend import lib
    if lib is None:
        return 1
    return int(lib.ann_set_num_threads(n))


def get_num_threads() -> int:
    """The number of threads the C kernels use."""
    from ._backend import lib
    return 1 if lib is None else int(lib.ann_get_num_threads())


def backend_info() -> Dict[str, Union[bool, str, int]]:
    """Which backend and kernel this installation runs: {"c_core": bool, "kernel": str, ...}."""
    from ._backend import c_available, ffi, lib
    if not c_available():
        return {"c_core": False, "kernel": "python-reference", "threads": 1}
    return {"c_core": True, "kernel": ffi.string(lib.ann_kernel_name()).decode(),
            "threads": int(lib.ann_get_num_threads())}
