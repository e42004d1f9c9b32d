"""Gradient check: the C core's analytic gradients against central finite differences.

For every weight and bias theta of a small network, the numerical derivative
    (L(theta + h) - L(theta - h)) / 2h
is computed with the float64 reference forward pass (so rounding noise stays far below the
differences being measured), and compared with the gradient that the backend's backward pass
returns. The relative error |a - n| / max(|a| + |n|, floor) is reported per layer.
"""
from __future__ import annotations

import random
from array import array
from typing import Dict, List, Optional

from . import _reference as ref
from ._backend import get_backend

TOLERANCE = 1e-3


def gradcheck(sizes: Optional[List[int]] = None, *, batch: int = 8, seed: int = 0,
              h: float = 1e-5, backend: Optional[str] = None) -> List[Dict[str, float]]:
    """Per layer: {"layer", "weights_error", "biases_error", "max_abs_grad"} (relative errors)."""
    sizes = list(sizes or [12, 9, 7, 5, 4])
    D, K = sizes[0], sizes[-1]
    rng = random.Random(seed)
    images = bytes(rng.randrange(256) for _ in range(batch * D))
    labels = bytes(rng.randrange(K) for _ in range(batch))
    idx = array("i", range(batch))

    net = get_backend(backend).make_net(sizes)
    net.init(seed)
    # Biases start at zero; give them values so their gradients are checked away from zero
    # and so that ReLU units are not all sitting on the same side by construction.
    params = net.get_params()
    for layer in range(len(sizes) - 1):
        offset, count = net.tensor(layer, 1)
        for i in range(offset, offset + count):
            params[i] = rng.uniform(-0.2, 0.2)
    net.set_params(params)
    net.forward_backward(images, labels, batch, idx, 0, batch)
    analytic = net.get_grads()

    theta = list(params)   # float64 copies of the exact float32 values
    probe = ref.RefNet(sizes)

    def loss_at(values: List[float]) -> float:
        probe.params = values
        acts = probe._forward(ref.gather_u8(images, list(idx), D), batch)
        return ref.softmax_cross_entropy(acts[-1], list(labels), batch, K)[0]

    report = []
    for layer in range(len(sizes) - 1):
        row: Dict[str, float] = {"layer": layer}
        largest = 0.0
        for kind, name in ((0, "weights_error"), (1, "biases_error")):
            offset, count = net.tensor(layer, kind)
            worst = 0.0
            for i in range(offset, offset + count):
                saved = theta[i]
                theta[i] = saved + h
                up = loss_at(theta)
                theta[i] = saved - h
                down = loss_at(theta)
                theta[i] = saved
                numeric = (up - down) / (2 * h)
                a = analytic[i]
                largest = max(largest, abs(a), abs(numeric))
                worst = max(worst, abs(a - numeric) / max(abs(a) + abs(numeric), 1e-6))
            row[name] = worst
        row["max_abs_grad"] = largest
        report.append(row)
    return report
