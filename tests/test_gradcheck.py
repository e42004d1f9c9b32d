"""Analytic gradients of the C core and the reference against central finite differences."""

from __future__ import annotations

import pytest

from ann._gradcheck import TOLERANCE, gradcheck


@pytest.mark.parametrize("backend", ["c", "python"])
@pytest.mark.parametrize("sizes,batch", [([12, 9, 7, 5, 4], 8), ([6, 3], 1), ([5, 11, 3], 13)])
def test_gradients_match_finite_differences(backend, sizes, batch):
    report = gradcheck(sizes, batch=batch, seed=1, backend=backend)
    assert len(report) == len(sizes) - 1
    for row in report:
        assert row["max_abs_grad"] > 1e-4, f"layer {row['layer']} gradient is trivially zero"
        assert row["weights_error"] <= TOLERANCE, row
        assert row["biases_error"] <= TOLERANCE, row


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    """Break the reference backward (drop the 1/B of the softmax gradient): the check must fail."""
    from ann import _reference as ref

    original = ref.softmax_cross_entropy

    def wrong(logits, labels, B, K):
        loss, probs, grads = original(logits, labels, B, K)
        return loss, probs, [g * B for g in grads]

    monkeypatch.setattr(ref, "softmax_cross_entropy", wrong)
    # the probe forward uses only the loss, so only the analytic side is wrong
    report = gradcheck([6, 5, 3], batch=4, seed=0, backend="python")
    assert max(row["weights_error"] for row in report) > TOLERANCE


ACTIVATIONS = ["identity", "relu", "leaky-relu", "sigmoid", "tanh", "gelu"]
HEADS = ["softmax-ce", "sigmoid-bce", "identity-mse", "sigmoid-mse"]
# A network small enough for 24 checks, deep enough for the gradient to pass two activations.
# (A sigmoid network's first layer gets gradients ~1e-4 of the top's: checked, not dead.)
SMALL = [7, 6, 5, 3]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("backend", ["c", "python"])
def test_every_activation_and_head_matches_finite_differences(backend, activation, head):
    report = gradcheck(SMALL, batch=6, seed=2, backend=backend, activation=activation, head=head)
    for row in report:
        assert row["max_abs_grad"] > 1e-6, f"layer {row['layer']} gradient is trivially zero"
        assert row["weights_error"] <= TOLERANCE, row
        assert row["biases_error"] <= TOLERANCE, row


@pytest.mark.parametrize("activation", ["sigmoid", "gelu"])
def test_gradcheck_detects_a_wrong_activation_derivative(monkeypatch, activation):
    """Drop a factor of the derivative in the reference's backward (y instead of y (1 - y);
    Phi(x) without x phi(x)): the check must fail."""
    from ann import _reference as ref

    if activation == "sigmoid":
        monkeypatch.setattr(ref, "sigmoid_backward", lambda dy, y: [g * v for g, v in zip(dy, y)])
    else:
        monkeypatch.setattr(
            ref, "gelu_backward", lambda dy, x: [g * ref.normal_cdf(v) for g, v in zip(dy, x)]
        )
    report = gradcheck(SMALL, batch=6, seed=2, backend="python", activation=activation)
    assert max(row["weights_error"] for row in report) > TOLERANCE


KERNEL_CHILD = """
import json, sys
from ann._gradcheck import gradcheck
from ann._c import kernel_name
worst = {}
for activation in %r:
    for head in %r:
        report = gradcheck(%r, batch=6, seed=2, backend="c", activation=activation, head=head)
        worst[activation + " " + head] = max(
            max(row["weights_error"], row["biases_error"]) for row in report
        )
print(json.dumps({"kernel": kernel_name(), "worst": worst}))
"""


def test_every_activation_and_head_on_every_kernel():
    """ANN_KERNEL is read once per process: each kernel this CPU runs checks all 24 pairs in a
    child interpreter."""
    import json

    from test_gemm import kernels_to_try, run_child

    for env_value, name in kernels_to_try():
        code = KERNEL_CHILD % (ACTIVATIONS, HEADS, SMALL)
        out = run_child(code, timeout=300, ANN_KERNEL=env_value)
        result = json.loads(out.stdout)
        assert result["kernel"] == name
        assert len(result["worst"]) == 24
        for pair, error in result["worst"].items():
            assert error <= TOLERANCE, (name, pair, error)
