"""The command line's --activation, --head, --init and --negative-slope (issue 22): ann train
builds and saves the network they describe, ann trace traces it (each C function against its
float64 twin), ann gradcheck checks it, and what cannot work is one line, exit status 2."""

from __future__ import annotations

import json

import pytest
from conftest import one_stderr_line, run_ann

import ann


def test_train_builds_saves_and_reports_the_design(tmp_path):
    model = tmp_path / "m.safetensors"
    out = run_ann(
        "train",
        "--data",
        "sample",
        "--layers",
        "16",
        "--epochs",
        "1",
        "--activation",
        "leaky-relu",
        "--negative-slope",
        "0.2",
        "--head",
        "sigmoid-bce",
        "--init",
        "he",
        "--quiet",
        "--save",
        str(model),
    )
    assert out.returncode == 0, out.stderr
    assert "network: 784-16-10, leaky-relu, sigmoid-bce head" in out.stdout
    net = ann.Network.load(model)
    assert (net.activations, net.head, net.negative_slope) == (["leaky-relu"], "sigmoid-bce", 0.2)
    # He with the slope: the first layer's bound is sqrt(6 / ((1 + 0.2^2) 784))
    resumed = run_ann(
        "train", "--data", "sample", "--resume", str(model), "--epochs", "1", "--quiet"
    )
    assert resumed.returncode == 0, resumed.stderr


def test_resuming_with_another_design_is_refused_in_one_line(tmp_path):
    model = tmp_path / "m.safetensors"
    ann.Network([784, 8, 10], activation="tanh").save(model)
    for flag, value, has in (
        ("--activation", "relu", "tanh"),
        ("--head", "sigmoid-mse", "softmax-ce"),
    ):
        out = run_ann("train", "--data", "sample", "--resume", str(model), flag, value)
        assert out.returncode == 2
        one_stderr_line(out, f"{flag} {value} does not match the resumed model's {has}")


def test_an_unknown_activation_or_head_is_a_usage_error():
    for flag, value in (("--activation", "swish"), ("--head", "hinge"), ("--init", "xavier")):
        out = run_ann("train", "--data", "sample", flag, value)
        assert out.returncode == 2
        one_stderr_line(out, flag, repr(value))
    out = run_ann("train", "--data", "sample", "--negative-slope", "-1")
    assert out.returncode == 2
    one_stderr_line(out, "--negative-slope", "must be a finite number >= 0")


@pytest.mark.parametrize(
    "activation,head,words",
    [
        ("sigmoid", "sigmoid-mse", ("then sigmoid", "sigmoid + mean squared error")),
        ("gelu", "identity-mse", ("then GELU", "identity + mean squared error")),
        ("tanh", "sigmoid-bce", ("then tanh", "sigmoid + binary cross-entropy")),
    ],
)
def test_trace_traces_the_design_and_checks_every_function(activation, head, words):
    out = run_ann("trace", "--seed", "1", "--activation", activation, "--head", head, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] and result["activations"] == [activation] and result["head"] == head
    a = result["forward"][0]["tensors"]["a"]
    assert a["function"] == f"ann_{activation}_forward" and a["difference"] is not None
    loss = result["loss"]
    assert loss["t"]["values"] == [[0.0, 1.0], [1.0, 0.0]]  # one-hot of labels [1, 0]
    assert (
        loss["loss"]["function"]
        == {
            "sigmoid-mse": "ann_sigmoid_mse",
            "identity-mse": "ann_identity_mse",
            "sigmoid-bce": "ann_sigmoid_bce",
        }[head]
    )
    text = run_ann("trace", "--seed", "1", "--activation", activation, "--head", head).stdout
    assert all(w in text for w in words)


def test_trace_of_a_saturated_sigmoid_mse_unit_by_hand():
    """The backward of sigmoid + MSE is 2 (p - t) p (1 - p) / (B K): worked out here from the
    trace's own p and t."""
    out = run_ann(
        "trace", "--seed", "1", "--activation", "sigmoid", "--head", "sigmoid-mse", "--json"
    )
    result = json.loads(out.stdout)
    p, t = result["loss"]["p"]["values"], result["loss"]["t"]["values"]
    dz = result["backward"][0]["tensors"]["dz"]["values"]
    for r in range(2):
        for k in range(2):
            want = 2 * (p[r][k] - t[r][k]) * p[r][k] * (1 - p[r][k]) / 4
            assert dz[r][k] == pytest.approx(want, rel=1e-5)


def test_trace_digits_with_one_output_is_refused():
    out = run_ann(
        "trace", "--digits", "--data", "sample", "--layers", "784,4,1", "--head", "sigmoid-bce"
    )
    assert out.returncode == 2
    one_stderr_line(out, "--digits has 10 classes")


def test_gradcheck_takes_the_design():
    out = run_ann("gradcheck", "--activation", "gelu", "--head", "sigmoid-bce", "--layers", "5")
    assert out.returncode == 0, out.stderr
    assert "gelu hidden layers, sigmoid-bce head" in out.stdout
    assert out.stdout.strip().endswith("gradcheck: passed")
