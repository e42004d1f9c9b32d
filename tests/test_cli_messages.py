"""Flags and settings that went wrong in a way a user could not act on (issue 23, items 8, 10
and 12): tracebacks, range errors that did not name the setting, a variable ignored without a
word, advice that did not apply, two runs saving to one file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
from conftest import HERE, one_stderr_line, run_ann, run_python, start_ann

import ann

FRUIT = str(HERE / "data" / "fruit.csv")


def usage_error(out, *needles):
    assert out.returncode == 2, out.stdout + out.stderr
    return one_stderr_line(out, *needles)


# ---- item 8: tracebacks -------------------------------------------------------------------


def test_gradcheck_of_one_class_is_a_usage_error():
    usage_error(run_ann("gradcheck", "--classes", "1"), "--classes 1", "give 2 or more")


def test_a_warmup_longer_than_the_run_is_refused():
    out = run_ann("train", "--data", FRUIT, "--warmup", "1e308", "--quiet")
    usage_error(out, "--warmup", "float32")
    out = run_ann("train", "--data", FRUIT, "--warmup", "3", "--epochs", "2", "--quiet")
    usage_error(out, "--warmup 3 is longer than the whole run (--epochs 2)")


def test_the_library_checks_a_one_class_network_without_dividing_by_zero():
    from ann._gradcheck import gradcheck

    report = gradcheck([4, 1])  # every gradient of a one-class softmax is 0
    assert report[0]["max_abs_grad"] == 0.0 and report[0]["weights_error"] == 0.0


def test_a_warmup_of_1e308_epochs_trains_without_overflow():
    net = ann.Network([2, 2])
    data = ann.Dataset([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    warmup = ann.Warmup(epochs=1e308)  # x 2 steps per epoch: beyond float64
    history = net.fit(data, epochs=1, batch_size=1, schedule=warmup, progress=False)
    assert history.stopped_step == 2


# ---- item 10: labels past 255, no cap on gradcheck, a trace check that says what it checks --


def test_gradcheck_and_trace_take_more_than_256_classes():
    # --seed 1 draws labels past 255 among its 8 (seed 0 happens not to)
    out = run_ann("gradcheck", "--classes", "300", "--inputs", "4", "--layers", "5", "--seed", "1")
    assert out.returncode == 0 and "gradcheck: passed" in out.stdout, out.stderr
    out = run_ann("trace", "--layers", "4,3,300", "--batch", "32", "--json")
    assert out.returncode == 0, out.stderr
    assert max(json.loads(out.stdout)["labels"]) >= 256  # the labels that failed before
    result = ann.Network([4, 3, 300], seed=0).trace(bytes(8), [299, 256])
    assert result["ok"] and result["labels"] == [299, 256]


def test_a_trace_with_a_huge_lr_reports_the_difference_it_checks():
    out = run_ann("trace", "--lr", "1e30")
    assert out.returncode == 0, out.stderr
    check = [line for line in out.stdout.splitlines() if line.startswith("check: largest")]
    assert len(check) == 1 and "e+2" not in check[0]  # not the 2.5e+22 absolute of b_new
    step = [line for line in out.stdout.splitlines() if "ann_net_train_step" in line][0]
    assert re.search(
        r"largest difference \d\.\de\+\d\d, \d\.\de-\d\d of the parameters' size", step
    )


def test_a_trace_whose_steps_diverge_names_the_step_and_the_learning_rate():
    # step 1's update at lr 1e30 makes step 2's loss overflow float32: the message says which
    # step, after how many updates, and which setting to change, in one line and no traceback
    if not ann.backend_info()["c_core"]:
        pytest.skip("needs the C core (float32 overflows where the float64 reference does not)")
    out = run_ann("trace", "--lr", "1e30", "--steps", "2", env={"ANN_BACKEND": "c"})
    assert out.returncode == 1, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("ann: error:")]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "step 2 of the trace" in lines[0] and "after 1 update" in lines[0]
    assert "1e+30 (--lr)" in lines[0]


def test_gradcheck_refuses_a_network_it_would_take_minutes_to_check():
    out = run_ann("gradcheck", "--inputs", "300", "--layers", "300", timeout=60)
    usage_error(out, "300-300-4 network has 91,504 parameters", "at most 4,330 parameters")


# ---- item 12: range errors name the setting -----------------------------------------------


@pytest.mark.parametrize(
    "flag,value,says",
    [
        ("--lr", "1e39", "is above float32's largest"),
        ("--lr", "1e-50", "rounds to 0"),
        ("--dropout", "0.99999999999", "rounds to 1"),
        ("--momentum", "0.999999999", "rounds to 1"),
        ("--shift", "1e300", "is above float32's largest"),
        ("--l2", "1e39", "is above float32's largest"),
    ],
)
def test_a_value_float32_cannot_hold_names_the_flag(flag, value, says):
    out = run_ann("train", "--data", FRUIT, flag, value, "--epochs", "1", "--quiet")
    line = usage_error(out, f"argument {flag}:", value, says)
    assert "out of range" not in line


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "4 "])
def test_a_bad_ann_num_threads_is_an_error(value):
    out = run_ann("gradcheck", env={"ANN_NUM_THREADS": value})
    usage_error(out, f"ANN_NUM_THREADS={value!r} is not a thread count")


def test_the_library_warns_once_of_a_bad_ann_num_threads(tmp_path):
    code = "import ann; ann.Network([2, 2]); ann.Network([2, 2]); print(ann.get_num_threads())"
    out = run_python(code, env={"ANN_BACKEND": None, "ANN_NUM_THREADS": "abc"}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("RuntimeWarning") == 1
    assert "ANN_NUM_THREADS='abc' is not a thread count" in out.stderr
    assert "using one thread per core" in out.stderr


def test_too_many_threads_in_ann_num_threads_get_a_note():
    out = run_ann("gradcheck", env={"ANN_NUM_THREADS": "1000", "ANN_BACKEND": None})
    assert out.returncode == 0
    assert "ANN_NUM_THREADS=1000: the C core runs at most 64 threads" in out.stderr


def test_resuming_a_csv_model_asks_for_its_csv_file(tmp_path):
    model = tmp_path / "fruit.st"
    out = run_ann("train", "--data", FRUIT, "--save", str(model), "--epochs", "1", "--quiet")
    assert out.returncode == 0, out.stderr
    out = run_ann("train", "--resume", str(model), "--epochs", "1", "--quiet")
    line = usage_error(out, "was trained on a CSV file", "--data FILE.csv")
    assert "--dataset csv" not in line


@pytest.mark.parametrize("command", ["trace", "augment-preview"])
def test_commands_that_read_only_idx_do_not_offer_csv(command):
    help_text = run_ann(command, "--help").stdout
    assert "CSV" not in help_text and "--label" not in help_text
    out = run_ann(
        command,
        "--digits" if command == "trace" else "--n",
        *([] if command == "trace" else ["2"]),
        "--data",
        FRUIT,
    )
    usage_error(out, f"ann {command}: --data {FRUIT}", "not a CSV file")


def test_train_help_reads_as_a_sentence():
    text = " ".join(run_ann("train", "--help").stdout.split())
    assert "; ," not in text
    assert "'sample' (MNIST's built-in sample), or a CSV file of your own" in text


def test_a_preset_that_augments_on_a_csv_file_says_to_turn_it_off():
    out = run_ann("train", "--data", FRUIT, "--preset", "best", "--epochs", "1")
    usage_error(out, "--augment affine+elastic (--preset best sets it)", "give --augment none")


def test_one_epoch_is_singular():
    out = run_ann("train", "--data", FRUIT, "--epochs", "1", "--quiet")
    assert "up to 1 epoch," in out.stdout and "1 epochs" not in out.stdout


# ---- item 12: two runs saving to one file --------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="no flock: saves are not locked there")
def test_a_second_run_saving_to_the_same_file_is_refused(tmp_path):
    sample = tmp_path / "idx"
    shutil.copytree(Path(ann.__file__).parent / "data" / "sample", sample)
    model = tmp_path / "m.st"
    forever = ["--epochs", "100000", "--patience", "0", "--layers", "64"]
    first = start_ann("train", "--data", str(sample), "--save", str(model), *forever)
    try:
        for line in first.stdout:  # "data: ..." comes once the lock is held
            if line.startswith("data:"):
                break
        out = run_ann("train", "--data", str(sample), "--save", str(model), "--epochs", "1")
        assert out.returncode == 1
        one_stderr_line(out, f"--save {model}: another run is saving to this file", str(first.pid))
        link = tmp_path / "link.st"
        os.symlink(model, link)  # the same file by another name
        out = run_ann("train", "--data", str(sample), "--save", str(link), "--epochs", "1")
        one_stderr_line(out, "another run is saving to this file")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    # the lock went with the first run, and a lock file left by a killed one blocks nothing
    (tmp_path / ".m.st.lock").write_text("99999\n")
    out = run_ann("train", "--data", str(sample), "--save", str(model), "--epochs", "1")
    assert out.returncode == 0, out.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
