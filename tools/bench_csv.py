#!/usr/bin/env python3
"""Time and memory of ``ann.load_csv`` on a large CSV file, against ``csv.reader`` (issue 23).

Usage (from the repository root, in the environment where ann is installed)::

    python tools/bench_csv.py [--rows 1000000] [--runs 5] [--files short,long] [--keep DIR]
        [--python]

Two files of ``--rows`` rows and 17 columns (16 features, then a label of 3 classes) are
written to a temporary folder (or ``--keep DIR``, and reused from there):

* ``short``: features with three decimals in [0, 10), the shape of the file in the issue
  (1 M rows: 98 MB), a table of few distinct values;
* ``long``: features with nine significant digits, nearly every cell distinct (1 M rows:
  about 190 MB), the worst case of the bulk path's cache.

Each run is a fresh process (this file with ``--worker``), so its peak resident set size
(``ru_maxrss``) is its own: one reads the file with ``ann.load_csv``, the other (the peer)
iterates ``csv.reader`` over it, doing nothing with the rows; with ``--python`` a third reads
it with the C core's parser turned off, as an install without a compiler does. They alternate
(ABBA order, so a drift in machine load hits all alike) after one discarded warm-up of each.
Reported: medians of the runs, the ratio of the median times (the issue's target: at most 2),
and the peak memory of load_csv's process against the file size (the target: under 3 times),
also without what a process that only imported ann held already.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = 16


def write_file(path: Path, rows: int, kind: str) -> None:
    rng = random.Random(23)
    names = ",".join(f"f{j}" for j in range(COLUMNS)) + ",label\n"
    with open(path, "w", encoding="ascii", newline="") as out:
        out.write(names)
        chunk = []
        for _ in range(rows):
            k = rng.randrange(3)
            if kind == "short":
                cells = [f"{rng.random() * 10:.3f}" for _ in range(COLUMNS)]
            else:
                cells = [f"{rng.gauss(k, 1.0):.9g}" for _ in range(COLUMNS)]
            chunk.append(",".join(cells) + f",{k}\n")
            if len(chunk) == 10000:
                out.write("".join(chunk))
                chunk = []
        out.write("".join(chunk))


def worker(mode: str, path: str) -> None:
    """One measurement in this fresh process: JSON on stdout."""
    import csv
    import resource

    import ann

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if mode.startswith("load_csv"):
        if mode == "load_csv_python":  # what an install without the C core does
            import ann._csv

            ann._csv._USE_C = False
        ds = ann.load_csv(path)
        rows = len(ds)
    else:
        rows = 0
        with open(path, newline="", encoding="utf-8") as f:
            for _ in csv.reader(f):
                rows += 1
        rows -= 1  # the header
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "before": before, "rows": rows}))


def run(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not the checkout: import the installed ann
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", default="short,long")
    parser.add_argument("--keep", help="folder to write the files to (and reuse them from)")
    parser.add_argument(
        "--python", action="store_true", help="also time the pure-Python path (no C core)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    import ann

    info = ann.backend_info()
    print(
        f"# {cpu_model()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}; "
        f"ann {ann.__version__} ({info['backend']} backend, kernel {info['kernel']})"
    )
    folder = args.keep or tempfile.mkdtemp(prefix="bench-csv-")
    os.makedirs(folder, exist_ok=True)
    print("| file | size | load_csv s | csv.reader s | ratio | peak RSS | over import | x size |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for kind in args.files.split(","):
            path = Path(folder) / f"{kind}-{args.rows}.csv"
            if not path.exists():
                write_file(path, args.rows, kind)
            size = path.stat().st_size
            modes = ["csv.reader", "load_csv"] + (["load_csv_python"] if args.python else [])
            for mode in modes:  # warm-up: the page cache, the imports
                run(mode, path)
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            peaks: dict[str, list[float]] = {mode: [] for mode in modes}
            grown: dict[str, list[float]] = {mode: [] for mode in modes}
            for i in range(args.runs):
                for mode in modes if i % 2 == 0 else modes[::-1]:
                    result = run(mode, path)
                    assert result["rows"] == args.rows, result
                    times[mode].append(result["seconds"])
                    peaks[mode].append(result["peak"])
                    grown[mode].append(result["peak"] - result["before"])
            peer = statistics.median(times["csv.reader"])
            for mode in modes[1:]:
                ours = statistics.median(times[mode])
                peak = statistics.median(peaks[mode])
                name = kind + ("" if mode == "load_csv" else " (no C core)")
                print(
                    f"| {name} | {size / 1e6:.0f} MB | {ours:.2f} | {peer:.2f} | {ours / peer:.2f} "
                    f"| {peak / 1e6:.0f} MB | {statistics.median(grown[mode]) / 1e6:.0f} MB "
                    f"| {peak / size:.2f} |"
                )
            sys.stdout.flush()
    finally:
        if not args.keep:
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
            os.rmdir(folder)
    print(f"# medians of {args.runs} runs each, alternating; ratio: load_csv / csv.reader time")


if __name__ == "__main__":
    main()
