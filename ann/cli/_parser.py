"""The ``ann`` command line's options: one parser, its argument types and its option groups.

The defaults the options state come from ``ann._defaults`` (the library's own) or from the
object an option configures (``ann.Augment()``'s ranges, the presets' table), so the help and
the behaviour cannot disagree. A parsing error raises ``UsageError`` (one line, exit status 2)
instead of printing argparse's usage block.

``build_parser(argument_default=argparse.SUPPRESS)`` is the same parser with every default
left out: its namespace holds only the options written on the command line, which is how
``ann train --preset`` tells a flag the user gave from a default.
"""

from __future__ import annotations

import argparse
import math
import platform
import struct
from typing import Any, Callable, NoReturn

from .. import __version__
from .. import _defaults as default
from .._augment import MODES, Augment
from .._backend import describe_backend
from .._datasets import NAMES
from .._presets import PRESETS
from ._output import UsageError

# `ann experiment --quick`, measured on full MNIST with the C core on 2 cores (README says the same)
QUICK_WORDS = "16 runs of up to 5 epochs, 20-30 s on full MNIST with the C core"

# the limits of ann trace
TRACE_MAX_BATCH = 64  # every row is printed
TRACE_MAX_WIDTH = 1024  # the float64 check of each step runs in pure Python
TRACE_DESCRIPTION = (
    "Take one training step of a tiny network (by default 4 inputs, 3 hidden ReLU units and "
    "2 classes, on two random rows) and print every matrix of it: its shape, the formula "
    "that made it, the C function that computed it, and its largest difference from the "
    "float64 reference (ann/_reference.py) given the same inputs; then check the step "
    "against the network's own one-call training step. The worked examples in docs/ are "
    "excerpts of `ann trace --seed 1` (the default seed) and its variants. --steps N takes "
    "N steps on the same batch, to watch the loss fall and the optimizer's state (momentum's "
    "velocity, Adam's m, v and bias corrections 1 - beta^t) build up."
)

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam"]
ACTIVATION_NAMES = ["relu", "leaky-relu", "sigmoid", "tanh", "gelu", "identity"]
HEAD_NAMES = ["softmax-ce", "sigmoid-bce", "identity-mse", "sigmoid-mse"]
INIT_NAMES = ["auto", "he", "glorot", "uniform"]


def _sizes_text(sizes: Any) -> str:
    """(20, 7, 5) -> "20,7,5", as --layers takes them."""
    return ",".join(map(str, sizes))


# ---- argument types --------------------------------------------------------------------------


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


def _number(
    kind: type, *, low: float = 0.0, inclusive: bool = False, high: float = math.inf
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None

        def fits(v: float) -> bool:
            return (v >= low if inclusive else v > low) and v < high and v == v

        bound = (f">= {low:g}" if inclusive else f"> {low:g}") + (
            f" and < {high:g}" if high != math.inf else ""
        )
        if not fits(value):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        if kind is float:  # the C core computes in float32: the value it will get must fit too
            single = _float32(value)
            if single is None or not fits(single):
                became = "is above float32's largest" if single is None else f"rounds to {single:g}"
                raise argparse.ArgumentTypeError(
                    f"must be a finite number {bound} in float32, the precision the network "
                    f"computes in; {text} {became}"
                    + (f" ({FLOAT32_MAX:.4g})" if single is None else "")
                )
        return value

    return parse


FLOAT32_MAX = 3.4028234663852886e38


def _float32(value: float) -> float | None:
    """``value`` rounded to float32, or None when it overflows float32."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return None


def _preset_name(text: str) -> str:
    if text not in PRESETS:
        raise argparse.ArgumentTypeError(
            f"no preset {text!r}; the presets are {', '.join(PRESETS)}"
        )
    return text


# ---- the parser --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        # argparse applies argument_default only to options declared without a default
        if self.argument_default is argparse.SUPPRESS:
            kwargs["default"] = argparse.SUPPRESS
        return super().add_argument(*args, **kwargs)


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
    return (
        f"ann {__version__} (distribution ann-mlp; Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}; backend: {describe_backend()})"
    )


def build_parser(argument_default: Any = None) -> argparse.ArgumentParser:
    """The parser of every ``ann`` command (``argument_default``: see the module's doc)."""
    parser = _Parser(
        prog="ann",
        description="Train and study multilayer perceptrons on MNIST.",
        argument_default=argument_default,
    )
    parser.add_argument(
        "-V",
        "--version",
        action=_Version,
        nargs=0,
        help="print the version, the backend and the kernel, and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, argument_default=argument_default)

    train = command("train", "train a network on MNIST (or a CSV file) and report its accuracy")
    _train_options(train)
    preview = command(
        "augment-preview", "draw digits before and after augmentation in the terminal"
    )
    _preview_options(preview)
    train.add_argument(  # last in ann train --help, after the augmentation ranges
        "--preset",
        type=_preset_name,
        default=None,
        metavar="NAME",
        help="set every hyperparameter to a named recipe; flags given next to it override "
        "its values: "
        + "; ".join(f"{p.name} ({p.summary})" for p in PRESETS.values()).replace("%", "%%")
        + " (`ann presets` lists their settings)",
    )
    presets = command("presets", "list the named recipes of ann train --preset")
    presets.add_argument("--json", action="store_true", help="print one JSON object")
    _evaluate_options(command("evaluate", "loss, accuracy and confusion matrix of a model"))
    _predict_options(
        command(
            "predict",
            "classify images (IDX files, PNG or PGM drawings) or the rows of CSV files",
        )
    )
    _export_c_options(
        command("export-c", "write a model as one C99 header: float32, or int8 with --int8")
    )
    _export_onnx_options(command("export-onnx", "write a model as an ONNX file (opset 17)"))
    _experiment_options(command("experiment", "the seed study's grid: batch size x BN x L2"))
    _gradcheck_options(command("gradcheck", "compare analytic gradients with finite differences"))
    trace = command(
        "trace",
        "print one training step of a tiny network, every matrix of it, computed by the C core",
    )
    trace.description = TRACE_DESCRIPTION
    _trace_options(trace)
    return parser


# ---- option groups shared by several commands ------------------------------------------------


def _data_option(
    parser: argparse.ArgumentParser, dataset: str | None = "mnist", csv: bool = True
) -> None:
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
        metavar="PATH" if csv else "DIR",
        help="folder with the data set's four IDX files (raw or .gz), 'sample' (MNIST's "
        "built-in sample)"
        + (", or a CSV file of your own (FILE.csv: numbers, one row per example)" if csv else "")
        + "; default: $ANN_DATA, else ~/.cache/ann (downloaded when missing; for MNIST "
        "the built-in sample when that fails)",
    )
    if csv:
        _csv_options(parser)
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download the data set (use local files, or for MNIST the built-in sample)",
    )


def _csv_options(parser: argparse.ArgumentParser) -> None:
    """--label and --header: how a CSV file is read (load_csv's label= and header=)."""
    parser.add_argument(
        "--label",
        metavar="COLUMN",
        default=None,
        help="the label column of a CSV file: its header name or its index "
        "(0-based, negative from the end; default: the last column); several, comma-separated "
        "(--label y1,y2), are the outputs of one regression",
    )
    parser.add_argument(
        "--header",
        choices=("auto", "yes", "no"),
        default=None,
        help="is the first row of a CSV file a header? yes, no, or auto (the default): "
        "detected by the rules of docs/python.md (a row of names over a row of numbers, ...)",
    )


def _augment_options(parser: argparse.ArgumentParser, default: str) -> None:
    """--augment and the ranges of ann.Augment (defaults: its own)."""
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


def _design_options(parser: argparse.ArgumentParser, slope: float, init: bool = True) -> None:
    """--activation, --head, --negative-slope (and --init): the network's functions, as
    ann.Network takes them (docs/activations.md, docs/heads.md)."""
    parser.add_argument(
        "--activation",
        choices=ACTIVATION_NAMES,
        default=None,
        help=f"activation of every hidden layer (default {default.ACTIVATION}; gelu is the "
        "exact erf form)",
    )
    parser.add_argument(
        "--head",
        choices=HEAD_NAMES,
        default=None,
        help=f"output function and loss (default {default.HEAD}): softmax-ce classifies; "
        "sigmoid-bce for binary or multi-label 0/1 targets; identity-mse for regression; "
        "sigmoid-mse is the quadratic cost of Nielsen's book",
    )
    parser.add_argument(
        "--negative-slope",
        type=_number(float, inclusive=True),
        default=None,
        metavar="A",
        help=f"leaky-relu's slope below 0 (default {slope:g})",
    )
    if init:
        parser.add_argument(
            "--init",
            choices=INIT_NAMES,
            default=None,
            help=f"weight initialisation (default {default.INIT}): he for the ReLU family, "
            "glorot for sigmoid/tanh, auto chooses by activation, uniform is "
            "U(+-1/sqrt(fan-in)) (PyTorch's nn.Linear default)",
        )


def _momentum_and_l2(parser: argparse.ArgumentParser) -> None:
    """--momentum and --l2, as ann train and ann trace take them."""
    parser.add_argument(
        "--momentum",
        type=_number(float, inclusive=True, high=1),
        default=default.MOMENTUM,
        help=f"momentum of --optimizer momentum/nesterov (default {default.MOMENTUM:g})",
    )
    parser.add_argument(
        "--l2",
        type=_number(float, inclusive=True),
        default=0.0,
        help="L2 penalty (l2/2) * sum(W^2) on the weights (default 0: none)",
    )


# ---- the options of each command ---------------------------------------------------------------


def _train_options(train: argparse.ArgumentParser) -> None:
    _data_option(train)
    train.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default=None,
        help="what the label of a CSV file asks for: classification (classes) or regression "
        "(numbers); default auto: text, or integers with few distinct values, are classes, "
        "other numbers values (ann train says which and why)",
    )
    train.add_argument(
        "--layers",
        type=_hidden_sizes,
        default=None,
        metavar="SIZES",
        help=f"hidden layer sizes, comma-separated (default: {_sizes_text(default.HIDDEN)})",
    )
    train.add_argument(
        "--epochs",
        type=_number(int),
        default=default.EPOCHS,
        help=f"most epochs to train (default {default.EPOCHS}; early stopping usually ends "
        "training sooner)",
    )
    train.add_argument(
        "--batch-size",
        type=_number(int),
        default=default.BATCH_SIZE,
        help=f"images per mini-batch (default {default.BATCH_SIZE})",
    )
    train.add_argument(
        "--lr",
        type=_number(float),
        default=default.LR,
        help=f"learning rate (default {default.LR:g})",
    )
    train.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="sgd", help="update rule (default sgd)"
    )
    _momentum_and_l2(train)
    train.add_argument("--batchnorm", action="store_true", help="Linear -> BN -> activation")
    _design_options(train, slope=default.NEGATIVE_SLOPE)
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
        f"checks without improvement, keeping the best weights (default {default.PATIENCE}, "
        "or off with --val-fraction 0; 0 turns it off)",
    )
    train.add_argument(
        "--min-delta",
        type=_number(float, inclusive=True),
        default=default.MIN_DELTA,
        help=f"early stopping: smallest validation-loss drop that counts (default "
        f"{default.MIN_DELTA:g})",
    )
    train.add_argument(
        "--check-every",
        type=_number(int),
        default=None,
        help=f"validation check every N steps (default {default.CHECK_EVERY} with early "
        "stopping, else once per epoch)",
    )
    plateau = f"after {default.PLATEAU_PATIENCE} checks without improvement"
    train.add_argument(
        "--lr-decay",
        type=_number(float, high=1),
        default=None,
        metavar="FACTOR",
        help=f"multiply lr by FACTOR {plateau} (default: no decay)",
    )
    low = f"{default.ONECYCLE_DIV * default.ONECYCLE_FINAL_DIV:g}"
    train.add_argument(
        "--schedule",
        choices=["none", "plateau", "cosine", "onecycle"],
        default=None,
        help="learning rate per step: none (constant), plateau (multiply by --lr-decay, "
        f"default {default.PLATEAU_FACTOR:g}, {plateau}), cosine (from --lr down to "
        f"--min-lr), onecycle (up from --lr/{default.ONECYCLE_DIV:g} to --lr, then down to "
        f"--lr/{low}); default none, or plateau with --lr-decay",
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
        default=default.SEED,
        help=f"seed of the initial weights, the split and the batch order (default {default.SEED})",
    )
    train.add_argument(
        "--val-fraction",
        type=_number(float, inclusive=True, high=1),
        default=default.VAL_FRACTION,
        help=f"share of the training images held out for validation (default "
        f"{default.VAL_FRACTION:g}; 0 trains on all of them, with no early stopping and the "
        "final weights kept)",
    )
    train.add_argument("--save", metavar="PATH", help="keep the best model in PATH (safetensors)")
    train.add_argument("--resume", metavar="PATH", help="continue training the model in PATH")
    train.add_argument("--log", metavar="FILE", help="write the history (.csv, else JSON lines)")
    train.add_argument(
        "--plot-file",
        metavar="FILE",
        help="write the loss/accuracy plots here: an image for FILE.svg or FILE.png, the "
        "text plots for any other name",
    )
    train.add_argument(
        "--threads",
        type=_number(int, inclusive=True),
        default=None,
        help="C kernel threads (0: one per core; at most 64; default: "
        "$ANN_NUM_THREADS, else one per core)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress output")
    _augment_options(train, default="none")


def _preview_options(preview: argparse.ArgumentParser) -> None:
    _data_option(preview, csv=False)
    preview.add_argument("--n", type=_number(int), default=16, help="digits to draw (default 16)")
    preview.add_argument(
        "--seed",
        type=int,
        default=default.SEED,
        help=f"seed of the picked digits and distortions (default {default.SEED})",
    )
    preview.add_argument(
        "--ascii", action="store_true", help="draw with ASCII shades instead of braille"
    )
    _augment_options(preview, default="affine+elastic")


def _evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("model", metavar="MODEL")
    _data_option(evaluate, dataset=None)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _int8_options(evaluate, "the int8 arithmetic of `ann export-c --int8`'s header")
    evaluate.add_argument(
        "--calibration-data",
        metavar="FILE.csv",
        help="--int8 with a CSV model: the training rows to calibrate on (the CSV file "
        "`ann export-c --int8 --data` took); image models use their data set's training split",
    )


def _int8_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--int8", action="store_true", help=f"{what} (docs/quantization.md)")
    parser.add_argument(
        "--calibrate",
        type=_number(int),
        metavar="N",
        help="--int8: measure the activation ranges on N training rows drawn with seed 0 "
        f"(default {default.CALIBRATION_ROWS}, or every row if there are fewer)",
    )


def _export_c_options(export: argparse.ArgumentParser) -> None:
    export.description = (
        "Write MODEL as one self-contained C99 header: PREFIX_predict over caller buffers, "
        "no allocation; float32 (needs <math.h>), or with --int8 integer arithmetic (needs no "
        "library). --int8 calibrates on training rows: an image model's from the training "
        "split of its data set (--dataset, --data DIR), a CSV model's from --data FILE.csv."
    )
    export.add_argument("model", metavar="MODEL")
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE.h",
        help="the header to write (default: beside MODEL, with its name and .h, or _int8.h "
        "with --int8)",
    )
    export.add_argument(
        "--name",
        metavar="PREFIX",
        help="a C identifier that starts every name of the header: PREFIX_predict, "
        "PREFIX_N_INPUTS... (default: the output file's name without .h)",
    )
    _int8_options(export, "quantize to int8: integer arithmetic, no library, fits an AVR")
    # the calibration rows of --int8: the training split of the data set, or a CSV file
    _data_option(export, dataset=None)


def _export_onnx_options(export: argparse.ArgumentParser) -> None:
    export.add_argument("model", metavar="MODEL")
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE.onnx",
        help="the file to write (default: beside MODEL, with its name and .onnx)",
    )


def _predict_options(predict: argparse.ArgumentParser) -> None:
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
    _csv_options(predict)


def _experiment_options(experiment: argparse.ArgumentParser) -> None:
    _data_option(experiment, csv=False)
    experiment.add_argument("--quick", action="store_true", help=f"a reduced grid: {QUICK_WORDS}")
    experiment.add_argument(
        "--seed",
        type=int,
        default=default.SEED,
        help=f"seed of the weights, the split and the batch order (default {default.SEED})",
    )
    experiment.add_argument(
        "--plot-file",
        metavar="FILE",
        help="also write the plot here: an image for FILE.svg or FILE.png, else the table "
        "and the text plot",
    )


def _gradcheck_options(check: argparse.ArgumentParser) -> None:
    inputs, *hidden, classes = default.GRADCHECK_LAYERS
    check.add_argument(
        "--layers",
        type=_hidden_sizes,
        default=hidden,
        help=f"hidden sizes of the small test network (default {_sizes_text(hidden)})",
    )
    check.add_argument(
        "--inputs",
        type=_number(int),
        default=inputs,
        help=f"input size of the test network (default {inputs})",
    )
    check.add_argument(
        "--classes",
        type=_number(int),
        default=classes,
        help=f"number of classes, its output size (default {classes})",
    )
    check.add_argument(
        "--batch",
        type=_number(int),
        default=default.GRADCHECK_BATCH,
        help="rows in the random batch the gradients are taken on (default "
        f"{default.GRADCHECK_BATCH})",
    )
    check.add_argument(
        "--batchnorm", action="store_true", help="put batch norm after every hidden layer"
    )
    _design_options(check, slope=0.1, init=False)
    check.add_argument(
        "--l2",
        type=_number(float, inclusive=True),
        default=0.0,
        help="include an L2 penalty of this strength (default 0: none)",
    )
    check.add_argument(
        "--seed",
        type=int,
        default=default.SEED,
        help=f"seed of the random network and batch (default {default.SEED})",
    )
    check.add_argument(
        "--tolerance",
        type=_number(float),
        default=None,
        help=f"largest relative error that passes (default {default.GRADCHECK_TOLERANCE:g})",
    )


def _trace_options(trace: argparse.ArgumentParser) -> None:
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
        default=None,
        help=f"rows in the batch, at most {TRACE_MAX_BATCH} (default {default.TRACE_BATCH}; "
        f"{default.TRACE_BATCH_BATCHNORM} with --batchnorm)",
    )
    trace.add_argument(
        "--batchnorm",
        action="store_true",
        help="Linear -> BN -> ReLU in the hidden layers (needs --batch 2 or more; with 2, "
        "every x-hat is about +-1: a note says so)",
    )
    _design_options(trace, slope=default.NEGATIVE_SLOPE)
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
        choices=OPTIMIZERS,
        default="sgd",
        help="update rule; its state (velocity, Adam's m and v) starts at zero in the first "
        "step (default sgd)",
    )
    trace.add_argument(
        "--lr",
        type=_number(float),
        default=default.TRACE_LR,
        help=f"learning rate (default {default.TRACE_LR:g})",
    )
    _momentum_and_l2(trace)
    trace.add_argument(
        "--steps",
        type=_number(int),
        default=1,
        metavar="N",
        help="take N steps on the same batch, each from the parameters and optimizer state "
        "the one before left; after the first, each shows its loss, the gradients and the "
        f"update with the optimizer's state before and after; at most {default.TRACE_MAX_STEPS} "
        "(default 1)",
    )
    trace.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the weights and, without --digits, of the pixels and labels (default "
        f"{default.TRACE_SEED}, the seed of the docs' worked examples; with --digits "
        f"{default.TRACE_SEED_DIGITS}, which leaves more hidden units active on those two "
        "images)",
    )
    trace.add_argument(
        "--digits",
        action="store_true",
        help="use the first --batch real MNIST training images (a network on "
        "784 inputs: wide matrices are summarized, --json has them all)",
    )
    _data_option(trace, csv=False)
    trace.add_argument("--json", action="store_true", help="print the same data as one JSON object")
    trace.add_argument(
        "--indent",
        type=_number(int, inclusive=True),
        default=None,
        metavar="N",
        help="with --json: indent by N spaces, one matrix row a line; 0 for one line "
        "(default: 2 on a terminal, one line into a pipe or file, for tools)",
    )
