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
