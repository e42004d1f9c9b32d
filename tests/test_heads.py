"""Networks with other activations and heads (issue 22): float targets in ``Dataset``, what
each head reads and refuses, training on both backends to the same numbers, ``evaluate`` and
``predict`` for regression, the initialisation schemes, and the model file."""

from __future__ import annotations

import json
import math
import random
from array import array

import pytest

import ann
from ann._errors import DataError

ACTIVATIONS = ["identity", "relu", "leaky-relu", "sigmoid", "tanh", "gelu"]
HEADS = ["softmax-ce", "sigmoid-bce", "identity-mse", "sigmoid-mse"]


def regression_data(n: int = 96, seed: int = 0, outputs: int = 2) -> tuple[list, list]:
    rng = random.Random(seed)
    X = [[rng.uniform(-1.0, 1.0) for _ in range(4)] for _ in range(n)]
    Y = [[x[0] + 0.5 * x[1] * x[2], x[3] - x[0]][:outputs] for x in X]
    return X, Y


def classes_data(n: int = 96, seed: int = 1, K: int = 3) -> tuple[list, list]:
    rng = random.Random(seed)
    X = [[rng.uniform(-1.0, 1.0) for _ in range(4)] for _ in range(n)]
    y = [int((x[0] + x[1] + 1.0) * K / 2.0) % K for x in X]
    return X, y


# ---- Dataset(targets=...) ------------------------------------------------------------------


def test_targets_in_every_shape_a_user_has():
    X, Y = regression_data(10)
    flat = [row[0] for row in Y]
    one = ann.Dataset(X, targets=flat)
    assert one.num_targets == 1 and len(one) == 10 and not one.has_labels
    assert list(one.targets) == list(array("f", flat))
    two = ann.Dataset(X, targets=Y)
    assert two.num_targets == 2 and list(two.targets) == list(array("f", sum(Y, [])))
    buffered = ann.Dataset(array("f", sum(X, [])), targets=array("d", flat), shape=4)
    assert buffered.num_targets == 1 and list(buffered.targets) == list(one.targets)
    both = ann.Dataset(X, [0, 1] * 5, targets=Y)
    assert both.has_labels and both.num_targets == 2 and both.num_classes == 2
    assert "2 targets" in repr(two) and "2 classes, 2 targets" in repr(both)


def test_targets_follow_views_and_splits():
    X, Y = regression_data(20)
    ds = ann.Dataset(X, targets=Y)
    view = ds[5:9].subset([3, 0])
    assert list(view.targets) == list(array("f", Y[8] + Y[5]))
    assert view[1][1] == array("f", Y[5])  # no labels: an item is (row, its targets)
    rest, part = ds.split(0.25, seed=3)
    assert len(rest.targets) + len(part.targets) == 40
    assert ds.target_buffer() is rest.target_buffer()  # shared, never copied


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"targets": [1.0, math.nan, 2.0, 3.0]}, "targets: value 1 is nan; targets must be finite"),
        ({"targets": [[1.0], [2.0, 3.0], [1.0], [1.0]]}, "row 1 has 2 values, row 0 has 1"),
        ({"targets": ["a", "b", "c", "d"]}, "not a number or a row of numbers"),
        ({"targets": [1.0, 2.0, 3.0]}, "8 values of images do not make 3 images"),
        ({"labels": [0, 1, 0], "targets": [1.0, 2.0, 3.0, 4.0]}, "4 rows of targets for 3 labels"),
        ({}, "give labels (class indices), targets (float values), or both"),
        ({"targets": [1.0, 2.0, 3.0, 4.0], "classes": ["a", "b"]}, "need labels"),
    ],
)
def test_bad_targets_get_one_clear_line(kwargs, message):
    X = [[0.0, 1.0]] * 4
    labels = kwargs.pop("labels", None)
    with pytest.raises(DataError) as info:
        ann.Dataset(X, labels, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_data_set_of_targets_has_no_labels_to_read():
    ds = ann.Dataset([[0.0], [1.0]], targets=[0.5, 1.5])
    with pytest.raises(DataError, match="has no labels, only float targets"):
        _ = ds.labels
    assert ds.num_classes == 0 and ds.classes is None


# ---- what each head reads --------------------------------------------------------------------


def test_softmax_refuses_targets_without_labels():
    X, Y = regression_data(16)
    net = ann.Network([4, 3, 2])
    with pytest.raises(DataError, match="no class labels, and the softmax-ce head classifies"):
        net.fit(ann.Dataset(X, targets=Y), epochs=1, progress=False)


def test_a_sigmoid_head_needs_targets_in_0_1():
    X, Y = regression_data(16)
    net = ann.Network([4, 3, 2], head="sigmoid-bce")
    with pytest.raises(DataError, match=r"targets from -?[0-9.]+ to [0-9.]+, but the sigmoid-bce"):
        net.fit(ann.Dataset(X, targets=Y), epochs=1, progress=False)


def test_targets_must_match_the_outputs():
    X, Y = regression_data(16)
    net = ann.Network([4, 3, 3], head="identity-mse")
    with pytest.raises(DataError, match="has 2 targets per row but the network has 3 outputs"):
        net.evaluate(ann.Dataset(X, targets=Y))


def test_one_output_reads_binary_labels_only():
    X, y = classes_data(16, K=3)
    net = ann.Network([4, 3, 1], head="sigmoid-bce")
    with pytest.raises(
        DataError, match="with one output the sigmoid-bce head reads labels 0 and 1"
    ):
        net.fit(ann.Dataset(X, y), epochs=1, progress=False)


def test_a_network_built_from_data_gets_the_outputs_its_head_reads():
    X, Y = regression_data(16)
    assert ann.Network(data=ann.Dataset(X, targets=Y), head="identity-mse").sizes[-1] == 2
    X, y = classes_data(16, K=2)
    binary = ann.Dataset(X, y)
    assert ann.Network(data=binary, hidden=[3]).sizes == [4, 3, 2]
    assert ann.Network(data=binary, hidden=[3], head="sigmoid-bce").sizes == [4, 3, 1]


@pytest.mark.parametrize("head", ["sigmoid-bce", "identity-mse", "sigmoid-mse"])
def test_labels_read_as_one_hot_targets_train_as_the_targets_themselves(head):
    """A float head on labels trains exactly as on one-hot(labels) given as targets."""
    X, y = classes_data(48, K=3)
    one_hot = [[1.0 if k == t else 0.0 for k in range(3)] for t in y]
    nets = [ann.Network([4, 5, 3], head=head, seed=2) for _ in range(2)]
    nets[0].fit(ann.Dataset(X, y), epochs=2, batch_size=8, lr=0.3, progress=False)
    nets[1].fit(ann.Dataset(X, targets=one_hot), epochs=2, batch_size=8, lr=0.3, progress=False)
    assert nets[0].get_weights() == nets[1].get_weights()


def test_binary_labels_with_one_sigmoid_output():
    X, y = classes_data(200, K=2)
    ds = ann.Dataset(X, y)
    net = ann.Network(data=ds, hidden=[8], head="sigmoid-bce", activation="tanh", seed=0)
    net.fit(ds, epochs=40, batch_size=16, lr=0.5, progress=False)
    scores = net.evaluate(ds)
    assert scores["accuracy"] > 0.9
    predicted = net.predict(ds)
    assert set(predicted) == {0, 1}
    p = [row[0] for row in net.predict_proba(ds)]
    assert predicted == [int(v > 0.5) for v in p]


def test_multi_label_accuracy_counts_rows_with_every_label_right():
    X, _ = regression_data(8)
    targets = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] * 2
    ds = ann.Dataset(X, targets=targets)
    net = ann.Network([4, 2], head="sigmoid-bce")
    p = net.predict_proba(ds)
    right = sum(
        all((v > 0.5) == (t > 0.5) for v, t in zip(row, want)) for row, want in zip(p, targets)
    )
    assert net.evaluate(ds)["accuracy"] == right / 8


# ---- regression: fit, evaluate, predict ------------------------------------------------------


def test_regression_learns_and_reports_mse_mae_r2_per_output():
    X, Y = regression_data(200)
    ds = ann.Dataset(X, targets=Y)
    net = ann.Network([4, 16, 2], head="identity-mse", activation="tanh", init="glorot", seed=0)
    before = net.evaluate(ds)
    net.fit(ds, epochs=60, batch_size=16, lr=0.05, progress=False)
    scores = net.evaluate(ds)
    assert scores["loss"] < before["loss"] / 5 and scores["r2"] > 0.9
    values = net.predict_values(ds)
    for k in range(2):  # the metrics, worked out here from predict_values
        pred = [row[k] for row in values]
        true = [float(array("f", [row[k]])[0]) for row in Y]
        mse = sum((p - t) ** 2 for p, t in zip(pred, true)) / len(true)
        mae = sum(abs(p - t) for p, t in zip(pred, true)) / len(true)
        mean = sum(true) / len(true)
        r2 = 1 - mse * len(true) / sum((t - mean) ** 2 for t in true)
        got = scores["per_output"][k]
        assert got["mse"] == pytest.approx(mse) and got["mae"] == pytest.approx(mae)
        assert got["r2"] == pytest.approx(r2)
    assert scores["mse"] == pytest.approx(scores["loss"], rel=1e-6)  # the loss is the mean MSE
    assert "accuracy" not in scores
    assert net.predict(X[:3]) == values[:3]


def test_one_regression_output_predicts_a_float_per_row():
    X, Y = regression_data(20, outputs=1)
    net = ann.Network([4, 3, 1], head="identity-mse")
    predicted = net.predict(X)
    assert all(isinstance(v, float) for v in predicted) and len(predicted) == 20
    assert predicted == [row[0] for row in net.predict_values(X)]
    with pytest.raises(ValueError, match="predicts values, not probabilities"):
        net.predict_proba(X)


def test_large_regression_targets_are_not_taken_for_a_divergence():
    """The loss of an untrained network on targets near 1000 is about 10^6: that is where it
    starts (predicting 0), not an explosion."""
    X, Y = regression_data(64, outputs=1)
    ds = ann.Dataset(X, targets=[1000.0 + 10 * row[0] for row in Y])
    net = ann.Network([4, 8, 1], head="identity-mse", seed=0)
    history = net.fit(ds, epochs=3, batch_size=16, lr=1e-4, progress=False)
    assert history.stop_reason == "completed" and history.train_loss[-1] < 1e6
    assert math.isnan(history.train_accuracy[-1]) and math.isnan(history.val_accuracy[-1])


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_both_backends_train_the_same_network(activation, head):
    """Three steps with dropout on the C core and the float64 reference: the same weights to
    float32 rounding, for every activation and head."""
    if head == "softmax-ce":
        X, y = classes_data(48)
        ds = ann.Dataset(X, y)
    else:
        X, Y = regression_data(48)
        scale = 1.0 if head == "identity-mse" else 0.25
        ds = ann.Dataset(X, targets=[[0.5 + scale * v for v in row] for row in Y])
    K = 3 if head == "softmax-ce" else 2
    nets = [
        ann.Network(
            [4, 6, 5, K],
            activation=activation,
            head=head,
            dropout=0.2,
            init="auto",
            seed=3,
            backend=backend,
        )
        for backend in ("c", "python")
    ]
    for net in nets:
        net.fit(ds, epochs=1, batch_size=16, lr=0.2, progress=False)
    c, py = (net.get_weights() for net in nets)
    assert max(abs(a - b) for a, b in zip(c, py)) < 1e-5
    assert nets[0].evaluate(ds)["loss"] == pytest.approx(nets[1].evaluate(ds)["loss"], rel=1e-5)


def test_activations_per_layer():
    net = ann.Network([4, 5, 5, 2], activation=["tanh", "gelu"], negative_slope=0.3)
    assert net.activations == ["tanh", "gelu"] and net.negative_slope == 0.3
    assert "tanh/gelu" in repr(net)
    with pytest.raises(ValueError, match="3 names for 2 hidden layers"):
        ann.Network([4, 5, 5, 2], activation=["tanh", "gelu", "relu"])
    with pytest.raises(ValueError, match="activation must be one of"):
        ann.Network([4, 5, 2], activation="swish")
    with pytest.raises(ValueError, match="head must be one of"):
        ann.Network([4, 5, 2], head="softmax")
    with pytest.raises(ValueError, match="negative_slope must be a finite number >= 0"):
        ann.Network([4, 5, 2], negative_slope=-0.1)
    with pytest.raises(ValueError, match="init must be one of"):
        ann.Network([4, 5, 2], init="xavier")


# ---- initialisation --------------------------------------------------------------------------


def bounds(net: ann.Network) -> list[float]:
    return [max(abs(v) for v in net.tensor(l, "weight")) for l in range(len(net.sizes) - 1)]


def test_each_init_scheme_draws_the_same_numbers_scaled_by_its_bound():
    sizes = [50, 40, 30, 10]
    uniform = ann.Network(sizes, init="uniform", seed=4)
    for scheme, activation, limits in (
        ("he", "relu", [math.sqrt(6 / 50), math.sqrt(6 / 40), math.sqrt(6 / 30)]),
        ("glorot", "relu", [math.sqrt(6 / 90), math.sqrt(6 / 70), math.sqrt(6 / 40)]),
        ("auto", "relu", [math.sqrt(6 / 50), math.sqrt(6 / 40), math.sqrt(6 / 40)]),
        ("auto", "tanh", [math.sqrt(6 / 90), math.sqrt(6 / 70), math.sqrt(6 / 40)]),
        (
            "he",
            "leaky-relu",
            [math.sqrt(6 / (1.25 * 50)), math.sqrt(6 / (1.25 * 40)), math.sqrt(6 / 30)],
        ),
    ):
        net = ann.Network(sizes, init=scheme, activation=activation, negative_slope=0.5, seed=4)
        for l, limit in enumerate(limits):
            old = uniform.tensor(l, "weight")
            scale = limit * math.sqrt(sizes[l])  # the uniform bound is 1 / sqrt(n_in)
            new = net.tensor(l, "weight")
            assert max(abs(v) for v in new) <= limit
            assert max(abs(v) for v in new) > 0.9 * limit
            assert all(abs(a * scale - b) <= 1e-6 * limit for a, b in zip(old, new)), (scheme, l)


@pytest.mark.parametrize("scheme", ["auto", "he", "glorot", "uniform"])
def test_both_backends_draw_identical_weights_for_every_scheme(scheme):
    nets = [
        ann.Network(
            [9, 7, 5, 3], activation=["leaky-relu", "sigmoid"], init=scheme, seed=6, backend=b
        )
        for b in ("c", "python")
    ]
    assert nets[0].get_weights() == nets[1].get_weights()


# ---- the model file --------------------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS)
def test_a_saved_network_loads_with_its_activations_and_head(tmp_path, head):
    net = ann.Network(
        [4, 5, 4, 2], activation=["leaky-relu", "gelu"], head=head, negative_slope=0.2, seed=1
    )
    path = tmp_path / "m.safetensors"
    net.save(path)
    loaded = ann.Network.load(path)
    assert (loaded.activations, loaded.head, loaded.negative_slope) == (
        ["leaky-relu", "gelu"],
        head,
        0.2,
    )
    X, _ = regression_data(5)
    assert loaded.predict_values(X) == net.predict_values(X)
    meta = loaded.metadata
    output = {"softmax-ce": "softmax", "identity-mse": "identity"}.get(head, "sigmoid")
    assert json.loads(meta["activations"]) == ["leaky-relu", "gelu", output]
    assert meta["head"] == head


def test_a_file_written_before_heads_loads_as_relu_and_softmax(tmp_path):
    """tests/corpus/model/valid_ann_writer.safetensors was written by ann before issue 22: no
    "head", no "negative_slope". It loads as ReLU + softmax-ce, and predicts what a forward
    pass written here from its tensors gives."""
    from pathlib import Path

    from ann._safetensors import load_file
    from ann.export._spec import forward, from_network

    path = Path(__file__).parent / "corpus" / "model" / "valid_ann_writer.safetensors"
    _, metadata = load_file(path)
    assert "head" not in metadata and "negative_slope" not in metadata
    net = ann.Network.load(path)
    assert net.head == "softmax-ce" and set(net.activations) == {"relu"}
    spec = from_network(net, inputs="features")
    rng = random.Random(0)
    rows = [[rng.uniform(0, 1) for _ in range(net.sizes[0])] for _ in range(5)]
    for row, p in zip(rows, net.predict_proba(rows)):
        want = forward(spec, row)[-1][1]
        assert max(abs(a - b) for a, b in zip(p, want)) < 1e-5


@pytest.mark.parametrize(
    "metadata,message",
    [
        ({"head": "softmax-ce", "activations": '["relu", "sigmoid"]'}, "needs a softmax output"),
        ({"head": "hinge"}, "unknown head 'hinge'"),
        ({"activations": '["softmax", "softmax"]'}, "cannot be a hidden layer's"),
        ({"activations": '["relu", "tanh"]'}, "cannot be the output layer's"),
        ({"negative_slope": "-1"}, "negative_slope '-1' is not a finite number >= 0"),
    ],
)
def test_a_model_file_with_an_impossible_design_is_refused(tmp_path, metadata, message):
    from ann._modelfile import ModelFile, save_model

    sizes = [3, 2, 2]
    model = ModelFile(
        sizes=sizes,
        weights=[array("f", [0.1] * 6), array("f", [0.1] * 4)],
        biases=[array("f", [0.0] * 2), array("f", [0.0] * 2)],
        metadata=dict(metadata),
    )
    path = tmp_path / "bad.safetensors"
    save_model(path, model)
    with pytest.raises(ann.ModelFileError, match=message):
        ann.Network.load(path)


def test_nielsens_eta_is_lr_eta_k_over_2():
    """One SGD step of ann's sigmoid-mse at lr = eta K / 2 is the step of Nielsen's book
    (chapter 1: w -> w - eta / m sum_x dC_x/dw, C_x = |y - a|^2 / 2), written out here with its
    own backpropagation, for a 4-3-4 sigmoid network (docs/heads.md, the nielsen preset)."""
    from ann._presets import PRESETS

    eta, K, m = 3.0, 4, 5  # K != 2, where lr = eta K / 2 would equal eta
    X, y = classes_data(m, K=K)
    net = ann.Network(
        [4, 3, K],
        activation="sigmoid",
        head="sigmoid-mse",
        seed=4,
        backend="python",
        standardize=False,
    )
    W1, b1 = (list(v) for v in net.layer(0))
    W2, b2 = (list(v) for v in net.layer(1))

    def sig(v: float) -> float:
        return 1.0 / (1.0 + math.exp(-v))

    gW1, gb1, gW2, gb2 = [0.0] * 12, [0.0] * 3, [0.0] * (3 * K), [0.0] * K
    for x, label in zip(X, y):
        z1 = [sum(x[i] * W1[i * 3 + j] for i in range(4)) + b1[j] for j in range(3)]
        a1 = [sig(v) for v in z1]
        z2 = [sum(a1[i] * W2[i * K + k] for i in range(3)) + b2[k] for k in range(K)]
        a2 = [sig(v) for v in z2]
        d2 = [(a2[k] - (k == label)) * a2[k] * (1 - a2[k]) for k in range(K)]
        d1 = [sum(W2[j * K + k] * d2[k] for k in range(K)) * a1[j] * (1 - a1[j]) for j in range(3)]
        for j in range(3):
            gb1[j] += d1[j]
            for i in range(4):
                gW1[i * 3 + j] += x[i] * d1[j]
            for k in range(K):
                gW2[j * K + k] += a1[j] * d2[k]
        for k in range(K):
            gb2[k] += d2[k]
    book = [w - eta / m * g for w, g in zip(W1 + b1 + W2 + b2, gW1 + gb1 + gW2 + gb2)]
    # one epoch of one batch of all m rows: one step
    net.fit(ann.Dataset(X, y), epochs=1, batch_size=m, lr=eta * K / 2, progress=False)
    ann_step = list(net.get_weights())
    assert max(abs(a - b) for a, b in zip(ann_step, book)) < 1e-6
    assert PRESETS["nielsen"].lr == 3.0 * 10 / 2  # the same rule for MNIST's K = 10
