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


def _data_option(
    parser: argparse.ArgumentParser, dataset: str | None = "mnist", csv: bool = True
) -> None:
    from ._datasets import NAMES

    parser.add_argument(
        "--dataset",
        choices=NAMES,
        default=dataset,
        metavar="NAME",
        help=f"the IDX data set: {', '.join(NAMES)} (default "
        + (f"{dataset})" if dataset else "the one the model was trained on, else mnist)"),
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="folder with the data set's four IDX files (raw or .gz), or 'sample' (MNIST); "
        + (", or a CSV file of your own (FILE.csv: numbers, one row per example)" if csv else "")
        + "; default: $ANN_DATA, else ~/.cache/ann (downloaded when missing; for MNIST "
        "the built-in sample when that fails)",
    )
    if csv:
        _label_option(parser)
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download the data set (use local files, or for MNIST the built-in sample)",
    )


def _label_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label",
        metavar="COLUMN",
        default=None,
        help="the label column of a CSV file: its header name or its index "
        "(0-based, negative from the end; default: the last column)",
    )


def _label_column(text: str | None) -> int | str:
    """--label as load_csv takes it: an index when it is an integer, else a column name."""
    if text is None:
        return -1
    try:
        return int(text)
    except ValueError:
        return text


def _is_csv(path: str | None) -> bool:
    return path is not None and path.lower().endswith((".csv", ".tsv", ".txt"))


def _class_name(net: Network, k: int) -> str:
    return net.classes[k] if net.classes is not None else str(k)


def _augment_options(parser: argparse.ArgumentParser, default: str) -> None:
    """--augment and the ranges of ann.Augment (defaults: its own)."""
    from ._augment import MODES, Augment

    ref = Augment()
    parser.add_argument(
        "--augment",
        choices=MODES,
        default=default,
        help=f"distort each training batch: random affine, elastic, both (default {default})",
    )
    nonneg = _number(float, inclusive=True)
    for flag, value, what in (
        ("--rotate", ref.rotate, "affine: most rotation, degrees (<= 180)"),
        ("--scale", ref.scale, "affine: most relative scaling (< 1)"),
        ("--shear", ref.shear, "affine: most horizontal shear factor (<= 10)"),
        ("--shift", ref.shift, "affine: most shift in x and in y, pixels"),
        ("--elastic-alpha", ref.elastic_alpha, "elastic: strength (34 moves pixels ~2 px RMS)"),
        ("--elastic-sigma", ref.elastic_sigma, "elastic: smoothing width, pixels (<= 100)"),
    ):
        parser.add_argument(flag, type=nonneg, default=value, help=f"{what} (default {value:g})")


def _augment_text(augment: Any) -> str:
    """'rotate 12, scale 0.12, ...': the ranges of an ann.Augment, for the run's log."""
    return ", ".join(
        f"{name.replace('_', ' ')} {getattr(augment, name):g}"
        for name in ("rotate", "scale", "shear", "shift", "elastic_alpha", "elastic_sigma")
    )


def _augment_from_args(args: argparse.Namespace) -> Any:
    """The ann.Augment the flags describe, or None for --augment none."""
    from ._augment import for_mode

    try:
        return for_mode(
            args.augment,
            rotate=args.rotate,
            scale=args.scale,
            shear=args.shear,
            shift=args.shift,
            elastic_alpha=args.elastic_alpha,
            elastic_sigma=args.elastic_sigma,
        )
    except ValueError as exc:
        flag = str(exc).split(" must ")[0].replace("Augment: ", "--").replace("_", "-")
        raise UsageError(f"ann {args.command}: {flag}: {str(exc).split(': ', 1)[1]}") from None


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

    train = sub.add_parser(
        "train", help="train a network on MNIST (or a CSV file) and report its accuracy"
    )
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
        default=None,
        help="early stopping, as the seed study: stop after this many validation "
        "checks without improvement, keeping the best weights (default 5, or off with "
        "--val-fraction 0; 0 turns it off)",
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
        "--schedule",
        choices=["none", "plateau", "cosine", "onecycle"],
        default=None,
        help="learning rate per step: none (constant), plateau (multiply by --lr-decay, "
        "default 0.5, after 3 checks without improvement), cosine (from --lr down to "
        "--min-lr), onecycle (up from --lr/25 to --lr, then down to --lr/250000); "
        "default none, or plateau with --lr-decay",
    )
    train.add_argument(
        "--warmup",
        type=_number(float),
        default=None,
        metavar="EPOCHS",
        help="raise the rate linearly over the first EPOCHS epochs (may be fractional) "
        "before --schedule none/plateau/cosine takes over (default: no warm-up)",
    )
    train.add_argument(
        "--min-lr",
        type=_number(float, inclusive=True),
        default=0.0,
        help="where --schedule cosine ends (default 0)",
    )
    train.add_argument(
        "--max-norm",
        type=_number(float),
        default=None,
        metavar="C",
        help="after each update, rescale each hidden unit's incoming weights to an L2 norm "
        "of at most C (Srivastava et al. 2014; default: off)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights, the split and the batch order (default 0)",
    )
    train.add_argument(
        "--val-fraction",
        type=_number(float, inclusive=True, high=1),
        default=0.2,
        help="share of the training images held out for validation (default 0.2; 0 trains "
        "on all of them, with no early stopping and the final weights kept)",
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
    _augment_options(train, default="none")

    preview = sub.add_parser(
        "augment-preview", help="draw digits before and after augmentation in the terminal"
    )
    _data_option(preview)
    preview.add_argument("--n", type=_number(int), default=16, help="digits to draw (default 16)")
    preview.add_argument(
        "--seed", type=int, default=0, help="seed of the picked digits and distortions (default 0)"
    )
    preview.add_argument(
        "--ascii", action="store_true", help="draw with ASCII shades instead of braille"
    )
    _augment_options(preview, default="affine+elastic")

    train.add_argument(
        "--preset",
        type=_preset_name,
        default=None,
        metavar="NAME",
        help="set every hyperparameter to a named recipe; flags given next to it override "
        "its values: "
        + _preset_words().replace("%", "%%")
        + " (`ann presets` lists their settings)",
    )
    presets = sub.add_parser("presets", help="list the named recipes of ann train --preset")
    presets.add_argument("--json", action="store_true", help="print one JSON object")

    evaluate = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix of a model")
    evaluate.add_argument("model", metavar="MODEL")
    _data_option(evaluate, dataset=None)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = sub.add_parser(
        "predict", help="classify images (IDX files, PNG or PGM drawings) or the rows of CSV files"
    )
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
    _label_option(predict)

    experiment = sub.add_parser("experiment", help="the seed study's grid: batch size x BN x L2")
    _data_option(experiment, csv=False)
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
        "--dropout",
        type=_number(float, inclusive=True, high=1),
        default=0.0,
        metavar="P",
        help="inverted dropout after each hidden ReLU, drop probability P in [0, 1); the mask "
        "is the first one a new network of --seed draws (default 0: none)",
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


# ---- ann train --preset, ann presets ---------------------------------------------------------


def _preset_name(text: str) -> str:
    from ._presets import PRESETS

    if text not in PRESETS:
        raise argparse.ArgumentTypeError(
            f"no preset {text!r}; the presets are {', '.join(PRESETS)}"
        )
    return text


def _preset_words() -> str:
    from ._presets import PRESETS

    return "; ".join(f"{p.name} ({p.summary})" for p in PRESETS.values())


# the settings a resumed model brings from its file, which a preset cannot change
_ARCHITECTURE = ("layers", "batchnorm", "dropout")


def _given_options(argv: Sequence[str] | None) -> set[str]:
    """The argparse names of the options written on the command line. argparse fills every
    other option with its default, and a default must not override a preset's value: parse
    once more with the train options' defaults suppressed, so that only the given ones land."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for option in action.choices["train"]._actions:
                option.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _apply_preset(args: argparse.Namespace, argv: Sequence[str] | None) -> None:
    """Set the options of --preset that the command line does not give itself."""
    from ._presets import PRESETS

    chosen = PRESETS[args.preset]
    given = _given_options(argv)
    for name, value in chosen.options().items():
        if name not in given and not (args.resume and name in _ARCHITECTURE):
            setattr(args, name, value)
    if "val_fraction" in given and not args.val_fraction and "patience" not in given:
        args.patience = 0  # the preset's early stopping has no validation loss to read
    try:
        _train_schedule(args)
    except UsageError as exc:  # say where the schedule the flag contradicts came from
        if "schedule" in given:
            raise
        raise UsageError(
            f"{exc} (--preset {chosen.name} sets --schedule {chosen.schedule}; give --schedule too)"
        ) from None
    overridden = sorted(given & set(chosen.options()))
    _say(
        f"preset: {chosen.name} ({chosen.describe()})"
        + (
            f"; given: {', '.join('--' + n.replace('_', '-') for n in overridden)}"
            if overridden
            else ""
        )
        + (
            f"; the network comes from {args.resume}, the preset sets how it trains"
            if args.resume
            else ""
        )
    )


def cmd_presets(args: argparse.Namespace) -> int:
    from ._presets import PRESETS

    if args.json:
        _say(json.dumps({p.name: p.options() for p in PRESETS.values()}))
        return 0
    for p in PRESETS.values():
        _say(f"{p.name}: {p.summary}\n    {p.describe()}")
    return 0


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
    """(source, train, test) of ``--dataset``; with ``test_only`` train is None and only the
    two test files are looked for (or downloaded)."""
    from . import _mnist
    from ._datasets import KEYS, get_spec, read_parts

    spec = get_spec(args.dataset or "mnist")
    keys = ("test_images", "test_labels") if test_only else KEYS
    source = _mnist.find_files(
        spec,
        args.data,
        download=not args.no_download,
        progress=not quiet,
        keys=keys,
        skip_hint=_SKIP_DOWNLOAD,
    )
    if source.note and source.kind != "folder":  # a download, or the sample fallback
        _note(source.note)
    if test_only:
        return source, None, read_parts(spec, source.paths, ("test",))[0]
    train, test = read_parts(spec, source.paths)
    return source, train, test


def _dataset_title(args: argparse.Namespace) -> str:
    from ._datasets import get_spec

    return get_spec(args.dataset or "mnist").title


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

    from ._network import EarlyStopping

    augment = _augment_from_args(args)  # a bad range fails before any data is read
    if args.patience is None:  # the default: the seed study's 5, when there is validation
        args.patience = 5 if args.val_fraction else 0
    if not args.val_fraction:
        if args.patience:
            raise UsageError(
                "ann train: --patience stops on the validation loss, and --val-fraction 0 "
                "holds out no validation images: give --patience 0 or a --val-fraction"
            )
        if _schedule_kind(args) == "plateau":
            raise UsageError(
                "ann train: the plateau schedule follows the validation loss, and "
                "--val-fraction 0 holds out no validation images"
            )
    for option, path in (
        ("--save", args.save),
        ("--log", args.log),
        ("--plot-file", args.plot_file),
    ):
        _check_destination(option, path)  # before training, not after it
    schedule = _train_schedule(args)  # a bad combination fails before the data loads
    counters = (0, 0.0)
    if args.resume:
        net = ann.Network.load(args.resume)
        counters = _check_resume(args, net)
        trained_on = net.metadata.get("dataset")
        if trained_on is not None and not _is_csv(args.data) and trained_on != args.dataset:
            raise UsageError(
                f"ann train: {args.resume} was trained on {trained_on}, not {args.dataset}: "
                f"give --dataset {trained_on}"
            )
    source: MnistSource | None = None
    test: Dataset | None
    if _is_csv(args.data):  # your own table: a train/validation split, no test set
        classes, names = (net.classes, net.feature_names) if args.resume else (None, None)
        train_all = ann.load_csv(
            args.data, label=_label_column(args.label), classes=classes, feature_names=names
        )
        test = None
    else:
        source, train_all, test = _load_data(args, args.quiet)
    val: Dataset | None
    if args.val_fraction:
        train, val = train_all.split(args.val_fraction, seed=args.seed)
    else:  # every training image trains; nothing is held out
        train, val = train_all, None
    if not args.resume:
        hidden = args.layers if args.layers is not None else [20, 7, 5]
        sizes = [train.features] + hidden + [train_all.num_classes]
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
    if source is not None and test is not None:
        named = "" if args.dataset == "mnist" else f"{args.dataset}, {train.num_classes} classes: "
        _say(
            f"data: {named}{len(train)} train / {len(val or ())} validation / {len(test)} test "
            f"images from {source.kind} ({_source_where(source)})"
        )
    else:
        names = train_all.classes or []
        _say(
            f"data: {len(train)} train / {len(val or ())} validation rows of {train.features} "
            f"features from {args.data}, {len(names)} classes ({', '.join(names[:10])}"
            f"{', ...' if len(names) > 10 else ''}); features standardised with the "
            f"training rows' mean and standard deviation"
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
        + (f", {_describe_schedule(args)}" if schedule is not None else "")
        + (f", max-norm {args.max_norm:g}" if args.max_norm else "")
        + (
            f", early stopping (patience {early.patience}, check every {early.check_every} steps)"
            if early
            else ""
        )
    )
    if augment is not None:
        _say(f"augment: {args.augment} ({_augment_text(augment)}), training batches only")

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
        # the best model, or with no validation to say which is best, the latest
        if checkpoint and (val is None or history.best_step == history.steps[-1]):
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
        raise TrainingError(f"{exc} {_kept_on_failure(args, failed, checkpoint, save)}") from None
    finally:
        if frame:  # the last plots stay on screen, above the results (or the error)
            frame.close()
            sys.stderr = frame.stream
    elapsed = time.perf_counter() - started
    if checkpoint:
        if val is None and checkpoint.step != history.stopped_step:  # the final weights
            checkpoint.save(net, _train_metadata(args, history, counters), history.stopped_step)
        checkpoint.finish(net, _train_metadata(args, history, counters))

    show_lr = schedule is not None  # the rate changes: show it per check
    _say(
        f"{'step':>7} {'epoch':>6} {'train loss':>10} {'train acc':>9} {'val loss':>9} "
        f"{'val acc':>8} {'seconds':>8}" + (f" {'lr':>10}" if show_lr else "")
    )
    for row in history.rows():
        _say(
            f"{row['steps']:>7} {row['epochs']:>6.2f} {row['train_loss']:>10.4f} "
            f"{row['train_accuracy']:>9.4f} {row['val_loss']:>9.4f} {row['val_accuracy']:>8.4f} "
            f"{row['seconds']:>8.2f}" + (f" {row['lr']:>10.4g}" if show_lr else "")
        )
    if val is None:
        _say(
            f"stopped: {history.stop_reason} after {history.stopped_step} steps; no validation "
            f"split, so the final weights are kept"
        )
    else:
        _say(
            f"stopped: {history.stop_reason} after {history.stopped_step} steps; best "
            f"validation loss {history.best_val_loss:.4f} at step {history.best_step}"
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
    report = "test"
    if test is None and val is not None:  # a CSV file has no test split: the validation rows
        test, report = val, "validation"
    elif test is None:  # nor, with --val-fraction 0, a validation split: the training rows
        test, report = train, "training rows (no validation or test split)"
    result = net.evaluate(test)
    in_memory = history.best_step if history.restored_best else history.stopped_step
    if checkpoint and checkpoint.step is not None and checkpoint.step != in_memory:
        # the weights in memory are the last ones (--patience 0), the file has the best
        _say(
            f"{report} (final weights, step {in_memory}): loss {result['loss']:.4f}, accuracy "
            f"{result['accuracy']:.4f} ({round(result['accuracy'] * len(test))}/{len(test)})"
            f"; trained in {elapsed:.2f} s"
        )
        result = ann.Network.load(args.save).evaluate(test)
        _say(
            f"{report} (saved model, step {checkpoint.step}, best validation loss): loss "
            f"{result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)})"
        )
    else:
        _say(
            f"{report}: loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
            f"({round(result['accuracy'] * len(test))}/{len(test)}); trained in {elapsed:.2f} s"
        )
    if checkpoint and checkpoint.error is None:
        _say(f"model saved to {args.save}")
    chance = math.log(net.sizes[-1])
    which, lowest = "validation", history.best_val_loss
    if val is None:
        which = "training"
        lowest = min((x for x in history.train_loss if math.isfinite(x)), default=math.inf)
    if not lowest < chance:
        _note(
            f"warning: training did not learn: the best {which} loss "
            f"{lowest:.4g} is no better than guessing uniformly "
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


def _train_schedule(args: argparse.Namespace) -> Any:
    """The ``fit(schedule=...)`` that --schedule, --lr-decay, --warmup and --min-lr ask for."""
    from ._presets import make_schedule

    kind = _schedule_kind(args)
    if args.lr_decay and kind != "plateau":
        raise UsageError(f"ann train: --lr-decay is the plateau schedule's, not {kind}'s")
    if args.min_lr and kind != "cosine":
        raise UsageError(f"ann train: --min-lr sets where cosine ends; --schedule is {kind}")
    if args.warmup is not None and kind == "onecycle":
        raise UsageError("ann train: --warmup does not go with --schedule onecycle (it rises)")
    return make_schedule(kind, args.lr_decay, args.warmup, args.min_lr)


def _schedule_kind(args: argparse.Namespace) -> str:
    """The --schedule asked for: given, else plateau when --lr-decay is, else none."""
    return str(args.schedule or ("plateau" if args.lr_decay else "none"))


def _describe_schedule(args: argparse.Namespace) -> str:
    kind = _schedule_kind(args)
    text = {
        "none": "constant lr",
        "plateau": f"lr x{args.lr_decay or 0.5:g} on a plateau",
        "cosine": f"cosine decay to {args.min_lr:g}",
        "onecycle": f"one-cycle up to {args.lr:g}",
    }[kind]
    return (f"warm-up {args.warmup:g} epochs, then " if args.warmup else "") + text


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
            self.pending = (net.get_weights(), net.get_state(), metadata, step)
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
            if (params, state) != (net.get_weights(), net.get_state()):
                import ann

                copy = ann.Network(
                    net.sizes, batchnorm=net.batchnorm, dropout=net.dropout, backend=net.backend
                )
                copy.set_weights(params)
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
        # names the classes for ann predict / evaluate ("csv": they are in the model's classes)
        "dataset": "csv" if _is_csv(args.data) else args.dataset,
        "optimizer": args.optimizer,
        "lr": repr(args.lr),
        "batch_size": str(args.batch_size),
        "l2": repr(args.l2),
        "schedule": _describe_schedule(args),
        "max_norm": repr(args.max_norm or 0.0),
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
    if _is_csv(args.data):
        from ._csv import read_table, table_dataset

        table = read_table(
            args.data,
            label=_label_column(args.label),
            width=net.sizes[0],
            feature_names=net.feature_names,
        )
        if table.labels is None:
            raise DataError(
                f"rows have the model's {net.sizes[0]} features but no label column to "
                f"evaluate against (ann predict classifies such rows)",
                path=args.data,
            )
        classes = net.classes or [str(k) for k in range(net.sizes[-1])]
        test = table_dataset(table, args.data, classes)  # the file is read once
        where, what = args.data, f"{len(test)} rows from {args.data}"
    else:
        if args.dataset is None:  # the one the model was trained on
            from ._datasets import DATASETS

            trained_on = net.metadata.get("dataset")
            args.dataset = trained_on if trained_on in DATASETS else "mnist"
        source, _, test = _load_data(args, quiet=args.json, test_only=True)
        where = _source_where(source)
        what = f"{len(test)} test images from {source.kind} ({where})"
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
                    "data": where,
                    "images": len(test),
                    "loss": result["loss"],
                    "accuracy": result["accuracy"],
                    "confusion_matrix": matrix,
                    "per_class_accuracy": per_class,
                    "classes": [_class_name(net, k) for k in range(net.sizes[-1])],
                }
            )
        )
        return 0
    _say(
        f"model: {args.model} ({'-'.join(map(str, net.sizes))}"
        f"{', batch norm' if net.batchnorm else ''})"
    )
    _say(f"data: {what}")
    _say(f"loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f}")
    _say("")
    if net.classes is not None:
        _say("classes: " + ", ".join(f"{k} {name}" for k, name in enumerate(net.classes)))
    _say(format_confusion(matrix))
    return 0


def _predict_inputs(args: argparse.Namespace, features: int) -> Iterator[tuple[str, Any]]:
    """(name, pixels) for every image in the files given."""
    from . import _idx
    from ._files import regular_file
    from ._images import looks_inverted, mnist_preprocess, read_gray_image, read_image

    for path in args.files:
        regular_file(path, DataError, "an image or IDX file")  # a named pipe would hang open()
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


def _predict_csv(args: argparse.Namespace, net: Network, path: str) -> None:
    """One line (or JSON object) per row of a CSV file: the class name and its probability.
    A row holds the model's features, with or without the label column (--label)."""
    from ._csv import read_table

    table = read_table(
        path, label=_label_column(args.label), width=net.sizes[0], feature_names=net.feature_names
    )
    probs = net.predict_proba(table.features)
    for line, p in zip(table.lines, probs):
        best = max(range(len(p)), key=p.__getitem__)
        name = _class_name(net, best)
        if args.json:
            print(
                json.dumps(
                    {
                        "file": path,
                        "line": line,
                        "class": best,
                        "name": name,
                        "probability": _float32(p[best]),
                        "probabilities": [_float32(v) for v in p],
                    }
                )
            )
        else:
            _say(f"{path}:{line}: {name} (p = {p[best]:.3f})")


def cmd_predict(args: argparse.Namespace) -> int:
    import ann

    net = ann.Network.load(args.model)
    tables = [path for path in args.files if _is_csv(path)]
    for path in tables:
        _predict_csv(args, net, path)
    args.files = [path for path in args.files if not _is_csv(path)]
    if not args.files:
        return 0
    inputs = list(_predict_inputs(args, net.sizes[0]))
    for name, pixels in inputs:  # each image is one row of the model's input, no more
        if len(pixels) != net.sizes[0]:
            raise DataError(
                f"{name}: image has {len(pixels)} pixels but the model takes {net.sizes[0]} inputs"
            )
    from ._datasets import classes_of

    names = getattr(net, "classes", None) or classes_of(net.metadata.get("dataset"))
    if names is not None and len(names) != net.sizes[-1]:
        names = None  # a model whose outputs are not the data set's classes
    probs = net.predict_proba(b"".join(pixels for _, pixels in inputs))
    if len(probs) != len(inputs):
        raise AnnError(f"internal error: {len(inputs)} images gave {len(probs)} predictions")
    for (name, _), p in zip(inputs, probs):
        best = max(range(len(p)), key=p.__getitem__)
        label = names[best] if names is not None else str(best)
        if args.json:
            print(
                json.dumps(
                    {
                        "file": name,
                        "class": best,
                        **({"name": label} if names is not None else {}),
                        "probability": _float32(p[best]),
                        "probabilities": [_float32(v) for v in p],
                    }
                )
            )
        else:
            _say(f"{name}: {label} (p = {p[best]:.3f})")
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
    if args.dropout and not hidden:
        raise UsageError("ann trace: --dropout needs a hidden layer (e.g. --layers 4,3,2)")
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
    net = ann.Network(sizes, batchnorm=args.batchnorm, dropout=args.dropout, seed=args.seed)
    options = dict(lr=args.lr, optimizer=args.optimizer, momentum=args.momentum, l2=args.l2)
    if args.digits:
        source, train, _ = _load_data(args, quiet=args.json)
        if train.features != sizes[0]:
            raise UsageError(
                f"ann trace: --digits: the images have {train.features} pixels, "
                f"so --layers must start with {train.features}, not {sizes[0]}"
            )
        if train.num_classes > sizes[-1]:
            raise UsageError(
                f"ann trace: --digits on {args.dataset}: its {train.num_classes} classes need "
                f"--layers ending in {train.num_classes}, not {sizes[-1]}"
            )
        if args.batch > len(train):
            raise DataError(
                f"--batch {args.batch}: the training set of {source.kind} "
                f"({_source_where(source)}) has only {len(train)} images"
            )
        result = net.trace(train[: args.batch], **options)
        result["images"] = (
            f"{_dataset_title(args)} training images 0-{args.batch - 1} from {source.kind} "
            f"({_source_where(source)})"
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


def cmd_augment_preview(args: argparse.Namespace) -> int:
    """Draw --n training digits and the same digits augmented, as ann train --augment would."""
    import random
    import shutil
    from array import array

    from ._augment import augment_batch, draw_pairs, image_shape
    from ._backend import c_augment_batch, lib
    from ._plot import supports_unicode

    params = _augment_from_args(args)
    _, train, _ = _load_data(args, quiet=True)
    H, W = image_shape(train.shape)
    n = min(args.n, len(train))
    rows = sorted(random.Random(args.seed).sample(range(len(train)), n))
    x = array("f")
    for r in rows:
        x.extend(v / 255.0 for v in train[r][0])
    originals = [list(x[b * H * W : (b + 1) * H * W]) for b in range(n)]
    if params is None:
        out = list(x)
    elif lib is not None:
        c_augment_batch(x, params, args.seed, 0, n, H, W)
        out = list(x)
    else:
        out = augment_batch(list(x), params, args.seed, 0, n, H, W)
    augmented = [out[b * H * W : (b + 1) * H * W] for b in range(n)]
    unicode = not args.ascii and supports_unicode(sys.stdout)
    what = "no augmentation" if params is None else _augment_text(params)
    _say(f"{n} training digits (seed {args.seed}), {what}")
    columns = shutil.get_terminal_size((80, 24)).columns
    sys.stdout.write(draw_pairs(originals, augmented, H, W, unicode, columns))
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "experiment": cmd_experiment,
    "gradcheck": cmd_gradcheck,
    "trace": cmd_trace,
    "augment-preview": cmd_augment_preview,
    "presets": cmd_presets,
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
        if getattr(args, "preset", None) is not None:
            _apply_preset(args, argv)
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
