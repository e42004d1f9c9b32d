"""``CoreOps``: each step of a training step as one call of the C core's exported function.

``ann trace`` runs a step op by op to show every matrix: the forward pass of a dense layer
(``ann_dense_forward``), ReLU, batch norm, dropout, softmax + cross-entropy, the backward
pass of each, L2 and the optimizers' updates. Each method here takes and returns Python
lists (the float32 buffers copied in and out) with the signature of ``_ops.Ops``, so the
trace can run the same step on the float64 reference (``_ops.ReferenceOps``) and compare.
Shapes use ann.h's names: B rows, n_in / n_out a layer's fan-in and fan-out, K classes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from .._constants import (
    ANN_BN_EPS,
    ANN_BN_MOMENTUM,
    ANN_GELU,
    ANN_IDENTITY,
    ANN_IDENTITY_MSE,
    ANN_LEAKY_RELU,
    ANN_RELU,
    ANN_SIGMOID,
    ANN_SIGMOID_BCE,
    ANN_SIGMOID_MSE,
    ANN_SOFTMAX_CE,
    ANN_TANH,
)
from . import check, ffi, lib

Values = list[float]


#: The C functions (forward, backward) of each activation, by its ANN_* value; the identity
#: has no function of its own, only the case of ann_activation_forward / _backward.
ACTIVATION_FUNCTIONS = {
    ANN_IDENTITY: ("ann_activation_forward", "ann_activation_backward"),
    ANN_RELU: ("ann_relu_forward", "ann_relu_backward"),
    ANN_LEAKY_RELU: ("ann_leaky_relu_forward", "ann_leaky_relu_backward"),
    ANN_SIGMOID: ("ann_sigmoid_forward", "ann_sigmoid_backward"),
    ANN_TANH: ("ann_tanh_forward", "ann_tanh_backward"),
    ANN_GELU: ("ann_gelu_forward", "ann_gelu_backward"),
}
#: The C function of each head (by its ANN_* value).
HEAD_FUNCTIONS = {
    ANN_SOFTMAX_CE: "ann_softmax_cross_entropy",
    ANN_SIGMOID_BCE: "ann_sigmoid_bce",
    ANN_IDENTITY_MSE: "ann_identity_mse",
    ANN_SIGMOID_MSE: "ann_sigmoid_mse",
}


def _f32(values: Sequence[float]) -> Values:
    """Values rounded to float32, as the C core stores them."""
    return list(array("f", values))


class CoreOps:
    """Each step as one call of the C core's exported functions (ann.h), on float32 buffers."""

    def _in(self, values: Sequence[float]) -> Any:
        return ffi.new("float[]", list(values) or [0.0])

    def _out(self, n: int) -> Any:
        return ffi.new("float[]", max(n, 1))

    def _list(self, buffer: Any, n: int) -> Values:
        return list(ffi.unpack(buffer, n))

    def gather(self, pixels: bytes, B: int, D: int) -> Values:
        x = self._out(B * D)
        idx = ffi.new("int32_t[]", list(range(B)))
        check(lib.ann_gather_u8(x, ffi.from_buffer(pixels), B, idx, B, D), "ann_gather_u8")
        return self._list(x, B * D)

    def dense_forward(
        self, x: Values, W: Values, b: Values, B: int, n_in: int, n_out: int
    ) -> Values:
        y = self._out(B * n_out)
        check(
            lib.ann_dense_forward(y, self._in(x), self._in(W), self._in(b), B, n_in, n_out),
            "ann_dense_forward",
        )
        return self._list(y, B * n_out)

    def dense_backward(
        self, dy: Values, x: Values, W: Values, B: int, n_in: int, n_out: int, need_dx: bool
    ) -> tuple[Values | None, Values, Values]:
        dx = self._out(B * n_in) if need_dx else ffi.NULL
        dW, db = self._out(n_in * n_out), self._out(n_out)
        check(
            lib.ann_dense_backward(
                dx, dW, db, self._in(dy), self._in(x), self._in(W), B, n_in, n_out
            ),
            "ann_dense_backward",
        )
        return (
            self._list(dx, B * n_in) if need_dx else None,
            self._list(dW, n_in * n_out),
            self._list(db, n_out),
        )

    def relu_forward(self, z: Values) -> Values:
        a = self._out(len(z))
        check(lib.ann_relu_forward(a, self._in(z), len(z)), "ann_relu_forward")
        return self._list(a, len(z))

    def relu_backward(self, da: Values, a: Values) -> Values:
        dz = self._out(len(da))
        check(lib.ann_relu_backward(dz, self._in(da), self._in(a), len(da)), "ann_relu_backward")
        return self._list(dz, len(da))

    def activation_forward(self, z: Values, kind: int, slope: float) -> Values:
        """The activation's own forward (ann_sigmoid_forward, ...; ACTIVATION_FUNCTIONS)."""
        n, name = len(z), ACTIVATION_FUNCTIONS[kind][0]
        a = self._out(n)
        if kind == ANN_IDENTITY:
            status = lib.ann_activation_forward(a, self._in(z), n, kind, slope)
        elif kind == ANN_LEAKY_RELU:
            status = lib.ann_leaky_relu_forward(a, self._in(z), n, slope)
        else:
            status = getattr(lib, name)(a, self._in(z), n)
        check(status, name)
        return self._list(a, n)

    def activation_backward(
        self, da: Values, z: Values, a: Values, kind: int, slope: float
    ) -> Values:
        """The activation's own backward, given the forward's input z and output a: the
        derivative is read from a, or for GELU from z."""
        n, name = len(da), ACTIVATION_FUNCTIONS[kind][1]
        dz = self._out(n)
        if kind == ANN_IDENTITY:
            status = lib.ann_activation_backward(dz, self._in(da), ffi.NULL, ffi.NULL, n, kind, 0)
        elif kind == ANN_LEAKY_RELU:
            status = lib.ann_leaky_relu_backward(dz, self._in(da), self._in(a), n, slope)
        else:
            status = getattr(lib, name)(dz, self._in(da), self._in(z if kind == ANN_GELU else a), n)
        check(status, name)
        return self._list(dz, n)

    def batchnorm_forward(
        self, z: Values, gamma: Values, beta: Values, B: int, n: int
    ) -> tuple[Values, Values, Values, Values]:
        y, xhat, mean, var = self._out(B * n), self._out(B * n), self._out(n), self._out(n)
        check(
            lib.ann_batchnorm_forward(
                y, xhat, mean, var, self._in(z), self._in(gamma), self._in(beta), B, n, ANN_BN_EPS
            ),
            "ann_batchnorm_forward",
        )
        return (
            self._list(y, B * n),
            self._list(xhat, B * n),
            self._list(mean, n),
            self._list(var, n),
        )

    def batchnorm_backward(
        self, dy: Values, xhat: Values, var: Values, gamma: Values, B: int, n: int
    ) -> tuple[Values, Values, Values]:
        dz, dgamma, dbeta = self._out(B * n), self._out(n), self._out(n)
        check(
            lib.ann_batchnorm_backward(
                dz,
                dgamma,
                dbeta,
                self._in(dy),
                self._in(xhat),
                self._in(var),
                self._in(gamma),
                B,
                n,
                ANN_BN_EPS,
            ),
            "ann_batchnorm_backward",
        )
        return self._list(dz, B * n), self._list(dgamma, n), self._list(dbeta, n)

    def softmax_cross_entropy(
        self, logits: Values, labels: Sequence[int], B: int, K: int
    ) -> tuple[float, Values, Values]:
        dlogits, probs, loss = self._out(B * K), self._out(B * K), ffi.new("double *")
        check(
            lib.ann_softmax_cross_entropy(
                dlogits,
                probs,
                loss,
                self._in(logits),
                ffi.new("int32_t[]", list(labels)),
                B,
                K,
            ),
            "ann_softmax_cross_entropy",
        )
        return float(loss[0]), self._list(probs, B * K), self._list(dlogits, B * K)

    def head(
        self,
        head: int,
        logits: Values,
        labels: Sequence[int] | None,
        targets: Values | None,
        B: int,
        K: int,
    ) -> tuple[float, Values, Values]:
        """The head's op (ann_softmax_cross_entropy, ann_sigmoid_bce, ann_identity_mse,
        ann_sigmoid_mse): (loss, outputs, dlogits)."""
        if head == lib.ANN_SOFTMAX_CE:
            assert labels is not None
            return self.softmax_cross_entropy(logits, labels, B, K)
        assert targets is not None
        name = HEAD_FUNCTIONS[head]
        dlogits, outputs, loss = self._out(B * K), self._out(B * K), ffi.new("double *")
        check(
            getattr(lib, name)(dlogits, outputs, loss, self._in(logits), self._in(targets), B, K),
            name,
        )
        return float(loss[0]), self._list(outputs, B * K), self._list(dlogits, B * K)

    def l2_penalty(self, W: Values, dW: Values, l2: float) -> tuple[float, Values]:
        grads, penalty = self._in(dW), ffi.new("double *")
        check(lib.ann_l2_penalty(penalty, grads, self._in(W), len(W), l2), "ann_l2_penalty")
        return float(penalty[0]), self._list(grads, len(W))

    def sgd(self, theta: Values, g: Values, lr: float) -> Values:
        p = self._in(theta)
        check(lib.ann_sgd_update(p, self._in(g), len(theta), lr), "ann_sgd_update")
        return self._list(p, len(theta))

    def momentum(
        self, theta: Values, v: Values, g: Values, lr: float, mu: float, nesterov: bool
    ) -> tuple[Values, Values]:
        p, vel = self._in(theta), self._in(v)
        check(
            lib.ann_momentum_update(p, vel, self._in(g), len(theta), lr, mu, int(nesterov)),
            "ann_momentum_update",
        )
        return self._list(p, len(theta)), self._list(vel, len(theta))

    def adam(
        self,
        theta: Values,
        m: Values,
        v: Values,
        g: Values,
        lr: float,
        beta1: float,
        beta2: float,
        eps: float,
        t: int,
    ) -> tuple[Values, Values, Values]:
        p, m1, v1 = self._in(theta), self._in(m), self._in(v)
        check(
            lib.ann_adam_update(p, m1, v1, self._in(g), len(theta), lr, beta1, beta2, eps, t),
            "ann_adam_update",
        )
        n = len(theta)
        return self._list(p, n), self._list(m1, n), self._list(v1, n)

    def dropout_forward(
        self, a: Values, p: float, state: int
    ) -> tuple[Values, Values, Values, int]:
        """(u, keep, h, new state): the stream's draws, one ann_random_uniform call each, then
        ann_dropout_forward from the same state (which draws the same u again)."""
        n = len(a)
        draws = ffi.new("uint64_t *", state)
        u = [float(lib.ann_random_uniform(draws)) for _ in range(n)]
        stream = ffi.new("uint64_t *", state)
        h, mask = self._out(n), ffi.new("uint8_t[]", max(n, 1))
        check(
            lib.ann_dropout_forward(h, mask, self._in(a), n, p, stream),
            "ann_dropout_forward",
        )
        return u, [float(mask[i]) for i in range(n)], self._list(h, n), int(stream[0])

    def dropout_backward(self, dh: Values, keep: Values, p: float) -> Values:
        n = len(dh)
        da = self._out(n)
        mask = ffi.new("uint8_t[]", [int(k) for k in keep] or [0])
        check(lib.ann_dropout_backward(da, self._in(dh), mask, n, p), "ann_dropout_backward")
        return self._list(da, n)

    def running_average(self, old: Values, batch: Values, unbias: float) -> Values:
        """run += 0.1 (batch * unbias - run), each operation rounded to float32 as in net.c."""
        m, u = _f32([ANN_BN_MOMENTUM])[0], _f32([unbias])[0]
        out = []
        for r, s in zip(old, batch):
            target = _f32([s * u])[0] if unbias != 1.0 else s
            out.append(_f32([r + _f32([m * _f32([target - r])[0]])[0]])[0])
        return out
