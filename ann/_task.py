"""Classification or regression: what a table's label column asks for, decided the way a user
expects, and said in words (``ann train`` prints it; ``--task`` overrides it).

The rule, on the distinct values of the label column(s):

* several label columns: regression (one output per column); they must all be numbers;
* text (any value that is not a number): classification, each distinct value a class;
* integers (``3``, ``3.0``) with at most ``FEW`` distinct values, or exactly the codes 0..k-1
  or 1..k of up to ``MAX_CODES`` classes: classification;
* anything else (fractions, or many integers such as prices or ages): regression.

So scikit-learn's digits (0..9) and a 1-5 rating are classes, its diabetes target (214
distinct integers from 25 to 346) and house prices are numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

FEW = 10  # this many distinct integers or fewer are classes
MAX_CODES = 100  # 0..k-1 or 1..k are class codes up to this many classes

# a number as the CSV reader takes one (ASCII digits, sign, point, exponent)
_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


@dataclass(frozen=True)
class TaskChoice:
    """The task, and why: ``reason`` completes "task: classification (...)"."""

    task: Task
    reason: str
    inferred: bool  # False: --task said so


def number(cell: str) -> float | None:
    """The value of a label cell that is a number (finite), else None."""
    if not _NUMBER.fullmatch(cell):
        return None
    value = float(cell)
    return value if math.isfinite(value) else None


def _shown(values: Sequence[str], most: int = 4) -> str:
    text = ", ".join(repr(v) for v in values[:most])
    return text + (", ..." if len(values) > most else "")


def infer_task(columns: Sequence[str], distinct: Sequence[Sequence[str]]) -> TaskChoice:
    """The task for label ``columns`` (their names, as the user gave them) whose distinct
    cells (as written, spaces trimmed) are ``distinct[i]`` for column i."""
    named = ", ".join(repr(c) for c in columns)
    if len(columns) > 1:
        return TaskChoice(
            "regression",
            f"{len(columns)} label columns ({named}): one output each",
            inferred=True,
        )
    values = list(distinct[0])
    numbers = [number(v) for v in values]
    if any(v is None for v in numbers):
        text = [v for v, n in zip(values, numbers) if n is None]
        return TaskChoice(
            "classification",
            f"label {named} holds text ({_shown(sorted(text))}): {len(values)} classes",
            inferred=True,
        )
    found = sorted({n for n in numbers if n is not None})
    integral = all(v == int(v) for v in found)
    k = len(found)
    span = f"from {_num(found[0])} to {_num(found[-1])}" if k > 1 else f"all {_num(found[0])}"
    if integral:
        codes = found == [float(i) for i in range(k)] or found == [float(i + 1) for i in range(k)]
        if k <= FEW or (codes and k <= MAX_CODES):
            return TaskChoice(
                "classification",
                f"label {named} holds {k} distinct integers, {span}: {k} classes; "
                f"--task regression reads them as numbers",
                inferred=True,
            )
        return TaskChoice(
            "regression",
            f"label {named} holds {k} distinct integers, {span}: too many to be classes; "
            f"--task classification reads each as a class",
            inferred=True,
        )
    return TaskChoice(
        "regression",
        f"label {named} holds numbers with fractions, {span}",
        inferred=True,
    )


def chosen_task(
    given: str | None, columns: Sequence[str], distinct: Sequence[Sequence[str]]
) -> TaskChoice:
    """``--task`` when given (checked against the labels: regression needs numbers, and
    classification one label column), else ``infer_task``. ValueError says what does not fit."""
    if given in (None, "auto"):
        return infer_task(columns, distinct)
    if given not in TASKS:
        raise ValueError(f"task must be 'classification', 'regression' or 'auto', got {given!r}")
    named = ", ".join(repr(c) for c in columns)
    if given == "classification" and len(columns) > 1:
        raise ValueError(
            f"--task classification takes one label column, got {len(columns)} ({named}); "
            f"several columns are the outputs of a regression"
        )
    if given == "regression":
        for column, values in zip(columns, distinct):
            text = sorted(v for v in values if number(v) is None)
            if text:
                raise ValueError(
                    f"--task regression needs numbers, but label {column!r} holds text "
                    f"({_shown(text)}): drop --task regression to read them as classes"
                )
    task: Task = "classification" if given == "classification" else "regression"
    return TaskChoice(task, f"--task {given}", inferred=False)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
