"""The pure-Python reference backend: the C core's operations written plainly, in float64.

Read this next to csrc/ops.c and csrc/net.c: every function here has a C twin of the same
name (``dense_forward`` ~ ``ann_dense_forward``) computing the same thing, without the
blocking, vectorization and threads. The tests use it as the oracle for the C core; users get
it as a fallback when the C extension is missing (``ANN_BACKEND=python``); and it is the
shortest complete statement of backprop for an MLP in this project.

Matrices are flat Python lists in row-major order, as in C: ``x[r * n + j]`` is row r,
column j of an (rows, n) matrix. Parameters are float64 here (the C core keeps float32), so
results agree with C to rounding, not bit for bit.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from operator import mul
from typing import Any

from ._augment import augment_batch
from ._constants import (
    ANN_ADAM,
    ANN_BN_EPS,
    ANN_BN_MOMENTUM,
    ANN_GELU,
    ANN_IDENTITY,
    ANN_IDENTITY_MSE,
    ANN_INIT_AUTO,
    ANN_INIT_GLOROT,
    ANN_INIT_HE,
    ANN_INIT_UNIFORM,
    ANN_LEAKY_RELU,
    ANN_MOMENTUM,
    ANN_NESTEROV,
    ANN_RELU,
    ANN_SGD,
    ANN_SIGMOID,
    ANN_SIGMOID_BCE,
    ANN_SIGMOID_MSE,
    ANN_SOFTMAX_CE,
    ANN_TANH,
    ANN_WEIGHTS,
)
from ._errors import BackendError, DataError, TrainingError
from ._rng import MASK64, uniform

# The generator is the C core's, in ann/_rng.py; the reference backend's shuffle is its
# ann_shuffle, and the tests that hold the C core to this module find both names here.
from ._rng import shuffle as shuffle
from ._rng import splitmix64 as splitmix64

Matrix = list[float]


# ---- matrix multiply -------------------------------------------------------------------


def sgemm(
    trans_a: bool,
    trans_b: bool,
    M: int,
    N: int,
    K: int,
    A: Sequence[float],
    lda: int,
    B: Sequence[float],
    ldb: int,
    beta: float,
    C: Matrix,
    ldc: int,
) -> None:
    """C (M, N) = A' (M, K) B' (K, N) + beta C, in place; A' = A or A^T, B' = B or B^T."""
    for i in range(M):
        a_row = [A[k * lda + i] for k in range(K)] if trans_a else A[i * lda : i * lda + K]
        for j in range(N):
            b_col = B[j * ldb : j * ldb + K] if trans_b else B[j::ldb][:K]
            total = sum(map(mul, a_row, b_col))
            old = C[i * ldc + j] if beta != 0.0 else 0.0
            C[i * ldc + j] = total + beta * old


# ---- dense layer: y = x W + b -----------------------------------------------------------


def dense_forward(
    x: Sequence[float], W: Sequence[float], b: Sequence[float], B: int, n_in: int, n_out: int
) -> Matrix:
    """y (B, n_out) = x (B, n_in) W (n_in, n_out) + b (n_out)."""
    columns = [W[j::n_out] for j in range(n_out)]
    y: Matrix = []
    for r in range(B):
        row = x[r * n_in : (r + 1) * n_in]
        y.extend(sum(map(mul, row, columns[j])) + b[j] for j in range(n_out))
    return y


def dense_backward(
    dy: Sequence[float],
    x: Sequence[float],
    W: Sequence[float],
    B: int,
    n_in: int,
    n_out: int,
    need_dx: bool = True,
) -> tuple[Matrix | None, Matrix, Matrix]:
    """Given dy = dL/dy (B, n_out): dW = x^T dy, db = column sums of dy, dx = dy W^T."""
    dy_columns = [dy[j::n_out] for j in range(n_out)]  # each (B)
    x_columns = [x[i::n_in] for i in range(n_in)]  # each (B)
    dW = [sum(map(mul, x_columns[i], dy_columns[j])) for i in range(n_in) for j in range(n_out)]
    db = [sum(column) for column in dy_columns]
    dx: Matrix | None = None
    if need_dx:
        W_rows = [W[i * n_out : (i + 1) * n_out] for i in range(n_in)]
        dx = []
        for r in range(B):
            g = dy[r * n_out : (r + 1) * n_out]
            dx.extend(sum(map(mul, g, W_rows[i])) for i in range(n_in))
    return dx, dW, db


# ---- ReLU -------------------------------------------------------------------------------


def relu_forward(x: Sequence[float]) -> Matrix:
    """y = max(0, x)"""
    return [v if v > 0.0 else 0.0 for v in x]


def relu_backward(dy: Sequence[float], y: Sequence[float]) -> Matrix:
    """dx = dy where y > 0, else 0 (d max(0, x)/dx is 1 for x > 0, 0 for x < 0)."""
    return [g if v > 0.0 else 0.0 for g, v in zip(dy, y)]


# ---- the other activations (ops.c has each derivative worked out) -----------------------------


def leaky_relu_forward(x: Sequence[float], slope: float) -> Matrix:
    """y = x for x > 0, slope x otherwise."""
    return [v if v > 0.0 else slope * v for v in x]


def leaky_relu_backward(dy: Sequence[float], y: Sequence[float], slope: float) -> Matrix:
    """dx = dy for y > 0, slope dy otherwise (y > 0 exactly when x > 0)."""
    return [g if v > 0.0 else slope * g for g, v in zip(dy, y)]


def sigmoid(v: float) -> float:
    """1 / (1 + e^-v), as e^v / (1 + e^v) below 0 so that e^(..) never overflows."""
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def sigmoid_forward(x: Sequence[float]) -> Matrix:
    """y = 1 / (1 + e^-x)"""
    return [sigmoid(v) for v in x]


def sigmoid_backward(dy: Sequence[float], y: Sequence[float]) -> Matrix:
    """dx = dy y (1 - y)"""
    return [g * v * (1.0 - v) for g, v in zip(dy, y)]


def tanh_forward(x: Sequence[float]) -> Matrix:
    """y = tanh x"""
    return [math.tanh(v) for v in x]


def tanh_backward(dy: Sequence[float], y: Sequence[float]) -> Matrix:
    """dx = dy (1 - y^2)"""
    return [g * (1.0 - v * v) for g, v in zip(dy, y)]


def normal_cdf(v: float) -> float:
    """Phi(v) = erfc(-v / sqrt 2) / 2, accurate where it is tiny."""
    return 0.5 * math.erfc(-v / math.sqrt(2.0))


def gelu_forward(x: Sequence[float]) -> Matrix:
    """y = x Phi(x), the exact GELU."""
    return [v * normal_cdf(v) for v in x]


def gelu_backward(dy: Sequence[float], x: Sequence[float]) -> Matrix:
    """dx = dy (Phi(x) + x phi(x)), phi the normal density: from the input x."""
    c = 1.0 / math.sqrt(2.0 * math.pi)
    return [g * (normal_cdf(v) + v * c * math.exp(-0.5 * v * v)) for g, v in zip(dy, x)]


def activation_forward(x: Sequence[float], kind: int, slope: float) -> Matrix:
    """y = f(x) for activation ``kind`` (ANN_IDENTITY ... ANN_GELU), ann_activation_forward."""
    if kind == ANN_RELU:
        return relu_forward(x)
    if kind == ANN_LEAKY_RELU:
        return leaky_relu_forward(x, slope)
    if kind == ANN_SIGMOID:
        return sigmoid_forward(x)
    if kind == ANN_TANH:
        return tanh_forward(x)
    if kind == ANN_GELU:
        return gelu_forward(x)
    if kind == ANN_IDENTITY:
        return list(x)
    raise ValueError(f"unknown activation {kind}")


def activation_backward(
    dy: Sequence[float], x: Sequence[float] | None, y: Sequence[float], kind: int, slope: float
) -> Matrix:
    """dx = dy f'(.), from the output y, or for GELU the input x (ann_activation_backward)."""
    if kind == ANN_RELU:
        return relu_backward(dy, y)
    if kind == ANN_LEAKY_RELU:
        return leaky_relu_backward(dy, y, slope)
    if kind == ANN_SIGMOID:
        return sigmoid_backward(dy, y)
    if kind == ANN_TANH:
        return tanh_backward(dy, y)
    if kind == ANN_GELU:
        assert x is not None  # GELU's backward reads its input
        return gelu_backward(dy, x)
    if kind == ANN_IDENTITY:
        return list(dy)
    raise ValueError(f"unknown activation {kind}")


# ---- softmax + cross-entropy --------------------------------------------------------------


def softmax_cross_entropy(
    logits: Sequence[float], labels: Sequence[int], B: int, K: int
) -> tuple[float, Matrix, Matrix]:
    """(mean loss, probs (B, K), dlogits (B, K) = (p - onehot) / B), shifted by the row max."""
    total = 0.0
    probs: Matrix = []
    grads: Matrix = []
    for r in range(B):
        z = logits[r * K : (r + 1) * K]
        t = labels[r]
        if not 0 <= t < K:
            raise DataError(f"label {t} of row {r} is outside 0..{K - 1}")
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        total += math.log(s) - (z[t] - m)
        p = [v / s for v in e]
        probs.extend(p)
        grads.extend((pk - (1.0 if k == t else 0.0)) / B for k, pk in enumerate(p))
    return total / B, probs, grads


# ---- the heads with float targets: each loss the mean over the B K entries ---------------------


def sigmoid_bce(
    logits: Sequence[float], targets: Sequence[float], B: int, K: int
) -> tuple[float, Matrix, Matrix]:
    """(mean of max(z, 0) - t z + log(1 + e^-|z|), p = sigmoid(z), dz = (p - t) / (B K))."""
    n = B * K
    loss = math.fsum(
        max(z, 0.0) - t * z + math.log1p(math.exp(-abs(z))) for z, t in zip(logits, targets)
    )
    probs = [sigmoid(z) for z in logits]
    return loss / n, probs, [(p - t) / n for p, t in zip(probs, targets)]


def identity_mse(
    logits: Sequence[float], targets: Sequence[float], B: int, K: int
) -> tuple[float, Matrix, Matrix]:
    """(mean of (y - t)^2, y = z, dz = 2 (y - t) / (B K))."""
    n = B * K
    loss = math.fsum((y - t) ** 2 for y, t in zip(logits, targets))
    return loss / n, list(logits), [2.0 * (y - t) / n for y, t in zip(logits, targets)]


def sigmoid_mse(
    logits: Sequence[float], targets: Sequence[float], B: int, K: int
) -> tuple[float, Matrix, Matrix]:
    """(mean of (p - t)^2, p = sigmoid(z), dz = 2 (p - t) p (1 - p) / (B K))."""
    n = B * K
    probs = [sigmoid(z) for z in logits]
    loss = math.fsum((p - t) ** 2 for p, t in zip(probs, targets))
    grads = [
        2.0 * (p - t) * sigmoid(z) * sigmoid(-z) / n for p, t, z in zip(probs, targets, logits)
    ]
    return loss / n, probs, grads


def head_forward_backward(
    head: int,
    logits: Sequence[float],
    labels: Sequence[int] | None,
    targets: Sequence[float] | None,
    B: int,
    K: int,
) -> tuple[float, Matrix, Matrix]:
    """(mean loss, outputs (B, K), dlogits (B, K)) of ``head`` (net.c's head_forward_backward):
    softmax + cross-entropy reads labels, the others targets."""
    if head == ANN_SOFTMAX_CE:
        assert labels is not None
        return softmax_cross_entropy(logits, labels, B, K)
    assert targets is not None
    if head == ANN_SIGMOID_BCE:
        return sigmoid_bce(logits, targets, B, K)
    if head == ANN_IDENTITY_MSE:
        return identity_mse(logits, targets, B, K)
    if head == ANN_SIGMOID_MSE:
        return sigmoid_mse(logits, targets, B, K)
    raise ValueError(f"unknown head {head}")


# ---- SGD --------------------------------------------------------------------------------


def sgd_update(params: Matrix, grads: Sequence[float], lr: float) -> None:
    """theta <- theta - lr * dL/dtheta, in place."""
    for i, g in enumerate(grads):
        params[i] -= lr * g


# ---- batch normalization --------------------------------------------------------------


def batchnorm_forward(
    z: Sequence[float], gamma: Sequence[float], beta: Sequence[float], B: int, n: int, eps: float
) -> tuple[Matrix, Matrix, Matrix, Matrix]:
    """(y, xhat, mean, var): normalize each feature over the batch, then scale and shift."""
    columns = [z[j::n] for j in range(n)]
    mean = [sum(c) / B for c in columns]
    var = [sum((v - m) ** 2 for v in c) / B for c, m in zip(columns, mean)]
    xhat: Matrix = []
    y: Matrix = []
    for r in range(B):
        for j in range(n):
            xh = (z[r * n + j] - mean[j]) / math.sqrt(var[j] + eps)
            xhat.append(xh)
            y.append(gamma[j] * xh + beta[j])
    return y, xhat, mean, var


def batchnorm_backward(
    dy: Sequence[float],
    xhat: Sequence[float],
    var: Sequence[float],
    gamma: Sequence[float],
    B: int,
    n: int,
    eps: float,
) -> tuple[Matrix, Matrix, Matrix]:
    """(dz, dgamma, dbeta): dz = gamma / sqrt(var + eps) / B * (B dy - dbeta - xhat dgamma)."""
    dgamma = [sum(dy[r * n + j] * xhat[r * n + j] for r in range(B)) for j in range(n)]
    dbeta = [sum(dy[r * n + j] for r in range(B)) for j in range(n)]
    dz = [
        gamma[j]
        / math.sqrt(var[j] + eps)
        / B
        * (B * dy[r * n + j] - dbeta[j] - xhat[r * n + j] * dgamma[j])
        for r in range(B)
        for j in range(n)
    ]
    return dz, dgamma, dbeta


def batchnorm_inference(
    z: Sequence[float],
    gamma: Sequence[float],
    beta: Sequence[float],
    running_mean: Sequence[float],
    running_var: Sequence[float],
    B: int,
    n: int,
    eps: float,
) -> Matrix:
    """y = gamma (z - running_mean) / sqrt(running_var + eps) + beta, row by row."""
    return [
        gamma[j] * (z[r * n + j] - running_mean[j]) / math.sqrt(running_var[j] + eps) + beta[j]
        for r in range(B)
        for j in range(n)
    ]


# ---- dropout ------------------------------------------------------------------------------


def dropout_forward(x: Sequence[float], p: float, state: int) -> tuple[Matrix, list[bool], int]:
    """(y, keep, new state): y = x keep / (1 - p), keep_i = [u_i >= p], u_i uniform."""
    p32 = _f32(p)
    scale = _f32(1.0 / _f32(1.0 - p32))
    keep: list[bool] = []
    for _ in x:
        u, state = uniform(state)
        keep.append(u >= p32)
    return [v * scale if k else 0.0 for v, k in zip(x, keep)], keep, state


def dropout_backward(dy: Sequence[float], keep: Sequence[bool], p: float) -> Matrix:
    """dx = dy keep / (1 - p)."""
    scale = _f32(1.0 / _f32(1.0 - _f32(p)))
    return [g * scale if k else 0.0 for g, k in zip(dy, keep)]


# ---- L2 and the optimizers ----------------------------------------------------------------


def l2_penalty(params: Sequence[float], grads: Matrix, l2: float) -> float:
    """(l2/2) sum theta^2; adds its gradient l2 theta to grads in place."""
    for i, v in enumerate(params):
        grads[i] += l2 * v
    return 0.5 * l2 * sum(v * v for v in params)


def momentum_update(
    params: Matrix, velocity: Matrix, grads: Sequence[float], lr: float, mu: float, nesterov: bool
) -> None:
    """v = mu v + g; theta -= lr v (Nesterov: theta -= lr (g + mu v))."""
    for i, g in enumerate(grads):
        velocity[i] = mu * velocity[i] + g
        params[i] -= lr * (g + mu * velocity[i] if nesterov else velocity[i])


def adam_update(
    params: Matrix,
    m: Matrix,
    v: Matrix,
    grads: Sequence[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
) -> None:
    """Adam with bias-corrected first and second moments."""
    if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0 and eps > 0.0 and t >= 1):
        raise ValueError("adam_update: an argument is out of range")  # as ann_adam_update
    c1, c2 = 1.0 - beta1**t, 1.0 - beta2**t
    for i, g in enumerate(grads):
        m[i] = beta1 * m[i] + (1.0 - beta1) * g
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
        params[i] -= lr * (m[i] / c1) / (math.sqrt(v[i] / c2) + eps)


# ---- data -------------------------------------------------------------------------------


def gather_u8(images: Any, idx: Sequence[int], D: int) -> Matrix:
    """x (B, D) = images[idx] / 255."""
    x: Matrix = []
    for i in idx:
        x.extend(v / 255.0 for v in images[i * D : (i + 1) * D])
    return x


def gather_f32(features: Any, idx: Sequence[int], D: int) -> Matrix:
    """x (B, D) = features[idx], as they are; NaN or infinities are an error (ann_gather_f32)."""
    x: Matrix = []
    for i in idx:
        x.extend(features[i * D : (i + 1) * D])
    if not all(math.isfinite(v) for v in x):
        raise DataError("the input contains NaN or infinite values")
    return x


def gather(features: Any, idx: Sequence[int], D: int) -> Matrix:
    """What net.c's load_rows gathers: uint8 pixels / 255, or float32 features as they are."""
    if isinstance(features, array) and features.typecode == "f":
        return gather_f32(features, idx, D)
    return gather_u8(features, idx, D)


def standardize(x: Sequence[float], mean: Sequence[float], std: Sequence[float], D: int) -> Matrix:
    """x (B, D) -> (x - mean) / std column by column (ann_standardize)."""
    return [(v - mean[i % D]) / std[i % D] for i, v in enumerate(x)]


def _f32(value: float) -> float:
    return array("f", [value])[0]


class _Layer:
    """Offsets of one layer's tensors in params (w, b, gamma, beta) and state (mean, var), and
    a hidden layer's activation (kind, slope)."""

    def __init__(self, n_in: int, n_out: int, hidden: bool) -> None:
        self.n_in, self.n_out, self.hidden = n_in, n_out, hidden
        self.w = self.b = self.gamma = self.beta = self.mean = self.var = -1
        self.act, self.slope = ANN_RELU, _f32(0.01)


class RefNet:
    """A network whose arithmetic is all in this file, with the same methods as CNet and the
    same memory layout as csrc/net.c (so parameters can move between the two)."""

    def __init__(self, sizes: Sequence[int], batchnorm: bool = False, dropout: float = 0.0) -> None:
        self.sizes = list(sizes)
        self.batchnorm, self.dropout = bool(batchnorm), float(dropout)
        self.layers: list[_Layer] = []
        P = S = 0
        L = len(self.sizes) - 1
        for l in range(L):
            li = _Layer(self.sizes[l], self.sizes[l + 1], l < L - 1)
            li.w, li.b = P, P + li.n_in * li.n_out
            P = li.b + li.n_out
            if self.batchnorm and li.hidden:
                li.gamma, li.beta = P, P + li.n_out
                P += 2 * li.n_out
                li.mean, li.var = S, S + li.n_out
                S += 2 * li.n_out
            self.layers.append(li)
        self.num_params, self.num_state = P, S
        self.params: Matrix = [0.0] * P
        self.grads: Matrix = [0.0] * P
        self.state: Matrix = [0.0] * S
        self.head = ANN_SOFTMAX_CE
        self.set_optimizer(ANN_SGD, 0.0, 0.9, 0.999, 1e-8, 0.0)
        self.max_norm = 0.0
        self.dropout_rng = 0
        self._augment: tuple[Any, int, tuple[int, int]] | None = None
        self._augment_step = 0

        self.in_mean: list[float] | None = None  # input standardisation, as net.c's
        self.in_std: list[float] | None = None

    def set_activation(self, layer: int, kind: int, negative_slope: float) -> None:
        """As ann_net_set_activation: a hidden layer's activation and leaky ReLU's slope."""
        slope = _f32(negative_slope)
        if not (
            0 <= layer < len(self.layers) - 1
            and ANN_IDENTITY <= kind <= ANN_GELU
            and slope >= 0.0
            and math.isfinite(slope)
        ):
            raise ValueError("setting an activation: an argument is out of range")
        self.layers[layer].act, self.layers[layer].slope = kind, slope

    def set_head(self, head: int) -> None:
        """As ann_net_set_head."""
        if not ANN_SOFTMAX_CE <= head <= ANN_SIGMOID_MSE:
            raise ValueError("setting the head: an argument is out of range")
        self.head = head

    def set_standardization(self, mean: array[float] | None, std: array[float] | None) -> None:
        """As ann_net_set_standardization: (x - mean) / std of every batch, or none."""
        if mean is None or std is None:
            if (mean is None) != (std is None):
                raise ValueError("setting the input standardisation: give mean and std, or neither")
            self.in_mean = self.in_std = None
            return
        D = self.sizes[0]
        if len(mean) != D or len(std) != D:
            raise ValueError(f"setting the input standardisation: expected {D} values each")
        if not all(math.isfinite(m) for m in mean) or not all(
            math.isfinite(v) and v > 0 for v in std
        ):
            raise ValueError("setting the input standardisation: an argument is out of range")
        self.in_mean, self.in_std = list(mean), list(std)

    def _input(self, images: Any, rows: Sequence[int]) -> Matrix:
        """x (B, D) for the given rows, as net.c's load_rows makes it."""
        D = self.sizes[0]
        x = gather(images, rows, D)
        if self.in_mean is not None and self.in_std is not None:
            x = standardize(x, self.in_mean, self.in_std, D)
        return x

    def set_augment(self, params: Any, seed: int, shape: tuple[int, int]) -> None:
        """As ann_net_set_augment: distort each training batch (ann/_augment.py), counting
        batches from 0; None turns it off."""
        if params is not None and shape[0] * shape[1] != self.sizes[0]:
            raise ValueError(f"augment: images of shape {shape} do not have {self.sizes[0]} inputs")
        self._augment = None if params is None else (params, seed & MASK64, shape)
        self._augment_step = 0

    # ---- parameters and state ---------------------------------------------------------------

    def _init_bound(self, li: _Layer, scheme: int) -> float:
        """The bound a of W ~ U(-a, a), as net.c's init_bound (the same float32 value)."""
        if scheme == ANN_INIT_AUTO:
            rectifier = li.hidden and li.act in (ANN_RELU, ANN_LEAKY_RELU, ANN_GELU)
            scheme = ANN_INIT_HE if rectifier else ANN_INIT_GLOROT
        if scheme == ANN_INIT_HE:
            s = li.slope if li.hidden and li.act == ANN_LEAKY_RELU else 0.0
            return _f32(math.sqrt(6.0 / ((1.0 + s * s) * li.n_in)))
        if scheme == ANN_INIT_GLOROT:
            return _f32(math.sqrt(6.0 / (li.n_in + li.n_out)))
        return _f32(1.0 / _f32(math.sqrt(li.n_in)))

    def init(self, seed: int, scheme: int = ANN_INIT_UNIFORM) -> None:
        """Same float32 values as ann_net_init (see the comment there)."""
        if not ANN_INIT_UNIFORM <= scheme <= ANN_INIT_AUTO:
            raise ValueError("initializing weights: an argument is out of range")
        state = seed & MASK64
        for li in self.layers:
            limit = self._init_bound(li, scheme)
            weights = []
            for _ in range(li.n_in * li.n_out):
                u, state = uniform(state)
                weights.append((2.0 * u - 1.0) * limit)
            self.params[li.w : li.b] = list(array("f", weights))
            self.params[li.b : li.b + li.n_out] = [0.0] * li.n_out
            if li.gamma >= 0:
                self.params[li.gamma : li.gamma + li.n_out] = [1.0] * li.n_out
                self.params[li.beta : li.beta + li.n_out] = [0.0] * li.n_out
                self.state[li.mean : li.mean + li.n_out] = [0.0] * li.n_out
                self.state[li.var : li.var + li.n_out] = [1.0] * li.n_out
        self.dropout_rng = (seed ^ 0xD80F0D80F) & MASK64
        self._clear_optimizer()

    def get_params(self) -> array[float]:
        return array("f", self.params)

    def set_params(self, values: array[float]) -> None:
        if len(values) != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters, got {len(values)}")
        self.params = list(values)

    def get_state(self) -> array[float]:
        return array("f", self.state)

    def set_state(self, values: array[float]) -> None:
        if len(values) != self.num_state:
            raise ValueError(f"expected {self.num_state} state values, got {len(values)}")
        self.state = list(values)

    def get_grads(self) -> array[float]:
        return array("f", self.grads)

    def tensor(self, layer: int, kind: int) -> tuple[int, int]:
        li = self.layers[layer]
        where = (li.w, li.b, li.gamma, li.beta, li.mean, li.var)[kind]
        if where < 0:
            raise ValueError(f"layer {layer} has no tensor of kind {kind}")
        return where, li.n_in * li.n_out if kind == ANN_WEIGHTS else li.n_out

    # ---- optimizer ----------------------------------------------------------------------------

    def set_optimizer(
        self, kind: int, momentum: float, beta1: float, beta2: float, eps: float, l2: float
    ) -> None:
        # the checks of ann_net_set_optimizer, on the float32 values C receives, with the
        # message the C backend's check() gives
        mu, b1, b2, e, l2_32 = (_f32(v) for v in (momentum, beta1, beta2, eps, l2))
        if not (
            ANN_SGD <= kind <= ANN_ADAM
            and l2_32 >= 0.0
            and math.isfinite(l2_32)
            and (kind not in (ANN_MOMENTUM, ANN_NESTEROV) or 0.0 <= mu < 1.0)
            and (kind != ANN_ADAM or (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0 and e > 0.0))
        ):
            raise ValueError("choosing the optimizer: an argument is out of range")
        self.opt_kind, self.momentum, self.beta1, self.beta2 = kind, momentum, beta1, beta2
        self.eps, self.l2 = eps, l2
        self._clear_optimizer()

    def get_optimizer_state(self, want_v: bool) -> tuple[array[float], array[float] | None, int]:
        return (array("f", self.opt_m), array("f", self.opt_v) if want_v else None, self.step)

    def set_optimizer_state(self, m: array[float], v: array[float] | None, step: int) -> None:
        for values in (m, v):
            if values is not None and len(values) != self.num_params:
                raise ValueError(
                    f"optimizer state of {len(values)} values does not fit this "
                    f"network ({self.num_params} parameters)"
                )
        if step < 0:
            raise ValueError(f"optimizer step must be >= 0, got {step}")
        self.opt_m: Matrix = list(m)
        if v is not None:
            self.opt_v: Matrix = list(v)
        self.step = step

    def _clear_optimizer(self) -> None:
        self.step = 0
        self.opt_m = [0.0] * self.num_params
        self.opt_v = [0.0] * self.num_params

    def _update(self, lr: float) -> None:
        if self.opt_kind in (ANN_MOMENTUM, ANN_NESTEROV):
            momentum_update(
                self.params,
                self.opt_m,
                self.grads,
                lr,
                self.momentum,
                self.opt_kind == ANN_NESTEROV,
            )
        elif self.opt_kind == ANN_ADAM:
            self.step += 1
            adam_update(
                self.params,
                self.opt_m,
                self.opt_v,
                self.grads,
                lr,
                self.beta1,
                self.beta2,
                self.eps,
                self.step,
            )
        else:
            sgd_update(self.params, self.grads, lr)

    def set_max_norm(self, c: float) -> None:
        """As ann_net_set_max_norm: c > 0 bounds each hidden unit's incoming weights."""
        c32 = _f32(c)
        if not (c32 >= 0.0 and math.isfinite(c32)):
            raise ValueError("setting the max-norm constraint: an argument is out of range")
        self.max_norm = c32

    def _max_norm_project(self) -> None:
        """As net.c's max_norm_project: column j of each hidden W (n_in, n_out) scaled by
        min(1, c / ||w_j||). A projection after the update, not part of the loss."""
        c = self.max_norm
        if c <= 0.0:
            return
        for li in self.layers:
            if not li.hidden:
                continue
            for j in range(li.n_out):
                column = range(li.w + j, li.b, li.n_out)
                norm = math.sqrt(sum(self.params[k] * self.params[k] for k in column))
                if norm > c:
                    for k in column:
                        self.params[k] *= c / norm

    # ---- forward and backward -----------------------------------------------------------------

    def _forward(self, x: Matrix, B: int, training: bool = False) -> tuple[list[Matrix], Any]:
        """(inputs, pending): inputs[l] is what layer l reads (x, then each hidden layer's
        output after dropout), inputs[L] the logits. In training, self._cache records what the
        backward pass needs (z, a, xhat, var, keep per layer), and ``pending`` what the forward
        drew from the network's state -- the batch statistics and the dropout stream after
        this batch -- which ``_commit`` applies only once the loss is known to be finite, as
        net.c's commit_forward: a failed step leaves the network as it was."""
        inputs = [x]
        self._cache: list[Any] = []
        stats: list[tuple[_Layer, Matrix, Matrix]] = []
        rng = self.dropout_rng
        for li in self.layers:
            p = self.params
            z = dense_forward(
                inputs[-1], p[li.w : li.b], p[li.b : li.b + li.n_out], B, li.n_in, li.n_out
            )
            cache: Any = {}
            if li.hidden:
                if li.gamma >= 0:
                    gamma = p[li.gamma : li.gamma + li.n_out]
                    beta = p[li.beta : li.beta + li.n_out]
                    if training:
                        z, cache["xhat"], mean, var = batchnorm_forward(
                            z, gamma, beta, B, li.n_out, ANN_BN_EPS
                        )
                        cache["var"] = var
                        stats.append((li, mean, var))
                    else:
                        z = batchnorm_inference(
                            z,
                            gamma,
                            beta,
                            self.state[li.mean : li.mean + li.n_out],
                            self.state[li.var : li.var + li.n_out],
                            B,
                            li.n_out,
                            ANN_BN_EPS,
                        )
                cache["z"] = z
                z = cache["a"] = activation_forward(z, li.act, li.slope)
                if training and self.dropout > 0.0:
                    z, cache["keep"], rng = dropout_forward(z, self.dropout, rng)
            inputs.append(z)
            self._cache.append(cache)
        return inputs, (stats, rng, B)

    def _commit(self, pending: Any) -> None:
        """What a training forward drew moves on (net.c's commit_forward): the running
        statistics toward this batch's, the dropout stream, the augmentation step."""
        stats, rng, B = pending
        unbias = B / (B - 1) if B > 1 else 1.0
        for li, mean, var in stats:
            for j in range(li.n_out):
                m_i, v_i = li.mean + j, li.var + j
                self.state[m_i] += ANN_BN_MOMENTUM * (mean[j] - self.state[m_i])
                self.state[v_i] += ANN_BN_MOMENTUM * (var[j] * unbias - self.state[v_i])
        self.dropout_rng = rng
        if self._augment is not None:
            self._augment_step += 1

    def _batch_targets(
        self, labels: Any, targets: Any, rows: Sequence[int], n_rows: int, what: str
    ) -> tuple[list[int] | None, list[float] | None]:
        """(labels, targets) of the rows, as net.c's load_batch brings them in: the labels when
        there are some (checked: 0..K-1, or 0..1 for one output of a float head), and for a
        head with float targets the targets, or else targets made from the labels (one-hot for
        K > 1, the label itself for K = 1)."""
        K = self.sizes[-1]
        classes = 2 if K == 1 and self.head != ANN_SOFTMAX_CE else K
        if targets is not None and len(targets) != n_rows * K:
            raise ValueError(f"{what}: a size or count is zero, negative or too large")
        batch_labels = None
        if labels is not None:
            batch_labels = [labels[i] for i in rows]
            if any(not 0 <= t < classes for t in batch_labels):
                raise DataError(f"{what}: a label lies outside 0..K-1")
        if self.head == ANN_SOFTMAX_CE:
            return batch_labels, None
        if targets is not None:
            return batch_labels, [v for i in rows for v in targets[i * K : (i + 1) * K]]
        if batch_labels is None:
            return None, None
        if K == 1:
            return batch_labels, [float(t) for t in batch_labels]
        return batch_labels, [1.0 if k == t else 0.0 for t in batch_labels for k in range(K)]

    def _predicted_class(self, z: Sequence[float]) -> int:
        """net.c's predicted_class: argmax for K > 1; for one output, past 1/2."""
        if len(z) > 1:
            return _argmax(z)
        if self.head in (ANN_SIGMOID_BCE, ANN_SIGMOID_MSE):
            return int(z[0] > 0.0)
        return int(z[0] > 0.5) if self.head == ANN_IDENTITY_MSE else 0

    def _count_correct(
        self, logits: Sequence[float], labels: list[int] | None, targets: list[float] | None, B: int
    ) -> int:
        """net.c's count_correct: against labels, or a sigmoid head's every output on the side
        of 1/2 its target is on."""
        K = self.sizes[-1]
        rows = [logits[r * K : (r + 1) * K] for r in range(B)]
        if labels is not None:
            return sum(self._predicted_class(z) == t for z, t in zip(rows, labels))
        if targets is not None and self.head in (ANN_SIGMOID_BCE, ANN_SIGMOID_MSE):
            return sum(
                all((z[k] > 0.0) == (targets[r * K + k] > 0.5) for k in range(K))
                for r, z in enumerate(rows)
            )
        return 0

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
        rows = list(idx[start : start + batch])
        if batch < 1 or len(rows) != batch:
            raise ValueError("batch size must be at least 1 and fit in the index")
        if labels is None and (targets is None or self.head == ANN_SOFTMAX_CE):
            raise BackendError("forward/backward: a required buffer is missing (NULL pointer)")
        if any(not 0 <= i < n_rows for i in rows):
            raise DataError("a row index lies outside the data set")
        if batch < 2 and any(li.gamma >= 0 for li in self.layers):
            # as ann_net_forward_backward: one row has variance 0, nothing to normalise by
            raise ValueError("forward/backward: batch norm needs at least 2 rows per batch")
        K = self.sizes[-1]
        batch_labels, batch_targets = self._batch_targets(
            labels, targets, rows, n_rows, "forward/backward"
        )
        x = self._input(images, rows)
        if self._augment is not None:  # the training batch has just been gathered
            params, seed, (H, W) = self._augment
            x = augment_batch(x, params, seed, self._augment_step, batch, H, W)
        inputs, pending = self._forward(x, batch, training=True)
        loss, _, grad = head_forward_backward(
            self.head, inputs[-1], batch_labels, batch_targets, batch, K
        )
        if not math.isfinite(loss):  # before anything moves: the network is as it was
            raise TrainingError("forward/backward: the loss became NaN or infinite")
        correct = self._count_correct(inputs[-1], batch_labels, batch_targets, batch)
        self._commit(pending)
        for l in range(len(self.layers) - 1, -1, -1):
            li, cache = self.layers[l], self._cache[l]
            if li.hidden:
                if "keep" in cache:
                    grad = dropout_backward(grad, cache["keep"], self.dropout)
                grad = activation_backward(grad, cache["z"], cache["a"], li.act, li.slope)
                if li.gamma >= 0:
                    grad, dgamma, dbeta = batchnorm_backward(
                        grad,
                        cache["xhat"],
                        cache["var"],
                        self.params[li.gamma : li.gamma + li.n_out],
                        batch,
                        li.n_out,
                        ANN_BN_EPS,
                    )
                    self.grads[li.gamma : li.gamma + li.n_out] = dgamma
                    self.grads[li.beta : li.beta + li.n_out] = dbeta
            dx, dW, db = dense_backward(
                grad, inputs[l], self.params[li.w : li.b], batch, li.n_in, li.n_out, need_dx=l > 0
            )
            self.grads[li.w : li.b] = dW
            self.grads[li.b : li.b + li.n_out] = db
            if dx is not None:
                grad = dx
        if self.l2 > 0.0:
            for li in self.layers:
                weight_grads = self.grads[li.w : li.b]
                loss += l2_penalty(self.params[li.w : li.b], weight_grads, self.l2)
                self.grads[li.w : li.b] = weight_grads
        return loss, correct

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
        if not (lr >= 0.0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a finite number >= 0, not {lr}")
        result = self.forward_backward(images, labels, n_rows, idx, start, batch, targets=targets)
        self._update(lr)
        self._max_norm_project()
        return result

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
    ) -> tuple[array[float] | None, array[int] | None, float, int]:
        rows = list(idx[:n]) if idx is not None else list(range(n))
        if any(not 0 <= i < n_rows for i in rows):
            raise DataError("a row index lies outside the data set")
        try:
            x = self._input(images, rows)
        except DataError as exc:
            raise DataError(f"prediction: {exc}") from None
        inputs, _ = self._forward(x, n)
        logits, K = inputs[-1], self.sizes[-1]
        label_list, target_list = self._batch_targets(labels, targets, rows, n_rows, "prediction")
        scored = label_list if self.head == ANN_SOFTMAX_CE else target_list
        loss_sum, outputs = 0.0, None
        if scored is not None or want_probs:
            mean, outputs, _ = head_forward_backward(
                self.head,
                logits,
                label_list or [0] * n,
                target_list or [0.0] * (n * K),
                n,
                K,
            )
            if scored is not None:
                if not math.isfinite(mean):
                    raise DataError(
                        "prediction: the input or the targets contain NaN or infinite values"
                    )
                loss_sum = mean * n
        classes = [self._predicted_class(logits[r * K : (r + 1) * K]) for r in range(n)]
        return (
            array("f", outputs) if want_probs and outputs is not None else None,
            array("i", classes) if want_classes else None,
            loss_sum,
            self._count_correct(logits, label_list, target_list, n),
        )


def _argmax(values: Sequence[float]) -> int:
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best]:
            best = k
    return best
