"""Named recipes: every hyperparameter of a training run under one name.

One table (``PRESETS``) is read by ``ann train --preset NAME``, ``ann presets``, the tests and
the README's table; from Python::

    p = ann.get_preset("fast")
    net = ann.Network(**p.network_kwargs())
    history = net.fit(train, **p.fit_kwargs())     # holds out p.val_fraction for validation

Each field is named after the ``ann train`` option it sets (``batch_size`` is
``--batch-size``), so the CLI applies a preset by setting those options, and a flag given next
to ``--preset`` keeps the user's value. To add a setting (say ``augment``): a field at the
end of ``Preset`` named like its option, with the default that leaves it off; one line in each
preset that uses it; and, if ``fit`` takes it, one line in ``fit_kwargs``.

The values were chosen on the 48,000 / 12,000 validation split only (``tools/tune_preset.py``
is the search, ``tools/tune_preset.out`` its output); the test set was read once per preset,
for the README's table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from . import _defaults

__all__ = ["PRESETS", "Preset", "get_preset", "list_presets"]


@dataclass(frozen=True)
class Preset:
    """One recipe: the network (``layers`` are the hidden sizes) and how it trains."""

    name: str
    summary: str
    # Every other field defaults to what ann train does with no options (the seed study's
    # recipe, ann/_defaults.py), so a preset lists only what it changes.
    # the network
    layers: tuple[int, ...] = _defaults.HIDDEN
    batchnorm: bool = False
    dropout: float = 0.0
    # the optimizer
    optimizer: Literal["sgd", "momentum", "nesterov", "adam"] = _defaults.OPTIMIZER
    lr: float = _defaults.LR  # the peak rate with schedule "onecycle"
    momentum: float = _defaults.MOMENTUM
    l2: float = 0.0
    max_norm: float | None = None
    batch_size: int = _defaults.BATCH_SIZE
    epochs: int = _defaults.EPOCHS
    # the learning-rate schedule, as ann train's --schedule/--lr-decay/--warmup/--min-lr
    schedule: Literal["none", "plateau", "cosine", "onecycle"] = "none"
    lr_decay: float | None = None
    warmup: float | None = None
    min_lr: float = 0.0
    # early stopping on the validation loss (patience 0: off) and the validation split
    patience: int = _defaults.PATIENCE
    min_delta: float = _defaults.MIN_DELTA
    check_every: int | None = None
    val_fraction: float = _defaults.VAL_FRACTION
    # data augmentation of the training batches (ann train's --augment, with ann.Augment's
    # default ranges)
    augment: Literal["none", "affine", "elastic", "affine+elastic"] = "none"
    # > 0: the elastic field rescaled to this largest displacement in pixels instead of
    # ann.Augment's alpha scaling (ann train's --elastic-max)
    elastic_max: float = 0.0
    # how the network's biases start: "zeros", or "uniform" as PyTorch's nn.Linear (ann
    # train's --bias-init, ann.Network's bias_init)
    bias_init: Literal["zeros", "uniform"] = "zeros"
    # the network's functions (ann train's --activation, --head, --init, --negative-slope)
    activation: str = _defaults.ACTIVATION
    head: str = _defaults.HEAD
    init: str = _defaults.INIT
    negative_slope: float = _defaults.NEGATIVE_SLOPE
    # what it reached, measured (the README's table of presets shows the same words)
    measured: str = ""

    def options(self) -> dict[str, Any]:
        """The ``ann train`` options this preset sets, by argparse name (``batch_size``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del values["name"], values["summary"], values["measured"]
        values["layers"] = list(self.layers)
        if self.schedule == "none":  # ann train's default, where --lr-decay alone means plateau
            values["schedule"] = None
        if self.name in TABLE_PRESETS:  # the head follows the task: classes or values
            del values["head"]
        return values

    def network_kwargs(
        self, inputs: int = _defaults.INPUTS, outputs: int = _defaults.CLASSES
    ) -> dict[str, Any]:
        """Keyword arguments of ``ann.Network``: the layer sizes, the activation, head and
        initialisation, how the biases start, batch norm and dropout."""
        return {
            "layers": [inputs, *self.layers, outputs],
            "activation": self.activation,
            "head": self.head,
            "init": self.init,
            "negative_slope": self.negative_slope,
            "batchnorm": self.batchnorm,
            "dropout": self.dropout,
            "bias_init": self.bias_init,
        }

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``Network.fit``, the validation split included (pass
        ``validation_split=None`` with a validation set of your own)."""
        from ._augment import for_mode
        from ._fit import EarlyStopping

        early = None
        check_every = self.check_every
        if self.patience:
            if check_every is None and self.name not in TABLE_PRESETS:
                check_every = _defaults.CHECK_EVERY  # on a table: None, once an epoch
            early = EarlyStopping(
                patience=self.patience, min_delta=self.min_delta, check_every=check_every
            )
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "momentum": self.momentum,
            "l2": self.l2,
            "max_norm": self.max_norm,
            "early_stopping": early,
            "schedule": make_schedule(self.schedule, self.lr_decay, self.warmup, self.min_lr),
            "check_every": check_every,
            "validation_split": self.val_fraction or None,  # 0: train on every image
            "augment": for_mode(self.augment, elastic_max=self.elastic_max),
        }

    def describe(self) -> str:
        """The settings in one line, as the README's table and ``ann presets`` show them."""
        ends: tuple[Any, Any] = (_defaults.INPUTS, _defaults.CLASSES)
        if self.name in TABLE_PRESETS:  # the table's width and its classes or targets
            ends = ("inputs", "outputs")
        net = "-".join(map(str, (ends[0], *self.layers, ends[1])))
        if self.activation != _defaults.ACTIVATION:
            net += f" {self.activation}"
        if self.head != _defaults.HEAD:
            net += f", {self.head} head"
        net += (" BN" if self.batchnorm else "") + (
            f" dropout {self.dropout:g}" if self.dropout else ""
        )
        if self.init != _defaults.INIT:
            net += f", {self.init} init"
        if self.bias_init != "zeros":
            net += f" ({self.bias_init} bias init)"
        opt = f"{self.optimizer} lr {self.lr:g}"
        if self.optimizer in ("momentum", "nesterov"):
            opt += f" momentum {self.momentum:g}"
        parts = [net, opt, f"batch {self.batch_size}"]
        if self.schedule != "none":
            parts.append(self.schedule + (f" x{self.lr_decay:g}" if self.lr_decay else ""))
        if self.warmup:
            parts.append(f"warm-up {self.warmup:g} epochs")
        if self.l2:
            parts.append(f"L2 {self.l2:g}")
        if self.max_norm:
            parts.append(f"max-norm {self.max_norm:g}")
        if self.augment != "none":
            bound = self.elastic_max and "elastic" in self.augment
            parts.append(
                f"{self.augment} augmentation"
                + (f" (elastic field at most {self.elastic_max:g} px)" if bound else "")
            )
        stop = f"early stopping (patience {self.patience})" if self.patience else "no early stop"
        if self.patience and self.name in TABLE_PRESETS:
            stop = f"early stopping (patience {self.patience} epochs)"
        parts.append(f"{'up to ' if self.patience else ''}{self.epochs} epochs, {stop}")
        if self.val_fraction and (self.val_fraction * 100).is_integer():
            parts.append(
                f"{round((1 - self.val_fraction) * 100)}/{round(self.val_fraction * 100)} split"
            )
        elif self.val_fraction:  # in images of MNIST's 60,000 (nielsen's 50,000 / 10,000)
            held = round(60000 * self.val_fraction)
            parts.append(f"{60000 - held:,}/{held:,} split")
        else:
            parts.append("all training images, no validation split")
        return ", ".join(parts)


def make_schedule(kind: str, lr_decay: float | None, warmup: float | None, min_lr: float) -> Any:
    """The ``fit(schedule=...)`` object for ann train's --schedule, --lr-decay, --warmup and
    --min-lr values (None: a constant rate)."""
    from ._schedules import Cosine, OneCycle, ReduceLROnPlateau, Warmup

    inner: Any = {
        "none": None,
        "plateau": ReduceLROnPlateau(factor=lr_decay or 0.5),
        "cosine": Cosine(min_lr=min_lr),
        "onecycle": OneCycle(),
    }[kind]
    return inner if warmup is None else Warmup(epochs=warmup, then=inner)


_TABLE = (
    Preset(
        name="seed",
        summary="the seed study's network and settings (ann train's defaults)",
        measured="93.19 % MNIST test accuracy (seed 0)",
    ),
    Preset(
        name="fast",
        summary="about 98 % test accuracy in seconds",
        layers=(256, 256),
        batchnorm=True,
        optimizer="nesterov",
        lr=0.2,
        batch_size=256,
        epochs=4,
        schedule="onecycle",
        patience=0,
        measured="98.31 % MNIST test accuracy (seed 0)",
    ),
    Preset(
        name="best",
        summary="the most accurate recipe ann has (minutes)",
        layers=(1024, 1024),
        dropout=0.1,
        optimizer="adam",
        lr=0.002,
        batch_size=128,
        epochs=30,
        schedule="onecycle",
        patience=0,
        # chosen on the 48,000 / 12,000 split, then trained on all 60,000 images as the
        # papers do: the final weights after 30 epochs, no early stopping (tools/tune_best.log)
        val_fraction=0.0,
        # with augmentation the validation loss fell from 0.0694 (the best unaugmented
        # recipe, BN dropout 0.5) to 0.0324: tools/tune_preset.out
        augment="affine+elastic",
        # the elastic field rescaled per image to a largest move of 2 px (the PyTorch
        # reference's) instead of alpha 34's unbounded ~2 px RMS: validation accuracy 99.27 /
        # 99.22 % (seeds 0 / 1) against 98.96 % (seed 0): tools/tune_best.log
        elastic_max=2.0,
        measured="99.27 % MNIST test accuracy (mean of seeds 0, 1, 2: 99.19 to 99.34 %)",
    ),
    Preset(
        name="nielsen",
        summary="chapter 1 of Nielsen's book: 784-30-10 sigmoid units, the quadratic cost",
        layers=(30,),
        # The book's step is w -= (eta / m) sum over the mini-batch of dC_x/dw, with
        # C_x = |y - a|^2 / 2 (the 1/2 and the mean over the batch are in its cost), eta = 3.0.
        # ann's sigmoid-mse loss is the mean over the m K entries of (a - y)^2, no 1/2, so its
        # gradient per example is 2 / K times the book's: the book's step is ann's at
        # lr = eta K / 2 = 3.0 * 10 / 2 = 15 (docs/heads.md derives it).
        lr=15.0,
        batch_size=10,
        epochs=30,
        patience=0,  # the book trains 30 epochs and keeps the last weights
        val_fraction=1 / 6,  # the book's 50,000 training and 10,000 validation images
        activation="sigmoid",
        head="sigmoid-mse",
        # uniform (the default) and he tie over 10 seeds on the validation split (val loss
        # 0.0080 both, accuracy 0.9549 / 0.9550); glorot is a little behind: tools/init_study.out
        init="uniform",
        measured="95.76 % MNIST test accuracy (seed 0; the book: 95.42 %)",
    ),
    # For tables (ann train's default on a CSV file): scikit-learn's MLP recipe (one hidden
    # layer of 100, Adam at 0.001, standardised features) with early stopping on the
    # validation loss, checked once an epoch. Chosen on the validation rows of scikit-learn's
    # data sets by tools/tune_tabular.py (its output: tools/tune_tabular.out).
    Preset(
        name="tabular",
        summary="for a table (ann train's default on a CSV file): scikit-learn's MLP recipe "
        "with early stopping",
        layers=(100,),
        optimizer="adam",
        lr=0.001,
        batch_size=32,
        epochs=200,
        patience=10,
        measured="wine 1.000, digits 0.973 accuracy; diabetes R² 0.346 (scikit-learn's sets, "
        "25 % test split, median of 5 seeds)",
    ),
)

#: The presets meant for tables (a CSV file) rather than images: ``ann train`` uses the first
#: by default on a CSV file, and ``describe`` shows their network as inputs-...-outputs.
TABLE_PRESETS = ("tabular",)

#: The presets by name, read-only.
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _TABLE})


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError naming the presets there are otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"no preset {name!r}; the presets are {', '.join(PRESETS)}") from None


def list_presets() -> list[str]:
    """The names of the presets, in the order ``ann presets`` shows them."""
    return list(PRESETS)
