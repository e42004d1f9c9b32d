"""Inference on one network from many Python threads at once (ann.h, ann_net_predict).

The C core releases the GIL for the whole of a call, so threads that share one Network (a web
server's handlers, joblib's threading backend) run ann_net_predict truly at the same time.
Each call brings its own buffers (csrc/net.c: a net_work of at most 256 rows), and the forward
pass only reads the network, so every answer must be the one a lone thread gets. These tests
run many threads x many calls, mixing predict, predict_proba and evaluate on chunks of
different sizes (several 256-row blocks, and a few rows), and compare every result with the
sequential one, bit for bit; with the core's own pool on (2 threads) and off (1 thread).

On the old core, whose predict used the network's one workspace, most calls came back wrong.
"""

from __future__ import annotations

import random
import threading
from array import array
from collections.abc import Callable

import pytest

import ann

D, K = 784, 10
THREADS, ROUNDS = 8, 12
CHUNK_ROWS = (700, 300, 257, 5, 1, 513)  # blocks of 256 and the odd rows after them


def run_threads(n: int, body: Callable[[int], list]) -> list[list]:
    """body(t) on n threads released together; their results, in thread order."""
    barrier = threading.Barrier(n)
    results: list[list] = [[] for _ in range(n)]
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            results[t] = body(t)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture(params=[1, 2], ids=["core-threads-1", "core-threads-2"])
def core_threads(request, core):
    before = ann.get_num_threads()
    ann.set_num_threads(request.param)
    yield request.param
    ann.set_num_threads(before)


@pytest.fixture(scope="module")
def chunks() -> list[ann.Dataset]:
    rng = random.Random(23)
    out = []
    for rows in CHUNK_ROWS:
        pixels = bytes(rng.randrange(256) if rng.random() < 0.3 else 0 for _ in range(rows * D))
        labels = [rng.randrange(K) for _ in range(rows)]
        out.append(ann.Dataset(pixels, labels, (28, 28), num_classes=K))
    return out


@pytest.fixture(scope="module")
def network(core, chunks) -> ann.Network:
    """Issue 23's network, trained a little so its answers differ from row to row."""
    net = ann.Network([D, 128, K], seed=0)
    net.fit(chunks[0], epochs=2, batch_size=50, lr=0.05, verbose=0, seed=1)
    return net


def calls_of(net: ann.Network, chunks: list[ann.Dataset]) -> list[Callable[[], object]]:
    """Every kind of inference call, on every chunk."""
    out: list[Callable[[], object]] = []
    for ds in chunks:
        out.append(lambda ds=ds: net.predict(ds))
        out.append(lambda ds=ds: net.predict_proba(ds))
        out.append(lambda ds=ds: net.evaluate(ds))
        out.append(lambda ds=ds: net.predict(ds.images.tobytes()))
    return out


def assert_concurrent_calls_agree(calls: list[Callable[[], object]], seed: int) -> list:
    """Each call's result made alone (one thread, one call at a time), then THREADS threads
    making ROUNDS calls each, every thread in its own order (from ``seed`` + its number) so that
    different calls overlap: every concurrent result must equal the one made alone. Returns the
    results made alone."""
    expected = [call() for call in calls]

    def body(t: int) -> list:
        order = random.Random(seed + t).choices(range(len(calls)), k=ROUNDS)
        return [(i, calls[i]()) for i in order]

    results = run_threads(THREADS, body)
    wrong = [i for per_thread in results for i, got in per_thread if got != expected[i]]
    assert not wrong, f"{len(wrong)} of {THREADS * ROUNDS} concurrent calls differ"
    return expected


def test_many_threads_predict_on_one_network(network, chunks, core_threads):
    expected = assert_concurrent_calls_agree(calls_of(network, chunks), seed=0)
    # a result handed to the wrong call would be seen: the chunks' answers all differ
    assert len({str(e) for e in expected[1::4]}) == len(chunks)


def as_2d(rows: list[list[float]]) -> memoryview:
    """A C-contiguous 2-D float32 buffer, as a NumPy array would hand it over (the fast input
    path of MLPClassifier, so the C calls, not the reading of X, take the time)."""
    flat = array("f", (v for row in rows for v in row))
    return memoryview(flat).cast("B").cast("f", (len(rows), len(rows[0])))


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_many_threads_predict_on_one_fitted_classifier(core, core_threads):
    rng = random.Random(4)
    n, d = 2000, 64
    centers = [[rng.gauss(0, 2) for _ in range(d)] for _ in range(3)]
    y = [rng.randrange(3) for _ in range(n)]
    X = [[c + rng.gauss(0, 1) for c in centers[label]] for label in y]
    est = ann.MLPClassifier(hidden_layer_sizes=(256,), max_iter=3, random_state=0)
    est.fit(as_2d(X), y)
    parts = [as_2d(X[:900]), as_2d(X[900:901]), as_2d(X[901:])]
    calls: list[Callable[[], object]] = []
    for part in parts:
        calls.append(lambda part=part: est.predict(part))
        calls.append(lambda part=part: est.predict_proba(part))
        calls.append(lambda part=part: est.predict_log_proba(part))
    calls.append(lambda: est.score(as_2d(X), y))
    assert_concurrent_calls_agree(calls, seed=100)
