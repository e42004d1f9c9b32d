"""``ann train``: check the flags, load the data, train with progress, report the result.

Every check that can fail does so before the data loads or training starts (a bad range, a
contradiction between flags, a file that could not be written later). Training prints a
progress line per epoch (on a terminal: live plots too), ``--save`` keeps the best model as
it goes (``_checkpoint``), and the report ends with the history table and the test accuracy.
"""

from __future__ import annotations

import argparse
import copy
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
from .._network import _outputs_for
from .._plot import MIN_WIDTH, line_plot
from .._plot_image import Panel, image_format, render
from .._presets import TABLE_PRESETS
from .._progress import LiveFrame
from .._tabular import (
    fold_target_scaling,
    majority_accuracy,
    mean_baseline,
    scaled,
    target_scaling,
    unfold_target_scaling,
)
from ._checkpoint import Checkpoint, check_resume, kept_on_failure, train_metadata
from ._load import load_data, source_where
from ._options import (
    augment_from_args,
    augment_text,
    describe_schedule,
    header_flag,
    is_csv,
    plural,
    schedule_kind,
    train_schedule,
)
from ._output import EXIT_ERROR, EXIT_INTERRUPTED, UsageError, isatty, note, say
from ._paths import Named, SaveLock, check_destination, check_plot_name, check_separate
from ._table import label_columns, label_error, read_labelled, recorded_labels, task_argument

#: the warning's "near": an accuracy within this of the most-frequent-class baseline
BASELINE_MARGIN = 0.02
#: the most rows of the history table (a table trained for 200 epochs checks 200 times)
TABLE_ROWS = 14


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
    regression = _task(args) == "regression"
    head = _check_head(args, net, train_all)
    if net is None:
        hidden = args.layers if args.layers is not None else list(default.HIDDEN)
        outputs = train_all.num_targets if regression else _outputs_for(train_all, head)
        sizes = [train.features] + hidden + [outputs]
        net = ann.Network(
            sizes,
            activation=args.activation or default.ACTIVATION,
            head=head,
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
            f"{args.resume}: the model takes {net.sizes[0]} inputs but the "
            f"{'rows have' if is_csv(args.data) else 'images have'} {train.features} "
            f"{'features' if is_csv(args.data) else 'pixels'}"
        )
    # a regression trains on standardised targets, folded into the output layer afterwards
    # (ann/_tabular.py): fit_train and fit_val are the same rows as train and val
    fit_train, fit_val, scale = train, val, None
    if regression and net.head == "identity-mse":
        scale = target_scaling(train)
        fitting = scaled(train_all, *scale)
        fit_train, fit_val = fitting, None
        if val is not None:
            fit_train, fit_val = fitting.split(args.val_fraction, seed=args.seed)
        if args.resume:  # the file predicts in the targets' units: back to the scaled ones
            unfold_target_scaling(net, *scale)
    early = None
    if args.patience:
        # on a table (a CSV file, or the recipe for one), once an epoch: 100 steps can be
        # many epochs of a few rows
        table = is_csv(args.data) or args.preset in TABLE_PRESETS
        every = args.check_every or (None if table else default.CHECK_EVERY)
        early = ann.EarlyStopping(
            patience=args.patience, min_delta=args.min_delta, check_every=every
        )
    _say_data(args, source, train_all, train, val, test)
    _say_setup(args, net, schedule, early, augment)

    live = not args.quiet and isatty(sys.stderr)
    checkpoint = Checkpoint(args.save, _folded(scale)) if args.save else None
    started = time.perf_counter()
    history = _fit(
        args, net, fit_train, fit_val, schedule, early, augment, counters, checkpoint, live
    )
    elapsed = time.perf_counter() - started
    if checkpoint:
        if val is None and checkpoint.step != history.stopped_step:  # the final weights
            checkpoint.save(net, train_metadata(args, history, counters), history.stopped_step)
        checkpoint.finish(net, train_metadata(args, history, counters))
    if scale is not None:  # from here on, the network predicts in the targets' units
        fold_target_scaling(net, *scale)

    _say_history(
        history,
        show_lr=schedule is not None,
        validated=val is not None,
        regression=regression,
        condensed=is_csv(args.data),
    )
    if not args.quiet and not live:
        say(_history_plots(history, regression=regression))
    if args.plot_file:
        _write_plot(args.plot_file, history, regression)
    if args.log:
        if args.log.endswith(".csv"):
            history.to_csv(args.log)
        else:
            history.to_jsonl(args.log)
    reported = _say_result(args, net, history, checkpoint, train, val, test, elapsed)
    _warn_if_not_learnt(args, net, history, train, reported, validated=val is not None)
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
    if task_argument(args) == "regression" and not is_csv(args.data):
        raise UsageError(
            "ann train: --task regression goes with a table (--data FILE.csv); the image "
            "sets are classifications of their digits or letters"
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
    """The (steps, epochs) counters of the model --resume names, once it fits the flags (the
    data first: a run that cannot start says nothing about its optimizer)."""
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
    return check_resume(args, net)


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
        labelled = read_labelled(
            args.data,
            _label_columns(args, resumed),
            _task_flag(args, resumed),
            header=header_flag(args.header),
            classes=classes,
            feature_names=names,
        )
        args.labelled = labelled  # the label columns and the task, for the messages and file
        train_all = labelled.data
        test = None
    else:
        source, train_all, test = load_data(args, args.quiet)
        _check_separate(args, [("--data", path) for path in source.paths.values()])
    if not args.val_fraction:
        return source, train_all, train_all, None, test
    train, val = train_all.split(args.val_fraction, seed=args.seed)
    return source, train_all, train, val, test


def _task(args: argparse.Namespace) -> str:
    """The run's task: a CSV file's (read with it), else classification (the image sets)."""
    labelled = getattr(args, "labelled", None)
    return labelled.task.task if labelled is not None else "classification"


def _label_columns(args: argparse.Namespace, resumed: ann.Network | None) -> list[int | str]:
    """--label's columns; without it, those the resumed model was trained with, else the last."""
    if args.label is None and resumed is not None:
        return recorded_labels(resumed) or [-1]
    return label_columns(args.label)


def _task_flag(args: argparse.Namespace, resumed: ann.Network | None) -> str | None:
    """--task when given (it must be the resumed model's), else the resumed model's task, else
    None: inferred from the labels."""
    given = task_argument(args)
    trained = resumed.metadata.get("task") if resumed is not None else None
    if given is not None and trained is not None and given != trained:
        raise UsageError(
            f"ann train: --task {given}, but {args.resume} was trained for {trained} "
            f"(leave --task out to keep it)"
        )
    return given or trained


def _check_head(args: argparse.Namespace, net: ann.Network | None, data: ann.Dataset) -> str:
    """The head of the run (--head, else the resumed model's, else the task's: softmax-ce for
    classes, identity-mse for values), refused with one line when it cannot read the labels."""
    task = _task(args)
    regression = task == "regression"
    head = args.head or (net.head if net is not None else None)
    head = head or ("identity-mse" if regression else default.HEAD)
    if not is_csv(args.data):
        return head  # the image sets: what the labels allow is the network's to say
    why = args.labelled.task.reason
    flag = f"--head {head}" if args.head else f"the model's head {head}"
    if regression and head == "softmax-ce":
        raise label_error(
            f"{flag} classifies, but the task is regression ({why}): "
            f"give --head identity-mse, or --task classification"
        )
    if regression and head in ("sigmoid-bce", "sigmoid-mse"):
        targets = data.targets
        assert targets is not None
        low, high = min(targets), max(targets)
        if low < 0 or high > 1:
            raise label_error(
                f"{flag} outputs values in [0, 1], but the targets run from "
                f"{low:g} to {high:g}: give --head identity-mse"
            )
    if not regression and head == "identity-mse":
        raise label_error(
            f"{flag} is a regression's, but the task is classification ({why}): "
            f"give --task regression to read the labels as numbers, or leave --head out"
        )
    return head


def _folded(scale: tuple[list[float], list[float]] | None) -> Callable[[ann.Network], ann.Network]:
    """What a checkpoint writes of the network: with targets trained standardised, a copy
    with the scale folded in (the file predicts in the targets' units); else the network."""
    if scale is None:
        return lambda net: net

    def fold(net: ann.Network) -> ann.Network:
        folded = copy.deepcopy(net)
        fold_target_scaling(folded, *scale)
        return folded

    return fold


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
        labelled = args.labelled
        if labelled.task.task == "classification":
            names = train_all.classes or []
            what = (
                f"{len(names)} classes ({', '.join(names[:10])}"
                f"{', ...' if len(names) > 10 else ''})"
            )
            scaled_too = ""
        else:
            T = train_all.num_targets
            what = f"{T} target{'s' if T > 1 else ''} ({', '.join(labelled.names)})"
            scaled_too = (
                " (the targets too while training; the saved model predicts in their units)"
            )
        say(
            f"data: {len(train)} train / {len(val or ())} validation rows of {train.features} "
            f"features from {args.data}, {what}; features standardised with the training "
            f"rows' mean and standard deviation{scaled_too}"
        )
        say(f"task: {labelled.task.task} ({labelled.task.reason})")


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
            f", early stopping (patience {early.patience}, check "
            + (f"every {early.check_every} steps)" if early.check_every else "every epoch)")
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
            frame.show(_live_plots(history, _task(args) == "regression"))

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


def _say_history(
    history: ann.History,
    *,
    show_lr: bool,
    validated: bool,
    regression: bool = False,
    condensed: bool = False,
) -> None:
    """The table of the validation checks (with the rate when a schedule changes it; a
    regression's without accuracies, its losses those of the standardised targets; with
    ``condensed``, a table's run, which checks every epoch, some of them: ``_rows_shown``)
    and why training stopped."""
    say(
        f"{'step':>7} {'epoch':>6} {'train loss':>10} "
        + ("" if regression else f"{'train acc':>9} ")
        + f"{'val loss':>9} "
        + ("" if regression else f"{'val acc':>8} ")
        + f"{'seconds':>8}"
        + (f" {'lr':>10}" if show_lr else "")
    )
    rows = history.rows()
    shown = _rows_shown(history) if condensed else list(range(len(rows)))
    for i in shown:
        row = rows[i]
        say(
            f"{row['steps']:>7} {row['epochs']:>6.2f} {row['train_loss']:>10.4f} "
            + ("" if regression else f"{row['train_accuracy']:>9.4f} ")
            + f"{row['val_loss']:>9.4f} "
            + ("" if regression else f"{row['val_accuracy']:>8.4f} ")
            + f"{row['seconds']:>8.2f}"
            + (f" {row['lr']:>10.4g}" if show_lr else "")
        )
    if len(shown) < len(rows):
        say(
            f"({len(shown)} of {len(rows)} checks shown: every {_ordinal(shown[1] - shown[0])}, "
            f"the best and the last; --log FILE keeps them all)"
        )
    if regression:
        say(
            "(the losses are those of the standardised targets: a mean squared error of 1 is "
            "as good as always answering their mean)"
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


def _ordinal(k: int) -> str:
    """'2nd', '3rd', '11th', '21st'."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _rows_shown(history: ann.History, most: int = TABLE_ROWS) -> list[int]:
    """The checks the table shows: all of them when there are at most ``most``, else every
    k-th from the first (about ``most`` - 2 of them), the best and the last."""
    n = len(history.steps)
    if n <= most:
        return list(range(n))
    every = math.ceil(n / (most - 2))
    chosen = set(range(0, n, every)) | {n - 1}
    if history.best_step in history.steps:
        chosen.add(history.steps.index(history.best_step))
    return sorted(chosen)


def _say_result(
    args: argparse.Namespace,
    net: ann.Network,
    history: ann.History,
    checkpoint: Checkpoint | None,
    train: ann.Dataset,
    val: ann.Dataset | None,
    test: ann.Dataset | None,
    elapsed: float,
) -> tuple[str, ann.Dataset, dict[str, Any]]:
    """Loss and accuracy (a regression: MSE, MAE, R²) on the test split (a CSV file has
    none: on the validation rows, or with no validation split either, on the training rows);
    of the saved model too when it is not the one in memory. Returns (what the rows are, the
    rows, the last result)."""
    report = "test"
    if test is None and val is not None:  # a CSV file has no test split: the validation rows
        test, report = val, "validation"
    elif test is None:  # nor, with --val-fraction 0, a validation split: the training rows
        test, report = train, "training rows (no validation or test split)"
    result = net.evaluate(test)
    names = args.labelled.names if getattr(args, "labelled", None) is not None else []
    in_memory = history.best_step if history.restored_best else history.stopped_step
    if checkpoint and checkpoint.step is not None and checkpoint.step != in_memory:
        # the weights in memory are the last ones (--patience 0), the file has the best
        say(
            f"{report} (final weights, step {in_memory}): {score_text(result, len(test))}"
            f"; trained in {elapsed:.2f} s"
        )
        say_per_output(result, names)
        result = ann.Network.load(args.save).evaluate(test)
        say(
            f"{report} (saved model, step {checkpoint.step}, best validation loss): "
            f"{score_text(result, len(test))}"
        )
    else:
        say(f"{report}: {score_text(result, len(test))}; trained in {elapsed:.2f} s")
    say_per_output(result, names)
    if checkpoint and checkpoint.error is None:
        say(f"model saved to {args.save}")
    return report, test, result


def _warn_if_not_learnt(
    args: argparse.Namespace,
    net: ann.Network,
    history: ann.History,
    train: ann.Dataset,
    reported: tuple[str, ann.Dataset, dict[str, Any]],
    *,
    validated: bool,
) -> None:
    """One warning when the network ends no better than a trivial answer: the reported
    accuracy within 0.02 of (or below) always answering the training rows' most frequent
    class, or the best loss no better than guessing uniformly (then the lr is likely too
    large); for a regression, a mean squared error within 2 % of (or above) always answering
    the training rows' mean."""
    if net.regression:
        _warn_regression(net, train, reported)
        return
    chance = math.log(net.sizes[-1])
    which, lowest = "validation", history.best_val_loss
    if not validated:
        which = "training"
        lowest = min((x for x in history.train_loss if math.isfinite(x)), default=math.inf)
    reasons = []
    baseline = _below_baseline(net, train, reported)
    if baseline:
        reasons.append(baseline)
    if not lowest < chance:
        reasons.append(
            f"the best {which} loss {lowest:.4g} is no better than guessing uniformly "
            f"(ln {net.sizes[-1]} = {chance:.2f}); the lr {args.lr:g} is probably too large"
        )
    elif is_csv(args.data) and args.preset not in TABLE_PRESETS:
        reasons.append(f"--preset {TABLE_PRESETS[0]} is the recipe for tables")
    elif is_csv(args.data):
        reasons.append("check that the features say something about the label")
    if baseline:
        note("warning: training did not learn: " + "; ".join(reasons))
    elif not lowest < chance:
        note("warning: training did not learn: " + reasons[0])


def _warn_regression(
    net: ann.Network, train: ann.Dataset, reported: tuple[str, ann.Dataset, dict[str, Any]]
) -> None:
    report, rows, result = reported
    if train.targets is None or rows.targets is None:
        return
    baselines = mean_baseline(train, rows)
    errors = [p["mse"] for p in result["per_output"]]
    # 1 - MSE / baseline MSE, per output and averaged: R² against the training rows' mean
    gain = sum(1 - e / b if b > 0 else 0.0 for e, b in zip(errors, baselines)) / len(errors)
    if gain > BASELINE_MARGIN:
        return
    mse, base = sum(errors) / len(errors), sum(baselines) / len(baselines)
    note(
        f"warning: training did not learn: the {report} mean squared error {mse:.6g} is "
        f"{'above' if gain < 0 else 'no better than'} that of always answering the training "
        f"rows' mean ({base:.6g}); check that the features say something about the target"
    )


def score_text(result: dict[str, Any], rows: int) -> str:
    """The scores of an evaluation in a line: loss and accuracy (with the count right), or a
    regression's mean squared error, mean absolute error and R² (averaged over the outputs)."""
    if "r2" in result:
        return (
            f"MSE {result['mse']:.6g}, MAE {result['mae']:.6g}, R² {result['r2']:.4f} ({rows} rows)"
        )
    right = round(result["accuracy"] * rows)
    return f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} ({right}/{rows})"


def say_per_output(result: dict[str, Any], names: Sequence[str]) -> None:
    """A regression of several outputs: the scores of each, one line each."""
    per_output = result.get("per_output") or []
    if len(per_output) < 2:
        return
    for k, scores in enumerate(per_output):
        name = names[k] if k < len(names) else f"output {k}"
        say(f"  {name}: MSE {scores['mse']:.6g}, MAE {scores['mae']:.6g}, R² {scores['r2']:.4f}")


def _below_baseline(
    net: ann.Network, train: ann.Dataset, reported: tuple[str, ann.Dataset, dict[str, Any]]
) -> str:
    """What is wrong when the reported accuracy is within 0.02 of, or below, that of always
    answering the most frequent class of the training rows; else ''."""
    report, rows, result = reported
    if "accuracy" not in result or not train.has_labels:
        return ""
    common, baseline = majority_accuracy(train, rows)
    accuracy = result["accuracy"]
    if accuracy > baseline + BASELINE_MARGIN:
        return ""
    names = net.classes or train.classes
    name = names[common] if names is not None and common < len(names) else str(common)
    return (
        f"the {report} accuracy {accuracy:.4f} is "
        f"{'below' if accuracy < baseline else 'no better than'} that of always answering "
        f"the most frequent class, {name!r} ({baseline:.4f})"
    )


# ---- plots and files -------------------------------------------------------------------------


def _history_plots(
    history: ann.History,
    *,
    width: int | None = None,
    charset: str = "auto",
    heights: Sequence[int] = (12, 10),
    regression: bool = False,
) -> str:
    """The loss plot and (not for a regression, which has no accuracy) the accuracy plot."""
    steps = history.steps
    loss = line_plot(
        {"train loss": (steps, history.train_loss), "validation loss": (steps, history.val_loss)},
        width=width,
        height=heights[0],
        title="loss",
        x_label="step",
        charset=charset,
    )
    if regression:
        return loss
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


def _live_plots(history: ann.History, regression: bool = False) -> Callable[[int, int], str]:
    """render(columns, rows) for a LiveFrame: the plots, shorter when the terminal is."""

    def render(columns: int, rows: int) -> str:
        for heights in ((12, 10), (8, 6), (5, 4), (3, 3)):
            text = _history_plots(
                history, width=max(columns, MIN_WIDTH), heights=heights, regression=regression
            )
            if text.count("\n") < rows:
                break
        return text

    return render


def _write_plot(path: str, history: ann.History, regression: bool = False) -> None:
    """--plot-file: the loss and accuracy plots (a regression: the loss) as an SVG or PNG
    image (by the name's suffix), else as text; atomically (see ann._files.atomic_write)."""
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
        data = render(panels[:1] if regression else panels, kind)
    else:
        text = _history_plots(history, width=100, charset="unicode", regression=regression)
        data = (text + "\n").encode("utf-8")
    atomic_write(path, write_chunks([data]), DataError)
