"""``ann experiment``: the seed study's grid of runs, measured and tabulated.

The seed trained its 784-20-7-5-10 network with SGD at learning rate 0.009 on an 80/20 split,
stopping early on the validation loss, for every combination of batch size (32, 64, 128,
256), batch normalization (off, on) and L2 strength (0, 0.01, 0.05). This runs the same grid
and prints a table of accuracies, steps and training time, and one text plot of the
validation loss of every run.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable

from . import _defaults
from ._data import Dataset
from ._errors import DataError
from ._files import atomic_write, write_chunks
from ._fit import EarlyStopping
from ._network import Network

LR = _defaults.LR
FULL: dict[str, Any] = dict(
    batch_sizes=(32, 64, 128, 256), batchnorm=(False, True), l2=(0.0, 0.01, 0.05), max_epochs=30
)
QUICK: dict[str, Any] = dict(
    batch_sizes=(32, 64, 128, 256), batchnorm=(False, True), l2=(0.0, 0.05), max_epochs=5
)
# the seed's: every 100 steps
STOPPING: dict[str, Any] = dict(
    patience=_defaults.PATIENCE, min_delta=_defaults.MIN_DELTA, check_every=_defaults.CHECK_EVERY
)


def run_experiment(
    train_all: Dataset,
    test: Dataset,
    *,
    quick: bool = False,
    seed: int = 0,
    plot_file: str | None = None,
    say: Callable[[str], None] = print,
) -> int:
    from ._plot import line_plot
    from ._plot_image import Panel, image_format, render

    grid = QUICK if quick else FULL
    train, val = train_all.split(_defaults.VAL_FRACTION, seed=seed)
    runs = list(itertools.product(grid["batch_sizes"], grid["batchnorm"], grid["l2"]))
    say(
        f"{len(runs)} runs on {len(train)} train / {len(val)} validation / {len(test)} test "
        f"images: {train.features}-20-7-5-{train.num_classes}, SGD lr {LR}, "
        f"up to {grid['max_epochs']} epochs, early stopping "
        f"(patience {STOPPING['patience']}, check every {STOPPING['check_every']} steps)"
    )
    header = (
        f"{'batch':>5} {'BN':>3} {'L2':>5} {'train acc':>9} {'val acc':>8} {'test acc':>8} "
        f"{'steps':>6} {'epochs':>6} {'seconds':>7}  stop"
    )
    rows: list[str] = []
    curves = {}
    say(header)
    for batch, bn, l2 in runs:
        net = Network(
            [train.features, *_defaults.HIDDEN, train.num_classes], batchnorm=bn, seed=seed
        )
        started = time.perf_counter()
        history = net.fit(
            train,
            val,
            epochs=grid["max_epochs"],
            batch_size=batch,
            lr=LR,
            l2=l2,
            early_stopping=EarlyStopping(**STOPPING),
            progress=False,
            seed=seed,
        )
        seconds = time.perf_counter() - started
        row = (
            f"{batch:>5} {'yes' if bn else 'no':>3} {l2:>5g} "
            f"{net.evaluate(train)['accuracy']:>9.4f} {net.evaluate(val)['accuracy']:>8.4f} "
            f"{net.evaluate(test)['accuracy']:>8.4f} {history.stopped_step:>6} "
            f"{history.epochs[-1]:>6.1f} {seconds:>7.2f}  {history.stop_reason}"
        )
        rows.append(row)
        say(row)
        curves[f"b{batch}{'+bn' if bn else ''}{f' l2={l2:g}' if l2 else ''}"] = (
            history.epochs,
            history.val_loss,
        )
    plot = line_plot(curves, title="validation loss of every run", x_label="epoch", height=16)
    say("")
    say(plot)
    if plot_file:  # an .svg or .png image of the curves, else the table and the text plot
        kind = image_format(plot_file)
        data = (
            render([Panel("validation loss of every run", "epoch", curves)], kind)
            if kind in ("svg", "png")
            else (header + "\n" + "\n".join(rows) + "\n\n" + plot + "\n").encode("utf-8")
        )
        atomic_write(plot_file, write_chunks([data]), DataError)
    return 0
