"""The operations of one training step, each on both backends: what ``ann trace`` runs.

``Ops`` names them: the forward and backward pass of a dense layer, of each activation
(ReLU on its own, and any by kind), batch norm and dropout, the heads (softmax +
cross-entropy, and any by kind), the L2 penalty, the three update rules, and the running
averages of batch norm. Each takes and returns Python lists (flat, row-major, shapes named as
in ann.h) and changes nothing it is given, so one recorded step can run every op twice on the
same inputs and compare:

* ``CoreOps`` (``_c/ops.py``): one call of the C core's exported function per op, in float32;
* ``ReferenceOps`` (below): the functions of ``_reference.py``, in float64.

``core_ops()`` is the C side when the core is built, else None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from . import _c
from . import _reference as ref
from ._constants import ANN_BN_EPS, ANN_BN_MOMENTUM
from ._rng import uniform

Values = list[float]


class Ops(Protocol):
    """One training step's operations (see the module docstring)."""

    def gather(self, pixels: bytes, B: int, D: int) -> Values: ...

    def dense_forward(
        self, x: Values, W: Values, b: Values, B: int, n_in: int, n_out: int
    ) -> Values: ...

    def dense_backward(
        self, dy: Values, x: Values, W: Values, B: int, n_in: int, n_out: int, need_dx: bool
    ) -> tuple[Values | None, Values, Values]: ...

    def relu_forward(self, z: Values) -> Values: ...

    def relu_backward(self, da: Values, a: Values) -> Values: ...

    def activation_forward(self, z: Values, kind: int, slope: float) -> Values: ...

    def activation_backward(
        self, da: Values, z: Values, a: Values, kind: int, slope: float
    ) -> Values: ...

    def batchnorm_forward(
        self, z: Values, gamma: Values, beta: Values, B: int, n: int
    ) -> tuple[Values, Values, Values, Values]: ...

    def batchnorm_backward(
        self, dy: Values, xhat: Values, var: Values, gamma: Values, B: int, n: int
    ) -> tuple[Values, Values, Values]: ...

    def softmax_cross_entropy(
        self, logits: Values, labels: Sequence[int], B: int, K: int
    ) -> tuple[float, Values, Values]: ...

    def head(
        self,
        head: int,
        logits: Values,
        labels: Sequence[int] | None,
        targets: Values | None,
        B: int,
        K: int,
    ) -> tuple[float, Values, Values]: ...

    def l2_penalty(self, W: Values, dW: Values, l2: float) -> tuple[float, Values]: ...

    def sgd(self, theta: Values, g: Values, lr: float) -> Values: ...

    def momentum(
        self, theta: Values, v: Values, g: Values, lr: float, mu: float, nesterov: bool
    ) -> tuple[Values, Values]: ...

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
    ) -> tuple[Values, Values, Values]: ...

    def dropout_forward(
        self, a: Values, p: float, state: int
    ) -> tuple[Values, Values, Values, int]: ...

    def dropout_backward(self, dh: Values, keep: Values, p: float) -> Values: ...

    def running_average(self, old: Values, batch: Values, unbias: float) -> Values: ...


class ReferenceOps:
    """The same steps in float64, by the functions of ann/_reference.py (C's twins)."""

    def gather(self, pixels: bytes, B: int, D: int) -> Values:
        return ref.gather_u8(pixels, range(B), D)

    def dense_forward(
        self, x: Values, W: Values, b: Values, B: int, n_in: int, n_out: int
    ) -> Values:
        return ref.dense_forward(x, W, b, B, n_in, n_out)

    def dense_backward(
        self, dy: Values, x: Values, W: Values, B: int, n_in: int, n_out: int, need_dx: bool
    ) -> tuple[Values | None, Values, Values]:
        return ref.dense_backward(dy, x, W, B, n_in, n_out, need_dx=need_dx)

    def relu_forward(self, z: Values) -> Values:
        return ref.relu_forward(z)

    def relu_backward(self, da: Values, a: Values) -> Values:
        return ref.relu_backward(da, a)

    def activation_forward(self, z: Values, kind: int, slope: float) -> Values:
        return ref.activation_forward(z, kind, slope)

    def activation_backward(
        self, da: Values, z: Values, a: Values, kind: int, slope: float
    ) -> Values:
        return ref.activation_backward(da, z, a, kind, slope)

    def batchnorm_forward(
        self, z: Values, gamma: Values, beta: Values, B: int, n: int
    ) -> tuple[Values, Values, Values, Values]:
        return ref.batchnorm_forward(z, gamma, beta, B, n, ANN_BN_EPS)

    def batchnorm_backward(
        self, dy: Values, xhat: Values, var: Values, gamma: Values, B: int, n: int
    ) -> tuple[Values, Values, Values]:
        return ref.batchnorm_backward(dy, xhat, var, gamma, B, n, ANN_BN_EPS)

    def softmax_cross_entropy(
        self, logits: Values, labels: Sequence[int], B: int, K: int
    ) -> tuple[float, Values, Values]:
        return ref.softmax_cross_entropy(logits, labels, B, K)

    def head(
        self,
        head: int,
        logits: Values,
        labels: Sequence[int] | None,
        targets: Values | None,
        B: int,
        K: int,
    ) -> tuple[float, Values, Values]:
        return ref.head_forward_backward(head, logits, labels, targets, B, K)

    def l2_penalty(self, W: Values, dW: Values, l2: float) -> tuple[float, Values]:
        grads = list(dW)
        return ref.l2_penalty(W, grads, l2), grads

    def sgd(self, theta: Values, g: Values, lr: float) -> Values:
        out = list(theta)
        ref.sgd_update(out, g, lr)
        return out

    def momentum(
        self, theta: Values, v: Values, g: Values, lr: float, mu: float, nesterov: bool
    ) -> tuple[Values, Values]:
        out, vel = list(theta), list(v)
        ref.momentum_update(out, vel, g, lr, mu, nesterov)
        return out, vel

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
        out, m1, v1 = list(theta), list(m), list(v)
        ref.adam_update(out, m1, v1, g, lr, beta1, beta2, eps, t)
        return out, m1, v1

    def dropout_forward(
        self, a: Values, p: float, state: int
    ) -> tuple[Values, Values, Values, int]:
        u, draws = [], state
        for _ in a:
            value, draws = uniform(draws)
            u.append(value)
        h, keep, state = ref.dropout_forward(a, p, state)
        return u, [1.0 if k else 0.0 for k in keep], h, state

    def dropout_backward(self, dh: Values, keep: Values, p: float) -> Values:
        return ref.dropout_backward(dh, [k != 0.0 for k in keep], p)

    def running_average(self, old: Values, batch: Values, unbias: float) -> Values:
        return [r + ANN_BN_MOMENTUM * (s * unbias - r) for r, s in zip(old, batch)]


def core_ops() -> Ops | None:
    """The C core's ops (``_c/ops.py``) when it is built, else None."""
    if not _c.available():
        return None
    from ._c.ops import CoreOps

    return CoreOps()
