"""What `ann train` / `ann predict` report and keep when a run goes wrong (issue 12, items 2-6):
predictions that match their inputs, out-of-memory and divergence that say what happened and
keep the best model, resuming with the optimizer state, and test accuracy of what was saved."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import ann
from ann._images import encode_png_gray

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args, timeout=600, env=None, preexec_fn=None):
    # cwd is the tests folder, so `-m ann` imports the installed package, not the source tree
    return subprocess.run([sys.executable, "-m", "ann", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=HERE, env=env, preexec_fn=preexec_fn)


def one_error_line(out, *needles):
    assert out.returncode == 1, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---- item 2: ann predict checks image sizes against the model ---------------------------------

def test_predict_refuses_images_for_a_model_whose_input_is_not_square(tmp_path):
    # 28 inputs and 28 PNGs of 5x5: the 700 pixels used to be re-cut into 25 rows of 28 and
    # printed as 25 predictions with exit status 0
    model = tmp_path / "m28.safetensors"
    ann.Network([28, 8, 10], seed=0).save(model)
    files = []
    for i in range(28):
        path = tmp_path / f"p{i:02}.png"
        path.write_bytes(encode_png_gray(5, 5, bytes(range(i, i + 25))))
        files.append(str(path))
    out = run("predict", str(model), *files)
    one_error_line(out, "p00.png", "28 inputs", "not a square")
    assert out.stdout == ""


def test_predict_prints_one_result_per_image(tmp_path):
    model = tmp_path / "m.safetensors"
    ann.Network([16, 8, 10], seed=0).save(model)
    files = []
    for i in range(3):
        path = tmp_path / f"q{i}.png"
        path.write_bytes(encode_png_gray(4, 4, bytes(range(i * 10, i * 10 + 16))))
        files.append(str(path))
    out = run("predict", str(model), *files)
    assert out.returncode == 0, out.stderr
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == files
