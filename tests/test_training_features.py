"""Batch norm, dropout, L2, the optimizers, early stopping, LR decay: ops and behaviour."""

from __future__ import annotations

import math
import random
from array import array

import pytest
from test_core_ops import buf, close, floats
from test_network import synthetic

import ann
from ann import _reference as ref

# ---- the C ops against the reference ---------------------------------------------------------


def batchnorm_backward_in_c(core, dy, xhat, var, gamma, B, n, eps):
    """ann_batchnorm_backward on float32 copies of the inputs, checked to return 0:
    (dz, dgamma, dbeta)."""
    ffi, lib = core
    dz, dgamma, dbeta = array("f", [0.0] * (B * n)), array("f", [0.0] * n), array("f", [0.0] * n)
    inputs = [array("f", values) for values in (dy, xhat, var, gamma)]
    buffers = [buf(ffi, values) for values in (dz, dgamma, dbeta, *inputs)]
    assert lib.ann_batchnorm_backward(*buffers, B, n, eps) == 0
    return dz, dgamma, dbeta


@pytest.mark.parametrize("B,n", [(1, 1), (2, 3), (7, 5), (64, 20), (33, 17)])
def test_batchnorm_forward_backward_match_reference(core, B, n):
    ffi, lib = core
    rng = random.Random(B * 100 + n)
    z = floats(rng, B * n, -3.0, 5.0)
    gamma, beta = floats(rng, n, 0.5, 1.5), floats(rng, n)
    y, xhat = array("f", [0.0] * (B * n)), array("f", [0.0] * (B * n))
    mean, var = array("f", [0.0] * n), array("f", [0.0] * n)
    assert (
        lib.ann_batchnorm_forward(
            buf(ffi, y),
            buf(ffi, xhat),
            buf(ffi, mean),
            buf(ffi, var),
            buf(ffi, z),
            buf(ffi, gamma),
            buf(ffi, beta),
            B,
            n,
            1e-5,
        )
        == 0
    )
    e_y, e_xhat, e_mean, e_var = ref.batchnorm_forward(list(z), list(gamma), list(beta), B, n, 1e-5)
    close(y, e_y, tol=1e-4)
    close(mean, e_mean)
    close(var, e_var, tol=1e-4)
    dy = floats(rng, B * n)
    dz, dgamma, dbeta = batchnorm_backward_in_c(core, dy, xhat, var, gamma, B, n, 1e-5)
    e_dz, e_dgamma, e_dbeta = ref.batchnorm_backward(
        list(dy), e_xhat, e_var, list(gamma), B, n, 1e-5
    )
    close(dz, e_dz, tol=1e-3 if B > 1 else 1e-5)
    close(dgamma, e_dgamma, tol=1e-4)
    close(dbeta, e_dbeta)


def test_batchnorm_backward_is_the_derivative(core):
    """Central differences of sum(w * y) through the reference forward match dz from C."""
    rng = random.Random(1)
    B, n, eps = 5, 3, 1e-5
    z = [rng.uniform(-2, 2) for _ in range(B * n)]
    gamma, beta = [1.3, 0.7, 1.0], [0.1, -0.2, 0.0]
    w = [rng.uniform(-1, 1) for _ in range(B * n)]  # dL/dy for L = sum(w * y)

    def L(values):
        out = ref.batchnorm_forward(values, gamma, beta, B, n, eps)[0]
        return sum(a * b for a, b in zip(w, out))

    _, xhat, _, var = ref.batchnorm_forward(z, gamma, beta, B, n, eps)
    dz = batchnorm_backward_in_c(core, w, xhat, var, gamma, B, n, eps)[0]
    h = 1e-6
    for i in range(B * n):
        up, down = list(z), list(z)
        up[i] += h
        down[i] -= h
        assert dz[i] == pytest.approx((L(up) - L(down)) / (2 * h), abs=2e-4)


def test_dropout_matches_reference_stream(core):
    ffi, lib = core
    rng = random.Random(2)
    x = floats(rng, 1000)
    y, mask = array("f", [0.0] * 1000), bytearray(1000)
    state = ffi.new("uint64_t *", 77)
    assert (
        lib.ann_dropout_forward(
            buf(ffi, y), ffi.from_buffer("uint8_t[]", mask), buf(ffi, x), 1000, 0.3, state
        )
        == 0
    )
    e_y, keep, e_state = ref.dropout_forward(list(x), 0.3, 77)
    assert [bool(m) for m in mask] == keep and state[0] == e_state
    close(y, e_y, tol=1e-6)
    assert 600 < sum(keep) < 800  # about 70 % kept
    dx = array("f", [0.0] * 1000)
    assert (
        lib.ann_dropout_backward(
            buf(ffi, dx), buf(ffi, x), ffi.from_buffer("uint8_t[]", mask), 1000, 0.3
        )
        == 0
    )
    close(dx, ref.dropout_backward(list(x), keep, 0.3), tol=1e-6)
    for bad in (1.0, -0.1, math.nan):
        assert (
            lib.ann_dropout_forward(
                buf(ffi, y), ffi.from_buffer("uint8_t[]", mask), buf(ffi, x), 10, bad, state
            )
            == lib.ANN_E_ARG
        )


@pytest.mark.parametrize("nesterov", [0, 1])
def test_momentum_update_matches_reference(core, nesterov):
    ffi, lib = core
    rng = random.Random(3)
    p, v, g = floats(rng, 50), floats(rng, 50), floats(rng, 50)
    e_p, e_v = list(p), list(v)
    ref.momentum_update(e_p, e_v, list(g), 0.1, 0.9, bool(nesterov))
    assert (
        lib.ann_momentum_update(buf(ffi, p), buf(ffi, v), buf(ffi, g), 50, 0.1, 0.9, nesterov) == 0
    )
    close(p, e_p, tol=1e-6)
    close(v, e_v, tol=1e-6)


def test_adam_update_matches_reference(core):
    ffi, lib = core
    rng = random.Random(4)
    p, m, v, g = floats(rng, 50), floats(rng, 50), floats(rng, 50, 0, 1), floats(rng, 50)
    e_p, e_m, e_v = list(p), list(m), list(v)
    for t in (1, 2, 3):
        ref.adam_update(e_p, e_m, e_v, list(g), 0.01, 0.9, 0.999, 1e-8, t)
        assert (
            lib.ann_adam_update(
                buf(ffi, p), buf(ffi, m), buf(ffi, v), buf(ffi, g), 50, 0.01, 0.9, 0.999, 1e-8, t
            )
            == 0
        )
    close(p, e_p, tol=1e-5)
    close(m, e_m, tol=1e-5)
    assert (
        lib.ann_adam_update(
            buf(ffi, p), buf(ffi, m), buf(ffi, v), buf(ffi, g), 50, 0.01, 0.9, 0.999, 1e-8, 0
        )
        == lib.ANN_E_ARG
    )


def test_l2_penalty(core):
    ffi, lib = core
    p, g = array("f", [1.0, -2.0, 3.0]), array("f", [0.5, 0.5, 0.5])
    penalty = ffi.new("double *")
    assert lib.ann_l2_penalty(penalty, buf(ffi, g), buf(ffi, p), 3, 0.1) == 0
    assert penalty[0] == pytest.approx(0.5 * 0.1 * 14)
    assert list(g) == pytest.approx([0.6, 0.3, 0.8])


# ---- whole networks: the backends agree --------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,fit_kwargs",
    [
        (dict(batchnorm=True), dict(optimizer="sgd")),
        (dict(dropout=0.3), dict(optimizer="momentum")),
        (dict(), dict(optimizer="nesterov", l2=0.01)),
        (dict(batchnorm=True, dropout=0.2), dict(optimizer="momentum", l2=0.001)),
        # not Adam with batch norm: a bias before batch norm has an exactly-zero gradient, which
        # float32 and float64 round to different tiny numbers, and Adam's normalized step turns
        # any such noise into a full lr-sized step, so the backends part ways by design there
        (dict(dropout=0.2), dict(optimizer="adam", lr=0.01, l2=0.001)),
    ],
)
@pytest.mark.parametrize("pixels", ["dense", "mostly_zero"])
def test_backends_agree_with_every_feature(kwargs, fit_kwargs, pixels):
    train = synthetic(60, seed=3, mostly_zero=pixels == "mostly_zero")
    nets = {b: ann.Network([30, 7, 5, 4], seed=2, backend=b, **kwargs) for b in ("c", "python")}
    fit = dict(epochs=2, batch_size=16, lr=0.1, progress=False, seed=4)
    fit.update(fit_kwargs)
    histories = {b: net.fit(train, **fit) for b, net in nets.items()}
    c, py = nets["c"].get_weights(), nets["python"].get_weights()
    assert max(abs(a - b) for a, b in zip(c, py)) <= 2e-4 * max(abs(v) for v in py)
    assert histories["c"].train_loss == pytest.approx(histories["python"].train_loss, rel=2e-4)
    if kwargs.get("batchnorm"):
        close(nets["c"].get_state(), list(nets["python"].get_state()), tol=2e-4)


@pytest.mark.parametrize("backend", ["c", "python"])
def test_gradcheck_with_batchnorm_and_l2(backend):
    from ann._gradcheck import TOLERANCE, gradcheck

    report = gradcheck([6, 5, 4, 3], batch=6, seed=2, backend=backend, batchnorm=True, l2=0.05)
    for row in report:
        assert row["max_abs_grad"] > 1e-4
        assert max(row["weights_error"], row["biases_error"], row.get("bn_error", 0.0)) <= TOLERANCE


def noisy(n=200, D=30, K=4, seed=0):
    """Random pixels with random labels: nothing to learn, so a network can only memorize the
    training set, and the validation loss rises once it starts to (what early stopping is for)."""
    rng = random.Random(seed)
    return ann.Dataset(
        bytes(rng.randrange(256) for _ in range(n * D)),
        bytes(rng.randrange(K) for _ in range(n)),
        D,
        num_classes=K,
    )


# ---- behaviour ------------------------------------------------------------------------------


def test_batchnorm_prediction_does_not_depend_on_the_batch():
    train = synthetic(300, seed=5)
    net = ann.Network([30, 12, 8, 4], batchnorm=True, seed=1)
    net.fit(train, epochs=3, batch_size=32, lr=0.1, progress=False)
    probs_batch = net.predict_proba(train[:40])
    for i in (0, 17, 39):
        alone = net.predict_proba(train[i : i + 1])[0]
        assert alone == probs_batch[i]  # bit for bit: inference is row by row
    shuffled = net.predict_proba(train.subset([39, 17, 0]))
    assert shuffled == [probs_batch[39], probs_batch[17], probs_batch[0]]
    # running statistics moved away from their initial 0 / 1
    state = net.get_state()
    assert len(state) == 2 * (12 + 8) and any(abs(v) > 1e-3 for v in state[:12])


def test_dropout_is_off_at_inference_and_changes_training():
    train = synthetic(100, seed=6)
    net = ann.Network([30, 16, 4], dropout=0.5, seed=1)
    net.fit(train, epochs=2, batch_size=10, lr=0.1, progress=False)
    assert net.predict_proba(train[:20]) == net.predict_proba(train[:20])  # deterministic
    plain = ann.Network([30, 16, 4], seed=1)
    plain.fit(train, epochs=2, batch_size=10, lr=0.1, progress=False)
    assert plain.get_weights() != net.get_weights()


def test_l2_shrinks_weights_and_shows_in_the_loss():
    train = synthetic(200, seed=7)
    norms, losses = {}, {}
    for l2 in (0.0, 0.05):
        net = ann.Network([30, 16, 4], seed=1)
        history = net.fit(train, epochs=5, batch_size=20, lr=0.1, l2=l2, progress=False)
        norms[l2] = sum(v * v for l in range(2) for v in net.layer(l)[0])
        losses[l2] = history.train_loss[-1]
        if l2:
            # the reported loss includes (l2/2) * sum W^2: it exceeds the cross-entropy alone
            assert history.train_loss[-1] > net.evaluate(train)["loss"] + 0.5 * l2 * norms[l2] * 0.5
    assert norms[0.05] < 0.8 * norms[0.0]


def test_early_stopping_stops_and_restores_the_best_weights():
    train, val = noisy(200, seed=8).split(0.5, seed=1)
    net = ann.Network([30, 64, 4], seed=3)
    snapshots = {}

    def remember(history):
        snapshots[history.steps[-1]] = net.get_weights()

    history = net.fit(
        train,
        val,
        epochs=200,
        batch_size=10,
        lr=0.2,
        progress=False,
        early_stopping=ann.EarlyStopping(patience=3, check_every=5),
        callback=remember,
    )
    assert history.stop_reason == "early_stopping"
    assert history.stopped_step < 200 * 10
    best = history.best_step
    assert history.val_loss[history.steps.index(best)] == min(history.val_loss)
    # the last checks did not improve on the best by more than min_delta (0)
    assert all(v >= history.best_val_loss for v in history.val_loss[-3:])
    assert history.restored_best and net.get_weights() == snapshots[best]
    assert net.evaluate(val)["loss"] == pytest.approx(history.best_val_loss)


def test_early_stopping_min_delta_counts_small_gains_as_no_gain():
    train, val = synthetic(200, seed=9).split(0.5, seed=1)
    kwargs = dict(epochs=30, batch_size=10, lr=0.02, progress=False)
    strict = ann.Network([30, 8, 4], seed=3).fit(
        train,
        val,
        early_stopping=ann.EarlyStopping(patience=2, check_every=10, min_delta=0.05),
        **kwargs,
    )
    loose = ann.Network([30, 8, 4], seed=3).fit(
        train, val, early_stopping=ann.EarlyStopping(patience=2, check_every=10), **kwargs
    )
    assert strict.stopped_step < loose.stopped_step


def test_history_writes_csv_and_jsonl(tmp_path):
    import csv
    import json

    train, val = synthetic(100, seed=1).split(0.2, seed=0)
    history = ann.Network([30, 8, 4]).fit(
        train, val, epochs=3, batch_size=10, lr=0.1, check_every=4, progress=False
    )
    assert history.steps == [4, 8, 12, 16, 20, 24] and history.epochs[-1] == 3.0
    history.to_csv(tmp_path / "h.csv")
    rows = list(csv.DictReader(open(tmp_path / "h.csv")))
    assert [int(r["steps"]) for r in rows] == history.steps
    assert float(rows[-1]["val_loss"]) == pytest.approx(history.val_loss[-1])
    history.to_jsonl(tmp_path / "h.jsonl")
    lines = [json.loads(line) for line in open(tmp_path / "h.jsonl")]
    assert len(lines) == 7 and lines[-1]["stop_reason"] == "completed"


def test_lr_decay_on_plateau_lowers_the_rate():
    train, val = noisy(200, seed=8).split(0.5, seed=1)
    history = ann.Network([30, 64, 4], seed=3).fit(
        train,
        val,
        epochs=20,
        batch_size=10,
        lr=0.2,
        check_every=5,
        progress=False,
        lr_decay=ann.ReduceLROnPlateau(factor=0.5, patience=2),
    )
    assert history.lr[0] == 0.2 and history.lr[-1] < 0.2
    assert all(b <= a for a, b in zip(history.lr, history.lr[1:]))


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(l2=-1.0), "l2"),
        (dict(momentum=1.0), "momentum"),
        (dict(early_stopping=ann.EarlyStopping()), "validation"),
    ],
)
def test_bad_training_options(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ann.Network([30, 4]).fit(synthetic(20), progress=False, **kwargs)
    with pytest.raises(ValueError, match="dropout"):
        ann.Network([30, 4], dropout=1.0)
    with pytest.raises(ValueError, match="patience"):
        ann.EarlyStopping(patience=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer,lr,floor",
    [
        ("sgd", 0.05, 0.85),
        ("momentum", 0.01, 0.90),
        ("nesterov", 0.01, 0.90),
        ("adam", 0.003, 0.90),
    ],
)
def test_each_optimizer_trains_the_seed_network(mnist, optimizer, lr, floor):
    train_all, test = mnist
    train, _ = train_all.split(0.2, seed=42)
    net = ann.Network([784, 20, 7, 5, 10], seed=0)
    net.fit(train, epochs=3, batch_size=64, lr=lr, optimizer=optimizer, progress=False)
    assert net.evaluate(test)["accuracy"] >= floor


@pytest.mark.slow
def test_batchnorm_seed_network_on_mnist(mnist):
    train_all, test = mnist
    train, val = train_all.split(0.2, seed=42)
    net = ann.Network([784, 20, 7, 5, 10], batchnorm=True, seed=0)
    net.fit(train, val, epochs=2, batch_size=64, lr=0.05, progress=False)
    assert net.evaluate(test)["accuracy"] >= 0.90
    some = test[:50]
    batch = net.predict(some)
    assert [net.predict(test[i : i + 1])[0] for i in range(50)] == batch


# ---- batch norm never learns from a one-row batch (issue 12, item 1) ---------------------------


@pytest.mark.parametrize("backend", ["c", "python"])
def test_batchnorm_lone_last_row_joins_the_previous_batch(backend):
    # 65 rows at batch 64 used to train a second batch of one row, whose variance 0 was blended
    # into the running variance. Now the 65 rows are one batch: one step, and the running
    # variance is 0.9 * 1 + 0.1 * (unbiased variance of the 65 pre-BN values), computed here
    # from the reference's dense layer on the initial weights.
    train = synthetic(65, seed=8)
    net = ann.Network([30, 6, 4], batchnorm=True, seed=1, backend=backend)
    W, b = net.layer(0)
    history = net.fit(train, epochs=1, batch_size=64, lr=0.1, progress=False)
    assert history.stopped_step == 1
    x = ref.gather_u8(train.images.tobytes(), list(range(65)), 30)
    z = ref.dense_forward(x, list(W), list(b), 65, 30, 6)
    expected = []
    for j in range(6):
        column = z[j::6]
        mean = sum(column) / 65
        expected.append(0.9 + 0.1 * sum((v - mean) ** 2 for v in column) / 64)
    close(net.tensor(0, "bn_running_var"), expected, tol=1e-4)


@pytest.mark.parametrize("backend", ["c", "python"])
def test_batchnorm_refuses_one_row_batches(backend):
    train = synthetic(20, seed=8)
    net = ann.Network([30, 6, 4], batchnorm=True, seed=1, backend=backend)
    with pytest.raises(ValueError, match="batch norm needs at least 2 rows per batch"):
        net.fit(train, epochs=1, batch_size=1, progress=False)
    with pytest.raises(ValueError, match="batch norm needs at least 2 rows per batch"):
        net.fit(train[:1], epochs=1, batch_size=8, progress=False)
    # the backend itself refuses a training pass over one row, and leaves the statistics alone
    state = net.get_state()
    idx = array("i", range(20))
    with pytest.raises(ValueError):
        net._net.train_step(train._images, train._labels, 20, idx, 0, 1, 0.1)
    assert net.get_state() == state
    net._net.train_step(train._images, train._labels, 20, idx, 0, 2, 0.1)  # two rows are fine
    assert net.get_state() != state
    # without hidden layers there is no batch norm to protect: one-row batches train
    ann.Network([30, 4], batchnorm=True, backend=backend).fit(train, batch_size=1, progress=False)
