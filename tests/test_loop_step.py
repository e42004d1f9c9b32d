"""csrc/textbook/one_step.c, the training step in plain loops (issue 24, item 5), computes what
the C core computes: compiled here with gcc, run on the network and batch of `ann trace --seed 1`
and on larger ones, its new parameters must be those of the core's own training step
(ann_net_train_step, GEMMs and fused kernels) within 1e-6. Its built-in example must still be
the trace's network and batch. Skipped without a C compiler or without the C core."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from array import array
from functools import cache, partial
from pathlib import Path

import pytest
from conftest import run_ann, run_python, skip_without_c_core

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "csrc" / "textbook" / "one_step.c"
TOLERANCE = 1e-6


_core = partial(skip_without_c_core, "the comparison is with the C core")


@pytest.fixture(scope="module")
def one_step(tmp_path_factory) -> Path:
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not compiler or not shutil.which(compiler):
        pytest.skip("no C compiler (gcc or $CC) to build csrc/textbook/one_step.c")
    exe = tmp_path_factory.mktemp("one_step") / "one_step"
    done = subprocess.run(
        [compiler, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
        + [str(SOURCE), "-lm", "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"one_step.c does not compile cleanly:\n{done.stderr}"
    return exe


def loop_step(exe: Path, sizes, pixels: bytes, labels, params, lr: float):
    """(loss, new parameters) from one_step.c, fed the network and batch on its stdin."""
    numbers = [len(sizes) - 1, *sizes, len(labels), lr, *pixels, *labels]
    text = " ".join(map(str, numbers)) + "\n" + "\n".join(f"{v:.9g}" for v in params) + "\n"
    done = subprocess.run([str(exe), "-"], input=text, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0].startswith("loss ")
    return float(lines[0].split()[1]), [float(v) for v in lines[1:] if v]


# a new network of that seed, plain SGD, one ann_net_train_step on the whole batch
CORE_STEP = """
import json, sys
from array import array
from ann._backend import CNet, kernel_request_problem
from ann._c import ffi, lib
sizes, pixels, labels, seed, lr = json.load(sys.stdin)
net = CNet(sizes)
net.init(seed)
net.set_optimizer(0, 0.0, 0.9, 0.999, 1e-8, 0.0)  # ANN_SGD, no L2
before = list(net.get_params())
B = len(labels)
loss, _ = net.train_step(bytes(pixels), bytes(labels), B, array("i", range(B)), 0, B, lr)
kernel = ffi.string(lib.ann_kernel_name()).decode()
json.dump([kernel_request_problem(), kernel, before, loss, list(net.get_params())], sys.stdout)
"""


def core_step(sizes, pixels: bytes, labels, seed: int, lr: float, kernel: str = ""):
    """(initial parameters, loss, new parameters) of the C core's ann_net_train_step, run with
    ANN_KERNEL=kernel ("": the one the CPU picks); skips when this machine lacks the kernel."""
    _core()
    env = {"ANN_KERNEL": kernel or None, "ANN_BACKEND": None}
    batch = json.dumps([sizes, list(pixels), labels, seed, lr])
    done = run_python(CORE_STEP, env=env, cwd="/", stdin=batch, timeout=600)
    assert done.returncode == 0, done.stderr
    problem, ran, before, loss, after = json.loads(done.stdout)
    if problem:
        pytest.skip(problem)
    assert ran.startswith(kernel), f"asked for the {kernel} kernel, ran {ran}"
    return before, loss, after


@cache
def trace_batch(seed: int) -> tuple[list[int], bytes, list[int]]:
    """The sizes, pixels and labels `ann trace --seed SEED` uses, from its own output."""
    done = run_ann("trace", "--seed", str(seed), "--json", cwd="/")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return result["sizes"], bytes(sum(result["pixels"], [])), result["labels"]


def random_batch(sizes, B: int, seed: int) -> tuple[bytes, list[int]]:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(B * sizes[0])), [
        rng.randrange(sizes[-1]) for _ in range(B)
    ]


CASES = {
    # name: (sizes, batch (None: the trace's), seed, lr)
    "trace --seed 1": ([4, 3, 2], None, 1, 0.1),
    "12-9-7-5-4, batch 8": ([12, 9, 7, 5, 4], 8, 3, 0.1),
    "784-32-10, batch 16": ([784, 32, 10], 16, 5, 0.5),
}


# "" is the kernel the C core picks; each named one is skipped where this machine lacks it
KERNELS = ["", "portable", "avx2", "avx512"]


@pytest.mark.parametrize("kernel", KERNELS, ids=[k or "default" for k in KERNELS])
@pytest.mark.parametrize("case", CASES)
def test_the_loop_step_matches_the_core(one_step, case, kernel):
    sizes, B, seed, lr = CASES[case]
    if B is None:
        sizes, pixels, labels = trace_batch(seed)
    else:
        pixels, labels = random_batch(sizes, B, seed)
    before, core_loss, core_params = core_step(sizes, pixels, labels, seed, lr, kernel)
    loop_loss, loop_params = loop_step(one_step, sizes, pixels, labels, before, lr)
    assert len(loop_params) == len(core_params)
    moved = max(abs(a - b) for a, b in zip(core_params, before))
    assert moved > 100 * TOLERANCE, "the step moved nothing: the comparison would be empty"
    worst = max(abs(a - b) for a, b in zip(loop_params, core_params))
    assert worst <= TOLERANCE, f"{case}: a new parameter differs from the core's by {worst:.2e}"
    assert abs(loop_loss - core_loss) <= TOLERANCE


def test_the_built_in_example_is_the_trace(one_step):
    """Run without an argument, one_step.c uses the trace's batch and the weights of
    ann.Network([4, 3, 2], seed=1), and prints the trace's new weights."""
    _core()
    sizes, pixels, labels = trace_batch(1)
    before, _, core_params = core_step(sizes, pixels, labels, 1, 0.1)
    text = SOURCE.read_text(encoding="utf-8")
    literal = re.search(r"TRACE_SEED_1\[\] =\n(.*?);", text, re.DOTALL)
    assert literal, "one_step.c has no TRACE_SEED_1 example"
    numbers = re.findall(r"-?[\d.]+(?:e-?\d+)?", "".join(re.findall(r'"([^"]*)', literal[1])))
    assert [int(v) for v in numbers[:5]] == [2, *sizes, len(labels)]
    assert float(numbers[5]) == 0.1
    D = sizes[0]
    assert [int(v) for v in numbers[6 : 6 + 2 * D]] == list(pixels)
    assert [int(v) for v in numbers[6 + 2 * D : 8 + 2 * D]] == labels
    embedded = array("f", [float(v) for v in numbers[8 + 2 * D :]])
    assert list(embedded) == before, "the embedded weights are not those of seed 1"

    done = subprocess.run([str(one_step)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed: dict[str, list[float]] = {}
    name = None
    for line in done.stdout.splitlines():
        heading = re.match(r"layer (\d) +(\w+) \(", line)
        if heading:
            name = f"{heading[2]} {heading[1]}"
            printed[name] = []
        elif line.startswith(" "):
            printed[name or "?"] += [float(v) for v in line.split()]
        else:
            name = None
    shown = printed["W_new 0"] + printed["b_new 0"] + printed["W_new 1"] + printed["b_new 1"]
    assert len(shown) == len(core_params)
    assert all(abs(a - b) <= 5.1e-7 for a, b in zip(shown, core_params))  # six decimals
    assert re.search(r"^loss = 0\.68731\d+$", done.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    "text, message",
    [
        ("x", "bad layer count"),
        ("2 4 3 2 2 0.1 51 204 0 102 0 153 153 153 1 0 0.1", "too few parameters"),
        ("2 4 3 2 2 0.1 51 204 0 102 0 153 153 300 1 0", "bad pixel"),
        ("1 4 2 1 0.1 0 0 0 0 2", "bad label"),
    ],
)
def test_bad_input_is_one_line_on_stderr(one_step, text, message):
    done = subprocess.run([str(one_step), "-"], input=text, capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"one_step: {message}\n"
