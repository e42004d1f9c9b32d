"""``ann train --save`` when a checkpoint cannot be written (a full disk, simulated in-process
by an ENOSPC from the write itself): warn, keep training, keep the last good file, and fail at
the end only if the model still cannot be written (issue 12, item 19)."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

import ann
import ann._files as files
import ann._safetensors as sft
from ann.cli import main

ARGS = [
    "train",
    "--data",
    "sample",
    "--no-download",
    "--quiet",
    "--epochs",
    "2",
    "--check-every",
    "20",
    "--patience",
    "50",
    "--lr",
    "0.05",
]


@pytest.fixture
def disk(monkeypatch):
    """``disk.full_for(saves)``: the model saves whose numbers (1, 2, ...) are in ``saves``
    fail with ENOSPC while writing the data, as on a full disk."""

    class Disk:
        def __init__(self):
            self.saves = 0  # model saves so far
            self.failing = set()  # the numbers of the saves that hit a full disk
            self.failed = []  # the numbers of those that did

        def full_for(self, saves):
            self.failing = saves

    state = Disk()
    real_atomic, real_write_all = sft._atomic_write, files._write_all
    full = {"now": False}

    def counting_atomic(path, header, blobs):
        state.saves += 1
        full["now"] = state.saves in state.failing
        if full["now"]:
            state.failed.append(state.saves)
        try:
            real_atomic(path, header, blobs)
        finally:
            full["now"] = False

    def write_all(out, data):
        if full["now"]:
            real_write_all(out, bytes(memoryview(data).cast("B")[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(out, data)

    monkeypatch.setattr(sft, "_atomic_write", counting_atomic)
    monkeypatch.setattr(files, "_write_all", write_all)
    return state


def _run(capsys, path: Path):
    status = main(ARGS + ["--save", str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def _best_step(out: str) -> int:
    return int(re.search(r"best validation loss [0-9.]+ at step (\d+)", out).group(1))


def test_checkpoint_saves_without_failures_count(disk, capsys, tmp_path):
    """The baseline the other tests rely on: several checkpoint saves in one run."""
    status, out, err = _run(capsys, tmp_path / "m.safetensors")
    assert status == 0 and disk.saves >= 4 and disk.failed == []
    assert "could not save" not in err and "model saved to" in out


def test_failed_checkpoints_warn_once_and_training_goes_on(disk, capsys, tmp_path):
    path = tmp_path / "m.safetensors"
    disk.full_for({2, 3})
    status, out, err = _run(capsys, path)
    assert status == 0, err
    assert disk.failed == [2, 3] and disk.saves >= 4
    lines = err.splitlines()
    warnings = [line for line in lines if "warning: could not save" in line]
    assert len(warnings) == 1, err
    assert "No space left on device" in warnings[0] and "training goes on" in warnings[0]
    assert "keeps the model of step 20" in warnings[0]
    assert any(line.startswith("ann: saved the model of step") for line in lines)
    assert "Traceback" not in err
    assert "stopped: completed after 250 steps" in out and "model saved to" in out
    saved = ann.Network.load(path)
    assert int(saved.metadata["best_step"]) == _best_step(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_disk_full_to_the_end_keeps_the_last_good_file_and_fails_at_the_end(disk, capsys, tmp_path):
    path = tmp_path / "m.safetensors"
    disk.full_for(set(range(2, 1000)))
    status, out, err = _run(capsys, path)
    assert status == 1
    assert "stopped: completed after 250 steps" in out  # trained to the end
    # the file holds step 20, the network later weights: both are reported, labelled
    assert "test (saved model, step 20, best validation loss): loss" in out
    assert "model saved to" not in out
    lines = err.splitlines()
    assert len([line for line in lines if "warning: could not save" in line]) == 1
    assert lines[-1] == (
        f"ann: error: the model was not saved: {path}: cannot write: No space "
        f"left on device (the file keeps the model of step 20)"
    )
    assert _best_step(out) > 20
    assert ann.Network.load(path).metadata["best_step"] == "20"  # the last good file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_final_save_retries_the_best_model_not_the_last_weights(disk, capsys, tmp_path):
    """Without early stopping the network ends with its last weights; the file must still get
    the best model, whose checkpoint failed, once the disk has room again at the end."""
    path = tmp_path / "m.safetensors"
    args = [a for a in ARGS if a not in ("--patience", "50", "--lr", "0.05")] + [
        "--patience",
        "0",
        "--lr",
        "0.2",
    ]
    status = main(args + ["--save", str(tmp_path / "ref.safetensors")])
    ref_out, _ = capsys.readouterr()
    assert status == 0
    reference = ann.Network.load(tmp_path / "ref.safetensors")
    best = _best_step(ref_out)
    assert best < 250  # the run ends with other weights than the best
    n_saves = disk.saves  # the same run again saves as often; its last save fails
    disk.full_for({2 * n_saves})
    status = main(args + ["--save", str(path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "warning: could not save the model of step" in err
    assert disk.failed and _best_step(out) == best
    saved = ann.Network.load(path)
    assert saved.get_weights() == reference.get_weights()
    assert saved.metadata["best_step"] == str(best)


def test_no_checkpoint_can_be_written_at_all(disk, capsys, tmp_path):
    path = tmp_path / "m.safetensors"
    disk.full_for(set(range(1, 1000)))
    status, out, err = _run(capsys, path)
    assert status == 1 and "test: loss" in out
    assert err.splitlines()[-1] == (
        f"ann: error: the model was not saved: {path}: cannot write: No space left on device"
    )
    assert list(tmp_path.iterdir()) == []
