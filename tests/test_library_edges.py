"""The library API where issue 23 (items 11, 12 and 13) found it wanting: copies of a network,
MLPClassifier's score weights, NumPy scalars, sparse input, pickles that keep the class
names, range errors that name the setting as float32 holds it, and scikit-learn's own checks
seeing a BaseEstimator."""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
from conftest import run_python

import ann

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def sample():
    return ann.load_mnist("sample")


# ---- item 11: copies of a Network -----------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_pickle_and_deepcopy_of_a_network_behave_as_the_original(sample, optimizer):
    train, test = sample
    net = ann.Network([784, 16, 10], batchnorm=True, seed=1)
    net.fit(train[:2000], epochs=1, optimizer=optimizer, progress=False)
    copies = [pickle.loads(pickle.dumps(net)), copy.deepcopy(net)]
    for other in copies:
        assert other is not net and other._net is not net._net
        assert other.get_weights() == net.get_weights() and other.get_state() == net.get_state()
        assert other.classes == net.classes == train.classes and other.sizes == net.sizes
        assert other.optimizer_state() == net.optimizer_state()
        assert other.predict_proba(test[:50]) == net.predict_proba(test[:50])
    for other in [*copies, net]:  # each goes on the same way
        other.fit(train[:2000], epochs=1, optimizer=optimizer, progress=False, seed=3)
    assert copies[0].get_weights() == copies[1].get_weights() == net.get_weights()


def test_a_copy_keeps_the_standardisation_and_is_independent():
    rows = [[float(i), float(i % 7) * 100.0] for i in range(60)]
    data = ann.Dataset(rows, [i % 2 for i in range(60)])
    net = ann.Network([2, 4, 2], seed=0)
    net.fit(data, epochs=2, progress=False)
    twin = copy.deepcopy(net)
    assert twin.standardization == net.standardization
    assert twin.predict_proba(rows) == net.predict_proba(rows)
    twin.set_weights([0.0] * twin.num_params)
    assert net.get_weights() != twin.get_weights()


# ---- item 11: MLPClassifier -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.rand(90, 3)
    y = np.array(["setosa", "versicolor", "virginica"])[(X[:, 0] * 3).astype(int)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ann.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
    return model, X, y


def test_score_weights_the_rows(fitted):
    model, X, y = fitted
    right = model.predict(X) == y
    weights = np.where(right, 3.0, 0.5)  # fractional weights are weights, not labels
    expected = (3.0 * right.sum()) / (3.0 * right.sum() + 0.5 * (~right).sum())
    assert model.score(X, y, sample_weight=weights) == pytest.approx(expected)
    assert model.score(X, y, sample_weight=[1] * len(y)) == pytest.approx(right.mean())
    with pytest.raises(ValueError, match="sample_weight has 2 values for 90 samples"):
        model.score(X, y, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="finite numbers >= 0"):
        model.score(X, y, sample_weight=[-1.0] * 90)


def test_a_pickled_classifier_keeps_its_network_and_class_names(fitted):
    model, X, _ = fitted
    again = pickle.loads(pickle.dumps(model))
    assert again.network_.classes == ["setosa", "versicolor", "virginica"]
    assert (again.predict(X) == model.predict(X)).all()
    assert copy.deepcopy(model).network_.classes == model.network_.classes


def test_numpy_scalars_and_sparse_matrices_are_taken(fitted):
    sparse = pytest.importorskip("scipy.sparse")
    model, X, y = fitted
    params = dict(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scalar = ann.MLPClassifier(learning_rate_init=np.float32(0.001), **params).fit(X, y)
        from_sparse = ann.MLPClassifier(**params).fit(sparse.csr_matrix(X), y)
    assert (scalar.predict(X) == model.predict(X)).all()
    assert (from_sparse.predict(sparse.csc_matrix(X)) == model.predict(X)).all()
    assert from_sparse.predict_proba(sparse.coo_matrix(X)).shape == (90, 3)
    net = ann.Network([3, 2])
    data = ann.Dataset([[0.0, 1.0, 2.0]] * 4, [0, 1, 0, 1])
    net.fit(data, epochs=1, lr=np.float32(0.01), momentum=np.float64(0.5), progress=False)


def test_a_single_class_is_named_without_leaking_code():
    with pytest.raises(ValueError) as caught:
        ann.MLPClassifier().fit([[0.0], [1.0]], ["only", "only"])
    assert str(caught.value) == "y has only one class ('only'): a classifier needs at least 2"


# ---- item 12: range errors name the setting ---------------------------------------------------


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: ann.Network([4, 3, 2], dropout=0.99999999999), "dropout must be a probability"),
        (lambda: ann.Augment(shift=1e300), "Augment: shift must be a number >= 0 and at most"),
        (lambda: ann.Augment(scale=0.99999999999), "Augment: scale must be a number >= 0 and < 1"),
        (lambda: ann.MLPClassifier(epsilon=1e-50).fit([[0.0], [1.0]], [0, 1]), "epsilon must be"),
        (lambda: ann.MLPClassifier(alpha=1e39).fit([[0.0], [1.0]], [0, 1]), "alpha must be"),
    ],
)
def test_values_float32_cannot_hold_name_the_setting(make, message):
    with pytest.raises(ValueError) as caught:
        make()
    assert message in str(caught.value)
    assert "out of range" not in str(caught.value)


@pytest.mark.parametrize(
    "setting,value,message",
    [
        ("lr", 1e39, "lr must be at most 3.403e+38"),
        ("l2", 1e39, "l2 must be at most"),
        ("max_norm", 1e39, "max_norm must be at most"),
        ("momentum", 0.999999999, "momentum must be in [0, 1)"),
        ("eps", 1e-50, "eps must be between"),
    ],
)
def test_fit_names_the_setting_float32_cannot_hold(setting, value, message):
    net = ann.Network([2, 2])
    data = ann.Dataset([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    with pytest.raises(ValueError) as caught:
        net.fit(data, epochs=1, progress=False, **{setting: value})
    assert message in str(caught.value) and "float32" in str(caught.value)


# ---- item 13: scikit-learn sees a BaseEstimator, without ann importing it ----------------------


def test_mlpclassifier_is_a_base_estimator_once_scikit_learn_is_loaded():
    base = pytest.importorskip("sklearn.base")
    model = ann.MLPClassifier(max_iter=3)
    assert isinstance(model, base.BaseEstimator)
    assert type(base.clone(model)) is type(model) and repr(model) == "MLPClassifier(max_iter=3)"
    assert "args" not in str(__import__("inspect").signature(ann.MLPClassifier))
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        check_estimator(model, on_fail=None, on_skip=None)
    assert not [w for w in seen if "BaseEstimator" in str(w.message)]  # issue 23's warning


def test_ann_does_not_import_scikit_learn(tmp_path):
    code = (
        "import sys, ann; ann.MLPClassifier(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'numpy')))"
    )
    out = run_python(code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_repr_of_a_history_is_one_short_line(sample):
    train, test = sample
    history = ann.Network([784, 10]).fit(train, test, epochs=2, check_every=5, progress=False)
    text = repr(history)
    assert len(history.steps) == 63 and "\n" not in text and len(text) < 200
    assert text.startswith("<ann.History: 63 checks, steps 5-314") and "stopped: completed" in text
    assert repr(ann.History()) == "<ann.History: no checks yet>"
