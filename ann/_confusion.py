"""The confusion matrix of a classifier, counted and printed as a text table (``ann evaluate``):
which class was taken for which, each class's recall, and the overall accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence


def confusion_matrix(true: Sequence[int], pred: Sequence[int], num_classes: int) -> list[list[int]]:
    """Counts ``matrix[t][p]`` of samples of true class t predicted as class p."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if len(true) != len(pred):
        raise ValueError(f"true has {len(true)} labels but pred has {len(pred)}")
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for i, (t, p) in enumerate(zip(true, pred)):
        if not (0 <= t < num_classes and 0 <= p < num_classes):
            raise ValueError(
                f"sample {i}: label pair (true {t}, predicted {p}) is outside 0..{num_classes - 1}"
            )
        matrix[t][p] += 1
    return matrix


def format_confusion(matrix: list[list[int]], *, labels: Sequence[str] | None = None) -> str:
    """The matrix as a text table: rows are true classes, columns predictions.

    A last column gives each class's recall (the share of its samples that
    were classified correctly, "-" for a class with no samples) and a last line
    the overall accuracy, so the weak classes stand out at a glance.
    """
    n = len(matrix)
    if n == 0 or any(len(row) != n for row in matrix):
        raise ValueError("confusion matrix must be square with at least one class")
    names = [str(i) for i in range(n)] if labels is None else [str(x) for x in labels]
    if len(names) != n:
        raise ValueError(f"got {len(names)} labels for {n} classes")

    corner = "true\\pred"
    first = max(len(corner), *(len(name) for name in names))
    cell = max(
        max(len(name) for name in names), max(len(str(count)) for row in matrix for count in row)
    )
    recall_header = "recall"
    out = [
        corner.ljust(first)
        + "".join(" " + name.rjust(cell) for name in names)
        + "  "
        + recall_header
    ]
    for index, (name, row) in enumerate(zip(names, matrix)):
        total = sum(row)
        recall = f"{100 * row[index] / total:.1f}%" if total else "-"
        out.append(
            name.rjust(first)
            + "".join(" " + str(c).rjust(cell) for c in row)
            + "  "
            + recall.rjust(len(recall_header))
        )
    correct = sum(matrix[i][i] for i in range(n))
    total = sum(sum(row) for row in matrix)
    accuracy = f"{100 * correct / total:.2f}%" if total else "-"
    out.append(f"accuracy: {accuracy} ({correct}/{total})")
    return "\n".join(out)
