"""`ann export-c`, `ann export-onnx` and `ann evaluate --int8` through the real command, on the
committed seed network (tests/data/seed-mnist.safetensors) with MNIST's built-in sample for
calibration, and on a small CSV model: what they write compiles and computes what ann computes,
and every bad input ends with one line, exit status 2, and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from conftest import run_ann
from export_helpers import bits, build, run, single_header_program

import ann

DATA = Path(__file__).resolve().parent / "data"
SEED = DATA / "seed-mnist.safetensors"


def ok(*args: str) -> str:
    done = run_ann(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def compile_driver(tmp: Path, header: Path, prefix: str, ctype: str, n: int) -> Path:
    """A program around ``header`` (in ``tmp``) reading rows of n ``ctype`` values."""
    assert header.parent == tmp
    return build(tmp, single_header_program(header.name, prefix, ctype, n))


@pytest.fixture(scope="module")
def sample():
    return ann.load_mnist("sample", progress=False)


def test_export_c_float_and_int8_compile_and_agree(tmp_path, sample):
    train, test = sample
    float_h, int8_h = tmp_path / "digits.h", tmp_path / "digits_int8.h"
    out = ok("export-c", str(SEED), "-o", str(float_h))
    assert "float32 C99" in out and "digits_predict_u8" in out
    out = ok("export-c", str(SEED), "--int8", "--data", "sample", "-o", str(int8_h))
    assert "int8 C99" in out and "test accuracy" in out
    net = ann.Network.load(SEED)
    q = ann.quantize(net, train)  # what the command did: the same rows, the same tables
    images = b"".join(bytes(test[i][0]) for i in range(len(test)))
    exe = compile_driver(tmp_path, int8_h, "digits_int8", "uint8_t", 784)
    for i, (k, score_bits) in enumerate(run(exe, images)):
        cls, scores, _ = q.run(test[i][0])
        assert (k, score_bits) == (cls, [bits(s) for s in scores]), i
    exe = compile_driver(tmp_path, float_h, "digits", "uint8_t", 784)
    assert [k for k, _ in run(exe, images)] == net.predict(test)
    assert "Test accuracy" in int8_h.read_text()


def test_evaluate_int8_reports_the_int8_arithmetic(sample):
    train, test = sample
    report = json.loads(ok("evaluate", str(SEED), "--int8", "--data", "sample", "--json"))
    q = ann.quantize(ann.Network.load(SEED), train)
    assert report["int8"] is True
    assert report["accuracy"] == q.evaluate(test)["accuracy"]
    assert report["float_accuracy"] == ann.Network.load(SEED).evaluate(test)["accuracy"]
    assert report["calibration"] == q.calibration
    text = ok("evaluate", str(SEED), "--int8", "--data", "sample", "--calibrate", "50")
    assert "calibrated on 50 of the" in text and "points" in text


def test_export_onnx_writes_a_model(tmp_path):
    out = ok("export-onnx", str(SEED), "-o", str(tmp_path / "seed.onnx"))
    assert "opset 17" in out
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(onnx.load(str(tmp_path / "seed.onnx")), full_check=True)


def test_default_output_is_beside_the_model(tmp_path):
    model = tmp_path / "seed.safetensors"
    shutil.copy(SEED, model)
    ok("export-c", str(model))
    ok("export-c", str(model), "--int8", "--data", "sample", "--calibrate", "20")
    ok("export-onnx", str(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "seed.h",
        "seed.onnx",
        "seed.safetensors",
        "seed_int8.h",
    ]
    assert "static inline int seed_int8_predict(" in (tmp_path / "seed_int8.h").read_text()


@pytest.fixture(scope="module")
def fruit_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fruit")
    model = folder / "fruit.safetensors"
    ok(
        "train",
        "--data",
        str(DATA / "fruit.csv"),
        "--epochs",
        "20",
        "--quiet",
        "--save",
        str(model),
    )
    return model


def test_csv_model_int8_calibrates_on_its_training_rows(tmp_path, fruit_model):
    target = tmp_path / "fruit_int8.h"
    done = run_ann("export-c", str(fruit_model), "--int8", "-o", str(target))
    assert done.returncode == 2 and "--data FILE.csv" in done.stderr
    assert not target.exists()
    ok("export-c", str(fruit_model), "--int8", "--data", str(DATA / "fruit.csv"), "-o", str(target))
    net = ann.Network.load(fruit_model)
    train = ann.load_csv(DATA / "fruit.csv", classes=net.classes)
    test = ann.load_csv(DATA / "fruit-test.csv", classes=net.classes)
    q = ann.quantize(net, train)
    rows = [test[i][0] for i in range(len(test))]
    data = b"".join(struct.pack(f"<{len(r)}f", *r) for r in rows)
    exe = compile_driver(tmp_path, target, "fruit_int8", "float", net.sizes[0])
    for row, (k, score_bits) in zip(rows, run(exe, data)):
        cls, scores, _ = q.run(row)
        assert (k, score_bits) == (cls, [bits(s) for s in scores])
    report = json.loads(
        ok(
            "evaluate",
            str(fruit_model),
            "--data",
            str(DATA / "fruit-test.csv"),
            "--int8",
            "--calibration-data",
            str(DATA / "fruit.csv"),
            "--json",
        )
    )
    assert report["accuracy"] == q.evaluate(test)["accuracy"]
    done = run_ann("evaluate", str(fruit_model), "--data", str(DATA / "fruit-test.csv"), "--int8")
    assert done.returncode == 2 and "--calibration-data FILE.csv" in done.stderr


def bad_cases(tmp: Path) -> list[tuple[list[str], str, Path | None]]:
    """(arguments, a word the one-line message must hold, a file that must not appear)."""
    not_model = tmp / "notes.safetensors"
    not_model.write_text("not a model\n")
    return [
        (["export-c", str(not_model), "-o", str(tmp / "a.h")], "not a model", tmp / "a.h"),
        (["export-onnx", str(not_model), "-o", str(tmp / "a.onnx")], "not a model", None),
        (["export-c", str(SEED), "--name", "2fast", "-o", str(tmp / "b.h")], "C identifier", None),
        (["export-c", str(SEED), "--name", "int", "-o", str(tmp / "b.h")], "keyword", None),
        (["export-c", str(SEED), "-o", str(tmp / "my-net.h")], "--name", tmp / "my-net.h"),
        (["export-c", str(SEED), "-o", str(tmp / "no" / "c.h")], "does not exist", None),
        (["export-onnx", str(SEED), "-o", str(tmp / "no" / "c.onnx")], "does not exist", None),
        (
            ["export-c", str(SEED), "--int8", "--data", "sample", "--calibrate", "20000"]
            + ["-o", str(tmp / "d.h")],
            "has only",
            tmp / "d.h",
        ),
        (["export-c", str(SEED), "--calibrate", "10", "-o", str(tmp / "e.h")], "--int8", None),
        (["evaluate", str(SEED), "--calibrate", "10"], "--int8", None),
        (["export-c", str(SEED), "--int8", "--calibrate", "0"], "--calibrate", None),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for args, word, target in bad_cases(tmp_path):
        before = set(os.listdir(tmp_path))
        done = run_ann(*args)
        assert done.returncode == 2, (args, done.stderr)
        # one line, after the note that says the built-in sample is read, if it is
        lines = [line for line in done.stderr.splitlines() if "built-in sample" not in line]
        assert len(lines) == 1 and word in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert set(os.listdir(tmp_path)) == before, args  # nothing written, no temporary file
        if target is not None:
            assert not target.exists()


def test_a_failing_export_keeps_the_old_file(tmp_path):
    target = tmp_path / "d.h"
    target.write_text("the old header\n")
    done = run_ann(
        "export-c",
        str(SEED),
        "--int8",
        "--data",
        "sample",
        "--calibrate",
        "20000",
        "-o",
        str(target),
    )
    assert done.returncode == 2
    assert target.read_text() == "the old header\n"
