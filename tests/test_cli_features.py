"""ann train's options, ann evaluate / predict / experiment, and Ctrl-C, run for real."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import one_error_line, one_stderr_line, run_ann, start_ann

import ann
from ann import _idx
from ann._pgm import encode_pgm
from ann._png import encode_png_gray

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """A model trained by `ann train` with early stopping, saved, plus its log and plot."""
    folder = tmp_path_factory.mktemp("trained")
    model, log, plot = folder / "m.safetensors", folder / "h.csv", folder / "p.txt"
    out = run_ann(
        "train",
        "--data",
        str(mnist_dir),
        "--epochs",
        "3",
        "--batch-size",
        "128",
        "--lr",
        "0.05",
        "--optimizer",
        "momentum",
        "--patience",
        "3",
        "--check-every",
        "150",
        "--save",
        str(model),
        "--log",
        str(log),
        "--plot-file",
        str(plot),
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    return model, log, plot, out.stdout


def test_train_saves_best_model_log_and_plot(trained):
    model, log, plot, stdout = trained
    accuracy = float(re.search(r"test: loss [0-9.]+, accuracy ([0-9.]+)", stdout).group(1))
    assert accuracy > 0.85
    rows = log.read_text().splitlines()
    assert rows[0].startswith("steps,epochs,train_loss") and len(rows) >= 4
    text = plot.read_text()
    assert "loss" in text and "accuracy" in text and "validation loss" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    net = ann.Network.load(model)
    assert net.sizes == [784, 20, 7, 5, 10]


def test_evaluate_json_agrees_with_training_report(trained, mnist_dir):
    model, _, _, stdout = trained
    printed = float(re.search(r"test: loss [0-9.]+, accuracy ([0-9.]+)", stdout).group(1))
    out = run_ann("evaluate", str(model), "--data", str(mnist_dir), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # early stopping restored the best weights, and the saved file holds those same weights
    assert round(result["accuracy"], 4) == printed
    matrix = result["confusion_matrix"]
    assert sum(map(sum, matrix)) == 10000
    assert [sum(row) for row in matrix] == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert sum(matrix[i][i] for i in range(10)) / 10000 == pytest.approx(result["accuracy"])


def test_evaluate_text_shows_confusion_matrix(trained, mnist_dir):
    out = run_ann("evaluate", str(trained[0]), "--data", str(mnist_dir))
    assert out.returncode == 0, out.stderr
    assert "true\\pred" in out.stdout and "recall" in out.stdout and "accuracy:" in out.stdout


def test_predict_idx_png_and_pgm(trained, mnist_dir, tmp_path):
    model = trained[0]
    _, test = ann.load_mnist(mnist_dir)
    net = ann.Network.load(model)
    expected = net.predict(test[:5])
    idx_file = tmp_path / "five.idx"
    _idx.write_idx(idx_file, test[:5].images.tobytes(), (5, 28, 28))
    png, pgm = tmp_path / "a.png", tmp_path / "b.pgm"
    png.write_bytes(encode_png_gray(28, 28, test[0][0]))
    pgm.write_bytes(encode_pgm(28, 28, test[1][0]))
    out = run_ann("predict", "--raw", str(model), str(idx_file), str(png), str(pgm))
    assert out.returncode == 0, out.stderr
    classes = [int(m) for m in re.findall(r": (\d) \(p = [0-9.]+\)", out.stdout)]
    assert classes == expected + expected[:2]
    out = run_ann("predict", "--raw", str(model), str(png), "--json")
    record = json.loads(out.stdout)
    assert record["class"] == expected[0] and abs(sum(record["probabilities"]) - 1) < 1e-5


def test_predict_rejects_wrong_sizes_and_bad_files(trained, tmp_path):
    model = trained[0]
    big = tmp_path / "big.png"
    big.write_bytes(encode_png_gray(32, 30, bytes(32 * 30)))
    one_error_line(run_ann("predict", "--raw", str(model), str(big)), "big.png", "32x30", "28x28")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    one_error_line(run_ann("predict", str(model), str(junk)), "junk.png")
    one_error_line(run_ann("predict", str(model), str(tmp_path / "missing.png")), "missing.png")
    bad_model = tmp_path / "bad.safetensors"
    bad_model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    one_error_line(run_ann("predict", str(bad_model), str(big)), "bad.safetensors")


def test_resume_continues_from_the_saved_model(trained, mnist_dir, tmp_path):
    resumed = tmp_path / "r.safetensors"

    def resume(*flags: str):
        """One epoch of `ann train --quiet FLAGS` from the trained model."""
        model, data = str(trained[0]), str(mnist_dir)
        return run_ann(
            "train", "--data", data, "--resume", model, "--epochs", "1", "--quiet", *flags
        )

    out = resume("--batch-size", "256", "--lr", "0.02", "--save", str(resumed))
    assert out.returncode == 0, out.stderr
    assert "resumed from" in out.stdout
    accuracy = float(re.search(r"accuracy ([0-9.]+) \(", out.stdout).group(1))
    assert accuracy > 0.85  # it started from a trained model, not from scratch
    one_error_line(resume("--layers", "30"), "--layers 30 does not match")


def test_ctrl_c_stops_cleanly_saves_best_and_exits_130(mnist_dir, tmp_path):
    model = tmp_path / "m.safetensors"
    flags = ["--epochs", "500", "--patience", "0", "--check-every", "50", "--save", str(model)]
    proc = start_ann("train", "--data", str(mnist_dir), *flags, "--quiet", stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not model.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # the first check (50 steps) has saved a model
    assert model.exists(), "no checkpoint appeared"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert "stopped: interrupted" in stdout
    net = ann.Network.load(model)  # a whole, loadable file
    assert net.sizes == [784, 20, 7, 5, 10]
    leftovers = [p for p in os.listdir(tmp_path) if p != "m.safetensors"]
    assert leftovers == []


def test_experiment_quick_on_the_sample():
    out = run_ann("experiment", "--quick", "--data", "sample")
    assert out.returncode == 0, out.stderr
    rows = [
        line for line in out.stdout.splitlines() if re.match(r"\s+(32|64|128|256)\s+(yes|no)", line)
    ]
    assert len(rows) == 16
    for row in rows:
        train_acc, val_acc, test_acc = (float(v) for v in row.split()[3:6])
        assert 0.0 <= test_acc <= 1.0
    assert "validation loss of every run" in out.stdout


@pytest.mark.parametrize(
    "args,needles",
    [
        (["train", "--optimizer", "rmsprop"], ["--optimizer"]),
        (["train", "--dropout", "1"], ["--dropout"]),
        (["train", "--l2", "-0.1"], ["--l2"]),
        (["train", "--patience", "-1"], ["--patience"]),
        (["evaluate"], ["MODEL"]),
    ],
)
def test_more_bad_arguments(args, needles):
    out = run_ann(*args)
    assert out.returncode == 2
    one_error_line(out, *needles)


def test_missing_model_file(tmp_path):
    one_error_line(
        run_ann("evaluate", str(tmp_path / "nope.safetensors"), "--data", "sample"),
        "nope.safetensors",
    )


# ---- --val-fraction 0: train on every training image ----------------------------------------


def test_val_fraction_zero_trains_on_all_images_and_saves_the_final_weights(mnist_dir, tmp_path):
    model = tmp_path / "all.safetensors"
    out = run_ann(
        "train", "--data", str(mnist_dir), "--val-fraction", "0", "--epochs", "1",
        "--batch-size", "128", "--lr", "0.05", "--optimizer", "momentum",
        "--check-every", "200", "--save", str(model), "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "60000 train / 0 validation / 10000 test images" in out.stdout
    assert "early stopping" not in out.stdout  # the default patience needs a validation loss
    assert "no validation split, so the final weights are kept" in out.stdout
    printed = float(re.search(r"test: loss [0-9.]+, accuracy ([0-9.]+)", out.stdout).group(1))
    assert printed > 0.85
    # 60000 / 128 -> 469 steps; the last check (step 400) is not the end: the file must still
    # hold the weights of step 469, the ones the test line scored
    net = ann.Network.load(model)
    assert net.metadata["steps"] == "469"
    result = run_ann("evaluate", str(model), "--data", str(mnist_dir), "--json")
    assert result.returncode == 0, result.stderr
    assert round(json.loads(result.stdout)["accuracy"], 4) == printed


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--patience", "3"], "--patience stops on the validation loss"),
        (["--lr-decay", "0.5"], "plateau schedule follows the validation loss"),
        (["--schedule", "plateau"], "plateau schedule follows the validation loss"),
    ],
)
def test_val_fraction_zero_refuses_what_needs_validation(extra, needle, tmp_path):
    out = run_ann("train", "--data", str(tmp_path), "--val-fraction", "0", *extra)
    assert out.returncode == 2
    one_stderr_line(out, needle, "--val-fraction 0")


def test_val_fraction_zero_on_a_csv_reports_the_training_rows():
    fruit = os.path.join(HERE, "data", "fruit.csv")
    out = run_ann("train", "--data", fruit, "--layers", "8", "--val-fraction", "0", "--epochs", "3")
    assert out.returncode == 0, out.stderr
    assert "300 train / 0 validation rows of 4 features" in out.stdout
    line = re.search(r"training rows \(no validation or test split\): loss [0-9.]+, "
                     r"accuracy ([0-9.]+) \((\d+)/300\)", out.stdout)  # fmt: skip
    assert line, out.stdout


def test_preset_with_val_fraction_zero_drops_the_presets_early_stopping(mnist_dir):
    out = run_ann("train", "--preset", "seed", "--data", str(mnist_dir), "--val-fraction", "0",
              "--epochs", "1", "--quiet")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "given: --epochs, --val-fraction" in out.stdout
    assert (
        "60000 train / 0 validation" in out.stdout
        and "early stopping" not in out.stdout.split("training:")[1].splitlines()[0]
    )
