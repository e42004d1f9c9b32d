"""Networks with other activations and heads, end to end through the exporters (issue 22): a
network trained by ann with sigmoid, tanh, GELU or leaky ReLU hidden units and each head is
exported as a float32 C header and as ONNX, and both compute what ``predict_values`` gives."""

from __future__ import annotations

import random
from array import array

import pytest
from export_helpers import as_float, build, run, single_header_program

import ann

DESIGNS = [
    ("sigmoid", "softmax-ce"),
    ("tanh", "sigmoid-bce"),
    ("gelu", "identity-mse"),
    ("leaky-relu", "sigmoid-mse"),
]
N, D, K = 40, 6, 3


def trained(activation: str, head: str) -> tuple[ann.Network, list[list[float]]]:
    """A 6-10-8-3 network of the design, trained for a few epochs on synthetic rows (so that
    its weights are not the initial ones), and those rows."""
    rng = random.Random(7)
    X = [[rng.uniform(-3.0, 3.0) for _ in range(D)] for _ in range(N)]
    if head == "softmax-ce":
        ds = ann.Dataset(X, [int(x[0] > 0) + int(x[1] > 0) for x in X])
    elif head == "identity-mse":  # a regression with targets far from [0, 1]
        ds = ann.Dataset(X, targets=[[10 * x[0] - x[1], x[2] * x[3], 5.0] for x in X])
    else:
        ds = ann.Dataset(X, targets=[[float(x[k] > 0) for k in range(K)] for x in X])
    net = ann.Network(
        [D, 10, 8, K], activation=activation, head=head, negative_slope=0.1, init="auto", seed=2
    )
    net.fit(ds, epochs=5, batch_size=8, lr=0.05, progress=False)
    return net, X


@pytest.mark.parametrize("activation,head", DESIGNS)
def test_float_header_computes_what_predict_does(tmp_path, activation, head):
    net, X = trained(activation, head)
    ann.export_c(net, tmp_path / "model.h", name="model")
    source = single_header_program("model.h", "model", "float", D)
    exe = build(tmp_path, source)
    rows = run(exe, array("f", [v for row in X for v in row]).tobytes())
    want = net.predict_values(X)
    assert len(rows) == N
    for (cls, score_bits), values in zip(rows, want):
        got = [as_float(b) for b in score_bits]
        scale = max([1.0] + [abs(v) for v in values])
        assert max(abs(g - v) for g, v in zip(got, values)) <= 1e-5 * scale, (got, values)
        if head != "identity-mse":  # a regression has no class
            assert cls == max(range(K), key=lambda k: (values[k], -k))


@pytest.mark.parametrize("activation,head", DESIGNS)
def test_onnx_computes_what_predict_does(tmp_path, activation, head):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    net, X = trained(activation, head)
    path = tmp_path / "model.onnx"
    ann.export_onnx(net, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"input": np.array(X, dtype=np.float32)})[0]
    want = np.array(net.predict_values(X))
    scale = max(1.0, float(np.abs(want).max()))
    assert float(np.abs(scores - want).max()) <= 1e-5 * scale


def test_int8_calibrates_on_a_data_set_of_float_targets(tmp_path):
    """A regression's training set has targets, no labels: calibration reads its rows."""
    net, X = trained("gelu", "identity-mse")
    calibration = ann.Dataset(X, targets=[[0.0, 0.0, 0.0]] * N)
    q = ann.quantize(net, calibration)
    ann.export_c(q, tmp_path / "model_int8.h", name="model")
    assert "model_predict" in (tmp_path / "model_int8.h").read_text()
