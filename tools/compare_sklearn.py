"""ann against scikit-learn's MLPs on scikit-learn's tabular data sets: accuracy or R².

Three tables, in one run, each cell the median of ``--seeds`` seeds on one fixed 75/25
split (``random_state=0``, stratified for classification); scikit-learn gets a
``StandardScaler`` in front because ann standardises its features itself. The data sets are
those scikit-learn ships (no download): iris, wine, breast cancer and digits
(classification), diabetes and linnerud (regression, linnerud with three outputs).

* **classification at the defaults**: ``ann train --data train.csv`` with no flag but
  ``--label`` and ``--seed`` (the tabular recipe), scored by ``ann evaluate --data test.csv
  --json``; ``ann.MLPClassifier()``; scikit-learn's ``MLPClassifier()``.
* **regression**: the same for ``ann.MLPRegressor`` and scikit-learn's, and both at
  ``max_iter=1000`` too (at 200 epochs neither has fitted diabetes' raw targets, 25 to 346,
  yet), and scikit-learn with its targets standardised (``TransformedTargetRegressor``),
  which is what ann train does. The gaps are ann minus scikit-learn: ann train against the
  best of scikit-learn's three, the estimators like for like at ``max_iter=1000``.
* **same settings**: ``ann.MLPClassifier`` / ``ann.MLPRegressor`` and scikit-learn's with the
  same hyperparameters (``SETTINGS``), with the fit times of both (wall-clock seconds,
  which depend on what else the machine runs: compare the columns of one run).

    pip install scikit-learn numpy      # test-only: ann itself needs neither
    python tools/compare_sklearn.py [--seeds 5] [--only defaults|settings]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
from bench import cpu_info  # tools/bench.py, beside this script
from sklearn import datasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ann

CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
REGRESSION = ("diabetes", "linnerud")

SETTINGS = dict(
    hidden_layer_sizes=(64,),
    solver="adam",
    alpha=1e-4,
    batch_size=32,
    learning_rate_init=1e-3,
    max_iter=200,
    tol=1e-4,
    n_iter_no_change=10,
)


def load(name: str) -> tuple[Any, Any, Any, Any, list[str], list[str]]:
    """(X_train, X_test, y_train, y_test, feature names, target names): the fixed split."""
    bunch = getattr(datasets, f"load_{name}")()
    X, y = bunch.data, bunch.target
    stratify = y if name in CLASSIFICATION else None
    parts = train_test_split(X, y, test_size=0.25, stratify=stratify, random_state=0)
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    targets = [str(n) for n in bunch.target_names] if name == "linnerud" else ["target"]
    return (*parts, names, targets)


def score(model: Any, X: Any, y: Any, regression: bool) -> float:
    if regression:
        return float(model.score(X, y))  # R², averaged over the outputs
    return float(np.mean(model.predict(X) == y))


def fitted(model: Any, X: Any, y: Any) -> tuple[Any, float]:
    """(the model, seconds) after fitting, without the convergence warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", ann.ConvergenceWarning)
        # linnerud's 15 training rows: both clip the batch of 32 to them, and say so
        warnings.filterwarnings("ignore", "Got .?batch_size", UserWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return model, time.perf_counter() - start


def write_csv(path: str, X: Any, y: Any, names: list[str], targets: list[str], ints: bool) -> None:
    rows = y.reshape(len(y), -1)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names + targets)
        for x, t in zip(X.tolist(), rows.tolist()):
            cells = [str(int(v)) for v in t] if ints else [repr(float(v)) for v in t]
            writer.writerow([repr(float(v)) for v in x] + cells)


def ann_cli(folder: str, name: str, seed: int, targets: list[str], regression: bool) -> float:
    """ann train's defaults on the training CSV, scored on the test CSV by ann evaluate."""
    model = os.path.join(folder, f"{name}-{seed}.safetensors")
    label = ",".join(targets)
    train = os.path.join(folder, f"{name}-train.csv")
    test = os.path.join(folder, f"{name}-test.csv")
    ann_command = [sys.executable, "-m", "ann"]
    run = [*ann_command, "train", "--data", train, "--label", label, "--seed", str(seed)]
    subprocess.run([*run, "--save", model, "--quiet"], check=True, capture_output=True)
    evaluate = [*ann_command, "evaluate", model, "--data", test, "--json"]
    out = subprocess.run(evaluate, check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    return float(result["r2"] if regression else result["accuracy"])


def export(folder: str, name: str) -> tuple[Any, Any, Any, Any, list[str]]:
    """The fixed split of ``name``, written as NAME-train.csv and NAME-test.csv in ``folder``
    (integer labels for classification, the targets as floats for regression)."""
    X_train, X_test, y_train, y_test, names, targets = load(name)
    for part, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        path = os.path.join(folder, f"{name}-{part}.csv")
        write_csv(path, X, y, names, targets, ints=name in CLASSIFICATION)
    return X_train, X_test, y_train, y_test, targets


def medians(cells: dict[str, list[float]]) -> dict[str, float]:
    return {key: statistics.median(values) for key, values in cells.items()}


def table_head(columns: list[str]) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def defaults_table(seeds: int) -> None:
    """Classification: ann train's tabular recipe, ann.MLPClassifier() and scikit-learn's
    MLPClassifier() (behind a StandardScaler), each at its defaults."""
    print(
        "### classification at the defaults: ann train (CSV), ann.MLPClassifier(), "
        "scikit-learn's MLPClassifier() behind a StandardScaler; test accuracy"
    )
    print()
    table_head(
        ["data set", "n, features, classes", "ann train", "ann estimator", "scikit-learn"]
        + ["gap: ann train", "gap: ann estimator"]
    )
    with tempfile.TemporaryDirectory() as folder:
        for name in CLASSIFICATION:
            X_train, X_test, y_train, y_test, targets = export(folder, name)
            cells: dict[str, list[float]] = {}
            for seed in range(seeds):
                runs = {"cli": ann_cli(folder, name, seed, targets, False)}
                model, _ = fitted(ann.MLPClassifier(random_state=seed), X_train, y_train)
                runs["estimator"] = score(model, X_test, y_test, False)
                pipe = make_pipeline(StandardScaler(), SkClassifier(random_state=seed))
                runs["sklearn"] = score(fitted(pipe, X_train, y_train)[0], X_test, y_test, False)
                for key, value in runs.items():
                    cells.setdefault(key, []).append(value)
            med = medians(cells)
            n = len(X_train) + len(X_test)
            row = [
                name,
                f"{n}, {X_train.shape[1]}, {len(set(y_train.tolist()))}",
                *(f"{med[k]:.4f}" for k in ("cli", "estimator", "sklearn")),
                f"{med['cli'] - med['sklearn']:+.4f}",
                f"{med['estimator'] - med['sklearn']:+.4f}",
            ]
            print("| " + " | ".join(row) + " |", flush=True)
    print()


def regression_table(seeds: int) -> None:
    """Regression, test R² (averaged over the outputs). ann train standardises the targets
    while training (ann/_tabular.py); ann.MLPRegressor, as scikit-learn's, fits them as they
    are, which at the default max_iter=200 has not reached diabetes' targets (25 to 346) yet:
    so both estimators also at max_iter=1000, and scikit-learn with standardised targets
    (TransformedTargetRegressor), ann train's way. Every network has one hidden layer of 100,
    every scikit-learn model a StandardScaler in front."""
    print(
        "### regression: ann train (CSV, its defaults), ann.MLPRegressor and scikit-learn's "
        "MLPRegressor behind a StandardScaler (hidden layer of 100 in all); test R²"
    )
    print()
    table_head(
        ["data set", "n, features, outputs", "ann train", "ann estimator", "scikit-learn"]
        + ["ann estimator, max_iter=1000", "scikit-learn, max_iter=1000"]
        + ["scikit-learn, scaled targets", "gap: ann train", "gap: ann estimator, 1000"]
    )
    with tempfile.TemporaryDirectory() as folder:
        for name in REGRESSION:
            X_train, X_test, y_train, y_test, targets = export(folder, name)
            cells: dict[str, list[float]] = {}
            for seed in range(seeds):
                runs = {"cli": ann_cli(folder, name, seed, targets, True)}
                for key, ours in (
                    ("estimator", ann.MLPRegressor(random_state=seed)),
                    ("estimator1000", ann.MLPRegressor(max_iter=1000, random_state=seed)),
                ):
                    runs[key] = score(fitted(ours, X_train, y_train)[0], X_test, y_test, True)
                for key, theirs in (
                    ("sklearn", make_pipeline(StandardScaler(), SkRegressor(random_state=seed))),
                    (
                        "sklearn1000",
                        make_pipeline(
                            StandardScaler(), SkRegressor(max_iter=1000, random_state=seed)
                        ),
                    ),
                    (
                        "scaled",
                        TransformedTargetRegressor(
                            make_pipeline(StandardScaler(), SkRegressor(random_state=seed)),
                            transformer=StandardScaler(),
                        ),
                    ),
                ):
                    runs[key] = score(fitted(theirs, X_train, y_train)[0], X_test, y_test, True)
                for key, value in runs.items():
                    cells.setdefault(key, []).append(value)
            med = medians(cells)
            n = len(X_train) + len(X_test)
            keys = ("cli", "estimator", "sklearn", "estimator1000", "sklearn1000", "scaled")
            row = [
                name,
                f"{n}, {X_train.shape[1]}, {len(targets)}",
                *(f"{med[k]:.4f}" for k in keys),
                # against scikit-learn's best of the three ways, and like for like
                f"{med['cli'] - max(med['sklearn'], med['sklearn1000'], med['scaled']):+.4f}",
                f"{med['estimator1000'] - med['sklearn1000']:+.4f}",
            ]
            print("| " + " | ".join(row) + " |", flush=True)
    print()


def settings_table(seeds: int) -> None:
    print(f"### same settings: {SETTINGS}")
    print()
    columns = ["data set", "score", "ann", "scikit-learn", "ann fit s", "scikit-learn fit s"]
    columns += ["ann epochs", "scikit-learn epochs"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name in CLASSIFICATION + REGRESSION:
        regression = name in REGRESSION
        X_train, X_test, y_train, y_test, _, _ = load(name)
        ours = ann.MLPRegressor if regression else ann.MLPClassifier
        theirs = SkRegressor if regression else SkClassifier
        rows: dict[str, list[tuple[float, float, int]]] = {"ann": [], "sklearn": []}
        for seed in range(seeds):
            for side, model in (
                ("ann", ours(**SETTINGS, random_state=seed)),
                ("sklearn", make_pipeline(StandardScaler(), theirs(**SETTINGS, random_state=seed))),
            ):
                model, seconds = fitted(model, X_train, y_train)
                epochs = model[-1].n_iter_ if hasattr(model, "steps") else model.n_iter_
                rows[side].append((score(model, X_test, y_test, regression), seconds, epochs))
        med = {
            side: [statistics.median(r[i] for r in rs) for i in range(3)]
            for side, rs in rows.items()
        }
        print(
            f"| {name} | {'R²' if regression else 'accuracy'} | {med['ann'][0]:.4f} | "
            f"{med['sklearn'][0]:.4f} | {med['ann'][1]:.2f} | {med['sklearn'][1]:.2f} | "
            f"{med['ann'][2]:.0f} | {med['sklearn'][2]:.0f} |",
            flush=True,
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=["defaults", "settings"])
    args = parser.parse_args()
    import sklearn

    info = ann.backend_info()
    print(
        f"ann {ann.__version__} ({info['backend']} backend, {info['kernel']} kernel, "
        f"{info['threads']} threads) on {cpu_info().model}, scikit-learn {sklearn.__version__}, "
        f"NumPy {np.__version__}; load {os.getloadavg()[0]:.2f}"
    )
    print(f"test split 25% (random_state=0); median of {args.seeds} seeds (0..{args.seeds - 1})")
    print()
    if args.only in (None, "defaults"):
        defaults_table(args.seeds)
        regression_table(args.seeds)
    if args.only in (None, "settings"):
        settings_table(args.seeds)


if __name__ == "__main__":
    main()
