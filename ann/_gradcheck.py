"""Gradient check: the backend's analytic gradients against central finite differences.

For every trained value theta (weights, biases, batch-norm gamma and beta) of a small network,
the numerical derivative
    (L(theta + h) - L(theta - h)) / 2h
is computed with the float64 reference forward pass (so rounding noise stays far below the
differences being measured), and compared with the gradient that the backend's backward pass
returns. The relative error |a - n| / max(|a| + |n|, 1e-3 g) is reported per layer, where g is
the largest gradient of the whole network: a derivative that is zero in exact arithmetic (a bias
followed by batch norm) is rounding noise in float32, and must not count as a 100 % error. The
largest gradient of each layer is reported too, so a trivially zero gradient cannot pass.
"""

from __future__ import annotations

import random
from array import array

from . import _defaults
from ._backend import get_backend
from ._constants import (
    ACTIVATIONS,
    ANN_BIASES,
    ANN_BN_BETA,
    ANN_BN_GAMMA,
    ANN_SGD,
    ANN_WEIGHTS,
    HEADS,
)
from ._ops import ReferenceOps

TOLERANCE = _defaults.GRADCHECK_TOLERANCE


def gradcheck(
    sizes: list[int] | None = None,
    *,
    batch: int = _defaults.GRADCHECK_BATCH,
    seed: int = 0,
    h: float = 1e-5,
    backend: str | None = None,
    batchnorm: bool = False,
    l2: float = 0.0,
    activation: str = _defaults.ACTIVATION,
    head: str = _defaults.HEAD,
    negative_slope: float = 0.1,
) -> list[dict[str, float]]:
    """Per layer: {"layer", "weights_error", "biases_error", ["bn_error",] "max_abs_grad"}.

    ``activation`` is that of every hidden layer and ``head`` the output function and loss
    (the names of ``ann.Network``); softmax-ce is checked against random class labels, the other
    heads against random targets in [0, 1] (the identity's too), so that every output has its
    own target. ``negative_slope`` (leaky ReLU's) is 0.1 here, larger than the usual 0.01, so
    that the slope below 0 is a gradient the check can see."""
    sizes = list(sizes or _defaults.GRADCHECK_LAYERS)
    if batchnorm and batch < 2 and len(sizes) > 2:
        raise ValueError(f"gradcheck: batch norm needs a batch of at least 2 rows, got {batch}")
    if activation not in ACTIVATIONS or head not in HEADS:
        raise ValueError(f"gradcheck: unknown activation {activation!r} or head {head!r}")
    D, K = sizes[0], sizes[-1]
    rng = random.Random(seed)
    images = bytes(rng.randrange(256) for _ in range(batch * D))
    labels = array("i", (rng.randrange(K) for _ in range(batch)))  # any K, not only < 256
    floats = head != "softmax-ce"
    targets = array("f", (rng.random() for _ in range(batch * K))) if floats else None
    idx = array("i", range(batch))

    net = get_backend(backend).make_net(sizes, batchnorm, 0.0)
    for layer in range(len(sizes) - 2):
        net.set_activation(layer, ACTIVATIONS[activation], negative_slope)
    net.set_head(HEADS[head])
    net.init(seed)
    net.set_optimizer(ANN_SGD, 0.0, *_defaults.BETAS, _defaults.EPS, l2)
    # Biases start at zero and gamma at one; move every non-weight value off its initial
    # value so that its gradient is checked somewhere generic.
    params = net.get_params()
    kinds = [ANN_BIASES] + ([ANN_BN_GAMMA, ANN_BN_BETA] if batchnorm else [])
    for layer in range(len(sizes) - 1):
        for kind in kinds:
            try:
                offset, count = net.tensor(layer, kind)
            except ValueError:  # the top layer has no batch norm
                continue
            for i in range(offset, offset + count):
                params[i] += rng.uniform(-0.2, 0.2)
    net.set_params(params)
    net.forward_backward(images, None if floats else labels, batch, idx, 0, batch, targets=targets)
    analytic = net.get_grads()

    # The numerical side: the loss as a function of every trained value, written with the
    # float64 ops of the reference backend (_ops.ReferenceOps, the twins ann trace compares
    # the C core with): the forward pass in training mode, the head, L2.
    theta = list(params)  # float64 copies of the exact float32 values
    ops = ReferenceOps()
    x0, L = ops.gather(images, batch, D), len(sizes) - 1
    act_kind, head_kind = ACTIVATIONS[activation], HEADS[head]
    label_list, target_list = list(labels), list(targets) if targets is not None else None

    def cut(values: list[float], layer: int, kind: int) -> list[float]:
        offset, count = net.tensor(layer, kind)
        return values[offset : offset + count]

    def loss_at(values: list[float]) -> float:
        x = x0
        for l in range(L):
            x = ops.dense_forward(
                x,
                cut(values, l, ANN_WEIGHTS),
                cut(values, l, ANN_BIASES),
                batch,
                sizes[l],
                sizes[l + 1],
            )
            if l < L - 1:
                if batchnorm:
                    gamma, beta = cut(values, l, ANN_BN_GAMMA), cut(values, l, ANN_BN_BETA)
                    x = ops.batchnorm_forward(x, gamma, beta, batch, sizes[l + 1])[0]
                x = ops.activation_forward(x, act_kind, negative_slope)
        loss = ops.head(head_kind, x, label_list, target_list, batch, K)[0]
        for l in range(L):
            W = cut(values, l, ANN_WEIGHTS)
            loss += ops.l2_penalty(W, [0.0] * len(W), l2)[0]
        return loss

    checks = []  # (layer, name, index, analytic, numeric)
    for layer in range(len(sizes) - 1):
        for kind, name in (
            (ANN_WEIGHTS, "weights_error"),
            (ANN_BIASES, "biases_error"),
            (ANN_BN_GAMMA, "bn_error"),
            (ANN_BN_BETA, "bn_error"),
        ):
            try:
                offset, count = net.tensor(layer, kind)
            except ValueError:
                continue
            for i in range(offset, offset + count):
                saved = theta[i]
                theta[i] = saved + h
                up = loss_at(theta)
                theta[i] = saved - h
                down = loss_at(theta)
                theta[i] = saved
                checks.append((layer, name, analytic[i], (up - down) / (2 * h)))
    # (a one-class network has no gradient at all: every relative error is then 0)
    floor = 1e-3 * max(max(abs(a), abs(n)) for _, _, a, n in checks) or 1.0
    report = [{"layer": layer, "max_abs_grad": 0.0} for layer in range(len(sizes) - 1)]
    for layer, name, a, n in checks:
        row = report[layer]
        row[name] = max(row.get(name, 0.0), abs(a - n) / max(abs(a) + abs(n), floor))
        row["max_abs_grad"] = max(row["max_abs_grad"], abs(a), abs(n))
    return report
