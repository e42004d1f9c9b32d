"""The two backends behind ``ann.Network``, and which one runs: the C core or the reference.

Both provide the same small surface, named by the Protocols below, so the training loop does
not care which one runs:

* ``NetCore``: a network object -- ``init``, ``get_params``/``set_params``, ``get_grads``,
  ``tensor``, ``set_standardization``, ``forward_backward``, ``train_step``, ``predict``, ...
  -- each reading features as uint8 bytes (pixels / 255) or array('f'), labels as
  array('i') and float targets as array('f'): ``CNet`` (ann/_c/net.py, the C core) or
  ``RefNet`` (ann/_reference.py, pure Python in float64);
* a ``shuffle(idx, state)`` that returns the new generator state (idx shuffled in place), the
  same permutation on both.

``get_backend`` chooses: ``ANN_BACKEND=c`` insists on the C core, ``ANN_BACKEND=python``
picks the pure-Python reference, and by default the C core is used when it was built, else
the reference with a warning that says why (``core_status``). ``backend_info`` and
``describe_backend`` report the choice. Only ``ann/_c/`` touches the compiled core; this
module asks it questions.
"""

from __future__ import annotations

import json
import os
import warnings
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Protocol

from . import _c
from ._c.net import CNet, PredictResult
from ._c.net import augment_batch as c_augment_batch
from ._c.net import shuffle as c_shuffle
from ._errors import AnnError
from ._threads import warn_threads_variable

SLOWER = "about 400 times slower at training"
_DIST = "ann-mlp"


class NetCore(Protocol):
    """What a backend's network provides: ``CNet`` (the C core) and ``RefNet`` (the
    reference) both, with the same memory layout, so parameters move between them. The
    arguments are ann.h's (``ann_net_*``); ``Network`` is the only caller."""

    sizes: list[int]
    num_params: int
    num_state: int

    def init(self, seed: int, scheme: int = 0) -> None: ...

    def set_activation(self, layer: int, kind: int, negative_slope: float) -> None: ...

    def set_head(self, head: int) -> None: ...

    def set_augment(self, params: Any, seed: int, shape: tuple[int, int]) -> None: ...

    def set_optimizer(
        self, kind: int, momentum: float, beta1: float, beta2: float, eps: float, l2: float
    ) -> None: ...

    def set_max_norm(self, c: float) -> None: ...

    def set_standardization(self, mean: array[float] | None, std: array[float] | None) -> None: ...

    def get_params(self) -> array[float]: ...

    def set_params(self, values: array[float]) -> None: ...

    def get_state(self) -> array[float]: ...

    def set_state(self, values: array[float]) -> None: ...

    def get_grads(self) -> array[float]: ...

    def get_optimizer_state(
        self, want_v: bool
    ) -> tuple[array[float], array[float] | None, int]: ...

    def set_optimizer_state(self, m: array[float], v: array[float] | None, step: int) -> None: ...

    def tensor(self, layer: int, kind: int) -> tuple[int, int]: ...

    def forward_backward(
        self,
        images: Any,
        labels: Any,
        n_rows: int,
        idx: array[int],
        start: int,
        batch: int,
        *,
        targets: Any = None,
    ) -> tuple[float, int]: ...

    def train_step(
        self,
        images: Any,
        labels: Any,
        n_rows: int,
        idx: array[int],
        start: int,
        batch: int,
        lr: float,
        *,
        targets: Any = None,
    ) -> tuple[float, int]: ...

    def predict(
        self,
        images: Any,
        labels: Any,
        n_rows: int,
        idx: array[int] | None,
        n: int,
        *,
        want_probs: bool,
        want_classes: bool,
        targets: Any = None,
    ) -> PredictResult: ...


MakeNet = Callable[[Sequence[int], bool, float], NetCore]  # (sizes, batchnorm, dropout)
Shuffle = Callable[["array[int]", int], int]  # (idx, state) -> new state


def c_available() -> bool:
    """Did the C core load? (``core_status`` says why not.)"""
    return _c.available()


def core_status() -> tuple[bool, str]:
    """(C core loaded?, why not): the reason names what happened and how to fix it."""
    if _c.available():
        return True, ""
    here = Path(__file__).resolve().parent
    status = here / "_build_status.json"
    if status.is_file():
        # the default advice names the distribution; an install from a checkout recorded
        # `pip install .` in that folder instead (the name may not be on the index)
        reinstall = f"`pip install --force-reinstall --no-cache-dir {_DIST}`"
        try:
            recorded = json.loads(status.read_text(encoding="utf-8"))
            reason = str(recorded["reason"])
            reinstall = str(recorded.get("reinstall") or reinstall)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            reason = "see the install's output"
        if not reinstall.startswith("`"):
            reinstall = f"`{reinstall}`"
        fix = (
            "install a C compiler"
            if reason.startswith("no C compiler")
            else "mend the C compiler (`pip install -v` shows its messages)"
        )
        return False, (
            f"the C core was not built when {_DIST} was installed ({reason}); to "
            f"get it, {fix} and run {reinstall}"
        )
    built = any(p.name.startswith("_core.") and p.suffix in (".so", ".pyd") for p in here.iterdir())
    checkout = (here.parent / "pyproject.toml").is_file() and (here.parent / "csrc").is_dir()
    if checkout and not built:
        installed = _installed_copy(here)
        shadow = f", and it hides the copy installed in {installed}" if installed else ""
        return False, (
            f"ann was imported from the source folder {here}, which has no built "
            f"C core{shadow}: run Python from another folder, or build the core "
            f"in place with `pip install -e .`"
        )
    return False, f"the C core failed to load ({_c.LOAD_ERROR})"


def _installed_copy(here: Path) -> str | None:
    """The folder of an installed ann other than ``here``, if there is one."""
    # every ann-mlp on the path, not only the first: run from the checkout root, the first is
    # the checkout's own leftover ann_mlp.egg-info, which locates ann in the checkout itself
    try:
        from importlib.metadata import distributions

        for dist in distributions():
            name = (dist.metadata["Name"] or "").lower().replace("_", "-")
            if name != _DIST:
                continue
            where = Path(str(dist.locate_file("ann"))).resolve()
            if where != here and where.is_dir():
                return str(where)
    except Exception:  # a broken installation must not break the diagnosis
        return None
    return None


# What $ANN_KERNEL may say (csrc/gemm.c choose_kernel), and the name ann_kernel_name() then
# reports. Anything else, or a kernel this CPU or build lacks, is an error in the C core (every
# product fails); kernel_request_problem says why in one line, before anything runs.
KERNEL_REQUESTS = {
    "portable": "portable",
    "avx2": "avx2-fma",
    "avx2-fma": "avx2-fma",
    "avx512": "avx512f",
    "avx512f": "avx512f",
    "neon": "neon",
}


def kernel_request_problem() -> str | None:
    """One line when ``$ANN_KERNEL`` asks for a kernel that cannot run (an unknown name, or a
    kernel this CPU or build lacks), else None."""
    want = os.environ.get("ANN_KERNEL")
    if not want or not _c.available():
        return None
    if want not in KERNEL_REQUESTS:
        return (
            f"ANN_KERNEL={want!r} is not a kernel name (known: portable, avx2, avx512, neon; "
            "unset it to let the CPU choose)"
        )
    if KERNEL_REQUESTS[want] == _c.kernel_name():
        return None
    return (
        f"ANN_KERNEL={want!r}: this CPU or build has no such kernel (unset ANN_KERNEL to let "
        "the CPU choose)"
    )


def _check_kernel_request() -> None:
    problem = kernel_request_problem()
    if problem:
        raise AnnError(problem)


class Backend:
    """A backend by name: its network factory and its shuffle."""

    def __init__(self, name: str, make_net: MakeNet, shuffle: Shuffle) -> None:
        self.name = name
        self.make_net = make_net
        self.shuffle = shuffle

    def __repr__(self) -> str:
        return f"<ann backend {self.name}>"


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name`` ("c" or "python"); by default ``$ANN_BACKEND``, else C."""
    choice = (name or os.environ.get("ANN_BACKEND") or "").strip().lower()
    if choice not in ("", "c", "python"):
        raise ValueError(f"backend must be 'c' or 'python', not {choice!r}")
    if choice == "python":
        return _reference_backend()
    if not _c.available():
        _, why = core_status()
        if choice == "c":
            raise AnnError(f"ANN_BACKEND=c, but {why}; or set ANN_BACKEND=python")
        warn_pure_python(why, stacklevel=4)
        return _reference_backend()
    _check_kernel_request()
    warn_threads_variable()  # $ANN_NUM_THREADS the core ignores: said once
    return Backend("c", CNet, c_shuffle)


_warned = False  # warn_pure_python has spoken in this process


def warn_pure_python(why: str, stacklevel: int = 2) -> None:
    """The RuntimeWarning that the slow backend runs and why, once per process (the first
    Network, or the first use of ann imported from an unbuilt checkout: see ann.__getattr__).
    The CLI filters it by its start, having said the same on its own line."""
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(
        f"ann: using the pure-Python backend ({SLOWER} than the C core): {why}",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )


def unbuilt_checkout_problem() -> str | None:
    """Why this ann runs pure Python when it was imported from a source checkout without a
    built core (and $ANN_BACKEND does not ask for Python), else None."""
    if os.environ.get("ANN_BACKEND", "").strip().lower() == "python" or _c.available():
        return None
    loaded, why = core_status()
    return why if "source folder" in why else None


def _reference_backend() -> Backend:
    from . import _reference

    return Backend("python", _reference.RefNet, _reference.shuffle)


def backend_info() -> dict[str, bool | str | int]:
    """Which backend a new ``Network`` runs on here, and why.

    ``{"backend": "c" | "python", "c_core": bool, "kernel": str, "threads": int,
    "reason": str}``: ``c_core`` says whether the compiled core loaded, ``kernel`` which
    matrix-multiply kernel it chose for this CPU ("python-reference" without it), and
    ``reason`` a sentence saying why this backend (for the pure-Python one: what went wrong
    and how to get the C core)."""
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
    kernel = _c.kernel_name()
    info: dict[str, bool | str | int] = {
        "backend": "c",
        "c_core": True,
        "kernel": kernel,
        "threads": _c.get_num_threads(),
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


def augment_images(
    x: array[float], params: Any, seed: int, step: int, B: int, H: int, W: int
) -> list[float]:
    """x (B, H, W), pixels in [0, 1], distorted as batch ``step`` of a training run seeded
    ``seed`` is, by the backend $ANN_BACKEND selects (see get_backend): the C core's float32
    ann_augment_batch, or the reference's float64 twin. ``x`` is left as it was."""
    if get_backend().name == "c":
        out = array("f", x)
        c_augment_batch(out, params, seed, step, B, H, W)
        return list(out)
    from ._augment import augment_batch

    return augment_batch(list(x), params, seed, step, B, H, W)
