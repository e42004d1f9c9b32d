"""Same seed, same weights: run to run, and whatever the thread count."""

from __future__ import annotations

import ann


def train_bytes(ds, sizes, threads, **kwargs):
    before = ann.get_num_threads()
    try:
        ann.set_num_threads(threads)
        net = ann.Network(sizes, seed=3, batchnorm=kwargs.pop("batchnorm", False))
        net.fit(ds, epochs=1, progress=False, **kwargs)
        return net.get_weights().tobytes() + net.get_state().tobytes()
    finally:
        ann.set_num_threads(before)


def test_bit_identical_for_any_thread_count(mnist):
    train, _ = mnist
    part = train[:6000]
    # wide enough that the matrix multiplies are split between threads
    for sizes, kwargs in (
        ([784, 256, 128, 10], dict(batch_size=128, lr=0.05)),
        ([784, 64, 10], dict(batch_size=200, lr=0.01, optimizer="adam", batchnorm=True, l2=1e-4)),
        # > 262,144 parameters: the optimizer step itself runs on the pool
        ([784, 512, 10], dict(batch_size=250, lr=0.01, optimizer="momentum")),
    ):
        runs = {t: train_bytes(part, sizes, t, **dict(kwargs)) for t in (1, 2, 3, 8)}
        assert len(set(runs.values())) == 1, {t: hash(v) for t, v in runs.items()}
        assert train_bytes(part, sizes, 2, **dict(kwargs)) == runs[1]  # and run to run


def test_predictions_identical_for_any_thread_count(mnist):
    _, test = mnist
    net = ann.Network([784, 300, 10], seed=1)
    outputs = set()
    before = ann.get_num_threads()
    try:
        for threads in (1, 2, 5):
            ann.set_num_threads(threads)
            probs = net.predict_proba(test[:1000])
            outputs.add(tuple(v for row in probs for v in row))
    finally:
        ann.set_num_threads(before)
    assert len(outputs) == 1
