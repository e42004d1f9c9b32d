"""Denormal floats are flushed to zero on every thread that computes for the C core, and only
there (csrc/platform.h, docs/denormals.md).

A float32 below FLT_MIN = 2^-126 in magnitude is denormal; on many CPUs arithmetic that reads
or makes one is far slower. In a long Adam run, the first moment m of a weight whose gradient
has been exactly 0 for a while (a pixel that is almost always 0) decays by beta1 every step,
through the denormal range, down to 0: issue 26 found 22 % of m denormal after 30 epochs, and
epochs 2.3 times slower. The core now computes in the mode that flushes denormals to zero (x86:
MXCSR FTZ + DAZ; aarch64: FPCR.FZ), on the pool's workers and around every entry point on the
caller's thread, whose own mode it gives back. These tests fail on a core built with
-DANN_KEEP_DENORMALS, which leaves the mode alone.
"""

from __future__ import annotations

import platform
import random
import sys
import threading
from array import array

import pytest

FLT_MIN = 2.0**-126  # the smallest normal float32
FLUSHES = platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")
pytestmark = pytest.mark.skipif(
    not FLUSHES, reason="the core flushes denormals on x86-64 and aarch64 only"
)


def denormals(values: array) -> int:
    return sum(1 for x in values if x != 0.0 and abs(x) < FLT_MIN)


def test_a_long_adam_run_leaves_no_denormal_state(core):
    """Adam on inputs whose first half of columns turns to 0 after a few steps: the moments of
    those weights decay by beta1 = 0.9 per step, through the denormal range from about step 700
    to 960 (below FLT_MIN after ~ln(1e-3 / 2^-126) / ln(1/0.9) steps). Flushed, they go from
    normal straight to 0. Every buffer of the network is checked every 20 steps."""
    from ann._backend import CNet

    _, lib = core
    rng = random.Random(0)
    N, D, K, B = 64, 32, 4, 16
    labels = array("i", (rng.randrange(K) for _ in range(N)))
    dense = array("f", (rng.random() for _ in range(N * D)))
    half = array("f", dense)
    for r in range(N):
        for c in range(D // 2):
            half[r * D + c] = 0.0
    net = CNet([D, 16, K])
    net.init(1)
    net.set_optimizer(lib.ANN_ADAM, 0.0, 0.9, 0.999, 1e-8, 0.0)
    order = array("i", range(N))
    seen = 0
    for step in range(1000):
        features = dense if step < 5 else half  # the kick, then the zero columns
        net.train_step(features, labels, N, order, (step * B) % N, B, 0.001)
        if step % 20 == 19:
            m, v, _ = net.get_optimizer_state(True)
            for name, values in (
                ("m", m),
                ("v", v),
                ("params", net.get_params()),
                ("grads", net.get_grads()),
            ):
                count = denormals(values)
                assert count == 0, f"step {step + 1}: {count} denormal values in {name}"
            seen += 1
    assert seen == 50


@pytest.mark.parametrize("n", [7, 4 * 65536 + 3], ids=["caller", "caller-and-pool"])
def test_updates_flush_denormal_results_and_operands(core, n):
    """ann_sgd_update, on the calling thread (n small) and split over the pool's workers (n
    above ops.c's 4 x 65,536 threshold, two threads): every result below FLT_MIN is 0, and a
    denormal parameter is read as 0."""
    import ann

    ffi, lib = core
    before = ann.get_num_threads()
    ann.set_num_threads(2)
    try:
        # theta - 1 * g with theta = 1.5 FLT_MIN, g = FLT_MIN: 0.5 FLT_MIN, denormal
        params = array("f", [1.5 * FLT_MIN]) * n
        grads = array("f", [FLT_MIN]) * n
        status = lib.ann_sgd_update(
            ffi.from_buffer("float[]", params), ffi.from_buffer("float[]", grads), n, 1.0
        )
        assert status == 0
        assert denormals(params) == 0 and set(params) == {0.0}
        # a denormal operand: theta = 0.5 FLT_MIN, g = 0 gives 0, not theta
        params = array("f", [0.5 * FLT_MIN]) * n
        zeros = array("f", [0.0]) * n
        lib.ann_sgd_update(
            ffi.from_buffer("float[]", params), ffi.from_buffer("float[]", zeros), n, 1.0
        )
        assert set(params) == {0.0}
    finally:
        ann.set_num_threads(before)


def python_keeps_gradual_underflow() -> bool:
    """Python's own float (double) arithmetic on this thread still makes denormals."""
    tiny = float(sys.float_info.min)  # 2^-1022, the smallest normal double
    smallest = float("5e-324")  # 2^-1074, the smallest denormal double
    return tiny / 2 > 0.0 and smallest * 2 == float("1e-323") and smallest > 0.0


def test_the_callers_floating_point_mode_is_given_back(core):
    """After entry points that compute (an op, the GEMM, a training step, a prediction), the
    calling thread's arithmetic keeps IEEE gradual underflow, on the main thread and on another
    Python thread."""
    from ann._backend import CNet

    ffi, lib = core

    def compute() -> None:
        a = array("f", [0.5] * 64)
        c = array("f", [0.0] * 64)
        buf = ffi.from_buffer
        assert (
            lib.ann_sgemm(
                0, 0, 8, 8, 8, buf("float[]", a), 8, buf("float[]", a), 8, 0.0, buf("float[]", c), 8
            )
            == 0
        )
        assert lib.ann_relu_forward(buf("float[]", c), buf("float[]", c), 64) == 0
        net = CNet([4, 3, 2])
        net.init(0)
        features, labels = array("f", [0.25] * 8), array("i", [0, 1])
        net.train_step(features, labels, 2, array("i", [0, 1]), 0, 2, 0.1)
        net.predict(features, labels, 2, None, 2, want_probs=True, want_classes=True)

    assert python_keeps_gradual_underflow()
    compute()
    assert python_keeps_gradual_underflow()
    results: list[bool] = []

    def in_thread() -> None:
        compute()
        results.append(python_keeps_gradual_underflow())

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert results == [True]
