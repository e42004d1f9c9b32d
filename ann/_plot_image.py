"""Line plots as image files: SVG (vector, any viewer or browser) and PNG (pixels), for
``ann train --plot-file`` and ``ann experiment --plot-file``; the text plots of ``_plot.py``
go to a terminal or a text file.

A figure is a column of panels (``Panel``: a title, an x label and named (xs, ys) series),
laid out once (``_layout``: pixel boxes, ticks and their labels, each series as runs of
finite points) and then drawn by one of two painters: ``svg`` writes elements, ``png`` sets
pixels in a palette image with Bresenham lines and a 5 x 7 bitmap font, and encodes it with
the package's own PNG writer. The ticks and their labels are chosen as the text plots choose
them (``_plot._y_axis``, ``_plot._format_ticks``), so a file and the terminal agree.

Series are told apart by colour (the Okabe-Ito palette, which colour-blind readers can tell
apart), and beyond its eight colours by dashes. A point with a NaN or infinite coordinate
breaks its line, as in the text plots.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ._plot import (
    Series,
    _finite_runs,
    _format_ticks,
    _half_span,
    _nice_step,
    _ticks_in,
    _x_axis,
    _y_axis,
)
from ._png import _encode_png

#: The suffixes of an image plot; any other name gets the text plot.
IMAGE_SUFFIXES = (".svg", ".png")
#: Image formats a plot could be asked for by its name but ann does not write: refused, so
#: that a viewer is never handed text under an image's name.
OTHER_IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pdf",
    ".eps",
    ".ps",
    ".ico",
)

WIDTH = 800  # pixels (SVG user units) across
_PLOT_HEIGHT = 260  # the plotting area of one panel
_TITLE, _TICKS, _XLABEL, _LEGEND_ROW, _GAP = 30, 24, 24, 22, 16  # rows around it
_RIGHT = 24  # margin right of the plotting area

# white, black (axes, text), light grey (grid lines), then the series' colours: the
# Okabe-Ito palette (blue, orange, bluish green, vermillion, sky blue, reddish purple,
# grey, yellow; yellow last, as it is the faintest on white)
_WHITE, _BLACK, _GRID = (255, 255, 255), (0, 0, 0), (225, 225, 225)
_COLOURS = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (213, 94, 0),
    (86, 180, 233),
    (204, 121, 167),
    (110, 110, 110),
    (240, 228, 66),
)
_DASHES = ((), (8, 5), (2, 4))  # solid, dashed, dotted: the 1st, 2nd, 3rd round of colours


@dataclass
class Panel:
    """One plot of a figure: ``series`` maps a legend name to (xs, ys)."""

    title: str
    x_label: str
    series: Series


def image_format(path: str) -> str | None:
    """ "svg" or "png" for an image plot's name, "text" for any other, None for an image
    format ann does not write (.jpg, .pdf, ...)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return suffix[1:]
    return None if suffix in OTHER_IMAGE_SUFFIXES else "text"


def render(panels: Sequence[Panel], kind: str) -> bytes:
    """The figure as the bytes of an SVG (``kind`` "svg") or PNG ("png") file."""
    if kind not in ("svg", "png"):
        raise ValueError(f"kind must be 'svg' or 'png', not {kind!r}")
    placed, height = _stack(panels)
    return _svg(placed, height).encode("utf-8") if kind == "svg" else _png(placed, height)


# ---- layout: where everything goes, for both painters ----------------------------------------


@dataclass
class _Laid:
    panel: Panel
    top: int  # of the panel, from the figure's top
    left: int  # of the plotting area
    height: int  # of the whole panel
    x_ticks: list[tuple[float, str]]  # (pixel x, label)
    y_ticks: list[tuple[float, str]]  # (pixel y, label)
    lines: list[tuple[int, list[list[tuple[float, float]]]]]  # (series index, pixel runs)
    legend: list[list[tuple[int, str]]]  # rows of (series index, name)

    @property
    def plot_top(self) -> int:
        return self.top + _TITLE

    @property
    def plot_bottom(self) -> int:
        return self.plot_top + _PLOT_HEIGHT

    @property
    def right(self) -> int:
        return WIDTH - _RIGHT


_CHAR = 12  # advance of one character of the bitmap font at scale 2 (SVG: an estimate)


def _layout(panel: Panel, top: int = 0) -> _Laid:
    runs = {name: _finite_runs(name, xy) for name, xy in panel.series.items()}
    xs = [x for rs in runs.values() for run in rs for x, _ in run]
    ys = [y for rs in runs.values() for run in rs for _, y in run]
    y_lo, y_hi, y_values, y_step = _y_axis(ys, None, 16)
    y_labels = _format_ticks(y_values, y_step, 10)
    x_lo, x_hi = _x_axis(xs)
    x_step = _nice_step(_half_span(x_lo, x_hi), 6)
    x_values = _ticks_in(x_lo, x_hi, x_step)
    x_labels = _format_ticks(x_values, x_step, 10)
    left = 16 + _CHAR * max((len(t) for t in y_labels), default=1)
    width = WIDTH - _RIGHT - left

    def px(x: float) -> float:
        return left + (x / 2 - x_lo / 2) / _half_span(x_lo, x_hi) * width

    def py(y: float) -> float:
        return top + _TITLE + (y_hi / 2 - y / 2) / _half_span(y_lo, y_hi) * _PLOT_HEIGHT

    legend: list[list[tuple[int, str]]] = [[]]
    used = 0
    for index, name in enumerate(runs):
        need = 36 + _CHAR * len(name) + 24
        if legend[-1] and used + need > WIDTH - 2 * left:
            legend.append([])
            used = 0
        legend[-1].append((index, name + ("" if runs[name] else " (no data)")))
        used += need
    height = _TITLE + _PLOT_HEIGHT + _TICKS + (_XLABEL if panel.x_label else 0)
    height += _LEGEND_ROW * len(legend) + _GAP
    return _Laid(
        panel=panel,
        top=top,
        left=left,
        height=height,
        x_ticks=[(px(v), label) for v, label in zip(x_values, x_labels)],
        y_ticks=[(py(v), label) for v, label in zip(y_values, y_labels)],
        lines=[
            (i, [[(px(x), py(y)) for x, y in run] for run in rs])
            for i, rs in enumerate(runs.values())
        ],
        legend=legend,
    )


def _stack(panels: Sequence[Panel]) -> tuple[list[_Laid], int]:
    """The panels laid out one under the other; (their layouts, the figure's height)."""
    placed, top = [], 0
    for panel in panels:
        placed.append(_layout(panel, top))
        top += placed[-1].height
    return placed, top


# ---- SVG ----------------------------------------------------------------------------------------


def _rgb(colour: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in colour)


def _svg(panels: list[_Laid], height: int) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
    ]
    for n, p in enumerate(panels):
        out.append(
            f'<clipPath id="area{n}"><rect x="{p.left}" y="{p.plot_top}" '
            f'width="{p.right - p.left}" height="{_PLOT_HEIGHT}"/></clipPath>'
        )
        middle = (p.left + p.right) / 2
        out.append(
            f'<text x="{middle:.1f}" y="{p.top + 20}" text-anchor="middle" '
            f'font-size="15">{escape(p.panel.title)}</text>'
        )
        for y, label in p.y_ticks:
            out.append(
                f'<line x1="{p.left}" y1="{y:.2f}" x2="{p.right}" y2="{y:.2f}" '
                f'stroke="{_rgb(_GRID)}"/>'
            )
            out.append(
                f'<text x="{p.left - 6}" y="{y + 4:.2f}" text-anchor="end">{escape(label)}</text>'
            )
        for x, label in p.x_ticks:
            out.append(
                f'<line x1="{x:.2f}" y1="{p.plot_bottom}" x2="{x:.2f}" '
                f'y2="{p.plot_bottom + 5}" stroke="black"/>'
            )
            out.append(
                f'<text x="{x:.2f}" y="{p.plot_bottom + 19}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
        out.append(
            f'<polyline points="{p.left},{p.plot_top} {p.left},{p.plot_bottom} '
            f'{p.right},{p.plot_bottom}" fill="none" stroke="black"/>'
        )
        for index, runs in p.lines:
            style = _svg_style(index)
            for run in runs:
                if len(run) == 1:  # a lone point: a dot
                    ((x, y),) = run
                    out.append(
                        f'<circle cx="{x:.2f}" cy="{y:.2f}" r="2.5" '
                        f'fill="{_rgb(_colour(index))}" clip-path="url(#area{n})"/>'
                    )
                    continue
                points = " ".join(f"{x:.2f},{y:.2f}" for x, y in run)
                out.append(f'<polyline points="{points}" {style} clip-path="url(#area{n})"/>')
        below = p.plot_bottom + _TICKS
        if p.panel.x_label:
            below += _XLABEL
            out.append(
                f'<text x="{middle:.1f}" y="{below - 6}" text-anchor="middle">'
                f"{escape(p.panel.x_label)}</text>"
            )
        for row in p.legend:
            below += _LEGEND_ROW
            x = p.left
            for index, name in row:
                y = below - 6
                out.append(
                    f'<line x1="{x}" y1="{y - 4}" x2="{x + 28}" y2="{y - 4}" {_svg_style(index)}/>'
                )
                out.append(f'<text x="{x + 36}" y="{y}">{escape(name)}</text>')
                x += 36 + 8 * len(name) + 24  # (13 px sans-serif: about 7 px a character)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _colour(index: int) -> tuple[int, int, int]:
    return _COLOURS[index % len(_COLOURS)]


def _svg_style(index: int) -> str:
    dashes = _DASHES[index // len(_COLOURS) % len(_DASHES)]
    dash = f' stroke-dasharray="{",".join(map(str, dashes))}"' if dashes else ""
    return (
        f'fill="none" stroke="{_rgb(_colour(index))}" stroke-width="2" '
        f'stroke-linejoin="round"{dash}'
    )


# ---- PNG ----------------------------------------------------------------------------------------

# A 5 x 7 bitmap font: each glyph is seven rows from the top down to the baseline (g, j, p, q,
# y and the comma two more below it), bit 4 the leftmost column.
# Lower-case letters, digits and the signs tick labels, titles and legends use; an upper-case
# letter without a glyph of its own is drawn as its lower-case one.
_FONT: dict[str, tuple[int, ...]] = {
    " ": (0, 0, 0, 0, 0, 0, 0),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "a": (0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F),
    "b": (0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E),
    "c": (0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E),
    "d": (0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F),
    "e": (0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E),
    "f": (0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08),
    "g": (0, 0, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E),
    "h": (0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11),
    "i": (0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E),
    "j": (0x02, 0, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "k": (0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12),
    "l": (0x08, 0x08, 0x08, 0x08, 0x08, 0x09, 0x06),
    "m": (0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11),
    "n": (0, 0, 0x16, 0x19, 0x11, 0x11, 0x11),
    "o": (0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E),
    "p": (0, 0, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10),
    "q": (0, 0, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01),
    "r": (0, 0, 0x16, 0x19, 0x10, 0x10, 0x10),
    "s": (0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E),
    "t": (0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06),
    "u": (0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D),
    "v": (0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "w": (0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A),
    "x": (0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11),
    "y": (0, 0, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E),
    "z": (0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0, 0x0C, 0x0C, 0x04, 0x08),
    "-": (0, 0, 0, 0x0E, 0, 0, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
}
_SCALE = 2  # each font pixel is 2 x 2 image pixels: characters 10 x 14, 12 apart


class _Canvas:
    """A palette image: one byte per pixel, an index into ``colours``."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(width * height)  # 0: white
        self.colours = [_WHITE, _BLACK, _GRID, *_COLOURS]

    def dot(self, x: int, y: int, colour: int, clip: tuple[int, int, int, int] | None) -> None:
        if clip is not None and not (clip[0] <= x <= clip[2] and clip[1] <= y <= clip[3]):
            return
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[y * self.width + x] = colour

    def line(
        self,
        a: tuple[float, float],
        b: tuple[float, float],
        colour: int,
        clip: tuple[int, int, int, int] | None = None,
        thick: bool = False,
        dashes: tuple[int, ...] = (),
        phase: int = 0,
    ) -> int:
        """Bresenham from a to b (thick: two pixels wide); returns the dash phase after it."""
        x0, y0, x1, y1 = (round(min(max(v, -1e5), 1e5)) for v in (*a, *b))
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        period, steep = sum(dashes), dx < -dy
        while True:
            if not dashes or phase % period < dashes[0]:
                self.dot(x0, y0, colour, clip)
                if thick:  # the second pixel across the line's direction
                    self.dot(x0 + steep, y0 + (not steep), colour, clip)
            phase += 1
            if (x0, y0) == (x1, y1):
                return phase
            twice = 2 * err
            if twice >= dy:
                err, x0 = err + dy, x0 + sx
            if twice <= dx:
                err, y0 = err + dx, y0 + sy

    def text(self, x: float, y: float, text: str, anchor: str = "start") -> None:
        """``text`` in the bitmap font, its baseline at y; anchor "start", "middle", "end"."""
        width = len(text) * 6 * _SCALE - _SCALE
        left = round(x - {"start": 0, "middle": width / 2, "end": width}[anchor])
        top = round(y) - 7 * _SCALE
        for n, char in enumerate(text):
            glyph = _FONT.get(char) or _FONT.get(char.lower()) or _FONT["?"]
            for row, bits in enumerate(glyph):
                for column in range(5):
                    if bits >> (4 - column) & 1:
                        for u in range(_SCALE):
                            for v in range(_SCALE):
                                gx = left + (n * 6 + column) * _SCALE + u
                                self.dot(gx, top + row * _SCALE + v, 1, None)

    def encode(self) -> bytes:
        palette = b"".join(bytes(c) for c in self.colours)
        rows = [
            bytes(self.pixels[y * self.width : (y + 1) * self.width]) for y in range(self.height)
        ]
        return _encode_png(self.width, self.height, 3, 8, rows, filters=1, palette=palette)


def _png(panels: list[_Laid], height: int) -> bytes:
    canvas = _Canvas(WIDTH, height)
    for p in panels:
        middle = (p.left + p.right) / 2
        canvas.text(middle, p.top + 20, p.panel.title, "middle")
        for y, label in p.y_ticks:
            canvas.line((p.left, y), (p.right, y), 2)
            canvas.text(p.left - 8, y + 7, label, "end")
        for x, label in p.x_ticks:
            canvas.line((x, p.plot_bottom), (x, p.plot_bottom + 5), 1)
            canvas.text(x, p.plot_bottom + 22, label, "middle")
        canvas.line((p.left, p.plot_top), (p.left, p.plot_bottom), 1)
        canvas.line((p.left, p.plot_bottom), (p.right, p.plot_bottom), 1)
        area = (p.left + 1, p.plot_top, p.right, p.plot_bottom - 1)
        for index, runs in p.lines:
            colour, dashes = 3 + index % len(_COLOURS), _png_dashes(index)
            for run in runs:
                phase = 0
                if len(run) == 1:
                    run = [run[0], run[0]]
                for a, b in zip(run, run[1:]):
                    phase = canvas.line(a, b, colour, area, thick=True, dashes=dashes, phase=phase)
        below = p.plot_bottom + _TICKS
        if p.panel.x_label:
            below += _XLABEL
            canvas.text(middle, below - 4, p.panel.x_label, "middle")
        for row in p.legend:
            below += _LEGEND_ROW
            x = p.left
            for index, name in row:
                y = below - 4
                colour, dashes = 3 + index % len(_COLOURS), _png_dashes(index)
                canvas.line((x, y - 6), (x + 28, y - 6), colour, thick=True, dashes=dashes)
                canvas.text(x + 36, y, name)
                x += 36 + _CHAR * len(name) + 24
    return canvas.encode()


def _png_dashes(index: int) -> tuple[int, ...]:
    return _DASHES[index // len(_COLOURS) % len(_DASHES)]
