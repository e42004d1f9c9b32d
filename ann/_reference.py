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
from operator import mul
from typing import Any, List, Optional, Sequence, Tuple

from ._errors import DataError, TrainingError

Matrix = List[float]
MASK64 = 0xFFFFFFFFFFFFFFFF


# ---- matrix multiply -------------------------------------------------------------------

def sgemm(trans_a: bool, trans_b: bool, M: int, N: int, K: int, A: Sequence[float], lda: int,
          B: Sequence[float], ldb: int, beta: float, C: Matrix, ldc: int) -> None:
    """C (M, N) = A' (M, K) B' (K, N) + beta C, in place; A' = A or A^T, B' = B or B^T."""
    for i in range(M):
        a_row = [A[k * lda + i] for k in range(K)] if trans_a else A[i * lda:i * lda + K]
        for j in range(N):
            b_col = B[j * ldb:j * ldb + K] if trans_b else B[j::ldb][:K]
            total = sum(map(mul, a_row, b_col))
            old = C[i * ldc + j] if beta != 0.0 else 0.0
            C[i * ldc + j] = total + beta * old


# ---- dense layer: y = x W + b -----------------------------------------------------------

def dense_forward(x: Sequence[float], W: Sequence[float], b: Sequence[float],
                  B: int, n_in: int, n_out: int) -> Matrix:
    """y (B, n_out) = x (B, n_in) W (n_in, n_out) + b (n_out)."""
    columns = [W[j::n_out] for j in range(n_out)]
    y: Matrix = []
    for r in range(B):
        row = x[r * n_in:(r + 1) * n_in]
        y.extend(sum(map(mul, row, columns[j])) + b[j] for j in range(n_out))
    return y


def dense_backward(dy: Sequence[float], x: Sequence[float], W: Sequence[float],
                   B: int, n_in: int, n_out: int,
                   need_dx: bool = True) -> Tuple[Optional[Matrix], Matrix, Matrix]:
    """Given dy = dL/dy (B, n_out): dW = x^T dy, db = column sums of dy, dx = dy W^T."""
    dy_columns = [dy[j::n_out] for j in range(n_out)]          # each (B)
    x_columns = [x[i::n_in] for i in range(n_in)]              # each (B)
    dW = [sum(map(mul, x_columns[i], dy_columns[j])) for i in range(n_in) for j in range(n_out)]
    db = [sum(column) for column in dy_columns]
    dx: Optional[Matrix] = None
    if need_dx:
        W_rows = [W[i * n_out:(i + 1) * n_out] for i in range(n_in)]
        dx = []
        for r in range(B):
            g = dy[r * n_out:(r + 1) * n_out]
            dx.extend(sum(map(mul, g, W_rows[i])) for i in range(n_in))
    return dx, dW, db


# ---- ReLU -------------------------------------------------------------------------------

def relu_forward(x: Sequence[float]) -> Matrix:
    """y = max(0, x)"""
    return [v if v > 0.0 else 0.0 for v in x]


def relu_backward(dy: Sequence[float], y: Sequence[float]) -> Matrix:
    """dx = dy where y > 0, else 0 (d max(0, x)/dx is 1 for x > 0, 0 for x < 0)."""
    return [g if v > 0.0 else 0.0 for g, v in zip(dy, y)]


# ---- softmax + cross-entropy --------------------------------------------------------------

def softmax_cross_entropy(logits: Sequence[float], labels: Sequence[int], B: int,
                          K: int) -> Tuple[float, Matrix, Matrix]:
    """(mean loss, probs (B, K), dlogits (B, K) = (p - onehot) / B), shifted by the row max."""
    total = 0.0
    probs: Matrix = []
    grads: Matrix = []
    for r in range(B):
        z = logits[r * K:(r + 1) * K]
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


# ---- SGD --------------------------------------------------------------------------------

def sgd_update(params: Matrix, grads: Sequence[float], lr: float) -> None:
    """theta <- theta - lr * dL/dtheta, in place."""
    for i, g in enumerate(grads):
        params[i] -= lr * g


# ---- data -------------------------------------------------------------------------------

def gather_u8(images: Any, idx: Sequence[int], D: int) -> Matrix:
    """x (B, D) = images[idx] / 255."""
    x: Matrix = []
    for i in idx:
        x.extend(v / 255.0 for v in images[i * D:(i + 1) * D])
    return x


def splitmix64(state: int) -> Tuple[int, int]:
    """(next 64 random bits, new state): the generator of csrc/ops.c, bit for bit."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31), state


def shuffle(idx: array, state: int) -> int:
    """Fisher-Yates shuffle of idx in place, as ann_shuffle does; returns the new state."""
    state &= MASK64
    for i in range(len(idx) - 1, 0, -1):
        bits, state = splitmix64(state)
        j = bits % (i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return state


def _f32(value: float) -> float:
    return array("f", [value])[0]


def init_params(sizes: Sequence[int], seed: int) -> Matrix:
    """Weights U(-1/sqrt(n_in), 1/sqrt(n_in)), biases 0: the same float32 values as ann_net_init.

    Each float32 step of the C code is exact or correctly rounded, and float64 arithmetic
    rounded once to float32 gives the same result for these operations, so this matches C."""
    state = seed & MASK64
    params: Matrix = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        limit = _f32(1.0 / _f32(math.sqrt(n_in)))
        weights = []
        for _ in range(n_in * n_out):
            bits, state = splitmix64(state)
            u = (bits >> 40) * (1.0 / 16777216.0)
            weights.append((2.0 * u - 1.0) * limit)
        params.extend(array("f", weights))
        params.extend([0.0] * n_out)
    return params


class RefNet:
    """A network whose arithmetic is all in this file, with the same methods as CNet."""

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = list(sizes)
        self._offsets: List[Tuple[int, int]] = []   # (W offset, b offset) per layer
        offset = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            self._offsets.append((offset, offset + n_in * n_out))
            offset += n_in * n_out + n_out
        self.num_params = offset
        self.params: Matrix = [0.0] * offset
        self.grads: Matrix = [0.0] * offset

    def init(self, seed: int) -> None:
        self.params = init_params(self.sizes, seed)

    def get_params(self) -> array:
        return array("f", self.params)

    def set_params(self, values: array) -> None:
        if len(values) != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters, got {len(values)}")
        self.params = list(values)

    def get_grads(self) -> array:
        return array("f", self.grads)

    def tensor(self, layer: int, kind: int) -> Tuple[int, int]:
        n_in, n_out = self.sizes[layer], self.sizes[layer + 1]
        w_off, b_off = self._offsets[layer]
        return (w_off, n_in * n_out) if kind == 0 else (b_off, n_out)

    def _layer(self, l: int) -> Tuple[Matrix, Matrix]:
        w_off, b_off = self._offsets[l]
        return self.params[w_off:b_off], self.params[b_off:b_off + self.sizes[l + 1]]

    def _forward(self, x: Matrix, B: int) -> List[Matrix]:
        """All activations: acts[0] = x, acts[l+1] = ReLU(acts[l] W + b) (logits at the top)."""
        acts = [x]
        last = len(self.sizes) - 2
        for l in range(last + 1):
            W, b = self._layer(l)
            z = dense_forward(acts[-1], W, b, B, self.sizes[l], self.sizes[l + 1])
            acts.append(relu_forward(z) if l < last else z)
        return acts

    def forward_backward(self, images: Any, labels: Any, n_rows: int, idx: array, start: int,
                         batch: int) -> Tuple[float, int]:
        rows = list(idx[start:start + batch])
        if batch < 1 or len(rows) != batch:
            raise ValueError("batch size must be at least 1 and fit in the index")
        if any(not 0 <= i < n_rows for i in rows):
            raise DataError("a row index lies outside the data set")
        D, K = self.sizes[0], self.sizes[-1]
        acts = self._forward(gather_u8(images, rows, D), batch)
        batch_labels = [labels[i] for i in rows]
        loss, _, grad = softmax_cross_entropy(acts[-1], batch_labels, batch, K)
        if not math.isfinite(loss):
            raise TrainingError("forward/backward: the loss became NaN or infinite")
        correct = sum(_argmax(acts[-1][r * K:(r + 1) * K]) == batch_labels[r]
                      for r in range(batch))
        for l in range(len(self.sizes) - 2, -1, -1):
            W, _ = self._layer(l)
            dx, dW, db = dense_backward(grad, acts[l], W, batch, self.sizes[l],
                                        self.sizes[l + 1], need_dx=l > 0)
            w_off, b_off = self._offsets[l]
            self.grads[w_off:b_off] = dW
            self.grads[b_off:b_off + len(db)] = db
            if dx is not None:
                grad = relu_backward(dx, acts[l])
        return loss, correct

    def train_step(self, images: Any, labels: Any, n_rows: int, idx: array, start: int,
                   batch: int, lr: float) -> Tuple[float, int]:
        if not (lr >= 0.0 and math.isfinite(lr)):
            raise ValueError(f"learning rate must be a finite number >= 0, not {lr}")
        result = self.forward_backward(images, labels, n_rows, idx, start, batch)
        sgd_update(self.params, self.grads, lr)
        return result

    def _finish(self, logits: Matrix, n: int, label_list: Optional[List[int]], want_probs: bool,
                want_classes: bool) -> Tuple[Optional[array], Optional[array], float, int]:
        K = self.sizes[-1]
        classes = [_argmax(logits[r * K:(r + 1) * K]) for r in range(n)]
        loss_sum, correct = 0.0, 0
        probs: Optional[Matrix] = None
        if label_list is not None or want_probs:
            mean, probs, _ = softmax_cross_entropy(logits, label_list or [0] * n, n, K)
            if label_list is not None:
                loss_sum = mean * n
                correct = sum(c == t for c, t in zip(classes, label_list))
        return (array("f", probs) if want_probs and probs is not None else None,
                array("i", classes) if want_classes else None, loss_sum, correct)

    def predict_u8(self, images: Any, labels: Any, n_rows: int, idx: Optional[array], n: int,
                   *, want_probs: bool, want_classes: bool
                   ) -> Tuple[Optional[array], Optional[array], float, int]:
        rows = list(idx[:n]) if idx is not None else list(range(n))
        if any(not 0 <= i < n_rows for i in rows):
            raise DataError("a row index lies outside the data set")
        acts = self._forward(gather_u8(images, rows, self.sizes[0]), n)
        label_list = [labels[i] for i in rows] if labels is not None else None
        return self._finish(acts[-1], n, label_list, want_probs, want_classes)

    def predict_f32(self, x: array, n: int) -> Tuple[array, array]:
        values = list(x)
        if not all(math.isfinite(v) for v in values):
            raise DataError("prediction: the input contains NaN or infinite values")
        acts = self._forward(values, n)
        probs, classes, _, _ = self._finish(acts[-1], n, None, True, True)
        assert probs is not None and classes is not None
        return probs, classes


def _argmax(values: Sequence[float]) -> int:
    best = 0
    for k in range(1, len(values)):
        if values[k] > values[best]:
            best = k
    return best
