"""The bindings layer: the only code in ann that reaches the compiled C core, ``ann._core``.

pynacl and argon2-cffi keep every foreign call behind one layer; so does ann. The rest of the
package calls the functions and classes of this package, never cffi's ``ffi`` or ``lib``
(tests/test_structure.py fails otherwise), so a change to csrc/ann.h is answered here and
nowhere else. Four files:

* this one: loading the extension, status codes turned into exceptions (``check``, the one
  place that happens), the enum constants and the process-wide settings (thread count,
  matrix-multiply kernel);
* ``net.py``: ``CNet``, a network held by the core (one foreign call per mini-batch), and the
  shuffle and augmentation calls;
* ``ops.py``: ``CoreOps``, each step of training as one call of its exported function on
  Python lists, for ``ann trace``;
* ``csv.py``: ``csv_rows``, a block of plain CSV lines converted in one call, the fast path
  of ``ann.load_csv`` (ann/_csv.py decides when it runs).

Nothing here decides whether the C core or the pure-Python reference runs: ``_backend.py``
does, and names (as a Protocol) what both provide. Without a built core ``lib`` and ``ffi``
are None and ``LOAD_ERROR`` says why; only ``available()`` may be asked then.
"""

from __future__ import annotations

from .._errors import BackendError, DataError, TrainingError

try:  # the compiled extension is missing when it was not built (_backend.core_status says why)
    from .._core import ffi as ffi  # "as": the layer's own modules import them from here
    from .._core import lib as lib

    LOAD_ERROR: BaseException | None = None
except ImportError as exc:  # pragma: no cover - exercised by the fallback tests in subprocesses
    ffi = lib = None
    LOAD_ERROR = exc


def available() -> bool:
    """Did the C core load?"""
    return lib is not None


def check(status: int, what: str) -> None:
    """Raise the exception that matches a C status code (``ANN_OK`` returns quietly)."""
    if status == 0:
        return
    message = f"{what}: {ffi.string(lib.ann_strerror(status)).decode()}"
    if status == lib.ANN_E_NOMEM:
        raise MemoryError(message)
    if status == lib.ANN_E_NONFINITE:
        raise TrainingError(message)
    if status in (lib.ANN_E_LABEL, lib.ANN_E_INDEX):
        raise DataError(message)
    if status in (lib.ANN_E_SIZE, lib.ANN_E_ARG):
        raise ValueError(message)
    raise BackendError(message)


def constant(name: str) -> int | None:
    """The value of ann.h's enum constant ``name`` in the built core, or None without one."""
    return None if lib is None else int(getattr(lib, name))


def kernel_name() -> str:
    """The matrix-multiply kernel the core chose for this CPU (or $ANN_KERNEL asked for)."""
    return str(ffi.string(lib.ann_kernel_name()).decode())


def set_num_threads(n: int) -> int:
    """ann_set_num_threads (n <= 0: one per core); the count in force. 1 without the core."""
    return 1 if lib is None else int(lib.ann_set_num_threads(n))


def get_num_threads() -> int:
    """The number of threads the C kernels use (1 without the core)."""
    return 1 if lib is None else int(lib.ann_get_num_threads())
