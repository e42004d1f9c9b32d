"""``ann.MLPClassifier`` and ``ann.MLPRegressor``: scikit-learn's estimators over ``ann.Network``.

The shared machinery (hyperparameters, the training loop, ``warm_start``, feature names,
``coefs_``, pickling) is ``_sklearn_base.MLPBase``; the inputs are read by
``_sklearn_input``. Neither imports scikit-learn or NumPy.

Outputs mirror inputs: a NumPy array (or anything with ``__array__``, such as a pandas
DataFrame) in gives NumPy arrays out, built with the NumPy the caller has already imported
(``sys.modules``); lists in give lists out.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import Any

from ._data import Dataset
from ._sklearn_base import PUBLIC, SIGNATURE, MLPBase
from ._sklearn_input import (
    caller_numpy,
    read_targets,
    read_weights,
    read_y,
    sorted_classes,
)

__all__ = ["MLPClassifier", "MLPRegressor"]

_PARAMETERS = """
    Parameters keep scikit-learn's names, defaults and meaning: ``hidden_layer_sizes``,
    ``activation`` (of the hidden layers: "relu", "tanh", "logistic" or "identity"),
    ``solver`` ("adam" or "sgd"; sgd uses ``momentum``, Nesterov's when
    ``nesterovs_momentum``), ``alpha`` (L2 penalty, scaled as scikit-learn scales it:
    (alpha / (2 * batch)) * sum(W^2) per batch, so ``Network.fit``'s ``l2`` is
    alpha / batch_size), ``batch_size`` ("auto": min(200, n_samples)), ``learning_rate_init``
    (constant), ``max_iter`` (epochs), ``random_state`` (int, None or a NumPy RandomState),
    ``tol`` and ``n_iter_no_change`` (stop when the training loss, or with
    ``early_stopping`` the validation score on a ``validation_fraction`` of the training
    data, has not improved by ``tol`` for more than ``n_iter_no_change`` epochs; early
    stopping then keeps the best weights), ``warm_start`` (``fit`` continues from the last
    fit's weights), ``verbose`` (print the loss of each epoch), ``beta_1``, ``beta_2``,
    ``epsilon`` (Adam). ann adds ``batchnorm``, ``dropout`` and ``standardize`` (on by
    default: each feature is standardised with the training set's mean and standard
    deviation, kept in ``network_`` and its model file). ``lbfgs`` is not offered.

    X is numbers, used as given (uint8 too: this is a table, not pixels): a NumPy array, a
    pandas DataFrame (its column names become ``feature_names_in_``, checked at every later
    call, and go into the model file) or a list of rows."""

_FITTED = """
    ``n_features_in_``, ``feature_names_in_`` (with a DataFrame of string column names),
    ``n_iter_``, ``loss_`` and ``loss_curve_`` (the mean training loss of each epoch),
    ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``t_`` (samples
    seen), ``n_layers_``, ``n_outputs_``, ``out_activation_``, ``coefs_`` and
    ``intercepts_`` (the weights and biases of each layer as scikit-learn lays them out,
    (n_in, n_out), with ann's input standardisation folded into the first layer) and
    ``network_`` (the trained ``ann.Network``: ``network_.save(path)`` writes a model file
    for ``ann evaluate`` and ``ann predict``)."""


class MLPClassifier(MLPBase):
    __doc__ = (
        """A multilayer perceptron classifier with scikit-learn's ``MLPClassifier`` interface,
    trained by ``ann.Network`` (softmax output, cross-entropy loss).
"""
        + _PARAMETERS
        + """ ``y`` holds any sortable, hashable labels
    (``classes_`` is them sorted); early stopping holds out a stratified share and scores
    its accuracy.

    After ``fit``: ``classes_``,"""
        + _FITTED
        + """ Unlike scikit-learn's, a binary problem has two
    softmax outputs (``n_outputs_`` 2), not one logistic output.
    """
    )

    _HEAD = "softmax-ce"
    _estimator_type = "classifier"

    def __sklearn_tags__(self) -> Any:
        # only scikit-learn calls this, so importing from it loads nothing new
        from sklearn.utils import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            ClassifierTags,
            InputTags,
            Tags,
            TargetTags,
        )

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=True),
            input_tags=InputTags(two_d_array=True, sparse=True, allow_nan=False),
        )

    # ---- what MLPBase asks --------------------------------------------------------------------

    def _read_targets(self, y: Any, n: int, first: bool, warm: bool, classes: Any) -> array[int]:
        labels = read_y(y, n)
        if first:
            known = sorted_classes(labels if classes is None else read_y(classes, None))
            if len(known) < 2:
                raise ValueError(
                    f"y has only one class ({known[0]!r}): a classifier needs at least 2"
                    if known
                    else "y has no class"
                )
            np = caller_numpy(y) or (sys.modules.get("numpy") if self._numpy_out else None)
            self.classes_ = np.asarray(known) if np is not None else known
            self._classes = known
            self.out_activation_ = "softmax"
        elif warm:
            given = sorted_classes(labels)
            if set(given) != set(self._classes):  # warm_start: the same classes again
                raise ValueError(
                    f"warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self._classes!r}, `y` has "
                    f"{given!r}"
                )
        index = {label: i for i, label in enumerate(self._classes)}
        try:
            return array("i", [index[v] for v in labels])
        except KeyError as exc:
            raise ValueError(
                f"y holds the label {exc.args[0]!r}, which is not one of the classes "
                f"{self._classes!r}"
            ) from None

    def _n_outputs(self) -> int:
        return len(self._classes)

    def _dataset(self, values: array[float], d: int, targets: array[int]) -> Dataset:
        # the labels' names go into the network (and its model file, for ann predict)
        names = [str(c) for c in self._classes]
        K = len(names)
        unique = len(set(names)) == K
        return Dataset(
            values, targets, d, num_classes=K, classes=names if unique else None, name="X"
        )

    def _split(self, data: Dataset, targets: array[int]) -> tuple[Dataset, Dataset]:
        """(train, validation): a stratified, seeded ``validation_fraction`` of each class."""
        K = len(self._classes)
        by_class: list[list[int]] = [[] for _ in range(K)]
        for i, t in enumerate(targets):
            by_class[t].append(i)
        # ceil(fraction * n) rows held out (scikit-learn's train_test_split count), each
        # class giving its share rounded down and the largest remainders one more
        total = self._held_out(len(data))
        shares = [len(rows) * self.validation_fraction for rows in by_class]
        counts = [int(s) for s in shares]
        by_remainder = sorted(range(K), key=lambda c: counts[c] - shares[c])
        for c in by_remainder[: max(0, total - sum(counts))]:
            counts[c] += 1
        held: list[int] = []
        for rows, count in zip(by_class, counts):
            self._rng.shuffle(rows)
            held.extend(rows[:count])
        chosen = set(held)
        return data.subset([i for i in range(len(data)) if i not in chosen]), data.subset(
            sorted(held)
        )

    def _validation_score(self, validation: Dataset) -> float:
        return float(self.network_.evaluate(validation)["accuracy"])

    # ---- training ----------------------------------------------------------------------------

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over X, y, continuing the weights and optimizer state of earlier calls.
        The first call needs ``classes`` (every label y will ever hold), as in scikit-learn;
        early stopping and ``n_iter_no_change`` do not apply."""
        if not hasattr(self, "network_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._fit(X, y, classes=classes, incremental=True)
            return self
        if classes is not None:
            given = sorted_classes(read_y(classes, None))
            if given != list(self._classes):
                raise ValueError(
                    f"classes={given!r} is not the same as on the first call to partial_fit "
                    f"({list(self._classes)!r})"
                )
        self._fit(X, y, classes=None, incremental=True)
        return self

    # ---- prediction ------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> Any:
        """The probability of each class (columns in ``classes_`` order) for each row of X."""
        values = self._input(X)
        probs = self.network_.predict_proba(values)
        np = caller_numpy(X)
        return np.asarray(probs, dtype=np.float64) if np is not None else probs

    def predict_log_proba(self, X: Any) -> Any:
        """The natural log of ``predict_proba``."""
        values = self._input(X)
        probs = self.network_.predict_proba(values)
        logs = [[math.log(p) if p > 0 else -math.inf for p in row] for row in probs]
        np = caller_numpy(X)
        return np.asarray(logs, dtype=np.float64) if np is not None else logs

    def predict(self, X: Any) -> Any:
        """The most probable class of each row of X, as labels of ``classes_``."""
        values = self._input(X)
        indices = self.network_.predict(values)
        np = caller_numpy(X)
        if np is not None:
            return np.asarray(self.classes_)[np.asarray(indices, dtype=np.intp)]
        return [self._classes[i] for i in indices]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The (weighted) fraction of rows of X whose predicted label equals y's."""
        predicted = self.predict(X)
        predicted = predicted.tolist() if hasattr(predicted, "tolist") else predicted
        truth = read_y(y, len(predicted))
        weights = _weights(sample_weight, len(truth))
        total = math.fsum(weights)
        return math.fsum(w for w, p, t in zip(weights, predicted, truth) if p == t) / total


class MLPRegressor(MLPBase):
    __doc__ = (
        """A multilayer perceptron regressor with scikit-learn's ``MLPRegressor`` interface,
    trained by ``ann.Network`` (identity output, squared-error loss).
"""
        + _PARAMETERS
        + """ ``y`` holds numbers: one per row, or rows of
    several (multi-output); ``predict`` gives one number per row for one output, rows of
    numbers otherwise. Every update is scikit-learn's (tested step for step), and
    ``loss_curve_`` is its loss, half the mean squared error plus the L2 penalty (with several
    outputs, the penalty divided by their number); ``score`` and early stopping's validation
    score are R² (averaged over the outputs). Targets are
    used as given, as scikit-learn's are: large ones (hundreds) learn slowly at the default
    rate; scale them (``sklearn.compose.TransformedTargetRegressor``) or raise
    ``max_iter``.

    After ``fit``:"""
        + _FITTED
        + """
    """
    )

    _HEAD = "identity-mse"
    _LOSS_SCALE = 2.0
    _estimator_type = "regressor"

    def _gradient_scale(self) -> float:
        # The head's loss is the mean of (y - p)^2 over the B rows and K outputs, whose
        # gradient is 2 (p - y) / (B K); scikit-learn steps along (p - y) / B (the gradient of
        # its squared error summed over the outputs, though it reports the mean): 2 / K of it.
        return 2.0 / self._width

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            InputTags,
            RegressorTags,
            Tags,
            TargetTags,
        )

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True, multi_output=True, single_output=True),
            regressor_tags=RegressorTags(),
            input_tags=InputTags(two_d_array=True, sparse=True, allow_nan=False),
        )

    # ---- what MLPBase asks --------------------------------------------------------------------

    def _read_targets(self, y: Any, n: int, first: bool, warm: bool, classes: Any) -> array[float]:
        targets, width = read_targets(y, n)
        if first:
            self._width = width
            self.out_activation_ = "identity"
        elif width != self.n_outputs_:
            raise ValueError(
                f"y has {width} targets per sample, but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}"
            )
        return targets

    def _n_outputs(self) -> int:
        return int(self._width)

    def _dataset(self, values: array[float], d: int, targets: array[float]) -> Dataset:
        T = self._width
        rows = memoryview(targets).cast("B").cast("f", (len(targets) // T, T))  # (n, T)
        return Dataset(values, None, d, targets=rows, name="X")

    def _split(self, data: Dataset, targets: array[float]) -> tuple[Dataset, Dataset]:
        """(train, validation): a seeded random ``validation_fraction`` of the rows."""
        order = list(range(len(data)))
        self._rng.shuffle(order)
        held = set(order[: self._held_out(len(data))])
        return data.subset([i for i in range(len(data)) if i not in held]), data.subset(
            sorted(held)
        )

    def _validation_score(self, validation: Dataset) -> float:
        return float(self.network_.evaluate(validation)["r2"])  # averaged over the outputs

    # ---- training ----------------------------------------------------------------------------

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over X, y, continuing the weights and optimizer state of earlier calls;
        early stopping and ``n_iter_no_change`` do not apply."""
        self._fit(X, y, classes=None, incremental=True)
        return self

    # ---- prediction ------------------------------------------------------------------------

    def predict(self, X: Any) -> Any:
        """The predicted value(s) of each row of X: a number per row with one output, a row
        of ``n_outputs_`` numbers per row otherwise."""
        rows_in = self._input(X)  # first: an unfitted estimator says so
        values = self.network_.predict_values(rows_in)
        rows: list[Any] = [row[0] for row in values] if self.n_outputs_ == 1 else values
        np = caller_numpy(X)
        return np.asarray(rows, dtype=np.float64) if np is not None else rows

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of the predictions for X against y (averaged over the outputs, each weighted by
        ``sample_weight``), as scikit-learn's ``r2_score``."""
        predicted = self.predict(X)
        predicted = predicted.tolist() if hasattr(predicted, "tolist") else predicted
        n = len(predicted)
        truth, width = read_targets(y, n)
        flat = array("d")
        for row in predicted:
            if isinstance(row, list):
                flat.extend(row)
            else:
                flat.append(row)
        if width != self.n_outputs_:
            raise ValueError(f"y has {width} targets per sample, the model {self.n_outputs_}")
        return r2_score(truth, flat, width, _weights(sample_weight, n))


def _weights(sample_weight: Any, n: int) -> list[float]:
    """One weight per row (1.0 each without sample_weight); their sum must be positive."""
    if sample_weight is None:
        return [1.0] * n
    weights = read_weights(sample_weight, n)
    if not math.fsum(weights) > 0:
        raise ValueError("sample_weight must have a positive sum")
    return weights


def r2_score(truth: Any, predicted: Any, outputs: int, weights: list[float] | None = None) -> float:
    """scikit-learn's ``r2_score`` (multioutput "uniform_average"): 1 - SS_res / SS_tot for
    each output, weighted by row, then their mean; an output whose truth is constant scores
    1.0 when predicted exactly, else 0.0. ``truth`` and ``predicted`` are flat, row by row."""
    n = len(truth) // outputs
    w = weights if weights is not None else [1.0] * n
    total = math.fsum(w)
    scores = []
    for j in range(outputs):
        column = [float(truth[i * outputs + j]) for i in range(n)]
        guess = [float(predicted[i * outputs + j]) for i in range(n)]
        mean = math.fsum(wi * v for wi, v in zip(w, column)) / total
        ss_tot = math.fsum(wi * (v - mean) ** 2 for wi, v in zip(w, column))
        ss_res = math.fsum(wi * (v - p) ** 2 for wi, v, p in zip(w, column, guess))
        if ss_tot == 0:
            scores.append(1.0 if ss_res == 0 else 0.0)
        else:
            scores.append(1.0 - ss_res / ss_tot)
    return math.fsum(scores) / outputs


for _cls in (MLPClassifier, MLPRegressor):
    setattr(_cls, "__signature__", SIGNATURE)  # noqa: B010 (what inspect.signature reads)
    PUBLIC.add(_cls)
