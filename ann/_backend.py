"""The two backends behind ``ann.Network``: the C core (through cffi) and the reference.

Both expose the same small surface, so the training loop in ``_network`` does not care
which one runs:

* ``make_net(sizes)`` -> a net object with ``init``, ``get_params``/``set_params``,
  ``get_grads``, ``tensor``, ``set_standardization``, ``forward_backward``, ``train_step``,
  ``predict``, each reading features as uint8 bytes (pixels / 255) or array('f') and labels
  as array('i');
* ``shuffle(idx, state)`` -> new generator state (idx shuffled in place).

Selection: ``ANN_BACKEND=c`` insists on the C core, ``ANN_BACKEND=python`` picks the pure
Python reference, and by default the C core is used when it was built, else the reference
with a warning. Status codes from C become exceptions in exactly one place, ``check``.
"""

from __future__ import annotations

import json
import os
import warnings
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ._errors import AnnError, BackendError, DataError, TrainingError

try:  # the compiled extension is missing when it was not built (see core_status)
    from ._core import ffi as ffi  # "as": re-exported, for _threads and _trace
    from ._core import lib as lib

    _CORE_ERROR: BaseException | None = None
except ImportError as exc:  # pragma: no cover - exercised by the fallback tests in subprocesses
    ffi = lib = None
    _CORE_ERROR = exc

SLOWER = "about 400 times slower at training"
_DIST = "ann-mlp"


def core_status() -> tuple[bool, str]:
    """(C core loaded?, why not): the reason names what happened and how to fix it."""
    if lib is not None:
        return True, ""
    here = Path(__file__).resolve().parent
    status = here / "_build_status.json"
    if status.is_file():
        try:
            reason = json.loads(status.read_text(encoding="utf-8"))["reason"]
        except (OSError, ValueError, KeyError, TypeError):
            reason = "see the install's output"
        fix = (
            "install a C compiler"
            if reason.startswith("no C compiler")
            else "mend the C compiler (`pip install -v` shows its messages)"
        )
        return False, (
            f"the C core was not built when {_DIST} was installed ({reason}); to "
            f"get it, {fix} and run "
            f"`pip install --force-reinstall --no-cache-dir {_DIST}`"
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
    return False, f"the C core failed to load ({_CORE_ERROR})"


def _installed_copy(here: Path) -> str | None:
    """The folder of an installed ann other than ``here``, if there is one."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            dist = distribution(_DIST)
        except PackageNotFoundError:
            return None
        where = Path(str(dist.locate_file("ann"))).resolve()
    except Exception:  # a broken installation must not break the diagnosis
        return None
    return str(where) if where != here and where.is_dir() else None


# (probs, classes, loss sum, correct); quoted: array is subscriptable at run time from 3.12 only
PredictResult = tuple[Optional["array[float]"], Optional["array[int]"], float, int]


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


def c_available() -> bool:
    return lib is not None


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
    if not want or lib is None:
        return None
    if want not in KERNEL_REQUESTS:
        return (
            f"ANN_KERNEL={want!r} is not a kernel name (known: portable, avx2, avx512, neon; "
            "unset it to let the CPU choose)"
        )
    if KERNEL_REQUESTS[want] == ffi.string(lib.ann_kernel_name()).decode():
        return None
    return (
        f"ANN_KERNEL={want!r}: this CPU or build has no such kernel (unset ANN_KERNEL to let "
        "the CPU choose)"
    )


def _check_kernel_request() -> None:
    problem = kernel_request_problem()
    if problem:
        raise AnnError(problem)


class CNet:
    """A network held by the C core: one params buffer, one grads buffer, one workspace."""

    def __init__(self, sizes: Sequence[int], batchnorm: bool = False, dropout: float = 0.0) -> None:
        c_sizes = ffi.new("int32_t[]", list(sizes))
        out = ffi.new("ann_net **")
        check(
            lib.ann_net_create(out, c_sizes, len(sizes), int(bool(batchnorm)), dropout),
            "creating the network",
        )
        self._net = ffi.gc(out[0], lib.ann_net_destroy)
        self.sizes = list(sizes)
        self.num_params = int(lib.ann_net_num_params(self._net))
        self.num_state = int(lib.ann_net_num_state(self._net))
        self._loss = ffi.new("double *")
        self._correct = ffi.new("int64_t *")

    def init(self, seed: int) -> None:
        check(lib.ann_net_init(self._net, seed & 0xFFFFFFFFFFFFFFFF), "initializing weights")

    def set_fused(self, fused: bool) -> None:
        """Run the C core's speed-ups (the default) or each textbook step on its own
        (ann_net_set_fused in ann.h); the tests compare the two paths."""
        check(lib.ann_net_set_fused(self._net, int(bool(fused))), "choosing the fused path")

    def set_augment(self, params: Any, seed: int, shape: tuple[int, int]) -> None:
        """Distort every training batch by ``params`` (an ``ann.Augment``; None: off), the
        images being ``shape`` (H, W) (ann_net_set_augment in ann.h)."""
        if params is None:
            check(lib.ann_net_set_augment(self._net, ffi.NULL, 0, 0), "turning augmentation off")
            return
        c = _c_augment_params(params, seed)
        check(lib.ann_net_set_augment(self._net, c, shape[0], shape[1]), "setting augmentation")

    def set_optimizer(
        self, kind: int, momentum: float, beta1: float, beta2: float, eps: float, l2: float
    ) -> None:
        check(
            lib.ann_net_set_optimizer(self._net, kind, momentum, beta1, beta2, eps, l2),
            "choosing the optimizer",
        )

    def set_max_norm(self, c: float) -> None:
        """Max-norm bound c on each hidden unit's incoming weights after every update (0: off)."""
        check(lib.ann_net_set_max_norm(self._net, c), "setting the max-norm constraint")

    def _buffer(self, pointer: Any, count: int | None = None) -> Any:
        return ffi.buffer(pointer, 4 * (self.num_params if count is None else count))

    def get_state(self) -> array[float]:
        out = array("f")
        out.frombytes(self._buffer(lib.ann_net_state(self._net), self.num_state))
        return out

    def set_state(self, values: array[float]) -> None:
        if len(values) != self.num_state:
            raise ValueError(f"expected {self.num_state} state values, got {len(values)}")
        if self.num_state:
            self._buffer(lib.ann_net_state(self._net), self.num_state)[:] = values.tobytes()

    def get_params(self) -> array[float]:
        out = array("f")
        out.frombytes(self._buffer(lib.ann_net_params(self._net)))
        return out

    def get_optimizer_state(self, want_v: bool) -> tuple[array[float], array[float] | None, int]:
        """(m, v or None, step) of the rule chosen last (set_optimizer must have chosen one
        that keeps m, and Adam for v)."""
        m, v = array("f"), array("f") if want_v else None
        m.frombytes(self._buffer(lib.ann_net_opt_m(self._net)))
        if v is not None:
            v.frombytes(self._buffer(lib.ann_net_opt_v(self._net)))
        return m, v, int(lib.ann_net_opt_step(self._net))

    def set_optimizer_state(self, m: array[float], v: array[float] | None, step: int) -> None:
        """Restore a state saved from get_optimizer_state, after set_optimizer."""
        for values, pointer in (
            (m, lib.ann_net_opt_m(self._net)),
            (v, lib.ann_net_opt_v(self._net)),
        ):
            if values is None:
                continue
            if pointer == ffi.NULL or len(values) != self.num_params:
                raise ValueError(
                    f"optimizer state of {len(values)} values does not fit this "
                    f"optimizer and network ({self.num_params} parameters)"
                )
            self._buffer(pointer)[:] = values.tobytes()
        check(lib.ann_net_set_opt_step(self._net, step), "restoring the optimizer state")

    def set_params(self, values: array[float]) -> None:
        if len(values) != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters, got {len(values)}")
        self._buffer(lib.ann_net_params(self._net))[:] = values.tobytes()

    def get_grads(self) -> array[float]:
        out = array("f")
        out.frombytes(self._buffer(lib.ann_net_grads(self._net)))
        return out

    def tensor(self, layer: int, kind: int) -> tuple[int, int]:
        offset, count = ffi.new("int64_t *"), ffi.new("int64_t *")
        check(lib.ann_net_tensor(offset, count, self._net, layer, kind), "locating a tensor")
        return int(offset[0]), int(count[0])

    def set_standardization(self, mean: array[float] | None, std: array[float] | None) -> None:
        """Input standardisation (x - mean) / std of every batch, or none (both None)."""
        check(
            lib.ann_net_set_standardization(
                self._net,
                ffi.NULL if mean is None else ffi.from_buffer("float[]", mean),
                ffi.NULL if std is None else ffi.from_buffer("float[]", std),
            ),
            "setting the input standardisation",
        )

    _keep: Any = None

    def _data(self, features: Any, labels: Any, n_rows: int, reuse: bool = True) -> Any:
        """An ann_data for features (uint8 bytes, or array('f')) and labels (array('i'); other
        integer sequences are copied to one; or None), as a tuple whose [3] is the struct and
        whose other items keep alive what its raw pointers point into (an array cannot be
        resized while cffi holds its buffer). With ``reuse`` (training) the tuple is kept and
        reused while the loop passes the same objects; prediction makes a new one each call,
        so the network holds no reference to a caller's data afterwards."""
        keep = self._keep
        if reuse and keep is not None and keep[0] is features and keep[1] is labels:
            if keep[2] == n_rows:
                return keep
        given = labels
        f32 = isinstance(features, array) and features.typecode == "f"
        if labels is not None and not (isinstance(labels, array) and labels.typecode == "i"):
            raw = isinstance(labels, (bytes, bytearray))
            labels = array("i", memoryview(labels) if raw else labels)
        c_features = ffi.from_buffer("float[]" if f32 else "uint8_t[]", features)
        c_labels = ffi.NULL if labels is None else ffi.from_buffer("int32_t[]", labels)
        data = ffi.new(
            "ann_data *",
            {
                "features": c_features,
                "type": lib.ANN_F32 if f32 else lib.ANN_U8,
                "labels": c_labels,
                "N": n_rows,
            },
        )
        kept = (features, given, n_rows, data, c_features, c_labels, labels)
        if reuse:
            self._keep = kept
        return kept

    def forward_backward(
        self, images: Any, labels: Any, n_rows: int, idx: array[int], start: int, batch: int
    ) -> tuple[float, int]:
        ptr = ffi.from_buffer("int32_t[]", idx) + start
        check(
            lib.ann_net_forward_backward(
                self._net,
                self._loss,
                self._correct,
                self._data(images, labels, n_rows)[3],
                ptr,
                batch,
            ),
            "forward/backward",
        )
        return self._loss[0], self._correct[0]

    def train_step(
        self,
        images: Any,
        labels: Any,
        n_rows: int,
        idx: array[int],
        start: int,
        batch: int,
        lr: float,
    ) -> tuple[float, int]:
        ptr = ffi.from_buffer("int32_t[]", idx) + start
        check(
            lib.ann_net_train_step(
                self._net,
                self._loss,
                self._correct,
                self._data(images, labels, n_rows)[3],
                ptr,
                batch,
                lr,
            ),
            "training step",
        )
        return self._loss[0], self._correct[0]

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
    ) -> PredictResult:
        """Inference over n rows of images (uint8 bytes or array('f')): rows idx, or 0..n-1."""
        K = self.sizes[-1]
        probs = array("f", bytes(4 * n * K)) if want_probs else None
        classes = array("i", bytes(4 * n)) if want_classes else None
        loss_sum, correct = ffi.new("double *"), ffi.new("int64_t *")
        data = self._data(images, labels, n_rows, reuse=False)  # (..., struct, pointers...)
        status = lib.ann_net_predict(
            self._net,
            ffi.from_buffer("float[]", probs) if probs is not None else ffi.NULL,
            ffi.from_buffer("int32_t[]", classes) if classes is not None else ffi.NULL,
            loss_sum,
            correct,
            data[3],
            ffi.from_buffer("int32_t[]", idx) if idx is not None else ffi.NULL,
            n,
        )
        if status == lib.ANN_E_NONFINITE:
            raise DataError("prediction: the input contains NaN or infinite values")
        check(status, "prediction")
        return probs, classes, loss_sum[0], correct[0]


def _c_augment_params(params: Any, seed: int) -> Any:
    c = ffi.new("ann_augment *")
    for name in params.FIELDS:
        setattr(c, name, getattr(params, name))
    c.seed = seed & 0xFFFFFFFFFFFFFFFF
    return c


def c_augment_batch(
    x: array[float], params: Any, seed: int, step: int, B: int, H: int, W: int
) -> None:
    """ann_augment_batch on x (B, H, W), float32, in place."""
    if len(x) != B * H * W:
        raise ValueError(f"augment: the batch holds {len(x)} values, not B H W = {B * H * W}")
    c = _c_augment_params(params, seed)
    check(lib.ann_augment_batch(ffi.from_buffer("float[]", x), c, step, B, H, W), "augmenting")


def c_shuffle(idx: array[int], state: int) -> int:
    c_state = ffi.new("uint64_t *", state & 0xFFFFFFFFFFFFFFFF)
    check(lib.ann_shuffle(ffi.from_buffer("int32_t[]", idx), len(idx), c_state), "shuffling")
    return int(c_state[0])


class Backend:
    """A named pair of (net factory, shuffle) functions."""

    def __init__(self, name: str, make_net: Any, shuffle: Any) -> None:
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
        from . import _reference

        return Backend("python", _reference.RefNet, _reference.shuffle)
    if lib is None:
        _, why = core_status()
        if choice == "c":
            raise AnnError(f"ANN_BACKEND=c, but {why}; or set ANN_BACKEND=python")
        warnings.warn(
            f"ann: using the pure-Python backend ({SLOWER} than the C core): {why}",
            RuntimeWarning,
            stacklevel=3,
        )
        from . import _reference

        return Backend("python", _reference.RefNet, _reference.shuffle)
    _check_kernel_request()
    return Backend("c", CNet, c_shuffle)


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
