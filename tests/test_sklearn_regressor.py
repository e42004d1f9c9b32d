"""ann.MLPRegressor by hand (scikit-learn's own checks run in test_sklearn.py): scikit-learn's
updates step for step, one output or several, the activations by scikit-learn's names, R²,
inputs and what goes wrong with them, the model file."""

from __future__ import annotations

import math
import random
import warnings

import pytest

import ann
from ann._sklearn_base import ACTIVATIONS


def table(n=60, d=3, outputs=1, seed=0, noise=0.05):
    """Rows of d features and targets that are smooth functions of them (plus noise)."""
    rng = random.Random(seed)
    X = [[rng.uniform(-2, 2) for _ in range(d)] for _ in range(n)]
    y = []
    for row in X:
        values = [
            math.sin(row[0]) + 0.5 * row[1] * (k + 1) - 0.3 * row[-1] ** 2 + rng.gauss(0, noise)
            for k in range(outputs)
        ]
        y.append(values[0] if outputs == 1 else values)
    return X, y


def quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        return est.fit(X, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_one_step_is_scikit_learns_step(solver, activation):
    # From the same weights, one full-batch step of ann.MLPRegressor and of scikit-learn's
    # (two outputs, a large alpha: the scaling of the loss, the penalty and the rate show)
    np = pytest.importorskip("numpy")
    sk = pytest.importorskip("sklearn.neural_network")
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 4)), rng.normal(size=(40, 2)) * 3 + 1
    settings = dict(
        hidden_layer_sizes=(5,),
        activation=activation,
        solver=solver,
        momentum=0.0,
        alpha=0.5,
        batch_size=40,
        learning_rate_init=0.05,
    )
    ours = quiet_fit(
        ann.MLPRegressor(**settings, max_iter=1, random_state=3, standardize=False), X, y
    )
    start = ann.Network(  # the weights ours started from: the same seeded initialisation
        [4, 5, 2],
        activation=ACTIVATIONS[activation],
        head="identity-mse",
        init="glorot",
        seed=3,
        standardize=False,
    )
    theirs = sk.MLPRegressor(**settings, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.partial_fit(X, y)  # builds it; then its weights are replaced by ours
    for l in range(2):
        W, b = start.layer(l)
        theirs.coefs_[l][:] = np.asarray(W, dtype=float).reshape(theirs.coefs_[l].shape)
        theirs.intercepts_[l][:] = np.asarray(b, dtype=float)
    theirs._optimizer = type(theirs._optimizer)(  # fresh, as ours is
        theirs.coefs_ + theirs.intercepts_,
        *((0.05, "constant", 0.0, True, 0.5) if solver == "sgd" else (0.05, 0.9, 0.999, 1e-8)),
    )
    theirs.partial_fit(X, y)
    for W_ours, W_theirs in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        # float32 against float64; Adam's first step divides by |g|, so its error is larger
        assert np.abs(W_ours - W_theirs).max() < (1e-6 if solver == "sgd" else 1e-4)
    # the loss of that step: scikit-learn's squared error (half the mean of (y - p)^2) and,
    # with two outputs, the penalty over the outputs (see MLPRegressor's doc)
    W2 = sum(float((np.asarray(start.layer(l)[0]) ** 2).sum()) for l in range(2))
    penalty = 0.5 / (2 * 40) * W2
    assert ours.loss_curve_[0] == pytest.approx(
        theirs.loss_curve_[-1] - penalty + penalty / 2, rel=1e-6
    )


def test_one_output_or_several_in_and_out():
    X, y = table(80)
    est = quiet_fit(
        ann.MLPRegressor((16,), max_iter=300, learning_rate_init=0.01, random_state=0), X, y
    )
    predicted = est.predict(X)
    assert isinstance(predicted, list) and len(predicted) == 80 and isinstance(predicted[0], float)
    assert est.n_outputs_ == 1 and est.out_activation_ == "identity"
    assert est.score(X, y) > 0.9  # R² of a smooth function, on its training rows
    X3, y3 = table(80, outputs=3)
    three = quiet_fit(
        ann.MLPRegressor((16,), max_iter=300, learning_rate_init=0.01, random_state=0), X3, y3
    )
    rows = three.predict(X3)
    assert three.n_outputs_ == 3 and len(rows) == 80 and all(len(r) == 3 for r in rows)
    # score is R² per output, averaged (scikit-learn's r2_score, "uniform_average")
    means = [sum(r[k] for r in y3) / 80 for k in range(3)]
    r2 = [
        1
        - sum((t[k] - p[k]) ** 2 for t, p in zip(y3, rows))
        / sum((t[k] - means[k]) ** 2 for t in y3)
        for k in range(3)
    ]
    assert three.score(X3, y3) == pytest.approx(sum(r2) / 3, rel=1e-9)
    assert three.predict(X3[:1]) == rows[:1]


def test_numpy_and_pandas_in_give_numpy_out_with_scikit_learns_shapes():
    np = pytest.importorskip("numpy")
    X, y = table(60, outputs=2)
    est = quiet_fit(
        ann.MLPRegressor((8,), max_iter=50, random_state=0), np.asarray(X), np.asarray(y)
    )
    assert est.predict(np.asarray(X)).shape == (60, 2)
    column = quiet_fit(
        ann.MLPRegressor((8,), max_iter=50, random_state=0), np.asarray(X), np.asarray(y)[:, :1]
    )
    assert column.predict(np.asarray(X)).shape == (60,)  # one output: one number a row
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    targets = pd.DataFrame(y, columns=["y1", "y2"])
    named = quiet_fit(ann.MLPRegressor((8,), max_iter=50, random_state=0), frame, targets)
    assert named.feature_names_in_.tolist() == ["a", "b", "c"]
    assert named.predict(frame).shape == (60, 2)
    series = quiet_fit(ann.MLPRegressor((8,), max_iter=50, random_state=0), frame, targets["y1"])
    assert series.predict(frame).shape == (60,)


def test_early_stopping_scores_r2_and_keeps_the_best_weights():
    X, y = table(200, noise=0.5, seed=1)
    est = ann.MLPRegressor(
        (32,), early_stopping=True, n_iter_no_change=5, learning_rate_init=0.02, random_state=0
    )
    quiet_fit(est, X, y)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ < 200 and all(s <= 1 for s in scores)
    assert est.best_validation_score_ == max(scores) > 0.5
    best = ann.MLPRegressor(**est.get_params()).set_params(max_iter=scores.index(max(scores)) + 1)
    quiet_fit(best, X, y)
    assert best.predict(X) == est.predict(X)


def test_coefs_reproduce_the_predictions():
    X, y = table(50, d=4, outputs=2)
    X = [[v * 7 - 3 for v in row] for row in X]
    est = quiet_fit(ann.MLPRegressor((6,), activation="tanh", max_iter=30, random_state=0), X, y)
    for row, predicted in zip(X, est.predict(X)):
        W0, W1 = est.coefs_
        b0, b1 = est.intercepts_
        h = [math.tanh(b0[j] + sum(row[i] * W0[i][j] for i in range(4))) for j in range(6)]
        out = [b1[k] + sum(h[j] * W1[j][k] for j in range(6)) for k in range(2)]
        assert max(abs(a - b) for a, b in zip(out, predicted)) < 1e-4


def test_bad_targets_are_named():
    X, y = table(30)
    est = ann.MLPRegressor((4,), max_iter=5)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        est.fit(X, [*y[:-1], math.nan])
    with pytest.raises(ValueError, match="Input y contains infinity"):
        est.fit(X, [*y[:-1], math.inf])
    with pytest.raises(ValueError, match="y holds the text 'high': MLPRegressor predicts numbers"):
        est.fit(X, [*y[:-1], "high"])
    with pytest.raises(ValueError, match="30 samples but y has 29 targets"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="row 1 has 1 targets, row 0 has 2"):
        est.fit(X, [[1.0, 2.0], [3.0]] + [[1.0, 2.0]] * 28)
    with pytest.raises(ValueError, match="beyond float32's range"):
        est.fit(X, [*y[:-1], 1e300])
    with pytest.raises(ValueError, match="activation must be one of 'identity', 'logistic'"):
        ann.MLPRegressor(activation="gelu").fit(X, y)
    quiet_fit(est, X, y)
    with pytest.raises(
        ValueError, match="y has 2 targets per sample, but MLPRegressor was fitted with 1"
    ):
        est.partial_fit(X, [[v, v] for v in y])


def test_the_network_is_a_regression_model_file(tmp_path):
    X, y = table(60, outputs=2)
    est = quiet_fit(ann.MLPRegressor((8,), max_iter=40, random_state=0), X, y)
    path = tmp_path / "r.safetensors"
    est.network_.save(path)
    net = ann.Network.load(path)
    assert net.head == "identity-mse" and net.activations == ["relu"]
    assert net.predict_values(X) == est.predict(X)


def test_activation_names_are_scikit_learns():
    X, y = table(40)
    for name, ours in ACTIVATIONS.items():
        est = quiet_fit(ann.MLPRegressor((4, 3), activation=name, max_iter=2, random_state=0), X, y)
        assert est.network_.activations == [ours, ours]
    clf = quiet_fit(
        ann.MLPClassifier((4,), activation="logistic", max_iter=2), X, [v > 0 for v in y]
    )
    assert clf.network_.activations == ["sigmoid"] and clf.network_.head == "softmax-ce"


def test_the_python_page_regressor_example_prints_what_it_shows(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    import re
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text("utf-8")
    example = next(
        b for b in re.findall(r"```python\n(.*?)```", page, re.DOTALL) if "MLPRegressor(" in b
    )
    shown = re.search(r"```\n\nprints.*?\n\n```\n(.*?)```", page.split(example, 1)[1], re.DOTALL)
    script = tmp_path / "example.py"
    script.write_text(example, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    number = re.compile(r"-?\d+(?:\.\d+)?")
    want, got = shown.group(1).splitlines(), proc.stdout.splitlines()
    assert [number.sub("#", x) for x in want] == [number.sub("#", x) for x in got]
    for line_want, line_got in zip(want, got):  # the kernels round a little differently
        for a, b in zip(number.findall(line_want), number.findall(line_got)):
            assert float(a) == pytest.approx(float(b), rel=0.02, abs=0.02), (line_want, line_got)


def test_warm_start_continues_from_the_last_fit():
    # plain SGD has no optimizer state, so 5 + 5 warm epochs are exactly 10 cold ones
    X, y = table(60, outputs=2)
    settings = dict(solver="sgd", momentum=0.0, learning_rate_init=0.02, tol=0.0, random_state=0)
    cold = quiet_fit(ann.MLPRegressor((8,), max_iter=10, **settings), X, y)
    warm = quiet_fit(ann.MLPRegressor((8,), max_iter=5, warm_start=True, **settings), X, y)
    first_run = warm.predict(X)
    quiet_fit(warm, X, y)
    assert warm.n_iter_ == 5 and len(warm.loss_curve_) == 10
    assert warm.loss_curve_ == cold.loss_curve_
    assert warm.predict(X) == cold.predict(X) != first_run
    warm.set_params(warm_start=False)  # starts over
    assert quiet_fit(warm, X, y).predict(X) == first_run
    warm.set_params(warm_start=True)
    with pytest.raises(ValueError, match="y has 1 targets per sample, but MLPRegressor was fi"):
        warm.fit(X, [row[0] for row in y])  # one output where the network has two


def test_diabetes_r2_is_scikit_learns_within_003():
    # issue 22: on diabetes (25 % test split, random_state 0), one hidden layer of 100 and
    # scikit-learn's own at max_iter=1000 (at 200 neither has fitted the raw targets yet)
    sk = pytest.importorskip("sklearn.neural_network")
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    pipeline = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X, y = datasets.load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = selection.train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    ours = quiet_fit(ann.MLPRegressor(max_iter=1000, random_state=0), X_train, y_train)
    theirs = quiet_fit(
        pipeline.make_pipeline(
            preprocessing.StandardScaler(), sk.MLPRegressor(max_iter=1000, random_state=0)
        ),
        X_train,
        y_train,
    )
    r2, reference = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert reference > 0.2  # scikit-learn learnt something: the comparison means something
    assert abs(r2 - reference) < 0.03, (r2, reference)
