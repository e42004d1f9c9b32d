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
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple, Union

from ._backend import get_backend
from ._data import Dataset, Images
from ._errors import DataError, TrainingError

DEFAULT_LAYERS = (784, 20, 7, 5, 10)   # the seed study's network


@dataclass
class History:
    """What happened during ``fit``: parallel lists with one entry per validation check."""
    steps: List[int] = field(default_factory=list)          # optimizer steps done so far
    epochs: List[float] = field(default_factory=list)       # epochs done so far (fractional)
    train_loss: List[float] = field(default_factory=list)   # mean batch loss since the last check
    train_accuracy: List[float] = field(default_factory=list)
    val_loss: List[float] = field(default_factory=list)     # NaN when there is no validation set
    val_accuracy: List[float] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)      # wall time since fit started
    best_step: Optional[int] = None
    stop_reason: str = ""

    _COLUMNS = ("steps", "epochs", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                "seconds")

    def rows(self) -> List[Dict[str, float]]:
        return [dict(zip(self._COLUMNS, values))
                for values in zip(*(getattr(self, c) for c in self._COLUMNS))]

    def to_csv(self, path: Union[str, "os.PathLike[str]"]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self._COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())

    def to_jsonl(self, path: Union[str, "os.PathLike[str]"]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for row in self.rows():
                f.write(json.dumps(row) + "\n")
            f.write(json.dumps({"best_step": self.best_step, "stop_reason": self.stop_reason}) + "\n")


def _check_layers(layers: Any) -> List[int]:
    try:
        sizes = list(layers)
    except TypeError:
        raise ValueError(f"layers must be a list of layer sizes, got {layers!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layers needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 1 << 24:
            raise ValueError(f"every layer size must be an int in 1..16777216, got {s!r} in {sizes}")
    return sizes


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _learning_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {value!r}")
    return float(value)


class Network:
    """A multilayer perceptron: dense layers with ReLU between them and softmax on top.

    ``layers`` lists every width, input and output included: the default is the seed study's
    784 -> 20 -> 7 -> 5 -> 10. Weights start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from
    ``seed``; biases start at zero.
    """

    def __init__(self, layers: Sequence[int] = DEFAULT_LAYERS, *, seed: int = 0,
                 backend: Optional[str] = None) -> None:
        self.sizes = _check_layers(layers)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self._backend = get_backend(backend)
        self._net = self._backend.make_net(self.sizes)
        self._net.init(seed)

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def num_params(self) -> int:
        return self._net.num_params

    def __repr__(self) -> str:
        return (f"<ann.Network {'-'.join(map(str, self.sizes))}, {self.num_params} parameters, "
                f"{self.backend} backend>")

    # ---- parameters ------------------------------------------------------------------------

    def get_params(self) -> array:
        """A float32 copy of every parameter, layer by layer: W (n_in, n_out) then b (n_out)."""
        return self._net.get_params()

    def set_params(self, values: array) -> None:
        self._net.set_params(values)

    def layer(self, l: int) -> Tuple[array, array]:
        """Copies of layer l's weights W (n_in * n_out, row-major (n_in, n_out)) and biases."""
        if not 0 <= l < len(self.sizes) - 1:
            raise IndexError(f"layer {l} out of range: the network has {len(self.sizes) - 1} layers")
        params = self.get_params()
        w_off, w_count = self._net.tensor(l, 0)
        b_off, b_count = self._net.tensor(l, 1)
        return params[w_off:w_off + w_count], params[b_off:b_off + b_count]

    # ---- data checks ------------------------------------------------------------------------

    def _check_dataset(self, ds: Any, what: str) -> Dataset:
        if not isinstance(ds, Dataset):
            raise TypeError(f"{what} must be an ann.Dataset, got {type(ds).__name__}")
        if ds.features != self.sizes[0]:
            raise DataError(f"{what} has {ds.features} features per image but the network "
                            f"takes {self.sizes[0]} inputs")
        if ds.num_classes > self.sizes[-1]:
            raise DataError(f"{what} has {ds.num_classes} classes but the network has only "
                            f"{self.sizes[-1]} outputs")
        if len(ds) == 0:
            raise DataError(f"{what} is empty")
        return ds

    @staticmethod
    def _rows(ds: Dataset) -> Optional[array]:
        """The index array to hand the backend, or None for "all rows from 0"."""
        if ds._index is None and ds._start == 0:
            return None
        return ds.index_array()

    # ---- training ---------------------------------------------------------------------------

    def fit(self, train: Dataset, validation: Optional[Dataset] = None, *, epochs: int = 1,
            batch_size: int = 64, lr: float = 0.009, progress: bool = True,
            seed: Optional[int] = None, stream: Optional[TextIO] = None) -> History:
        """Mini-batch SGD over ``train`` for ``epochs`` epochs, checking ``validation`` after each.

        Each epoch visits every example once in a fresh order drawn from ``seed`` (default: the
        network's seed), the last partial batch included. Returns a ``History``."""
        train = self._check_dataset(train, "train")
        if validation is not None:
            validation = self._check_dataset(validation, "validation")
        epochs = _positive_int(epochs, "epochs")
        batch_size = _positive_int(batch_size, "batch_size")
        lr = _learning_rate(lr)
        from ._progress import ProgressBar

        n = len(train)
        order = train.index_array()
        images, labels, n_rows = train._images, train._labels, len(train._labels)
        state = (self.seed if seed is None else seed) ^ 0x5EED5EED
        net, shuffle = self._net, self._backend.shuffle
        history = History()
        best = math.inf
        step = 0
        started = time.perf_counter()
        for epoch in range(epochs):
            state = shuffle(order, state)
            bar = ProgressBar(n, label=f"epoch {epoch + 1}/{epochs}", stream=stream or sys.stderr,
                              enabled=progress)
            loss_sum, hits = 0.0, 0
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                try:
                    loss, correct = net.train_step(images, labels, n_rows, order, start, b, lr)
                except TrainingError as exc:
                    history.stop_reason = "diverged"
                    bar.close()
                    err = TrainingError(f"training diverged at step {step + 1} (epoch "
                                        f"{epoch + 1}): the loss became NaN or infinite; the "
                                        f"weights are those before that step. Try a smaller lr.")
                    err.history = history  # type: ignore[attr-defined]
                    raise err from exc
                step += 1
                loss_sum += loss * b
                hits += correct
                bar.update(start + b, loss=loss_sum / (start + b))
            history.steps.append(step)
            history.epochs.append(float(epoch + 1))
            history.train_loss.append(loss_sum / n)
            history.train_accuracy.append(hits / n)
            fields = {"loss": loss_sum / n, "acc": hits / n}
            if validation is not None:
                result = self.evaluate(validation)
                history.val_loss.append(result["loss"])
                history.val_accuracy.append(result["accuracy"])
                fields.update(val_loss=result["loss"], val_acc=result["accuracy"])
                if result["loss"] < best:
                    best = result["loss"]
                    history.best_step = step
            else:
                history.val_loss.append(math.nan)
                history.val_accuracy.append(math.nan)
            history.seconds.append(time.perf_counter() - started)
            bar.close(**fields)
        history.stop_reason = "completed"
        return history

    # ---- inference ---------------------------------------------------------------------------

    def evaluate(self, ds: Dataset) -> Dict[str, float]:
        """{"loss": mean cross-entropy, "accuracy": fraction classified correctly} over ``ds``."""
        ds = self._check_dataset(ds, "data set")
        _, _, loss_sum, correct = self._net.predict_u8(
            ds._images, ds._labels, len(ds._labels), self._rows(ds), len(ds),
            want_probs=False, want_classes=False)
        return {"loss": loss_sum / len(ds), "accuracy": correct / len(ds)}

    def _infer(self, data: Any, want_probs: bool) -> Tuple[Optional[array], array, int]:
        D = self.sizes[0]
        if isinstance(data, Dataset):
            ds = self._check_dataset(data, "data set")
            probs, classes, _, _ = self._net.predict_u8(
                ds._images, None, len(ds._labels), self._rows(ds), len(ds),
                want_probs=want_probs, want_classes=True)
            return probs, classes, len(ds)
        if isinstance(data, Images):
            data = data.tobytes()
        if isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
            if not raw or len(raw) % D:
                raise DataError(f"{len(raw)} bytes of pixels are not a whole number of images of "
                                f"{D} pixels")
            n = len(raw) // D
            probs, classes, _, _ = self._net.predict_u8(raw, None, n, None, n,
                                                        want_probs=want_probs, want_classes=True)
            return probs, classes, n
        # a sequence of images, each a sequence of D floats already scaled to [0, 1]
        try:
            rows = [list(row) for row in data]
        except TypeError:
            raise TypeError("predict takes a Dataset, uint8 bytes, or a list of float rows, not "
                            f"{type(data).__name__}") from None
        if not rows:
            raise DataError("nothing to predict: no images given")
        for i, row in enumerate(rows):
            if len(row) != D:
                raise DataError(f"image {i} has {len(row)} values but the network takes {D}")
        try:
            x = array("f", [v for row in rows for v in row])
        except TypeError:
            raise DataError("image values must be numbers") from None
        probs, classes = self._net.predict_f32(x, len(rows))
        return probs, classes, len(rows)

    def predict(self, data: Any) -> List[int]:
        """The most probable class of each image (a Dataset, uint8 bytes, or float rows)."""
        _, classes, _ = self._infer(data, want_probs=False)
        return classes.tolist()

    def predict_proba(self, data: Any) -> List[List[float]]:
        """The softmax probabilities of each image, one list of K floats per image."""
        probs, _, n = self._infer(data, want_probs=True)
        assert probs is not None
        K = self.sizes[-1]
        values = probs.tolist()
        return [values[r * K:(r + 1) * K] for r in range(n)]
