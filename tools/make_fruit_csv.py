"""Write tests/data/fruit.csv (300 rows to train on), fruit-test.csv (100 more, to evaluate)
and fruit-new.csv (3 rows without the label, to predict): a small made-up table for the
README's "Your own data" section and the CSV tests (no download, fixed seed).

Each row is one fruit: weight in grams, width and height in cm, and a colour score (0 green
.. 1 orange), then its name. The three kinds overlap a little, so no model is perfect.

    python tools/make_fruit_csv.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

KINDS = {  # name: (weight g, width cm, height cm, colour), mean and spread of each
    "apple": ((160, 25), (7.5, 0.6), (7.3, 0.6), (0.45, 0.15)),
    "orange": ((190, 30), (7.8, 0.6), (7.6, 0.6), (0.85, 0.08)),
    "lemon": ((120, 20), (6.2, 0.5), (8.2, 0.7), (0.30, 0.10)),
}
HEADER = ["weight_g", "width_cm", "height_cm", "colour", "fruit"]


def rows(n: int, rng: random.Random, labelled: bool = True) -> list[list[str]]:
    out = []
    for i in range(n):
        name = rng.choice(sorted(KINDS)) if labelled else sorted(KINDS)[i % len(KINDS)]
        values = [rng.gauss(mean, spread) for mean, spread in KINDS[name]]
        values[3] = min(max(values[3], 0.0), 1.0)
        cells = [f"{values[0]:.0f}", f"{values[1]:.1f}", f"{values[2]:.1f}", f"{values[3]:.2f}"]
        out.append(cells + ([name] if labelled else []))
    return out


def main() -> None:
    rng = random.Random(11)
    folder = Path(__file__).resolve().parent.parent / "tests" / "data"
    folder.mkdir(exist_ok=True)
    with open(folder / "fruit.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows(300, rng))
    with open(folder / "fruit-test.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows(100, rng))
    with open(folder / "fruit-new.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER[:-1])
        writer.writerows(rows(3, rng, labelled=False))


if __name__ == "__main__":
    main()
