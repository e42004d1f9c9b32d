"""Each C op against the pure-Python reference, on random small and awkward shapes."""

from __future__ import annotations

import math
import random
from array import array

import pytest
from conftest import run_python

from ann import _reference as ref

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 17, 1), (13, 33, 7), (64, 20, 784), (31, 10, 5)]


def floats(rng, n, lo=-1.0, hi=1.0):
    return array("f", [rng.uniform(lo, hi) for _ in range(n)])


def close(actual, expected, tol=1e-5):
    assert len(actual) == len(expected)
    scale = max([1.0] + [abs(v) for v in expected])
    worst = max((abs(a - e) for a, e in zip(actual, expected)), default=0.0)
    assert worst <= tol * scale, f"max abs diff {worst} > {tol * scale}"


def buf(ffi, values, kind="float[]"):
    return ffi.from_buffer(kind, values)


@pytest.mark.parametrize("B,n_in,n_out", SHAPES)
def test_dense_forward_matches_reference(core, B, n_in, n_out):
    ffi, lib = core
    rng = random.Random(B * 1000 + n_in * 10 + n_out)
    x, W, b = floats(rng, B * n_in), floats(rng, n_in * n_out), floats(rng, n_out)
    y = array("f", [math.nan] * (B * n_out))
    assert (
        lib.ann_dense_forward(buf(ffi, y), buf(ffi, x), buf(ffi, W), buf(ffi, b), B, n_in, n_out)
        == lib.ANN_OK
    )
    close(y, ref.dense_forward(list(x), list(W), list(b), B, n_in, n_out), tol=1e-5 * n_in**0.5)


@pytest.mark.parametrize("B,n_in,n_out", SHAPES)
def test_dense_backward_matches_reference(core, B, n_in, n_out):
    ffi, lib = core
    rng = random.Random(B + 7 * n_in + 13 * n_out)
    x, W, dy = floats(rng, B * n_in), floats(rng, n_in * n_out), floats(rng, B * n_out)
    dx = array("f", [math.nan] * (B * n_in))
    dW = array("f", [math.nan] * (n_in * n_out))
    db = array("f", [math.nan] * n_out)
    assert (
        lib.ann_dense_backward(
            buf(ffi, dx),
            buf(ffi, dW),
            buf(ffi, db),
            buf(ffi, dy),
            buf(ffi, x),
            buf(ffi, W),
            B,
            n_in,
            n_out,
        )
        == lib.ANN_OK
    )
    e_dx, e_dW, e_db = ref.dense_backward(list(dy), list(x), list(W), B, n_in, n_out)
    close(dx, e_dx, tol=1e-5 * n_out**0.5)
    close(dW, e_dW, tol=1e-5 * B**0.5)
    close(db, e_db, tol=1e-5 * B**0.5)


def test_dense_backward_without_dx(core):
    ffi, lib = core
    rng = random.Random(3)
    x, W, dy = floats(rng, 6), floats(rng, 6), floats(rng, 4)
    dW, db = array("f", [0.0] * 6), array("f", [0.0] * 2)
    assert (
        lib.ann_dense_backward(
            ffi.NULL, buf(ffi, dW), buf(ffi, db), buf(ffi, dy), buf(ffi, x), buf(ffi, W), 2, 3, 2
        )
        == lib.ANN_OK
    )
    close(dW, ref.dense_backward(list(dy), list(x), list(W), 2, 3, 2)[1])


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 5, 1), (7, 9, 13), (16, 8, 32), (33, 17, 65)])
def test_sgemm_all_forms_match_reference(core, ta, tb, M, N, K):
    ffi, lib = core
    rng = random.Random(M * N * K + ta * 2 + tb)
    lda = (M if ta else K) + 2  # leading dimensions wider than the data
    ldb = (K if tb else N) + 1
    ldc = N + 3
    A = floats(rng, (K if ta else M) * lda)
    Bm = floats(rng, (N if tb else K) * ldb)
    C0 = floats(rng, M * ldc)
    for kernel in (lib.ann_sgemm, lib.ann_sgemm_naive):
        for beta in (0.0, 1.0, 0.5):
            C = array("f", C0)
            assert (
                kernel(ta, tb, M, N, K, buf(ffi, A), lda, buf(ffi, Bm), ldb, beta, buf(ffi, C), ldc)
                == lib.ANN_OK
            )
            expected = list(C0)
            ref.sgemm(bool(ta), bool(tb), M, N, K, list(A), lda, list(Bm), ldb, beta, expected, ldc)
            close(C, expected, tol=1e-5 * K**0.5)


def test_sgemm_beta_zero_ignores_garbage(core):
    ffi, lib = core
    A, B = array("f", [1.0, 2.0]), array("f", [3.0, 4.0])
    C = array("f", [math.nan])
    assert lib.ann_sgemm(0, 0, 1, 1, 2, buf(ffi, A), 2, buf(ffi, B), 1, 0.0, buf(ffi, C), 1) == 0
    assert C[0] == 11.0


@pytest.mark.parametrize(
    "args", [dict(M=0), dict(N=-1), dict(K=0), dict(lda=1), dict(ldb=1), dict(ldc=1)]
)
def test_sgemm_rejects_bad_sizes(core, args):
    ffi, lib = core
    p = dict(M=2, N=3, K=4, lda=4, ldb=3, ldc=3)
    p.update(args)
    A, B, C = array("f", [0.0] * 64), array("f", [0.0] * 64), array("f", [0.0] * 64)
    status = lib.ann_sgemm(
        0,
        0,
        p["M"],
        p["N"],
        p["K"],
        buf(ffi, A),
        p["lda"],
        buf(ffi, B),
        p["ldb"],
        0.0,
        buf(ffi, C),
        p["ldc"],
    )
    assert status in (lib.ANN_E_SIZE,) or (
        status == lib.ANN_OK and p["M"] * p["N"] * p["K"] == 0 and min(p.values()) >= 0
    )


def test_relu_forward_and_backward(core):
    ffi, lib = core
    rng = random.Random(5)
    x = floats(rng, 101)
    x[0], x[1] = 0.0, -0.0
    y = array("f", [0.0] * 101)
    assert lib.ann_relu_forward(buf(ffi, y), buf(ffi, x), 101) == 0
    assert list(y) == ref.relu_forward(list(x))
    dy = floats(rng, 101)
    dx = array("f", [0.0] * 101)
    assert lib.ann_relu_backward(buf(ffi, dx), buf(ffi, dy), buf(ffi, y), 101) == 0
    assert list(dx) == ref.relu_backward(list(dy), list(y))
    assert any(v == 0.0 for v in dx) and any(v != 0.0 for v in dx)


@pytest.mark.parametrize("B,K", [(1, 1), (1, 10), (7, 3), (64, 10), (5, 33)])
def test_softmax_cross_entropy_matches_reference(core, B, K):
    ffi, lib = core
    rng = random.Random(B * 31 + K)
    logits = floats(rng, B * K, -8.0, 8.0)
    labels = array("i", [rng.randrange(K) for _ in range(B)])
    probs = array("f", [0.0] * (B * K))
    grads = array("f", [0.0] * (B * K))
    loss = ffi.new("double *")
    assert (
        lib.ann_softmax_cross_entropy(
            buf(ffi, grads),
            buf(ffi, probs),
            loss,
            buf(ffi, logits),
            buf(ffi, labels, "int32_t[]"),
            B,
            K,
        )
        == 0
    )
    e_loss, e_probs, e_grads = ref.softmax_cross_entropy(list(logits), list(labels), B, K)
    assert loss[0] == pytest.approx(e_loss, rel=1e-5, abs=1e-6)
    close(probs, e_probs)
    close(grads, e_grads)


def test_softmax_cross_entropy_is_stable_for_huge_logits(core):
    ffi, lib = core
    logits = array("f", [1000.0, 0.0, -1000.0, 88.0, 89.0, 3e38])
    labels = array("i", [0, 1])
    grads = array("f", [0.0] * 6)
    loss = ffi.new("double *")
    assert (
        lib.ann_softmax_cross_entropy(
            buf(ffi, grads), ffi.NULL, loss, buf(ffi, logits), buf(ffi, labels, "int32_t[]"), 2, 3
        )
        == 0
    )
    assert math.isfinite(loss[0]) and all(math.isfinite(g) for g in grads)
    # row 0: label 0 has the largest logit by far, so its loss is ~0; row 1 label 1 (89 vs 3e38)
    assert loss[0] == pytest.approx((0.0 + (3e38 - 89.0)) / 2, rel=1e-6)


def test_softmax_cross_entropy_in_place(core):
    ffi, lib = core
    logits = array("f", [0.5, -1.0, 2.0, 0.0, 0.0, 0.0])
    labels = array("i", [2, 0])
    expected = ref.softmax_cross_entropy(list(logits), [2, 0], 2, 3)[2]
    loss = ffi.new("double *")
    assert (
        lib.ann_softmax_cross_entropy(
            buf(ffi, logits), ffi.NULL, loss, buf(ffi, logits), buf(ffi, labels, "int32_t[]"), 2, 3
        )
        == 0
    )
    close(logits, expected)


def test_softmax_cross_entropy_rejects_bad_labels(core):
    ffi, lib = core
    logits = array("f", [0.0] * 6)
    loss = ffi.new("double *")
    for bad in ([0, 3], [-1, 0]):
        labels = array("i", bad)
        assert (
            lib.ann_softmax_cross_entropy(
                ffi.NULL, ffi.NULL, loss, buf(ffi, logits), buf(ffi, labels, "int32_t[]"), 2, 3
            )
            == lib.ANN_E_LABEL
        )


def test_sgd_update(core):
    ffi, lib = core
    rng = random.Random(9)
    p, g = floats(rng, 37), floats(rng, 37)
    expected = list(p)
    ref.sgd_update(expected, list(g), 0.1)
    assert lib.ann_sgd_update(buf(ffi, p), buf(ffi, g), 37, 0.1) == 0
    close(p, expected, tol=1e-6)
    assert lib.ann_sgd_update(buf(ffi, p), buf(ffi, g), 37, -0.1) == lib.ANN_E_ARG
    assert lib.ann_sgd_update(buf(ffi, p), buf(ffi, g), 37, math.nan) == lib.ANN_E_ARG


def test_gather_u8_normalizes_and_checks_indices(core):
    ffi, lib = core
    images = bytes(range(256)) * 3  # 3 rows of D = 256
    idx = array("i", [2, 0, 2])
    x = array("f", [0.0] * (3 * 256))
    assert lib.ann_gather_u8(buf(ffi, x), images, 3, buf(ffi, idx, "int32_t[]"), 3, 256) == 0
    close(x, ref.gather_u8(images, [2, 0, 2], 256), tol=1e-7)
    assert x[255] == 1.0 and x[0] == 0.0
    for bad in (3, -1):
        idx = array("i", [0, bad])
        assert (
            lib.ann_gather_u8(buf(ffi, x), images, 3, buf(ffi, idx, "int32_t[]"), 2, 256)
            == lib.ANN_E_INDEX
        )


def test_shuffle_is_the_reference_permutation(core):
    ffi, lib = core
    idx = array("i", range(1000))
    state = ffi.new("uint64_t *", 12345)
    assert lib.ann_shuffle(buf(ffi, idx, "int32_t[]"), 1000, state) == 0
    expected = array("i", range(1000))
    new_state = ref.shuffle(expected, 12345)
    assert idx == expected and state[0] == new_state
    assert sorted(idx) == list(range(1000)) and list(idx) != list(range(1000))


def test_random_uniform_matches_reference(core):
    ffi, lib = core
    state = ffi.new("uint64_t *", 7)
    s = 7
    for _ in range(100):
        value = lib.ann_random_uniform(state)
        bits, s = ref.splitmix64(s)
        assert value == (bits >> 40) / 2**24
        assert 0.0 <= value < 1.0


def test_null_pointers_are_rejected_not_crashed(core):
    ffi, lib = core
    NULL = ffi.NULL
    assert lib.ann_dense_forward(NULL, NULL, NULL, NULL, 1, 1, 1) == lib.ANN_E_NULL
    assert lib.ann_relu_forward(NULL, NULL, 1) == lib.ANN_E_NULL
    assert lib.ann_sgemm(0, 0, 1, 1, 1, NULL, 1, NULL, 1, 0.0, NULL, 1) == lib.ANN_E_NULL
    assert lib.ann_net_create(NULL, NULL, 0, 0, 0.0) == lib.ANN_E_NULL
    assert ffi.string(lib.ann_strerror(lib.ANN_E_LABEL)).decode().startswith("a label")
    assert ffi.string(lib.ann_strerror(999)).decode() == "unknown status code"


@pytest.mark.parametrize("sizes", [[1], [784, 0, 10], [784, -5, 10], [784, 1 << 25, 10], []])
def test_net_create_rejects_bad_sizes(core, sizes):
    ffi, lib = core
    out = ffi.new("ann_net **")
    c_sizes = ffi.new("int32_t[]", sizes or [0])
    assert lib.ann_net_create(out, c_sizes, len(sizes), 0, 0.0) == lib.ANN_E_SIZE
    assert out[0] == ffi.NULL


def test_python_constants_are_ann_hs(core):
    """ann/_constants.py copies ann.h's enum values for the reference backend, which runs
    without the core: each copy must equal lib's, and no ANN_ constant of lib may be missing."""
    ffi, lib = core
    from ann import _constants, _network

    in_lib = {
        name: getattr(lib, name)
        for name in dir(lib)
        if name.startswith("ANN_") and isinstance(getattr(lib, name), int)
    }
    assert _constants.COPIES == in_lib
    assert all(getattr(_constants, name) == value for name, value in in_lib.items())
    assert _network.OPTIMIZERS == {
        "sgd": lib.ANN_SGD,
        "momentum": lib.ANN_MOMENTUM,
        "nesterov": lib.ANN_NESTEROV,
        "adam": lib.ANN_ADAM,
    }
    assert _network.Network._KINDS == {
        "weight": lib.ANN_WEIGHTS,
        "bias": lib.ANN_BIASES,
        "bn_gamma": lib.ANN_BN_GAMMA,
        "bn_beta": lib.ANN_BN_BETA,
        "bn_running_mean": lib.ANN_BN_MEAN,
        "bn_running_var": lib.ANN_BN_VAR,
    }


def test_constants_without_the_core_are_the_copies(tmp_path):
    """With no C core importable, the names still exist, with the copied values, and the
    reference backend trains with them."""
    import json

    code = (
        "import json, sys\n"
        "sys.modules['ann._core'] = None\n"  # makes `from ._core import lib` fail
        "import ann\n"
        "from ann import _c, _constants\n"
        "assert _c.lib is None\n"
        "ds = ann.Dataset(bytes(range(40)), bytes([0, 1, 0, 1]), 10, num_classes=2)\n"
        "net = ann.Network([10, 3, 2], seed=1, backend='python')\n"
        "net.fit(ds, epochs=1, batch_size=2, optimizer='adam', lr=0.01, progress=False)\n"
        "net.tensor(0, 'weight')\n"
        "print(json.dumps({n: getattr(_constants, n) for n in _constants.COPIES}))"
    )
    out = run_python(code, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    from ann import _constants

    assert json.loads(out.stdout) == _constants.COPIES
