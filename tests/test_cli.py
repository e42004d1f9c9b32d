"""The ``ann`` command: real runs in a subprocess, and one-line errors without tracebacks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import run_ann


def test_console_script_is_installed():
    if shutil.which("ann") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the `ann` command is not on PATH after `pip install .`")
        pytest.skip("ann is not installed as a command here")
    out = subprocess.run(["ann", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train" in out.stdout


def test_gradcheck_command_passes():
    out = run_ann("gradcheck")
    assert out.returncode == 0, out.stdout + out.stderr
    errors = [float(v) for v in re.findall(r"(?:weights|biases) ([0-9.e+-]+)", out.stdout)]
    assert len(errors) == 8 and max(errors) <= 1e-3
    assert "gradcheck: passed" in out.stdout


def test_train_command_on_full_mnist(mnist_dir):
    data = mnist_dir
    out = run_ann(
        "train",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--layers",
        "32",
        "--batch-size",
        "128",
        "--lr",
        "0.1",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    accuracy = float(re.search(r"test: loss [0-9.]+, accuracy ([0-9.]+)", out.stdout).group(1))
    assert accuracy >= 0.85
    assert "48000 train / 12000 validation / 10000 test" in out.stdout
    assert out.stderr == ""


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--layers", "20,x"], "--layers"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, needle):
    out = run_ann(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_explicit_data_folder_that_is_wrong_is_an_error(tmp_path):
    out = run_ann("train", "--data", str(tmp_path), "--epochs", "1", "--quiet")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "Traceback" not in out.stderr
