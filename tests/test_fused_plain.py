"""The C core's speed-ups against its plain textbook path (ann_net_set_fused in ann.h).

net.c runs each training step as forward, loss, backward, update; with the speed-ups on (the
default) two of those steps are fused, by the functions of net_fused.c: the bias add and the
activation of a hidden layer without batch norm, and, for plain SGD without L2, the weight
update folded into the weight-gradient GEMM.
These tests train the same network both ways and require the same results, and check what
``ann_net_grads`` holds after a step, as ann.h documents it.
"""

from __future__ import annotations

import random
from array import array

import pytest

N, D, K, B = 200, 784, 10, 50
STEPS = 6


@pytest.fixture(scope="module")
def data(core) -> tuple[bytes, bytes]:
    rng = random.Random(7)
    images = bytes(rng.randrange(256) for _ in range(N * D))
    labels = bytes(rng.randrange(K) for _ in range(N))
    return images, labels


def batches(steps: int) -> list[array]:
    """The row order of each step: a fresh shuffle of 0..N-1, the same for every network."""
    rng, out = random.Random(1), []
    for _ in range(steps):
        idx = array("i", range(N))
        rng.shuffle(idx)
        out.append(idx)
    return out


def make_net(core, sizes, *, fused: bool, batchnorm: bool, dropout: float, opt: str, l2: float):
    from ann._backend import CNet

    _, lib = core
    kind = {
        "sgd": lib.ANN_SGD,
        "momentum": lib.ANN_MOMENTUM,
        "nesterov": lib.ANN_NESTEROV,
        "adam": lib.ANN_ADAM,
    }[opt]
    net = CNet(sizes, batchnorm=batchnorm, dropout=dropout)
    net.set_fused(fused)
    net.init(3)
    net.set_optimizer(kind, 0.9, 0.9, 0.999, 1e-8, l2)
    return net


def lr_for(opt: str) -> float:
    return 0.01 if opt == "adam" else 0.05


def everything(net, opt: str, images: bytes, labels: bytes) -> dict:
    """Every buffer a training run leaves behind, and the network's predictions."""
    out = {"params": net.get_params(), "state": net.get_state(), "grads": net.get_grads()}
    if opt != "sgd":
        m, v, step = net.get_optimizer_state(opt == "adam")
        out.update(m=m, v=v, step=step)
    probs, classes, loss_sum, correct = net.predict(
        images, labels, N, None, N, want_probs=True, want_classes=True
    )
    out.update(probs=probs, classes=classes, loss_sum=loss_sum, correct=correct)
    return out


# Every (optimizer, l2) whose step the fused path does not fold: there the fused and the plain
# path do the same float32 arithmetic in the same order, so they must agree bit for bit.
UNFOLDED = [("sgd", 1e-3), ("momentum", 0.0), ("nesterov", 0.0), ("adam", 0.0), ("adam", 1e-3)]


@pytest.mark.parametrize("opt,l2", UNFOLDED)
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_and_plain_paths_agree_bit_for_bit(core, data, opt, l2, batchnorm, dropout):
    images, labels = data
    runs = []
    for fused in (True, False):
        net = make_net(
            core, [D, 48, 24, K], fused=fused, batchnorm=batchnorm, dropout=dropout, opt=opt, l2=l2
        )
        losses = [
            net.train_step(images, labels, N, idx, 0, B, lr_for(opt)) for idx in batches(STEPS)
        ]
        runs.append((losses, everything(net, opt, images, labels)))
    (fused_losses, fused_out), (plain_losses, plain_out) = runs
    assert fused_losses == plain_losses
    for name in fused_out:
        assert fused_out[name] == plain_out[name], name


ACTIVATION_KINDS = ["identity", "relu", "leaky-relu", "sigmoid", "tanh", "gelu"]


@pytest.mark.parametrize("head", ["softmax-ce", "sigmoid-bce", "identity-mse", "sigmoid-mse"])
@pytest.mark.parametrize("activation", ACTIVATION_KINDS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_and_plain_agree_for_every_activation(core, data, activation, head, dropout):
    """The fused bias + activation sweep (ann__bias_activation) against ann_dense_forward then
    the activation's own op, for every activation (GELU keeps its input z on both paths) and
    head, with Adam (not folded): every buffer and prediction the same bits."""
    from ann._constants import ACTIVATIONS, HEADS

    images, labels = data
    rng = random.Random(5)
    targets = array("f", (rng.random() for _ in range(N * K)))
    floats = head != "softmax-ce"
    runs = []
    for fused in (True, False):
        net = make_net(
            core, [D, 40, 20, K], fused=fused, batchnorm=False, dropout=dropout, opt="adam", l2=0.0
        )
        for layer in range(2):
            net.set_activation(layer, ACTIVATIONS[activation], 0.05)
        net.set_head(HEADS[head])
        net.init(3, 3)  # ANN_INIT_AUTO
        net.set_optimizer(3, 0.9, 0.9, 0.999, 1e-8, 0.0)
        losses = [
            net.train_step(
                images,
                None if floats else labels,
                N,
                idx,
                0,
                B,
                0.01,
                targets=targets if floats else None,
            )
            for idx in batches(3)
        ]
        out = everything(net, "adam", images, labels)
        runs.append((losses, out))
    assert runs[0][0] == runs[1][0]
    for name in runs[0][1]:
        assert runs[0][1][name] == runs[1][1][name], name


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_wide_layer_with_threaded_optimizer_step_agrees(core, data, opt):
    """784-400-10 has 318,010 parameters, above the size at which ops.c splits an optimizer
    step over the thread pool (4 x 65,536 values); SGD here is with L2, so not folded."""
    images, labels = data
    outs = []
    for fused in (True, False):
        net = make_net(
            core,
            [D, 400, K],
            fused=fused,
            batchnorm=False,
            dropout=0.0,
            opt=opt,
            l2=1e-4 if opt == "sgd" else 0.0,
        )
        assert net.num_params > 4 * 65536
        for idx in batches(3):
            net.train_step(images, labels, N, idx, 0, B, lr_for(opt))
        outs.append(everything(net, opt, images, labels))
    assert outs[0] == outs[1]


# Plain SGD without L2 is the one step whose fused form changes the arithmetic: the fold
# computes W + x^T (-lr dy) inside the GEMM instead of W - lr (x^T dy), so each weight rounds
# differently (lr multiplies every product before the sum over the B rows, and W is added inside
# the GEMM). The biases and batch-norm parameters take the plain step on both paths.
# Tolerance: 2^-17 of the largest parameter, i.e. 128 float32 ulps at that magnitude. The
# first step's error is a few ulps of a B = 50 term dot product; the observed difference after
# 6 steps is below 2^-22 of the largest parameter, so the bound leaves a margin of 32 for
# the small growth of the differences over the steps, while a real change of the update rule
# (e.g. a missing or doubled lr, a wrong sign, a stale W in dx) moves weights by ~lr |dW|, which
# is orders of magnitude larger.
FOLD_RTOL = 2.0**-17


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("sizes", [[D, K], [D, 48, 24, K]])
def test_folded_sgd_step_matches_plain_sgd_within_rounding(core, data, batchnorm, dropout, sizes):
    images, labels = data
    order = batches(STEPS)
    nets = [
        make_net(core, sizes, fused=fused, batchnorm=batchnorm, dropout=dropout, opt="sgd", l2=0.0)
        for fused in (True, False)
    ]
    start = nets[0].get_params()
    for step, idx in enumerate(order):
        losses = [net.train_step(images, labels, N, idx, 0, B, 0.05) for net in nets]
        fused, plain = (net.get_params() for net in nets)
        if step == 0:
            # Same forward, same loss, and b, gamma, beta updated by the same ann_sgd_update
            # from the same gradients: identical bits; only the weights are folded.
            assert losses[0] == losses[1]
            for layer in range(len(sizes) - 1):
                off, count = nets[0].tensor(layer, 0)
                w = slice(off, off + count)
                rest_end = nets[0].tensor(layer + 1, 0)[0] if layer + 2 < len(sizes) else len(fused)
                assert fused[off + count : rest_end] == plain[off + count : rest_end], layer
                assert fused[w] != start[w]  # the fold did update W
    scale = max(abs(x) for x in plain)
    worst = max(abs(a - b) for a, b in zip(fused, plain))
    assert worst <= FOLD_RTOL * scale, (worst, scale)
    assert fused != plain  # the switch really selects another computation


@pytest.mark.parametrize("opt,l2", [("sgd", 0.0)] + UNFOLDED)
@pytest.mark.parametrize("batchnorm", [False, True])
def test_grads_hold_the_batch_gradient_after_every_plain_step(core, data, opt, l2, batchnorm):
    """With the speed-ups off, after every train_step of every optimizer, ann_net_grads is
    exactly what ann_net_forward_backward gives for that batch at the pre-step weights."""
    images, labels = data
    sizes = [D, 32, 16, K]
    trained = make_net(core, sizes, fused=False, batchnorm=batchnorm, dropout=0.2, opt=opt, l2=l2)
    probe = make_net(core, sizes, fused=False, batchnorm=batchnorm, dropout=0.2, opt=opt, l2=l2)
    for idx in batches(4):
        probe.set_params(trained.get_params())
        probe.set_state(trained.get_state())
        # both networks have run the same number of training forwards, so their dropout
        # streams are at the same point
        loss_fb, _ = probe.forward_backward(images, labels, N, idx, 0, B)
        loss_step, _ = trained.train_step(images, labels, N, idx, 0, B, lr_for(opt))
        assert loss_step == loss_fb
        assert trained.get_grads() == probe.get_grads()


@pytest.mark.parametrize("batchnorm", [False, True])
def test_grads_after_a_folded_sgd_step_are_as_documented(core, data, batchnorm):
    """ann.h: after the fused SGD step, the bias and batch-norm entries of grads hold the
    batch's gradient and the weight entries are not written."""
    images, labels = data
    sizes = [D, 32, 16, K]
    trained = make_net(core, sizes, fused=True, batchnorm=batchnorm, dropout=0.0, opt="sgd", l2=0.0)
    probe = make_net(core, sizes, fused=True, batchnorm=batchnorm, dropout=0.0, opt="sgd", l2=0.0)
    for step, idx in enumerate(batches(3)):
        probe.set_params(trained.get_params())
        probe.set_state(trained.get_state())
        probe.forward_backward(images, labels, N, idx, 0, B)
        before = trained.get_grads()
        trained.train_step(images, labels, N, idx, 0, B, 0.05)
        got, want = trained.get_grads(), probe.get_grads()
        for layer in range(len(sizes) - 1):
            off, count = trained.tensor(layer, 0)
            end = trained.tensor(layer + 1, 0)[0] if layer + 2 < len(sizes) else len(got)
            assert got[off : off + count] == before[off : off + count]  # dW not written
            assert got[off + count : end] == want[off + count : end]  # db, dgamma, dbeta
            assert step > 0 or set(got[off : off + count]) == {0.0}  # zeros on a new net


def test_set_fused_rejects_a_null_network(core):
    ffi, lib = core
    assert lib.ann_net_set_fused(ffi.NULL, 0) == lib.ANN_E_NULL
