"""The ``ann`` command line: ``ann train``, ``ann gradcheck``.

Anything a user can get wrong ends in one line on stderr and a non-zero exit status, never a
traceback; Ctrl-C exits with status 130.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional, Sequence

from ._errors import AnnError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command-line value (exit status 2)."""


def _hidden_sizes(text: str) -> List[int]:
    if text.strip() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive ints like 20,7,5, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
        return value
    return parse


def _fraction(text: str) -> float:
    value = _positive(float)(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ann", description="Train and study multilayer perceptrons on MNIST.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network on MNIST and report test accuracy")
    train.add_argument("--data", metavar="DIR",
                       help="folder with the four MNIST IDX files (raw or .gz), or 'sample'; "
                            "default: $ANN_DATA, else ~/.cache/ann (downloaded when missing)")
    train.add_argument("--layers", type=_hidden_sizes, default=[20, 7, 5], metavar="SIZES",
                       help="hidden layer sizes, comma-separated (default: 20,7,5)")
    train.add_argument("--epochs", type=_positive(int), default=10)
    train.add_argument("--batch-size", type=_positive(int), default=64)
    train.add_argument("--lr", type=_positive(float), default=0.009, help="learning rate")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--val-fraction", type=_fraction, default=0.2,
                       help="share of the training images held out for validation (default 0.2)")
    train.add_argument("--threads", type=int, default=0, help="C kernel threads (0: one per core)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--no-download", action="store_true",
                       help="never download MNIST (use local files or the built-in sample)")

    check = sub.add_parser("gradcheck", help="compare analytic gradients with finite differences")
    check.add_argument("--layers", type=_hidden_sizes, default=[9, 7, 5],
                       help="hidden sizes of the small test network (default 9,7,5)")
    check.add_argument("--inputs", type=_positive(int), default=12)
    check.add_argument("--classes", type=_positive(int), default=4)
    check.add_argument("--batch", type=_positive(int), default=8)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--tolerance", type=_positive(float), default=None)
    return parser


def _say(text: str = "") -> None:
    print(text, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    import ann
    from . import _idx, _mnist
    from ._data import _read_pair

    ann.set_num_threads(args.threads)
    source = _mnist.find_mnist(args.data, download=not args.no_download, progress=not args.quiet)
    if source.note and source.kind != "folder":   # a download or the sample fallback
        print(f"ann: {source.note}", file=sys.stderr, flush=True)
    train_all, test = _read_pair(source.paths, _idx)
    train, val = train_all.split(args.val_fraction, seed=args.seed)
    sizes = [train.features] + args.layers + [10]
    net = ann.Network(sizes, seed=args.seed)
    _say(f"data: {len(train)} train / {len(val)} validation / {len(test)} test images "
         f"from {source.kind} ({_source_where(source)})")
    _say(f"network: {'-'.join(map(str, sizes))} ({net.num_params} parameters, "
         f"{net.backend} backend, {ann.get_num_threads()} thread(s)); "
         f"SGD lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs")
    started = time.perf_counter()
    history = net.fit(train, val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      progress=not args.quiet, seed=args.seed)
    elapsed = time.perf_counter() - started
    _say(f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'val loss':>9} {'val acc':>8} "
         f"{'seconds':>8}")
    for i in range(len(history.steps)):
        _say(f"{history.epochs[i]:>5.0f} {history.train_loss[i]:>10.4f} "
             f"{history.train_accuracy[i]:>9.4f} {history.val_loss[i]:>9.4f} "
             f"{history.val_accuracy[i]:>8.4f} {history.seconds[i]:>8.2f}")
    result = net.evaluate(test)
    _say(f"test: loss {result['loss']:.4f}, accuracy {result['accuracy']:.4f} "
         f"({round(result['accuracy'] * len(test))}/{len(test)}); trained in {elapsed:.2f} s")
    return 0


def _source_where(source) -> str:
    folders = {str(p.parent) for p in source.paths.values()}
    return ", ".join(sorted(folders))


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from ._gradcheck import TOLERANCE, gradcheck
    tolerance = args.tolerance or TOLERANCE
    sizes = [args.inputs] + args.layers + [args.classes]
    report = gradcheck(sizes, batch=args.batch, seed=args.seed)
    _say(f"gradient check of a {'-'.join(map(str, sizes))} network, batch {args.batch}: "
         f"worst relative error per layer (tolerance {tolerance:g})")
    failed = False
    for row in report:
        worst = max(row["weights_error"], row["biases_error"])
        dead = row["max_abs_grad"] == 0.0
        ok = worst <= tolerance and not dead
        failed |= not ok
        _say(f"  layer {row['layer']}: weights {row['weights_error']:.2e}  "
             f"biases {row['biases_error']:.2e}  largest |grad| {row['max_abs_grad']:.2e}  "
             f"{'ok' if ok else ('FAIL (all gradients zero)' if dead else 'FAIL')}")
    _say("gradcheck: " + ("FAILED" if failed else "passed"))
    return EXIT_ERROR if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        handler = {"train": cmd_train, "gradcheck": cmd_gradcheck}[args.command]
        return handler(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ann: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (AnnError, ValueError, OSError, MemoryError) as exc:
        print(f"ann: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
