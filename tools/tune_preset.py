"""Choose a preset's recipe on the validation split: python tools/tune_preset.py fast|best.

Each candidate is the preset in ``ann/_presets.py`` with a few fields changed. It trains on
the 48,000 images that ``ann train`` trains on (``--seed 0``, 20 % held out) and is judged by
its accuracy on the 12,000 held-out images and by the seconds ``fit`` took; the test set is
never loaded here. One line per candidate goes to stdout and is appended to
``tools/tune_preset.out`` (kept in the repository as the record of the search). The wall time
of the whole ``ann train --preset NAME`` (data loading included) is measured separately, once,
with the test accuracy, for the README.

Timings on a shared machine are disturbed by whatever else runs: compare candidates of the
same run, and re-run a close call.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Any

import ann
from ann._presets import PRESETS, Preset

# changes to the preset, tried in order; the preset's own values are the first candidate
CANDIDATES: dict[str, list[dict[str, Any]]] = {
    "fast": [  # rounds 1 and 2 were run from 784-256-10, lr 0.4 (see tune_preset.out)
        {"layers": (256,), "lr": 0.4},
        {"layers": (256,), "lr": 0.4, "epochs": 3},
        {"layers": (256,), "lr": 0.4, "epochs": 5},
        {"layers": (512,), "lr": 0.4},
        {"layers": (256,), "batch_size": 128, "epochs": 3},
        {"layers": (256,), "optimizer": "adam", "lr": 0.01},
        {"layers": (512,), "optimizer": "adam", "lr": 0.005},
        {"layers": (256, 256), "lr": 0.4},
        # second round, around the two best of the first
        {"layers": (256, 256), "lr": 0.4, "epochs": 5},
        {"layers": (512,), "lr": 0.4, "epochs": 6},
        {"layers": (512, 256), "lr": 0.4},
        {},  # the chosen one: 784-256-256-10, lr 0.2
        {"layers": (1024,), "lr": 0.4},
    ],
    "best": [  # from 784-1024-1024-10 BN dropout 0.2, Adam lr 0.002 one-cycle, batch 128
        {"epochs": 8, "dropout": 0.2},
        {"epochs": 8, "dropout": 0.1},
        {"epochs": 8, "batchnorm": False, "dropout": 0.2},
        {"epochs": 8, "lr": 0.001, "dropout": 0.2},
        # second round: the two dropouts over the full budget
        {"dropout": 0.2},
        {"dropout": 0.1},  # stopped: 30 epochs at 0.2 overfit (val loss 0.060 -> 0.080)
        # third round: more dropout against that
        {"dropout": 0.3},
        {},  # dropout 0.5, the chosen one: the lowest validation loss, accuracy tied with 0.3
    ],
}


def run(base: Preset, change: dict[str, Any], data: str, out: Any) -> None:
    p = dataclasses.replace(base, **change)
    train_all, _ = ann.load_mnist(data)  # the test half is not looked at
    net = ann.Network(**p.network_kwargs(), seed=0)
    started = time.perf_counter()
    history = net.fit(train_all, **p.fit_kwargs(), seed=0, verbose=0)
    seconds = time.perf_counter() - started
    line = (
        f"{base.name:5} val_acc {history.val_accuracy[-1]:.4f} "
        f"(best {max(history.val_accuracy):.4f})"
        f" val_loss {history.val_loss[-1]:.4f} fit {seconds:6.1f} s  load {os.getloadavg()[0]:.1f}"
        f"  {p.describe()}"
    )
    if p.epochs > 8:  # how the validation accuracy went, to judge the number of epochs
        line += "\n      val_acc by check: " + " ".join(f"{a:.4f}" for a in history.val_accuracy)
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=sorted(CANDIDATES))
    parser.add_argument("--data", default=os.environ.get("ANN_DATA", "/work/shared/mnist"))
    parser.add_argument(
        "--only", type=int, nargs="*", help="run only these candidates (indexes, from 0)"
    )
    args = parser.parse_args()
    base = PRESETS[args.preset]
    record = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tune_preset.out")
    with open(record, "a", encoding="utf-8") as out:
        out.write(
            f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} {args.preset}: "
            f"{ann.backend_info()['kernel']}, {ann.get_num_threads()} threads, "
            f"load {os.getloadavg()[0]:.1f}\n"
        )
        for i, change in enumerate(CANDIDATES[args.preset]):
            if args.only is None or i in args.only:
                run(base, change, args.data, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
