"""``ann.MLPClassifier``: scikit-learn's estimator protocol over ``ann.Network``.

Nothing here imports scikit-learn or NumPy. The estimator follows the protocol by its
shape alone (hyperparameters as constructor arguments stored unchanged, checked at ``fit``;
``get_params``/``set_params``; fitted attributes ending in ``_``), so ``sklearn.base.clone``,
``Pipeline`` and ``GridSearchCV`` take it. ``__sklearn_tags__`` imports scikit-learn's tag
classes, but only scikit-learn calls it, so scikit-learn is loaded by then.

Outputs mirror inputs: a NumPy array (or anything with ``__array__``, such as a pandas
DataFrame) in gives NumPy arrays out, built with the NumPy the caller has already imported
(``sys.modules``); lists in give lists out.
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
import sys
import warnings
from array import array
from typing import Any

from . import _checks
from ._data import Dataset
from ._errors import ConvergenceWarning, NotFittedError, sklearn_class
from ._network import Network
from ._sklearn_input import caller_numpy, read_weights, read_X, read_y, sorted_classes

# what fit sets besides the public attributes ending in "_"
_FIT_PRIVATE = ("_classes", "_rng", "_opt_state", "_no_improvement")


def _is_real(value: Any) -> bool:
    """A finite real number: int, float, or NumPy's float32 and friends (numbers.Real)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _is_int(value: Any) -> bool:
    # NumPy integers are not ints but have __index__; bools are refused
    if isinstance(value, bool):
        return False
    try:
        return bool(int(value.__index__()) == value)
    except (AttributeError, TypeError):
        return False


# ---- the estimator ----------------------------------------------------------------------------


class MLPClassifier:
    """A multilayer perceptron classifier with scikit-learn's ``MLPClassifier`` interface,
    trained by ``ann.Network`` (ReLU hidden layers, softmax output, cross-entropy loss).

    Parameters keep scikit-learn's names, defaults and meaning: ``hidden_layer_sizes``,
    ``solver`` ("adam" or "sgd"; sgd uses ``momentum``, Nesterov's when
    ``nesterovs_momentum``), ``alpha`` (L2 penalty, scaled as scikit-learn scales it:
    (alpha / (2 * batch)) * sum(W^2) per batch, so ``Network.fit``'s ``l2`` is
    alpha / batch_size), ``batch_size`` ("auto": min(200, n_samples)), ``learning_rate_init``
    (constant), ``max_iter`` (epochs), ``random_state`` (int, None or a NumPy RandomState),
    ``tol`` and ``n_iter_no_change`` (stop when the training loss, or with
    ``early_stopping`` the validation accuracy on a stratified ``validation_fraction`` of
    the training data, has not improved by ``tol`` for more than ``n_iter_no_change``
    epochs; early stopping then keeps the best weights), ``verbose`` (print the loss of
    each epoch), ``beta_1``, ``beta_2``, ``epsilon`` (Adam). ann adds ``batchnorm``,
    ``dropout`` and ``standardize`` (on by default: each feature is standardised with the
    training set's mean and standard deviation, kept in ``network_`` and its model file).
    ``activation`` is always "relu" and ``lbfgs`` is not offered.

    Every input is numbers, used as given (uint8 too: this is a table, not pixels); ``y``
    holds any sortable, hashable labels (``classes_`` is them sorted). After ``fit``:
    ``classes_``, ``n_features_in_``, ``n_iter_``, ``loss_curve_`` (the mean training loss
    of each epoch), ``best_loss_``, ``validation_scores_``, ``best_validation_score_``,
    ``t_`` (samples seen), ``n_layers_``, ``n_outputs_`` and ``network_`` (the trained
    ``ann.Network``: ``network_.save(path)`` writes a model file).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> MLPClassifier:
        """An instance of this class; when the program has loaded scikit-learn, of a subclass
        that also derives from its ``BaseEstimator`` (what its checks and tools test with
        isinstance), built then, so that ann never imports scikit-learn. The methods here
        come first, so behaviour is the same either way; pickles name this class."""
        if cls is MLPClassifier:
            cls = _with_sklearn_base()
        return super().__new__(cls)

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        batchnorm: bool = False,
        dropout: float = 0.0,
        standardize: bool = True,
    ) -> None:
        # stored unchanged and checked at fit, as scikit-learn's clone and set_params need
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.standardize = standardize

    # ---- the estimator protocol ------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, by name (``deep`` is accepted for scikit-learn: nothing here
        holds other estimators)."""
        return {name: getattr(self, name) for name in _DEFAULTS}

    def set_params(self, **params: Any) -> MLPClassifier:
        """Set hyperparameters by name (checked at the next ``fit``); returns the estimator."""
        for name, value in params.items():
            if name not in _DEFAULTS:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {self!r}. Valid parameters "
                    f"are: {sorted(_DEFAULTS)!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = []
        for name, default in _DEFAULTS.items():
            value = getattr(self, name, default)
            if value is not default and not (type(value) is type(default) and value == default):
                changed.append(f"{name}={value!r}")
        return f"MLPClassifier({', '.join(changed)})"

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

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    _estimator_type = "classifier"  # what scikit-learn before 1.6 reads

    # ---- hyperparameter checks -------------------------------------------------------------

    def _checked(self) -> dict[str, Any]:
        """The hyperparameters, checked: ValueError naming the first bad one."""

        def bad(name: str, want: str) -> ValueError:
            return ValueError(f"{name} must be {want}, got {getattr(self, name)!r}")

        hidden = self.hidden_layer_sizes
        if _is_int(hidden):
            hidden = [hidden]
        try:
            hidden = list(hidden)
        except TypeError:
            raise bad("hidden_layer_sizes", "a list of layer sizes (ints > 0)") from None
        if not all(_is_int(h) and h > 0 for h in hidden):
            raise bad("hidden_layer_sizes", "a list of layer sizes (ints > 0)")
        if self.solver not in ("adam", "sgd"):
            raise bad("solver", "'adam' or 'sgd' (ann has no 'lbfgs')")
        for name, low, high in (
            ("alpha", 0.0, math.inf),
            ("tol", 0.0, math.inf),
            ("epsilon", 0.0, math.inf),
            ("learning_rate_init", 0.0, math.inf),
        ):
            value = getattr(self, name)
            if not _is_real(value) or not low <= value < high:
                raise bad(name, "a finite number >= 0")
        if self.learning_rate_init <= 0 or self.epsilon <= 0:
            raise bad("learning_rate_init" if self.learning_rate_init <= 0 else "epsilon", "> 0")
        # and as the float32 the network computes with (1e-50 is 0 there, 1e39 infinite)
        _checks.finite_float32(float(self.alpha), "alpha")
        _checks.finite_float32(float(self.learning_rate_init), "learning_rate_init")
        _checks.adam_eps(float(self.epsilon), "epsilon")
        for name in ("momentum", "beta_1", "beta_2", "dropout"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value < 1.0:
                raise bad(name, "a number in [0, 1)")
            _checks.probability(float(value), name)
        if not _is_real(self.validation_fraction) or not 0.0 < self.validation_fraction < 1.0:
            raise bad("validation_fraction", "a number in (0, 1)")
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise bad(name, "an int >= 1")
        size: Any = self.batch_size
        if size != "auto" and (not _is_int(size) or size < 1):
            raise bad("batch_size", "'auto' or an int >= 1")
        for name in ("nesterovs_momentum", "early_stopping", "batchnorm", "standardize"):
            if not isinstance(getattr(self, name), (bool, int)):
                raise bad(name, "True or False")
        if not isinstance(self.verbose, (bool, int)):
            raise bad("verbose", "True or False")
        rs = self.random_state
        if not (rs is None or (_is_int(rs) and 0 <= rs < 2**32) or hasattr(rs, "randint")):
            raise bad("random_state", "None, an int in [0, 2**32) or a NumPy RandomState")
        if self.solver == "adam":
            optimizer = "adam"
        elif self.momentum == 0:
            optimizer = "sgd"
        else:
            optimizer = "nesterov" if self.nesterovs_momentum else "momentum"
        return {"hidden": [int(h) for h in hidden], "optimizer": optimizer}

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return random.SystemRandom().randrange(2**31)
        if hasattr(rs, "randint"):  # a NumPy RandomState: draw from it, as scikit-learn does
            return int(rs.randint(2**31 - 1))
        return int(rs)

    # ---- training --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train a new network on X (n_samples, n_features) and labels y; returns self."""
        for name in list(vars(self)):  # forget the last fit (and only what fit sets)
            if name in _FIT_PRIVATE or (name.endswith("_") and not name.startswith("_")):
                delattr(self, name)
        return self._fit(X, y, classes=None, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over X, y, continuing the weights and optimizer state of earlier calls.
        The first call needs ``classes`` (every label y will ever hold), as in scikit-learn;
        early stopping and ``n_iter_no_change`` do not apply."""
        if not hasattr(self, "network_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            return self._fit(X, y, classes=classes, incremental=True)
        if classes is not None:
            given = sorted_classes(read_y(classes, None))
            if given != list(self.classes_):
                raise ValueError(
                    f"classes={given!r} is not the same as on the first call to partial_fit "
                    f"({list(self.classes_)!r})"
                )
        return self._fit(X, y, classes=None, incremental=True)

    def _fit(self, X: Any, y: Any, classes: Any, incremental: bool) -> MLPClassifier:
        settings = self._checked()
        values, n, d = read_X(X)
        labels = read_y(y, n)
        first = not hasattr(self, "network_")
        if first:
            known = sorted_classes(labels if classes is None else read_y(classes, None))
            if len(known) < 2:
                raise ValueError(
                    f"y has only one class ({known[0]!r}): a classifier needs at least 2"
                    if known
                    else "y has no class"
                )
            np = caller_numpy(y) or caller_numpy(X)
            self.classes_ = np.asarray(known) if np is not None else known
            self._classes = known
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise ValueError(self._width_message(d))
        index = {label: i for i, label in enumerate(self._classes)}
        try:
            targets = array("i", [index[v] for v in labels])
        except KeyError as exc:
            raise ValueError(
                f"y holds the label {exc.args[0]!r}, which is not one of the classes "
                f"{self._classes!r}"
            ) from None
        K = len(self._classes)
        if first:
            seed = self._seed()
            self._rng = random.Random(seed)
            self.network_ = Network(
                [d, *settings["hidden"], K],
                batchnorm=bool(self.batchnorm),
                dropout=float(self.dropout),
                seed=seed % 2**31,
                standardize=bool(self.standardize),
            )
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_: list[float] = []
            self.n_layers_ = len(settings["hidden"]) + 2
            self.n_outputs_ = K
            self.out_activation_ = "softmax"
            self._opt_state: dict[str, Any] | None = None
            self._no_improvement = 0
            self.best_loss_: float | None = math.inf
            self.validation_scores_: list[float] | None = None
            self.best_validation_score_: float | None = None
        # the labels' names go into the network (and its model file, for ann predict)
        names = [str(c) for c in self._classes]
        unique = len(set(names)) == K
        data = Dataset(
            values, targets, d, num_classes=K, classes=names if unique else None, name="X"
        )
        early = bool(self.early_stopping) and not incremental
        validation = None
        if early:
            data, validation = self._split(data, targets, K)
            self.validation_scores_, self.best_validation_score_ = [], -math.inf
            self.best_loss_ = None
        batch: Any = self.batch_size
        if batch == "auto":
            batch = min(200, len(data))
        elif batch > len(data):
            warnings.warn(
                f"Got batch_size {batch} larger than the {len(data)} training samples: it is "
                f"clipped to {len(data)}",
                UserWarning,
                stacklevel=3,
            )
            batch = len(data)
        if self.batchnorm and batch < 2:
            raise ValueError("batchnorm needs at least 2 samples per batch")
        options = {
            "batch_size": int(batch),
            "lr": float(self.learning_rate_init),
            "l2": float(self.alpha) / int(batch),
            "optimizer": settings["optimizer"],
            "momentum": float(self.momentum),
            "betas": (float(self.beta_1), float(self.beta_2)),
            "eps": float(self.epsilon),
            "progress": False,
        }
        best: tuple[array[float], array[float]] | None = None
        epochs = 1 if incremental else int(self.max_iter)
        for _ in range(epochs):
            loss = self._epoch(data, options)
            self.n_iter_ += 1
            self.t_ += len(data)
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            if validation is not None:
                assert self.validation_scores_ is not None
                assert self.best_validation_score_ is not None
                score = self.network_.evaluate(validation)["accuracy"]
                self.validation_scores_.append(score)
                if self.verbose:
                    print(f"Validation score: {score:f}")
                if score < self.best_validation_score_ + self.tol:
                    self._no_improvement += 1
                else:
                    self._no_improvement = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best = (self.network_.get_weights(), self.network_.get_state())
            else:
                if self.best_loss_ is None:  # partial_fit after an early-stopping fit
                    self.best_loss_ = math.inf
                if loss > self.best_loss_ - self.tol:
                    self._no_improvement += 1
                else:
                    self._no_improvement = 0
                self.best_loss_ = min(self.best_loss_, loss)
            if not incremental and self._no_improvement > self.n_iter_no_change:
                if self.verbose:
                    what = "Validation score" if early else "Training loss"
                    print(
                        f"{what} did not improve more than tol={self.tol:f} for "
                        f"{self.n_iter_no_change} consecutive epochs. Stopping."
                    )
                break
        else:
            if not incremental:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    f"the optimization hasn't converged yet.",
                    sklearn_class(ConvergenceWarning),
                    stacklevel=3,
                )
        if best is not None:
            self.network_.set_weights(best[0])
            self.network_.set_state(best[1])
        return self

    def _epoch(self, data: Dataset, options: dict[str, Any]) -> float:
        """One pass over data in a fresh order; returns its mean training loss. The optimizer
        state (momentum, Adam's moments and step) carries over from the epoch before."""
        net = self.network_
        if self._opt_state is not None:
            net._pending_optimizer = self._opt_state  # the next fit continues it
        history = net.fit(data, epochs=1, seed=self._rng.randrange(2**31), **options)
        self._opt_state = net.optimizer_state()
        return float(history.train_loss[-1])

    def _split(self, data: Dataset, targets: array[int], K: int) -> tuple[Dataset, Dataset]:
        """(train, validation): a stratified, seeded ``validation_fraction`` of each class."""
        by_class: list[list[int]] = [[] for _ in range(K)]
        for i, t in enumerate(targets):
            by_class[t].append(i)
        # ceil(fraction * n) rows held out (scikit-learn's train_test_split count), each
        # class giving its share rounded down and the largest remainders one more
        total = math.ceil(self.validation_fraction * len(data))
        shares = [len(rows) * self.validation_fraction for rows in by_class]
        counts = [int(s) for s in shares]
        by_remainder = sorted(range(K), key=lambda c: counts[c] - shares[c])
        for c in by_remainder[: max(0, total - sum(counts))]:
            counts[c] += 1
        held: list[int] = []
        for rows, count in zip(by_class, counts):
            self._rng.shuffle(rows)
            held.extend(rows[:count])
        if not held or len(held) >= len(data):
            raise ValueError(
                f"validation_fraction {self.validation_fraction} of {len(data)} samples leaves "
                f"the training or the validation set empty"
            )
        chosen = set(held)
        return data.subset([i for i in range(len(data)) if i not in chosen]), data.subset(
            sorted(held)
        )

    # ---- prediction ------------------------------------------------------------------------

    def _width_message(self, d: int) -> str:
        return (
            f"X has {d} features, but MLPClassifier is expecting {self.n_features_in_} "
            f"features as input"
        )

    def _net_for(self, X: Any) -> Network:
        self._input_check_fitted()
        return self.network_

    def _input_check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise sklearn_class(NotFittedError)(
                "This MLPClassifier instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _input(self, X: Any) -> array[float]:
        values, _, d = read_X(X)
        if d != self.n_features_in_:
            raise ValueError(self._width_message(d))
        return values

    def predict_proba(self, X: Any) -> Any:
        """The probability of each class (columns in ``classes_`` order) for each row of X."""
        probs = self._net_for(X).predict_proba(self._input(X))
        np = caller_numpy(X)
        return np.asarray(probs, dtype=np.float64) if np is not None else probs

    def predict_log_proba(self, X: Any) -> Any:
        """The natural log of ``predict_proba``."""
        probs = self._net_for(X).predict_proba(self._input(X))
        logs = [[math.log(p) if p > 0 else -math.inf for p in row] for row in probs]
        np = caller_numpy(X)
        return np.asarray(logs, dtype=np.float64) if np is not None else logs

    def predict(self, X: Any) -> Any:
        """The most probable class of each row of X, as labels of ``classes_``."""
        indices = self._net_for(X).predict(self._input(X))
        np = caller_numpy(X)
        if np is not None:
            return np.asarray(self.classes_)[np.asarray(indices, dtype=np.intp)]
        return [self._classes[i] for i in indices]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The (weighted) fraction of rows of X whose predicted label equals y's."""
        predicted = self.predict(X)
        predicted = predicted.tolist() if hasattr(predicted, "tolist") else predicted
        truth = read_y(y, len(predicted))
        weights = (
            [1.0] * len(truth) if sample_weight is None else read_weights(sample_weight, len(truth))
        )
        total = math.fsum(weights)
        if total <= 0:
            raise ValueError("sample_weight must have a positive sum")
        return math.fsum(w for w, p, t in zip(weights, predicted, truth) if p == t) / total

    # ---- pickling ----------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # network_ pickles itself (ann.Network.__getstate__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        saved = state.pop("_network_saved", None)  # written by ann 0.2.0, before Network pickled
        self.__dict__.update(state)
        if saved is not None:
            net = Network(
                saved["sizes"],
                batchnorm=saved["batchnorm"],
                dropout=saved["dropout"],
                seed=saved["seed"],
                standardize=saved["standardize"],
            )
            weights, values = array("f"), array("f")
            weights.frombytes(saved["weights"])
            values.frombytes(saved["state"])
            net.set_weights(weights)
            net.set_state(values)
            if saved["standardization"] is not None:
                net.set_standardization(*saved["standardization"])
            if "_classes" in state:  # the names fit gives the network
                names = [str(c) for c in state["_classes"]]
                net.classes = names if len(set(names)) == len(names) else None
            self.network_ = net

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # pickled as MLPClassifier itself, whichever class __new__ chose (see there)
        return (_new_estimator, (), self.__getstate__())


# What inspect.signature(MLPClassifier) shows: the hyperparameters of __init__, not the
# (*args, **kwargs) of __new__ (scikit-learn's checks read the class's signature).
_INIT = inspect.signature(MLPClassifier.__init__)
MLPClassifier.__signature__ = _INIT.replace(  # type: ignore[attr-defined]
    parameters=list(_INIT.parameters.values())[1:]
)

_SUBCLASSES: dict[type, type[MLPClassifier]] = {}  # scikit-learn's BaseEstimator -> subclass


def _with_sklearn_base() -> type[MLPClassifier]:
    """MLPClassifier, or its subclass deriving from scikit-learn's BaseEstimator when the
    program has imported scikit-learn (never imported here)."""
    base = getattr(sys.modules.get("sklearn.base"), "BaseEstimator", None)
    if base is None:
        return MLPClassifier
    if base not in _SUBCLASSES:
        _SUBCLASSES[base] = type(
            "MLPClassifier",
            (MLPClassifier, base),
            {
                "__module__": __name__,
                "__qualname__": "MLPClassifier",
                "__doc__": MLPClassifier.__doc__,
            },
        )
    return _SUBCLASSES[base]


def _new_estimator() -> MLPClassifier:
    """An MLPClassifier for pickle to fill (``MLPClassifier.__reduce_ex__``)."""
    return MLPClassifier.__new__(MLPClassifier)


# The hyperparameters, in the constructor's order, and their defaults (scikit-learn's): read
# from the signature, so each default is written once.
_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(MLPClassifier.__init__).parameters.items()
    if name != "self"
}
