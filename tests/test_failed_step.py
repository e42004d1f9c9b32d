"""A training step that fails leaves the network exactly as it was (ann.h, ann_net_train_step).

A NaN or infinite loss is found only after the forward pass, and a training forward draws on
the network's own state: batch norm's running statistics, the dropout stream, the augmentation
step count. net.c moves them on only once the loss is known to be finite (commit_forward), so
a failed step changes nothing; the float64 reference backend (RefNet in ann/_reference.py, its
``_commit``) keeps the same contract, and is held to it here too. These tests fail a step on
purpose, the way a diverging run does: the top layer's biases are set to infinity for one call,
so every logit is infinite and the loss NaN (batch norm and ReLU would turn an overflowing
*input* into zeros before the logits, so it is the weights that must blow up), then put back;
and they require that

* every buffer the API shows (params, grads, batch-norm state, optimizer m, v and step) holds
  the same bits as before the failed call, and
* what the API does not show (the dropout stream, the augmentation step) is where it was: a
  twin network that never saw the failed call trains on, step for step, to the same bits.
"""

from __future__ import annotations

import random
from array import array

import pytest

from ann import Augment
from ann._errors import TrainingError

H = W = 6
N, D, K, B = 60, H * W, 3, 12
SIZES = [D, 16, 8, K]


@pytest.fixture(scope="module")
def data() -> tuple[array, array]:
    rng = random.Random(5)
    features = array("f", (rng.random() for _ in range(N * D)))
    labels = array("i", (rng.randrange(K) for _ in range(N)))
    return features, labels


def make_net(core, *, fused: bool, batchnorm: bool, opt: str, reference: bool = False):
    from ann._backend import CNet
    from ann._constants import ANN_ADAM, ANN_MOMENTUM, ANN_SGD
    from ann._reference import RefNet

    kind = {"sgd": ANN_SGD, "momentum": ANN_MOMENTUM, "adam": ANN_ADAM}[opt]
    if reference:
        net = RefNet(SIZES, batchnorm=batchnorm, dropout=0.25)
    else:
        net = CNet(SIZES, batchnorm=batchnorm, dropout=0.25)
        net.set_fused(fused)
    net.init(11)
    net.set_optimizer(kind, 0.9, 0.9, 0.999, 1e-8, 0.0)
    net.set_augment(Augment(rotate=10, shift=1, elastic_alpha=0), seed=3, shape=(H, W))
    return net


def visible_state(net, opt: str) -> dict:
    """Every buffer of the network the API can read."""
    out = {"params": net.get_params(), "grads": net.get_grads(), "state": net.get_state()}
    if opt != "sgd":
        m, v, step = net.get_optimizer_state(opt == "adam")
        out.update(m=m, v=v, step=step)
    return out


def rows(start: int) -> array:
    return array("i", ((start + 7 * r) % N for r in range(B)))


def train(net, features, labels, steps: range, lr: float) -> list[float]:
    return [net.train_step(features, labels, N, rows(s), 0, B, lr)[0] for s in steps]


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("fused", [True, False, "reference"])
@pytest.mark.parametrize("call", ["train_step", "forward_backward"])
def test_a_step_with_a_nan_loss_changes_nothing(core, data, opt, batchnorm, fused, call):
    """fused True / False: the C core's two paths; "reference": the float64 backend."""
    from ann._constants import ANN_BIASES

    features, labels = data
    lr = 0.01 if opt == "adam" else 0.1
    reference = fused == "reference"
    net, twin = (
        make_net(core, fused=bool(fused), batchnorm=batchnorm, opt=opt, reference=reference)
        for _ in range(2)
    )
    for n in (net, twin):  # some history first: nonzero statistics, moments, steps
        train(n, features, labels, range(3), lr)
        # the reference keeps float64 parameters: round them to the float32 values that
        # set_params below puts back, on both networks alike (a no-op for the C core)
        n.set_params(n.get_params())
    before = visible_state(net, opt)

    params = net.get_params()
    blown = array("f", params)
    offset, count = net.tensor(len(SIZES) - 2, ANN_BIASES)
    blown[offset : offset + count] = array("f", [float("inf")] * count)
    net.set_params(blown)
    with pytest.raises(TrainingError, match="NaN or infinite"):
        if call == "train_step":
            net.train_step(features, labels, N, rows(3), 0, B, lr)
        else:
            net.forward_backward(features, labels, N, rows(3), 0, B)
    net.set_params(params)

    after = visible_state(net, opt)
    for name in before:
        assert after[name] == before[name], name
    # the hidden state: the dropout stream and augmentation step are where the twin's are
    assert train(net, features, labels, range(3, 7), lr) == train(
        twin, features, labels, range(3, 7), lr
    )
    assert visible_state(net, opt) == visible_state(twin, opt)
