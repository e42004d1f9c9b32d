"""Data input: uint8 pixels or float features from any buffer, integer labels of any type, any
number of classes, the input standardisation, and the float32 path of the C core against the
reference. NumPy is a test-only dependency: the tests that need it skip without it."""

from __future__ import annotations

import math
import random
import statistics
from array import array

import pytest
from conftest import run_python
from test_core_ops import buf, close

import ann
from ann import _reference as ref


def table(n=120, D=5, K=3, seed=0):
    """A learnable float table: the class is the column block with the largest values."""
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        k = rng.randrange(K)
        rows.append([rng.gauss(10.0 * (j % K == k), 2.0) + 100.0 * j for j in range(D)])
        labels.append(k)
    return rows, labels


# ---- the one input rule, without NumPy --------------------------------------------------


def test_lists_arrays_and_memoryviews_give_the_same_float_dataset():
    rows, labels = table(20, 4)
    flat = [v for row in rows for v in row]
    ds_rows = ann.Dataset(rows, labels)
    ds_flat = ann.Dataset(array("d", flat), array("q", labels), 4)
    ds_view = ann.Dataset(memoryview(array("f", flat)), bytes(labels), (2, 2))
    for ds in (ds_rows, ds_flat, ds_view):
        assert ds.dtype == "float32" and ds.features == 4 and len(ds) == 20
        assert list(ds.labels) == labels
        assert list(ds[3][0]) == list(array("f", rows[3]))
    assert ds_view.shape == (2, 2)


def test_uint8_inputs_stay_pixels():
    pixels = bytes(range(12))
    for images in (pixels, bytearray(pixels), array("B", pixels), memoryview(pixels)):
        ds = ann.Dataset(images, [0, 1, 0], 4)
        assert ds.dtype == "uint8" and ds.images.tobytes() == pixels
    # rows given as bytes are pixels too
    assert ann.Dataset([pixels[:4], pixels[4:8]], [0, 1]).dtype == "uint8"


@pytest.mark.parametrize(
    "images,labels,word",
    [
        ([[1.0, math.nan]], [0], "value 1 is nan"),
        ([[1.0, math.inf]], [0], "value 1 is inf"),
        ([[1.0, 1e39]], [0], "beyond float32"),
        ([[1.0, "x"]], [0], "value 1 is 'x', not a number"),
        ([[1.0, 2.0], [3.0]], [0, 1], "row 1 has 1 values"),
        ([[1.0, 2.0]], [-1], "label 0 is -1"),
        ([[1.0, 2.0]], [1.5], "label 0 is 1.5, not an integer"),
        ([[1.0, 2.0]], ["cat"], "ann.load_csv"),
        ([[1.0, 2.0]], [True], "not an integer"),
        ([[1.0, 2.0]], array("d", [1.0]), "must be integers"),
        ("abc", [0], "not str"),
        (array("u", "ab"), [0], "holds text"),
        ([[1.0, 2.0]], [0], None),
    ],
)
def test_bad_inputs_are_one_clear_data_error(images, labels, word):
    if word is None:
        assert len(ann.Dataset(images, labels)) == 1
        return
    with pytest.raises(ann.DataError, match=word):
        ann.Dataset(images, labels)


def test_classes_come_from_the_labels_or_are_given():
    assert ann.Dataset([[0.0]] * 3, [0, 4, 2]).num_classes == 5
    assert ann.Dataset([[0.0]] * 2, [0, 0]).num_classes == 2  # never fewer than 2
    ds = ann.Dataset([[0.0]] * 2, [0, 1], classes=["no", "yes", "maybe"])
    assert ds.num_classes == 3 and ds.classes == ["no", "yes", "maybe"]
    assert ds[1:].classes == ds.classes  # views keep the names
    with pytest.raises(ann.DataError, match="outside 0..1"):
        ann.Dataset([[0.0]] * 2, [0, 2], num_classes=2)
    with pytest.raises(ann.DataError, match="repeated"):
        ann.Dataset([[0.0]], [0], classes=["a", "a"])


def test_many_classes_train_in_c_and_agree_with_the_reference():
    """300 classes: labels beyond uint8, through the int32 labels of the core."""
    rng = random.Random(1)
    K, D, n = 300, 6, 40
    rows = [[rng.uniform(-1, 1) for _ in range(D)] for _ in range(n)]
    labels = [rng.randrange(K) for _ in range(n)]
    ds = ann.Dataset(rows, labels, num_classes=K)
    c = ann.Network(data=ds, hidden=[8], backend="c")
    py = ann.Network(data=ds, hidden=[8], backend="python")
    assert c.sizes == [D, 8, K]
    images, labs, N, _ = ds.buffers()
    idx = array("i", range(n))
    c_loss, c_hits = c._net.train_step(images, labs, N, idx, 0, n, 0.1)
    py_loss, py_hits = py._net.train_step(images, labs, N, idx, 0, n, 0.1)
    assert abs(c_loss - py_loss) < 1e-5 and c_hits == py_hits
    close(c.get_weights(), py.get_weights(), tol=1e-5)
    assert max(labels) > 255 and abs(c_loss - math.log(K)) < 0.5  # near uniform at the start


def test_float_training_and_standardisation_match_the_reference():
    rows, labels = table(64, 5)
    ds = ann.Dataset(rows, labels)
    nets = [ann.Network(data=ds, hidden=[7], backend=b, seed=3) for b in ("c", "python")]
    for net in nets:
        net.fit(ds, epochs=2, batch_size=16, lr=0.05, progress=False)
    close(nets[0].get_weights(), nets[1].get_weights(), tol=1e-4)
    close(
        array("f", [p for row in nets[0].predict_proba(ds) for p in row]),
        array("f", [p for row in nets[1].predict_proba(ds) for p in row]),
        tol=1e-5,
    )
    assert nets[0].standardization == nets[1].standardization


def test_fit_standardises_float_features_with_the_training_statistics():
    rows, labels = table(90, 4)
    rows = [row + [7.25] for row in rows]  # a constant column
    ds = ann.Dataset(rows, labels)
    train, val = ds.split(0.2, seed=0)
    net = ann.Network(data=train, hidden=[6])
    assert net.standardization is None
    net.fit(train, val, epochs=1, progress=False)
    mean, std = net.standardization
    train_rows = [list(map(float, array("f", train[i][0]))) for i in range(len(train))]
    for j in range(4):
        column = [row[j] for row in train_rows]
        assert mean[j] == pytest.approx(statistics.fmean(column), rel=1e-6)
        assert std[j] == pytest.approx(statistics.pstdev(column), rel=1e-5)
    assert (mean[4], std[4]) == (7.25, 1.0)  # constant: centred, scale 1
    first = net.standardization
    net.fit(val, epochs=1, progress=False)  # a later fit keeps the statistics
    assert net.standardization == first


def test_pixels_are_not_standardised_and_standardize_false_keeps_floats_as_given():
    pixels = ann.Dataset(bytes(range(40)), [0, 1, 0, 1], 10)
    net = ann.Network(data=pixels, hidden=[4])
    net.fit(pixels, epochs=1, progress=False)
    assert net.standardization is None
    rows, labels = table(20, 3)
    floats = ann.Dataset([[v / 100 for v in row] for row in rows], labels)
    plain = ann.Network(data=floats, hidden=[4], standardize=False)
    plain.fit(floats, epochs=1, progress=False)
    assert plain.standardization is None


def test_standardisation_is_applied_in_prediction():
    """predict with statistics set = predict of rows standardised by hand without them."""
    rows, labels = table(30, 3)
    net = ann.Network([3, 5, 3], seed=2)
    mean, std = [100.0, 200.0, -5.0], [2.0, 0.5, 4.0]
    standardised = [[(v - m) / s for v, m, s in zip(row, mean, std)] for row in rows]
    expected = net.predict_proba(standardised)
    net.set_standardization(mean, std)
    close(
        array("f", [p for r in net.predict_proba(rows) for p in r]),
        array("f", [p for r in expected for p in r]),
        tol=1e-5,
    )
    for bad in ([1.0, 1.0, 0.0], [1.0, math.nan, 1.0]):
        with pytest.raises(ValueError, match="std"):
            net.set_standardization(mean, bad)
    net.set_standardization(None)
    assert net.standardization is None


def test_network_layer_defaults():
    assert ann.Network().sizes == [784, 20, 7, 5, 10]
    assert ann.Network([784, 30, 10]).sizes == [784, 30, 10]
    assert ann.Network(hidden=[64]).sizes == [784, 64, 10]
    ds = ann.Dataset([[0.0] * 6] * 4, [0, 1, 2, 3], classes="abcd")
    net = ann.Network(data=ds)
    assert net.sizes == [6, 20, 7, 5, 4] and net.classes == ["a", "b", "c", "d"]
    assert ann.Network(data=ds, hidden=[]).sizes == [6, 4]
    with pytest.raises(ValueError, match="not both"):
        ann.Network([6, 4], data=ds)
    with pytest.raises(TypeError, match="ann.Dataset"):
        ann.Network(data=[[0.0]])


def test_classes_and_standardisation_round_trip_through_the_model_file(tmp_path):
    rows, labels = table(60, 4)
    ds = ann.Dataset(rows, labels, classes=["low", "mid", "high"])
    net = ann.Network(data=ds, hidden=[5])
    net.fit(ds, epochs=2, progress=False)
    path = tmp_path / "m.safetensors"
    net.save(path)
    for backend in ("c", "python"):
        same = ann.Network.load(path, backend=backend)
        assert same.classes == ["low", "mid", "high"]
        assert same.standardization == net.standardization
        assert same.predict(rows) == net.predict(rows)
    from ann._safetensors import load_file

    tensors, metadata = load_file(path)
    assert tensors["input.mean"][1] == (4,) and tensors["input.std"][0] == "F32"
    assert metadata["classes"] == '["low", "mid", "high"]'


def test_model_file_checks_the_standardisation_and_the_classes(tmp_path):
    from ann._modelfile import load_model, save_model
    from ann._safetensors import load_file, save_file

    net = ann.Network([2, 3], seed=0)
    net.set_standardization([0.0, 1.0], [1.0, 2.0])
    net.classes = ["x", "y", "z"]
    path = tmp_path / "m.safetensors"
    net.save(path)
    tensors, metadata = load_file(path)

    def broken(name, change):
        t = {k: (v[0], v[1], bytes(v[2])) for k, v in tensors.items()}
        meta = dict(metadata)
        change(t, meta)
        target = tmp_path / name
        save_file(target, t, meta)
        with pytest.raises(ann.ModelFileError) as info:
            load_model(target)
        return str(info.value)

    assert "partner input.std" in broken("a", lambda t, m: t.pop("input.std"))
    zero = array("f", [1.0, 0.0]).tobytes()
    assert "must be > 0" in broken("b", lambda t, m: t.update({"input.std": ("F32", (2,), zero)}))
    assert "3 distinct strings" in broken("c", lambda t, m: m.update(classes='["x", "y"]'))
    three = array("f", [0.0] * 3).tobytes()
    assert "must be [2]" in broken("d", lambda t, m: t.update({"input.mean": ("F32", (3,), three)}))
    model = load_model(path)
    model.classes = ["x", "x", "z"]
    with pytest.raises(ann.ModelFileError, match="distinct"):
        save_model(tmp_path / "e", model)


def test_trace_refuses_float_features():
    ds = ann.Dataset([[0.5, 1.5]] * 2, [0, 1])
    with pytest.raises(ann.DataError, match="trace reads uint8 pixels"):
        ann.Network([2, 2]).trace(ds)


def test_a_dataset_with_other_class_names_is_refused():
    ds = ann.Dataset([[0.0]] * 2, [0, 1], classes=["a", "b"])
    other = ann.Dataset([[0.0]] * 2, [0, 1], classes=["b", "a"])
    net = ann.Network(data=ds, hidden=[2])
    with pytest.raises(ann.DataError, match="names its classes"):
        net.evaluate(other)


# ---- the C ops against the reference ----------------------------------------------------


def test_gather_f32_copies_and_checks(core):
    ffi, lib = core
    rng = random.Random(5)
    features = array("f", [rng.uniform(-9, 9) for _ in range(4 * 7)])
    idx = array("i", [3, 0, 3])
    x = array("f", [0.0] * (3 * 7))
    assert (
        lib.ann_gather_f32(buf(ffi, x), buf(ffi, features), 4, buf(ffi, idx, "int32_t[]"), 3, 7)
        == 0
    )
    assert list(x) == ref.gather_f32(features, [3, 0, 3], 7)
    bad = array("i", [0, 4])
    assert (
        lib.ann_gather_f32(buf(ffi, x), buf(ffi, features), 4, buf(ffi, bad, "int32_t[]"), 2, 7)
        == lib.ANN_E_INDEX
    )
    features[8] = math.nan  # row 1
    one = array("i", [1])
    assert (
        lib.ann_gather_f32(buf(ffi, x), buf(ffi, features), 4, buf(ffi, one, "int32_t[]"), 1, 7)
        == lib.ANN_E_NONFINITE
    )


def test_standardize_matches_the_reference(core):
    ffi, lib = core
    rng = random.Random(6)
    B, D = 5, 9
    x = array("f", [rng.uniform(-50, 50) for _ in range(B * D)])
    mean = array("f", [rng.uniform(-5, 5) for _ in range(D)])
    std = array("f", [rng.uniform(0.1, 3) for _ in range(D)])
    expected = ref.standardize(x, mean, std, D)
    assert lib.ann_standardize(buf(ffi, x), buf(ffi, mean), buf(ffi, std), B, D) == 0
    close(x, expected, tol=1e-6)


# ---- NumPy ------------------------------------------------------------------------------


def test_import_ann_still_imports_no_numpy():
    code = "import sys, ann; ann.Dataset([[1.0]], [0]); print('numpy' in sys.modules)"
    out = run_python(code, cwd="/")
    assert out.stdout.strip() == "False", out.stderr


@pytest.fixture(scope="module")
def np():
    return pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def sample_net():
    """A network trained briefly on the built-in MNIST sample, and that sample's test set."""
    train, test = ann.load_mnist("sample")
    net = ann.Network([784, 16, 10], seed=0)
    net.fit(train[:3000], epochs=1, lr=0.1, progress=False)
    return net, test[:300]


def test_issue_example_predict_on_a_uint8_array_is_pixels(np, sample_net):
    """Issue 11: net.predict(uint8_2d_array) treated the pixels as unscaled floats."""
    net, test = sample_net
    imgs = np.frombuffer(test.images.tobytes(), dtype=np.uint8).reshape(len(test), 784)
    assert net.predict(imgs) == net.predict(test)
    assert net.predict_proba(imgs) == net.predict_proba(test)
    as_floats = (imgs / 255.0).astype(np.float32)  # what the 1/255 rule means
    assert net.predict(as_floats) == net.predict(test)
    assert net.predict(imgs.reshape(len(test), 28, 28)) == net.predict(test)


def test_issue_example_int64_labels_and_28x28_images(np, sample_net):
    """Issue 11: Dataset(imgs, int64_labels, (28, 28)) read each int64 label as 8 bytes."""
    net, test = sample_net
    imgs = np.frombuffer(test.images.tobytes(), dtype=np.uint8).reshape(len(test), 28, 28)
    labels = np.array(list(test.labels), dtype=np.int64)
    ds = ann.Dataset(imgs, labels, (28, 28))
    assert len(ds) == len(test) and list(ds.labels) == list(test.labels)
    assert ds.dtype == "uint8" and ds.images.tobytes() == test.images.tobytes()
    assert net.evaluate(ds) == net.evaluate(test)
    assert ann.Dataset(imgs, labels).shape == (28, 28)  # the shape from the array


def test_issue_example_flat_uint8_array_with_a_shape(np, sample_net):
    """Issue 11: a flat uint8 array gave a TypeError."""
    net, test = sample_net
    flat = np.frombuffer(test.images.tobytes(), dtype=np.uint8).copy()
    ds = ann.Dataset(flat, np.array(list(test.labels), dtype=np.uint8), (28, 28))
    assert ds.images.tobytes() == test.images.tobytes()
    assert net.evaluate(ds) == net.evaluate(test)


FEATURE_DTYPES = [
    "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", ">f4", ">i4", "<f8",
]  # fmt: skip


@pytest.mark.parametrize("dtype", FEATURE_DTYPES)
def test_numpy_features_of_every_numeric_dtype(np, dtype):
    values = np.array([[0, 1, 2], [3, 4, 100]], dtype=dtype)
    ds = ann.Dataset(values, np.array([0, 1]))
    assert ds.dtype == "float32" and ds.shape == (3,)
    assert list(ds.images.tobytes()) == list(np.array([[0, 1, 2], [3, 4, 100]], "<f4").tobytes())
    net = ann.Network([3, 2], seed=0)
    assert net.predict(values) == net.predict([[0.0, 1.0, 2.0], [3.0, 4.0, 100.0]])


def test_numpy_uint8_is_pixels(np):
    values = np.array([[0, 51, 255]], dtype=np.uint8)
    ds = ann.Dataset(values, [0])
    assert ds.dtype == "uint8" and ds.images.tobytes() == bytes([0, 51, 255])
    net = ann.Network([3, 2], seed=0)
    assert net.predict_proba(values) == net.predict_proba([[0.0, 0.2, 1.0]])


@pytest.mark.parametrize(
    "dtype,word",
    [
        ("bool", "bool"),
        ("complex64", "not supported"),
        ("complex128", "not supported"),
        ("longdouble", "not supported"),
        ("object", "Python objects"),
        ("U3", "not supported"),
        ("S3", "not supported"),
        ("datetime64[s]", "cannot be read as numbers"),
        ("timedelta64[s]", "cannot be read as numbers"),
    ],
)
def test_unsupported_numpy_dtypes(np, dtype, word):
    values = np.zeros((2, 3), dtype=dtype)
    with pytest.raises(ann.DataError, match=word):
        ann.Dataset(values, [0, 1])
    with pytest.raises(ann.DataError, match=word):
        ann.Network([3, 2]).predict(values)


def test_numpy_arrays_that_are_not_c_contiguous_or_finite(np):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    for view in (values.T, values[:, ::2]):
        with pytest.raises(ann.DataError, match="not C-contiguous"):
            ann.Dataset(view, np.array([0, 1, 0, 1])[: view.shape[0]])
    with pytest.raises(ann.DataError, match="0-dimensional"):
        ann.Dataset(np.float32(1.0), [0])
    values[1, 2] = np.nan
    with pytest.raises(ann.DataError, match="value 6 is nan"):
        ann.Dataset(values, [0, 1, 0])
    with pytest.raises(ann.DataError, match="finite"):
        ann.Network([4, 2]).predict(values)
    assert ann.Dataset(np.ascontiguousarray(np.arange(8.0).reshape(4, 2).T), [0, 1]).features == 4


@pytest.mark.parametrize(
    "dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", ">i8"]
)
def test_numpy_labels_of_every_integer_dtype(np, dtype):
    ds = ann.Dataset([[0.0]] * 3, np.array([2, 0, 1], dtype=dtype))
    assert list(ds.labels) == [2, 0, 1] and ds.num_classes == 3


def test_bad_numpy_labels(np):
    with pytest.raises(ann.DataError, match="must be integers"):
        ann.Dataset([[0.0]] * 2, np.array([0.0, 1.0]))
    with pytest.raises(ann.DataError, match="1-dimensional"):
        ann.Dataset([[0.0]] * 2, np.array([[0], [1]]))
    with pytest.raises(ann.DataError, match="label 1 is -3"):
        ann.Dataset([[0.0]] * 2, np.array([0, -3]))
    with pytest.raises(ann.DataError, match="beyond 2"):
        ann.Dataset([[0.0]] * 2, np.array([0, 2**40]))
    with pytest.raises(ann.DataError, match="bool"):
        ann.Dataset([[0.0]] * 2, np.array([True, False]))
    ds = ann.Dataset([[0.0]] * 2, [np.int64(1), np.int32(0)])  # NumPy scalars in a list
    assert list(ds.labels) == [1, 0]
