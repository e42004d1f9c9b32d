"""The ``ann`` command line: train, evaluate, predict, experiment, gradcheck, trace.

Anything a user can get wrong ends in one line on stderr and a non-zero exit status, never a
traceback; Ctrl-C during training stops after the current mini-batch, keeps the best weights
(saving them with --save) and exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Literal,
    NoReturn,
    overload,
)

from ._errors import AnnError, DataError, TrainingError

if TYPE_CHECKING:  # for annotations only: the commands import these when they run
    from ._data import Dataset
    from ._mnist import MnistSource
    from ._network import History, Network

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# `ann experiment --quick`, measured on full MNIST with the C core on 2 cores (README says the same)
QUICK_WORDS = "16 runs of up to 5 epochs, 20-30 s on full MNIST with the C core"


class UsageError(Exception):
    """A bad command-line value (exit status 2)."""


# ---- argument types ------------------------------------------------------------------------


def _hidden_sizes(text: str) -> list[int]:
    if text.strip() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive ints like 20,7,5, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _number(
    kind: type, *, low: float = 0.0, inclusive: bool = False, high: float = math.inf
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        ok = (value >= low if inclusive else value > low) and value < high and value == value
        if not ok:
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            extra = f" and < {high:g}" if high != math.inf else ""
            raise argparse.ArgumentTypeError(
                f"must be a finite number {bound}{extra}, got {text!r}"
            )
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="folder with the four MNIST IDX files (raw or .gz), or 'sample'; "
        "default: $ANN_DATA, else ~/.cache/ann (downloaded when missing, "
        "the built-in sample when that fails)",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download MNIST (use local files or the built-in sample)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ann", description="Train and study multilayer perceptrons on MNIST.")
    parser.add_argument(
        "-V",
        "--version",
        action=_Version,
        nargs=0,
        help="print the version, the backend and the kernel, and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network on MNIST and report test accuracy")
    _data_option(train)
    train.add_argument(
        "--layers",
        type=_hidden_sizes,
        default=None,
        metavar="SIZES",
        help="hidden layer sizes, comma-separated (default: 20,7,5)",
    )
    train.add_argument(
        "--epochs",
        type=_number(int),
        default=60,
        help="most epochs to train (default 60; early stopping usually ends training sooner)",
    )
    train.add_argument(
        "--batch-size", type=_number(int), default=64, help="images per mini-batch (default 64)"
    )
    train.add_argument(
        "--lr", type=_number(float), default=0.009, help="learning rate (default 0.009)"
    )
    train.add_argument(
        "--optimizer",
        choices=["sgd", "momentum", "nesterov", "adam"],
        default="sgd",
        help="update rule (default sgd)",
    )
    train.add_argument(
        "--momentum",
        type=_number(float, inclusive=True, high=1),
        default=0.9,
        help="momentum of --optimizer momentum/nesterov (default 0.9)",
    )
    train.add_argument(
        "--l2",
        type=_number(float, inclusive=True),
        default=0.0,
        help="L2 penalty (l2/2) * sum(W^2) on the weights (default 0: none)",
    )
    train.add_argument("--batchnorm", action="store_true", help="Linear -> BN -> ReLU")
    train.add_argument(
        "--dropout",
        type=_number(float, inclusive=True, high=1),
        default=None,
        help="drop probability after each hidden ReLU (default 0, or the resumed model's)",
    )
    train.add_argument(
        "--patience",
        type=_number(int, inclusive=True),
        default=5,
        help="early stopping, as the seed study: stop after this many validation "
        "checks without improvement, keeping the best weights (default 5; "
        "0 turns it off)",
    )
    train.add_argument(
        "--min-delta",
        type=_number(float, inclusive=True),
        default=0.0,
        help="early stopping: smallest validation-loss drop that counts (default 0)",
    )
    train.add_argument(
        "--check-every",
        type=_number(int),
        default=None,
        help="validation check every N steps (default 100 with early "
        "stopping, else once per epoch)",
    )
    train.add_argument(
        "--lr-decay",
        type=_number(float, high=1),
        default=None,
        metavar="FACTOR",
        help="multiply lr by FACTOR after 3 checks without improvement (default: no decay)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights, the split and the batch order (default 0)",
    )
    train.add_argument(
        "--val-fraction",
        type=_number(float, high=1),
        default=0.2,
        help="share of the training images held out for validation (default 0.2)",
    )
    train.add_argument("--save", metavar="PATH", help="keep the best model in PATH (safetensors)")
    train.add_argument("--resume", metavar="PATH", help="continue training the model in PATH")
    train.add_argument("--log", metavar="FILE", help="write the history (.csv, else JSON lines)")
    train.add_argument("--plot-file", metavar="FILE", help="write the loss/accuracy plots here")
    train.add_argument(
        "--threads",
        type=_number(int, inclusive=True),
        default=None,
        help="C kernel threads (0: one per core; at most 64; default: "
        "$ANN_NUM_THREADS, else one per core)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress output")

    evaluate = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix of a model")
    evaluate.add_argument("model", metavar="MODEL")
    _data_option(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = sub.add_parser("predict", help="classify images (IDX files, PNG or PGM drawings)")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("files", metavar="FILE", nargs="+")
    predict.add_argument(
        "--invert",
        action="store_true",
        help="invert PNG/PGM images (dark ink on light paper -> MNIST style)",
    )
    predict.add_argument(
        "--raw",
        action="store_true",
        help="use PNG/PGM pixels as they are (exactly 28x28) instead of "
        "framing the digit as MNIST's are: cropped, fitted to 20x20, "
        "centred by its centre of mass",
    )
    predict.add_argument("--json", action="store_true", help="print one JSON object per image")

    experiment = sub.add_parser("experiment", help="the seed study's grid: batch size x BN x L2")
    _data_option(experiment)
    experiment.add_argument("--quick", action="store_true", help=f"a reduced grid: {QUICK_WORDS}")
    experiment.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the weights, the split and the batch order (default 0)",
    )
    experiment.add_argument("--plot-file", metavar="FILE", help="also write the plot here")

    check = sub.add_parser("gradcheck", help="compare analytic gradients with finite differences")
    check.add_argument(
        "--layers",
        type=_hidden_sizes,
        default=[9, 7, 5],
        help="hidden sizes of the small test network (default 9,7,5)",
    )
    check.add_argument(
        "--inputs",
        type=_number(int),
        default=12,
        help="input size of the test network (default 12)",
    )
    check.add_argument(
        "--classes",
        type=_number(int),
        default=4,
        help="number of classes, its output size (default 4)",
    )
    check.add_argument(
        "--batch",
        type=_number(int),
        default=8,
        help="rows in the random batch the gradients are taken on (default 8)",
    )
    check.add_argument(
        "--batchnorm", action="store_true", help="put batch norm after every hidden layer"
    )
    check.add_argument(
        "--l2",
        type=_number(float, inclusive=True),
        default=0.0,
        help="include an L2 penalty of this strength (default 0: none)",
    )
    check.add_argument(
        "--seed", type=int, default=0, help="seed of the random network and batch (default 0)"
    )
    check.add_argument(
        "--tolerance",
        type=_number(float),
        default=None,
        help="largest relative error that passes (default 0.001)",
    )

    trace = sub.add_parser(
        "trace",
        help="print one training step of a tiny network, every "
        "matrix of it, computed by the C core",
    )
    trace.add_argument(
        "--layers",
        type=_trace_sizes,
        default=None,
        metavar="SIZES",
        help="every width, inputs and classes included, comma-separated "
        "(default 4,3,2; with --digits 784,4,10)",
    )
    trace.add_argument(
        "--batch",
        type=_number(int),
        default=2,
        help=f"rows in the batch, at most {TRACE_MAX_BATCH} (default 2)",
    )
    trace.add_argument(
        "--batchnorm",
        action="store_true",
        help="Linear -> BN -> ReLU in the hidden layers (needs --batch 2 or more)",
    )
    trace.add_argument(
        "--optimizer",
        choices=["sgd", "momentum", "nesterov", "adam"],
        default="sgd",
        help="update rule, in its first step: its state starts at zero (default sgd)",
    )
    trace.add_argument("--lr", type=_number(float), default=0.1, help="learning rate (default 0.1)")
    trace.add_argument(
        "--momentum",
        type=_number(float, inclusive=True, high=1),
        default=0.9,
        help="momentum of --optimizer momentum/nesterov (default 0.9)",
    )
    trace.add_argument(
        "--l2",
        type=_number(float, inclusive=True),
        default=0.0,
        help="L2 penalty (l2/2) * sum(W^2) on the weights (default 0: none)",
    )
    trace.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the weights and, without --digits, of the pixels and labels (default 0)",
    )
    trace.add_argument(
        "--digits",
        action="store_true",
        help="use the first --batch real MNIST training images (a network on "
        "784 inputs: wide matrices are summarized, --json has them all)",
    )
    _data_option(trace)
    trace.add_argument("--json", action="store_true", help="print the same data as one JSON object")
    return parser


class _Version(argparse.Action):
    """--version, computed only when asked (it loads the C core to name its kernel)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(version_text())
        parser.exit(0)


def version_text() -> str:
    import platform

    from . import __version__
    from ._threads import describe_backend

    return (
        f"ann {__version__} (distribution ann-mlp; Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}; backend: {describe_backend()})"
    )


# ---- helpers -----------------------------------------------------------------------------------


def _say(text: str = "") -> None:
    print(text, flush=True)


def _note(text: str) -> None:
    print(f"ann: {text}", file=sys.stderr, flush=True)


_SKIP_DOWNLOAD = "--no-download skips this; --data DIR or ANN_DATA=DIR uses files you have"


@overload
def _load_data(
    args: argparse.Namespace, quiet: bool = ..., test_only: Literal[False] = ...
) -> tuple[MnistSource, Dataset, Dataset]: ...
@overload
def _load_data(
    args: argparse.Namespace, quiet: bool = ..., *, test_only: Literal[True]
) -> tuple[MnistSource, None, Dataset]: ...
def _load_data(
    args: argparse.Namespace, quiet: bool = False, test_only: bool = False
) -> tuple[MnistSource, Dataset | None, Dataset]:
    """(source, train, test) MNIST; with ``test_only`` train is None and only the two test
    files are looked for (or downloaded)."""
    from . import _mnist
    from ._data import _read_pair, _read_part

    keys = ("test_images", "test_labels") if test_only else tuple(_mnist.FILES)
    source = _mnist.find_mnist(
        args.data,
        download=not args.no_download,
        progress=not quiet,
        keys=keys,
        skip_hint=_SKIP_DOWNLOAD,
    )
    if source.note and source.kind != "folder":  # a download, or the sample fallback
        _note(source.note)
    if test_only:
        return source, None, _read_part(source.paths, "test")
    train, test = _read_pair(source.paths)
    return source, train, test


def _source_where(source: MnistSource) -> str:
    return ", ".join(sorted({str(p.parent) for p in source.paths.values()}))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _history_plots(
    history: History,
    *,
    width: int | None = None,
    charset: str = "auto",
    heights: Sequence[int] = (12, 10),
) -> str:
    from ._plot import line_plot

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


def _live_plots(history: History) -> Callable[[int, int], str]:
    """render(columns, rows) for a LiveFrame: the plots, shorter when the terminal is."""
    from ._plot import MIN_WIDTH

    def render(columns: int, rows: int) -> str:
        for heights in ((12, 10), (8, 6), (5, 4), (3, 3)):
            text = _history_plots(history, width=max(columns, MIN_WIDTH), heights=heights)
            if text.count("\n") < rows:
                break
        return text

    return render


def _check_destination(option: str, path: str | None) -> None:
    """Fail now, with the reason, if a file cannot be written at ``path`` later."""
    import os

    if path is None:
        return
    if not path.strip():
        raise UsageError(f"ann train: {option} needs a file name, got {path!r}")
    from ._files import resolve_target

    if os.path.isdir(path):
        raise DataError(f"{option} {path}: is a folder, not a file")
    try:  # what the save itself would refuse: a link loop, a device, a read-only file
        target, _ = resolve_target(path, DataError)
    except DataError as exc:
        raise DataError(f"{option} {exc}") from None
    folder = os.path.dirname(target)  # a link is written through to its target
    if not os.path.isdir(folder):
        what = "does not exist" if not os.path.exists(folder) else "is not a folder"
        raise DataError(f"{option} {path}: folder {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in folder {folder} (permission denied)")


def _write_text(path: str, text: str) -> None:
    """Write a small text file atomically (see ann._files.atomic_write)."""
    from ._files import atomic_write, write_chunks

    atomic_write(path, write_chunks([text.encode("utf-8")]), DataError)


# ---- ann train ---------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    import ann

    from ._network import EarlyStopping, ReduceLROnPlateau

    for option, path in (
        ("--save", args.save),
        ("--log", args.log),
        ("--plot-file", args.plot_file),
    ):
        _check_destination(option, path)  # before training, not after it
    counters = (0, 0.0)
    if args.resume:
        net = ann.Network.load(args.resume)
        counters = _check_resume(args, net)
    source, train_all, test = _load_data(args, args.quiet)
    train, val = train_all.split(args.val_fraction, seed=args.seed)
    if not args.resume:
        sizes = [train.features] + (args.layers if args.layers is not None else [20, 7, 5]) + [10]
        net = ann.Network(
            sizes, batchnorm=args.batchnorm, dropout=args.dropout or 0.0, seed=args.seed
        )
    elif net.sizes[0] != train.features:
        raise DataError(
            f"{args.resume}: the model takes {net.sizes[0]} inputs but the images "
            f"have {train.features} pixels"
        )
    early = None
    if args.patience:
        early = EarlyStopping(
            patience=args.patience, min_delta=args.min_delta, check_every=args.check_every or 100
        )
    decay = ReduceLROnPlateau(factor=args.lr_decay) if args.lr_decay else None
    _say(
        f"data: {len(train)} train / {len(val)} validation / {len(test)} test images "
        f"from {source.kind} ({_source_where(source)})"
    )
    extras = (" + batch norm" if net.batchnorm else "") + (
        f" + dropout {net.dropout:g}" if net.dropout else ""
    )
    _say(
        f"network: {'-'.join(map(str, net.sizes))}{extras} ({net.num_params} parameters, "
        f"{net.backend} backend, {ann.get_num_threads()} thread(s))"
        + (f", resumed from {args.resume}" if args.resume else "")
    )
    _say(
        f"training: {args.optimizer} lr {args.lr:g}, batch {args.batch_size}, up to "
        f"{args.epochs} epochs"
        + (f", L2 {args.l2:g}" if args.l2 else "")
        + (
            f", early stopping (patience {early.patience}, check every {early.check_every} steps)"
            if early
            else ""
        )
    )

    live = not args.quiet and _isatty(sys.stderr)
    from ._progress import LiveFrame

    frame = LiveFrame(sys.stderr) if live else None  # the plots, redrawn in place
    checkpoint = _Checkpoint(args.save) if args.save else None

    def save(history: History, index: int = -1) -> None:
        """Checkpoint the weights in memory, which are those of check ``index`` of history."""
        step = history.steps[index] if history.steps else counters[0]
        assert checkpoint is not None  # save runs only with --save
        checkpoint.save(net, _train_metadata(args, history, counters, index), step)

    def on_check(history: History) -> None:
        if checkpoint and history.best_step == history.steps[-1]:
            save(history)
        if frame and len(history.steps) >= 2:
            frame.show(_live_plots(history))

    if frame:  # progress, notes and warnings go through it, above the plots
        sys.stderr = frame
    started = time.perf_counter()
    try:
        history = net.fit(
            train,
            val,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            l2=args.l2,
            optimizer=args.optimizer,
            momentum=args.momentum,
            early_stopping=early,
            lr_decay=decay,
            check_every=args.check_every,
            progress=not args.quiet,
            seed=args.seed,
            callback=on_check,
            initial_step=counters[0],
            initial_epoch=counters[1],
        )
    except TrainingError as exc:  # diverged or out of memory: keep the best model
        failed = getattr(exc, "history", None)
        if failed is None or not args.save:
            raise
        raise TrainingError(f"{exc} {_kept_on_failure(args, failed, checkpoint, save)}") from None
    finally:
        if frame:  # the last plots stay on screen, above the results (or the error)
            frame.close()
            sys.stderr = frame.stream
    elapsed = time.perf_counter() - started
    if checkpoint:
        checkpoint.finish(net, _train_metadata(args, history, counters))

    _say(
        f"{'step':>7} {'epoch':>6} {'train loss':>10} {'train acc':>9} {'val loss':>9} "
        f"{'val acc':>8} {'seconds':>8}"
    )
    for row in history.rows():
        _say(
            f"{row['steps']:>7} {row['epochs']:>6.2f} {row['train_loss']:>10.4f} "
            f"{row['train_accuracy']:>9.4f} {row['val_loss']:>9.4f} {row['val_accuracy']:>8.4f} "
            f"{row['seconds']:>8.2f}"
        )
    _say(
        f"stopped: {history.stop_reason} after {history.stopped_step} steps; best validation "
        f"loss {history.best_val_loss:.4f} at step {history.best_step}"
        + (" (weights restored)" if history.restored_best else "")
    )
    if not args.quiet and not live:
        _say(_history_plots(history))
    if args.plot_file:
        _write_text(args.plot_file, _history_plots(history, width=100, charset="unicode") + "\n")
    if args.log:
        if args.log.endswith(".csv"):
            history.to_csv(args.log)
        else:
            history.to_jsonl(args.log)
    result = net.evaluate(test)
    in_memory = history.best_step if history.restored_best else history.stopped_step
    if checkpoint and checkpoint.step is not None and checkpoint.step != in_memory:
        # the weights in memory are the last ones (--patience 0), the file has the best
        _say(
            f"test (final weights, step {in_memory}): loss {result['loss']:.4f}, accuracy "
            f"{result['accuracy']:.4f} ({round(result['accuracy'] * len(test))}/{len(test)})"
            f"; trained in {elapsed:.2f} s"
        )
        result = ann.Network.load(args.save).evaluate(test)
        _say(
            f"test (saved model, step {checkpoint.step}, best validation loss): loss "
            f"{result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)})"
        )
    else:
        _say(
            f"test: loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)}); trained in {elapsed:.2f} s"
        )
    if checkpoint and checkpoint.error is None:
        _say(f"model saved to {args.save}")
    chance = math.log(net.sizes[-1])
    if not history.best_val_loss < chance:
        _note(
            f"warning: training did not learn: the best validation loss "
            f"{history.best_val_loss:.4g} is no better than guessing uniformly "
            f"(ln {net.sizes[-1]} = {chance:.2f}); the lr {args.lr:g} is probably too large"
        )
    if checkpoint and checkpoint.error is not None:
        print(f"ann: error: the model was not saved: {checkpoint.error}", file=sys.stderr)
        return EXIT_ERROR
    if history.stop_reason == "interrupted":
        _note(
            "interrupted: stopped after the current mini-batch"
            + (f"; best model saved to {args.save}" if args.save else "")
        )
        return EXIT_INTERRUPTED
    return 0


class _Checkpoint:
    """``--save`` during training: the best model is written at each check that improves it.

    A write that fails (a full disk, a quota) does not end the run: one warning, training goes
    on, the file keeps the last model written, and the model that could not be written is
    kept in memory. ``finish`` writes it (or, if no check ever saved, the final weights) once
    more at the end; if that fails too, ``error`` says why and the command fails."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.step: int | None = None  # step of the model in the file
        # (params, state, metadata, step) not written yet
        self.pending: tuple[Any, Any, dict[str, str], int] | None = None
        self.error: str | None = None

    def write(self, net: Network, metadata: dict[str, str]) -> None:
        """One save of ``net`` with its optimizer state (so --resume continues it)."""
        try:
            net.save(self.path, metadata=metadata, optimizer_state=True)
        except MemoryError as exc:
            raise MemoryError(
                f"saving the model to {self.path}" + (f": {exc}" if str(exc) else "")
            ) from None

    def save(self, net: Network, metadata: dict[str, str], step: int) -> None:
        try:
            self.write(net, metadata)
        except (AnnError, OSError) as exc:
            if self.pending is None:  # once per run of failures, not at every check
                kept = (
                    f"the file keeps the model of step {self.step}"
                    if self.step is not None
                    else "nothing saved yet"
                )
                _note(
                    f"warning: could not save the model of step {step}: {exc}; {kept}; "
                    f"training goes on and the save is retried"
                )
            self.pending = (net.get_params(), net.get_state(), metadata, step)
            return
        if self.pending is not None:
            _note(f"saved the model of step {step} to {self.path}")
        self.step, self.pending = step, None

    def finish(self, net: Network, metadata: dict[str, str]) -> None:
        """After training: write what is not on disk yet; sets ``error`` if that fails."""
        if self.pending is None and self.step is not None:
            return
        if self.pending is not None:  # the best model, which the last write lost
            params, state, metadata, _ = self.pending
            if (params, state) != (net.get_params(), net.get_state()):
                import ann

                copy = ann.Network(
                    net.sizes, batchnorm=net.batchnorm, dropout=net.dropout, backend=net.backend
                )
                copy.set_params(params)
                copy.set_state(state)
                net = copy
        # else no validation check has run (Ctrl-C in the first steps): keep what there is
        try:
            self.write(net, metadata)
        except (AnnError, OSError) as exc:
            self.error = f"{exc}" + (
                f" (the file keeps the model of step {self.step})" if self.step is not None else ""
            )
            return
        self.pending = None


def _train_metadata(
    args: argparse.Namespace,
    history: History,
    counters: tuple[int, float] = (0, 0.0),
    index: int = -1,
) -> dict[str, str]:
    return {
        "optimizer": args.optimizer,
        "lr": repr(args.lr),
        "batch_size": str(args.batch_size),
        "l2": repr(args.l2),
        "seed": str(args.seed),
        "val_fraction": repr(args.val_fraction),
        "best_step": str(history.best_step),
        "best_val_loss": repr(history.best_val_loss),
        # the counters of these weights, which --resume continues from
        "steps": str(history.steps[index] if history.steps else counters[0]),
        "epochs": repr(history.epochs[index] if history.epochs else counters[1]),
    }


def _check_resume(args: argparse.Namespace, net: Network) -> tuple[int, float]:
    """Reject the flags that contradict the model being resumed (its architecture comes from
    the file), explain the ones that change how it trains, and return the (steps, epochs)
    counters it was saved at."""
    from ._errors import ModelFileError

    meta = getattr(net, "metadata", {})
    hidden = ",".join(map(str, net.sizes[1:-1]))
    if args.layers is not None and net.sizes[1:-1] != args.layers:
        raise UsageError(
            f"ann train: --layers {','.join(map(str, args.layers))} does not "
            f"match the resumed model's hidden sizes {hidden}"
        )
    if args.batchnorm and not net.batchnorm:
        raise UsageError(
            f"ann train: --batchnorm, but the resumed model {args.resume} has no "
            f"batch norm (resuming cannot add layers; train a new model instead)"
        )
    if args.dropout is not None and args.dropout != net.dropout:
        raise UsageError(
            f"ann train: --dropout {args.dropout:g} does not match the resumed "
            f"model's dropout {net.dropout:g} (leave --dropout out to keep it)"
        )
    state = net.optimizer_state()
    if state is not None and state["optimizer"] != args.optimizer:
        _note(
            f"{args.resume} holds the state of the {state['optimizer']} optimizer it was "
            f"trained with; this run uses --optimizer {args.optimizer}, so that state is "
            f"not used (pass --optimizer {state['optimizer']} to continue it)"
        )
    if (
        "seed" in meta
        and meta["seed"] != str(args.seed)
        or "val_fraction" in meta
        and meta["val_fraction"] != repr(args.val_fraction)
    ):
        _note(
            f"{args.resume} was trained with --seed {meta.get('seed', '?')} --val-fraction "
            f"{meta.get('val_fraction', '0.2')}: with other values the validation images "
            f"differ and may include images it was trained on"
        )
    try:
        steps = int(meta.get("steps", "0"))
        epochs = float(meta.get("epochs", "0"))
        if steps < 0 or not 0 <= epochs < math.inf:
            raise ValueError
    except ValueError:
        raise ModelFileError(
            f"metadata steps {meta.get('steps')!r} / epochs {meta.get('epochs')!r} are not counts",
            path=args.resume,
        ) from None
    return steps, epochs


def _kept_on_failure(
    args: argparse.Namespace,
    history: History,
    checkpoint: _Checkpoint | None,
    save: Callable[[History, int], None],
) -> str:
    """After training failed (diverged, out of memory) with --save: make sure the best model
    is in the file when the network still holds it, and say what the file holds."""
    assert checkpoint is not None  # called only with --save
    best = history.best_step
    holds_best = best is not None and (history.restored_best or best == history.stopped_step)
    if best is not None and checkpoint.step != best and holds_best and best in history.steps:
        try:
            save(history, history.steps.index(best))
        except (MemoryError, AnnError, OSError) as exc:
            return f"The best model (step {best}) could not be saved: {exc or 'out of memory'}."
        if checkpoint.step != best:
            return f"The best model (step {best}) could not be saved (see the warning above)."
    if checkpoint.step is None:
        return (
            f"Nothing was saved to {args.save}: no validation check had passed before "
            f"training failed (a file already there was left as it was)."
        )
    if checkpoint.step == best:
        return (
            f"The best model (step {best}, validation loss {history.best_val_loss:.4f}) "
            f"is in {args.save}."
        )
    return f"{args.save} holds the model of step {checkpoint.step}."


# ---- ann evaluate / predict --------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    import ann

    from ._plot import confusion_matrix, format_confusion

    net = ann.Network.load(args.model)
    source, _, test = _load_data(args, quiet=args.json, test_only=True)
    if test.features != net.sizes[0]:
        raise DataError(
            f"{args.model}: the model takes {net.sizes[0]} inputs but the test "
            f"images have {test.features} pixels"
        )
    result = net.evaluate(test)
    predicted = net.predict(test)
    matrix = confusion_matrix(list(test.labels), predicted, net.sizes[-1])
    per_class = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(matrix)]
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "data": _source_where(source),
                    "images": len(test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    "confusion_matrix": matrix,
                    "per_class_accuracy": per_class,
                }
            )
        )
        return 0
    _say(
        f"model: {args.model} ({'-'.join(map(str, net.sizes))}"
        f"{', batch norm' if net.batchnorm else ''})"
    )
    _say(f"data: {len(test)} test images from {source.kind} ({_source_where(source)})")
    _say(f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f}")
    _say("")
    _say(format_confusion(matrix))
    return 0


def _predict_inputs(args: argparse.Namespace, features: int) -> Iterator[tuple[str, Any]]:
    """(name, pixels) for every image in the files given."""
    from . import _idx
    from ._images import looks_inverted, mnist_preprocess, read_gray_image, read_image

    for path in args.files:
        with open(path, "rb") as f:  # a missing file fails here, with its name
            head = f.read(4)
        is_idx = len(head) == 4 and head[:2] == b"\0\0" or head[:2] == b"\x1f\x8b"
        if is_idx:
            images = _idx.read_images(path)
            size = images.rows * images.cols
            if size != features:
                raise DataError(
                    f"images are {images.rows}x{images.cols} but the model takes {features} pixels",
                    path=path,
                )
            for i in range(images.count):
                yield f"{path}[{i}]", images.data[i * size : (i + 1) * size]
        else:
            side = int(round(math.sqrt(features)))
            if side * side != features:
                raise DataError(
                    f"the model takes {features} inputs, which is not a square "
                    f"image, so it cannot read PNG or PGM images; give an IDX "
                    f"file of {features}-pixel images",
                    path=path,
                )
            if args.raw:
                pixels = read_image(path, expect=(side, side))
                width = height = side
            else:  # any size: framed as MNIST's digits below
                width, height, pixels = read_gray_image(path)
            if args.invert:
                pixels = bytes(255 - v for v in pixels)
            elif looks_inverted(pixels, width=width):
                _note(
                    f"{path}: looks like dark ink on a light background; MNIST digits are "
                    f"light on dark (try --invert)"
                )
            if not args.raw:
                pixels = mnist_preprocess(pixels, width, height, size=side, path=path)
            yield path, pixels


def _float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32: all the precision the network
    computed, without the digits of its float64 widening (0.7579806, not 0.7579805850982666)."""
    import struct

    exact = struct.pack("<f", value)
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == exact:
            return short
    return value


def cmd_predict(args: argparse.Namespace) -> int:
    import ann

    net = ann.Network.load(args.model)
    inputs = list(_predict_inputs(args, net.sizes[0]))
    for name, pixels in inputs:  # each image is one row of the model's input, no more
        if len(pixels) != net.sizes[0]:
            raise DataError(
                f"{name}: image has {len(pixels)} pixels but the model takes {net.sizes[0]} inputs"
            )
    probs = net.predict_proba(b"".join(pixels for _, pixels in inputs))
    if len(probs) != len(inputs):
        raise AnnError(f"internal error: {len(inputs)} images gave {len(probs)} predictions")
    for (name, _), p in zip(inputs, probs):
        best = max(range(len(p)), key=p.__getitem__)
        if args.json:
            print(
                json.dumps(
                    {
                        "file": name,
                        "class": best,
                        "probability": _float32(p[best]),
                        "probabilities": [_float32(v) for v in p],
                    }
                )
            )
        else:
            _say(f"{name}: {best} (p = {p[best]:.3f})")
    return 0


# ---- ann experiment ----------------------------------------------------------------------------


def cmd_experiment(args: argparse.Namespace) -> int:
    from ._experiment import run_experiment

    _, train_all, test = _load_data(args)
    return run_experiment(
        train_all, test, quick=args.quick, seed=args.seed, plot_file=args.plot_file, say=_say
    )


# ---- ann gradcheck -----------------------------------------------------------------------------


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from ._gradcheck import TOLERANCE, gradcheck

    tolerance = args.tolerance or TOLERANCE
    sizes = [args.inputs] + args.layers + [args.classes]
    report = gradcheck(
        sizes, batch=args.batch, seed=args.seed, batchnorm=args.batchnorm, l2=args.l2
    )
    _say(
        f"gradient check of a {'-'.join(map(str, sizes))} network"
        f"{' with batch norm' if args.batchnorm else ''}, batch {args.batch}"
        f"{f', L2 {args.l2:g}' if args.l2 else ''}: worst relative error per layer "
        f"(tolerance {tolerance:g})"
    )
    failed = False
    for row in report:
        errors = {k: row[k] for k in ("weights_error", "biases_error", "bn_error") if k in row}
        worst = max(errors.values())
        dead = row["max_abs_grad"] == 0.0
        ok = worst <= tolerance and not dead
        failed |= not ok
        parts = "  ".join(f"{k.split('_')[0]} {v:.2e}" for k, v in errors.items())
        _say(
            f"  layer {row['layer']}: {parts}  largest |grad| {row['max_abs_grad']:.2e}  "
            f"{'ok' if ok else ('FAIL (all gradients zero)' if dead else 'FAIL')}"
        )
    _say("gradcheck: " + ("FAILED" if failed else "passed"))
    return EXIT_ERROR if failed else 0


# ---- ann trace ---------------------------------------------------------------------------------

TRACE_MAX_BATCH = 64  # every row is printed
TRACE_MAX_WIDTH = 1024  # the float64 check of each step runs in pure Python
TRACE_PIXELS = (0, 51, 102, 153, 204, 255)  # / 255 = 0, 0.2, ..., 1: inputs easy to check


def _trace_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive ints like 4,3,2, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(
            f"needs at least two sizes (inputs and classes), got {text!r}"
        )
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def cmd_trace(args: argparse.Namespace) -> int:
    import random

    import ann

    from ._trace import format_trace, to_json

    sizes = args.layers or ([784, 4, 10] if args.digits else [4, 3, 2])
    hidden = len(sizes) > 2
    if args.batch > TRACE_MAX_BATCH:
        raise UsageError(
            f"ann trace: --batch {args.batch}: a trace prints every row, so at "
            f"most {TRACE_MAX_BATCH}"
        )
    wide = [s for s in (sizes[1:] if args.digits else sizes) if s > TRACE_MAX_WIDTH]
    if wide:
        raise UsageError(
            f"ann trace: --layers: width {wide[0]} is more than a trace checks in "
            f"reasonable time (at most {TRACE_MAX_WIDTH})"
        )
    if args.batchnorm and not hidden:
        raise UsageError("ann trace: --batchnorm needs a hidden layer (e.g. --layers 4,3,2)")
    if args.batchnorm and args.batch < 2:
        raise UsageError(
            "ann trace: --batchnorm needs --batch 2 or more (batch norm cannot "
            "normalize one row: its variance is 0)"
        )
    if args.digits and sizes[-1] < 10:
        raise UsageError(
            f"ann trace: --digits needs 10 outputs (the digits 0-9), but --layers "
            f"ends in {sizes[-1]}"
        )
    net = ann.Network(sizes, batchnorm=args.batchnorm, seed=args.seed)
    options = dict(lr=args.lr, optimizer=args.optimizer, momentum=args.momentum, l2=args.l2)
    if args.digits:
        source, train, _ = _load_data(args, quiet=args.json)
        if train.features != sizes[0]:
            raise UsageError(
                f"ann trace: --digits: the images have {train.features} pixels, "
                f"so --layers must start with {train.features}, not {sizes[0]}"
            )
        if args.batch > len(train):
            raise DataError(
                f"--batch {args.batch}: the training set of {source.kind} "
                f"({_source_where(source)}) has only {len(train)} images"
            )
        result = net.trace(train[: args.batch], **options)
        result["images"] = (
            f"MNIST training images 0-{args.batch - 1} from {source.kind} ({_source_where(source)})"
        )
    else:
        rng = random.Random(args.seed)
        pixels = bytes(rng.choice(TRACE_PIXELS) for _ in range(args.batch * sizes[0]))
        labels = [rng.randrange(sizes[-1]) for _ in range(args.batch)]
        result = net.trace(pixels, labels, **options)
        result["images"] = f"random pixels and labels from --seed {args.seed}"
    if args.json:
        print(json.dumps(to_json(result)))
    else:
        _say(format_trace(result))
    if not result["ok"]:
        _note("trace: a check failed (see above)")
        return EXIT_ERROR
    return 0


def _announce_backend(args: argparse.Namespace) -> None:
    """Say which backend runs and why: on stdout for the commands that report a run (unless
    --quiet), and on stderr, for every command, when it is the slow pure-Python one."""
    import warnings

    from ._backend import kernel_request_problem
    from ._threads import backend_info, describe_backend

    warnings.filterwarnings("ignore", message="ann: using the pure-Python backend")
    info = backend_info()
    problem = kernel_request_problem() if info["backend"] == "c" else None
    if problem:
        raise UsageError(f"ann: error: {problem}")
    quiet = getattr(args, "quiet", False) or args.command == "trace" and args.json
    if args.command in ("train", "experiment", "gradcheck", "trace") and not quiet:
        _say(f"backend: {describe_backend(info)}")
    elif info["backend"] == "python":
        _note(f"backend: {describe_backend(info)}")


def _apply_threads(requested: int) -> None:
    """--threads: set it, and say so when the count in force is not the one asked for."""
    from ._backend import lib
    from ._threads import set_num_threads

    used = set_num_threads(requested)
    if requested and used != requested:
        why = (
            "the pure-Python backend runs one thread"
            if lib is None
            else f"the C core runs at most {used} threads"
        )
        _note(f"--threads {requested}: {why}; using {used}")


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "experiment": cmd_experiment,
    "gradcheck": cmd_gradcheck,
    "trace": cmd_trace,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "threads", None) is not None:
            _apply_threads(args.threads)
        _announce_backend(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ann: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ann ... | head` closed the pipe: nothing left to say
        return EXIT_ERROR
    except (AnnError, ValueError, OSError, MemoryError) as exc:
        text = (
            str(exc)
            if not isinstance(exc, OSError) or not exc.filename
            else f"{exc.filename}: {exc.strerror or exc}"
        )
        print(f"ann: error: {text}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
