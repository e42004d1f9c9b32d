"""A digit drawn or scanned by a user, made to look like MNIST's before ``ann predict`` reads it:
``mnist_preprocess`` frames it as MNIST framed its digits, and ``looks_inverted`` tells dark
ink on a light background (which the CLI suggests ``--invert`` for; nothing is inverted
automatically).
"""

from __future__ import annotations

import math

from ann._errors import DataError, PathLike

#: Share of the gray range above the darkest pixel that still counts as background.
_NOISE = 0.1


def mnist_preprocess(
    pixels: bytes,
    width: int,
    height: int,
    *,
    size: int = 28,
    box: int | None = None,
    path: PathLike | None = None,
) -> bytes:
    """A drawing (light ink on a dark background, any size) framed as MNIST's digits were.

    LeCun et al. made MNIST from binary NIST digits so: each digit was scaled to fit a 20x20
    box keeping its aspect ratio, with anti-aliasing (hence the gray levels), then placed in a
    28x28 field so that its centre of mass sits at the centre. A model trained on MNIST knows
    only digits framed that way: a digit drawn large or off-centre on a bigger canvas, or
    small in a corner of a 28x28 one, is far from anything it saw. So, in order:

    1. Levels: the darkest pixel is the background; pixels within a tenth of the range above
       it count as background too (scanner noise, JPEG-like smudges), the rest is stretched
       so that the brightest ink is 255.
    2. Crop to the ink's bounding box.
    3. Resize so the longer side is ``box`` pixels (default 20 for 28, ``round(size * 5/7)``
       otherwise), the other in proportion, with a triangle (bilinear) filter whose width
       follows the scale: each output pixel averages the source pixels it covers, so a
       downscale is anti-aliased, not sampled. The ink is stretched to 255 again (a thin
       stroke on a big canvas would otherwise come out faint).
    4. Place it in a ``size`` x ``size`` black field, shifted by whole pixels so that its
       centre of mass is at (size/2, size/2) in pixel-index coordinates: where MNIST's is
       (the training digits average 14.00, 13.99).

    Returns ``size * size`` bytes, row-major. A blank image (one gray level) is a DataError:
    there is nothing to frame. Dark ink on a light background must be inverted first.
    """
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise ValueError(
            f"mnist_preprocess: {len(pixels)} pixels do not make a {width}x{height} image"
        )
    if box is None:
        box = 20 if size == 28 else max(1, round(size * 5 / 7))
    if not 1 <= box <= size:
        raise ValueError(f"mnist_preprocess: box {box} does not fit in {size}x{size}")
    lo, hi = min(pixels), max(pixels)
    if hi == lo:
        raise DataError(f"the image is blank (every pixel is {lo}): no digit to frame", path=path)
    floor = lo + (hi - lo) * _NOISE
    gain = 255.0 / (hi - floor)
    ink = [(v - floor) * gain if v > floor else 0.0 for v in pixels]

    # 2. bounding box of the ink
    rows = [y for y in range(height) if any(ink[y * width : (y + 1) * width])]
    top, bottom = rows[0], rows[-1] + 1
    left = min(next(x for x in range(width) if ink[y * width + x]) for y in rows)
    right = max(next(x for x in range(width - 1, -1, -1) if ink[y * width + x]) for y in rows) + 1
    w, h = right - left, bottom - top

    # 3. fit the longer side to the box, keeping the aspect ratio
    scale = box / max(w, h)
    out_w, out_h = (min(box, max(1, round(n * scale))) for n in (w, h))
    across = _resample_weights(w, out_w)
    down = _resample_weights(h, out_h)
    rows_scaled = []
    for y in range(top, bottom):
        row = ink[y * width + left : y * width + right]
        rows_scaled.append([sum(row[j] * wt for j, wt in taps) for taps in across])
    scaled = [
        [sum(rows_scaled[j][x] * wt for j, wt in taps) for x in range(out_w)] for taps in down
    ]
    peak = max(max(row) for row in scaled)
    if peak <= 0:  # cannot happen: the box holds ink
        raise DataError("no ink left after resizing", path=path)
    stretch = 255.0 / peak

    # 4. centre of mass to the centre of the field, by whole pixels
    mass = sum(sum(row) for row in scaled)
    cx = sum(x * v for row in scaled for x, v in enumerate(row)) / mass
    cy = sum(y * sum(row) for y, row in enumerate(scaled)) / mass
    dx, dy = math.floor(size / 2 - cx + 0.5), math.floor(size / 2 - cy + 0.5)
    field = bytearray(size * size)
    for y, row in enumerate(scaled):
        fy = y + dy
        if not 0 <= fy < size:
            continue
        for x, v in enumerate(row):
            fx = x + dx
            if 0 <= fx < size:
                field[fy * size + fx] = min(255, int(v * stretch + 0.5))
    return bytes(field)


def _resample_weights(source: int, target: int) -> list[list[tuple[int, float]]]:
    """For each of ``target`` output pixels, the (source index, weight) pairs of a triangle
    filter resampling ``source`` pixels to ``target``: radius 1 source pixel when enlarging
    (bilinear), ``source / target`` when shrinking (so every source pixel is averaged in).
    Pixel centres are at i + 0.5 on both sides; the weights of each output sum to 1."""
    ratio = source / target
    radius = max(ratio, 1.0)
    taps_all = []
    for i in range(target):
        centre = (i + 0.5) * ratio
        first = max(0, int(math.floor(centre - radius)))
        last = min(source, int(math.ceil(centre + radius)))
        taps = [(j, 1.0 - abs(j + 0.5 - centre) / radius) for j in range(first, last)]
        taps = [(j, wt) for j, wt in taps if wt > 0.0]
        if not taps:  # centre exactly between two far pixels
            taps = [(min(source - 1, int(centre)), 1.0)]
        total = sum(wt for _, wt in taps)
        taps_all.append([(j, wt / total) for j, wt in taps])
    return taps_all


def looks_inverted(pixels: bytes, *, width: int | None = None) -> bool:
    """True when the image's border is bright, i.e. probably dark ink on a light background.

    MNIST digits sit in a 20x20 box centred in 28x28, so the outer frame is background
    and, in MNIST, black. We average a 2-pixel frame (208 of 784 pixels at 28x28): wide
    enough not to be fooled by a stroke touching one edge, narrow enough to stay
    background for digits drawn larger than MNIST's. ``width`` defaults to a square image.
    """
    n = len(pixels)
    if width is None:
        width = int(round(n**0.5))
        if width * width != n:
            raise ValueError(f"looks_inverted: {n} pixels are not a square image; pass width=")
    if width <= 0 or n % width:
        raise ValueError(f"looks_inverted: {n} pixels do not make rows of width {width}")
    height = n // width
    frame = min(2, (width + 1) // 2, (height + 1) // 2)
    total = count = 0
    for y in range(height):
        row = pixels[y * width : (y + 1) * width]
        if y < frame or y >= height - frame:
            total += sum(row)
            count += width
        else:
            total += sum(row[:frame]) + sum(row[width - frame :])
            count += 2 * frame
    return count > 0 and total > 127.5 * count
