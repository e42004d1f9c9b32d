"""The commands for studying how a network learns: ``ann trace``, ``ann gradcheck``,
``ann experiment`` and ``ann augment-preview``.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
from array import array

import ann

from .. import _defaults as default
from .._augment import image_shape
from .._backend import augment_images
from .._drawing import draw_pairs
from .._errors import DataError
from .._experiment import run_experiment
from .._gradcheck import gradcheck
from .._plot import supports_unicode
from .._trace import random_batch
from .._trace_format import format_trace, json_text
from ._load import dataset_title, load_data, source_where
from ._options import augment_from_args, augment_text
from ._output import EXIT_ERROR, UsageError, isatty, note, say
from ._parser import TRACE_MAX_BATCH, TRACE_MAX_WIDTH
from ._paths import check_destination, check_plot_name, check_separate


def cmd_experiment(args: argparse.Namespace) -> int:
    """ann experiment: the seed study's grid of runs (``ann._experiment``)."""
    check_destination("experiment", "--plot-file", args.plot_file)
    check_plot_name("experiment", args.plot_file)
    source, train_all, test = load_data(args)
    inputs = [("--data", path) for path in source.paths.values()]
    check_separate("experiment", inputs, [("--plot-file", args.plot_file)])
    return run_experiment(
        train_all, test, quick=args.quick, seed=args.seed, plot_file=args.plot_file, say=say
    )


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """ann gradcheck: analytic gradients of a small random network against central
    differences, the worst relative error per layer."""
    tolerance = args.tolerance or default.GRADCHECK_TOLERANCE
    sizes = [args.inputs] + args.layers + [args.classes]
    activation = args.activation or default.ACTIVATION
    head = args.head or default.HEAD
    slope = 0.1 if args.negative_slope is None else args.negative_slope
    if args.classes < 2 and head == "softmax-ce":
        raise UsageError(
            f"ann gradcheck: --classes {args.classes}: a softmax over one class is always 1, "
            "so the loss and every gradient are 0 and there is nothing to check; give 2 or more"
        )
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if params * params * args.batch > GRADCHECK_MAX_WORK:
        most = int(math.sqrt(GRADCHECK_MAX_WORK / args.batch))
        raise UsageError(
            f"ann gradcheck: a {'-'.join(map(str, sizes))} network has {params:,} parameters, "
            f"and the check runs two float64 forward passes in pure Python per parameter: at "
            f"--batch {args.batch} that takes more than a minute; at most {most:,} "
            "parameters (fewer or smaller --layers, a smaller --inputs or --batch)"
        )
    report = gradcheck(
        sizes,
        batch=args.batch,
        seed=args.seed,
        batchnorm=args.batchnorm,
        l2=args.l2,
        activation=activation,
        head=head,
        negative_slope=slope,
    )
    design = ""
    if activation != default.ACTIVATION or head != default.HEAD:
        design = f", {activation}" + (f" (slope {slope:g})" if activation == "leaky-relu" else "")
        design += f" hidden layers, {head} head"
    say(
        f"gradient check of a {'-'.join(map(str, sizes))} network{design}"
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
        say(
            f"  layer {row['layer']}: {parts}  largest |grad| {row['max_abs_grad']:.2e}  "
            f"{'ok' if ok else ('FAIL (all gradients zero)' if dead else 'FAIL')}"
        )
    say("gradcheck: " + ("FAILED" if failed else "passed"))
    return EXIT_ERROR if failed else 0


# ann gradcheck's cost: parameters x (parameters x batch) multiply-adds of the float64 forward
# passes in pure Python; 1.1e8 took 26 s on this project's 2-core machine (the default 5e5)
GRADCHECK_MAX_WORK = 1.5e8

TRACE_PIXELS = (0, 51, 102, 153, 204, 255)  # / 255 = 0, 0.2, ..., 1: inputs easy to check


def cmd_trace(args: argparse.Namespace) -> int:
    """ann trace: one training step (or --steps N) of a tiny network, every matrix of it, each
    checked against the float64 reference."""
    sizes = args.layers or ([784, 4, 10] if args.digits else [4, 3, 2])
    hidden = len(sizes) > 2
    batch = args.batch
    if batch is None:  # batch norm's default needs a third row to show anything but +-1
        batch = default.TRACE_BATCH_BATCHNORM if args.batchnorm else default.TRACE_BATCH
    if batch > TRACE_MAX_BATCH:
        raise UsageError(
            f"ann trace: --batch {batch}: a trace prints every row, so at most {TRACE_MAX_BATCH}"
        )
    if args.steps > default.TRACE_MAX_STEPS:
        raise UsageError(
            f"ann trace: --steps {args.steps}: a trace records every matrix of every step, "
            f"so at most {default.TRACE_MAX_STEPS}"
        )
    if args.indent is not None and not args.json:
        raise UsageError("ann trace: --indent sets the layout of --json: give --json too")
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
    if args.batchnorm and batch < 2:
        raise UsageError(
            "ann trace: --batchnorm needs --batch 2 or more (batch norm cannot "
            "normalize one row: its variance is 0)"
        )
    if args.batchnorm and batch == 2:
        note(
            "trace: --batchnorm with --batch 2: in each column the two z sit d/2 either side of "
            "their mean, and d/2 is also their standard deviation, so every x-hat is +-1 "
            "(+-1/sqrt(1 + 4 eps/d^2) exactly) whatever z is; --batch 3, the default with "
            "--batchnorm, shows more"
        )
    if (
        args.head in ("sigmoid-bce", "sigmoid-mse", "identity-mse")
        and sizes[-1] == 1
        and args.digits
    ):
        raise UsageError("ann trace: --digits has 10 classes: --layers must end in 10")
    if args.digits and sizes[-1] < 10:
        raise UsageError(
            f"ann trace: --digits needs 10 outputs (the digits 0-9), but --layers "
            f"ends in {sizes[-1]}"
        )
    seed = args.seed
    if seed is None:  # the docs' trace; on two digits, a seed that leaves more units alive
        seed = default.TRACE_SEED_DIGITS if args.digits else default.TRACE_SEED
    net = ann.Network(
        sizes,
        activation=args.activation or default.ACTIVATION,
        head=args.head or default.HEAD,
        negative_slope=default.NEGATIVE_SLOPE
        if args.negative_slope is None
        else args.negative_slope,
        init=args.init or default.INIT,
        batchnorm=args.batchnorm,
        dropout=args.dropout,
        seed=seed,
    )
    options = dict(
        lr=args.lr, optimizer=args.optimizer, momentum=args.momentum, l2=args.l2, steps=args.steps
    )
    if args.digits:
        source, train, _ = load_data(args, quiet=args.json)
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
        if batch > len(train):
            raise DataError(
                f"--batch {batch}: the training set of {source.kind} "
                f"({source_where(source)}) has only {len(train)} images"
            )
        result = net.trace(train[:batch], **options)
        result["images"] = (
            f"{dataset_title(args)} training images 0-{batch - 1} from {source.kind} "
            f"({source_where(source)})"
        )
    else:
        pixels, labels = random_batch(seed, batch, sizes, net.head)
        result = net.trace(pixels, labels, **options)
        result["images"] = f"random pixels and labels from --seed {seed}"
    if args.json:
        indent = args.indent
        if indent is None:  # a person at a terminal reads it; a tool reads one line
            indent = 2 if isatty(sys.stdout) else 0
        print(json_text(result, indent))
    else:
        say(format_trace(result))
    if not result["ok"]:
        note("trace: a check failed (see above)")
        return EXIT_ERROR
    return 0


def cmd_augment_preview(args: argparse.Namespace) -> int:
    """Draw --n training digits and the same digits augmented, as ann train --augment would."""
    params = augment_from_args(args)
    _, train, _ = load_data(args, quiet=True)
    H, W = image_shape(train.shape)
    n = min(args.n, len(train))
    rows = sorted(random.Random(args.seed).sample(range(len(train)), n))
    x = array("f")
    for r in rows:
        x.extend(v / 255.0 for v in train[r][0])
    originals = [list(x[b * H * W : (b + 1) * H * W]) for b in range(n)]
    # the first batch (step 0) of a run of --seed, by the backend ANN_BACKEND selects
    out = list(x) if params is None else augment_images(x, params, args.seed, 0, n, H, W)
    augmented = [out[b * H * W : (b + 1) * H * W] for b in range(n)]
    unicode = not args.ascii and supports_unicode(sys.stdout)
    what = "no augmentation" if params is None else augment_text(params)
    say(f"{n} training digits (seed {args.seed}), {what}")
    columns = shutil.get_terminal_size((80, 24)).columns
    sys.stdout.write(draw_pairs(originals, augmented, H, W, unicode, columns))
    return 0
