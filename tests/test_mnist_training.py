"""The seed network trained end to end on full MNIST (read from ../shared/mnist)."""

from __future__ import annotations

import pytest

import ann


@pytest.mark.slow
def test_seed_network_reaches_stated_accuracy_on_full_mnist(mnist):
    train_all, test = mnist
    assert (len(train_all), len(test)) == (60000, 10000)
    train, val = train_all.split(0.2, seed=42)
    assert (len(train), len(val)) == (48000, 12000)
    net = ann.Network([784, 20, 7, 5, 10], seed=0)
    history = net.fit(train, val, epochs=3, batch_size=64, lr=0.05, progress=False)
    result = net.evaluate(test)
    # the floor stated in the issue: >= 0.85 test accuracy after 3 epochs at batch 64, lr 0.05
    assert result["accuracy"] >= 0.85, result
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.train_loss[-1] < history.train_loss[0]
    # predictions for a 256-aligned and an unaligned slice agree with whole-set prediction
    whole = net.predict(test)
    assert net.predict(test[1000:1300]) == whole[1000:1300]


def test_seed_split_of_mnist_is_48000_12000(mnist):
    train_all, _ = mnist
    train, val = train_all.split(0.2, seed=42)
    assert set(train.index_array()).isdisjoint(val.index_array())
    counts = [0] * 10
    for label in train_all.labels:
        counts[label] += 1
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
