"""Draw the small MNIST sample that ships inside the ann package.

Usage (from the repository root)::

    python tools/make_sample.py [MNIST_FOLDER] [--out ann/data/sample]

MNIST_FOLDER holds the four gzipped IDX files of the full set and defaults to
``../shared/mnist`` beside the repository root.

How the sample is drawn (ann/data/README.md repeats this for users):

* One ``random.Random(20261125)`` generator serves both splits, the training
  split first, then the test split.
* The draw is stratified by label: each digit gets the share of the sample it
  has in the full split (proportional allocation, rounded by largest
  remainder, ties to the smaller digit), and within a digit the images are
  picked without replacement with ``rng.sample`` over that digit's original
  indices in increasing order, digits 0 to 9 in turn.
* The picked images keep their original order (sorted by index in the full
  file), so the sample reads like a thinned copy of MNIST.

Stratifying keeps the class balance of the sample equal to that of the full
set up to rounding, which a plain random draw of 2,000 test digits would only
approximate.  The output is gzip with mtime 0, no file name and level 9, so
running the tool twice gives the same bytes (on a given zlib).

The IDX writer is inlined on purpose: this tool must not depend on the
package it feeds.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

SEED = 20261125
SAMPLE_SIZES = {"train": 10_000, "t10k": 2_000}
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "mnist"
DEFAULT_OUT = REPO_ROOT / "ann" / "data" / "sample"
IMAGE_SIDE = 28


def read_idx(path: Path, ndim: int) -> tuple[list[int], bytes]:
    """Return (dims, payload) of a gzipped unsigned-byte IDX file with `ndim` dimensions."""
    with gzip.open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 + 4 * ndim:
        raise SystemExit(f"{path}: too short for an IDX header")
    zero0, zero1, type_code, got_ndim = blob[:4]
    if (zero0, zero1, type_code, got_ndim) != (0, 0, 0x08, ndim):
        raise SystemExit(f"{path}: expected an unsigned-byte IDX file with {ndim} dimensions")
    dims = list(struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim]))
    payload = blob[4 + 4 * ndim :]
    expected = 1
    for d in dims:
        expected *= d
    if len(payload) != expected:
        raise SystemExit(f"{path}: payload is {len(payload)} bytes, header promises {expected}")
    return dims, payload


def idx_bytes(data: bytes, dims: Sequence[int]) -> bytes:
    """Serialize unsigned-byte data as IDX: magic 0,0,0x08,ndim then big-endian uint32 dims."""
    return bytes((0, 0, 0x08, len(dims))) + struct.pack(f">{len(dims)}I", *dims) + data


def write_gzip(path: Path, raw: bytes) -> None:
    """Write `raw` gzip-compressed, reproducibly: no file name, mtime 0, level 9."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    path.write_bytes(buf.getvalue())


def stratified_draw(labels: bytes, size: int, rng: random.Random) -> list[int]:
    """Indices of `size` items drawn without replacement, each label in its full-set share."""
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    total = len(labels)
    # Proportional allocation: quota_c = size * n_c / total.  The floors lose at
    # most one item per class; hand those back to the largest remainders.
    quotas = {c: divmod(size * len(ix), total) for c, ix in by_label.items()}
    counts = {c: q for c, (q, _) in quotas.items()}
    short = size - sum(counts.values())
    by_remainder = sorted(quotas, key=lambda c: (-quotas[c][1], c))
    for c in by_remainder[:short]:
        counts[c] += 1
    picked: list[int] = []
    for c in sorted(by_label):
        picked.extend(rng.sample(by_label[c], counts[c]))
    return sorted(picked)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=DEFAULT_SOURCE,
        help="folder with the full gzipped MNIST IDX files",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where to write the sample (default: ann/data/sample)",
    )
    args = parser.parse_args(argv)

    rng = random.Random(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, size in SAMPLE_SIZES.items():  # dict order: train, then t10k
        image_dims, images = read_idx(args.source / f"{split}-images-idx3-ubyte.gz", 3)
        label_dims, labels = read_idx(args.source / f"{split}-labels-idx1-ubyte.gz", 1)
        if image_dims[0] != label_dims[0] or image_dims[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
            raise SystemExit(
                f"{args.source}: {split} images {image_dims} do not match labels {label_dims}"
            )
        if size > label_dims[0]:
            raise SystemExit(f"{args.source}: {split} has only {label_dims[0]} items, need {size}")
        picked = stratified_draw(labels, size, rng)
        pixels = IMAGE_SIDE * IMAGE_SIDE
        sample_images = b"".join(images[i * pixels : (i + 1) * pixels] for i in picked)
        sample_labels = bytes(labels[i] for i in picked)
        write_gzip(
            args.out / f"{split}-images-idx3-ubyte.gz",
            idx_bytes(sample_images, [size, IMAGE_SIDE, IMAGE_SIDE]),
        )
        write_gzip(args.out / f"{split}-labels-idx1-ubyte.gz", idx_bytes(sample_labels, [size]))
        counts = [sample_labels.count(d) for d in range(10)]
        print(f"{split}: {size} items, per digit {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
