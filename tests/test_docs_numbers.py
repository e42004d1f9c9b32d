"""The worked numbers of docs/ are what ``ann trace`` prints (issue 9, item 1).

Each page cites a trace (``<!-- trace: ARGS | SELECTION -->`` before a fenced block, see
tools/docs_numbers.py); these tests rerun every cited ``ann trace`` on the C core and fail when
an excerpt is not, character for character, the command's output, and when the prose around
the excerpts quotes a number the excerpts do not show. The same holds for the other two kinds
of citation: a command's output (``<!-- command: ... ann gradcheck -->``) and what a program
shown on the page prints (``<!-- python -->``). After an intended change to the trace,
``python tools/docs_numbers.py --write`` rewrites the excerpts.

The excerpts leave out the ``vs float64`` notes (the C core's rounding error, which differs
between kernels) and the tensors that are float32 noise (db of a layer followed by batch norm,
exactly 0 in real arithmetic); what is left prints identically under ANN_KERNEL=portable, avx2
and avx512, so the comparison is exact, on every kernel this machine has.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest
from conftest import load_tool, skip_without_c_core

ROOT = Path(__file__).resolve().parents[1]
FIX = "run `python tools/docs_numbers.py --write` to refresh the excerpts from ann trace"

# the pages whose worked example the issue asks for
WORKED = [
    "dense.md",
    "relu.md",
    "softmax_cross_entropy.md",
    "batchnorm.md",
    "optimizers.md",
    "l2.md",
    "initialisation.md",
    "dropout.md",
    "gradcheck.md",
]

# how the trace prints a number: 6 decimals (matrices), 8 (the loss and other scalars), or
# 4 with an exponent (matrices of tiny or huge values); ann gradcheck prints 2 with an
# exponent, gradcheck.md's program 12 decimals or 1 with an exponent. Hand-computed
# intermediate results in the prose are written with other precisions (7 decimals) or as
# powers of ten in math, so they are not taken as quotes.
PRINTED = re.compile(
    r"(?<![\d.])\d+\.(?:\d{6}|\d{8}|\d{12}|\d{4}e[-+]\d\d|\d{1,2}e[-+]\d\d)(?![\d.])"
)


tool = load_tool("docs_numbers.py")


_c_core_or_skip = partial(skip_without_c_core, "the docs' numbers are the C core's")


def _page(name: str) -> Path:
    return ROOT / "docs" / name


def _worked_example(text: str) -> str:
    """The "Worked example" section of a page (## or ###), up to the next heading of its level
    or higher."""
    match = re.search(r"^(#{2,3}) Worked example\n", text, re.MULTILINE)
    assert match, "no Worked example section"
    level = len(match.group(1))
    lines, in_fence = [], False
    for line in text[match.end() :].splitlines(True):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(rf"#{{1,{level}}} ", line):
            break  # a heading (a "# comment" inside a code block is none)
        lines.append(line)
    return "".join(lines)


def _prose_numbers(section: str) -> list[str]:
    """The printed-looking numbers of a section outside its fenced blocks and comments."""
    prose = re.sub(r"^```.*?^```$", "", section, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"<!--.*?-->", "", prose, flags=re.DOTALL)
    return PRINTED.findall(prose)


def _excerpt_numbers(section: str) -> set[str]:
    numbers: set[str] = set()
    for match in [*tool.citations(section), *tool.outputs(section)]:
        numbers |= set(PRINTED.findall(match.group("body")))
    return numbers


# "" is the kernel the C core picks; each named one is skipped where this machine lacks it
KERNELS = ["", "portable", "avx2", "avx512"]


@pytest.mark.parametrize("name", WORKED)
def test_page_has_a_worked_example_citing_ann_trace(name):
    text = _page(name).read_text(encoding="utf-8")
    section = _worked_example(text)
    assert list(tool.citations(section)), f"{name}: the Worked example cites no ann trace"
    assert "see `ann trace" not in text, f"{name}: still says 'see ann trace' for its numbers"


@pytest.mark.parametrize("kernel", KERNELS, ids=[k or "default" for k in KERNELS])
def test_excerpts_are_what_ann_trace_prints(kernel):
    _c_core_or_skip()
    checked, stale = 0, []
    for page in tool.pages():
        text = page.read_text(encoding="utf-8")
        for match in tool.citations(text):
            output = tool.run_trace(match.group("args"), kernel or None)
            ran = tool.kernel_of(output)
            if kernel and not ran.startswith(kernel):
                pytest.skip(f"this machine has no {kernel} kernel (ran {ran})")
            fresh = tool.excerpt(output, match.group("select"))
            checked += 1
            if fresh != match.group("body"):
                old, new = match.group("body").splitlines(), fresh.splitlines()
                first = next(
                    (i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new))
                )
                stale.append(
                    f"{page.name}, ann trace {match.group('args')} ({ran} kernel), "
                    f"line {first + 1} of the excerpt:\n"
                    f"  page:  {old[first] if first < len(old) else '(nothing)'}\n"
                    f"  trace: {new[first] if first < len(new) else '(nothing)'}"
                )
    assert checked >= len(WORKED)
    assert not stale, (
        "the docs' worked numbers drifted from ann trace; " + FIX + ":\n" + "\n".join(stale)
    )


def test_command_and_program_outputs_are_what_they_print():
    """gradcheck.md shows ann gradcheck's output and what a program prints: both rerun here.
    The commands pin their kernel (or the reference backend) themselves."""
    _c_core_or_skip()
    checked, stale = 0, []
    for page in tool.pages():
        for match in tool.outputs(page.read_text(encoding="utf-8")):
            checked += 1
            fresh = tool.fresh_output(match)
            if fresh != match.group("body"):
                what = match.groupdict().get("command") or "the python block"
                stale.append(
                    f"{page.name}: {what}:\n--- page\n{match.group('body')}--- now\n{fresh}"
                )
    assert checked >= 4  # gradcheck.md: one program, three ann gradcheck runs
    assert not stale, "a page's output drifted; " + FIX + ":\n" + "\n".join(stale)


def test_the_gradcheck_program_uses_the_traces_network_and_batch():
    """The program of gradcheck.md types in the batch of `ann trace --seed 1`: the pixels and
    labels it uses must still be the ones the trace excerpt beside it shows."""
    text = _page("gradcheck.md").read_text(encoding="utf-8")
    program = next(m for m in tool.outputs(text) if "code" in m.re.groupindex).group("code")
    trace = next(tool.citations(text))
    assert trace.group("args") == "--seed 1" and "RefNet([4, 3, 2])" in program
    assert "net.init(1)" in program
    body = trace.group("body").splitlines()
    labels = re.search(r"labels \[([\d, ]+)\]", body[0])
    pixels = [int(v) for line in body[1:3] for v in line.split()]
    assert labels and f"bytes({pixels}), bytes([{labels.group(1)}])" in program


@pytest.mark.parametrize("name", WORKED)
def test_prose_quotes_only_numbers_the_excerpts_show(name):
    """The walk-through beside an excerpt copies numbers from it: each must still be there
    (the excerpt is regenerated; the prose is not, so a refresh that changes a number the prose
    quotes fails here, pointing at the sentence to redo by hand)."""
    section = _worked_example(_page(name).read_text(encoding="utf-8"))
    shown = _excerpt_numbers(section)
    quoted = _prose_numbers(section)
    assert quoted, f"{name}: the Worked example walks through no numbers of the trace"
    missing = sorted(set(q for q in quoted if q not in shown))
    assert not missing, (
        f"{name}: the prose of the Worked example quotes {', '.join(missing)}, "
        f"which its excerpts do not show (a stale number? redo that step by "
        f"hand; intermediate results are written with 7 decimals)"
    )


def test_the_checks_catch_drift():
    """One changed digit in an excerpt, a quote the excerpt lacks, a matrix the trace has not."""
    _c_core_or_skip()
    text = _page("dense.md").read_text(encoding="utf-8")
    match = next(tool.citations(text))
    body = match.group("body")
    assert "0.086398" in body
    changed = text.replace(body, body.replace("0.086398", "0.086399", 1))
    assert tool.refresh(changed) != changed  # the rerun restores the true digit
    assert tool.refresh(text) == text
    prose = "0.2 · 0.066562 = 0.0133124, printed 0.013312"  # 0.013312 is not shown
    assert [q for q in PRINTED.findall(prose) if q not in _excerpt_numbers(text)] == ["0.013312"]
    with pytest.raises(tool.CitationError, match="no matrix 'dq'"):
        tool.excerpt(tool.run_trace("--seed 1"), "forward 0: x dq")
    with pytest.raises(tool.CitationError, match="no part 'forward 7'"):
        tool.excerpt(tool.run_trace("--seed 1"), "forward 7: x")
    # a command's output and a program's: a changed digit is restored by the rerun
    text = _page("gradcheck.md").read_text(encoding="utf-8")
    for match in tool.outputs(text):
        body = match.group("body")
        digit = re.search(r"\d\.\d", body)
        assert digit
        changed = (
            body[: digit.start()]
            + str((int(body[digit.start()]) + 1) % 10)
            + body[digit.start() + 1 :]
        )
        assert tool.refresh(text.replace(body, changed)) == text
    with pytest.raises(tool.CitationError, match="runs ann"):
        tool.run_command("ANN_KERNEL=portable python -c 1")


def test_numbers_printed_like_the_trace_are_recognised():
    assert PRINTED.findall(
        "0.2 · 0.066562 = 0.0133124, loss 0.68731507, v 9.1119e-07, -0.314491; 1e-08"
    ) == ["0.066562", "0.68731507", "9.1119e-07", "0.314491"]
    assert PRINTED.findall("weights 4.95e-08, n = -0.073888049290, 2.7e-12, 0.0739, 10^{-5}") == [
        "4.95e-08",
        "0.073888049290",
        "2.7e-12",
    ]
