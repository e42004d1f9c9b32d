"""Images drawn in a terminal, as characters: how ``ann trace`` shows its input digits and
``ann augment-preview`` shows digits before and after augmentation (and the braille dots the
line plots of ``_plot.py`` are drawn with).

Two alphabets: ASCII shades from dark to light (``SHADES``), one character per pixel or per
2 x 2 pixels; and Unicode braille, one character per 2 x 4 pixels, a dot per pixel above a
threshold. Light ink on a dark background, as MNIST stores its digits.
"""

from __future__ import annotations

import math

Matrix = list[float]

#: Dark to light, for pixel values from 0 up.
SHADES = " .:-=+*#%@"

#: The dot bits of a braille cell (the character is U+2800 plus them):
#: BRAILLE_BITS[column][row], column 0..1, row 0..3 counted from the top. The odd order is the
#: historical 6-dot layout plus dots 7 and 8 added later at the bottom.
BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def draw_digits(images: list[list[int]], indent: str) -> list[str]:
    """Square images of pixels 0..255 (MNIST's 28 x 28) drawn side by side, one character
    per pixel, up to four (``ann trace``); [] for anything else."""
    side = int(round(math.sqrt(len(images[0]))))
    if side * side != len(images[0]) or side < 8 or len(images) > 4:
        return []
    rows = [
        "   ".join(
            "".join(SHADES[v * len(SHADES) // 256] for v in img[y * side : (y + 1) * side])
            for img in images
        ).rstrip()
        for y in range(side)
    ]
    inked = [y for y, row in enumerate(rows) if row]  # blank rows above and below go
    return [indent + row for row in rows[inked[0] : inked[-1] + 1]] if inked else []


def draw_image(pixels: Matrix, H: int, W: int, unicode: bool, threshold: float = 0.4) -> list[str]:
    """Lines of text picturing an image (H, W) of values in [0, 1]. unicode: braille, one
    character per 2 x 4 pixels, a dot where the pixel is above ``threshold``; else ASCII, one
    character per 2 x 2 pixels, shaded by their mean."""

    def at(i: int, j: int) -> float:
        return pixels[i * W + j] if i < H and j < W else 0.0

    lines = []
    if unicode:
        for i in range(0, H, 4):
            cells = []
            for j in range(0, W, 2):
                bits = 0
                for di in range(4):
                    for dj in range(2):
                        if at(i + di, j + dj) > threshold:
                            bits |= BRAILLE_BITS[dj][di]
                cells.append(chr(0x2800 + bits))
            lines.append("".join(cells))
        return lines
    top = len(SHADES) - 1
    for i in range(0, H, 2):
        row = []
        for j in range(0, W, 2):
            mean = (at(i, j) + at(i, j + 1) + at(i + 1, j) + at(i + 1, j + 1)) / 4
            row.append(SHADES[min(top, max(0, round(mean * top)))])
        lines.append("".join(row))
    return lines


def draw_pairs(
    originals: list[Matrix], augmented: list[Matrix], H: int, W: int, unicode: bool, columns: int
) -> str:
    """A grid of digits: in each band, a row of originals and beneath it the same digits as
    augmented, as many per band as fit in ``columns`` characters."""
    cell = len(draw_image([0.0] * (H * W), H, W, unicode)[0])
    label = 10
    per_band = max(1, (columns - label) // (cell + 1))
    out: list[str] = []
    for start in range(0, len(originals), per_band):
        for name, images in (("original", originals), ("augmented", augmented)):
            drawn = [draw_image(img, H, W, unicode) for img in images[start : start + per_band]]
            for k in range(len(drawn[0])):
                head = name if k == 0 else ""
                out.append(f"{head:<{label}}" + " ".join(d[k] for d in drawn).rstrip())
        out.append("")
    return "\n".join(out[:-1]) + "\n"  # every band, the blank line between bands
