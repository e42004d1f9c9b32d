"""The max-norm constraint (Srivastava et al. 2014): ann_net_set_max_norm in the C core, its
float64 twin in the reference backend, fit(max_norm=...) and ann train --max-norm."""

from __future__ import annotations

import math
from array import array

import pytest
from conftest import run_ann
from test_cli_features import one_error_line
from test_network import synthetic

import ann


def column_norms(net: ann.Network, layer: int) -> list[float]:
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    W = net.tensor(layer, "weight")  # row-major (n_in, n_out): column j is unit j's inputs
    return [math.sqrt(sum(W[i * n_out + j] ** 2 for i in range(n_in))) for j in range(n_out)]


def fit(net, train, **kwargs):
    options = dict(epochs=2, batch_size=16, lr=0.3, verbose=0)
    options.update(kwargs)
    return net.fit(train, **options)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("backend", ["c", "python"])
def test_hidden_columns_are_within_the_bound_after_training(backend, optimizer):
    if backend == "c" and not ann.backend_info()["c_core"]:
        pytest.skip("no C core")
    c = 0.3  # below the initial column norms (about sqrt(n_in / (3 n_in)) = 0.58)
    net = ann.Network([30, 12, 8, 4], seed=4, backend=backend)
    assert min(column_norms(net, 0)) > c
    fit(
        net,
        synthetic(64, seed=1),
        optimizer=optimizer,
        lr=0.01 if optimizer == "adam" else 0.3,
        max_norm=c,
    )
    for layer in (0, 1):
        norms = column_norms(net, layer)
        assert max(norms) <= c * (1 + 1e-6)
        assert max(norms) > c * (1 - 1e-6)  # the constraint was active, not vacuous
    assert max(column_norms(net, 2)) > c  # the top layer is not constrained


def test_projection_by_hand(core):
    """W = [[3, 0], [4, 0.5]]: column 0 has norm 5 and becomes [0.6, 0.8] under c = 1, column
    1 (norm 0.5) stays. lr = 0 leaves the update out of it."""
    from ann._backend import CNet

    _, lib = core
    net = CNet([2, 2, 2])
    net.init(0)
    params = net.get_params()
    params[0:4] = array("f", [3.0, 0.0, 4.0, 0.5])
    params[6:10] = array("f", [5.0, 0.0, 0.0, 5.0])  # the top layer's W (after layer 0's b)
    net.set_params(params)
    net.set_optimizer(lib.ANN_SGD, 0.0, 0.9, 0.999, 1e-8, 0.0)
    net.set_max_norm(1.0)
    images, labels = bytes([255, 255]), bytes([0])
    net.train_step(images, labels, 1, array("i", [0]), 0, 1, 0.0)
    after = net.get_params()
    assert list(after[0:4]) == pytest.approx([0.6, 0.0, 0.8, 0.5], abs=1e-7)
    assert list(after[6:10]) == [5.0, 0.0, 0.0, 5.0]


@pytest.mark.parametrize(
    "optimizer,batchnorm,dropout,l2",
    [
        ("sgd", False, 0.0, 0.0),  # the fused step: the update folded into the dW GEMM
        ("sgd", False, 0.0, 1e-3),
        ("nesterov", True, 0.0, 0.0),
        ("adam", False, 0.3, 0.0),
    ],
)
def test_c_matches_the_reference(optimizer, batchnorm, dropout, l2):
    if not ann.backend_info()["c_core"]:
        pytest.skip("no C core")
    train = synthetic(48, seed=6)
    nets = {}
    for backend in ("c", "python"):
        net = ann.Network(
            [30, 10, 6, 4], batchnorm=batchnorm, dropout=dropout, seed=2, backend=backend
        )
        fit(
            net,
            train,
            optimizer=optimizer,
            l2=l2,
            lr=0.01 if optimizer == "adam" else 0.2,
            max_norm=0.4,
        )
        nets[backend] = net
    c_params, ref_params = nets["c"].get_weights(), nets["python"].get_weights()
    assert max(abs(a - b) for a, b in zip(c_params, ref_params)) < 1e-5  # measured: 1.2e-7
    assert max(column_norms(nets["c"], 0)) <= 0.4 * (1 + 1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_fused_and_plain_paths_both_project(core, fused):
    from ann._backend import CNet

    _, lib = core
    train = synthetic(32, seed=7)
    images, labels, n_rows, _ = train.buffers()
    net = CNet([30, 9, 4])
    net.set_fused(fused)
    net.init(1)
    net.set_optimizer(lib.ANN_SGD, 0.0, 0.9, 0.999, 1e-8, 0.0)
    net.set_max_norm(0.25)
    order = train.index_array()
    for start in range(0, 32, 8):
        net.train_step(images, labels, n_rows, order, start, 8, 0.5)
    W = net.get_params()[: 30 * 9]
    norms = [math.sqrt(sum(W[i * 9 + j] ** 2 for i in range(30))) for j in range(9)]
    assert max(norms) <= 0.25 * (1 + 1e-6)


def test_off_by_default_changes_nothing():
    train = synthetic(64, seed=3)
    runs = []
    for max_norm in ("default", None, 0.0, 1e30):  # 1e30: on, but never reached
        net = ann.Network([30, 12, 4], seed=5)
        if max_norm == "default":
            fit(net, train)
        else:
            fit(net, train, max_norm=max_norm)
        runs.append(net.get_weights())
    assert runs[0] == runs[1] == runs[2] == runs[3]
    constrained = ann.Network([30, 12, 4], seed=5)
    fit(constrained, train, max_norm=0.2)
    assert constrained.get_weights() != runs[0]
    fit(constrained, train)  # each fit sets it: a later fit without it is unconstrained
    assert max(column_norms(constrained, 0)) > 0.2


def test_c_refuses_bad_bounds(core):
    ffi, lib = core
    from ann._backend import CNet

    net = CNet([3, 2, 2])
    assert lib.ann_net_set_max_norm(ffi.NULL, 1.0) == lib.ANN_E_NULL
    for bad in (-1.0, math.nan, math.inf):
        assert lib.ann_net_set_max_norm(net._net, bad) == lib.ANN_E_ARG
    assert lib.ann_net_set_max_norm(net._net, 0.0) == lib.ANN_OK
    assert lib.ann_net_set_max_norm(net._net, 2.5) == lib.ANN_OK


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "2", True])
def test_fit_refuses_bad_max_norm(bad):
    with pytest.raises(ValueError, match="max_norm"):
        ann.Network([30, 4]).fit(synthetic(20), max_norm=bad, verbose=0)


def test_ann_train_max_norm(tmp_path):
    model = tmp_path / "m.safetensors"
    out = run_ann(
        "train",
        "--data",
        "sample",
        "--epochs",
        "1",
        "--layers",
        "32",
        "--lr",
        "0.1",
        "--max-norm",
        "0.5",
        "--patience",
        "0",
        "--quiet",
        "--save",
        str(model),
    )
    assert out.returncode == 0, out.stderr
    assert "max-norm 0.5" in out.stdout
    net = ann.Network.load(model)
    assert max(column_norms(net, 0)) <= 0.5 * (1 + 1e-6)
    assert net.metadata["max_norm"] == "0.5"
    bad = run_ann("train", "--data", "sample", "--quiet", "--max-norm", "-2")
    assert bad.returncode == 2
    one_error_line(bad, "--max-norm")
