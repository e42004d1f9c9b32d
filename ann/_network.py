"""``ann.Network``: the training loop and the public model API.

This is the control side of training (epochs, shuffling, batching, validation checks, the
history); the arithmetic happens in the backend (the C core, or the Python reference), one
foreign call per mini-batch.
"""

from __future__ import annotations

import csv
import json
import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO, cast

from ._augment import Augment, image_shape
from ._backend import get_backend
from ._constants import (
    ANN_ADAM,
    ANN_BIASES,
    ANN_BN_BETA,
    ANN_BN_GAMMA,
    ANN_BN_MEAN,
    ANN_BN_VAR,
    ANN_MOMENTUM,
    ANN_NESTEROV,
    ANN_SGD,
    ANN_WEIGHTS,
)
from ._csv import check_feature_names, recorded_feature_names
from ._data import Dataset, Images, read_features
from ._errors import DataError
from ._schedules import SCHEDULES, ReduceLROnPlateau, Schedule, plateau_of

DEFAULT_LAYERS = (784, 20, 7, 5, 10)  # the seed study's network
DEFAULT_HIDDEN = DEFAULT_LAYERS[1:-1]  # its hidden layers, between any input and output
_FLOAT32_MAX = 3.4028234663852886e38
OPTIMIZERS = {"sgd": ANN_SGD, "momentum": ANN_MOMENTUM, "nesterov": ANN_NESTEROV, "adam": ANN_ADAM}


@dataclass
class History:
    """What happened during ``fit``: parallel lists with one entry per validation check
    (``history`` has them under Keras's names)."""

    steps: list[int] = field(default_factory=list)  # optimizer steps done so far
    epochs: list[float] = field(default_factory=list)  # epochs done so far (fractional)
    train_loss: list[float] = field(default_factory=list)  # mean batch loss since the last check
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # NaN when there is no validation set
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time since fit started
    lr: list[float] = field(default_factory=list)  # learning rate in force at the check
    best_step: int | None = None  # step of the lowest validation loss
    best_val_loss: float = math.nan
    stop_reason: str = ""  # "completed", "early_stopping", "interrupted" or "diverged"
    stopped_step: int = 0
    restored_best: bool = False

    _COLUMNS = (
        "steps",
        "epochs",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "lr",
    )

    # Keras's names for the columns, in ``history`` (and the History's own for the rest)
    _KERAS_NAMES = {
        "train_loss": "loss",
        "train_accuracy": "accuracy",
        "val_loss": "val_loss",
        "val_accuracy": "val_accuracy",
        "lr": "lr",
        "steps": "step",
        "epochs": "epoch",
        "seconds": "seconds",
    }

    @property
    def history(self) -> dict[str, list[float]]:
        """The columns as a dict of lists under Keras's names, as Keras's
        ``History.history``: "loss", "accuracy", "val_loss", "val_accuracy", "lr", plus
        "step", "epoch" and "seconds". One entry per check (once per epoch unless
        ``check_every`` or early stopping check more often). The lists are the History's
        own, not copies."""
        return {name: getattr(self, column) for column, name in self._KERAS_NAMES.items()}

    def rows(self) -> list[dict[str, float]]:
        return [
            dict(zip(self._COLUMNS, values))
            for values in zip(*(getattr(self, c) for c in self._COLUMNS))
        ]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self._COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())

    def to_jsonl(self, path: str | os.PathLike[str]) -> None:
        """One JSON object per check, then one summary object with the stop reason."""
        with open(path, "w", encoding="utf-8") as f:
            for row in self.rows():
                f.write(json.dumps(row) + "\n")
            f.write(
                json.dumps(
                    {
                        "best_step": self.best_step,
                        "best_val_loss": self.best_val_loss,
                        "stop_reason": self.stop_reason,
                        "stopped_step": self.stopped_step,
                        "restored_best": self.restored_best,
                    }
                )
                + "\n"
            )


@dataclass
class EarlyStopping:
    """Stop when the validation loss has not improved on its best by more than ``min_delta``
    for ``patience`` checks in a row; checks happen every ``check_every`` optimizer steps (and
    once more at the end). With ``restore_best`` the network ends with the weights of the best
    check, however training stops (early stop, last epoch, Ctrl-C)."""

    patience: int = 5
    min_delta: float = 0.0
    check_every: int = 100
    restore_best: bool = True

    def __post_init__(self) -> None:
        _positive_int(self.patience, "patience")
        _positive_int(self.check_every, "check_every")
        if (
            not isinstance(self.min_delta, (int, float))
            or not self.min_delta >= 0
            or not math.isfinite(self.min_delta)
        ):
            raise ValueError(f"min_delta must be a finite number >= 0, got {self.min_delta!r}")


def _check_layers(layers: Any) -> list[int]:
    try:
        sizes = list(layers)
    except TypeError:
        raise ValueError(f"layers must be a list of layer sizes, got {layers!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layers needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 1 << 24:
            raise ValueError(
                f"every layer size must be an int in 1..16777216, got {s!r} in {sizes}"
            )
    return sizes


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _adam_betas(value: Any) -> tuple[float, float]:
    try:
        beta1, beta2 = value
    except (TypeError, ValueError):
        beta1 = beta2 = None
    for beta in (beta1, beta2):
        # the float32 the backends compute with must be < 1 too (1 - 1e-9 rounds to 1.0)
        if (
            isinstance(beta, bool)
            or not isinstance(beta, (int, float))
            or not 0 <= beta < 1
            or not array("f", [beta])[0] < 1
        ):
            raise ValueError(f"betas must be two numbers in [0, 1), got {value!r}")
    return float(beta1), float(beta2)


def _adam_eps(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or not math.isfinite(value)
    ):
        raise ValueError(f"eps must be a finite number > 0, got {value!r}")
    return float(value)


def _learning_rate(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"lr must be a finite number >= 0, got {value!r}")
    return float(value)


def _max_norm(value: Any) -> float:
    if value is None:
        return 0.0
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"max_norm must be a finite number > 0 (or None: off), got {value!r}")
    return float(value)


def _schedule(schedule: Any, lr_decay: Any) -> Schedule | None:
    if lr_decay is not None:
        if schedule is not None:
            raise ValueError("give schedule or lr_decay (the older name of a plateau), not both")
        if not isinstance(lr_decay, ReduceLROnPlateau):
            raise TypeError("lr_decay must be an ann.ReduceLROnPlateau")
        return lr_decay
    if schedule is not None and not isinstance(schedule, SCHEDULES):
        raise TypeError(
            "schedule must be None, an ann.ReduceLROnPlateau, ann.Cosine, ann.OneCycle or "
            f"ann.Warmup, not {type(schedule).__name__}"
        )
    return schedule


def _verbose(verbose: Any, progress: Any) -> int:
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}")
    if verbose is None:
        return 0 if progress is False else 1
    if progress is not None:
        raise ValueError("give verbose or progress (its older spelling), not both")
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(
            "verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), "
            f"got {verbose!r}"
        )
    return int(verbose)


class Network:
    """A multilayer perceptron: dense layers with ReLU between them and softmax on top.

    ``layers`` lists every width, input and output included: the default is the seed study's
    784 -> 20 -> 7 -> 5 -> 10. Or give ``data`` (a Dataset) and/or ``hidden`` instead: the
    layers are then input width -> hidden -> number of classes, with the input width and the
    classes (and their names, ``classes``) taken from ``data`` (else 784 and 10), and hidden
    (20, 7, 5) by default. Weights start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from
    ``seed``; biases start at zero.

    Inputs follow one rule, in training and prediction alike: uint8 data is pixels, read as
    value / 255; anything else (float or integer numbers) is features, used as given. With
    ``standardize`` (the default), the first ``fit`` on float features also sets the input
    standardisation, (x - mean) / std per feature with the mean and standard deviation of
    that training set (a constant feature gets std 1, so it is only centred: it is 0 for
    every training row); it is kept in the model file and applied before every later
    batch and prediction (``standardization``, ``set_standardization``).
    """

    # The optimizer state read from a model file, applied by the next fit (see fit), and the
    # update rule the backend holds state for: none until a fit chooses one.
    _pending_optimizer: dict[str, Any] | None = None
    _optimizer: str | None = None

    def __init__(
        self,
        layers: Sequence[int] | None = None,
        *,
        hidden: Sequence[int] | None = None,
        data: Dataset | None = None,
        batchnorm: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
        backend: str | None = None,
        standardize: bool = True,
    ) -> None:
        if data is not None and not isinstance(data, Dataset):
            raise TypeError(f"data must be an ann.Dataset, got {type(data).__name__}")
        if layers is not None and (hidden is not None or data is not None):
            raise ValueError("give layers (every width) or data / hidden, not both")
        if layers is None:
            inputs, outputs = (data.features, data.num_classes) if data else (784, 10)
            try:
                middle = list(DEFAULT_HIDDEN if hidden is None else hidden)
            except TypeError:
                raise ValueError(f"hidden must be a list of layer sizes, got {hidden!r}") from None
            layers = [inputs, *middle, outputs]
        self.sizes = _check_layers(layers)
        if not isinstance(standardize, bool):
            raise ValueError(f"standardize must be True or False, got {standardize!r}")
        self.standardize = standardize
        #: the name of each output class (from the training data or the model file), or None
        self.classes: list[str] | None = data.classes if data is not None else None
        #: the name of each input (a CSV header: model metadata "feature_names"), or None
        self.feature_names: list[str] | None = data.feature_names if data is not None else None
        self._standardization: tuple[array[float], array[float]] | None = None
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if not isinstance(batchnorm, bool):
            raise ValueError(f"batchnorm must be True or False, got {batchnorm!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0.0 <= dropout < 1.0
        ):
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.seed = seed
        self.batchnorm = batchnorm
        self.dropout = float(dropout)
        self._backend = get_backend(backend)
        self._net = self._backend.make_net(self.sizes, batchnorm, self.dropout)
        self._net.init(seed)
        #: String entries of the model file's header: empty for a new network, filled by
        #: ``load`` (what ``save(metadata=...)`` wrote, plus the format's own entries).
        self.metadata: dict[str, str] = {}

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def num_params(self) -> int:
        return int(self._net.num_params)

    def __repr__(self) -> str:
        extras = (", batchnorm" if self.batchnorm else "") + (
            f", dropout {self.dropout:g}" if self.dropout else ""
        )
        return (
            f"<ann.Network {'-'.join(map(str, self.sizes))}{extras}, {self.num_params} "
            f"parameters, {self.backend} backend>"
        )

    # ---- inputs ------------------------------------------------------------------------------

    @property
    def standardization(self) -> tuple[list[float], list[float]] | None:
        """(mean, std), one value per input, applied as (x - mean) / std to every input row
        (after pixels / 255), or None: inputs are used as given."""
        if self._standardization is None:
            return None
        mean, std = self._standardization
        return mean.tolist(), std.tolist()

    def set_standardization(
        self, mean: Sequence[float] | None, std: Sequence[float] | None = None
    ) -> None:
        """Set (or, with None, remove) the input standardisation (x - mean) / std: one finite
        mean and one finite std > 0 per input."""
        if mean is None and std is None:
            self._net.set_standardization(None, None)
            self._standardization = None
            return
        D = self.sizes[0]
        try:
            m, s = array("f", mean), array("f", std)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("mean and std must be sequences of numbers") from None
        if len(m) != D or len(s) != D:
            raise ValueError(
                f"mean and std need {D} values each (one per input), got {len(m)}, {len(s)}"
            )
        if not all(math.isfinite(v) for v in m) or not all(math.isfinite(v) and v > 0 for v in s):
            raise ValueError("mean must be finite and std finite and > 0 for every input")
        self._net.set_standardization(m, s)
        self._standardization = (m, s)

    def _prepare_input(self, train: Dataset) -> None:
        """Where training data enters fit: the class names, and for float features the input
        standardisation from this training set, unless the network has one already."""
        if self.classes is None and train.classes is not None:
            self.classes = list(train.classes)
        if self.feature_names is None and train.feature_names is not None:
            self.feature_names = list(train.feature_names)
        if self.standardize and train.dtype != "uint8" and self._standardization is None:
            mean, std = train.feature_stats()
            self.set_standardization(mean, [v if v > 0 else 1.0 for v in std])

    # ---- parameters ------------------------------------------------------------------------

    def get_weights(self) -> array[float]:
        """A float32 copy of every parameter, layer by layer: W (n_in, n_out) then b (n_out)
        (with batch norm, gamma and beta follow each hidden layer's b)."""
        return cast("array[float]", self._net.get_params())

    def set_weights(self, values: array[float]) -> None:
        """Replace every parameter with ``values``, in the layout of ``get_weights``."""
        self._net.set_params(values)

    # Until 0.2.0 these were get_params / set_params, the names scikit-learn's estimator
    # protocol uses for hyperparameters (ann.MLPClassifier has those): kept for one release.
    def get_params(self) -> array[float]:
        """Deprecated name of ``get_weights`` (removed after 0.2)."""
        _renamed("get_params", "get_weights")
        return self.get_weights()

    def set_params(self, values: array[float]) -> None:
        """Deprecated name of ``set_weights`` (removed after 0.2)."""
        _renamed("set_params", "set_weights")
        self.set_weights(values)

    def get_state(self) -> array[float]:
        """A copy of the batch-norm running means and variances (empty without batch norm)."""
        return cast("array[float]", self._net.get_state())

    def set_state(self, values: array[float]) -> None:
        self._net.set_state(values)

    _KINDS = {
        "weight": ANN_WEIGHTS,
        "bias": ANN_BIASES,
        "bn_gamma": ANN_BN_GAMMA,
        "bn_beta": ANN_BN_BETA,
        "bn_running_mean": ANN_BN_MEAN,
        "bn_running_var": ANN_BN_VAR,
    }
    _STATE_KINDS = (ANN_BN_MEAN, ANN_BN_VAR)  # in the state buffer; the others in params

    def _slice(
        self, layer: int, kind: str, params: array[float], state: array[float]
    ) -> array[float]:
        """One tensor cut from snapshots of params and state taken by the caller (so that
        reading several tensors copies the buffers once, not once per tensor)."""
        if kind not in self._KINDS:
            raise ValueError(f"tensor kind must be one of {', '.join(self._KINDS)}, not {kind!r}")
        if not 0 <= layer < len(self.sizes) - 1:
            raise IndexError(
                f"layer {layer} out of range: the network has {len(self.sizes) - 1} layers"
            )
        offset, count = self._net.tensor(layer, self._KINDS[kind])
        source = state if self._KINDS[kind] in self._STATE_KINDS else params
        return source[offset : offset + count]

    def tensor(self, layer: int, kind: str) -> array[float]:
        """A copy of one tensor: kind is "weight" (n_in * n_out, row-major (n_in, n_out)),
        "bias", "bn_gamma", "bn_beta", "bn_running_mean" or "bn_running_var"."""
        return self._slice(layer, kind, self.get_weights(), self.get_state())

    def layer(self, l: int) -> tuple[array[float], array[float]]:
        """Copies of layer l's weights W (n_in * n_out, row-major (n_in, n_out)) and biases."""
        params, state = self.get_weights(), self.get_state()
        return self._slice(l, "weight", params, state), self._slice(l, "bias", params, state)

    # ---- model files ------------------------------------------------------------------------

    def optimizer_state(self) -> dict[str, Any] | None:
        """A copy of the optimizer's state, or None when there is none (plain SGD, or no fit
        yet): {"optimizer": name, "step": Adam's step count, "m": the velocity or Adam's
        first moment, "v": Adam's second moment or None}, each an array('f') laid out as
        ``get_weights``."""
        if self._pending_optimizer is not None:
            return dict(self._pending_optimizer)
        if self._optimizer in (None, "sgd"):
            return None
        m, v, step = self._net.get_optimizer_state(self._optimizer == "adam")
        return {"optimizer": self._optimizer, "step": step, "m": m, "v": v}

    def _overflow_bound(self, params: array[float], state: array[float]) -> tuple[float, int]:
        """(a bound on |every value| of a forward pass for inputs in [0, 1], the first layer
        where it exceeds float32's range, else -1): |x W + b| <= n_in max|W| max|x| + max|b|,
        and batch norm scales by at most max|gamma| / sqrt(min running_var + eps)."""
        params_view, state_view = memoryview(params), memoryview(state)  # no copies

        def values(l: int, kind: str) -> memoryview:
            offset, count = self._net.tensor(l, self._KINDS[kind])
            view = state_view if self._KINDS[kind] in self._STATE_KINDS else params_view
            return view[offset : offset + count]

        def biggest(l: int, kind: str) -> float:
            v = values(l, kind)
            return max(max(v), -min(v))

        bound = 1.0
        for l in range(len(self.sizes) - 1):
            bound = self.sizes[l] * biggest(l, "weight") * bound + biggest(l, "bias")
            if self.batchnorm and l < len(self.sizes) - 2:
                low = min(values(l, "bn_running_var"))
                bound = biggest(l, "bn_gamma") * (
                    bound + biggest(l, "bn_running_mean")
                ) / math.sqrt(max(low, 0.0) + 1e-5) + biggest(l, "bn_beta")
            if not bound <= _FLOAT32_MAX:
                return bound, l
        return bound, -1

    def save(
        self,
        path: str | os.PathLike[str],
        metadata: dict[str, str] | None = None,
        *,
        optimizer_state: bool = False,
    ) -> None:
        """Write the network to ``path`` as a safetensors file, atomically (a crash mid-save
        leaves any previous file intact). ``metadata`` adds string entries to the header.
        With ``optimizer_state``, the optimizer's state (see ``optimizer_state()``) is stored
        too, as tensors ``optimizer.m`` / ``optimizer.v``, for resuming. Refuses
        (``ModelFileError``) weights so large that a prediction could overflow float32."""
        from ._errors import ModelFileError
        from ._modelfile import ModelFile, save_model

        L = len(self.sizes) - 1
        params, state = self.get_weights(), self.get_state()
        bound, layer = self._overflow_bound(params, state)
        if layer >= 0:
            raise ModelFileError(
                f"refusing to save: the weights are so large that layer "
                f"{layer}'s outputs can reach {bound:.3g}, beyond float32's "
                f"range, so predictions would overflow (did training "
                f"diverge? try a smaller lr)",
                path=path,
            )

        def cut(l: int, kind: str) -> array[float]:
            return self._slice(l, kind, params, state)

        model = ModelFile(
            sizes=list(self.sizes),
            weights=[cut(l, "weight") for l in range(L)],
            biases=[cut(l, "bias") for l in range(L)],
            metadata=dict(metadata or {}),
            classes=list(self.classes) if self.classes is not None else None,
        )
        if self._standardization is not None:
            model.standardization = {
                "mean": self._standardization[0],
                "std": self._standardization[1],
            }
        if self.batchnorm:
            model.batchnorm = [
                {
                    kind: cut(l, "bn_" + kind)
                    for kind in ("gamma", "beta", "running_mean", "running_var")
                }
                for l in range(L - 1)
            ]
        params = state = array("f")  # the tensors are cut: free the snapshot before saving
        model.metadata.setdefault("dropout", repr(self.dropout))
        if self.feature_names is not None:
            model.metadata["feature_names"] = json.dumps(self.feature_names)
        opt = self.optimizer_state() if optimizer_state else None
        if opt is not None:
            model.optimizer = (
                {"m": opt["m"]} if opt["v"] is None else {"m": opt["m"], "v": opt["v"]}
            )
            model.metadata["optimizer_state"] = opt["optimizer"]
            model.metadata["optimizer_step"] = str(opt["step"])
        save_model(path, model)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None) -> Network:
        """A network read from a file written by ``save`` (raises ``ModelFileError``)."""
        from ._errors import ModelFileError
        from ._modelfile import load_model

        model = load_model(path)
        from ._modelfile import default_activations

        if model.activations != default_activations(len(model.sizes) - 1):
            raise ModelFileError(
                f"activations {model.activations} are not supported: ann runs "
                f"ReLU hidden layers and a softmax output",
                path=path,
            )
        try:
            dropout = float(model.metadata.get("dropout", "0.0"))
        except ValueError:
            dropout = -1.0
        if not 0.0 <= dropout < 1.0:
            raise ModelFileError(
                f"metadata dropout {model.metadata.get('dropout')!r} is not a "
                f"probability in [0, 1)",
                path=path,
            )
        net = cls(model.sizes, batchnorm=bool(model.batchnorm), dropout=dropout, backend=backend)
        params, state = net.get_weights(), net.get_state()
        tensors: list[tuple[int, Sequence[array[float] | None]]] = [
            (0, model.weights),
            (1, model.biases),
        ]
        if model.batchnorm:
            for kind, name in ((2, "gamma"), (3, "beta"), (4, "running_mean"), (5, "running_var")):
                tensors.append((kind, [layer[name] for layer in model.batchnorm] + [None]))
        for kind, per_layer in tensors:
            for l, values in enumerate(per_layer):
                if values is None:
                    continue
                offset, count = net._net.tensor(l, kind)
                target = state if kind >= 4 else params
                target[offset : offset + count] = values
        net.set_weights(params)
        net.set_state(state)
        if model.standardization is not None:
            net.set_standardization(model.standardization["mean"], model.standardization["std"])
        net.classes = model.classes
        net.feature_names = recorded_feature_names(model.metadata, model.sizes[0], path)
        net.metadata = dict(model.metadata)
        if model.optimizer is not None:
            net._pending_optimizer = {
                "optimizer": model.metadata["optimizer_state"],
                "step": int(model.metadata["optimizer_step"]),
                "m": model.optimizer["m"],
                "v": model.optimizer.get("v"),
            }
        return net

    # ---- data checks ------------------------------------------------------------------------

    def _check_dataset(self, ds: Any, what: str) -> Dataset:
        if not isinstance(ds, Dataset):
            raise TypeError(f"{what} must be an ann.Dataset, got {type(ds).__name__}")
        if ds.features != self.sizes[0]:
            raise DataError(
                f"{what} has {ds.features} features per image but the network "
                f"takes {self.sizes[0]} inputs"
            )
        if ds.num_classes > self.sizes[-1]:
            raise DataError(
                f"{what} has {ds.num_classes} classes but the network has only "
                f"{self.sizes[-1]} outputs"
            )
        if len(ds) == 0:
            raise DataError(f"{what} is empty")
        check_feature_names(self.feature_names, ds.feature_names, what)
        if self.classes is not None and ds.classes is not None and ds.classes != self.classes:
            raise DataError(
                f"{what} names its classes {_names(ds.classes)} but the network's are "
                f"{_names(self.classes)}: map the labels to the network's classes "
                f"(ann.load_csv(..., classes=net.classes))"
            )
        return ds

    # ---- training ---------------------------------------------------------------------------

    def fit(
        self,
        train: Dataset,
        validation: Dataset | None = None,
        *,
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 0.009,
        l2: float = 0.0,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_norm: float | None = None,
        early_stopping: EarlyStopping | None = None,
        schedule: Schedule | None = None,
        lr_decay: ReduceLROnPlateau | None = None,
        validation_split: float | None = None,
        check_every: int | None = None,
        verbose: int | None = None,
        progress: bool | None = None,
        seed: int | None = None,
        stream: TextIO | None = None,
        callback: Callable[[History], None] | None = None,
        initial_step: int = 0,
        initial_epoch: float = 0.0,
        augment: Augment | None = None,
    ) -> History:
        """Train on ``train`` with mini-batches, checking ``validation`` as it goes.

        Each epoch visits every example once in a fresh order drawn from ``seed`` (default: the
        network's seed), the last partial batch included; with batch norm, a last batch of
        one row would have no variance, so that row joins the batch before it (which then
        has ``batch_size + 1`` rows), and ``batch_size`` must be at least 2. ``optimizer`` is
        "sgd" (the seed's), "momentum", "nesterov" or "adam"; ``l2`` adds (l2/2) * sum(W^2)
        over the weights (not biases) to the loss. ``max_norm`` c > 0 rescales, after every
        update, each hidden unit's incoming weight vector (a column of its layer's W) to an
        L2 norm of at most c (Srivastava et al. 2014; None or 0: off).

        ``validation_split`` f holds out a seeded share f of ``train`` as the validation set
        (``train.split(f, seed=seed)``, the split ``ann train`` makes), instead of giving
        ``validation``. Validation is checked every ``check_every`` steps (default: the
        early-stopping setting, else once per epoch) and at the end; ``callback(history)``
        runs after each check. ``schedule`` sets the learning rate of each step:
        ``ann.ReduceLROnPlateau``, ``ann.Cosine``, ``ann.OneCycle``, ``ann.Warmup`` (None:
        ``lr`` throughout; ``lr_decay`` is the older name of a plateau schedule).
        ``verbose``: 0 silent, 1 (the default) a progress bar per epoch on a terminal (one
        line per epoch elsewhere), 2 one line per epoch; ``progress=False`` is ``verbose=0``.
        Ctrl-C stops after the current mini-batch and returns normally with ``stop_reason ==
        "interrupted"``. Returns the ``History``.
        ``augment`` (an ``ann.Augment``) distorts every training batch afresh, seeded by
        ``seed``; validation, ``evaluate`` and ``predict`` always see the images as they are.

        Training that cannot go on raises ``TrainingError`` with the history so far in its
        ``history`` attribute: a NaN or infinite loss, a mean training loss between two checks
        above ten times that of guessing uniformly (``10 * max(ln K, 1)``: exploding), or
        memory running out (``stop_reason`` "diverged" or "out_of_memory"). The network then
        holds the best weights when ``restore_best`` has some (``restored_best``), else those
        before the failing step. A check whose validation loss is NaN never counts as best.

        Resuming: ``initial_step`` and ``initial_epoch`` (the counters of the run that made
        the weights) start the history's steps and epochs there, and a network loaded from a
        file that holds optimizer state (see ``save``) continues it in its first ``fit`` with
        the same optimizer (momentum velocity, Adam's moments and step count)."""
        from ._fit import FitRun, FitSettings

        run_seed = self.seed if seed is None else seed
        if validation_split is not None:
            if validation is not None:
                raise ValueError("give validation or validation_split, not both")
            if (
                isinstance(validation_split, bool)
                or not isinstance(validation_split, (int, float))
                or not 0 < validation_split < 1
            ):
                raise ValueError(
                    f"validation_split must be between 0 and 1, got {validation_split!r}"
                )
            train = self._check_dataset(train, "train")
            train, validation = train.split(validation_split, seed=run_seed)
        train = self._check_dataset(train, "train")
        self._prepare_input(train)
        if validation is not None:
            validation = self._check_dataset(validation, "validation")
        epochs = _positive_int(epochs, "epochs")
        batch_size = _positive_int(batch_size, "batch_size")
        lr = _learning_rate(lr)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 <= l2 < math.inf:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
        if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        beta1, beta2 = _adam_betas(betas)
        eps = _adam_eps(eps)
        max_norm = _max_norm(max_norm)
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError("early_stopping must be an ann.EarlyStopping")
        schedule = _schedule(schedule, lr_decay)
        if (early_stopping or plateau_of(schedule)) and validation is None:
            raise ValueError("early stopping and lr decay need a validation data set")
        if check_every is None and early_stopping is not None:
            check_every = early_stopping.check_every
        if check_every is not None:
            check_every = _positive_int(check_every, "check_every")
        if self.batchnorm and len(self.sizes) > 2 and (batch_size < 2 or len(train) < 2):
            raise ValueError(
                "batch norm needs at least 2 rows per batch, got "
                + (f"batch_size {batch_size}" if batch_size < 2 else "a training set of 1 image")
            )
        if isinstance(initial_step, bool) or not isinstance(initial_step, int) or initial_step < 0:
            raise ValueError(f"initial_step must be an int >= 0, got {initial_step!r}")
        if not isinstance(initial_epoch, (int, float)) or not 0 <= initial_epoch < math.inf:
            raise ValueError(f"initial_epoch must be a finite number >= 0, got {initial_epoch!r}")
        if augment is not None and not isinstance(augment, Augment):
            raise TypeError(f"augment must be an ann.Augment or None, not {type(augment).__name__}")
        settings = FitSettings(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            early_stopping=early_stopping,
            check_every=check_every,
            verbose=_verbose(verbose, progress),
            seed=run_seed,
            stream=stream,
            callback=callback,
            initial_step=initial_step,
            initial_epoch=initial_epoch,
        )
        self._set_optimizer(optimizer, float(momentum), beta1, beta2, eps, float(l2))
        self._net.set_max_norm(max_norm)
        if augment is not None and train.dtype != "uint8":
            raise DataError(
                f"augment distorts images: {train.name} holds {train.dtype} features, not "
                f"uint8 pixels"
            )
        self._net.set_augment(
            augment, run_seed, image_shape(train.shape) if augment is not None else (0, 0)
        )
        run = FitRun(self, train, validation, settings, self.batchnorm and len(self.sizes) > 2)
        return run.run()

    def _set_optimizer(
        self, optimizer: str, momentum: float, beta1: float, beta2: float, eps: float, l2: float
    ) -> None:
        """Choose the update rule in the backend, continuing a loaded state of the same rule."""
        self._net.set_optimizer(OPTIMIZERS[optimizer], momentum, beta1, beta2, eps, l2)
        pending, self._pending_optimizer = self._pending_optimizer, None
        if pending is not None and pending["optimizer"] == optimizer:
            self._net.set_optimizer_state(pending["m"], pending["v"], pending["step"])
        self._optimizer = optimizer

    # ---- study --------------------------------------------------------------------------------

    def trace(
        self,
        images: Any,
        labels: Sequence[int] | None = None,
        *,
        lr: float = 0.1,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        l2: float = 0.0,
    ) -> dict[str, Any]:
        """One training step on one batch with every matrix of it recorded, for study
        (``ann trace`` prints it). The network is not changed.

        ``images``: a Dataset (then ``labels`` is None: the batch is the whole data set),
        uint8 bytes of B images, or B rows of D ints 0..255; ``labels``: B ints. The step is
        the optimizer's first (momentum's velocity and Adam's moments start at zero), and each
        function of the C core is checked against its float64 twin of the reference backend.
        A network made with ``dropout=`` shows the dropout draws, mask and scaled output, and
        the masked gradient going back; the mask is the one its first training step draws.

        Returns a JSON-ready dict: "forward", "backward" (from the top layer) and "update" list
        one {"layer", "tensors"} per layer, "loss" holds "p" and "loss"; each tensor is
        {"shape", "formula", "function" (the C function that computed it), "values" (rows),
        "difference" (largest |C - reference|, None without the C core)}. "train_step" compares
        the new parameters with the network's own training step on a copy; "ok" is True when
        every check passed."""
        from ._trace import trace_step

        return trace_step(
            self,
            images,
            labels,
            lr=lr,
            optimizer=optimizer,
            momentum=momentum,
            betas=betas,
            eps=eps,
            l2=l2,
        )

    # ---- inference ---------------------------------------------------------------------------

    def evaluate(self, ds: Dataset) -> dict[str, float]:
        """{"loss": mean cross-entropy, "accuracy": fraction classified correctly} over ``ds``."""
        ds = self._check_dataset(ds, "data set")
        images, labels, n_rows, rows = ds.buffers()
        _, _, loss_sum, correct = self._net.predict(
            images, labels, n_rows, rows, len(ds), want_probs=False, want_classes=False
        )
        return {"loss": loss_sum / len(ds), "accuracy": correct / len(ds)}

    def _infer(self, data: Any, want_probs: bool) -> tuple[array[float] | None, array[int], int]:
        D = self.sizes[0]
        if isinstance(data, Images):
            data = data._ds
        if isinstance(data, Dataset):
            ds = self._check_dataset(data, "data set")
            images, _, n_rows, rows = ds.buffers()
            probs, classes, _, _ = self._net.predict(
                images, None, n_rows, rows, len(ds), want_probs=want_probs, want_classes=True
            )
            return probs, classes, len(ds)
        dtype, values, row = read_features(data, "predict input")
        what = "bytes of pixels" if dtype == "uint8" else "values"
        if row is not None and math.prod(row) != D:
            raise DataError(
                f"predict input: each row has {math.prod(row)} values but the network takes {D}"
            )
        if not values or len(values) % D:
            raise DataError(
                f"{len(values)} {what} are not a whole number of images of {D} "
                f"{'pixels' if dtype == 'uint8' else 'features'}"
            )
        n = len(values) // D
        probs, classes, _, _ = self._net.predict(
            values, None, n, None, n, want_probs=want_probs, want_classes=True
        )
        return probs, classes, n

    def predict(self, data: Any) -> list[int]:
        """The most probable class of each row: ``data`` is a Dataset, or rows under the one
        input rule (see ``Network``): uint8 data (bytes, a uint8 array or NumPy array) is
        pixels, scaled by 1/255 as in training; other numbers (float rows, float or integer
        arrays) are used as given. Either way the network's standardisation, if it has one,
        follows. Returns class indices (``classes`` names them)."""
        _, classes, _ = self._infer(data, want_probs=False)
        return classes.tolist()

    def predict_proba(self, data: Any) -> list[list[float]]:
        """The softmax probabilities of each row, one list of K floats per row; ``data`` as
        for ``predict`` (uint8 is pixels / 255, other numbers are used as given)."""
        probs, _, n = self._infer(data, want_probs=True)
        assert probs is not None
        K = self.sizes[-1]
        values = probs.tolist()
        return [values[r * K : (r + 1) * K] for r in range(n)]


def _renamed(old: str, new: str) -> None:
    import warnings

    warnings.warn(
        f"Network.{old} is now Network.{new} (the old name clashed with scikit-learn's "
        f"get_params/set_params); {old} goes after 0.2",
        DeprecationWarning,
        stacklevel=3,
    )


def _names(classes: Sequence[str]) -> str:
    shown = ", ".join(map(repr, classes[:5]))
    return f"[{shown}{', ...' if len(classes) > 5 else ''}]"
