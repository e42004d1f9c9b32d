"""Thread count of the C kernels, and which backend/kernel this installation runs."""

from __future__ import annotations

import os

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
    from ._backend import lib

    if lib is None:
        return 1
    return int(lib.ann_set_num_threads(max(min(n, _C_INT_MAX), 0)))


def get_num_threads() -> int:
    """The number of threads the C kernels use."""
    from ._backend import lib

    return 1 if lib is None else int(lib.ann_get_num_threads())


def backend_info() -> dict[str, bool | str | int]:
    """Which backend a new ``Network`` runs on here, and why.

    ``{"backend": "c" | "python", "c_core": bool, "kernel": str, "threads": int,
    "reason": str}``: ``c_core`` says whether the compiled core loaded, ``kernel`` which
    matrix-multiply kernel it chose for this CPU ("python-reference" without it), and
    ``reason`` a sentence saying why this backend (for the pure-Python one: what went wrong
    and how to get the C core)."""
    from ._backend import SLOWER, core_status, ffi, lib

    loaded, why = core_status()
    asked = os.environ.get("ANN_BACKEND", "").strip().lower()
    if not loaded:
        return {
            "backend": "python",
            "c_core": False,
            "kernel": "python-reference",
            "threads": 1,
            "reason": f"{why} (pure Python is {SLOWER})",
        }
    kernel = ffi.string(lib.ann_kernel_name()).decode()
    info: dict[str, bool | str | int] = {
        "backend": "c",
        "c_core": True,
        "kernel": kernel,
        "threads": int(lib.ann_get_num_threads()),
        "reason": f"the C core is built; its {kernel} kernel was chosen for this CPU",
    }
    if asked == "python":
        info.update(
            backend="python", reason="ANN_BACKEND=python asks for the pure-Python reference backend"
        )
    return info


def describe_backend(info: dict[str, bool | str | int] | None = None) -> str:
    """One line for people: the backend in use and why (``ann`` prints it at start-up);
    ``info`` is a ``backend_info()`` already taken, else it is taken here."""
    if info is None:
        info = backend_info()
    if info["backend"] == "c":
        return f"C core, {info['kernel']} kernel, {info['threads']} thread(s)"
    return f"pure Python: {info['reason']}"
