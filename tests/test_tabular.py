"""ann train on a table (a CSV file): the tabular recipe by default, what it says, and the
warning of a run that ends no better than always answering the most frequent class. The data
are scikit-learn's bundled sets written as CSV (tests/tabular_data.py; skipped without
scikit-learn)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import one_stderr_line, run_ann
from tabular_data import export

import ann


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """(whole, train, test) CSV files of scikit-learn's wine set, labels class_0..class_2."""
    folder = tmp_path_factory.mktemp("wine")
    return export(folder, "wine", label=lambda v: f"class_{int(v)}")


def test_a_csv_file_trains_with_the_tabular_recipe_and_says_so(wine, tmp_path):
    _, train, test = wine
    model = tmp_path / "wine.safetensors"
    out = run_ann(
        "train", "--data", str(train), "--label", "target", "--save", str(model), "--quiet"
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no warning: it learnt
    lines = out.stdout.splitlines()
    assert lines[0].startswith("recipe: tabular, the default for a table (--preset seed")
    assert "inputs-100-outputs, adam lr 0.001, batch 32, up to 200 epochs" in lines[0]
    assert "network: 13-100-3 " in out.stdout
    assert "early stopping (patience 10, check every epoch)" in out.stdout
    # early stopping restored the best check's weights
    assert re.search(r"stopped: (early_stopping|completed) after \d+ steps; best", out.stdout)
    evaluated = run_ann("evaluate", str(model), "--data", str(test), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    # scikit-learn's MLPClassifier() behind a StandardScaler: 1.0 on this split
    assert json.loads(evaluated.stdout)["accuracy"] >= 0.95
    # without --data it says what it needs, instead of reading (or downloading) MNIST
    for data in ([], ["--data", "sample"]):
        out = run_ann("evaluate", str(model), *data, env={"ANN_DATA": None})
        line = one_stderr_line(out, "was trained on a CSV file (wine-train.csv)", "--data FILE.csv")
        assert out.returncode == 2 and "13 feature columns" in line and "MNIST" not in line


def test_flags_given_beside_the_recipe_win(wine):
    whole, _, _ = wine
    out = run_ann(
        "train", "--data", str(whole), "--label", "target", "--layers", "16", "--optimizer",
        "sgd", "--lr", "0.05", "--epochs", "3", "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "; given: --epochs, --layers, --lr, --optimizer" in out.stdout.splitlines()[0]
    assert "network: 13-16-3 " in out.stdout and "training: sgd lr 0.05, batch 32" in out.stdout


def test_the_history_table_of_a_long_run_shows_every_kth_check_the_best_and_the_last(wine):
    whole, _, _ = wine
    out = run_ann("train", "--data", str(whole), "--label", "target", "--quiet")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if x.split()[:2] == ["step", "epoch"])
    note = next(x for x in lines if "checks shown" in x)
    shown, total = map(int, re.match(r"\((\d+) of (\d+) checks shown", note).groups())
    rows = lines[head + 1 : head + 1 + shown]
    steps = [int(row.split()[0]) for row in rows]
    assert total > 14 >= shown == len(steps) and steps == sorted(steps)
    best = int(re.search(r"best validation loss [0-9.]+ at step (\d+)", out.stdout).group(1))
    last = int(re.search(r"stopped: \w+ after (\d+) steps", out.stdout).group(1))
    assert best in steps and steps[-1] == last


def test_the_mnist_recipe_on_a_table_warns_that_nothing_was_learnt(wine):
    whole, _, _ = wine
    out = run_ann("train", "--data", str(whole), "--label", "target", "--preset", "seed", "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("preset: seed (784-20-7-5-10, sgd lr 0.009")
    warning = out.stderr.strip()
    assert warning.startswith("ann: warning: training did not learn: the validation accuracy")
    # the most frequent class of wine's training rows is class_1 (71 of 178 overall)
    assert "always answering the most frequent class, 'class_1'" in warning
    assert warning.endswith("--preset tabular is the recipe for tables")


def test_a_table_whose_label_is_noise_warns_with_the_baseline(tmp_path):
    # labels with no relation to the features: the validation accuracy cannot beat always
    # answering the most frequent class (here 'b', 70 % of the rows)
    import random

    rng = random.Random(0)
    path = tmp_path / "noise.csv"
    with open(path, "w") as f:
        f.write("x1,x2,label\n")
        for _ in range(200):
            f.write(f"{rng.random()},{rng.random()},{'b' if rng.random() < 0.7 else 'a'}\n")
    out = run_ann("train", "--data", str(path), "--quiet")
    assert out.returncode == 0, out.stderr
    warning = out.stderr.strip()
    assert re.match(
        r"ann: warning: training did not learn: the validation accuracy [0-9.]+ is (below|no "
        r"better than) that of always answering the most frequent class, 'b' \(0\.\d+\); check "
        r"that the features say something about the label$",
        warning,
    ), warning


def test_the_tabular_preset_from_python_checks_once_an_epoch():
    p = ann.get_preset("tabular")
    kwargs = p.fit_kwargs()
    assert kwargs["early_stopping"].check_every is None and kwargs["check_every"] is None
    data = ann.Dataset(
        [[float(i % 7), float(i % 3)] for i in range(100)], [i % 2 for i in range(100)]
    )
    net = ann.Network(**p.network_kwargs(inputs=2, outputs=2), seed=0)
    history = net.fit(data, **{**kwargs, "epochs": 3}, verbose=0)
    assert history.epochs == [1.0, 2.0, 3.0]  # one check per epoch of 80 rows (3 batches)
    assert history.steps == [3, 6, 9]
