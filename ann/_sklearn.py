"""``ann.MLPClassifier``: scikit-learn's estimator over ``ann.Network``.

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
    read_weights,
    read_y,
    sorted_classes,
)

__all__ = ["MLPClassifier"]

_PARAMETERS = """
    Parameters keep scikit-learn's names, defaults and meaning: ``hidden_layer_sizes``,
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
    deviation, kept in ``network_`` and its model file). The hidden layers are ReLU, and
    ``lbfgs`` is not offered.

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


def _weights(sample_weight: Any, n: int) -> list[float]:
    """One weight per row (1.0 each without sample_weight); their sum must be positive."""
    if sample_weight is None:
        return [1.0] * n
    weights = read_weights(sample_weight, n)
    if not math.fsum(weights) > 0:
        raise ValueError("sample_weight must have a positive sum")
    return weights


for _cls in (MLPClassifier,):
    _cls.__signature__ = SIGNATURE  # type: ignore[attr-defined]
    PUBLIC.add(_cls)
