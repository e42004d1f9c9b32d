"""docs/exercises.md (issue 24, item 3): at least twelve exercises, easy to hard, each with a
worked answer, and every number an answer states recomputed here from the code.

For each exercise, ANSWERS below runs what the answer rests on (``ann trace ... --json``, the
reference backend, plain arithmetic on the numbers the trace prints) and returns the strings
the answer must contain, formatted as the page writes them. The check also runs the other
way: every decimal number in an answer's prose must be one of those, or stand in the
exercise's question or in one of its fenced blocks (trace excerpts and program outputs, which
tests/test_docs_numbers.py regenerates and compares). So editing a number of an answer, or a
change in the code that moves one, fails here, naming the exercise.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "exercises.md"
ONE_STEP = ROOT / "csrc" / "textbook" / "one_step.c"

HEADING = re.compile(r"^## (\d+)\. (.+?) (★+)$", re.MULTILINE)
DETAILS = re.compile(r"<details>\n<summary>Answer</summary>\n(.*?)</details>", re.DOTALL)
FENCE = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# a decimal number (0.25, -3.990e-05, 1e-8), not an integer, not a version or a path
NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+)(?!\w|\.\d)")


@dataclass
class Exercise:
    number: int
    title: str
    stars: int
    question: str
    answer: str


def exercises(text: str) -> list[Exercise]:
    """The page's exercises: question (the text before the answer) and answer (inside the
    <details> fold), each with "−" written as "-"."""
    text = text.replace("−", "-")
    found = []
    starts = list(HEADING.finditer(text))
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else text.find("**In the code**")
        body = text[match.end() : end]
        answers = DETAILS.findall(body)
        assert len(answers) == 1, f"exercise {match[1]} has {len(answers)} answers, not one"
        found.append(
            Exercise(int(match[1]), match[2], len(match[3]), body.split("<details>")[0], answers[0])
        )
    return found


def prose(text: str) -> str:
    return COMMENT.sub("", FENCE.sub("", text))


def check(exercise: Exercise, expected: list[str]) -> list[str]:
    """What is wrong with one answer, given the strings the code says it must contain."""
    problems = [
        f"exercise {exercise.number}: the answer should say {want!r}"
        for want in expected
        if want not in exercise.answer
    ]
    allowed = {float(v) for want in expected for v in NUMBER.findall(want)}
    for block in FENCE.findall(exercise.question + exercise.answer):
        allowed |= {float(v) for v in NUMBER.findall(block)}
    allowed |= {float(v) for v in NUMBER.findall(prose(exercise.question))}
    problems += [
        f"exercise {exercise.number}: the answer states {number}, which the code does not give"
        for number in NUMBER.findall(prose(exercise.answer))
        if float(number) not in allowed
    ]
    return problems


# ---- what the code computes ---------------------------------------------------------------------


def _c_core_or_skip() -> None:
    from ann._backend import c_available

    if not c_available():
        pytest.skip("the exercises trace the C core; this install has none")


def _load_tool() -> Any:
    """tools/step_graph.py, whose run_trace and find read ``ann trace --json``."""
    spec = importlib.util.spec_from_file_location("step_graph", ROOT / "tools" / "step_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the dataclass in it looks its module up
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@cache
def trace(*args: str) -> dict[str, Any]:
    """``ann trace ARGS --json`` on the C core, run as a student runs it."""
    result: dict[str, Any] = tool.run_trace(list(args))
    return result


def tensor(result: dict[str, Any], where: str) -> Any:
    """The values of a tensor of a trace: "forward 0 z", "backward 1 dW", "loss p"."""
    return tool.find(result, where)["values"]


def shape(result: dict[str, Any], where: str) -> str:
    return str(tool.shape_text(tool.find(result, where)["shape"]))


def printed(v: float) -> str:
    """A matrix entry as the trace prints it."""
    return f"{v:.6f}"


def p6(v: float) -> float:
    """The value a reader takes from the printed entry."""
    return float(printed(v))


def program_output(exercise: Exercise) -> str:
    """The text block after the exercise's program (regenerated by tests/test_docs_numbers)."""
    blocks = FENCE.findall(exercise.question + exercise.answer)
    index = next(i for i, b in enumerate(blocks) if b.startswith("```python"))
    return blocks[index + 1]


def e1_shapes(_: Exercise) -> list[str]:
    t = trace("--seed", "1", "--layers", "6,5,4,3", "--batch", "7")
    lines = []
    for l in range(3):
        parts = [
            f"{name} `{shape(t, f'{phase} {l} {name}')}`"
            for phase, name in (("forward", "x"), ("forward", "W"), ("forward", "z"))
        ] + [f"dW `{shape(t, f'backward {l} dW')}`"]
        if l == 2:
            parts.append(f"dx `{shape(t, 'backward 2 dx')}`")
        lines.append(f"- layer {l}: " + ", ".join(parts))
    p = t["loss"]["p"]["shape"]
    return lines + [f"- p `({p[0]}, {p[1]})`"]


def e2_one_output(_: Exercise) -> list[str]:
    t = trace("--seed", "1")
    x, W, b = (tensor(t, f"forward 0 {n}") for n in ("x", "W", "b"))
    assert [p6(v) for v in x[1]] == [0.0, 0.6, 0.6, 0.6], "the answer factors out x = 0.6"
    column = p6(W[1][2]) + p6(W[2][2]) + p6(W[3][2])
    by_hand = sum(p6(x[1][i]) * p6(W[i][2]) for i in range(4)) + p6(b[2])
    pixel = t["pixels"][0][0]
    return [
        f"0.6 · {column:.6f} = {by_hand:.7f}",
        f"prints {printed(tensor(t, 'forward 0 z')[1][2])}",
        f"{pixel}/255 = {pixel / 255:g}",
    ]


def e3_one_gradient(_: Exercise) -> list[str]:
    t = trace("--seed", "1")
    x, dz = tensor(t, "forward 0 x"), tensor(t, "backward 0 dz")
    W, dW = tensor(t, "forward 0 W"), tensor(t, "backward 0 dW")
    dW22 = sum(p6(x[r][2]) * p6(dz[r][2]) for r in range(2))
    db2 = sum(p6(dz[r][2]) for r in range(2))
    new = p6(W[2][2]) - t["lr"] * p6(dW[2][2])
    return [
        f"= {dW22:.7f}; the trace\nprints {printed(dW[2][2])}",
        f"= {db2:.6f}",
        f"{printed(tensor(t, 'backward 0 db')[2])}",
        f"{p6(W[2][2]):.6f} - {t['lr']:g} · {printed(dW[2][2])} = {new:.7f}",
        f"printed {printed(tensor(t, 'update 0 W_new')[2][2])}",
        f"$W_{{22}} - {t['lr']:g}\\, dW_{{22}}$",
    ]


def e4_sigmoid(_: Exercise) -> list[str]:
    t = trace("--seed", "1")
    z, p = tensor(t, "forward 1 z"), tensor(t, "loss p")
    d = p6(z[0][1]) - p6(z[0][0])
    s = 1 / (1 + math.exp(-d))
    return [
        f"= {d:.6f}",
        f"$\\sigma$({d:.6f}) = {s:.7f}, printed\n{printed(p[0][1])}",
        f"$p_0$ = {1 - s:.7f}, printed {printed(p[0][0])}",
    ]


def e5_dead_units(_: Exercise) -> list[str]:
    t = trace("--seed", "0")
    a, W, W_new = (tensor(t, w) for w in ("forward 0 a", "forward 0 W", "update 0 W_new"))
    dead = [j for j in range(3) if all(row[j] == 0 for row in a)]
    assert len(dead) == 2, f"the answer says two units are off, the trace has {dead}"
    # "SGD leaves them exactly as they were": their columns of W, rows of the next layer's W
    for j in dead:
        assert all(W[i][j] == W_new[i][j] for i in range(len(W)))
        assert tensor(t, "update 1 W_new")[j] == tensor(t, "forward 1 W")[j]
    assert all(a[r][0] > 0 for r in range(2))
    return [f"units {dead[0]} and {dead[1]} are off for both rows", "only unit 0 learns"]


def e6_momentum(_: Exercise) -> list[str]:
    t = trace("--seed", "1")
    W00, g = p6(tensor(t, "forward 0 W")[0][0]), p6(tensor(t, "backward 0 dW")[0][0])
    lr = t["lr"]
    momentum = trace("--seed", "1", "--optimizer", "momentum")
    nesterov = trace("--seed", "1", "--optimizer", "nesterov")
    mu = nesterov["momentum"]
    assert tensor(momentum, "update 0 W_new") == tensor(t, "update 0 W_new")
    return [
        f"= {W00 - lr * g:.7f}, printed {printed(tensor(momentum, 'update 0 W_new')[0][0])}",
        f"{1 + mu:g} times SGD's",
        f"{W00:.6f} + {lr * (1 + mu):g} · {-g:.6f} = {W00 - lr * (1 + mu) * g:.7f}",
        f"printed {printed(tensor(nesterov, 'update 0 W_new')[0][0])}",
    ]


def e7_no_mean(_: Exercise) -> list[str]:
    t = trace("--seed", "1")
    B, lr = t["batch"], t["lr"]
    dz, dW, W = (tensor(t, w) for w in ("backward 1 dz", "backward 1 dW", "forward 1 W"))
    wrong = B * p6(dW[0][0])
    faster = trace("--seed", "1", "--lr", f"{B * lr:g}")
    rows = [f"({printed(B * r[0])}, {printed(B * r[1])})" for r in dz]
    return [
        f"rows {rows[0]} and {rows[1]}",
        f"{B} · ({printed(dW[0][0])}) = {wrong:.6f}",
        f"= {p6(W[0][0]) - lr * wrong:.7f}",
        f"`ann trace --seed 1 --lr {B * lr:g}`",
        f"prints {printed(tensor(faster, 'update 1 W_new')[0][0])}",
        f"$W_{{00}}$ is {W[0][0]:.7f} before rounding",
        f"lr {lr:g} would act as lr {64 * lr:g}",
    ]


def e8_mean_of_halves(exercise: Exercise) -> list[str]:
    output = program_output(exercise)
    off, on = re.findall(r"largest difference: (\S+)", output)
    assert float(off) < 1e-7 < 1e-2 < float(on), "the answer says: equal off, unequal on"
    return [f"the {off} is float32 rounding", f"differ by {on}"]


def e9_l2(_: Exercise) -> list[str]:
    t = trace("--seed", "1", "--l2", "0.01")
    decay = 1 - t["lr"] * t["l2"]
    W01 = p6(tensor(t, "forward 0 W")[0][1])
    return [
        f"= {decay:g}: {W01:.6f} · {decay:g} = {W01 * decay:.7f}",
        f"printed {printed(tensor(t, 'update 0 W_new')[0][1])}",
        f"= {5 / 60000:.2e}",
        f"= {1e-4 / 200:.0e}",
    ]


def e10_adam(_: Exercise) -> list[str]:
    t = trace("--seed", "1", "--optimizer", "adam")
    lr, (beta1, beta2), eps = t["lr"], t["betas"], t["eps"]
    W, dW, W_new = (tensor(t, w) for w in ("forward 0 W", "backward 0 dW", "update 0 W_new"))
    for i in range(4):  # the claim: every weight moves by lr times the sign of its gradient
        for j in range(3):
            sign = (dW[i][j] > 0) - (dW[i][j] < 0)
            assert abs(W_new[i][j] - (W[i][j] - lr * sign)) < 1e-6, (i, j)
    without = (1 - beta1) / math.sqrt(1 - beta2)  # m / sqrt(v) at t = 1, uncorrected
    return [
        f"becomes {p6(W[0][0]) + lr:.6f} (the trace prints {printed(W_new[0][0])}",
        f"is {W[0][0]:.7f} before rounding",
        f"= {lr * 1e-9 / (1e-9 + eps):.7f}",
        f"1e-12 by {lr * 1e-12 / (1e-12 + eps):.7f}",
        f"\\eta \\cdot$ {without:.7f}, that is {lr * without:.7f}",
        f"$v = {1 - beta2:g}\\,g^2$",
    ]


def e11_relu_bug(_: Exercise) -> list[str]:
    from ann import _reference as ref

    assert "v > 0.0" in inspect.getsource(ref.relu_backward), "the fix is the reference's"
    return ["`v >= 0.0` is always true", "`v > 0.0`"]


def e12_loop_order(exercise: Exercise) -> list[str]:
    from test_loop_step import TOLERANCE

    assert "```c" in exercise.answer
    return ["Not even in the last bit", f"1e-{-math.log10(TOLERANCE):.0f} in the\ntest"]


def e13_batchnorm_two_rows(exercise: Exercise) -> list[str]:
    from ann._constants import ANN_BN_EPS as eps

    rows = {}
    for line in program_output(exercise).splitlines()[1:-1]:
        name, _, r, values = line.split(maxsplit=3)
        rows[name, int(r.rstrip(":"))] = [float(v) for v in values.split()]
    want = []
    for j in (0, 1):
        d = rows["z", 1][j] - rows["z", 0][j]
        var = d * d / 4
        ddy = rows["dy", 0][j] - rows["dy", 1][j]
        dz = 0.5 * eps / (var + eps) ** 1.5 * ddy  # gamma = 1 on the first step
        want += [
            f"{d:.6f}",
            f"{1 / math.sqrt(1 + 4 * eps / d**2):.7f}",
            f"$\\sigma^2$ = {var:.7f}" if j == 0 else f"{var:.7f}",
            f"{ddy:.6f}",
            f"{dz:.3e}",
        ]
        assert f"{dz:.3e}" == f"{rows['dz', 0][j]:.3e}", "the formula and the trace agree"
    d0 = rows["z", 1][0] - rows["z", 0][0]
    return want + [f"$4\\varepsilon/d^2$ = {4 * eps / d0**2:.7f}"]


def e14_sigmoid_mse(_: Exercise) -> list[str]:
    a = 1 / (1 + math.exp(-5.0))
    return [
        f"$a$ = {a:.7f} and $a(1 - a)$ = {a * (1 - a):.7f}",
        f"gradient is {a * a * (1 - a):.7f} while the cross-entropy's is {a:.7f}, "
        f"{1 / (a * (1 - a)):.1f} times larger",
    ]


def e15_forgotten_path(_: Exercise) -> list[str]:
    from ann import _reference as ref

    assert "- dbeta[j]" in inspect.getsource(ref.batchnorm_backward)
    return ["has lost the term $-d\\beta$", "the path from z through the batch mean"]


ANSWERS: dict[int, Callable[[Exercise], list[str]]] = {
    1: e1_shapes,
    2: e2_one_output,
    3: e3_one_gradient,
    4: e4_sigmoid,
    5: e5_dead_units,
    6: e6_momentum,
    7: e7_no_mean,
    8: e8_mean_of_halves,
    9: e9_l2,
    10: e10_adam,
    11: e11_relu_bug,
    12: e12_loop_order,
    13: e13_batchnorm_two_rows,
    14: e14_sigmoid_mse,
    15: e15_forgotten_path,
}


# ---- the tests ---------------------------------------------------------------------------------


def _page() -> list[Exercise]:
    return exercises(PAGE.read_text(encoding="utf-8"))


def test_at_least_twelve_exercises_from_easy_to_hard():
    found = _page()
    assert len(found) >= 12
    assert [e.number for e in found] == list(range(1, len(found) + 1))
    stars = [e.stars for e in found]
    assert stars == sorted(stars) and stars[0] == 1 and stars[-1] == 3
    assert set(ANSWERS) == {e.number for e in found}, "every exercise needs its check here"
    words = {12: "Twelve", 13: "Thirteen", 14: "Fourteen", 15: "Fifteen", 16: "Sixteen"}
    assert PAGE.read_text(encoding="utf-8").startswith(f"# Exercises\n\n{words[len(found)]} ")


def test_every_exercise_says_how_to_check_it_with_explicit_flags():
    text = PAGE.read_text(encoding="utf-8")
    for exercise in _page():
        whole = exercise.question + exercise.answer
        assert any(
            way in whole for way in ("ann trace", "ann gradcheck", "```python", "one_step")
        ), f"exercise {exercise.number} says no way to check it"
    commands = re.findall(r"`(ann trace[^`]*)`", text) + re.findall(r"<!-- trace: ([^|]*)", text)
    assert commands
    for command in commands:
        if command.strip() != "ann trace":  # the command named, not run
            assert "--seed" in command, f"{command!r} relies on the default seed"


def test_every_answer_is_what_the_code_computes():
    _c_core_or_skip()
    problems = []
    for exercise in _page():
        problems += check(exercise, ANSWERS[exercise.number](exercise))
    assert not problems, "\n".join(problems)


def test_an_edited_answer_is_caught():
    """The check is not vacuous: one changed digit in an answer is reported, both as a number
    the answer no longer states and as one the code does not give."""
    _c_core_or_skip()
    exercise = next(e for e in _page() if e.number == 3)
    expected = ANSWERS[3](exercise)
    assert check(exercise, expected) == []
    assert "0.0301860" in exercise.answer
    edited = Exercise(
        **{**exercise.__dict__, "answer": exercise.answer.replace("0.0301860", "0.0301861")}
    )
    problems = "\n".join(check(edited, expected))
    assert "should say" in problems and "states 0.0301861" in problems
    # a number that no check computes is refused even where no expected string covers it
    added = Exercise(**{**exercise.__dict__, "answer": exercise.answer + "\nAbout 0.123457.\n"})
    assert check(added, expected) == [
        "exercise 3: the answer states 0.123457, which the code does not give"
    ]


def test_the_programs_use_the_traces_batch():
    """Exercise 13 types in the pixels and labels of `ann trace --seed 1`."""
    _c_core_or_skip()
    t = trace("--seed", "1")
    exercise = next(e for e in _page() if e.number == 13)
    pixels = sum(t["pixels"], [])
    assert f"bytes({pixels}), {t['labels']}" in exercise.question


def _compile(source: Path, exe: Path) -> None:
    done = subprocess.run(
        [os.environ.get("CC") or "gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"]
        + [str(source), "-lm", "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_loop_order_answer_changes_no_bit(tmp_path):
    """Exercise 12: one_step.c with the answer's loop in place of its dW loop prints the same
    bytes, on the built-in example and on a larger network."""
    if not shutil.which(os.environ.get("CC") or "gcc"):
        pytest.skip("no C compiler")
    exercise = next(e for e in _page() if e.number == 12)
    loop = re.search(r"```c\n(.*?)```", exercise.answer, re.DOTALL)
    assert loop
    source = ONE_STEP.read_text(encoding="utf-8")
    original = re.search(
        r"    for \(int i = 0; i < n_in; i\+\+\)\n.*?dW\[i \* n_out \+ j\] = s;\n        }\n",
        source,
        re.DOTALL,
    )
    assert original, "one_step.c's dW loop is not where the exercise says"
    (tmp_path / "reordered.c").write_text(source.replace(original[0], loop[1]), encoding="utf-8")
    _compile(ONE_STEP, tmp_path / "as_is")
    _compile(tmp_path / "reordered.c", tmp_path / "reordered")
    sizes, B = [12, 9, 7, 5, 4], 8
    params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    numbers = [len(sizes) - 1, *sizes, B, 0.1]
    numbers += [(37 * i) % 256 for i in range(B * sizes[0])] + [i % 4 for i in range(B)]
    numbers += [round(math.sin(i) * 0.3, 6) for i in range(params)]
    text = " ".join(map(str, numbers))
    runs = {}
    for name in ("as_is", "reordered"):
        exe = str(tmp_path / name)
        bare = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
        fed = subprocess.run([exe, "-"], input=text, capture_output=True, text=True, check=True)
        runs[name] = (bare, fed.stdout)
    assert runs["as_is"] == runs["reordered"]
    assert "W_new" in runs["as_is"][0] and len(runs["as_is"][1].split()) == params + 2
