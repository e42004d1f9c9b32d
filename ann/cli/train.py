"""``ann train``: check the flags, load the data, train with progress, report the result.

Every check that can fail does so before the data loads or training starts (a bad range, a
contradiction between flags, a file that could not be written later). Training prints a
progress line per epoch (on a terminal: live plots too), ``--save`` keeps the best model as
it goes (``_checkpoint``), and the report ends with the history table and the test accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable

import ann

from .. import _defaults as default
from .._errors import DataError, TrainingError
from .._files import atomic_write, write_chunks
from .._locate import DataSource
from .._plot import MIN_WIDTH, line_plot
from .._plot_image import Panel, image_format, render
from .._progress import LiveFrame
from ._checkpoint import Checkpoint, check_resume, kept_on_failure, train_metadata
from ._load import load_data, source_where
from ._options import (
    augment_from_args,
    augment_text,
    describe_schedule,
    header_flag,
    is_csv,
    label_column,
    plural,
    schedule_kind,
    train_schedule,
)
from ._output import EXIT_ERROR, EXIT_INTERRUPTED, UsageError, isatty, note, say
from ._paths import Named, SaveLock, check_destination, check_plot_name, check_separate


def cmd_train(args: argparse.Namespace) -> int:
    augment = augment_from_args(args)  # a bad range fails before any data is read
    if augment is not None and is_csv(args.data):
        preset = "augment" in getattr(args, "from_preset", ())
        source = f" (--preset {args.preset} sets it)" if preset else ""
        raise UsageError(
            f"ann train: --augment {args.augment}{source} distorts images, and {args.data} is "
            f"a table of features: give --augment none"
        )
    schedule = _check_flags(args)
    if not args.save:
        return _train(args, augment, schedule)
    with SaveLock("--save", args.save):  # one run at a time saves to a file
        return _train(args, augment, schedule)


def _train(args: argparse.Namespace, augment: ann.Augment | None, schedule: Any) -> int:
    """ann train once its flags are checked (``cmd_train``)."""
    net: ann.Network | None = None
    counters = (0, 0.0)  # (steps, epochs) the weights were trained for
    if args.resume:
        net = ann.Network.load(args.resume)
        counters = _check_resumed(args, net)
    source, train_all, train, val, test = _load(args, net)
    if net is None:
        hidden = args.layers if args.layers is not None else list(default.HIDDEN)
        sizes = [train.features] + hidden + [train_all.num_classes]
        net = ann.Network(
            sizes,
            activation=args.activation or default.ACTIVATION,
            head=args.head or default.HEAD,
            negative_slope=(
                default.NEGATIVE_SLOPE if args.negative_slope is None else args.negative_slope
            ),
            init=args.init or default.INIT,
            batchnorm=args.batchnorm,
            dropout=args.dropout or 0.0,
            seed=args.seed,
        )
    elif net.sizes[0] != train.features:
        raise DataError(
            f"{args.resume}: the model takes {net.sizes[0]} inputs but the images "
            f"have {train.features} pixels"
        )
    early = None
    if args.patience:
        early = ann.EarlyStopping(
            patience=args.patience,
            min_delta=args.min_delta,
            check_every=args.check_every or default.CHECK_EVERY,
        )
    _say_data(args, source, train_all, train, val, test)
    _say_setup(args, net, schedule, early, augment)

    live = not args.quiet and isatty(sys.stderr)
    checkpoint = Checkpoint(args.save) if args.save else None
    started = time.perf_counter()
    history = _fit(args, net, train, val, schedule, early, augment, counters, checkpoint, live)
    elapsed = time.perf_counter() - started
    if checkpoint:
        if val is None and checkpoint.step != history.stopped_step:  # the final weights
            checkpoint.save(net, train_metadata(args, history, counters), history.stopped_step)
        checkpoint.finish(net, train_metadata(args, history, counters))

    _say_history(history, show_lr=schedule is not None, validated=val is not None)
    if not args.quiet and not live:
        say(_history_plots(history))
    if args.plot_file:
        _write_plot(args.plot_file, history)
    if args.log:
        if args.log.endswith(".csv"):
            history.to_csv(args.log)
        else:
            history.to_jsonl(args.log)
    _say_result(args, net, history, checkpoint, train, val, test, elapsed)
    _warn_if_not_learnt(args, net, history, validated=val is not None)
    if checkpoint and checkpoint.error is not None:
        print(f"ann: error: the model was not saved: {checkpoint.error}", file=sys.stderr)
        return EXIT_ERROR
    if history.stop_reason == "interrupted":
        note(
            "interrupted: stopped after the current mini-batch"
            + (f"; best model saved to {args.save}" if args.save else "")
        )
        return EXIT_INTERRUPTED
    return 0


# ---- before training -------------------------------------------------------------------------


def _check_flags(args: argparse.Namespace) -> Any:
    """Settle the --patience default, refuse contradictory flags and files that could not be
    written later; return the schedule the flags ask for."""
    if args.patience is None:  # the default: the seed study's, when there is validation
        args.patience = default.PATIENCE if args.val_fraction else 0
    if not args.val_fraction:
        if args.patience:
            raise UsageError(
                "ann train: --patience stops on the validation loss, and --val-fraction 0 "
                "holds out no validation images: give --patience 0 or a --val-fraction"
            )
        if schedule_kind(args) == "plateau":
            raise UsageError(
                "ann train: the plateau schedule follows the validation loss, and "
                "--val-fraction 0 holds out no validation images"
            )
    for option, path in _outputs(args):
        check_destination("train", option, path)  # before training, not after it
    check_plot_name("train", args.plot_file)
    _check_separate(args, [("--data", args.data if is_csv(args.data) else None)])
    return train_schedule(args)  # a bad combination fails before the data loads


def _outputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [("--save", args.save), ("--log", args.log), ("--plot-file", args.plot_file)]


def _check_separate(args: argparse.Namespace, data: list[Named]) -> None:
    """No output may be an input (``data``, --resume) or another output; --save may name the
    --resume file (the model is read whole before training, and updated in place)."""
    inputs = data + [("--resume", args.resume)]
    check_separate("train", inputs, _outputs(args), allowed=[("--save", "--resume")])


def _check_resumed(args: argparse.Namespace, net: ann.Network) -> tuple[int, float]:
    """The (steps, epochs) counters of the model --resume names, once it fits the flags."""
    counters = check_resume(args, net)
    trained_on = net.metadata.get("dataset")
    if trained_on == "csv" and not is_csv(args.data):
        raise UsageError(
            f"ann train: {args.resume} was trained on a CSV file: give a file of its columns "
            f"with --data FILE.csv (found by name when it has a header, else in the same order)"
        )
    if trained_on is not None and not is_csv(args.data) and trained_on != args.dataset:
        raise UsageError(
            f"ann train: {args.resume} was trained on {trained_on}, not {args.dataset}: "
            f"give --dataset {trained_on}"
        )
    return counters


def _load(
    args: argparse.Namespace, resumed: ann.Network | None
) -> tuple[DataSource | None, ann.Dataset, ann.Dataset, ann.Dataset | None, ann.Dataset | None]:
    """(source, all training examples, train, validation, test): the IDX data set with its
    test split, or a CSV file (source and test None); validation is None with --val-fraction
    0, when every training example trains."""
    source: DataSource | None = None
    test: ann.Dataset | None
    if is_csv(args.data):  # your own table: a train/validation split, no test set
        # a resumed model's rows: its classes, and its columns found by the names it recorded
        classes, names = (resumed.classes, resumed.feature_names) if resumed else (None, None)
        train_all = ann.load_csv(
            args.data,
            label=label_column(args.label),
            header=header_flag(args.header),
            classes=classes,
            feature_names=names,
        )
        test = None
    else:
        source, train_all, test = load_data(args, args.quiet)
        _check_separate(args, [("--data", path) for path in source.paths.values()])
    if not args.val_fraction:
        return source, train_all, train_all, None, test
    train, val = train_all.split(args.val_fraction, seed=args.seed)
    return source, train_all, train, val, test


def _say_data(
    args: argparse.Namespace,
    source: DataSource | None,
    train_all: ann.Dataset,
    train: ann.Dataset,
    val: ann.Dataset | None,
    test: ann.Dataset | None,
) -> None:
    if source is not None and test is not None:
        named = "" if args.dataset == "mnist" else f"{args.dataset}, {train.num_classes} classes: "
        say(
            f"data: {named}{len(train)} train / {len(val or ())} validation / {len(test)} test "
            f"images from {source.kind} ({source_where(source)})"
        )
    else:
        names = train_all.classes or []
        say(
            f"data: {len(train)} train / {len(val or ())} validation rows of {train.features} "
            f"features from {args.data}, {len(names)} classes ({', '.join(names[:10])}"
            f"{', ...' if len(names) > 10 else ''}); features standardised with the "
            f"training rows' mean and standard deviation"
        )


def _say_setup(
    args: argparse.Namespace,
    net: ann.Network,
    schedule: Any,
    early: ann.EarlyStopping | None,
    augment: ann.Augment | None,
) -> None:
    kinds = ",".join(dict.fromkeys(net.activations))
    extras = (
        (f", {kinds}" if kinds and kinds != default.ACTIVATION else "")
        + (f", {net.head} head" if net.head != default.HEAD else "")
        + (" + batch norm" if net.batchnorm else "")
        + (f" + dropout {net.dropout:g}" if net.dropout else "")
    )
    say(
        f"network: {'-'.join(map(str, net.sizes))}{extras} ({net.num_params} parameters, "
        f"{net.backend} backend, {ann.get_num_threads()} thread(s))"
        + (f", resumed from {args.resume}" if args.resume else "")
    )
    say(
        f"training: {args.optimizer} lr {args.lr:g}, batch {args.batch_size}, up to "
        f"{plural(args.epochs, 'epoch')}"
        + (f", L2 {args.l2:g}" if args.l2 else "")
        + (f", {describe_schedule(args)}" if schedule is not None else "")
        + (f", max-norm {args.max_norm:g}" if args.max_norm else "")
        + (
            f", early stopping (patience {early.patience}, check every {early.check_every} steps)"
            if early
            else ""
        )
    )
    if augment is not None:
        say(f"augment: {args.augment} ({augment_text(augment)}), training batches only")


# ---- training --------------------------------------------------------------------------------


def _fit(
    args: argparse.Namespace,
    net: ann.Network,
    train: ann.Dataset,
    val: ann.Dataset | None,
    schedule: Any,
    early: ann.EarlyStopping | None,
    augment: ann.Augment | None,
    counters: tuple[int, float],
    checkpoint: Checkpoint | None,
    live: bool,
) -> ann.History:
    """net.fit with the flags' settings; the checkpoint saved at each check that improves,
    and on a terminal (``live``) the plots redrawn below the progress."""
    frame = LiveFrame(sys.stderr) if live else None  # the plots, redrawn in place

    def save(history: ann.History, index: int = -1) -> None:
        """Checkpoint the weights in memory, which are those of check ``index`` of history."""
        step = history.steps[index] if history.steps else counters[0]
        assert checkpoint is not None  # save runs only with --save
        checkpoint.save(net, train_metadata(args, history, counters, index), step)

    def on_check(history: ann.History) -> None:
        # the best model, or with no validation to say which is best, the latest
        if checkpoint and (val is None or history.best_step == history.steps[-1]):
            save(history)
        if frame and len(history.steps) >= 2:
            frame.show(_live_plots(history))

    if frame:  # progress, notes and warnings go through it, above the plots
        sys.stderr = frame
    try:
        return net.fit(
            train,
            val,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            l2=args.l2,
            optimizer=args.optimizer,
            momentum=args.momentum,
            early_stopping=early,
            schedule=schedule,
            max_norm=args.max_norm,
            check_every=args.check_every,
            verbose=0 if args.quiet else 1,
            seed=args.seed,
            callback=on_check,
            initial_step=counters[0],
            initial_epoch=counters[1],
            augment=augment,
        )
    except TrainingError as exc:  # diverged or out of memory: keep the best model
        failed = getattr(exc, "history", None)
        if failed is None or not args.save:
            raise
        raise TrainingError(f"{exc} {kept_on_failure(args, failed, checkpoint, save)}") from None
    finally:
        if frame:  # the last plots stay on screen, above the results (or the error)
            frame.close()
            sys.stderr = frame.stream


# ---- after training --------------------------------------------------------------------------


def _say_history(history: ann.History, *, show_lr: bool, validated: bool) -> None:
    """The table of the validation checks (with the rate when a schedule changes it) and why
    training stopped."""
    say(
        f"{'step':>7} {'epoch':>6} {'train loss':>10} {'train acc':>9} {'val loss':>9} "
        f"{'val acc':>8} {'seconds':>8}" + (f" {'lr':>10}" if show_lr else "")
    )
    for row in history.rows():
        say(
            f"{row['steps']:>7} {row['epochs']:>6.2f} {row['train_loss']:>10.4f} "
            f"{row['train_accuracy']:>9.4f} {row['val_loss']:>9.4f} {row['val_accuracy']:>8.4f} "
            f"{row['seconds']:>8.2f}" + (f" {row['lr']:>10.4g}" if show_lr else "")
        )
    if not validated:
        say(
            f"stopped: {history.stop_reason} after {plural(history.stopped_step, 'step')}; no "
            f"validation "
            f"split, so the final weights are kept"
        )
    else:
        say(
            f"stopped: {history.stop_reason} after {plural(history.stopped_step, 'step')}; best "
            f"validation loss {history.best_val_loss:.4f} at step {history.best_step}"
            + (" (weights restored)" if history.restored_best else "")
        )


def _say_result(
    args: argparse.Namespace,
    net: ann.Network,
    history: ann.History,
    checkpoint: Checkpoint | None,
    train: ann.Dataset,
    val: ann.Dataset | None,
    test: ann.Dataset | None,
    elapsed: float,
) -> None:
    """Loss and accuracy on the test split (a CSV file has none: on the validation rows, or
    with no validation split either, on the training rows); of the saved model too when it
    is not the one in memory."""
    report = "test"
    if test is None and val is not None:  # a CSV file has no test split: the validation rows
        test, report = val, "validation"
    elif test is None:  # nor, with --val-fraction 0, a validation split: the training rows
        test, report = train, "training rows (no validation or test split)"
    result = net.evaluate(test)
    in_memory = history.best_step if history.restored_best else history.stopped_step
    if checkpoint and checkpoint.step is not None and checkpoint.step != in_memory:
        # the weights in memory are the last ones (--patience 0), the file has the best
        say(
            f"{report} (final weights, step {in_memory}): loss {result['loss']:.4f}, accuracy "
            f"{result['accuracy']:.4f} ({round(result['accuracy'] * len(test))}/{len(test)})"
            f"; trained in {elapsed:.2f} s"
        )
        result = ann.Network.load(args.save).evaluate(test)
        say(
            f"{report} (saved model, step {checkpoint.step}, best validation loss): loss "
            f"{result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)})"
        )
    else:
        say(
            f"{report}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)}); trained in {elapsed:.2f} s"
        )
    if checkpoint and checkpoint.error is None:
        say(f"model saved to {args.save}")


def _warn_if_not_learnt(
    args: argparse.Namespace, net: ann.Network, history: ann.History, *, validated: bool
) -> None:
    """A warning when the best loss is no better than guessing uniformly."""
    chance = math.log(net.sizes[-1])
    which, lowest = "validation", history.best_val_loss
    if not validated:
        which = "training"
        lowest = min((x for x in history.train_loss if math.isfinite(x)), default=math.inf)
    if not lowest < chance:
        note(
            f"warning: training did not learn: the best {which} loss "
            f"{lowest:.4g} is no better than guessing uniformly "
            f"(ln {net.sizes[-1]} = {chance:.2f}); the lr {args.lr:g} is probably too large"
        )


# ---- plots and files -------------------------------------------------------------------------


def _history_plots(
    history: ann.History,
    *,
    width: int | None = None,
    charset: str = "auto",
    heights: Sequence[int] = (12, 10),
) -> str:
    steps = history.steps
    loss = line_plot(
        {"train loss": (steps, history.train_loss), "validation loss": (steps, history.val_loss)},
        width=width,
        height=heights[0],
        title="loss",
        x_label="step",
        charset=charset,
    )
    accuracy = line_plot(
        {
            "train accuracy": (steps, history.train_accuracy),
            "validation accuracy": (steps, history.val_accuracy),
        },
        width=width,
        height=heights[1],
        title="accuracy",
        x_label="step",
        charset=charset,
    )
    return loss + "\n\n" + accuracy


def _live_plots(history: ann.History) -> Callable[[int, int], str]:
    """render(columns, rows) for a LiveFrame: the plots, shorter when the terminal is."""

    def render(columns: int, rows: int) -> str:
        for heights in ((12, 10), (8, 6), (5, 4), (3, 3)):
            text = _history_plots(history, width=max(columns, MIN_WIDTH), heights=heights)
            if text.count("\n") < rows:
                break
        return text

    return render


def _write_plot(path: str, history: ann.History) -> None:
    """--plot-file: the loss and accuracy plots as an SVG or PNG image (by the name's
    suffix), else as text; atomically (see ann._files.atomic_write)."""
    kind = image_format(path)
    if kind in ("svg", "png"):
        steps = history.steps
        panels = [
            Panel(
                "loss",
                "step",
                {
                    "train loss": (steps, history.train_loss),
                    "validation loss": (steps, history.val_loss),
                },
            ),
            Panel(
                "accuracy",
                "step",
                {
                    "train accuracy": (steps, history.train_accuracy),
                    "validation accuracy": (steps, history.val_accuracy),
                },
            ),
        ]
        data = render(panels, kind)
    else:
        data = (_history_plots(history, width=100, charset="unicode") + "\n").encode("utf-8")
    atomic_write(path, write_chunks([data]), DataError)
