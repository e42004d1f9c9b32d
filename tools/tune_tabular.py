"""Choosing the tabular recipe (``ann train``'s default on a CSV file, ``--preset tabular``).

Each candidate is the ``tabular`` preset of ``ann/_presets.py`` with a few fields changed,
run the way ``ann train --data FILE.csv`` runs it (``Preset.network_kwargs`` and
``Preset.fit_kwargs``: the same calls, which tests/test_presets.py checks against the CLI) on
scikit-learn's bundled data sets. The test split that docs/results.md reports (25 %, seed 0)
is never read here: of the other 75 %, a seeded 20 % is the development set each candidate is
judged on, and the recipe trains on the rest (holding out its own validation share for early
stopping, as ann train does). Median of ``--seeds`` seeds (seed s draws the development rows,
the weights and the batches).

    pip install scikit-learn            # the data sets; ann itself does not need it
    python tools/tune_tabular.py                  # every candidate
    python tools/tune_tabular.py --only sk-b200   # one candidate, by name

One line per candidate and data set goes to stdout and is appended to tools/tune_tabular.out
(the record of the search behind the preset), with the CPU and kernel.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import random
import statistics
import sys
import time
from typing import Any

from bench import cpu_info  # tools/bench.py, beside this script

import ann
from ann._tabular import fold_target_scaling, scaled, target_scaling

CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits", "moons", "classification")
REGRESSION = ("diabetes", "friedman1", "regression")

#: not a preset field: train a regression on its targets as they are, not standardised
RAW_TARGETS = "raw-targets"

CANDIDATES: dict[str, dict[str, Any]] = {
    "tabular": {},  # the preset as it is
    RAW_TARGETS: {},
    "glorot": {"init": "glorot"},
    "auto-init": {"init": "auto"},
    "sk-b200": {"batch_size": 200},  # scikit-learn's batch ("auto": min(200, n))
    "b64": {"batch_size": 64},
    "lr3e-3": {"lr": 0.003},
    "2x100": {"layers": (100, 100)},
    "patience20": {"patience": 20},
    "val10": {"val_fraction": 0.1},
    "l2-1e-4": {"l2": 1e-4},
}


def load(name: str) -> tuple[list[list[float]], list[Any]]:
    """(rows, targets) of a scikit-learn data set: the bundled ones and three generated."""
    from sklearn import datasets

    if name == "moons":
        X, y = datasets.make_moons(n_samples=1000, noise=0.3, random_state=0)
    elif name == "classification":
        X, y = datasets.make_classification(
            n_samples=2000, n_features=20, n_informative=8, n_classes=3, random_state=0
        )
    elif name == "friedman1":
        X, y = datasets.make_friedman1(n_samples=1000, noise=1.0, random_state=0)
    elif name == "regression":
        X, y = datasets.make_regression(
            n_samples=1000, n_features=20, n_informative=10, noise=10.0, random_state=0
        )
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X.tolist(), y.tolist()


def split(n: int, seed: int, fraction: float) -> tuple[list[int], list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut = n - round(n * fraction)
    return sorted(order[:cut]), sorted(order[cut:])


def dataset(X: list[list[float]], y: list[Any], rows: list[int], regression: bool) -> ann.Dataset:
    features = [X[i] for i in rows]
    if regression:
        return ann.Dataset(features, None, targets=[[float(y[i])] for i in rows])
    return ann.Dataset(features, [int(y[i]) for i in rows])


def score(net: ann.Network, data: ann.Dataset, regression: bool) -> float:
    result = net.evaluate(data)
    return float(result["r2"] if regression else result["accuracy"])


def run(preset: ann.Preset, name: str, seed: int, raw: bool) -> tuple[float, float, float]:
    """(development score, epochs, seconds) of one candidate on one data set and seed; a
    regression's targets standardised as ann train does (on the rows it trains on, folded
    into the output layer afterwards), unless ``raw``."""
    X, y = load(name)
    regression = name in REGRESSION
    kept, _ = split(len(X), 0, 0.25)  # the test split of docs/results.md: never read here
    train_rows, dev_rows = split(len(kept), seed, 0.2)
    train = dataset(X, y, [kept[i] for i in train_rows], regression)
    dev = dataset(X, y, [kept[i] for i in dev_rows], regression)
    outputs = 1 if regression else train.num_classes
    kwargs = preset.network_kwargs(inputs=train.features, outputs=outputs)
    if regression:
        kwargs["head"] = "identity-mse"
    net = ann.Network(**kwargs, seed=seed)
    scale = None
    if regression and not raw:  # the rows fit trains on: its own split of train, seeded
        scale = target_scaling(train.split(preset.val_fraction, seed=seed)[0])
        train = scaled(train, *scale)
    started = time.perf_counter()
    history = net.fit(train, **preset.fit_kwargs(), seed=seed, verbose=0)
    seconds = time.perf_counter() - started
    if scale is not None:
        fold_target_scaling(net, *scale)
    return score(net, dev, regression), history.epochs[-1], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=list(CANDIDATES), action="append")
    parser.add_argument("--sets", nargs="*", default=list(CLASSIFICATION + REGRESSION))
    args = parser.parse_args()
    base = ann.get_preset("tabular")
    info = ann.backend_info()
    cpu = cpu_info().model
    header = (
        f"# ann {ann.__version__}, {info['backend']} backend, {info['kernel']} kernel, "
        f"{info['threads']} threads, {cpu}, {platform.system()} {platform.release()}; "
        f"load {os.getloadavg()[0]:.2f}; median of {args.seeds} seeds"
    )
    out = open(os.path.join(os.path.dirname(__file__), "tune_tabular.out"), "a")
    for stream in (sys.stdout, out):
        print(header, file=stream, flush=True)
    for name in args.only or list(CANDIDATES):
        preset = dataclasses.replace(base, **CANDIDATES[name])
        for data in args.sets:
            raw = name == RAW_TARGETS
            if raw and data not in REGRESSION:
                continue
            runs = [run(preset, data, seed, raw) for seed in range(args.seeds)]
            what = "R2" if data in REGRESSION else "accuracy"
            line = (
                f"{name:12} {data:15} dev {what} {statistics.median(r[0] for r in runs):.4f} "
                f"(min {min(r[0] for r in runs):.4f}), epochs "
                f"{statistics.median(r[1] for r in runs):.0f}, "
                f"{statistics.median(r[2] for r in runs):.2f} s"
            )
            for stream in (sys.stdout, out):
                print(line, file=stream, flush=True)
    out.close()


if __name__ == "__main__":
    main()
