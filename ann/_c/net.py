"""``CNet``: a network held by the C core, and the core's shuffle and augmentation.

The network lives in C as three contiguous buffers (parameters, gradients, workspace) plus
the optimizer's and batch norm's state; Python holds a pointer to it and makes one foreign
call per mini-batch (``train_step``), per prediction or per setting. Data goes in without a
copy: uint8 pixels or float32 features, int32 labels and float32 targets are handed to C as the
buffers they are (``CNet._data`` builds the ``ann_data`` that points into them). ann.h
documents every call.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, Optional

from .._errors import NonFiniteError
from . import check, ffi, lib

# (probs, classes, loss sum, correct); quoted: array is subscriptable at run time from 3.12 only
PredictResult = tuple[Optional["array[float]"], Optional["array[int]"], float, int]


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

    def init(self, seed: int, scheme: int = 0) -> None:
        """Draw the weights from ``seed`` by initialisation ``scheme`` (ANN_INIT_*; 0 is
        ANN_INIT_UNIFORM), after the activations are set (ann_net_init)."""
        check(
            lib.ann_net_init(self._net, seed & 0xFFFFFFFFFFFFFFFF, scheme), "initializing weights"
        )

    def set_activation(self, layer: int, kind: int, negative_slope: float) -> None:
        """Hidden layer ``layer``'s activation (ANN_IDENTITY ... ANN_GELU) and leaky ReLU's
        negative slope (ann_net_set_activation)."""
        check(
            lib.ann_net_set_activation(self._net, layer, kind, negative_slope),
            "setting an activation",
        )

    def set_head(self, head: int) -> None:
        """The head, ANN_SOFTMAX_CE ... ANN_SIGMOID_MSE (ann_net_set_head)."""
        check(lib.ann_net_set_head(self._net, head), "setting the head")

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

    def _data(
        self, features: Any, labels: Any, n_rows: int, reuse: bool = True, targets: Any = None
    ) -> Any:
        """An ann_data for features (uint8 bytes, or array('f')), labels (array('i'); other
        integer sequences are copied to one; or None) and targets (array('f') of n_rows T
        values, or None), as a tuple whose [3] is the struct and whose other items keep alive
        what its raw pointers point into (an array cannot be resized while cffi holds its
        buffer). With ``reuse`` (training) the tuple is kept and reused while the loop passes
        the same objects; prediction makes a new one each call, so the network holds no
        reference to a caller's data afterwards."""
        keep = self._keep
        if reuse and keep is not None and keep[0] is features and keep[1] is labels:
            if keep[2] == n_rows and keep[7] is targets:
                return keep
        given = labels
        f32 = isinstance(features, array) and features.typecode == "f"
        if labels is not None and not (isinstance(labels, array) and labels.typecode == "i"):
            raw = isinstance(labels, (bytes, bytearray))
            labels = array("i", memoryview(labels) if raw else labels)
        c_features = ffi.from_buffer("float[]" if f32 else "uint8_t[]", features)
        c_labels = ffi.NULL if labels is None else ffi.from_buffer("int32_t[]", labels)
        c_targets = ffi.NULL if targets is None else ffi.from_buffer("float[]", targets)
        data = ffi.new(
            "ann_data *",
            {
                "features": c_features,
                "type": lib.ANN_F32 if f32 else lib.ANN_U8,
                "labels": c_labels,
                "N": n_rows,
                "targets": c_targets,
                "T": 0 if targets is None else len(targets) // max(n_rows, 1),
            },
        )
        kept = (features, given, n_rows, data, c_features, c_labels, labels, targets, c_targets)
        if reuse:
            self._keep = kept
        return kept

    def _batch_call(self, function: Any, what: str, targets: Any, *args: Any) -> tuple[float, int]:
        """One foreign call over a batch: ``args`` are (images, labels, n_rows, idx, start,
        batch, *extra), and the call is ``function(net, &loss, &correct, data, rows, batch,
        *extra)`` over the rows idx[start : start + batch]; returns (loss, correct)."""
        images, labels, n_rows, idx, start, batch, *extra = args
        rows = ffi.from_buffer("int32_t[]", idx) + start
        data = self._data(images, labels, n_rows, targets=targets)[3]
        check(function(self._net, self._loss, self._correct, data, rows, batch, *extra), what)
        return self._loss[0], self._correct[0]

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
    ) -> tuple[float, int]:
        args = (images, labels, n_rows, idx, start, batch)
        return self._batch_call(lib.ann_net_forward_backward, "forward/backward", targets, *args)

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
    ) -> tuple[float, int]:
        return self._batch_call(
            lib.ann_net_train_step,
            "training step",
            targets,
            images,
            labels,
            n_rows,
            idx,
            start,
            batch,
            lr,
        )

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
    ) -> PredictResult:
        """Inference over n rows of images (uint8 bytes or array('f')): rows idx, or 0..n-1.
        ``want_probs`` asks for the head's outputs (probabilities, or a regression's values);
        the loss and hits are against labels or targets, when given."""
        K = self.sizes[-1]
        probs = array("f", bytes(4 * n * K)) if want_probs else None
        classes = array("i", bytes(4 * n)) if want_classes else None
        loss_sum, correct = ffi.new("double *"), ffi.new("int64_t *")
        data = self._data(images, labels, n_rows, reuse=False, targets=targets)
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
        if status == lib.ANN_E_NONFINITE:  # in the input, or in the outputs (Network tells)
            raise NonFiniteError("prediction: a value is NaN or infinite")
        check(status, "prediction")
        return probs, classes, loss_sum[0], correct[0]


def _c_augment_params(params: Any, seed: int) -> Any:
    c = ffi.new("ann_augment *")
    for name in ("rotate", "scale", "shear", "shift", "elastic_alpha", "elastic_sigma"):
        setattr(c, name, getattr(params, name))
    c.seed = seed & 0xFFFFFFFFFFFFFFFF
    return c


def augment_batch(
    x: array[float], params: Any, seed: int, step: int, B: int, H: int, W: int
) -> None:
    """ann_augment_batch on x (B, H, W), float32, in place."""
    if len(x) != B * H * W:
        raise ValueError(f"augment: the batch holds {len(x)} values, not B H W = {B * H * W}")
    c = _c_augment_params(params, seed)
    check(lib.ann_augment_batch(ffi.from_buffer("float[]", x), c, step, B, H, W), "augmenting")


def shuffle(idx: array[int], state: int) -> int:
    c_state = ffi.new("uint64_t *", state & 0xFFFFFFFFFFFFFFFF)
    check(lib.ann_shuffle(ffi.from_buffer("int32_t[]", idx), len(idx), c_state), "shuffling")
    return int(c_state[0])
