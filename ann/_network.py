"""``ann.Network``: the public model API -- build a network, train it (``fit``), evaluate,
predict, inspect its tensors, save and load it.

``Network`` checks what it is given and hands the work on: the numbers live in a backend
(the C core, or the pure-Python reference: ``_backend.py``), the training loop is
``_fit.py`` (``fit`` checks its arguments and starts a ``FitRun``), the recorded study step is
``_trace.py`` and the model file ``_modelfile.py``.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Sequence
from typing import Any, Callable, TextIO

from . import _checks, _defaults
from ._augment import Augment, image_shape
from ._backend import Backend, NetCore, get_backend
from ._constants import (
    ACTIVATIONS,
    ANN_BIASES,
    ANN_BN_BETA,
    ANN_BN_GAMMA,
    ANN_BN_MEAN,
    ANN_BN_VAR,
    ANN_WEIGHTS,
    HEADS,
    INITS,
    OPTIMIZERS,
)
from ._csv import check_feature_names
from ._data import Dataset, Images, read_features
from ._errors import AnnError, DataError, ModelFileError, NonFiniteError
from ._fit import EarlyStopping, FitRun, FitSettings, History
from ._schedules import ReduceLROnPlateau, Schedule, checked_schedule, plateau_of

#: The heads whose outputs are probabilities of classes (the others: a regression's values).
CLASSIFYING_HEADS = ("softmax-ce", "sigmoid-bce", "sigmoid-mse")
_SIGMOID_HEADS = ("sigmoid-bce", "sigmoid-mse")


class Network:
    """A multilayer perceptron: dense layers, an activation after each hidden one, and a head.

    ``layers`` lists every width, input and output included: the default is the seed study's
    784 -> 20 -> 7 -> 5 -> 10. Or give ``data`` (a Dataset) and/or ``hidden`` instead: the
    layers are then input width -> hidden -> outputs, with the input width and the outputs
    taken from ``data`` (else 784 and 10), and hidden (20, 7, 5) by default. The outputs are the
    data's classes (and their names, ``classes``), or its number of float targets for a head
    other than softmax + cross-entropy; a sigmoid head on labels of two classes gets one output
    (the probability of class 1).

    ``activation``: that of every hidden layer, or a list with one per hidden layer: "relu"
    (the default), "leaky-relu" (slope ``negative_slope`` below 0, default 0.01), "sigmoid",
    "tanh", "gelu" (the exact erf form, PyTorch's default) or "identity". ``head``: the output
    function and the loss: "softmax-ce" (softmax + cross-entropy, the default: classes),
    "sigmoid-bce" (sigmoid + binary cross-entropy: binary with one output, or multi-label),
    "identity-mse" (identity + mean squared error: regression, any number of outputs) or
    "sigmoid-mse" (sigmoid + mean squared error, the quadratic cost of Nielsen's book).
    docs/activations.md and docs/heads.md derive each.

    Weights start as U(-a, a) drawn from ``seed``, biases at zero; ``init`` chooses a: "auto"
    (He's a = sqrt(6 / n_in) for a layer followed by ReLU, leaky ReLU or GELU, Glorot's
    sqrt(6 / (n_in + n_out)) for the others and the output layer), "he", "glorot", or
    "uniform" (1 / sqrt(n_in), PyTorch's nn.Linear default); docs/initialisation.md.

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
        activation: str | Sequence[str] = _defaults.ACTIVATION,
        head: str = _defaults.HEAD,
        negative_slope: float = _defaults.NEGATIVE_SLOPE,
        init: str = _defaults.INIT,
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
        head = _checks.choice(head, HEADS, "head")
        if layers is None:
            inputs, outputs = (
                (data.features, _outputs_for(data, head))
                if data
                else (_defaults.INPUTS, _defaults.CLASSES)
            )
            try:
                middle = list(_defaults.HIDDEN if hidden is None else hidden)
            except TypeError:
                raise ValueError(f"hidden must be a list of layer sizes, got {hidden!r}") from None
            layers = [inputs, *middle, outputs]
        self.sizes = _checks.layer_sizes(layers)
        if not isinstance(standardize, bool):
            raise ValueError(f"standardize must be True or False, got {standardize!r}")
        self.standardize = standardize
        #: the name of each output class (from the training data or the model file), or None
        self.classes: list[str] | None = (
            data.classes if data is not None and self.sizes[-1] == data.num_classes else None
        )
        #: the name of each input (a CSV header: model metadata "feature_names"), or None
        self.feature_names: list[str] | None = data.feature_names if data is not None else None
        #: the activation of each hidden layer ("relu", ...), the head ("softmax-ce", ...),
        #: leaky ReLU's negative slope and the initialisation scheme the weights were drawn by
        self.activations = _checks.activations(activation, ACTIVATIONS, len(self.sizes) - 2)
        self.head = head
        self.negative_slope = _checks.negative_slope(negative_slope)
        self.init = _checks.choice(init, INITS, "init")
        self._standardization: tuple[array[float], array[float]] | None = None
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if not isinstance(batchnorm, bool):
            raise ValueError(f"batchnorm must be True or False, got {batchnorm!r}")
        dropout = _checks.probability(dropout, "dropout")
        self.seed = seed
        self.batchnorm = batchnorm
        self.dropout = float(dropout)
        self._backend = get_backend(backend)
        self._net = self._make_net(self._backend)
        self._net.init(seed, INITS[self.init])
        #: String entries of the model file's header: empty for a new network, filled by
        #: ``load`` (what ``save(metadata=...)`` wrote, plus the format's own entries).
        self.metadata: dict[str, str] = {}

    def _make_net(self, backend: Backend) -> NetCore:
        """A new network of this one's shape, activations and head on ``backend``."""
        low = backend.make_net(self.sizes, self.batchnorm, self.dropout)
        for l, name in enumerate(self.activations):
            low.set_activation(l, ACTIVATIONS[name], self.negative_slope)
        low.set_head(HEADS[self.head])
        return low

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def regression(self) -> bool:
        """Is the head a regression's (identity + MSE), whose outputs are values, not the
        probabilities of classes?"""
        return self.head not in CLASSIFYING_HEADS

    @property
    def num_params(self) -> int:
        return int(self._net.num_params)

    def __repr__(self) -> str:
        kinds = list(dict.fromkeys(self.activations))  # each once, in layer order
        extras = (
            (f", {'/'.join(kinds)}" if kinds and kinds != [_defaults.ACTIVATION] else "")
            + (f", {self.head}" if self.head != _defaults.HEAD else "")
            + (", batchnorm" if self.batchnorm else "")
            + (f", dropout {self.dropout:g}" if self.dropout else "")
        )
        return (
            f"<ann.Network {'-'.join(map(str, self.sizes))}{extras}, {self.num_params} "
            f"parameters, {self.backend} backend>"
        )

    # ---- copies: pickle, copy.deepcopy --------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """What pickle and deepcopy keep: every attribute but the backend's buffers, which are
        replaced by copies of the parameters, the batch-norm state and the optimizer state, so
        that a copy behaves as the original would (same predictions, same ``optimizer_state``,
        same next ``fit``)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_net", "_backend")}
        state["_backend_name"] = self.backend
        state["_weights"] = self.get_weights()
        state["_state"] = self.get_state()
        live = self._optimizer not in (None, "sgd") and self._pending_optimizer is None
        state["_live_optimizer"] = self.optimizer_state() if live else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        name = state.pop("_backend_name")
        weights, values = state.pop("_weights"), state.pop("_state")
        live = state.pop("_live_optimizer")
        self.__dict__.update(state)
        try:
            self._backend = get_backend(name)
        except AnnError:  # pickled with the C core, unpickled without it: the other backend
            self._backend = get_backend(None)
        self._net = self._make_net(self._backend)  # with its activations and head
        self._net.set_params(weights)
        self._net.set_state(values)
        if self._standardization is not None:
            self._net.set_standardization(*self._standardization)
        if live is not None:  # the rule's state as the backend held it (hyperparameters: fit's)
            self._net.set_optimizer(
                OPTIMIZERS[live["optimizer"]],
                _defaults.MOMENTUM,
                *_defaults.BETAS,
                _defaults.EPS,
                0.0,
            )
            self._net.set_optimizer_state(live["m"], live["v"], live["step"])

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
        return self._net.get_params()

    def set_weights(self, values: Sequence[float]) -> None:
        """Replace every parameter with ``values`` (an array, list or NumPy array of numbers),
        in the layout of ``get_weights``. NaN and infinities are refused (ValueError)."""
        self._net.set_params(_float32_values(values, self.num_params, "set_weights", "parameter"))

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
        return self._net.get_state()

    def set_state(self, values: Sequence[float]) -> None:
        """Replace the batch-norm running means and variances, in the layout of ``get_state``
        (finite numbers; each variance >= 0)."""
        state = _float32_values(values, len(self.get_state()), "set_state", "value")
        for l in range(len(self.sizes) - 2) if self.batchnorm else ():
            offset, count = self._net.tensor(l, ANN_BN_VAR)
            low = min(state[offset : offset + count])
            if low < 0:
                raise ValueError(f"set_state: layer {l}'s running variance holds {low!r} (< 0)")
        self._net.set_state(state)

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

    def _place(
        self, layer: int, kind: str, values: array[float], params: array[float], state: array[float]
    ) -> None:
        """Write one tensor into snapshots of params and state (the inverse of ``_slice``), for
        ``load``, which then sets both buffers at once."""
        offset, count = self._net.tensor(layer, self._KINDS[kind])
        target = state if self._KINDS[kind] in self._STATE_KINDS else params
        target[offset : offset + count] = values

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
            if not bound <= _checks.FLOAT32_MAX:
                return bound, l
            if l < len(self.activations):  # |f(z)| <= |z| but for the bounded two
                kind = self.activations[l]
                bound = 1.0 if kind == "sigmoid" else min(bound, 1.0) if kind == "tanh" else bound
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
        from ._modelfile import save_network

        save_network(self, path, metadata, optimizer_state)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None) -> Network:
        """A network read from a file written by ``save`` (raises ``ModelFileError``)."""
        from ._modelfile import load_network

        return load_network(cls, path, backend)

    # ---- data checks ------------------------------------------------------------------------

    def _check_dataset(self, ds: Any, what: str, scored: bool = True) -> Dataset:
        """``ds`` if the network can read it: its width, and with ``scored`` (training,
        evaluation) whether it holds what the head reads (see _check_targets)."""
        if not isinstance(ds, Dataset):
            raise TypeError(f"{what} must be an ann.Dataset, got {type(ds).__name__}")
        if ds.features != self.sizes[0]:
            raise DataError(
                f"{what} has {ds.features} features per image but the network "
                f"takes {self.sizes[0]} inputs"
            )
        if len(ds) == 0:
            raise DataError(f"{what} is empty")
        check_feature_names(self.feature_names, ds.feature_names, what)
        if scored:
            self._check_targets(ds, what)
        if self.classes is not None and ds.classes is not None and ds.classes != self.classes:
            raise DataError(
                f"{what} names its classes {_names(ds.classes)} but the network's are "
                f"{_names(self.classes)}: map the labels to the network's classes "
                f"(ann.load_csv(..., classes=net.classes))"
            )
        return ds

    def _check_targets(self, ds: Dataset, what: str) -> None:
        """Does ``ds`` hold what the head reads? softmax-ce: class labels 0..K-1; the others:
        float targets, T = K of them per row (in [0, 1] for a sigmoid head), or else labels
        (0..K-1, made one-hot; with one output, 0 or 1)."""
        K, head = self.sizes[-1], self.head
        if head == "softmax-ce":
            if not ds.has_labels:
                raise DataError(
                    f"{what} has float targets but no class labels, and the softmax-ce head "
                    f"classifies: for values use head='identity-mse' (regression), for 0/1 "
                    f"targets head='sigmoid-bce' (binary or multi-label)"
                )
        elif ds.targets is not None:
            if ds.num_targets != K:
                raise DataError(
                    f"{what} has {ds.num_targets} target{'s' if ds.num_targets != 1 else ''} per "
                    f"row but the network has {K} output{'s' if K != 1 else ''}"
                )
            if head in _SIGMOID_HEADS:
                buffer = ds.target_buffer()
                assert buffer is not None
                low, high = min(buffer), max(buffer)
                if low < 0.0 or high > 1.0:
                    raise DataError(
                        f"{what} has targets from {low:g} to {high:g}, but the {head} head "
                        f"outputs probabilities and needs targets in [0, 1]: for other values "
                        f"use head='identity-mse' (regression)"
                    )
            return
        if not ds.has_labels:
            return
        limit = 2 if K == 1 and head != "softmax-ce" else K
        if ds.num_classes > limit:
            raise DataError(
                f"{what} has {ds.num_classes} classes but the network has only {K} output"
                + (
                    "s"
                    if K != 1
                    else ""
                    if head == "softmax-ce"
                    else f": with one output the {head} head reads labels 0 and 1 (binary)"
                )
            )

    # ---- training ---------------------------------------------------------------------------

    def fit(
        self,
        train: Dataset,
        validation: Dataset | None = None,
        *,
        epochs: int = 10,
        batch_size: int = _defaults.BATCH_SIZE,
        lr: float = _defaults.LR,
        l2: float = 0.0,
        optimizer: str = _defaults.OPTIMIZER,
        momentum: float = _defaults.MOMENTUM,
        betas: tuple[float, float] = _defaults.BETAS,
        eps: float = _defaults.EPS,
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
        epochs = _checks.positive_int(epochs, "epochs")
        batch_size = _checks.positive_int(batch_size, "batch_size")
        lr = _checks.learning_rate(lr)
        l2 = _checks.l2(l2)
        optimizer = _checks.optimizer(optimizer, OPTIMIZERS)
        momentum = _checks.momentum(momentum)
        beta1, beta2 = _checks.adam_betas(betas)
        eps = _checks.adam_eps(eps)
        max_norm = _checks.max_norm(max_norm)
        if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
            raise TypeError("early_stopping must be an ann.EarlyStopping")
        schedule = checked_schedule(schedule, lr_decay)
        if (early_stopping or plateau_of(schedule)) and validation is None:
            raise ValueError("early stopping and lr decay need a validation data set")
        if check_every is None and early_stopping is not None:
            check_every = early_stopping.check_every
        if check_every is not None:
            check_every = _checks.positive_int(check_every, "check_every")
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
            verbose=_checks.verbosity(verbose, progress),
            seed=run_seed,
            stream=stream,
            callback=callback,
            initial_step=initial_step,
            initial_epoch=initial_epoch,
        )
        self._set_optimizer(optimizer, momentum, beta1, beta2, eps, l2)
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
        lr: float = _defaults.TRACE_LR,
        optimizer: str = _defaults.OPTIMIZER,
        momentum: float = _defaults.MOMENTUM,
        betas: tuple[float, float] = _defaults.BETAS,
        eps: float = _defaults.EPS,
        l2: float = 0.0,
        steps: int = 1,
    ) -> dict[str, Any]:
        """One training step on one batch with every matrix of it recorded, for study
        (``ann trace`` prints it). The network is not changed.

        ``images``: a Dataset (then ``labels`` is None: the batch is the whole data set),
        uint8 bytes of B images, or B rows of D ints 0..255; ``labels``: B ints. The step is
        the optimizer's first (momentum's velocity and Adam's moments start at zero), and each
        function of the C core is checked against its float64 twin of the reference backend.
        The network's own activations and head are traced; a head other than softmax +
        cross-entropy reads the targets the core makes from the labels (one-hot, or with one
        output the label itself), shown as "t".
        A network made with ``dropout=`` shows the dropout draws, mask and scaled output, and
        the masked gradient going back; the mask is the one its first training step draws.

        Returns a JSON-ready dict: "forward", "backward" (from the top layer) and "update" list
        one {"layer", "tensors"} per layer, "loss" holds "p" and "loss"; each tensor is
        {"shape", "formula", "function" (the C function that computed it), "values" (rows),
        "difference" (largest |C - reference|, None without the C core)}. "train_step" compares
        the new parameters with the network's own training step on a copy; "ok" is True when
        every check passed.

        ``steps=N`` (at most 100) takes the step N times on the same batch, each from the
        parameters, running statistics, dropout stream and optimizer state the one before
        left; "later_steps" holds steps 2..N, each with the keys of the first ("forward",
        "loss", "backward", "update", "train_step", "ok"...) and "step", its number t. With
        Adam, each step's "bias_corrections" are the 1 - beta1^t and 1 - beta2^t it used."""
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
            steps=steps,
        )

    # ---- inference ---------------------------------------------------------------------------

    def evaluate(self, ds: Dataset) -> dict[str, Any]:
        """The network's scores on ``ds``: {"loss": the head's mean loss} and, when there is
        something to count, {"accuracy": the fraction of rows classified right} (rows whose
        class is the label; for multi-label targets, rows whose every label is right). With the
        regression head (identity-mse), also the mean squared error, mean absolute error and
        coefficient of determination R^2 of each output, in "per_output" (one {"mse", "mae",
        "r2"} per output), and their means over the outputs as "mse", "mae", "r2" (R^2 as
        scikit-learn's r2_score: 1 - SS_res / SS_tot about the mean of ``ds``'s targets; 1 for
        a perfect fit of a constant target, else 0 where SS_tot = 0)."""
        ds = self._check_dataset(ds, "data set")
        images, labels, n_rows, rows = ds.buffers()
        n, K = len(ds), self.sizes[-1]
        try:
            outputs, _, loss_sum, correct = self._net.predict(
                images,
                labels,
                n_rows,
                rows,
                n,
                want_probs=self.regression,
                want_classes=False,
                targets=ds.target_buffer(),
            )
        except NonFiniteError:
            raise self._blame(images) from None
        if not math.isfinite(loss_sum):  # the reference backend computes on in float64
            raise self._blame(images)
        result: dict[str, Any] = {"loss": loss_sum / n}
        if ds.has_labels or (ds.targets is not None and self.head in _SIGMOID_HEADS):
            result["accuracy"] = correct / n
        if self.regression:
            assert outputs is not None
            targets = ds.targets if ds.targets is not None else _one_hot_rows(ds.labels, K)
            per_output = [_regression_scores(outputs[k::K], targets[k::K]) for k in range(K)]
            for name in ("mse", "mae", "r2"):
                result[name] = math.fsum(p[name] for p in per_output) / K
            result["per_output"] = per_output
        return result

    def _blame(self, images: Any) -> Exception:
        """The error for outputs that came out NaN or infinite: the input's fault when it holds
        such values, else the network's (weights NaN, infinite, or large enough to overflow)."""
        if not _finite(images):
            return DataError("prediction: the input contains NaN or infinite values")
        return ModelFileError(
            "the network's outputs are NaN or infinite for finite inputs: its parameters are "
            "not usable (NaN, infinite, or so large that float32 overflows; see set_weights)"
        )

    def _infer(self, data: Any, want_probs: bool) -> tuple[array[float] | None, array[int], int]:
        D = self.sizes[0]
        if isinstance(data, Images):
            data = data._ds
        rows: array[int] | None = None
        if isinstance(data, Dataset):
            ds = self._check_dataset(data, "data set", scored=False)
            images, _, n_rows, rows = ds.buffers()
            n = len(ds)
        else:
            dtype, images, row = read_features(data, "predict input")
            what = "bytes of pixels" if dtype == "uint8" else "values"
            if row is not None and math.prod(row) != D:
                raise DataError(
                    f"predict input: each row has {math.prod(row)} values but the network takes {D}"
                )
            if not images or len(images) % D:
                raise DataError(
                    f"{len(images)} {what} are not a whole number of images of {D} "
                    f"{'pixels' if dtype == 'uint8' else 'features'}"
                )
            n = n_rows = len(images) // D
        K = self.sizes[-1]
        # The probabilities are computed even when only the classes are wanted: the softmax
        # is what notices outputs that are NaN or infinite, whose argmax would be class 0 for
        # every row. Without want_probs they are computed a block of rows at a time.
        block = n if want_probs else max(1, _PROBS_BLOCK // K)
        classes_all = array("i")
        for start in range(0, n, block):
            stop = min(n, start + block)
            part = rows[start:stop] if rows is not None else None
            if part is None and (start, stop) != (0, n):
                part = array("i", range(start, stop))
            try:
                probs, classes, _, _ = self._net.predict(
                    images, None, n_rows, part, stop - start, want_probs=True, want_classes=True
                )
            except NonFiniteError:
                raise self._blame(images) from None
            assert probs is not None and classes is not None  # both asked for
            if not math.isfinite(sum(probs)):  # the reference backend's float64 softmax
                raise self._blame(images)
            if block == n:
                return (probs if want_probs else None), classes, n
            classes_all.extend(classes)
        return None, classes_all, n

    def predict(self, data: Any) -> list[Any]:
        """What the network predicts for each row: with a classifying head the most probable
        class, an int (``classes`` names them; with one sigmoid output, 1 when p > 1/2); with
        the regression head (identity-mse) the values, a float per row for one output, else a
        list of K floats per row (as ``predict_values``). ``data`` is a Dataset, or rows under
        the one input rule (see ``Network``): uint8 data (bytes, a uint8 array or NumPy array)
        is pixels, scaled by 1/255 as in training; other numbers (float rows, float or integer
        arrays) are used as given. Either way the network's standardisation, if it has one,
        follows."""
        if self.regression:
            values = self.predict_values(data)
            return [row[0] for row in values] if self.sizes[-1] == 1 else values
        _, classes, _ = self._infer(data, want_probs=False)
        return classes.tolist()

    def predict_proba(self, data: Any) -> list[list[float]]:
        """The probabilities of each row, one list of K floats per row: softmax's (they sum to
        1), or a sigmoid head's, each output's own (with one output, that of class 1); ``data``
        as for ``predict``. The regression head has no probabilities: see predict_values."""
        if self.regression:
            raise ValueError(
                f"predict_proba: the {self.head} head predicts values, not probabilities "
                f"(use predict or predict_values)"
            )
        return self.predict_values(data)

    def predict_values(self, data: Any) -> list[list[float]]:
        """The outputs of the head for each row, one list of K floats per row, whatever the
        head: softmax or sigmoid probabilities, or the identity head's values (a regression's
        predictions); ``data`` as for ``predict``."""
        probs, _, n = self._infer(data, want_probs=True)
        assert probs is not None
        K = self.sizes[-1]
        values = probs.tolist()
        return [values[r * K : (r + 1) * K] for r in range(n)]


# floats of probabilities held at once when predict wants only the classes (4 MB)
_PROBS_BLOCK = 1 << 20


def _finite(values: Any) -> bool:
    """Whether input rows (uint8 bytes, or float32 features) hold only finite values: the sum
    of float32 values is finite exactly when each is (it cannot overflow a double)."""
    return not (isinstance(values, array) and values.typecode in "fd") or math.isfinite(sum(values))


def _float32_values(values: Any, count: int, where: str, what: str) -> array[float]:
    """``values`` (any sequence of numbers) as ``count`` finite float32s, else ValueError."""
    try:
        out = values if isinstance(values, array) and values.typecode == "f" else array("f", values)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"{where} takes a sequence of {count} numbers, got {type(values).__name__}"
        ) from None
    if len(out) != count:
        raise ValueError(f"{where}: expected {count} {what}s, got {len(out)}")
    if not math.isfinite(sum(out)):
        bad = next(i for i, v in enumerate(out) if not math.isfinite(v))
        shown = values[bad] if isinstance(values, Sequence) else out[bad]
        raise ValueError(f"{where}: {what} {bad} is {shown!r}; every {what} must be finite")
    return out


def _outputs_for(data: Dataset, head: str) -> int:
    """The outputs a network built from ``data`` gets (see ``Network``)."""
    if head != "softmax-ce" and data.targets is not None:
        return data.num_targets
    if not data.has_labels:
        return data.num_targets
    if head in _SIGMOID_HEADS and data.num_classes == 2:
        return 1
    return data.num_classes


def _one_hot_rows(labels: Sequence[int], K: int) -> list[float]:
    """One-hot(labels) as K floats per row, flat (the targets a head reads from labels; for
    K = 1 the label itself)."""
    if K == 1:
        return [float(t) for t in labels]
    out = [0.0] * (len(labels) * K)
    for r, t in enumerate(labels):
        out[r * K + t] = 1.0
    return out


def _regression_scores(predicted: Sequence[float], actual: Sequence[float]) -> dict[str, float]:
    """Mean squared error, mean absolute error and R^2 of one output (in float64)."""
    n = len(actual)
    mse = math.fsum((p - t) ** 2 for p, t in zip(predicted, actual)) / n
    mae = math.fsum(abs(p - t) for p, t in zip(predicted, actual)) / n
    mean = math.fsum(actual) / n
    total = math.fsum((t - mean) ** 2 for t in actual)
    if total > 0.0:
        r2 = 1.0 - mse * n / total
    else:  # a constant target: scikit-learn's r2_score gives 1 for a perfect fit, else 0
        r2 = 1.0 if mse == 0.0 else 0.0
    return {"mse": mse, "mae": mae, "r2": r2}


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
