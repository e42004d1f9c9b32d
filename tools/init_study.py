"""Which weight initialisation should a recipe use? python tools/init_study.py [RECIPE ...]

Trains each recipe (a preset of ``ann/_presets.py``: ``seed`` is ``ann train``'s defaults) with
each initialisation scheme (``uniform``, the one ann used before issue 22, U(+-1/sqrt(n_in));
``he``; ``auto``: He on the hidden layers, Glorot on the output layer) from several seeds, on
the split ``ann train --seed S`` makes (80/20 of the training images; nielsen's 50,000 /
10,000), and judges each run on the held-out validation images only: the test set is never
loaded. Each run's line goes to stdout and is appended to ``tools/init_study.out``; the
summary per (recipe, scheme) gives the median over the seeds of the validation loss and
accuracy of the weights the recipe keeps (the best check's with early stopping, else the last)
and the median epochs trained. docs/initialisation.md quotes the summary.

    python tools/init_study.py seed fast --seeds 5
    python tools/init_study.py nielsen --schemes uniform glorot auto
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import ann
from ann._presets import PRESETS

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "init_study.out")


def run(recipe: str, scheme: str, seed: int, train_all: ann.Dataset) -> dict[str, float]:
    """One training run of the recipe with the scheme and seed; its validation scores."""
    preset = dataclasses.replace(PRESETS[recipe], init=scheme)
    kwargs = preset.fit_kwargs()
    train, val = train_all.split(kwargs.pop("validation_split"), seed=seed)
    net = ann.Network(**preset.network_kwargs(), seed=seed)
    started = time.perf_counter()
    history = net.fit(train, val, **kwargs, seed=seed, verbose=0)
    scores = net.evaluate(val)
    return {
        "val_loss": scores["loss"],
        "val_acc": scores["accuracy"],
        "epochs": history.epochs[-1],
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recipes", nargs="*", default=["seed", "fast"], choices=list(PRESETS))
    parser.add_argument("--schemes", nargs="+", default=["uniform", "he", "auto"])
    parser.add_argument("--seeds", type=int, default=5, help="N seeds (default 5) ...")
    parser.add_argument("--first", type=int, default=0, help="... from this one (default 0)")
    parser.add_argument("--data", default=os.environ.get("ANN_DATA"), help="MNIST folder")
    args = parser.parse_args()
    train_all, _ = ann.load_mnist(args.data)  # the test half is not looked at
    info = ann.backend_info()
    with open(OUT, "a", encoding="utf-8") as out:

        def say(line: str) -> None:
            print(line, flush=True)
            out.write(line + "\n")
            out.flush()

        say(
            f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC {' '.join(args.recipes)}: "
            f"{info['kernel']}, {info['threads']} threads, load {os.getloadavg()[0]:.1f}"
        )
        for recipe in args.recipes:
            for scheme in args.schemes:
                runs = []
                for seed in range(args.first, args.first + args.seeds):
                    r = run(recipe, scheme, seed, train_all)
                    runs.append(r)
                    say(
                        f"{recipe:7} {scheme:7} seed {seed}  val_loss {r['val_loss']:.4f}  "
                        f"val_acc {r['val_acc']:.4f}  epochs {r['epochs']:5.2f}  "
                        f"fit {r['seconds']:6.1f} s  load {os.getloadavg()[0]:.1f}"
                    )
                say(
                    f"{recipe:7} {scheme:7} MEDIAN of {len(runs)}  val_loss "
                    f"{statistics.median(r['val_loss'] for r in runs):.4f}  val_acc "
                    f"{statistics.median(r['val_acc'] for r in runs):.4f}  epochs "
                    f"{statistics.median(r['epochs'] for r in runs):5.2f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
