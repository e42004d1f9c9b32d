"""ann against scikit-learn's MLPs on scikit-learn's tabular data sets: accuracy or R².

Two tables, in one run, each cell the median of ``--seeds`` seeds on one fixed 75/25 split
(``random_state=0``, stratified for classification); scikit-learn gets a ``StandardScaler`` in
front because ann standardises its features itself. The data sets are those scikit-learn
ships (no download): iris, wine, breast cancer and digits (classification), diabetes and
linnerud (regression, linnerud with three outputs).

* **defaults**: ``ann train --data train.csv`` with no flag but ``--label`` and ``--seed``
  (the tabular recipe), scored by ``ann evaluate --data test.csv --json``; ``ann.MLPClassifier()``
  / ``ann.MLPRegressor()``; and scikit-learn's ``MLPClassifier()`` / ``MLPRegressor()``, each
  at its defaults. For regression also scikit-learn with its targets standardised too
  (``TransformedTargetRegressor``), which is what ann train does, and its
  ``MLPRegressor(max_iter=1000)``: at 200 epochs its plain defaults have not fitted
  diabetes' targets (25 to 346) yet. The gaps are ann minus scikit-learn.
* **same settings**: ``ann.MLPClassifier`` / ``ann.MLPRegressor`` and scikit-learn's with the
  same hyperparameters (``--settings``), with the fit times of both (wall-clock seconds,
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


def defaults_table(seeds: int) -> None:
    print("### defaults: ann train (CSV), ann's estimator and scikit-learn's, each as shipped")
    print()
    columns = ["data set", "n, features, outputs", "score", "ann train", "ann estimator"]
    columns += ["scikit-learn", "gap: ann train", "gap: ann estimator"]
    columns += ["scikit-learn, scaled targets", "scikit-learn, max_iter=1000"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    with tempfile.TemporaryDirectory() as folder:
        for name in CLASSIFICATION + REGRESSION:
            regression = name in REGRESSION
            X_train, X_test, y_train, y_test, names, targets = load(name)
            for part, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
                path = os.path.join(folder, f"{name}-{part}.csv")
                write_csv(path, X, y, names, targets, ints=not regression)
            cells: dict[str, list[float]] = {}
            for seed in range(seeds):
                runs = {"cli": ann_cli(folder, name, seed, targets, regression)}
                ours = ann.MLPRegressor if regression else ann.MLPClassifier
                theirs = SkRegressor if regression else SkClassifier
                model, _ = fitted(ours(random_state=seed), X_train, y_train)
                runs["estimator"] = score(model, X_test, y_test, regression)
                pipe = make_pipeline(StandardScaler(), theirs(random_state=seed))
                runs["sklearn"] = score(
                    fitted(pipe, X_train, y_train)[0], X_test, y_test, regression
                )
                if regression:
                    scaled = TransformedTargetRegressor(
                        make_pipeline(StandardScaler(), SkRegressor(random_state=seed)),
                        transformer=StandardScaler(),
                    )
                    runs["scaled"] = score(
                        fitted(scaled, X_train, y_train)[0], X_test, y_test, regression
                    )
                    longer = make_pipeline(
                        StandardScaler(), SkRegressor(max_iter=1000, random_state=seed)
                    )
                    runs["longer"] = score(
                        fitted(longer, X_train, y_train)[0], X_test, y_test, regression
                    )
                for key, value in runs.items():
                    cells.setdefault(key, []).append(value)
            med = {key: statistics.median(values) for key, values in cells.items()}
            outputs = len(targets) if regression else len(set(y_train.tolist()))
            n = len(X_train) + len(X_test)
            row = [
                name,
                f"{n}, {X_train.shape[1]}, {outputs}",
                "R²" if regression else "accuracy",
                f"{med['cli']:.4f}",
                f"{med['estimator']:.4f}",
                f"{med['sklearn']:.4f}",
                f"{med['cli'] - med['sklearn']:+.4f}",
                f"{med['estimator'] - med['sklearn']:+.4f}",
                f"{med['scaled']:.4f}" if regression else "",
                f"{med['longer']:.4f}" if regression else "",
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
    if args.only in (None, "settings"):
        settings_table(args.seeds)


if __name__ == "__main__":
    main()
