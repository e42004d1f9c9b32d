"""What ``ann train`` does for a table beyond what it does for images: regression targets on a
standard scale while training, and the trivial answers a trained network must beat.

**Targets.** A regression's targets can be in any units (prices in the thousands, diabetes'
25 to 346); at Adam's 0.001 an identity output reaches them slowly, the loss is dominated by
their size and the divergence guard sees large numbers. So ``ann train`` trains on
(y - mean) / std per output (the training rows' mean and standard deviation) and then folds
the scale into the output layer,

    y = std * (h W + b) + mean = h (W * std) + (b * std + mean),

so the saved network predicts in the targets' own units, with nothing new in the model file
(the C header and ONNX exports need nothing either). ``unfold_target_scaling`` undoes it for
a network that goes on training (``--resume``).

**Baselines.** A classifier is compared with always answering the most frequent class of the
training rows, a regression with always answering the training rows' mean.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence

from ._data import Dataset
from ._network import Network


def target_scaling(data: Dataset) -> tuple[list[float], list[float]]:
    """(mean, standard deviation) of each target over ``data``'s rows; a constant target gets
    std 1 (it is only centred)."""
    targets = data.targets
    T = data.num_targets
    if targets is None or T == 0:
        raise ValueError(f"{data.name} has no float targets to scale")
    n = len(data)
    means, stds = [], []
    for k in range(T):
        column = targets[k::T]
        mean = math.fsum(column) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in column) / n)
        means.append(mean)
        stds.append(std if std > 0 else 1.0)
    return means, stds


def scaled(data: Dataset, means: Sequence[float], stds: Sequence[float]) -> Dataset:
    """``data`` (a whole data set, not a view: a seeded split of the result then picks the
    same rows as of ``data``) with each target as (y - mean) / std."""
    T = data.num_targets
    base = data.target_buffer()
    if base is None or len(base) != len(data) * T:
        raise ValueError(f"{data.name}: scale the targets of a whole data set, not of a view")
    values = array("f", ((v - means[i % T]) / stds[i % T] for i, v in enumerate(base)))
    rows = memoryview(values).cast("B").cast("f", (len(values) // T, T))
    out = Dataset(data.buffers().images, None, data.shape, targets=rows, name=data.name)
    out.feature_names = data.feature_names
    return out


def _output_layer(net: Network) -> tuple[int, array[float], array[float], array[float]]:
    params, state = net.get_weights(), net.get_state()
    last = len(net.sizes) - 2
    return (
        last,
        params,
        net._slice(last, "weight", params, state),
        net._slice(last, "bias", params, state),
    )


def fold_target_scaling(net: Network, means: Sequence[float], stds: Sequence[float]) -> None:
    """Make a network trained on (y - mean) / std predict y: W * std, b * std + mean."""
    _rescale(net, means, stds, inverse=False)


def unfold_target_scaling(net: Network, means: Sequence[float], stds: Sequence[float]) -> None:
    """The inverse of ``fold_target_scaling``: W / std, (b - mean) / std."""
    _rescale(net, means, stds, inverse=True)


def _rescale(net: Network, means: Sequence[float], stds: Sequence[float], inverse: bool) -> None:
    last, params, W, b = _output_layer(net)
    K = net.sizes[-1]
    if len(means) != K or len(stds) != K:
        raise ValueError(f"{len(means)} target scales for a network of {K} outputs")
    for i in range(len(W)):
        k = i % K
        W[i] = W[i] / stds[k] if inverse else W[i] * stds[k]
    for k in range(K):
        b[k] = (b[k] - means[k]) / stds[k] if inverse else b[k] * stds[k] + means[k]
    state = net.get_state()
    net._place(last, "weight", W, params, state)
    net._place(last, "bias", b, params, state)
    net.set_weights(params)


def most_frequent_class(train: Dataset) -> int:
    """The class most training rows have (the smallest index among ties)."""
    counts = Counter(train.labels)
    top = max(counts.values())
    return min(k for k, c in counts.items() if c == top)


def majority_accuracy(train: Dataset, rows: Dataset) -> tuple[int, float]:
    """(the training rows' most frequent class, the share of ``rows`` that have it)."""
    common = most_frequent_class(train)
    return common, sum(1 for label in rows.labels if label == common) / len(rows)


def mean_baseline(train: Dataset, rows: Dataset) -> list[float]:
    """The mean squared error on ``rows`` of always answering the training rows' mean, for
    each target (what R² compares with, but with the training rows' mean)."""
    T = train.num_targets
    train_targets, targets = train.targets, rows.targets
    assert train_targets is not None and targets is not None
    out = []
    for k in range(T):
        mean = math.fsum(train_targets[k::T]) / len(train)
        out.append(math.fsum((v - mean) ** 2 for v in targets[k::T]) / len(rows))
    return out
