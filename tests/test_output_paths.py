"""No output of a command may be one of its inputs or another of its outputs (issue 23, item 2):
``--save``, ``--log`` and ``--plot-file`` are compared with --data (the CSV file, or every IDX
file of the folder), --resume and each other, as files (links resolved, hard links too)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import HERE, one_stderr_line, run_ann

import ann

FRUIT = HERE / "data" / "fruit.csv"
SAMPLE = Path(ann.__file__).parent / "data" / "sample"  # the installed copy


@pytest.fixture
def data(tmp_path):
    """A copy of the fruit table in tmp_path (the working folder of the runs below)."""
    copy = tmp_path / "data.csv"
    shutil.copyfile(FRUIT, copy)
    return copy


def train(tmp_path, *args):
    return run_ann("train", "--data", "data.csv", "--epochs", "1", "--quiet", *args, cwd=tmp_path)


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--save", "data.csv"], "--save data.csv would overwrite --data data.csv"),
        (["--log", "data.csv"], "--log data.csv would overwrite --data"),
        (["--plot-file", "./data.csv"], "--plot-file ./data.csv would overwrite --data"),
        (["--save", "m.st", "--log", "m.st"], "--save m.st and --log m.st are one file"),
        (["--save", "m.st", "--plot-file", "sub/../m.st"], "--plot-file sub/../m.st are one"),
        (["--log", "h.jsonl", "--plot-file", "h.jsonl"], "--log h.jsonl and --plot-file"),
    ],
)
def test_an_output_that_is_an_input_or_another_output_is_refused(tmp_path, data, flags, needle):
    (tmp_path / "sub").mkdir()
    before = data.read_bytes()
    out = train(tmp_path, *flags)
    assert out.returncode == 2
    one_stderr_line(out, needle)
    assert data.read_bytes() == before
    assert not (tmp_path / "m.st").exists() and not (tmp_path / "h.jsonl").exists()


def test_links_to_the_data_are_the_data(tmp_path, data):
    before = data.read_bytes()
    os.link(data, tmp_path / "hard.csv")
    os.symlink(data, tmp_path / "soft.csv")
    for name in ("hard.csv", "soft.csv"):
        out = train(tmp_path, "--save", name)
        assert out.returncode == 2
        one_stderr_line(out, f"--save {name} would overwrite --data data.csv")
    assert data.read_bytes() == before


def test_resume_may_be_saved_in_place_but_not_logged_over(tmp_path, data):
    assert train(tmp_path, "--save", "m.st").returncode == 0
    model = tmp_path / "m.st"
    first = model.read_bytes()
    out = train(tmp_path, "--resume", "m.st", "--log", "m.st")
    assert out.returncode == 2
    one_stderr_line(out, "--log m.st would overwrite --resume m.st")
    assert model.read_bytes() == first
    out = train(tmp_path, "--resume", "m.st", "--save", "m.st")  # continue in place
    assert out.returncode == 0, out.stderr
    assert model.read_bytes() != first and "resumed from m.st" in out.stdout


def test_the_files_of_an_idx_folder_are_inputs(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "idx")
    target = tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz"
    before = target.read_bytes()
    out = run_ann(
        "train", "--data", "idx", "--save", str(target), "--epochs", "1", "--quiet", cwd=tmp_path
    )
    assert out.returncode == 2
    one_stderr_line(out, f"--save {target} would overwrite --data", "t10k-labels")
    out = run_ann(
        "experiment", "--data", "idx", "--quick", "--plot-file", str(target), cwd=tmp_path
    )
    assert out.returncode == 2
    one_stderr_line(out, "ann experiment: --plot-file", "would overwrite --data")
    assert target.read_bytes() == before


def test_export_never_writes_over_its_model_or_its_data(tmp_path, data):
    assert train(tmp_path, "--save", "m.st").returncode == 0
    model = (tmp_path / "m.st").read_bytes()
    before = data.read_bytes()
    for args, needle in (
        (["export-onnx", "m.st", "-o", "m.st"], "-o m.st would overwrite MODEL m.st"),
        (["export-c", "m.st", "-o", "./m.st"], "-o ./m.st would overwrite MODEL m.st"),
        (
            ["export-c", "m.st", "--int8", "--data", "data.csv", "-o", "data.csv"],
            "-o data.csv would overwrite --data data.csv",
        ),
    ):
        out = run_ann(*args, cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        one_stderr_line(out, f"ann {args[0]}: {needle}")
    assert (tmp_path / "m.st").read_bytes() == model and data.read_bytes() == before
    out = run_ann("export-c", "m.st", "-o", "m.h", cwd=tmp_path)  # another name: written
    assert out.returncode == 0 and (tmp_path / "m.h").read_text().startswith("/*")
