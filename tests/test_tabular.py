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


# ---- regression, one output or several, and the task -----------------------------------------


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """(whole, train, test) CSV files of scikit-learn's diabetes set (targets 25.0 to 346.0)."""
    return export(tmp_path_factory.mktemp("diabetes"), "diabetes")


@pytest.fixture(scope="module")
def diabetes_model(diabetes, tmp_path_factory):
    _, train, _ = diabetes
    model = tmp_path_factory.mktemp("model") / "diabetes.safetensors"
    out = run_ann("train", "--data", str(train), "--save", str(model), "--quiet")
    assert out.returncode == 0, out.stderr
    return model, out


def test_a_continuous_target_is_a_regression_trained_on_standardised_targets(diabetes_model):
    _, out = diabetes_model
    assert out.stderr == ""  # it learnt: no warning
    lines = out.stdout.splitlines()
    task = next(x for x in lines if x.startswith("task: "))
    assert task.startswith("task: regression (label 'target' holds ")
    assert (
        "distinct integers, from 25 to 346: too many to be classes; --task classification" in task
    )
    assert "network: 10-100-1, identity-mse head " in out.stdout
    assert "(the targets too while training; the saved model predicts in their units)" in out.stdout
    assert "train acc" not in out.stdout  # a regression's table has no accuracies
    assert re.search(
        r"validation: MSE [0-9.]+, MAE [0-9.]+, R² 0\.[3-9]\d* \(\d+ rows\)", out.stdout
    )


def test_the_regression_model_predicts_in_the_targets_units(diabetes, diabetes_model, tmp_path):
    _, _, test = diabetes
    model, _ = diabetes_model
    # scored on the test split by its label column, found by the name the model recorded
    out = run_ann("evaluate", str(model), "--data", str(test), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["task"] == "regression" and result["rows"] == 110
    # scikit-learn's MLPRegressor (100 hidden, StandardScaler) reaches R² 0.30 on its split
    # at 1000 epochs (tools/compare_sklearn.py); this split is tests/tabular_data.py's
    assert result["r2"] > 0.27 and result["outputs"][0]["name"] == "target"
    assert result["mse"] == pytest.approx(result["outputs"][0]["mse"])
    text = run_ann("evaluate", str(model), "--data", str(test)).stdout.splitlines()
    assert text[0].endswith("(10-100-1, identity-mse head)") and text[2].startswith("MSE ")
    # predict: one number a row, in the targets' units, with or without the label column
    rows = test.read_text().splitlines()
    unlabelled = tmp_path / "new.csv"
    unlabelled.write_text("\n".join(r.rsplit(",", 1)[0] for r in rows[:4]) + "\n")
    for path in (test, unlabelled):
        out = run_ann("predict", str(model), str(path), "--json")
        assert out.returncode == 0, out.stderr
        values = [json.loads(x)["value"] for x in out.stdout.splitlines()[:3]]
        assert all(25 < v < 346 for v in values)  # not standardised values near 0
    net = ann.Network.load(model)
    assert net.metadata["task"] == "regression" and net.metadata["label_columns"] == '["target"]'


def test_several_label_columns_are_the_outputs_of_one_regression(tmp_path):
    whole, _, _ = export(tmp_path, "linnerud")
    model = tmp_path / "linnerud.safetensors"
    labels = "Weight,Waist,Pulse"
    out = run_ann("train", "--data", str(whole), "--label", labels, "--save", str(model), "--quiet")
    assert out.returncode == 0, out.stderr
    assert (
        "task: regression (3 label columns ('Weight', 'Waist', 'Pulse'): one output each)"
        in out.stdout
    )
    assert "network: 3-100-3, identity-mse head" in out.stdout
    after = out.stdout.split("\nvalidation: ", 1)[1].splitlines()[1:]
    per_output = [x.split(":")[0].strip() for x in after if x.startswith("  ")]
    assert per_output == ["Weight", "Waist", "Pulse"]
    out = run_ann("evaluate", str(model), "--data", str(whole), "--json")
    assert [o["name"] for o in json.loads(out.stdout)["outputs"]] == ["Weight", "Waist", "Pulse"]
    out = run_ann("predict", str(model), str(whole))
    first = out.stdout.splitlines()[0]
    assert re.fullmatch(r".*linnerud\.csv:2: Weight [0-9.]+, Waist [0-9.]+, Pulse [0-9.]+", first)
    # the three label columns may sit anywhere: here they come first
    moved = tmp_path / "moved.csv"
    moved.write_text(
        "\n".join(
            ",".join(c[3:] + c[:3])
            for c in (line.split(",") for line in whole.read_text().splitlines())
        )
        + "\n"
    )
    out = run_ann("train", "--data", str(moved), "--label", labels, "--epochs", "2", "--quiet")
    assert out.returncode == 0 and "3-100-3" in out.stdout, out.stderr


def test_integers_with_few_distinct_values_are_classes(tmp_path):
    _, train, _ = export(tmp_path, "digits")
    out = run_ann("train", "--data", str(train), "--epochs", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    assert (
        "task: classification (label 'target' holds 10 distinct integers, from 0 to 9: 10 "
        "classes; --task regression reads them as numbers)" in out.stdout
    )
    out = run_ann("train", "--data", str(train), "--epochs", "2", "--task", "regression", "--quiet")
    assert out.returncode == 0 and "task: regression (--task regression)" in out.stdout
    assert "64-100-1, identity-mse head" in out.stdout


@pytest.mark.parametrize(
    "flags, needles",
    [
        (["--task", "regression"], ["--task regression needs numbers", "'target' holds text"]),
        (["--head", "identity-mse"], ["--head identity-mse is a regression's", "classification"]),
        (["--label", "alcohol,target"], ["line 2, label 'target': 'class_0' is text"]),
        (["--label", "alcohol,ash", "--task", "classification"], ["takes one label column, got 2"]),
    ],
)
def test_labels_that_do_not_fit_what_is_asked_are_one_line(wine, flags, needles):
    whole, _, _ = wine
    out = run_ann("train", "--data", str(whole), *flags, "--quiet")
    assert one_stderr_line(out, *needles).startswith("ann: error: ")
    assert out.returncode == 2


def test_a_head_that_cannot_read_a_regressions_targets_is_a_usage_error(diabetes):
    whole, _, _ = diabetes
    for head, needle in (
        ("softmax-ce", "--head softmax-ce classifies, but the task is regression"),
        ("sigmoid-bce", "outputs values in [0, 1], but the targets run from 25 to 346"),
    ):
        out = run_ann("train", "--data", str(whole), "--head", head, "--quiet")
        assert out.returncode == 2
        assert one_stderr_line(out, needle).startswith("ann: error: ")


@pytest.mark.parametrize("missing", ["NaN", "nan", "NA", "?"])
def test_a_missing_target_names_its_line(diabetes, tmp_path, missing):
    whole, _, _ = diabetes
    lines = whole.read_text().splitlines()
    lines[17] = lines[17].rsplit(",", 1)[0] + "," + missing
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    out = run_ann("train", "--data", str(broken), "--quiet")
    assert out.returncode == 2
    one_stderr_line(out, "broken.csv: line 18, label 'target'", f"{missing!r} is a missing value")


def test_an_empty_target_cell_is_one_line_and_exit_2_like_a_nan(diabetes, tmp_path):
    # the CSV reader finds the empty cell before the task is chosen: it must still be the
    # label error a NaN is (exit 2), not a data error (exit 1)
    whole, _, _ = diabetes
    lines = whole.read_text().splitlines()
    lines[17] = lines[17].rsplit(",", 1)[0] + ","
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    out = run_ann("train", "--data", str(broken), "--quiet")
    assert out.returncode == 2, out.stderr
    one_stderr_line(out, "broken.csv: line 18", "missing label (empty cell)")


def test_a_resumed_regression_goes_on_in_the_targets_units(diabetes, diabetes_model, tmp_path):
    whole, train, test = diabetes
    model, _ = diabetes_model
    resumed = tmp_path / "resumed.safetensors"
    out = run_ann(
        "train", "--data", str(train), "--resume", str(model), "--save", str(resumed),
        "--epochs", "3", "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "task: regression (--task regression)" in out.stdout  # the model's task
    before = json.loads(run_ann("evaluate", str(model), "--data", str(test), "--json").stdout)
    after = json.loads(run_ann("evaluate", str(resumed), "--data", str(test), "--json").stdout)
    assert abs(after["r2"] - before["r2"]) < 0.05  # it went on from where it was, in units
    out = run_ann("train", "--data", str(train), "--resume", str(model), "--task", "classification")
    one_stderr_line(out, "--task classification, but", "was trained for regression")


# ---- the model's columns by name, and the warning of a regression that learnt nothing --------


def _columns(path, order, out, drop=()):
    """``path`` rewritten with its columns in ``order`` (header names), leaving out ``drop``."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    at = [header.index(name) for name in order if name not in drop]
    out.write_text("\n".join(",".join(line.split(",")[j] for j in at) for line in lines) + "\n")
    return out


def test_evaluate_and_predict_find_the_models_columns_by_name(wine, tmp_path):
    _, train, test = wine
    model = tmp_path / "wine.safetensors"
    out = run_ann("train", "--data", str(train), "--save", str(model), "--quiet")
    assert out.returncode == 0, out.stderr
    header = test.read_text().splitlines()[0].split(",")
    rows = len(test.read_text().splitlines()) - 1
    assert json.loads(ann.Network.load(model).metadata["feature_names"]) == header[:-1]
    # the label first and the features reversed: scored and predicted as the file in order
    shuffled = _columns(test, ["target", *reversed(header[:-1])], tmp_path / "shuffled.csv")
    for command in (["evaluate", str(model), "--data"], ["predict", str(model), "--json"]):
        plain = run_ann(*command, str(test), *(["--json"] if command[0] == "evaluate" else []))
        moved = run_ann(*command, str(shuffled), *(["--json"] if command[0] == "evaluate" else []))
        assert plain.returncode == moved.returncode == 0, moved.stderr
        if command[0] == "evaluate":
            a, b = json.loads(plain.stdout), json.loads(moved.stdout)
            assert a["accuracy"] == b["accuracy"] and a["loss"] == pytest.approx(b["loss"])
        else:
            a = [json.loads(x)["probabilities"] for x in plain.stdout.splitlines()]
            b = [json.loads(x)["probabilities"] for x in moved.stdout.splitlines()]
            assert a == b and len(a) == rows
    # a feature column missing (here 'proline') is named, not read as the wrong columns
    lacking = _columns(test, header, tmp_path / "lacking.csv", drop=["proline"])
    out = run_ann("evaluate", str(model), "--data", str(lacking))
    assert out.returncode == 1
    one_stderr_line(out, "lacking.csv", "the network's feature 'proline' is not in the header")
    # the features alone, no label column: predict reads them, evaluate says what it needs
    unlabelled = _columns(test, header[:-1], tmp_path / "unlabelled.csv")
    out = run_ann("predict", str(model), str(unlabelled))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == rows, out.stderr
    out = run_ann("evaluate", str(model), "--data", str(unlabelled))
    one_stderr_line(out, "rows have the model's 13 features but no label column to evaluate")


def test_a_regression_whose_target_is_noise_warns_with_the_mean(tmp_path):
    # targets with no relation to the features: the validation MSE cannot beat always
    # answering the training rows' mean
    import random

    rng = random.Random(1)
    path = tmp_path / "noise.csv"
    with open(path, "w") as f:
        f.write("x1,x2,y\n")
        for _ in range(300):
            f.write(f"{rng.random():.5f},{rng.random():.5f},{rng.gauss(50, 10):.4f}\n")
    out = run_ann("train", "--data", str(path), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "task: regression (label 'y' holds numbers with fractions" in out.stdout
    assert re.match(
        r"ann: warning: training did not learn: the validation mean squared error [0-9.]+ is "
        r"(above|no better than) that of always answering the training rows' mean \([0-9.]+\); "
        r"check that the features say something about the target$",
        out.stderr.strip(),
    ), out.stderr


@pytest.mark.parametrize(
    "row, cell, needle",
    [
        (4, "NaN", "line 5, label 'Waist': 'NaN' is a missing value"),
        (9, "", "line 10, label 'Waist': an empty cell is a missing value"),
        (2, "thin", "line 3, label 'Waist': 'thin' is text: a regression's labels are numbers"),
        (6, "1e39", "line 7, label 'Waist': '1e39' is beyond float32's range"),
    ],
)
def test_a_bad_cell_in_one_of_several_label_columns_names_its_line(tmp_path, row, cell, needle):
    whole, _, _ = export(tmp_path, "linnerud")
    lines = whole.read_text().splitlines()
    cells = lines[row].split(",")
    cells[lines[0].split(",").index("Waist")] = cell
    lines[row] = ",".join(cells)
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    out = run_ann("train", "--data", str(broken), "--label", "Weight,Waist,Pulse", "--quiet")
    assert out.returncode == 2
    assert one_stderr_line(out, "broken.csv: " + needle).startswith("ann: error: ")


def test_evaluate_of_a_regression_refuses_a_text_target(diabetes, diabetes_model, tmp_path):
    _, _, test = diabetes
    model, _ = diabetes_model
    lines = test.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",high"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    out = run_ann("evaluate", str(model), "--data", str(broken))
    assert out.returncode == 2
    one_stderr_line(out, "ann: error: ", "line 4, label 'target': 'high' is text")


def test_label_flags_that_name_the_wrong_columns_are_one_line(diabetes, diabetes_model):
    whole, _, _ = diabetes
    model, _ = diabetes_model
    out = run_ann("evaluate", str(model), "--data", str(whole), "--label", "s6")
    assert out.returncode == 1
    one_stderr_line(out, "ann: error: ", "the label column 's6' is one of the network's features")
    out = run_ann("evaluate", str(model), "--data", str(whole), "--label", "nope")
    assert out.returncode == 1
    one_stderr_line(out, "no column named 'nope' (columns: 'age', 'sex',")
    out = run_ann("train", "--data", "sample", "--task", "regression", "--no-download")
    assert out.returncode == 2
    one_stderr_line(out, "--task regression goes with a table (--data FILE.csv)")
    out = run_ann("train", "--data", str(whole), "--label", "target,", "--quiet")
    assert out.returncode == 2
    one_stderr_line(out, "ann: error: --label 'target,': an empty column name")


def test_a_multi_output_regression_exports_to_int8_calibrated_on_its_columns(tmp_path):
    whole, _, _ = export(tmp_path, "linnerud")
    model = tmp_path / "linnerud.safetensors"
    labels = ["--label", "Weight,Waist,Pulse"]
    out = run_ann("train", "--data", str(whole), *labels, "--save", str(model), "--quiet")
    assert out.returncode == 0, out.stderr
    header = tmp_path / "lin.h"
    out = run_ann("export-c", str(model), "-o", str(header), "--int8", "--data", str(whole))
    assert out.returncode == 0, out.stderr  # the 3 features found by name, not 5 columns
    assert "calibrated on 20 of the 20 rows" in out.stdout and header.stat().st_size > 0
    out = run_ann("evaluate", str(model), "--data", str(whole), "--int8")
    assert out.returncode == 2
    one_stderr_line(out, "--int8 scores a classifier's int8 arithmetic", "is a regression")


def test_a_multi_output_model_finds_its_columns_by_name(tmp_path):
    whole, _, _ = export(tmp_path, "linnerud")
    model = tmp_path / "linnerud.safetensors"
    out = run_ann(
        "train", "--data", str(whole), "--label", "Weight,Waist,Pulse", "--save", str(model),
        "--epochs", "5", "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [line.split(",") for line in whole.read_text().splitlines()]
    order = [5, 2, 3, 0, 4, 1]  # Pulse, Jumps, Weight, Chins, Waist, Situps
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join(",".join(c[j] for j in order) for c in lines) + "\n")
    features = tmp_path / "features.csv"
    features.write_text("\n".join(",".join(c[:3]) for c in lines) + "\n")
    a = json.loads(run_ann("evaluate", str(model), "--data", str(whole), "--json").stdout)
    b = json.loads(run_ann("evaluate", str(model), "--data", str(shuffled), "--json").stdout)
    assert a["outputs"] == b["outputs"] and a["rows"] == 20
    values = [run_ann("predict", str(model), str(f)).stdout for f in (whole, shuffled, features)]
    assert [[x.split(":", 2)[2] for x in v.splitlines()] for v in values] == [
        [x.split(":", 2)[2] for x in values[0].splitlines()]
    ] * 3
    out = run_ann("evaluate", str(model), "--data", str(features))
    one_stderr_line(out, "predicts 3 values a row: no label columns 'Weight', 'Waist', 'Pulse'")
    out = run_ann("evaluate", str(model), "--data", str(whole), "--label", "Weight,Waist")
    assert out.returncode == 2
    one_stderr_line(out, "--label gives 2 column(s)", "predicts 3 values a row")
