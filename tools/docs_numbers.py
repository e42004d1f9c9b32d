"""The worked numbers in docs/*.md, regenerated from ``ann trace``.

A page cites a trace with an HTML comment (invisible on GitHub) right before a fenced block:

    <!-- trace: --seed 1 --batchnorm --batch 3 | forward 0: z mean var xhat; loss: p -->
    ```text
    ...the excerpt...
    ```

Left of ``|`` are the arguments of ``ann trace``; right of it, groups separated by ``;``, each
a part of the trace's text output (``input``, ``forward L``, ``loss``, ``backward L``,
``update L``) and the names of the matrices to show from it. The excerpt is those lines of the
command's text output, word for word, with one thing removed: the ``vs float64 ...`` note
beside each heading, which is the C core's rounding error and differs between kernels.

Two more kinds of citation show what another command prints, or what a short program prints:

    <!-- command: ANN_KERNEL=portable ann gradcheck --batchnorm -->
    ```text
    ...the command's standard output, without its "backend: ..." line...
    ```

    <!-- python -->
    ```python
    ...a program, shown as it is run (python -c, from /, against the installed ann)...
    ```
    ```text
    ...what it prints...
    ```

A command's leading ``NAME=value`` words set its environment; ``ann`` is ``python -m ann``.
The ``backend:`` line is left out because it names the thread count, which is the machine's.
Pin ``ANN_KERNEL`` (or ``ANN_BACKEND=python``) where the output holds float32 rounding, which
differs between kernels; a program that computes in float64 with ann._reference needs neither
(though its last digits rest on the platform's exp and log).

    python tools/docs_numbers.py            # check: print what is stale, exit 1 if anything is
    python tools/docs_numbers.py --write    # rewrite the excerpts from fresh traces

tests/test_docs_numbers.py runs the check; after an intended change to the trace's numbers or
format, ``--write`` updates the pages (then reread the prose around each excerpt, which quotes
its numbers: the test checks those too).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

CITATION = re.compile(
    r"^<!-- trace: (?P<args>[^|]*?)\s*\|\s*(?P<select>[^>]*?)\s*-->\n"
    r"```text\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
COMMAND = re.compile(
    r"^<!-- command: (?P<command>[^>]*?)\s*-->\n```text\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
PROGRAM = re.compile(
    r"^<!-- python -->\n```python\n(?P<code>.*?)^```\n\n?```text\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=")
PHASES = {"FORWARD": "forward", "LOSS": "loss", "BACKWARD": "backward"}
NOTE = re.compile(r"(?:, )?vs float64 [^,\]]*")
LAYER = re.compile(r"^layer (\d+)")


class CitationError(ValueError):
    """A citation that names a part or matrix the trace does not have."""


@cache
def run_trace(args: str, kernel: str | None = None) -> str:
    """The text output of ``ann trace ARGS`` on the C core (with ``ANN_KERNEL=kernel``)."""
    env = dict(os.environ, ANN_BACKEND="c")
    env.pop("ANN_KERNEL", None)
    if kernel:
        env["ANN_KERNEL"] = kernel
    done = subprocess.run(
        [sys.executable, "-m", "ann", "trace", *shlex.split(args)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"ann trace {args} failed (exit {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


@cache
def run_command(command: str) -> str:
    """What ``[NAME=value ...] ann ARGS`` prints on stdout, without its "backend:" line."""
    words = shlex.split(command)
    env = dict(os.environ)
    for name in ("ANN_BACKEND", "ANN_KERNEL"):
        env.pop(name, None)
    while words and ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words or words[0] != "ann":
        raise CitationError(f"a command citation runs ann, not {command!r}")
    out = _run([sys.executable, "-m", "ann", *words[1:]], env, command)
    return "".join(line for line in out.splitlines(True) if not line.startswith("backend: "))


@cache
def run_program(code: str) -> str:
    """What a Python program prints, run from / against the installed ann."""
    env = dict(os.environ)
    for name in ("ANN_BACKEND", "ANN_KERNEL"):
        env.pop(name, None)
    return _run([sys.executable, "-c", code], env, "the python block")


def kernel_of(output: str) -> str:
    """The kernel a trace ran on, from its "computed by the C core (X kernel)" line."""
    match = re.search(r"computed by the C core \((\S+) kernel\)", output)
    return match.group(1) if match else "?"


def parts(output: str) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """The trace's text cut into parts: {"forward 0": (title line, {name: lines}), ...}. A
    matrix's lines are its heading (without the vs-float64 note) and its rows of numbers."""
    found: dict[str, tuple[str, dict[str, list[str]]]] = {}
    phase: str | None = None
    current: dict[str, list[str]] | None = None
    for line in output.splitlines():
        if line in PHASES:
            phase = PHASES[line]
            continue
        if line.startswith("UPDATE"):
            phase = "update"
            continue
        if line.startswith("input:"):
            current = {}
            found["input"] = (line, current)
            current["pixels"] = []
            continue
        if not line.strip() or line.startswith("check:") or line.startswith("note:"):
            if not line.strip() and phase is None:
                current = None
            continue
        if not line.startswith(" "):  # a part's title
            if phase is None:
                continue
            match = LAYER.match(line)
            key = phase if phase == "loss" else f"{phase} {match.group(1) if match else '?'}"
            current = {}
            found[key] = (line, current)
            continue
        if current is None:
            continue
        if line.startswith("  ") and not line.startswith("   "):  # a matrix's heading
            heading = NOTE.sub("", line[2:]).replace(" []", "").rstrip()
            name = heading.split(" ", 1)[0]
            current[name] = ["  " + heading]
        else:
            last = next(reversed(current))
            current[last].append(line.rstrip())
    return found


def excerpt(output: str, select: str) -> str:
    """The lines of a trace's text output that a citation selects, as the page shows them."""
    available = parts(output)
    lines: list[str] = []
    for group in select.split(";"):
        where, _, names = group.partition(":")
        where = where.strip()
        if where not in available:
            raise CitationError(f"the trace has no part {where!r} (it has: {', '.join(available)})")
        title, matrices = available[where]
        lines.append(title)
        for name in names.split():
            if name not in matrices:
                raise CitationError(
                    f"part {where!r} of the trace has no matrix {name!r} (it "
                    f"has: {' '.join(matrices)})"
                )
            lines.extend(matrices[name])
    return "\n".join(lines) + "\n"


def citations(text: str) -> Iterator[re.Match[str]]:
    """The ``ann trace`` citations of a page."""
    return CITATION.finditer(text)


def outputs(text: str) -> Iterator[re.Match[str]]:
    """The command and program citations of a page (each has a "body")."""
    yield from COMMAND.finditer(text)
    yield from PROGRAM.finditer(text)


def fresh_output(match: re.Match[str]) -> str:
    """What a command or program citation's block should hold, from a fresh run."""
    if "command" in match.re.groupindex:
        return run_command(match.group("command"))
    return run_program(match.group("code"))


def _with_body(match: re.Match[str], body: str) -> str:
    start, end = match.start("body") - match.start(), match.end("body") - match.start()
    whole = match.group(0)
    return whole[:start] + body + whole[end:]


def refresh(text: str, kernel: str | None = None) -> str:
    """The page's text with every cited excerpt and output regenerated (``kernel`` applies to
    the traces; commands pin their own)."""
    text = CITATION.sub(
        lambda m: _with_body(m, excerpt(run_trace(m.group("args"), kernel), m.group("select"))),
        text,
    )
    text = COMMAND.sub(lambda m: _with_body(m, fresh_output(m)), text)
    return PROGRAM.sub(lambda m: _with_body(m, fresh_output(m)), text)


def pages() -> list[Path]:
    marks = ("<!-- trace:", "<!-- command:", "<!-- python -->")
    return sorted(
        p for p in DOCS.glob("*.md") if any(m in p.read_text(encoding="utf-8") for m in marks)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write",
        action="store_true",
        help="rewrite the stale excerpts in docs/ (default: only report them)",
    )
    parser.add_argument(
        "--kernel",
        default=None,
        help="ANN_KERNEL for the traces (default: the one the C core picks)",
    )
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        try:
            fresh = refresh(text, args.kernel)
        except (CitationError, RuntimeError) as exc:
            print(f"{page.relative_to(ROOT)}: {exc}", file=sys.stderr)
            return 1
        if fresh != text:
            stale.append(page)
            if args.write:
                page.write_text(fresh, encoding="utf-8")
    for page in stale:
        print(f"{page.relative_to(ROOT)}: {'rewritten' if args.write else 'stale'}")
    if stale and not args.write:
        print("run: python tools/docs_numbers.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
