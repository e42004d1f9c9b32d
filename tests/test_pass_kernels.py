"""The vectorized passes of the C core on every kernel this CPU runs, against naive twins
written here in Python.

The Adam update and the dropout forward pass have copies compiled for AVX2 and AVX-512
(csrc/ops.c), picked with the matrix kernel, so ``ANN_KERNEL`` chooses them too; the kernel is
chosen once per process, so each runs in a child interpreter. The child computes each pass on
one thread and on two (sizes that the pool splits), and checks both against the textbook
formula evaluated one float32 rounding at a time: splitmix64 draws for dropout (ann.h:
``u = (next() >> 40) 2^-24``, kept when ``u >= p``), and Adam's three lines for the update.
The multi-threaded C tests (tests/c/test_passes.c) hold the same passes against C loops.
"""

from __future__ import annotations

import pytest
from test_gemm import kernels_to_try, run_child

CHILD = r"""
import math, random, struct
from array import array
from ann._core import ffi, lib

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


def splitmix64(state):
    state = (state + GAMMA) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def dropout_naive(x, p, state):
    scale = f32(1.0 / f32(1.0 - p))
    y, mask = [], []
    for xi in x:
        state, z = splitmix64(state)
        keep = (z >> 40) * 2.0**-24 >= p
        mask.append(int(keep))
        y.append(f32(xi * scale) if keep else 0.0)
    return y, mask, state


def adam_naive(params, m, v, grads, lr, b1, b2, eps, t):
    c1, c2 = f32(1.0 - b1**t), f32(1.0 - b2**t)
    one_b1, one_b2 = f32(1.0 - b1), f32(1.0 - b2)
    out_p, out_m, out_v = [], [], []
    for p_i, m_i, v_i, g in zip(params, m, v, grads):
        mi = f32(f32(b1 * m_i) + f32(one_b1 * g))
        vi = f32(f32(b2 * v_i) + f32(f32(one_b2 * g) * g))
        step = f32(f32(lr * f32(mi / c1)) / f32(f32(math.sqrt(f32(vi / c2))) + eps))
        out_p.append(f32(p_i - step))
        out_m.append(mi)
        out_v.append(vi)
    return out_p, out_m, out_v


rng = random.Random(11)
problems = []

# dropout: 200,003 units, p = 0.1 as in the best preset (split on two threads)
n, p, seed = 200003, f32(0.1), 0x1234_5678_9ABC_DEF0
x = array("f", (rng.uniform(-1.0, 1.0) for _ in range(n)))
want_y, want_mask, want_state = dropout_naive(x, p, seed)
for threads in (1, 2):
    lib.ann_set_num_threads(threads)
    y, mask = array("f", bytes(4 * n)), bytearray(n)
    state = ffi.new("uint64_t *", seed)
    status = lib.ann_dropout_forward(ffi.from_buffer("float[]", y),
                                     ffi.from_buffer("uint8_t[]", mask),
                                     ffi.from_buffer("float[]", x), n, p, state)
    if status != 0:
        problems.append(f"dropout, {threads} threads: status {status}")
    elif list(mask) != want_mask:
        first = next(i for i in range(n) if mask[i] != want_mask[i])
        problems.append(f"dropout, {threads} threads: mask differs first at unit {first}")
    elif y.tolist() != want_y:
        problems.append(f"dropout, {threads} threads: outputs differ")
    elif state[0] != want_state:
        problems.append(f"dropout, {threads} threads: the stream ends elsewhere")

# Adam: 60,001 parameters (split on two threads), some gradients 0 as for blank pixels
n = 60001
params0 = [f32(rng.uniform(-0.1, 0.1)) for _ in range(n)]
m0 = [f32(rng.uniform(-1e-3, 1e-3)) for _ in range(n)]
v0 = [f32(rng.uniform(0.0, 1e-6)) for _ in range(n)]
g0 = [0.0 if i % 5 == 0 else f32(rng.uniform(-1e-2, 1e-2)) for i in range(n)]
lr, b1, b2, eps, t = f32(2e-3), f32(0.9), f32(0.999), f32(1e-8), 7
want = adam_naive(params0, m0, v0, g0, lr, b1, b2, eps, t)
for threads in (1, 2):
    lib.ann_set_num_threads(threads)
    bufs = [array("f", a) for a in (params0, m0, v0, g0)]
    ptrs = [ffi.from_buffer("float[]", a) for a in bufs]
    status = lib.ann_adam_update(*ptrs, n, lr, b1, b2, eps, t)
    if status != 0:
        problems.append(f"adam, {threads} threads: status {status}")
    for name, got, exp in zip(("params", "m", "v"), bufs[:3], want):
        if status == 0 and got.tolist() != exp:
            first = next(i for i in range(n) if got[i] != exp[i])
            problems.append(f"adam, {threads} threads: {name} differs first at {first}: "
                            f"{got[first]!r} != {exp[first]!r}")
print(ffi.string(lib.ann_kernel_name()).decode())
print("ok" if not problems else "; ".join(problems))
"""


@pytest.mark.parametrize("env_value,name", kernels_to_try())
def test_vectorized_passes_match_their_naive_twins(core, env_value, name):
    out = run_child(CHILD, timeout=300, ANN_KERNEL=env_value)
    kernel, verdict = out.stdout.strip().splitlines()
    assert kernel == name
    assert verdict == "ok", f"kernel {kernel}: {verdict}"
