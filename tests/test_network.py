"""The Network API: construction, training on both backends, inference, data views."""

from __future__ import annotations

import math
import os
import random
from array import array

import pytest
from conftest import run_python

import ann
from ann import _reference as ref


def synthetic(n=120, D=30, K=4, seed=0, name="synthetic", mostly_zero=False):
    """Images whose class is readable from the brightest of K pixel bands (learnable).
    With ``mostly_zero``, 90 % of the background pixels are 0, as 81 % of MNIST's are: a zero
    pixel adds exactly nothing to z = x W and to its row of dW = x^T dz, so both backends must
    agree on many exact zeros and on sums with most terms missing."""
    rng = random.Random(seed)
    band = D // K
    pixels = bytearray()
    labels = bytearray()
    for _ in range(n):
        label = rng.randrange(K)
        row = [0 if mostly_zero and rng.random() < 0.9 else rng.randrange(60) for _ in range(D)]
        for i in range(label * band, (label + 1) * band):
            row[i] = 150 + rng.randrange(100)
        pixels.extend(row)
        labels.append(label)
    return ann.Dataset(bytes(pixels), bytes(labels), D, num_classes=K, name=name)


# ---- construction and argument checks ------------------------------------------------------


@pytest.mark.parametrize(
    "layers", [[], [784], [784, 0, 10], [784, -1, 10], [784, 2.5, 10], "abc", [784, True, 10]]
)
def test_bad_layer_lists_are_rejected(layers):
    with pytest.raises((ValueError, TypeError)) as info:
        ann.Network(layers)
    assert "layer" in str(info.value)


def test_default_network_is_the_seed_study():
    net = ann.Network()
    assert net.sizes == [784, 20, 7, 5, 10]
    assert net.num_params == 784 * 20 + 20 + 20 * 7 + 7 + 7 * 5 + 5 + 5 * 10 + 10


def test_initialization_is_uniform_with_fan_in_limit_and_zero_biases():
    net = ann.Network([784, 20, 7, 5, 10], seed=3)
    for l, (n_in, n_out) in enumerate([(784, 20), (20, 7), (7, 5), (5, 10)]):
        W, b = net.layer(l)
        limit = 1 / math.sqrt(n_in)
        assert len(W) == n_in * n_out and len(b) == n_out
        assert all(-limit <= w <= limit for w in W)
        assert max(W) > 0.8 * limit and min(W) < -0.8 * limit  # spans the range
        assert all(v == 0.0 for v in b)
    assert ann.Network(seed=3).get_weights() == net.get_weights()
    assert ann.Network(seed=4).get_weights() != net.get_weights()


def test_both_backends_start_from_identical_weights():
    c = ann.Network([30, 7, 4], seed=11, backend="c")
    py = ann.Network([30, 7, 4], seed=11, backend="python")
    assert c.get_weights() == py.get_weights()


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=-3), "batch_size"),
        (dict(epochs=0), "epochs"),
        (dict(lr=-0.1), "lr"),
        (dict(lr=math.nan), "lr"),
        (dict(lr=math.inf), "lr"),
        (dict(batch_size=2.0), "batch_size"),
    ],
)
def test_bad_fit_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ann.Network([30, 5, 4]).fit(synthetic(), progress=False, **kwargs)


@pytest.mark.parametrize("backend", ["c", "python"])
@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(betas=(1.0, 0.999)), "betas must be two numbers in [0, 1), got (1.0, 0.999)"),
        (dict(betas=(0.9, 1 - 1e-9)), "betas must be two numbers in [0, 1)"),  # 1.0 in float32
        (dict(betas=(-0.1, 0.999)), "betas must be two numbers in [0, 1)"),
        (dict(betas=(0.9,)), "betas must be two numbers in [0, 1), got (0.9,)"),
        (dict(betas="ab"), "betas must be two numbers in [0, 1), got 'ab'"),
        (dict(betas=(0.9, math.nan)), "betas must be two numbers in [0, 1)"),
        (dict(eps=0.0), "eps must be a finite number > 0, got 0.0"),
        (dict(eps=-1e-8), "eps must be a finite number > 0"),
        (dict(eps=math.nan), "eps must be a finite number > 0"),
        (dict(eps=math.inf), "eps must be a finite number > 0"),
        (dict(eps="1e-8"), "eps must be a finite number > 0"),
    ],
)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_bad_adam_settings_are_rejected_the_same_way_by_both_backends(
    backend, kwargs, message, optimizer
):
    net = ann.Network([30, 5, 4], backend=backend)
    before = net.get_weights()
    with pytest.raises(ValueError) as info:
        net.fit(synthetic(), optimizer=optimizer, progress=False, **kwargs)
    assert str(info.value).startswith(message)
    assert net.get_weights() == before


@pytest.mark.parametrize(
    "args",
    [
        (3, 0.0, 1.0, 0.999, 1e-8, 0.0),
        (3, 0.0, 0.9, 0.999, 0.0, 0.0),
        (3, 0.0, 0.9, 1 - 1e-9, 1e-8, 0.0),
        (3, 0.0, 0.9, 0.999, math.nan, 0.0),
        (1, 1.0, 0.9, 0.999, 1e-8, 0.0),
        (2, -0.5, 0.9, 0.999, 1e-8, 0.0),
        (0, 0.0, 0.9, 0.999, 1e-8, -1.0),
        (0, 0.0, 0.9, 0.999, 1e-8, math.inf),
        (4, 0.0, 0.9, 0.999, 1e-8, 0.0),
    ],
)
def test_backends_refuse_the_same_optimizer_settings_with_the_same_message(args):
    """Below fit's checks, the backends themselves agree: the reference raises the C
    backend's ValueError, not ZeroDivisionError, and does not accept eps = 0."""
    messages = []
    for backend in ("c", "python"):
        net = ann.Network([30, 5, 4], backend=backend)
        with pytest.raises(ValueError) as info:
            net._net.set_optimizer(*args)
        messages.append(str(info.value))
    assert messages[0] == messages[1] == "choosing the optimizer: an argument is out of range"


def test_reference_adam_update_refuses_beta_one_instead_of_dividing_by_zero():
    with pytest.raises(ValueError, match="out of range"):
        ref.adam_update([1.0], [0.0], [0.0], [0.5], 0.1, 1.0, 0.999, 1e-8, 1)


def test_good_adam_settings_train_the_same_on_both_backends():
    results = []
    for backend in ("c", "python"):
        net = ann.Network([30, 5, 4], seed=2, backend=backend)
        net.fit(
            synthetic(60), epochs=1, optimizer="adam", betas=(0.8, 0.99), eps=1e-6, progress=False
        )
        results.append(net.get_weights())
    assert max(abs(a - b) for a, b in zip(*results)) < 1e-4


@pytest.mark.parametrize("backend", ["c", "python"])
def test_metadata_exists_on_a_new_network_and_after_load(tmp_path, backend):
    net = ann.Network([30, 5, 4], backend=backend)
    assert net.metadata == {}
    path = tmp_path / "m.safetensors"
    net.save(path, metadata={"note": "hello"})
    loaded = ann.Network.load(path, backend=backend)
    assert loaded.metadata["note"] == "hello"


def test_network_applied_to_data_of_another_size():
    net = ann.Network([784, 10, 10])
    with pytest.raises(ann.DataError, match="30 features per image but the network takes 784"):
        net.fit(synthetic(), progress=False)
    with pytest.raises(ann.DataError, match="takes 784"):
        net.evaluate(synthetic())
    with pytest.raises(ann.DataError, match="whole number of images"):
        net.predict(b"\x00" * 100)
    with pytest.raises(ann.DataError, match="has 3 values"):
        net.predict([[0.0, 0.5, 1.0]])


def test_nan_in_float_inputs_is_rejected():
    net = ann.Network([3, 4, 2])
    with pytest.raises(ann.DataError, match="NaN"):
        net.predict([[0.0, math.nan, 1.0]])


# ---- training --------------------------------------------------------------------------------


def test_training_reduces_loss_and_learns_synthetic_task():
    train, val = synthetic(400, seed=1).split(0.25, seed=0)
    net = ann.Network([30, 16, 4], seed=0)
    before = net.evaluate(val)
    history = net.fit(train, val, epochs=15, batch_size=16, lr=0.1, progress=False)
    after = net.evaluate(val)
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] >= 0.9
    assert len(history.steps) == 15 and history.steps[-1] == 15 * math.ceil(300 / 16)
    assert history.val_loss[-1] == pytest.approx(after["loss"])
    assert history.stop_reason == "completed"


def test_last_partial_batch_is_used():
    """With 10 examples and batch 4, an epoch is 3 steps (4 + 4 + 2)."""
    ds = synthetic(10)
    history = ann.Network([30, 4], seed=0).fit(ds, epochs=2, batch_size=4, progress=False)
    assert history.steps == [3, 6]


@pytest.mark.parametrize("pixels", ["dense", "mostly_zero"])
@pytest.mark.parametrize("batch", [1, 7, 32])
def test_backends_agree_on_a_tiny_training_run(batch, pixels):
    train = synthetic(70, seed=2, mostly_zero=pixels == "mostly_zero")
    nets = {b: ann.Network([30, 6, 5, 4], seed=5, backend=b) for b in ("c", "python")}
    histories = {
        b: n.fit(train, epochs=2, batch_size=batch, lr=0.2, progress=False, seed=9)
        for b, n in nets.items()
    }
    c, py = nets["c"].get_weights(), nets["python"].get_weights()
    scale = max(abs(v) for v in py)
    assert max(abs(a - b) for a, b in zip(c, py)) <= 1e-4 * scale
    assert histories["c"].train_loss == pytest.approx(histories["python"].train_loss, rel=1e-4)
    assert c != nets["c"].__class__([30, 6, 5, 4], seed=5).get_weights()  # it did train


def test_same_seed_gives_bit_identical_weights():
    train = synthetic(100, seed=4)
    runs = []
    for _ in range(2):
        net = ann.Network([30, 8, 4], seed=1)
        net.fit(train, epochs=2, batch_size=8, lr=0.1, progress=False)
        runs.append(net.get_weights().tobytes())
    assert runs[0] == runs[1]


def test_diverging_run_stops_and_keeps_last_good_weights():
    train = synthetic(64, seed=6)
    net = ann.Network([30, 8, 4], seed=1)
    with pytest.raises(ann.TrainingError, match="diverged") as info:
        net.fit(train, epochs=50, batch_size=8, lr=1e30, progress=False)
    assert all(math.isfinite(v) for v in net.get_weights())
    assert info.value.history.stop_reason == "diverged"


# ---- inference -----------------------------------------------------------------------------


@pytest.mark.parametrize("pixels", ["dense", "mostly_zero"])
def test_predictions_agree_across_input_forms(pixels):
    ds = synthetic(50, seed=7, mostly_zero=pixels == "mostly_zero")
    net = ann.Network([30, 8, 4], seed=2)
    net.fit(ds, epochs=3, batch_size=10, lr=0.1, progress=False)
    by_dataset = net.predict(ds)
    assert by_dataset == net.predict(ds.images.tobytes())
    assert by_dataset == net.predict([list(ann.scale_pixels(row)) for row in ds.images])
    probs = net.predict_proba(ds)
    assert len(probs) == 50 and all(len(p) == 4 for p in probs)
    assert all(abs(sum(p) - 1.0) < 1e-5 for p in probs)
    assert by_dataset == [max(range(4), key=p.__getitem__) for p in probs]
    result = net.evaluate(ds)
    assert result["accuracy"] == sum(p == t for p, t in zip(by_dataset, ds.labels)) / 50
    expected_loss = -sum(math.log(p[t]) for p, t in zip(probs, ds.labels)) / 50
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-4)


def test_prediction_over_views_uses_the_right_rows():
    ds = synthetic(600, seed=8)
    net = ann.Network([30, 8, 4], seed=2)
    whole = net.predict(ds)
    assert net.predict(ds[300:600]) == whole[300:600]  # more than one 256-row block
    picked = [5, 599, 0, 300, 5]
    assert net.predict(ds.subset(picked)) == [whole[i] for i in picked]
    assert net.predict(ds[::-1]) == whole[::-1]


# ---- data sets -----------------------------------------------------------------------------


def test_views_share_pixels_and_index_correctly():
    ds = synthetic(100)
    part = ds[10:20]
    assert len(part) == 10 and part._images is ds._images
    assert part[0] == ds[10] and part[-1] == ds[19]
    sub = part.subset([9, 0])
    assert sub[0] == ds[19] and sub[1] == ds[10] and sub._images is ds._images
    assert sub.labels == array("i", [ds[19][1], ds[10][1]])
    assert ds.images.shape == (100, 30) and ds.images[3] == ds[3][0]
    with pytest.raises(IndexError):
        part[10]
    with pytest.raises(IndexError):
        ds.subset([100])


def test_dataset_buffers_are_the_shared_base_bytes_and_the_rows_of_the_view():
    ds = synthetic(100)
    images, labels, n_rows, rows = ds.buffers()
    assert (n_rows, rows) == (100, None)
    assert images == ds.images.tobytes() and labels == ds.labels
    part = ds[10:20].buffers()
    assert part.images is images and part.labels is labels and part.n_rows == 100
    assert list(part.rows) == list(range(10, 20))
    assert list(ds[10:20].subset([9, 0]).buffers().rows) == [19, 10]
    assert list(ds[::-1].buffers().rows) == list(range(99, -1, -1))
    assert ds[:5].buffers().rows is None  # rows 0..4 in order: no index needed


def test_only_the_data_module_reads_a_datasets_private_fields():
    """The backend gets a Dataset's bytes through Dataset.buffers(), not its internals."""
    import ast
    from pathlib import Path

    private = {"_images", "_labels", "_index", "_start", "_len"}
    found = []
    for path in sorted(Path(ann.__file__).parent.rglob("*.py")):
        if path.name == "_data.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == []


def test_split_is_seeded_disjoint_and_complete():
    ds = synthetic(1000)
    rest, part = ds.split(0.2, seed=42)
    assert (len(rest), len(part)) == (800, 200)
    rows = set(rest.index_array()) | set(part.index_array())
    assert len(rows) == 1000
    again = ds.split(0.2, seed=42)[1]
    assert again.index_array() == part.index_array()
    assert ds.split(0.2, seed=43)[1].index_array() != part.index_array()
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            ds.split(bad)


@pytest.mark.parametrize(
    "images,labels,shape,word",
    [
        (b"\x00" * 10, b"\x00\x01", 6, "do not make"),
        (b"\x00" * 12, b"\x00\x0a", 6, "label 10 of image 1"),
        (b"", b"", 6, "no labels"),
        (b"\x00" * 12, b"\x00\x01", (0, 6), "shape"),
    ],
)
def test_bad_in_memory_datasets(images, labels, shape, word):
    with pytest.raises(ann.DataError, match=word):
        ann.Dataset(images, labels, shape, num_classes=10)


def test_one_hot():
    assert ann.one_hot([2, 0], num_classes=3) == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="outside 0..2"):
        ann.one_hot([3], num_classes=3)


def test_scale_pixels():
    values = ann.scale_pixels(bytes([0, 255, 51]))
    assert list(values) == pytest.approx([0.0, 1.0, 0.2])


# ---- backends ------------------------------------------------------------------------------


def test_c_core_is_built_and_used_by_default():
    if os.environ.get("ANN_BACKEND") == "python":
        pytest.skip("the suite was asked to run on the Python backend")
    assert ann.backend_info()["c_core"] is True
    assert ann.Network([3, 2]).backend == "c"


def test_missing_extension_falls_back_with_a_warning():
    code = (
        "import sys, warnings; sys.modules['ann._core'] = None\n"
        "warnings.simplefilter('error')\n"
        "import ann\n"
        "try:\n    ann.Network([3, 2])\nexcept RuntimeWarning as w:\n    print('WARNED', w)\n"
        "warnings.simplefilter('ignore')\n"
        "print(ann.Network([3, 2]).backend)\n"
    )
    out = run_python(code, env={"ANN_BACKEND": None})
    assert out.returncode == 0, out.stderr
    assert "WARNED" in out.stdout and "using the pure-Python backend" in out.stdout
    assert "the C core failed to load" in out.stdout  # the reason, not just the fact
    assert out.stdout.strip().endswith("python")


def test_env_selects_backend_and_rejects_unknown():
    with pytest.raises(ValueError, match="backend must be"):
        ann.Network([3, 2], backend="fortran")
    assert ann.Network([3, 2], backend="python").backend == "python"


def test_set_num_threads_round_trips():
    before = ann.get_num_threads()
    try:
        assert ann.set_num_threads(1) == 1
        assert ann.get_num_threads() == 1
    finally:
        ann.set_num_threads(before)


def test_import_is_lazy_and_complete():
    """`import ann` loads no submodule until a name is used; every name in __all__ resolves."""
    code = (
        "import sys, ann\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('ann.'))\n"
        "print(loaded)\n"
        "for name in ann.__all__: getattr(ann, name)\n"
        "print('ann._network' in sys.modules)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "True"]
