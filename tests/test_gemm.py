"""ann_sgemm through cffi: every transposition form against ann_sgemm_naive on awkward sizes,
bit-identical results for any thread count, argument errors, and the kernel / thread knobs.

Shapes follow ann.h: C (M, N) = A' (M, K) B' (K, N), A stored (K, M) when trans_a, B stored
(N, K) when trans_b. Buffers are ``array('f')`` handed to C with ``ffi.from_buffer``.
"""

from __future__ import annotations

import math
import os
import platform
import random
import sys
from array import array
from collections.abc import Iterator

import pytest
from conftest import run_python

PAD_SENTINEL = 12345.0


def random_floats(rng: random.Random, n: int) -> array:
    return array("f", [rng.uniform(-1.0, 1.0) for _ in range(n)])


def stored_matrix(rng: random.Random, rows: int, cols: int, ld: int) -> array:
    """(rows, cols) with row stride ld; the ld - cols padding floats are NaN, so a kernel that
    read them into a sum would show it."""
    out = array("f")
    for _ in range(rows):
        out.extend(random_floats(rng, cols))
        out.extend([math.nan] * (ld - cols))
    return out


def run_sgemm(
    ffi,
    fn,
    ta: int,
    tb: int,
    M: int,
    N: int,
    K: int,
    A: array,
    lda: int,
    B: array,
    ldb: int,
    beta: float,
    C: array,
    ldc: int,
) -> int:
    return fn(
        ta,
        tb,
        M,
        N,
        K,
        ffi.from_buffer("float[]", A),
        lda,
        ffi.from_buffer("float[]", B),
        ldb,
        beta,
        ffi.from_buffer("float[]", C),
        ldc,
    )


@pytest.fixture
def threads_restored(core) -> Iterator[None]:
    """Put the thread count back as it was, whatever a test sets."""
    _, lib = core
    before = lib.ann_get_num_threads()
    yield
    lib.ann_set_num_threads(before)


# (M, N, K): unit sizes, K = 1, nothing a multiple of the 4x8 / 6x16 / 8x32 tiles, the seed
# network's small shapes (direct, unpacked path), and shapes spanning several KC blocks.
SHAPES = [
    (1, 1, 1),
    (1, 1, 7),
    (5, 1, 1),
    (1, 9, 1),
    (6, 16, 8),
    (13, 31, 2),
    (17, 33, 65),
    (256, 10, 5),
    (20, 7, 256),
    (40, 70, 300),
]
FORMS = [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("ta,tb", FORMS)
@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("beta,pads", [(0.0, (0, 0, 0)), (1.0, (3, 5, 7)), (0.5, (1, 0, 2))])
def test_sgemm_matches_naive(core, ta, tb, M, N, K, beta, pads):
    ffi, lib = core
    rng = random.Random(f"{ta}{tb}-{M}-{N}-{K}-{beta}")
    pad_a, pad_b, pad_c = pads
    lda = (M if ta else K) + pad_a
    ldb = (K if tb else N) + pad_b
    ldc = N + pad_c
    A = stored_matrix(rng, K if ta else M, M if ta else K, lda)
    B = stored_matrix(rng, N if tb else K, K if tb else N, ldb)
    C0 = array("f")
    for _ in range(M):
        # beta == 0 must overwrite C without reading it: start from NaN garbage
        C0.extend([math.nan] * N if beta == 0.0 else random_floats(rng, N))
        C0.extend([PAD_SENTINEL] * pad_c)
    fast, naive = array("f", C0), array("f", C0)
    assert run_sgemm(ffi, lib.ann_sgemm, ta, tb, M, N, K, A, lda, B, ldb, beta, fast, ldc) == 0
    assert (
        run_sgemm(ffi, lib.ann_sgemm_naive, ta, tb, M, N, K, A, lda, B, ldb, beta, naive, ldc) == 0
    )
    # |a|, |b| <= 1: each sum rounds ~K times in either kernel, so 1e-5 K bounds the gap
    worst = 0.0
    for i in range(M):
        for j in range(ldc):
            at = i * ldc + j
            if j >= N:
                assert fast[at] == PAD_SENTINEL, f"C padding changed at row {i}, column {j}"
                continue
            assert math.isfinite(fast[at]), f"C[{i}][{j}] = {fast[at]}"
            tol = 1e-5 * K + 1e-6 * abs(beta * (C0[at] if beta else 0.0))
            worst = max(worst, abs(fast[at] - naive[at]) / tol)
    assert worst <= 1.0, f"worst difference is {worst:.3g} times the tolerance"


def test_sgemm_is_not_trivially_zero(core):
    """Guard for the comparison above: a known product, worked by hand."""
    ffi, lib = core
    A = array("f", [1, 2, 3, 4, 5, 6])  # (2, 3)
    B = array("f", [7, 8, 9, 10, 11, 12])  # (3, 2)
    C = array("f", [math.nan] * 4)
    assert run_sgemm(ffi, lib.ann_sgemm, 0, 0, 2, 2, 3, A, 3, B, 2, 0.0, C, 2) == 0
    assert list(C) == [58.0, 64.0, 139.0, 154.0]
    # A^T B^T with the same buffers: A stored (3, 2) -> A' (2, 3); B stored (2, 3) -> B' (3, 2)
    assert run_sgemm(ffi, lib.ann_sgemm, 1, 1, 2, 2, 3, A, 2, B, 3, 0.0, C, 2) == 0
    assert list(C) == [
        1 * 7 + 3 * 8 + 5 * 9,
        1 * 10 + 3 * 11 + 5 * 12,
        2 * 7 + 4 * 8 + 6 * 9,
        2 * 10 + 4 * 11 + 6 * 12,
    ]


@pytest.mark.parametrize("ta,tb", FORMS)
@pytest.mark.parametrize("M,N,K", [(300, 257, 129), (1031, 40, 260), (128, 1030, 300)])
def test_thread_counts_give_identical_bits(core, threads_restored, ta, tb, M, N, K):
    """Big enough to be split between threads (in rows or in columns), ragged at the edges,
    and longer than one KC block: every thread count must give the same bytes."""
    ffi, lib = core
    rng = random.Random(M * 7 + N * 3 + K + 11 * ta + 13 * tb)
    A = random_floats(rng, M * K)
    B = random_floats(rng, K * N)
    C0 = random_floats(rng, M * N)
    lda, ldb = (M if ta else K), (K if tb else N)
    results: list[tuple[int, bytes]] = []
    for threads in (1, 2, 3, 16):
        assert lib.ann_set_num_threads(threads) == threads
        C = array("f", C0)
        assert run_sgemm(ffi, lib.ann_sgemm, ta, tb, M, N, K, A, lda, B, ldb, 0.25, C, N) == 0
        results.append((threads, C.tobytes()))
    for threads, data in results[1:]:
        assert data == results[0][1], f"{threads} threads differ from 1 thread"
    assert results[0][1] != array("f", C0).tobytes()


# Each call starts from a valid one: M=4, N=3, K=2, A (4, 2), B (2, 3), C (4, 3).
VALID = dict(ta=0, tb=0, M=4, N=3, K=2, A=True, lda=2, B=True, ldb=3, C=True, ldc=3)
BAD_CALLS = [
    ("A is NULL", dict(A=False), "ANN_E_NULL"),
    ("B is NULL", dict(B=False), "ANN_E_NULL"),
    ("C is NULL", dict(C=False), "ANN_E_NULL"),
    ("M = 0", dict(M=0), "ANN_E_SIZE"),
    ("N = 0", dict(N=0), "ANN_E_SIZE"),
    ("K = 0", dict(K=0), "ANN_E_SIZE"),
    ("M < 0", dict(M=-1), "ANN_E_SIZE"),
    ("K < 0", dict(K=-5), "ANN_E_SIZE"),
    ("lda < K", dict(lda=1), "ANN_E_SIZE"),
    ("trans_a and lda < M", dict(ta=1, lda=3), "ANN_E_SIZE"),
    ("ldb < N", dict(ldb=2), "ANN_E_SIZE"),
    ("trans_b and ldb < K", dict(tb=1, ldb=1), "ANN_E_SIZE"),
    ("ldc < N", dict(ldc=2), "ANN_E_SIZE"),
    ("valid call", dict(), "ANN_OK"),
    ("trans_a with lda = M", dict(ta=1, lda=4), "ANN_OK"),
    ("trans_b with ldb = K", dict(tb=1, ldb=2), "ANN_OK"),
]


@pytest.mark.parametrize("fn_name", ["ann_sgemm", "ann_sgemm_naive"])
@pytest.mark.parametrize("what,change,expected", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_argument_errors(core, fn_name, what, change, expected):
    ffi, lib = core
    args = dict(VALID, **change)
    A, B = array("f", [1.0] * 16), array("f", [1.0] * 16)
    C = array("f", [-7.0] * 16)
    status = getattr(lib, fn_name)(
        args["ta"],
        args["tb"],
        args["M"],
        args["N"],
        args["K"],
        ffi.from_buffer("float[]", A) if args["A"] else ffi.NULL,
        args["lda"],
        ffi.from_buffer("float[]", B) if args["B"] else ffi.NULL,
        args["ldb"],
        0.0,
        ffi.from_buffer("float[]", C) if args["C"] else ffi.NULL,
        args["ldc"],
    )
    assert status == getattr(lib, expected), f"{what}: status {status}"
    if expected != "ANN_OK":
        assert list(C) == [-7.0] * 16, f"{what}: a rejected call wrote to C"


def test_set_and_get_num_threads(core, threads_restored):
    _, lib = core
    cores = os.sysconf("SC_NPROCESSORS_ONLN") if hasattr(os, "sysconf") else None
    assert lib.ann_set_num_threads(3) == 3 and lib.ann_get_num_threads() == 3
    assert lib.ann_set_num_threads(1) == 1 and lib.ann_get_num_threads() == 1
    one_per_core = lib.ann_set_num_threads(0)
    assert lib.ann_get_num_threads() == one_per_core
    assert lib.ann_set_num_threads(-4) == one_per_core
    if cores is not None:
        assert one_per_core == min(cores, 64)
    huge = lib.ann_set_num_threads(10**6)
    assert 1 <= huge < 10**6 and lib.ann_get_num_threads() == huge


def run_child(code: str, timeout: float = 60, **env: str):
    """``python -c CODE`` in a fresh interpreter (ANN_KERNEL and ANN_NUM_THREADS are read once
    per process) with ``env`` set and this process's import path, so it loads the same ann."""
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = run_python(code, env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


CHILD_CHECK = r"""
import math, random
from array import array
from ann._core import ffi, lib
rng = random.Random(5)
M, N, K = 37, 45, 300
A = array("f", [rng.uniform(-1, 1) for _ in range(M * K)])
B = array("f", [rng.uniform(-1, 1) for _ in range(K * N)])
worst = 0.0
for ta, tb in ((0, 0), (0, 1), (1, 0), (1, 1)):
    C1, C2 = array("f", [math.nan] * (M * N)), array("f", [math.nan] * (M * N))
    lda, ldb = (M if ta else K), (K if tb else N)
    for fn, C in ((lib.ann_sgemm, C1), (lib.ann_sgemm_naive, C2)):
        assert fn(ta, tb, M, N, K, ffi.from_buffer("float[]", A), lda,
                  ffi.from_buffer("float[]", B), ldb, 0.0, ffi.from_buffer("float[]", C), N) == 0
    worst = max(worst, max(abs(x - y) for x, y in zip(C1, C2)))
print(ffi.string(lib.ann_kernel_name()).decode(), lib.ann_get_num_threads(), worst <= 1e-5 * K)
"""


def cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def kernels_to_try() -> list[tuple[str, str]]:
    """(ANN_KERNEL value, the name ann_kernel_name must then report) for this CPU."""
    kernels = [("portable", "portable")]
    if platform.machine().lower() in ("aarch64", "arm64"):
        # NEON is baseline on aarch64; MSVC's arm64 build has the portable kernel only
        if sys.platform != "win32":
            kernels.append(("neon", "neon"))
        return kernels
    flags = cpu_flags()
    if {"avx2", "fma"} <= flags:
        kernels.append(("avx2", "avx2-fma"))
    if "avx512f" in flags:
        kernels.append(("avx512", "avx512f"))
    return kernels


@pytest.mark.parametrize("env_value,name", kernels_to_try())
def test_forced_kernel_is_used_and_correct(core, env_value, name):
    """ANN_KERNEL is read once per process, so each kernel runs in a child interpreter."""
    out = run_child(CHILD_CHECK, ANN_KERNEL=env_value)
    kernel, _, ok = out.stdout.split()
    assert kernel == name
    assert ok == "True", f"kernel {kernel} disagrees with the naive product"


BAD_KERNEL_CHECK = """
from array import array
from ann._core import ffi, lib
one, c = array("f", [1.0]), array("f", [0.0])
status = lib.ann_sgemm(0, 0, 1, 1, 1, ffi.from_buffer("float[]", one), 1,
                       ffi.from_buffer("float[]", one), 1, 0.0, ffi.from_buffer("float[]", c), 1)
print(ffi.string(lib.ann_kernel_name()).decode(), "|", status == lib.ANN_E_ARG, c[0])
"""


@pytest.mark.parametrize("env_value", ["no-such-kernel", "AVX512", "avx2 ", "naive", "missing"])
def test_unknown_or_missing_kernel_is_an_error(core, env_value):
    """ANN_KERNEL naming no kernel this CPU and build can run makes every product fail (no
    silent fallback to another kernel); "missing" stands for a real kernel this CPU lacks."""
    if env_value == "missing":
        env_value = "avx2" if platform.machine().lower() in ("aarch64", "arm64") else "neon"
    out = run_child(BAD_KERNEL_CHECK, ANN_KERNEL=env_value)
    assert out.stdout.split() == ["invalid", "ANN_KERNEL", "|", "True", "0.0"], out.stdout


@pytest.mark.parametrize("value,expected", [("3", 3), ("1", 1), ("zero", None), ("-2", None)])
def test_num_threads_default_from_environment(core, value, expected):
    out = run_child(CHILD_CHECK, ANN_NUM_THREADS=value)
    threads = int(out.stdout.split()[1])
    if expected is None:  # a bad value is ignored: one thread per core
        expected = min(os.sysconf("SC_NPROCESSORS_ONLN"), 64) if hasattr(os, "sysconf") else threads
    assert threads == expected
