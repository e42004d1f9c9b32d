"""ann.MLPClassifier: scikit-learn's estimator protocol, checked by scikit-learn itself
(``parametrize_with_checks``, skipped when scikit-learn is absent) and by hand; and the
rename of Network.get_params/set_params (weights) to get_weights/set_weights."""

from __future__ import annotations

import io
import math
import pickle
import random
import warnings
from array import array
from contextlib import redirect_stdout

import pytest
from conftest import run_python

import ann

try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # scikit-learn is a test-only dependency
    parametrize_with_checks = None


def blobs(n=120, d=4, k=3, seed=0, spread=0.6):
    """Rows near one of k centres, as lists of floats, with labels 0..k-1."""
    rng = random.Random(seed)
    centres = [[rng.uniform(-3, 3) for _ in range(d)] for _ in range(k)]
    X, y = [], []
    for i in range(n):
        c = i % k
        X.append([v + rng.gauss(0, spread) for v in centres[c]])
        y.append(c)
    return X, y


# ---- scikit-learn's own checks -----------------------------------------------------------------

# Checks expected to fail, each with why (at most five). None fails today with scikit-learn
# 1.9; the checks that need pandas or SCIPY_ARRAY_API skip themselves without them.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

if parametrize_with_checks is not None:

    @pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
    @parametrize_with_checks(
        [
            ann.MLPClassifier(),
            ann.MLPClassifier(solver="sgd", early_stopping=True, activation="tanh"),
            ann.MLPClassifier(activation="logistic"),
            ann.MLPRegressor(),
            ann.MLPRegressor(solver="sgd", early_stopping=True, activation="tanh"),
            ann.MLPRegressor(activation="identity"),
        ],
        expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
    )
    def test_scikit_learn_estimator_checks(estimator, check):
        check(estimator)

else:

    @pytest.mark.skip(reason="scikit-learn is not installed (pip install 'ann-mlp[test]')")
    def test_scikit_learn_estimator_checks():
        pass


def test_clone_and_grid_search_use_the_hyperparameters():
    base = pytest.importorskip("sklearn.base")
    model_selection = pytest.importorskip("sklearn.model_selection")
    est = ann.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    copy = base.clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    X, y = blobs(90)
    search = model_selection.GridSearchCV(
        est, {"alpha": [1e-4, 1e-2], "learning_rate_init": [0.01, 0.05]}, cv=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at 30 epochs
        search.fit(X, y)
    assert set(search.best_params_) == {"alpha", "learning_rate_init"}
    assert search.best_score_ > 0.9  # three well-separated blobs


# ---- the protocol by hand ---------------------------------------------------------------------


def test_get_params_returns_the_constructor_arguments_unchanged_and_set_params_sets_them():
    sizes = [16, 8]  # a list, not a tuple: stored as given (clone checks identity)
    est = ann.MLPClassifier(sizes, solver="sgd", alpha=0.5, batchnorm=True, dropout=0.25)
    params = est.get_params()
    assert params["hidden_layer_sizes"] is sizes
    assert (params["solver"], params["alpha"], params["batchnorm"], params["dropout"]) == (
        "sgd",
        0.5,
        True,
        0.25,
    )
    assert params["batch_size"] == "auto" and params["max_iter"] == 200  # scikit-learn's
    assert est.set_params(max_iter=7, solver="adam") is est
    assert (est.max_iter, est.solver) == (7, "adam")
    with pytest.raises(ValueError, match="Invalid parameter 'lr'"):
        est.set_params(lr=0.1)
    assert repr(ann.MLPClassifier(max_iter=7)) == "MLPClassifier(max_iter=7)"


@pytest.mark.parametrize(
    "bad, name",
    [
        ({"solver": "lbfgs"}, "solver"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"alpha": -1.0}, "alpha"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"momentum": 1.0}, "momentum"),
        ({"max_iter": 0}, "max_iter"),
        ({"batch_size": "big"}, "batch_size"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"dropout": 1.5}, "dropout"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_hyperparameters_are_accepted_by_the_constructor_and_refused_by_fit(bad, name):
    est = ann.MLPClassifier(**bad)  # scikit-learn's rule: no checks in __init__
    X, y = blobs(30)
    with pytest.raises(ValueError, match=f"^{name} must be"):
        est.fit(X, y)


def test_string_labels_are_sorted_into_classes_and_predicted_back():
    X, y = blobs(90, k=3)
    names = ["pear", "apple", "fig"]
    labels = [names[v] for v in y]
    est = ann.MLPClassifier((16,), max_iter=150, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        est.fit(X, labels)
    assert est.classes_ == ["apple", "fig", "pear"]
    assert est.n_features_in_ == 4 and est.n_outputs_ == 3
    predicted = est.predict(X)
    assert isinstance(predicted, list) and set(predicted) <= set(names)
    assert est.score(X, labels) > 0.95
    probs = est.predict_proba(X)
    assert len(probs) == 90 and all(abs(sum(row) - 1) < 1e-5 for row in probs)
    # the column of each class is its place in classes_
    assert all(
        est.classes_[max(range(3), key=row.__getitem__)] == p for row, p in zip(probs, predicted)
    )


def test_any_sortable_labels_numbers_and_bools():
    X, y = blobs(60, k=2)
    for labels, classes in (
        ([(-5, 7)[v] for v in y], [-5, 7]),
        ([(2.0, 1.0)[v] for v in y], [1.0, 2.0]),
        ([bool(v) for v in y], [False, True]),
    ):
        est = ann.MLPClassifier((8,), max_iter=60, learning_rate_init=0.02, random_state=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, labels)
        assert est.classes_ == classes
        assert set(est.predict(X)) <= set(classes)


def test_bad_inputs_name_what_is_wrong():
    X, y = blobs(30)
    est = ann.MLPClassifier((4,), max_iter=5)
    with pytest.raises(ValueError, match="continuous"):
        est.fit(X, [v + 0.5 for v in y])
    with pytest.raises(ValueError, match="only one class"):
        est.fit(X, [3] * 30)
    with pytest.raises(ValueError, match="30 samples but y has 29"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit([row[:3] + [math.nan] for row in X], y)
    with pytest.raises(ValueError, match="2-D"):
        est.fit([1.0] * 30, y)
    with pytest.raises(TypeError, match=r"X\[0, 1\].*argument must be a string"):
        est.fit([[1.0, {"a": 1}]] + [[1.0, 2.0]] * 29, y)
    with pytest.raises(ValueError, match="not fitted"):
        est.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        est.predict([row[:3] for row in X])


def test_numpy_in_numpy_out_and_lists_in_lists_out():
    np = pytest.importorskip("numpy")
    X, y = blobs(60)
    est = ann.MLPClassifier((8,), max_iter=80, learning_rate_init=0.02, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.asarray(X), np.asarray(["a", "b", "c"])[y])
    assert isinstance(est.classes_, np.ndarray) and est.classes_.tolist() == ["a", "b", "c"]
    predicted = est.predict(np.asarray(X, dtype=np.float32))
    assert isinstance(predicted, np.ndarray) and predicted.shape == (60,)
    assert predicted.tolist() == est.predict(X)  # the same rows as lists: the same labels
    probs = est.predict_proba(np.asarray(X))
    assert probs.shape == (60, 3) and probs.dtype == np.float64
    # a transposed (Fortran-ordered) array is read through tolist(), with the same result
    assert est.predict(np.asfortranarray(X)).tolist() == predicted.tolist()
    # uint8 is a table of numbers here, not pixels: the same values give the same answer
    small = [[int(v) % 7 for v in row] for row in X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.asarray(small, dtype=np.uint8), y)
    assert est.predict(np.asarray(small, dtype=np.uint8)).tolist() == est.predict(small)


def test_fit_is_repeatable_with_random_state_and_starts_over():
    X, y = blobs(60)
    runs = []
    for _ in range(2):
        est = ann.MLPClassifier((8,), max_iter=20, random_state=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
            runs.append((est.loss_curve_, est.predict_proba(X)))
            est.fit(X, y)  # a second fit starts over: the same run again
        assert (est.loss_curve_, est.predict_proba(X)) == runs[-1]
    assert runs[0] == runs[1]
    other = ann.MLPClassifier((8,), max_iter=20, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other.fit(X, y)
    assert other.loss_curve_ != runs[0][0]


def test_loss_curve_falls_and_stopping_follows_tol_and_n_iter_no_change():
    X, y = blobs(90)
    est = ann.MLPClassifier((16,), max_iter=40, learning_rate_init=0.01, random_state=0)
    with pytest.warns(UserWarning, match="Maximum iterations \\(40\\)"):
        est.fit(X, y)
    assert est.n_iter_ == 40 == len(est.loss_curve_)
    assert est.loss_curve_[-1] < est.loss_curve_[0] / 2
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == 40 * 90
    # a tol no epoch can beat: the first epoch improves on no loss at all, then stop after
    # n_iter_no_change + 1 epochs without improvement (scikit-learn's count)
    est.set_params(tol=1e6, n_iter_no_change=3, max_iter=40).fit(X, y)
    assert est.n_iter_ == 1 + 4


def test_optimizer_state_carries_over_from_epoch_to_epoch():
    X, y = blobs(50)
    est = ann.MLPClassifier((8,), batch_size=10, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    state = est.network_.optimizer_state()
    assert state["optimizer"] == "adam" and state["step"] == 3 * 5  # 5 batches an epoch
    sgd = ann.MLPClassifier((8,), solver="sgd", nesterovs_momentum=False, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sgd.fit(X, y)
    assert sgd.network_.optimizer_state()["optimizer"] == "momentum"


def test_alpha_is_scikit_learns_l2_scaled_by_the_batch():
    # scikit-learn's loss per batch of B rows: mean cross-entropy + alpha / (2 B) * sum(W^2),
    # that is Network.fit's l2 = alpha / B. One full-batch step of plain SGD, both ways:
    X, y = blobs(40)
    alpha, lr = 3.0, 0.1
    est = ann.MLPClassifier(
        (5,),
        solver="sgd",
        momentum=0.0,
        alpha=alpha,
        batch_size=40,
        learning_rate_init=lr,
        max_iter=1,
        random_state=7,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    ds = ann.Dataset(X, y, 4)
    net = ann.Network([4, 5, 3], seed=7, init="glorot")  # scikit-learn's initialisation
    net.fit(ds, epochs=1, batch_size=40, lr=lr, l2=alpha / 40, progress=False)
    diff = max(abs(a - b) for a, b in zip(est.network_.get_weights(), net.get_weights()))
    assert diff < 1e-5
    unpenalised = ann.Network([4, 5, 3], seed=7, init="glorot")
    unpenalised.fit(ds, epochs=1, batch_size=40, lr=lr, progress=False)
    assert max(abs(a - b) for a, b in zip(net.get_weights(), unpenalised.get_weights())) > 1e-3


def test_early_stopping_keeps_the_best_validation_weights():
    X, y = blobs(200, spread=2.5, seed=2)  # overlapping blobs: the validation score wobbles
    est = ann.MLPClassifier(
        (32,),
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        learning_rate_init=0.05,
        max_iter=200,
        random_state=0,
    )
    est.fit(X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ < 200
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    # the kept weights are those of the best epoch, not of the last one
    assert scores[-1] < max(scores) or scores.index(max(scores)) == len(scores) - 1
    best = ann.MLPClassifier(**est.get_params()).set_params(max_iter=scores.index(max(scores)) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best.fit(X, y)
    assert best.predict_proba(X) == est.predict_proba(X)


def test_partial_fit_continues_and_needs_classes_first():
    X, y = blobs(90)
    est = ann.MLPClassifier((8,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:45], y[:45], classes=[0, 1, 2, 3])  # a class y has not shown yet
    assert est.classes_ == [0, 1, 2, 3] and est.n_iter_ == 1
    for _ in range(30):
        est.partial_fit(X, y)
    assert est.n_iter_ == 31 and est.loss_curve_[-1] < est.loss_curve_[0]
    assert est.network_.optimizer_state()["step"] == 1 + 30  # one batch each (auto: 200)
    with pytest.raises(ValueError, match="label 9"):
        est.partial_fit(X[:3], [0, 1, 9])
    with pytest.raises(ValueError, match="X has 3 features"):
        est.partial_fit([row[:3] for row in X], y)


def test_pickle_keeps_the_trained_network():
    X, y = blobs(60)
    est = ann.MLPClassifier((8,), max_iter=30, batchnorm=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, [("no", "yes", "maybe")[v] for v in y])
    back = pickle.loads(pickle.dumps(est))
    # equal to float32 rounding (the Python backend keeps float64 weights inside)
    pairs = zip(sum(back.predict_proba(X), []), sum(est.predict_proba(X), []))
    assert max(abs(a - b) for a, b in pairs) < 1e-6
    assert back.classes_ == est.classes_ and back.loss_curve_ == est.loss_curve_
    assert back.network_.standardization == est.network_.standardization is not None


def test_verbose_prints_the_loss_of_each_epoch():
    X, y = blobs(30)
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ann.MLPClassifier((4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = out.getvalue().splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {v:.8f}" for i, v in enumerate(est.loss_curve_)]


def test_using_the_estimator_imports_neither_numpy_nor_sklearn():
    code = (
        "import sys, warnings, ann\n"
        "warnings.simplefilter('ignore')\n"
        "X = [[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]] * 5\n"
        "y = ['a', 'b', 'a', 'b'] * 5\n"
        "est = ann.MLPClassifier((4,), max_iter=5).fit(X, y)\n"
        "est.predict(X); est.score(X, y)\n"
        "print(sorted(m for m in ('numpy', 'sklearn', 'scipy') if m in sys.modules))\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- the rename of Network.get_params / set_params ------------------------------------------


def test_get_weights_and_set_weights_and_the_deprecated_old_names():
    net = ann.Network([3, 4, 2], seed=1)
    weights = net.get_weights()
    assert isinstance(weights, array) and len(weights) == net.num_params
    with pytest.warns(DeprecationWarning, match="get_weights"):
        assert net.get_params() == weights
    other = ann.Network([3, 4, 2], seed=2)
    assert other.get_weights() != weights
    with pytest.warns(DeprecationWarning, match="set_weights"):
        other.set_params(weights)
    assert other.get_weights() == weights
    other.set_weights(array("f", [0.5] * net.num_params))
    assert other.get_weights() == array("f", [0.5] * net.num_params)


def test_the_network_keeps_the_class_names_and_standardisation_in_its_model_file(tmp_path):
    X, y = blobs(60)
    labels = [("setosa", "versicolor", "virginica")[v] for v in y]
    est = ann.MLPClassifier((8,), max_iter=60, learning_rate_init=0.02, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, labels)
    path = tmp_path / "m.safetensors"
    est.network_.save(path)
    net = ann.Network.load(path)
    assert net.classes == ["setosa", "versicolor", "virginica"]
    assert net.standardization == est.network_.standardization is not None
    # the file predicts what the estimator does, from the raw (unstandardised) rows
    assert [net.classes[i] for i in net.predict(X)] == est.predict(X)


# ---- warm_start, feature names, coefs_ ---------------------------------------------------------


def test_warm_start_continues_from_the_last_fit():
    # plain SGD has no optimizer state, so 5 + 5 warm epochs are exactly 10 cold ones
    X, y = blobs(60)
    settings = dict(solver="sgd", momentum=0.0, learning_rate_init=0.05, tol=0.0, random_state=0)
    cold = ann.MLPClassifier((8,), max_iter=10, **settings)
    warm = ann.MLPClassifier((8,), max_iter=5, warm_start=True, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        cold.fit(X, y)
        warm.fit(X, y)
        first_run = warm.predict_proba(X)
        warm.fit(X, y)
    # as scikit-learn's: n_iter_ counts this fit's epochs, loss_curve_ and t_ the whole run
    assert warm.n_iter_ == 5 and len(warm.loss_curve_) == 10 and warm.t_ == 600
    assert warm.loss_curve_ == cold.loss_curve_
    assert warm.predict_proba(X) == cold.predict_proba(X) != first_run
    # without warm_start the second fit starts over
    warm.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm.fit(X, y)
    assert warm.n_iter_ == 5 and warm.predict_proba(X) == first_run
    warm.set_params(warm_start=True)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        warm.fit(X[:40], [v % 2 for v in y[:40]])
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is expecting 4"):
        warm.fit([row[:3] for row in X], y)


def test_coefs_and_intercepts_reproduce_the_predictions_from_raw_rows():
    X, y = blobs(60, d=3)
    X = [[v * 10 + 5 for v in row] for row in X]  # far from standardised: the folding shows
    est = ann.MLPClassifier((6, 5), max_iter=40, learning_rate_init=0.02, random_state=0)
    assert not hasattr(est, "coefs_")  # not fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    coefs, intercepts = est.coefs_, est.intercepts_
    assert [(len(W), len(W[0])) for W in coefs] == [(3, 6), (6, 5), (5, 3)]
    assert [len(b) for b in intercepts] == [6, 5, 3]
    for row, probs in zip(X, est.predict_proba(X)):
        h = row
        for l, (W, b) in enumerate(zip(coefs, intercepts)):
            z = [b[j] + sum(h[i] * W[i][j] for i in range(len(h))) for j in range(len(b))]
            h = [max(0.0, v) for v in z] if l < len(coefs) - 1 else z
        top = max(h)
        e = [math.exp(v - top) for v in h]
        assert max(abs(p - v / sum(e)) for p, v in zip(probs, e)) < 1e-4
    # copies: changing them changes nothing
    before = coefs[0][0][0]
    coefs[0][0][0] = 99.0
    assert est.coefs_[0][0][0] == before


def test_coefs_are_numpy_arrays_when_x_is():
    np = pytest.importorskip("numpy")
    X, y = blobs(40)
    est = ann.MLPClassifier((5,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.asarray(X), np.asarray(y))
    assert [W.shape for W in est.coefs_] == [(4, 5), (5, 3)]
    assert all(isinstance(b, np.ndarray) and b.dtype == np.float64 for b in est.intercepts_)


def test_feature_names_of_a_dataframe_are_kept_and_checked():
    pd = pytest.importorskip("pandas")
    X, y = blobs(60)
    frame = pd.DataFrame(X, columns=["alcohol", "ash", "hue", "proline"])
    est = ann.MLPClassifier((8,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame, pd.Series(y, name="target"))
    assert est.feature_names_in_.tolist() == ["alcohol", "ash", "hue", "proline"]
    assert est.feature_names_in_.dtype == object
    predicted = est.predict(frame)  # a DataFrame in, NumPy out
    assert predicted.tolist() == [est.classes_[k] for k in est.network_.predict(X)]
    with pytest.raises(ValueError, match="must be in the same order"):
        est.predict(frame[["ash", "alcohol", "hue", "proline"]])
    with pytest.raises(ValueError, match="unseen at fit time:\n- color"):
        est.predict(frame.rename(columns={"hue": "color"}))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        est.predict(X)
    with pytest.raises(TypeError, match="only supported if all input features have string"):
        est.fit(pd.DataFrame(X, columns=["a", "b", 3, 4]), y)
    # a DataFrame of numbered columns has no feature names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(pd.DataFrame(X), y)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but MLPClassifier was fitted"):
        est.predict(frame)


@pytest.mark.parametrize("make", [lambda: ann.MLPClassifier(), lambda: ann.MLPRegressor()])
def test_scikit_learns_dataframe_column_names_check(make):
    pytest.importorskip("pandas")
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().set_params(max_iter=20)
        checks.check_dataframe_column_names_consistency(type(est).__name__, est)
