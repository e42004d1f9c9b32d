"""The activations and heads of the C core (csrc/ops.c), each op against its float64 twin in
ann/_reference.py, and the twins' derivatives against finite differences of their forwards.

Inputs include the awkward places: 0 and -0, both sides of each kink, and |x| so large that a
naive formula overflows (e^1000) or cancels (1 + erf(-10 / sqrt 2))."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from ann import _reference as ref
from ann._constants import ACTIVATIONS, HEADS

EXTREMES = [-1e4, -100.0, -30.0, -10.0, -1.5, -1e-3, -0.0, 0.0, 1e-3, 0.7, 3.0, 10.0, 30.0, 1e4]
HEAD_FUNCTIONS = {
    "sigmoid-bce": ("ann_sigmoid_bce", ref.sigmoid_bce),
    "identity-mse": ("ann_identity_mse", ref.identity_mse),
    "sigmoid-mse": ("ann_sigmoid_mse", ref.sigmoid_mse),
}


def inputs(seed: int, n: int = 200) -> list[float]:
    rng = random.Random(seed)
    return list(array("f", EXTREMES + [rng.gauss(0.0, 3.0) for _ in range(n)]))


def run_forward(core, x, kind, slope):
    ffi, lib = core
    y = array("f", [math.nan] * len(x))
    xs = array("f", x)
    status = lib.ann_activation_forward(
        ffi.from_buffer("float[]", y), ffi.from_buffer("float[]", xs), len(x), kind, slope
    )
    assert status == lib.ANN_OK
    return y


def run_backward(core, dy, x, y, kind, slope):
    ffi, lib = core
    dx = array("f", [math.nan] * len(dy))
    status = lib.ann_activation_backward(
        ffi.from_buffer("float[]", dx),
        ffi.from_buffer("float[]", array("f", dy)),
        ffi.from_buffer("float[]", array("f", x)),
        ffi.from_buffer("float[]", array("f", y)),
        len(dy),
        kind,
        slope,
    )
    assert status == lib.ANN_OK
    return dx


def near(actual, expected, tol):
    """Every |a - e| within tol (max(1, |e|)): float32 rounding of a float64 value."""
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert math.isfinite(a), (i, a, e)
        assert abs(a - e) <= tol * max(1.0, abs(e)), (i, a, e)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activation_matches_its_float64_twin(core, name):
    kind, slope = ACTIVATIONS[name], 0.05
    x = inputs(kind)
    y = run_forward(core, x, kind, slope)
    near(y, ref.activation_forward(x, kind, slope), 2e-7)
    rng = random.Random(kind)
    dy = list(array("f", (rng.uniform(-1.0, 1.0) for _ in x)))
    dx = run_backward(core, dy, x, y, kind, slope)
    # the reference's backward on the C forward's own output (what the C backward reads)
    near(dx, ref.activation_backward(dy, x, list(y), kind, slope), 5e-7)


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n != "identity"])
def test_the_named_ops_are_the_dispatcher(core, name):
    ffi, lib = core
    kind, slope = ACTIVATIONS[name], 0.2
    x = inputs(kind + 10, 50)
    stem = "ann_" + name.replace("-", "_")
    forward = getattr(lib, stem + "_forward")
    backward = getattr(lib, stem + "_backward")
    y = array("f", [0.0] * len(x))
    fx = ffi.from_buffer("float[]", array("f", x))
    fy = ffi.from_buffer("float[]", y)
    args = (slope,) if name == "leaky-relu" else ()
    assert forward(fy, fx, len(x), *args) == lib.ANN_OK
    assert y == run_forward(core, x, kind, slope)
    dy = array("f", [0.5] * len(x))
    dx = array("f", [0.0] * len(x))
    read = fx if name == "gelu" else fy
    assert (
        backward(
            ffi.from_buffer("float[]", dx), ffi.from_buffer("float[]", dy), read, len(x), *args
        )
        == lib.ANN_OK
    )
    assert dx == run_backward(core, list(dy), x, list(y), kind, slope)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_backward_is_the_derivative_of_its_forward(name):
    """The reference's backward against central differences of its own forward, away from the
    kinks (and so, through the test above, the C backward too)."""
    kind, slope, h = ACTIVATIONS[name], 0.05, 1e-6
    points = [v for v in inputs(kind + 20, 60) if abs(v) > 1e-2 and abs(v) < 40]
    y = ref.activation_forward(points, kind, slope)
    analytic = ref.activation_backward([1.0] * len(points), points, y, kind, slope)
    for v, a in zip(points, analytic):
        up = ref.activation_forward([v + h], kind, slope)[0]
        down = ref.activation_forward([v - h], kind, slope)[0]
        assert abs(a - (up - down) / (2 * h)) <= 1e-6 * max(1.0, abs(a)), (name, v)


def test_known_values():
    """Values worked out by hand (or in a table): each activation at a few points."""
    assert ref.sigmoid_forward([0.0, math.log(3.0)]) == [0.5, 0.75]
    assert ref.leaky_relu_forward([-2.0, 3.0], 0.1) == [-0.2, 3.0]
    assert ref.tanh_forward([math.log(2.0)]) == pytest.approx([0.6])  # (4 - 1) / (4 + 1)
    # GELU(1) = Phi(1) = 0.8413447460685429, GELU(-1) = -(1 - Phi(1))
    assert ref.gelu_forward([1.0, -1.0]) == pytest.approx([0.8413447460685429, -0.15865525393])
    # its derivative at 0 is Phi(0) = 1/2; the sigmoid's 1/4; tanh's 1
    assert ref.gelu_backward([1.0], [0.0]) == [0.5]
    assert ref.sigmoid_backward([1.0], [0.5]) == [0.25]
    assert ref.tanh_backward([1.0], [0.0]) == [1.0]


def test_gelu_keeps_its_relative_accuracy_far_below_zero(core):
    """GELU(-8) = -8 Phi(-8) = -4.98e-15, where 1 + erf(-8 / sqrt 2) would round to 0 in
    float32: the C core's stays within a few units in the last place (erfcf's own error)."""
    y = run_forward(core, [-8.0, -12.0], ACTIVATIONS["gelu"], 0.0)
    want = ref.gelu_forward([-8.0, -12.0])
    assert want[1] < 0.0
    for got, w in zip(y, want):
        assert abs(got - w) <= 1e-5 * abs(w), (got, w)


def test_bad_arguments_are_refused(core):
    ffi, lib = core
    buf = ffi.new("float[]", 4)
    assert lib.ann_activation_forward(buf, buf, 4, 6, 0.0) == lib.ANN_E_ARG
    assert lib.ann_activation_forward(buf, buf, 4, -1, 0.0) == lib.ANN_E_ARG
    assert lib.ann_activation_backward(buf, buf, buf, buf, 4, 6, 0.0) == lib.ANN_E_ARG
    for slope in (-0.5, math.nan, math.inf):
        assert lib.ann_leaky_relu_forward(buf, buf, 4, slope) == lib.ANN_E_ARG
        assert lib.ann_leaky_relu_backward(buf, buf, buf, 4, slope) == lib.ANN_E_ARG
    assert lib.ann_gelu_backward(buf, buf, ffi.NULL, 4) == lib.ANN_E_NULL
    assert lib.ann_sigmoid_forward(buf, buf, -1) == lib.ANN_E_SIZE
    for name, _ in HEAD_FUNCTIONS.values():
        f = getattr(lib, name)
        loss = ffi.new("double *")
        assert f(buf, buf, loss, buf, ffi.NULL, 2, 2) == lib.ANN_E_NULL
        assert f(buf, buf, loss, buf, buf, 0, 2) == lib.ANN_E_SIZE


def run_head(core, name, logits, targets, B, K):
    ffi, lib = core
    function = getattr(lib, HEAD_FUNCTIONS[name][0])
    out = array("f", [math.nan] * (B * K))
    grad = array("f", [math.nan] * (B * K))
    loss = ffi.new("double *")
    status = function(
        ffi.from_buffer("float[]", grad),
        ffi.from_buffer("float[]", out),
        loss,
        ffi.from_buffer("float[]", array("f", logits)),
        ffi.from_buffer("float[]", array("f", targets)),
        B,
        K,
    )
    return status, loss[0], out, grad


@pytest.mark.parametrize("name", list(HEAD_FUNCTIONS))
@pytest.mark.parametrize("B,K", [(1, 1), (7, 1), (5, 3), (16, 10)])
def test_each_head_matches_its_float64_twin(core, name, B, K):
    rng = random.Random(B * 100 + K)
    logits = list(array("f", (rng.gauss(0.0, 4.0) for _ in range(B * K))))
    targets = list(array("f", (rng.random() for _ in range(B * K))))
    status, loss, out, grad = run_head(core, name, logits, targets, B, K)
    assert status == 0
    want_loss, want_out, want_grad = HEAD_FUNCTIONS[name][1](logits, targets, B, K)
    assert loss == pytest.approx(want_loss, rel=1e-6, abs=1e-7)
    near(out, want_out, 2e-7)
    near(grad, want_grad, 2e-7)


@pytest.mark.parametrize("name", list(HEAD_FUNCTIONS))
def test_each_head_gradient_is_the_derivative_of_its_loss(name):
    rng = random.Random(3)
    B, K, h = 3, 4, 1e-6
    logits = [rng.gauss(0.0, 3.0) for _ in range(B * K)]
    targets = [rng.random() for _ in range(B * K)]
    function = HEAD_FUNCTIONS[name][1]
    _, _, grad = function(logits, targets, B, K)
    for i in range(B * K):
        up, down = list(logits), list(logits)
        up[i] += h
        down[i] -= h
        numeric = (function(up, targets, B, K)[0] - function(down, targets, B, K)[0]) / (2 * h)
        assert abs(grad[i] - numeric) <= 1e-7 + 1e-6 * abs(numeric), (name, i)


def test_heads_stay_finite_at_extreme_logits(core):
    """No log(0), no e^1000: binary cross-entropy of a logit of +-1e4 against the wrong
    target is 1e4 (its softplus form), and the sigmoid's derivative, which is 4.5e-5 at
    z = 10 and 2.1e-9 at z = 20, is not lost to 1 - p rounding to 0."""
    logits = [1e4, -1e4, 1e4, -1e4, 10.0, 20.0]
    targets = [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    status, loss, p, grad = run_head(core, "sigmoid-bce", logits, targets, 1, 6)
    assert status == 0
    expected = (1e4 + 1e4 + 0.0 + 0.0 + 10.0 + math.log1p(math.exp(-10.0))) / 6
    expected += (20.0 + math.log1p(math.exp(-20.0))) / 6
    assert loss == pytest.approx(expected, rel=1e-9)
    assert list(p[:4]) == [1.0, 0.0, 1.0, 0.0] and all(math.isfinite(g) for g in grad)
    status, loss, p, grad = run_head(core, "sigmoid-mse", logits, targets, 1, 6)
    assert status == 0 and math.isfinite(loss)
    s10 = ref.sigmoid(10.0) * ref.sigmoid(-10.0)
    s20 = ref.sigmoid(20.0) * ref.sigmoid(-20.0)
    assert grad[4] == pytest.approx(2 * ref.sigmoid(10.0) * s10 / 6, rel=1e-5)
    assert grad[5] == pytest.approx(2 * ref.sigmoid(20.0) * s20 / 6, rel=1e-5) and grad[5] > 0


def test_a_nan_target_gives_a_nan_loss_status(core):
    _, lib = core
    for name in HEAD_FUNCTIONS:
        status, *_ = run_head(core, name, [0.5, 1.0], [math.nan, 0.0], 1, 2)
        assert status == lib.ANN_E_NONFINITE, name


def test_every_head_and_activation_has_a_c_value(core):
    _, lib = core
    for name, value in {**ACTIVATIONS, **HEADS}.items():
        assert value in range(6), name
    assert lib.ANN_GELU == ACTIVATIONS["gelu"] and lib.ANN_SIGMOID_MSE == HEADS["sigmoid-mse"]
