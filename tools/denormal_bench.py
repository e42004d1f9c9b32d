#!/usr/bin/env python3
"""What denormal floats cost this machine, with and without the core's flush-to-zero mode.

Usage (from outside the repository root, in the environment where ann is installed)::

    python tools/denormal_bench.py [--reps 7] [--steps 1500] [--window 100] [--run-reps 3]
        [--kernels portable,avx2,avx512] [--compare OTHER_PYTHON] [--mnist DIR]

Issue 26 saw the best preset's epochs grow 2.3x slower over a run on an Intel Xeon, with 22 %
of Adam's first moment m denormal by the end. Two measurements, each in a fresh process per
kernel of ``--kernels`` that this CPU runs (ANN_KERNEL):

* adam: one ``ann_adam_update`` over the best preset's 1,863,690 parameters in the state of a
  late run (m denormal, gradient 0, v small, in 22 % of the places, as issue 26 counted),
  against the same update with m normal there; the buffers are restored before every timed
  call, the two states alternate, median of ``--reps``.
* run: a real run of the best preset's step (784-1024-1024-10, dropout 0.1, Adam at 0.002,
  batch 128, affine + elastic augmentation, on the 48,000 images ann train trains on) for
  ``--steps`` steps: the median step time of the first ``--window`` steps and of the last,
  and the share of m that is denormal at the end (a weight's m turns denormal some 760 steps
  after its gradient was last nonzero, so runs shorter than about 1,000 steps show none).
  Median of ``--run-reps`` runs.

Whether the core that ran flushes denormals is found out (an update whose result would be
denormal), not assumed. ``--compare PY`` runs the same measurements under another
interpreter too, e.g. one whose ann was built with ``CFLAGS=-DANN_KEEP_DENORMALS`` (gradual
underflow left on): the table then shows both builds, measured in turn on this machine. The
CPU and kernel are named with every row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from array import array

from bench import cpu_info  # tools/bench.py, beside this script

P_BEST = 1_863_690  # 784-1024-1024-10: 802,816 + 1,024 + 1,048,576 + 1,024 + 10,240 + 10
FLT_MIN = 2.0**-126
DENORMAL_SHARE = 0.22  # issue 26: 417,587 of 1,863,690 values of m


def core_flushes(ffi, lib) -> bool:
    """Whether this core's updates flush a denormal result to 0."""
    params, grads = array("f", [1.5 * FLT_MIN]), array("f", [FLT_MIN])
    lib.ann_sgd_update(ffi.from_buffer("float[]", params), ffi.from_buffer("float[]", grads), 1, 1)
    return params[0] == 0.0


def late_state(p: int, places: list[int], denormal: bool) -> tuple[array, array, array]:
    """(m, v, grads) of a late run: m normal (1e-4 scale) everywhere but at `places`, where
    it is a denormal (or, for the fresh state, a normal value of the same sign), v is small
    and the gradient is 0 (the pixel is 0 in the batch)."""
    rng = random.Random(1)
    m = array("f", (rng.uniform(-1e-4, 1e-4) for _ in range(p)))
    v = array("f", (rng.uniform(1e-9, 1e-8) for _ in range(p)))
    g = array("f", (rng.uniform(-1e-3, 1e-3) for _ in range(p)))
    for i in places:
        m[i] = (rng.uniform(0.1, 0.9) * FLT_MIN) if denormal else rng.uniform(1e-8, 1e-7)
        if rng.random() < 0.5:
            m[i] = -m[i]
        v[i] = rng.uniform(1e-14, 1e-12)
        g[i] = 0.0
    return m, v, g


def bench_adam(ffi, lib, reps: int) -> dict[str, float]:
    rng = random.Random(0)
    places = rng.sample(range(P_BEST), int(DENORMAL_SHARE * P_BEST))
    params = array("f", (rng.uniform(-0.05, 0.05) for _ in range(P_BEST)))
    states = {name: late_state(P_BEST, places, name == "late") for name in ("fresh", "late")}
    times: dict[str, list[float]] = {"fresh": [], "late": []}
    work_m, work_v, work_p = array("f", params), array("f", params), array("f", params)
    buf = ffi.from_buffer
    for _ in range(reps):
        for name, (m, v, g) in states.items():
            work_m[:] = m
            work_v[:] = v
            work_p[:] = params
            start = time.perf_counter()
            lib.ann_adam_update(
                buf("float[]", work_p), buf("float[]", work_m), buf("float[]", work_v),
                buf("float[]", g), P_BEST, 0.002, 0.9, 0.999, 1e-8, 10_000,
            )  # fmt: skip
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_run(mnist: str | None, steps: int, window: int) -> dict[str, float]:
    """A real run of the best preset's step (784-1024-1024-10, dropout 0.1, Adam at 0.002,
    batch 128, affine + elastic augmentation, a fresh shuffle each epoch) for `steps` steps:
    the median step time of the first `window` steps (after 10 to warm up) and of the last
    `window`, and the share of m that is denormal at the end."""
    from ann._core import lib  # the compiled core itself, as tests/conftest.py's fixture

    import ann
    from ann._backend import CNet, c_shuffle

    train, _ = ann.load_mnist(mnist) if mnist else ann.load_mnist()
    train, _ = train.split(0.2, seed=0)  # the 48,000 images ann train trains on
    images, labels, n_rows, rows = train.buffers()
    assert rows is not None
    net = CNet([784, 1024, 1024, 10], dropout=0.1)
    net.init(0)
    net.set_optimizer(lib.ANN_ADAM, 0.9, 0.9, 0.999, 1e-8, 0.0)
    net.set_augment(ann.Augment(), 0, (28, 28))
    order, state, times = array("i", rows), 1, []
    per_epoch = len(order) // 128
    for s in range(steps):
        if s % per_epoch == 0:
            state = c_shuffle(order, state)
        start = time.perf_counter()
        net.train_step(images, labels, n_rows, order, (s % per_epoch) * 128, 128, 0.002)
        times.append(time.perf_counter() - start)
    m, _, _ = net.get_optimizer_state(True)
    return {
        "early": statistics.median(times[10 : 10 + window]),
        "late": statistics.median(times[-window:]),
        "denormal_m": sum(1 for x in m if x != 0.0 and abs(x) < FLT_MIN) / len(m),
    }


def measure(args: argparse.Namespace) -> dict:
    """This interpreter's rows, as a dict (also what --worker prints)."""
    from ann._core import ffi, lib

    import ann
    from ann._backend import kernel_request_problem

    problem = kernel_request_problem()
    if problem:
        raise SystemExit(problem)
    out = {
        "flushes": core_flushes(ffi, lib),
        "adam": bench_adam(ffi, lib, args.reps),
        "kernel": ann.backend_info()["kernel"],
    }
    if args.steps > 0:
        runs = [bench_run(args.mnist, args.steps, args.window) for _ in range(args.run_reps)]
        out["run"] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return out


def run_child(python: str, kernel: str, args: argparse.Namespace) -> dict:
    cmd = [python, __file__, "--worker", "--reps", str(args.reps), "--steps", str(args.steps)]
    cmd += ["--window", str(args.window), "--run-reps", str(args.run_reps)]
    if args.mnist:
        cmd += ["--mnist", args.mnist]
    env = dict(os.environ, ANN_KERNEL=kernel)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--steps", type=int, default=1500, help="0: the Adam update only")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--run-reps", type=int, default=3)
    parser.add_argument("--kernels", default="portable,avx2,avx512")
    parser.add_argument("--compare", metavar="PYTHON", help="another interpreter to measure too")
    parser.add_argument("--mnist", default=os.environ.get("ANN_DATA"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args)))
        return

    pythons = [sys.executable] + ([args.compare] if args.compare else [])
    print(f"CPU: {cpu_info().model}; {args.reps} runs each, medians; Adam over {P_BEST:,} values, "
          f"{DENORMAL_SHARE:.0%} of m denormal in the late state")  # fmt: skip
    print("build | kernel | flushes | adam fresh ms | adam late ms | late/fresh "
          "| step early ms | step late ms | late/early | m denormal at the end")  # fmt: skip
    for kernel in args.kernels.split(","):
        for python in pythons:
            try:
                r = run_child(python, kernel, args)
            except subprocess.CalledProcessError as exc:
                why = (exc.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"{python} | {kernel} | skipped: {why}")
                continue
            a, s = r["adam"], r.get("run")
            step = (
                f"{1e3 * s['early']:.1f} | {1e3 * s['late']:.1f} | "
                f"{s['late'] / s['early']:.2f} | {s['denormal_m']:.1%}"
                if s
                else "- | - | - | -"
            )
            print(
                f"{python} | {r['kernel']} | {'yes' if r['flushes'] else 'no'} | "
                f"{1e3 * a['fresh']:.2f} | {1e3 * a['late']:.2f} | "
                f"{a['late'] / a['fresh']:.2f} | {step}"
            )


if __name__ == "__main__":
    main()
