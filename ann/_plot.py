"""Text plots: seeing training without NumPy or Matplotlib.

``line_plot`` draws named (x, y) series on one pair of axes as plain text, so
loss and accuracy curves can be shown in a terminal, written to a log file or
redrawn live during training. (Which digit was taken for which is
``_confusion.py``.)

Two character sets:

* ``"unicode"``: the first series is drawn in braille (U+2800..U+28FF). Each
  braille cell holds 2 x 4 dots, so that curve has four times the vertical and
  twice the horizontal resolution of the character grid and looks smooth. Dots
  carry no identity, so two braille curves sharing a cell would be
  indistinguishable; every further series is therefore drawn at character
  resolution with its own marker (``•``, ``×``, ``+``, ...), on top of the
  braille. With the usual "train loss, validation loss" pair this reads well:
  the dense training curve is the smooth line, the sparse validation points are
  the markers. Axes use box-drawing characters.
* ``"ascii"``: every series is drawn at character resolution with its own
  marker (``*``, ``+``, ``o``, ``x``, ``#``, ...) and the axes are ``|``, ``-``
  and ``+``. The output is pure ASCII, safe for any log file or terminal.

In both modes a later series overwrites an earlier one where they share a
cell ("last drawn wins"), and the legend names every series with its key.
No ANSI colour is ever emitted, so output is identical on a terminal, in a pipe
or in a file (and ``NO_COLOR`` needs no special handling).

Sizes: ``width`` is the total number of columns, and no output line is ever
longer than it. ``height`` is the number of rows of the plotting area; the
title, axis, tick labels, axis titles and legend add a few lines around it.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ._drawing import BRAILLE_BITS

__all__ = [
    "line_plot",
    "supports_unicode",
    "MIN_WIDTH",
    "MIN_HEIGHT",
]

#: Narrowest plot drawn. Below this there is no room for tick labels plus a
#: readable plotting area, so an explicit smaller width is a caller error.
MIN_WIDTH = 20
#: Fewest rows of plotting area (two tick labels need distinct rows).
MIN_HEIGHT = 3
#: Narrowest plotting area kept beside the y tick labels.
_MIN_CANVAS = 4
#: Fixed-point labels longer than this switch to scientific notation when
#: that is shorter. Labels are never longer than the width leaves beside a
#: canvas of _MIN_CANVAS columns: scientific notation then drops digits.
_MAX_FIXED_LABEL = 12

# after the symbols, letters: the experiment grid plots up to 24 runs in one chart
_ASCII_MARKERS = "*+ox#@%&=~^$" + "abcdefghijklmnopqrstuvw"
# Markers for series 2, 3, ... in unicode mode (series 1 is braille).
_UNICODE_MARKERS = "•×+o#%*@&=~^" + "abcdefghijklmnopqrstuvw"
_BRAILLE_KEY = "⠤⠤"
_BOX = {"vert": "│", "tick": "┤", "corner": "└", "horiz": "─", "xtick": "┬", "ellipsis": "…"}
_ASCII_BOX = {
    "vert": "|",
    "tick": "+",
    "corner": "+",
    "horiz": "-",
    "xtick": "+",
    "ellipsis": "...",
}
# Every non-ASCII character line_plot may print in unicode mode, braille aside.
_UNICODE_SAMPLE = "⠀⣿⠤" + _UNICODE_MARKERS + "".join(_BOX.values())

# Grid coordinates are clamped to this many cells beyond the canvas before
# clipping. It keeps arithmetic finite for points far outside an explicit
# y_range; the slope change this causes only affects segments that leave the
# canvas almost vertically or horizontally anyway.
_FAR = 1e6
# A data span smaller than this is treated as constant (padding is added):
# nice-number arithmetic on spans near the float underflow limit breaks down.
_TINY_SPAN = 1e-280

Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def supports_unicode(stream: object) -> bool:
    """True when ``stream``'s encoding can encode every character the unicode mode uses.

    A stream without an ``encoding`` (e.g. a plain ``io.StringIO`` has None) is
    treated as unable: ASCII is the safe guess when we cannot tell.
    """
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return False
    try:
        _UNICODE_SAMPLE.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# ----------------------------------------------------------------------------- numbers


def _nice_step(half_span: float, count: int) -> float:
    """A step of 1, 2 or 5 times a power of ten close to ``2 * half_span / count``.

    Such steps make tick labels short and easy to read (0, 0.5, 1.0 rather
    than 0, 0.4137, 0.8274). The span comes in halved (see ``_half_span``)
    and the arithmetic is done on logarithms so that nothing overflows even
    for a span near the largest float.
    """
    raw_log = math.log10(half_span) + math.log10(2.0) - math.log10(max(1, count))
    exponent = math.floor(raw_log)
    fraction = 10.0 ** (raw_log - exponent)
    if fraction < 1.5:
        nice = 1.0
    elif fraction < 3.0:
        nice = 2.0
    elif fraction < 7.0:
        nice = 5.0
    else:
        nice = 10.0
    step = nice * 10.0**exponent
    return step if math.isfinite(step) else 1e308


def _half_span(lo: float, hi: float) -> float:
    # Half the span, computed so that it cannot overflow even for
    # lo = -1.7e308, hi = 1.7e308.
    return hi / 2 - lo / 2


def _pad_constant(value: float) -> tuple[float, float]:
    """A small range around a constant, so a flat line sits mid-plot."""
    pad = abs(value) * 0.1 if abs(value) > _TINY_SPAN else 1.0
    # near the float limit value + pad overflows: pad inwards on that side instead
    lo, hi = value - pad, value + pad
    if not math.isfinite(hi):
        hi = value
    if not math.isfinite(lo):
        lo = value
    return lo, hi


def _snap(quotient: float) -> float:
    """``quotient`` rounded to the nearest integer if it is one up to rounding error.

    ``lo / step`` for a bound that is a multiple of the step comes out as,
    e.g., 65536187.00000001; the error grows with the quotient, hence the
    relative term.
    """
    nearest = round(quotient)
    if abs(quotient - nearest) <= 1e-9 + 1e-12 * abs(quotient):
        return float(nearest)
    return quotient


def _ticks_in(lo: float, hi: float, step: float) -> list[float]:
    """Multiples of ``step`` inside [lo, hi], computed as k * step (no drift)."""
    first = math.ceil(_snap(lo / step))
    last = math.floor(_snap(hi / step))
    ticks = []
    for k in range(first, last + 1):
        value = k * step
        if math.isfinite(value):
            ticks.append(value)
    return ticks


def _format_scientific(values: Sequence[float], step: float, max_len: int) -> list[str]:
    biggest = max(abs(v) for v in values)
    # Enough mantissa digits to tell neighbouring ticks apart, fewer if the
    # labels would not fit (only for spans near the float precision limit).
    digits = max(0, math.floor(math.log10(biggest)) - math.floor(math.log10(step)))
    digits = min(digits, 16)
    while True:
        labels = []
        for v in values:
            if v == 0:
                labels.append("0")
                continue
            mantissa, _, exponent = f"{v:.{digits}e}".partition("e")
            labels.append(f"{mantissa}e{int(exponent)}")
        if digits == 0 or max(len(t) for t in labels) <= max_len:
            return labels
        digits -= 1


def _format_ticks(values: Sequence[float], step: float, max_len: int) -> list[str]:
    """Compact labels, at most ``max_len`` long, for multiples of ``step``.

    All labels of one axis share one notation and number of decimals, chosen
    from the step so neighbouring ticks differ: fixed point (``0.25``), an SI
    suffix for large round values (``20k``, ``1.5M``), scientific notation for
    very large or very small values or when fixed point would be too long.
    """
    if not values:
        return []
    biggest = max(abs(v) for v in values)
    if biggest == 0:
        return ["0" for _ in values]
    if biggest >= 1e15 or biggest < 1e-3:
        return _format_scientific(values, step, max_len)
    scale, suffix = 1.0, ""
    for factor, name in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        # 1e4 selects "k" but divides by 1e3: 20000 reads "20k". A suffix
        # is only used when it needs at most two decimals ("1.25M", not
        # "100.0000005k").
        divisor = 1e3 if name == "k" else factor
        if biggest >= factor and step >= divisor / 100:
            scale, suffix = divisor, name
            break
    decimals = max(0, -math.floor(math.log10(step / scale) + 1e-9))
    labels = []
    for v in values:
        text = f"{v / scale:.{decimals}f}"
        if float(text) == 0:
            text = "0"  # never "-0.0" or "0.00k"
        else:
            text += suffix
        labels.append(text)
    if max(len(t) for t in labels) > min(max_len, _MAX_FIXED_LABEL):
        scientific = _format_scientific(values, step, max_len)
        if max(len(t) for t in scientific) < max(len(t) for t in labels):
            return scientific
    if max(len(t) for t in labels) > max_len:
        return _format_scientific(values, step, max_len)
    return labels


# ----------------------------------------------------------------------------- ranges


def _data_range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if _half_span(lo, hi) < _TINY_SPAN:
        middle = lo / 2 + hi / 2
        return _pad_constant(middle)
    return lo, hi


def _y_axis(
    values: list[float], y_range: tuple[float, float] | None, rows: int
) -> tuple[float, float, list[float], float]:
    """Axis bounds, tick values and tick step for the y axis.

    Bounds that come from the data are widened to the enclosing tick
    ("loose" labelling), so the top and bottom rows carry a label and the
    extreme data points sit on or inside them. Bounds given in ``y_range``
    are kept exactly.
    """
    fixed_lo = fixed_hi = None
    if y_range is not None:
        try:
            fixed_lo, fixed_hi = y_range
        except (TypeError, ValueError):
            raise ValueError(f"y_range must be a pair (low, high), got {y_range!r}") from None
    lo, hi = _data_range(values) if values else (0.0, 1.0)
    if fixed_lo is not None:
        lo = float(fixed_lo)
    if fixed_hi is not None:
        hi = float(fixed_hi)
    if fixed_lo is not None and fixed_hi is None and hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    if fixed_hi is not None and fixed_lo is None and lo >= hi:
        lo = hi - (abs(hi) * 0.1 or 1.0)
    if not (math.isfinite(lo) and math.isfinite(hi)) or _half_span(lo, hi) <= 0:
        raise ValueError(f"y_range must be two finite numbers, low < high; got {y_range!r}")
    if _half_span(lo, hi) < _TINY_SPAN:
        lo, hi = _pad_constant(lo / 2 + hi / 2)

    target = max(2, min(6, (rows + 1) // 3 + 1))
    step = _nice_step(_half_span(lo, hi), target - 1)
    if fixed_lo is not None or fixed_hi is not None:
        step = _aligned_step(lo, hi, target - 1, max(target - 1, (rows + 1) // 2)) or step
    if fixed_lo is None:
        widened = math.floor(_snap(lo / step)) * step
        lo = widened if math.isfinite(widened) else lo
    if fixed_hi is None:
        widened = math.ceil(_snap(hi / step)) * step
        hi = widened if math.isfinite(widened) else hi
    return lo, hi, _ticks_in(lo, hi, step), step


def _aligned_step(lo: float, hi: float, fewest: int, most: int) -> float | None:
    """A round step that has both ``lo`` and ``hi`` as multiples, or None.

    Used for bounds the caller fixed (e.g. accuracy from 0.5 to 1), which
    should both carry a label; widening cannot do that for them. Tries
    ``fewest`` to ``most`` intervals, so labels stay about two rows apart.
    """
    for intervals in range(fewest, most + 1):
        step = _nice_step(_half_span(lo, hi), intervals)
        if _snap(lo / step) % 1 == 0 and _snap(hi / step) % 1 == 0:
            return step
    return None


def _x_axis(values: list[float]) -> tuple[float, float]:
    # The x axis spans the data exactly: steps usually start at 0 or 1 and
    # widening would only waste columns.
    return _data_range(values) if values else (0.0, 1.0)


def _to_grid(value: float, lo: float, hi: float, cells: int) -> float:
    """Continuous grid coordinate of ``value``: lo -> 0, hi -> cells - 1."""
    fraction = (value / 2 - lo / 2) / _half_span(lo, hi)
    coordinate = fraction * (cells - 1)
    return min(max(coordinate, -_FAR), _FAR)


# ----------------------------------------------------------------------------- raster


def _clip(
    x0: float, y0: float, x1: float, y1: float, xmax: float, ymax: float
) -> tuple[float, float, float, float] | None:
    """Liang-Barsky: the part of a segment inside [0, xmax] x [0, ymax], or None."""
    t0, t1 = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0), (dx, xmax - x0), (-dy, y0), (dy, ymax - y0)):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def _bresenham(x0: int, y0: int, x1: int, y1: int) -> Iterator[tuple[int, int]]:
    """Integer points of the line from (x0, y0) to (x1, y1), both ends included."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx = 1 if x0 < x1 else -1
    sy = 1 if y0 < y1 else -1
    error = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        doubled = 2 * error
        if doubled >= dy:
            error += dy
            x0 += sx
        if doubled <= dx:
            error += dx
            y0 += sy


def _rasterize(
    runs: list[list[tuple[float, float]]], nx: int, ny: int
) -> Iterator[tuple[int, int]]:
    """Grid points (x right, y up) covering the runs of one series, lines connected."""
    xmax, ymax = nx - 1, ny - 1
    for run in runs:
        if len(run) == 1:
            x, y = run[0]
            if 0 <= x <= xmax and 0 <= y <= ymax:
                yield round(x), round(y)
            continue
        for (x0, y0), (x1, y1) in zip(run, run[1:]):
            clipped = _clip(x0, y0, x1, y1, xmax, ymax)
            if clipped is None:
                continue
            ax, ay, bx, by = (round(c) for c in clipped)
            yield from _bresenham(ax, ay, bx, by)


# ----------------------------------------------------------------------------- text


def _fit(text: str, width: int, ellipsis: str) -> str:
    """``text`` cut to ``width`` columns, marking the cut with ``ellipsis``."""
    if len(text) <= width:
        return text
    if width <= len(ellipsis):
        return text[:width]
    return text[: width - len(ellipsis)] + ellipsis


def _legend_lines(entries: list[str], width: int, ellipsis: str) -> list[str]:
    """Legend entries joined by two spaces, wrapped onto as many lines as needed."""
    lines: list[str] = []
    current = ""
    for entry in entries:
        entry = _fit(entry, width, ellipsis)
        if current and len(current) + 2 + len(entry) <= width:
            current += "  " + entry
        else:
            if current:
                lines.append(current)
            current = entry
    if current:
        lines.append(current)
    return lines


def _x_tick_line(
    lo: float, hi: float, nx: int, cells: int, per_cell: int, left: int, width: int
) -> tuple[str, list[int]]:
    """The x tick label line and the canvas columns that get a tick mark.

    Tries fewer and fewer ticks until every label fits without touching its
    neighbours (at least two spaces apart) and inside ``width``.
    """
    best: tuple[str, list[int]] = ("", [])
    for target in range(max(2, min(10, cells // 6)), 1, -1):
        step = _nice_step(_half_span(lo, hi), target)
        ticks = _ticks_in(lo, hi, step)
        labels = _format_ticks(ticks, step, width)
        line = [" "] * width
        columns: list[int] = []
        end = -2  # first column after the previous label
        complete = True
        for value, label in zip(ticks, labels):
            column = round(_to_grid(value, lo, hi, nx)) // per_cell
            column = min(max(column, 0), cells - 1)
            start = left + column - len(label) // 2
            start = min(max(start, 0), width - len(label))
            if start < end + 2:
                complete = False
                continue
            line[start : start + len(label)] = label
            end = start + len(label)
            columns.append(column)
        text = "".join(line).rstrip()
        if complete:
            return text, columns
        if len(columns) > len(best[1]):
            best = (text, columns)
    return best


def line_plot(
    series: Series,
    *,
    width: int | None = None,
    height: int | None = None,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    charset: str = "auto",
    y_range: tuple[float, float] | None = None,
) -> str:
    """Render named (x values, y values) series as a text line plot.

    ``series`` maps a legend name to ``(xs, ys)`` of equal length. Points with
    a NaN or infinite coordinate are skipped and break the line there (a gap is
    more honest than a segment through missing data). Consecutive points are
    joined by straight lines.

    ``width``: total columns (default: the terminal width). Never exceeded by
    any line. An explicit width below ``MIN_WIDTH`` raises ValueError; the
    default is clamped up to ``MIN_WIDTH`` instead, so a tiny terminal gets a
    plot that wraps rather than an exception in the middle of training.
    ``height``: rows of the plotting area (default ``min(20, lines - 6)``,
    at least ``MIN_HEIGHT``); explicit values below ``MIN_HEIGHT`` raise.
    ``charset``: "unicode", "ascii" or "auto" (unicode when
    ``supports_unicode(sys.stdout)``). See the module docstring for how series
    are told apart in each mode.
    ``y_range``: ``(low, high)`` to fix the y axis (e.g. ``(0, 1)`` for
    accuracy), either may be None to take it from the data. Fixed bounds are
    kept exactly (points beyond them are clipped at the edge) and labelled
    when a round step has both as multiples. Bounds from the data are widened
    to the enclosing round tick values.

    When there is no finite point at all the result is a one-line message
    (under the title, if any) instead of a plot.
    """
    if charset == "auto":
        charset = "unicode" if supports_unicode(sys.stdout) else "ascii"
    if charset not in ("unicode", "ascii"):
        raise ValueError(f"charset must be 'auto', 'unicode' or 'ascii', not {charset!r}")
    width, height = _plot_size(width, height)
    box = _BOX if charset == "unicode" else _ASCII_BOX
    ellipsis = box["ellipsis"]

    runs_by_name = {name: _finite_runs(name, xy) for name, xy in series.items()}
    all_x = [x for runs in runs_by_name.values() for run in runs for x, _ in run]
    all_y = [y for runs in runs_by_name.values() for run in runs for _, y in run]

    lines: list[str] = []
    if title:
        lines.append(_fit(title, width, ellipsis).center(width).rstrip())
    if not all_x:
        lines.append(_fit("(no finite data points to plot)", width, ellipsis))
        return "\n".join(lines)

    y_lo, y_hi, y_ticks, y_step = _y_axis(all_y, y_range, height)
    x_lo, x_hi = _x_axis(all_x)
    y_tick_labels = _format_ticks(y_ticks, y_step, width - 1 - _MIN_CANVAS)
    margin = max((len(t) for t in y_tick_labels), default=0)
    cells = width - margin - 1  # canvas columns right of the y axis

    # Rasterize every series. Braille works on a dot grid of 2 x 4 dots per
    # cell; markers on the cell grid itself.
    braille = [[0] * cells for _ in range(height)]
    marks: list[list[str | None]] = [[None] * cells for _ in range(height)]
    legend: list[str] = []
    marker_index = 0
    for index, (name, runs) in enumerate(runs_by_name.items()):
        use_braille = charset == "unicode" and index == 0
        per_x, per_y = (2, 4) if use_braille else (1, 1)
        nx, ny = cells * per_x, height * per_y
        grid_runs = [
            [(_to_grid(x, x_lo, x_hi, nx), _to_grid(y, y_lo, y_hi, ny)) for x, y in run]
            for run in runs
        ]
        if use_braille:
            key = _BRAILLE_KEY
            for gx, gy in _rasterize(grid_runs, nx, ny):
                top_down = ny - 1 - gy
                braille[top_down // 4][gx // 2] |= BRAILLE_BITS[gx % 2][top_down % 4]
        else:
            markers = _UNICODE_MARKERS if charset == "unicode" else _ASCII_MARKERS
            key = markers[marker_index % len(markers)]
            marker_index += 1
            for gx, gy in _rasterize(grid_runs, nx, ny):
                marks[ny - 1 - gy][gx] = key
        legend.append(f"{key} {name}" + ("" if runs else " (no data)"))

    # y tick labels go on the row where a point of that value would be drawn.
    per_y_axis = 4 if charset == "unicode" else 1
    label_rows: dict[int, str] = {}
    for value, label in zip(y_ticks, y_tick_labels):
        grid_y = round(_to_grid(value, y_lo, y_hi, height * per_y_axis))
        row = height - 1 - min(max(grid_y // per_y_axis, 0), height - 1)
        label_rows.setdefault(row, label)

    if y_label:
        lines.append(_fit(y_label, width, ellipsis))
    for row in range(height):
        cells_text = []
        for column in range(cells):
            mark = marks[row][column]
            if mark is not None:
                cells_text.append(mark)
            elif braille[row][column]:
                cells_text.append(chr(0x2800 + braille[row][column]))
            else:
                cells_text.append(" ")
        axis = box["tick"] if row in label_rows else box["vert"]
        lines.append((label_rows.get(row, "").rjust(margin) + axis + "".join(cells_text)).rstrip())

    per_x_axis = 2 if charset == "unicode" else 1
    tick_text, tick_columns = _x_tick_line(
        x_lo, x_hi, cells * per_x_axis, cells, per_x_axis, margin + 1, width
    )
    axis_line = [box["horiz"]] * cells
    for column in tick_columns:
        axis_line[column] = box["xtick"]
    lines.append(" " * margin + box["corner"] + "".join(axis_line))
    if tick_text:
        lines.append(tick_text)
    if x_label:
        # Centred under the plotting area, not under the whole width.
        lines.append((" " * (margin + 1) + _fit(x_label, cells, ellipsis).center(cells)).rstrip())
    lines.extend(_legend_lines(legend, width, ellipsis))
    return "\n".join(lines)


def _plot_size(width: int | None, height: int | None) -> tuple[int, int]:
    terminal = shutil.get_terminal_size()
    if width is None:
        width = max(MIN_WIDTH, terminal.columns)
    elif width < MIN_WIDTH:
        raise ValueError(f"plot width must be at least {MIN_WIDTH} columns, got {width}")
    if height is None:
        height = max(MIN_HEIGHT, min(20, terminal.lines - 6))
    elif height < MIN_HEIGHT:
        raise ValueError(f"plot height must be at least {MIN_HEIGHT} rows, got {height}")
    return width, height


def _finite_runs(name: str, xy: Any) -> list[list[tuple[float, float]]]:
    """The series' points split into runs of consecutive finite points."""
    try:
        xs, ys = xy
    except (TypeError, ValueError):
        raise ValueError(f"series {name!r} must be a pair (x values, y values)") from None
    if len(xs) != len(ys):
        raise ValueError(f"series {name!r} has {len(xs)} x values but {len(ys)} y values")
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise ValueError(
                f"series {name!r}: point {i} is not a pair of numbers: ({x!r}, {y!r})"
            ) from None
        if math.isfinite(x) and math.isfinite(y):
            current.append((x, y))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs
