"""scikit-learn's bundled tabular data sets written as CSV files, for the tests of tables (no
download: the sets ship inside scikit-learn, a test-only dependency)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
REGRESSION = ("diabetes", "linnerud")


def load(name: str) -> tuple[list[str], list[list[float]], list[str], list[list[float]]]:
    """(feature names, rows, target names, targets) of scikit-learn's set ``name``."""
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = getattr(datasets, f"load_{name}")()
    X, y = bunch.data.tolist(), bunch.target.tolist()
    names = [str(n) for n in bunch.feature_names]
    if name == "linnerud":
        return names, X, [str(n) for n in bunch.target_names], y
    return names, X, ["target"], [[v] for v in y]


def split(rows: int, seed: int = 0, test: float = 0.25) -> tuple[list[int], list[int]]:
    """(train rows, test rows): a seeded shuffle, the last ``test`` share for testing."""
    order = list(range(rows))
    random.Random(seed).shuffle(order)
    cut = rows - round(rows * test)
    return sorted(order[:cut]), sorted(order[cut:])


def write_csv(
    path: Path,
    names: list[str],
    X: list[list[float]],
    target_names: list[str],
    y: list[list[float]],
    rows: list[int] | None = None,
    label: callable | None = None,
) -> Path:
    """The rows (all, or those listed) of X and y as a CSV file with a header; ``label`` turns
    a target into the cell written (e.g. an int, or a class name)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names + target_names)
        for i in rows if rows is not None else range(len(X)):
            cells = [label(v) for v in y[i]] if label else [repr(v) for v in y[i]]
            writer.writerow([repr(v) for v in X[i]] + cells)
    return path


def export(folder: Path, name: str, label: callable | None = None) -> tuple[Path, Path, Path]:
    """(whole, train, test) CSV files of scikit-learn's set ``name`` in ``folder``: a 75/25
    split (seed 0)."""
    names, X, target_names, y = load(name)
    train, test = split(len(X))
    if label is None and name in CLASSIFICATION:
        label = int
    files = []
    for part, rows in (("", None), ("-train", train), ("-test", test)):
        path = folder / f"{name}{part}.csv"
        files.append(write_csv(path, names, X, target_names, y, rows, label))
    return files[0], files[1], files[2]
