"""What ``ann.MLPClassifier`` and ``ann.MLPRegressor`` share: scikit-learn's estimator protocol
over ``ann.Network``.

Nothing here imports scikit-learn or NumPy. An estimator follows the protocol by its shape
alone (hyperparameters as constructor arguments stored unchanged, checked at ``fit``;
``get_params``/``set_params``; fitted attributes ending in ``_``), so ``sklearn.base.clone``,
``Pipeline`` and ``GridSearchCV`` take it. ``__sklearn_tags__`` imports scikit-learn's tag
classes, but only scikit-learn calls it, so scikit-learn is loaded by then.

``MLPBase`` holds the training loop (one ``Network.fit`` epoch at a time, so that the stopping
rules, ``verbose`` and ``partial_fit`` are scikit-learn's), the checks of the
hyperparameters, ``warm_start``, the feature names of a DataFrame (``feature_names_in_``),
``coefs_`` / ``intercepts_`` and pickling. A subclass says what y is (``_read_targets``), how
a validation split is drawn (``_split``), what the validation score is (``_validation_score``)
and which head the network has (``_HEAD``).
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
import sys
import warnings
from array import array
from typing import Any, ClassVar, TypeVar

from . import _checks
from ._data import Dataset
from ._errors import ConvergenceWarning, NotFittedError, sklearn_class
from ._network import Network
from ._sklearn_input import caller_numpy, check_feature_names, feature_names, read_X

_Estimator = TypeVar("_Estimator", bound="MLPBase")

#: what fit sets besides the public attributes ending in "_"
_FIT_PRIVATE = ("_classes", "_rng", "_opt_state", "_no_improvement", "_best", "_numpy_out")


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


class MLPBase:
    """The hyperparameters and training loop of both estimators (see their docstrings)."""

    #: the Network head: "softmax-ce" (classifier) or "identity-mse" (regressor)
    _HEAD: ClassVar[str] = ""
    #: the head's loss over scikit-learn's: 1 for cross-entropy; 2 for identity-mse, the mean
    #: of (y - p)^2 where scikit-learn's squared error is half of it (loss_curve_ reports
    #: scikit-learn's: the head's loss divided by this; see _gradient_scale for the updates)
    _LOSS_SCALE: ClassVar[float] = 1.0

    def _gradient_scale(self) -> float:
        """The network's gradient over scikit-learn's (see the regressor's). Network.fit's l2
        and Adam's epsilon are multiplied by it and SGD's rate divided by it, so that every
        update is scikit-learn's."""
        return 1.0

    # set by fit (annotated here for the type checker: no value, so hasattr stays False)
    network_: Network
    n_features_in_: int
    _rng: random.Random
    _opt_state: dict[str, Any] | None
    _best: tuple[array[float], array[float]] | None
    _no_improvement: int
    _numpy_out: bool
    _estimator_type: ClassVar[str] = ""  # what scikit-learn before 1.6 reads

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """An instance of this class; when the program has loaded scikit-learn, of a subclass
        that also derives from its ``BaseEstimator`` (``with_sklearn_base``), built then, so
        that ann never imports scikit-learn. Pickles name the public class. (A subclass of
        your own is left as it is.)"""
        return super().__new__(with_sklearn_base(cls) if cls in PUBLIC else cls)

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
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
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
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
        return {name: getattr(self, name) for name in DEFAULTS}

    def set_params(self, **params: Any) -> Any:
        """Set hyperparameters by name (checked at the next ``fit``); returns the estimator."""
        for name, value in params.items():
            if name not in DEFAULTS:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {self!r}. Valid parameters "
                    f"are: {sorted(DEFAULTS)!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = []
        for name, default in DEFAULTS.items():
            value = getattr(self, name, default)
            if value is not default and not (type(value) is type(default) and value == default):
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

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
        if self.activation not in ACTIVATIONS:
            raise bad("activation", "one of " + ", ".join(map(repr, ACTIVATIONS)))
        if self.solver not in ("adam", "sgd"):
            raise bad("solver", "'adam' or 'sgd' (ann has no 'lbfgs')")
        for name in ("alpha", "tol", "epsilon", "learning_rate_init"):
            value = getattr(self, name)
            if not _is_real(value) or value < 0:
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
        for name in (
            "nesterovs_momentum",
            "early_stopping",
            "batchnorm",
            "standardize",
            "verbose",
            "warm_start",
        ):
            if not isinstance(getattr(self, name), (bool, int)):
                raise bad(name, "True or False")
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

    # ---- what a subclass says ------------------------------------------------------------------

    def _read_targets(self, y: Any, n: int, first: bool, warm: bool, classes: Any) -> Any:
        """y, checked, in the form ``_dataset`` takes. ``first``: no network yet (set what
        the targets fix: the classes, the number of outputs); ``warm``: a ``warm_start`` fit
        of a fitted estimator; ``classes``: partial_fit's."""
        raise NotImplementedError

    def _dataset(self, values: array[float], d: int, targets: Any) -> Dataset:
        raise NotImplementedError

    def _split(self, data: Dataset, targets: Any) -> tuple[Dataset, Dataset]:
        raise NotImplementedError

    def _validation_score(self, validation: Dataset) -> float:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    # ---- training --------------------------------------------------------------------------

    def fit(self: _Estimator, X: Any, y: Any) -> _Estimator:
        """Train on X (n_samples, n_features) and y; returns self. A new network each time,
        unless ``warm_start`` and the estimator is fitted: then training continues from the
        weights of the last fit (with a fresh optimizer state, as scikit-learn's)."""
        if not (self.warm_start and hasattr(self, "network_")):
            for name in list(vars(self)):  # forget the last fit (and only what fit sets)
                if name in _FIT_PRIVATE or (name.endswith("_") and not name.startswith("_")):
                    delattr(self, name)
        else:
            self._opt_state = None
        self._fit(X, y, classes=None, incremental=False)
        return self

    def _fit(self, X: Any, y: Any, classes: Any, incremental: bool) -> None:
        settings = self._checked()
        first = not hasattr(self, "network_")
        names = feature_names(X)
        if first:
            self._numpy_out = caller_numpy(X) is not None
            if names is not None:  # a NumPy array of str objects, as scikit-learn's
                np = sys.modules.get("numpy") if self._numpy_out else None
                self.feature_names_in_ = np.asarray(names, dtype=object) if np else names
        else:
            check_feature_names(self, names)
        values, n, d = read_X(X)
        if not first and d != self.n_features_in_:
            raise ValueError(self._width_message(d))
        targets = self._read_targets(y, n, first, not first and not incremental, classes)
        if first:
            self.n_features_in_ = d
            seed = self._seed()
            self._rng = random.Random(seed)
            self.network_ = Network(
                [d, *settings["hidden"], self._n_outputs()],
                activation=ACTIVATIONS[self.activation],
                head=self._HEAD,
                init="glorot",  # scikit-learn's: U(+-sqrt(6 / (fan_in + fan_out)))
                batchnorm=bool(self.batchnorm),
                dropout=float(self.dropout),
                seed=seed % 2**31,
                standardize=bool(self.standardize),
            )
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_: list[float] = []
            self.n_layers_ = len(settings["hidden"]) + 2
            self.n_outputs_ = self._n_outputs()
            self._opt_state = None
            self._best = None
            self._no_improvement = 0
            self.best_loss_: float | None = math.inf
            self.validation_scores_: list[float] | None = None
            self.best_validation_score_: float | None = None
        data = self._dataset(values, d, targets)
        if names is not None:
            data.feature_names = list(names)
        early = bool(self.early_stopping) and not incremental
        validation = None
        if early:
            data, validation = self._split(data, targets)
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -math.inf
            self.best_loss_ = None
        if not incremental:
            # scikit-learn's count of this call's epochs; the stopping count and the best
            # loss or score carry over from the fit a warm start continues, as there
            self.n_iter_ = 0
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
        sgd, scale = settings["optimizer"] != "adam", self._gradient_scale()
        options = {
            "batch_size": int(batch),
            # scikit-learn's (alpha / 2B) sum(W^2) is Network.fit's (l2 / 2) sum(W^2) with
            # l2 = alpha / B, times the gradient scale (see _gradient_scale)
            "lr": float(self.learning_rate_init) / (scale if sgd else 1.0),
            "l2": scale * float(self.alpha) / int(batch),
            "optimizer": settings["optimizer"],
            "momentum": float(self.momentum),
            "betas": (float(self.beta_1), float(self.beta_2)),
            "eps": scale * float(self.epsilon),
            "progress": False,
        }
        epochs = 1 if incremental else int(self.max_iter)
        for _ in range(epochs):
            loss = self._epoch(data, options)
            self.n_iter_ += 1
            self.t_ += len(data)
            self.loss_curve_.append(loss)
            self.loss_ = loss
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            if validation is not None:
                self._after_validation(self._validation_score(validation))
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
        if early and self._best is not None:
            self.network_.set_weights(self._best[0])
            self.network_.set_state(self._best[1])

    def _after_validation(self, score: float) -> None:
        """Record one epoch's validation score; keep the weights when it is the best yet."""
        assert self.validation_scores_ is not None and self.best_validation_score_ is not None
        self.validation_scores_.append(score)
        if self.verbose:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement += 1
        else:
            self._no_improvement = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best = (self.network_.get_weights(), self.network_.get_state())

    def _epoch(self, data: Dataset, options: dict[str, Any]) -> float:
        """One pass over data in a fresh order; returns its mean training loss. The optimizer
        state (momentum, Adam's moments and step) carries over from the epoch before."""
        net = self.network_
        if self._opt_state is not None:
            net._pending_optimizer = self._opt_state  # the next fit continues it
        history = net.fit(data, epochs=1, seed=self._rng.randrange(2**31), **options)
        self._opt_state = net.optimizer_state()
        return float(history.train_loss[-1]) / self._LOSS_SCALE

    def _held_out(self, n: int) -> int:
        """The rows early stopping holds out: ceil(fraction * n), scikit-learn's count."""
        held = math.ceil(self.validation_fraction * n)
        if held < 1 or held >= n:
            raise ValueError(
                f"validation_fraction {self.validation_fraction} of {n} samples leaves "
                f"the training or the validation set empty"
            )
        return held

    # ---- prediction ------------------------------------------------------------------------

    def _width_message(self, d: int) -> str:
        return (
            f"X has {d} features, but {type(self).__name__} is expecting {self.n_features_in_} "
            f"features as input"
        )

    def _require_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise sklearn_class(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                f"appropriate arguments before using this estimator."
            )

    def _input(self, X: Any) -> array[float]:
        """X's rows for prediction, checked against the fit: fitted, feature names, width."""
        self._require_fitted()
        check_feature_names(self, feature_names(X))
        values, _, d = read_X(X)
        if d != self.n_features_in_:
            raise ValueError(self._width_message(d))
        return values

    # ---- the weights as scikit-learn shows them --------------------------------------------

    @property
    def coefs_(self) -> list[Any]:
        """The weight matrix of each layer, (n_in, n_out), as scikit-learn's ``coefs_``: copies
        (setting them changes nothing). The first layer's applies to X as given: ann's input
        standardisation is folded into it (W / std), so ``activation(X @ coefs_[0] +
        intercepts_[0])`` ... reproduces the network's outputs (without batch norm, whose
        layers these matrices do not include)."""
        return self._weights()[0]

    @property
    def intercepts_(self) -> list[Any]:
        """The bias vector of each layer, (n_out,), as scikit-learn's ``intercepts_``: copies;
        the first layer's has ann's input standardisation folded in (b - (mean / std) @ W)."""
        return self._weights()[1]

    def _weights(self) -> tuple[list[Any], list[Any]]:
        if not hasattr(self, "network_"):
            raise AttributeError(f"{type(self).__name__} has no coefs_ before fit")
        net = self.network_
        params, state = net.get_weights(), net.get_state()
        coefs: list[Any] = []
        intercepts: list[Any] = []
        for l in range(len(net.sizes) - 1):
            n_in, n_out = net.sizes[l], net.sizes[l + 1]
            W = net._slice(l, "weight", params, state)
            b = [float(v) for v in net._slice(l, "bias", params, state)]
            rows = [[float(v) for v in W[i * n_out : (i + 1) * n_out]] for i in range(n_in)]
            if l == 0 and net.standardization is not None:
                mean, std = net.standardization
                for i, row in enumerate(rows):
                    shift = mean[i] / std[i]
                    for j in range(n_out):
                        b[j] -= shift * row[j]
                    rows[i] = [v / std[i] for v in row]
            coefs.append(rows)
            intercepts.append(b)
        np = sys.modules.get("numpy") if self._numpy_out else None
        if np is not None:
            coefs = [np.asarray(m, dtype=np.float64) for m in coefs]
            intercepts = [np.asarray(v, dtype=np.float64) for v in intercepts]
        return coefs, intercepts

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
        # pickled as the public class itself, whichever class __new__ chose (see there)
        return (_new_estimator, (_public(type(self)),), self.__getstate__())


# ---- scikit-learn's BaseEstimator, when the program has loaded scikit-learn ---------------------

#: the estimator classes ann exports (filled by _sklearn.py), which __new__ gives scikit-learn's
#: BaseEstimator when scikit-learn is loaded
PUBLIC: set[type] = set()
_SUBCLASSES: dict[tuple[type, type], type] = {}  # (estimator, BaseEstimator) -> subclass


def with_sklearn_base(cls: type) -> type:
    """``cls``, or its subclass deriving from scikit-learn's BaseEstimator when the program has
    imported scikit-learn (never imported here): what its checks and tools test with
    isinstance. The methods of ``cls`` come first, so behaviour is the same either way."""
    base = getattr(sys.modules.get("sklearn.base"), "BaseEstimator", None)
    if base is None:
        return cls
    if (cls, base) not in _SUBCLASSES:
        _SUBCLASSES[cls, base] = type(
            cls.__name__,
            (cls, base),
            {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
            },
        )
    return _SUBCLASSES[cls, base]


def _public(cls: type) -> type:
    """The public estimator class of an instance's class (undoing ``with_sklearn_base``)."""
    for (own, _), sub in _SUBCLASSES.items():
        if sub is cls:
            return own
    return cls


def _new_estimator(cls: type) -> Any:
    """An estimator of class ``cls`` for pickle to fill (``MLPBase.__reduce_ex__``)."""
    return object.__new__(with_sklearn_base(cls) if cls in PUBLIC else cls)


#: scikit-learn's activation names, and ann's for each
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}

#: The hyperparameters, in the constructor's order, and their defaults (scikit-learn's): read
#: from the signature, so each default is written once.
_INIT = inspect.signature(MLPBase.__init__)
DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in _INIT.parameters.items() if name != "self"
}
#: What inspect.signature of an estimator class shows: the hyperparameters of __init__, not
#: the (*args, **kwargs) of __new__ (scikit-learn's checks read the class's signature).
SIGNATURE = _INIT.replace(parameters=list(_INIT.parameters.values())[1:])
