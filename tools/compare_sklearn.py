"""ann.MLPClassifier against scikit-learn's MLPClassifier: test accuracy and fit time.

The same settings on both sides (scikit-learn's defaults except where named below), the
same fixed stratified split, several seeds, in one run; prints the median of each. ann
standardises the features itself (``standardize=True``), so scikit-learn gets a
``StandardScaler`` in front. The data sets are the tabular ones scikit-learn ships (no
download). Times are wall-clock seconds of ``fit`` and depend on what else the machine runs:
compare the two columns of one run, not numbers across runs.

    pip install scikit-learn numpy      # test-only: ann itself needs neither
    python tools/compare_sklearn.py [--seeds 5] [--max-iter 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ann

DATA = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def run(model, X_train, y_train, X_test, y_test) -> tuple[float, float, int]:
    """(test accuracy, fit seconds, epochs run) of one fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", ann.ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    epochs = model[-1].n_iter_ if hasattr(model, "steps") else model.n_iter_
    return float(np.mean(model.predict(X_test) == y_test)), seconds, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args()
    import sklearn

    settings = dict(
        hidden_layer_sizes=(64,),
        solver="adam",
        alpha=1e-4,
        batch_size=32,
        learning_rate_init=1e-3,
        max_iter=args.max_iter,
        tol=1e-4,
        n_iter_no_change=10,
    )
    info = ann.backend_info()
    print(
        f"ann {ann.__version__} ({info['backend']} backend, {info['kernel']} kernel, "
        f"{info['threads']} threads), scikit-learn {sklearn.__version__}, NumPy {np.__version__}"
    )
    print(f"settings: {settings}; test split 25% stratified (random_state=0)")
    print(f"median of {args.seeds} seeds (random_state 0..{args.seeds - 1}):")
    print()
    columns = ["data set", "n, features, classes", "ann accuracy", "sklearn accuracy"]
    columns += ["ann fit s", "sklearn fit s", "ann epochs", "sklearn epochs"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name, load in DATA.items():
        X, y = load(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=0
        )
        rows: dict[str, list[tuple[float, float, int]]] = {"ann": [], "sklearn": []}
        for seed in range(args.seeds):
            ours = ann.MLPClassifier(**settings, random_state=seed)
            theirs = make_pipeline(StandardScaler(), SkMLP(**settings, random_state=seed))
            rows["ann"].append(run(ours, X_train, y_train, X_test, y_test))
            rows["sklearn"].append(run(theirs, X_train, y_train, X_test, y_test))
        med = {
            side: [statistics.median(r[i] for r in rs) for i in range(3)]
            for side, rs in rows.items()
        }
        print(
            f"| {name} | {len(X)}, {X.shape[1]}, {len(set(y))} | {med['ann'][0]:.4f} | "
            f"{med['sklearn'][0]:.4f} | {med['ann'][1]:.2f} | {med['sklearn'][1]:.2f} | "
            f"{med['ann'][2]:.0f} | {med['sklearn'][2]:.0f} |"
        )


if __name__ == "__main__":
    main()
