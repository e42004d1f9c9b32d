"""Network.fit's parts (ann/_fit.py) and its Keras habits: validation_split=, verbose=,
History.history."""

from __future__ import annotations

import io
import math

import pytest
from test_network import synthetic
from test_training_features import noisy

import ann
from ann._fit import FitRun, FitSettings, batch_bounds


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so the progress bar would redraw in place."""

    def isatty(self) -> bool:
        return True


# ---- the loop against a hand-written one -------------------------------------------------------


@pytest.mark.parametrize("batchnorm", [False, True])
def test_fit_is_shuffle_then_one_step_per_batch(batchnorm):
    """Without validation, fit is: per epoch, shuffle the row order with the stream seeded
    seed ^ 0x5EED5EED, then one train_step per batch at lr (with batch norm, a lone last row
    joins the batch before it). The same loop written out gives the same weights, bit for bit."""
    train = synthetic(37, seed=9)  # 37 = 4 * 9 + 1: a lone last row
    net = ann.Network([30, 8, 4], batchnorm=batchnorm, seed=6)
    history = net.fit(train, epochs=3, batch_size=9, lr=0.1, verbose=0)

    by_hand = ann.Network([30, 8, 4], batchnorm=batchnorm, seed=6)
    backend = by_hand._net
    by_hand._set_optimizer("sgd", 0.9, 0.9, 0.999, 1e-8, 0.0)
    order, rng = train.index_array(), 6 ^ 0x5EED5EED
    images, labels, n_rows, _ = train.buffers()
    starts = [0, 9, 18, 27] if batchnorm else [0, 9, 18, 27, 36]
    ends = starts[1:] + [37]
    steps = 0
    for _ in range(3):
        rng = by_hand._backend.shuffle(order, rng)
        for start, end in zip(starts, ends):
            backend.train_step(images, labels, n_rows, order, start, end - start, 0.1)
            steps += 1
    assert net.get_weights() == by_hand.get_weights()
    assert net.get_state() == by_hand.get_state()
    assert history.steps == [steps // 3, 2 * steps // 3, steps] and history.stopped_step == steps


def test_batch_bounds():
    assert batch_bounds(10, 3, False) == ([0, 3, 6, 9], [3, 6, 9, 10])
    assert batch_bounds(10, 3, True) == ([0, 3, 6], [3, 6, 10])  # the lone row joins
    assert batch_bounds(9, 3, True) == ([0, 3, 6], [3, 6, 9])
    assert batch_bounds(5, 64, False) == ([0], [5])


def settings(**kwargs):
    values = dict(
        epochs=1,
        batch_size=8,
        lr=0.1,
        schedule=None,
        early_stopping=None,
        check_every=None,
        verbose=0,
        seed=0,
        stream=None,
        callback=None,
        initial_step=0,
        initial_epoch=0.0,
    )
    values.update(kwargs)
    return FitSettings(**values)


def test_early_stopping_part_counts_checks_without_improvement():
    train = synthetic(16)
    es = ann.EarlyStopping(patience=2, min_delta=0.1, restore_best=False)
    run = FitRun(ann.Network([30, 4]), train, train, settings(early_stopping=es), False)
    for step, loss in ((1, 1.0), (2, 0.95), (3, 0.5), (4, 0.45)):
        run.step = step
        run.early_stopping(loss)
        assert run.stop is None
    assert (run.history.best_step, run.history.best_val_loss) == (3, 0.5)  # 0.95: < min_delta
    run.step = 5
    run.early_stopping(math.nan)  # NaN: never the best, counts as no improvement
    assert run.stop == "early_stopping" and run.history.best_step == 3


def test_snapshot_and_restore_best_parts():
    train = synthetic(16)
    net = ann.Network([30, 4], seed=1)
    es = ann.EarlyStopping(restore_best=True)
    run = FitRun(net, train, train, settings(early_stopping=es), False)
    best = net.get_weights()
    run.step = 7
    run.early_stopping(0.5)  # the best so far: snapshot
    changed = ann.Network([30, 4], seed=2).get_weights()
    net.set_weights(changed)
    run.step = 8
    run.early_stopping(0.9)
    run.restore_best()
    assert net.get_weights() == best and run.history.restored_best


# ---- validation_split ---------------------------------------------------------------------------


def test_validation_split_is_the_seeded_split():
    data = synthetic(100, seed=2)
    a = ann.Network([30, 8, 4], seed=4)
    split = a.fit(data, validation_split=0.25, epochs=2, batch_size=10, lr=0.1, verbose=0)
    b = ann.Network([30, 8, 4], seed=4)
    train, val = data.split(0.25, seed=4)  # the network's seed, as fit's seed defaults to
    given = b.fit(train, val, epochs=2, batch_size=10, lr=0.1, verbose=0)
    assert split.val_loss == given.val_loss and not math.isnan(split.val_loss[0])
    assert a.get_weights() == b.get_weights()
    c = ann.Network([30, 8, 4], seed=4)
    other = c.fit(data, validation_split=0.25, seed=11, epochs=2, batch_size=10, verbose=0)
    assert other.val_loss != split.val_loss  # seed= chooses the split too


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, "0.2", True])
def test_validation_split_must_be_a_fraction(bad):
    with pytest.raises(ValueError, match="validation_split"):
        ann.Network([30, 4]).fit(synthetic(20), validation_split=bad, verbose=0)


def test_validation_split_or_validation_not_both():
    data = synthetic(20)
    with pytest.raises(ValueError, match="not both"):
        ann.Network([30, 4]).fit(data, data, validation_split=0.2, verbose=0)


def test_validation_split_feeds_early_stopping():
    history = ann.Network([30, 64, 4], seed=3).fit(
        noisy(200, seed=8),
        validation_split=0.5,
        epochs=30,
        batch_size=10,
        lr=0.2,
        early_stopping=ann.EarlyStopping(patience=2, check_every=5),
        verbose=0,
    )
    assert history.stop_reason == "early_stopping" and history.restored_best


# ---- verbose ------------------------------------------------------------------------------------


def train_with(stream, **kwargs):
    return ann.Network([30, 4]).fit(
        synthetic(40), epochs=3, batch_size=10, lr=0.1, stream=stream, **kwargs
    )


def test_verbose_0_is_silent():
    for kwargs in (dict(verbose=0), dict(progress=False)):
        stream = Terminal()
        train_with(stream, **kwargs)
        assert stream.getvalue() == ""


def test_verbose_1_is_the_bar_on_a_terminal_and_the_default():
    for kwargs in (dict(verbose=1), dict()):
        stream = Terminal()
        train_with(stream, **kwargs)
        text = stream.getvalue()
        assert "\r" in text and text.count("\n") == 3 and "epoch 3/3" in text


def test_verbose_2_is_one_plain_line_per_epoch_even_on_a_terminal():
    stream = Terminal()
    train_with(stream, verbose=2)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split()[:2] for line in lines] == [["epoch", f"{e}/3"] for e in (1, 2, 3)]
    assert all("loss" in line for line in lines)


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(verbose=3), "verbose"),
        (dict(verbose=True), "verbose"),
        (dict(verbose="1"), "verbose"),
        (dict(verbose=1, progress=True), "not both"),
        (dict(progress=1), "progress"),
    ],
)
def test_bad_verbose(kwargs, word):
    with pytest.raises(ValueError, match=word):
        train_with(io.StringIO(), **kwargs)


# ---- History.history ----------------------------------------------------------------------------


def test_history_dict_has_keras_names_and_the_same_values():
    train, val = synthetic(60, seed=1).split(0.25, seed=0)
    history = ann.Network([30, 8, 4]).fit(
        train, val, epochs=3, batch_size=10, lr=0.1, schedule=ann.Cosine(), verbose=0
    )
    h = history.history
    assert set(h) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "step",
        "epoch",
        "seconds",
    }
    assert h["loss"] == history.train_loss and h["accuracy"] == history.train_accuracy
    assert h["val_loss"] == history.val_loss and h["val_accuracy"] == history.val_accuracy
    assert h["lr"] == history.lr and h["epoch"] == [1.0, 2.0, 3.0]  # once per epoch
    assert all(len(values) == 3 for values in h.values())
    assert 0 < h["val_accuracy"][-1] <= 1 and h["lr"][0] > h["lr"][-1]
