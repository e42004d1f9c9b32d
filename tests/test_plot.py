"""Tests of the text plots and confusion tables (ann._plot)."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ann._confusion import confusion_matrix, format_confusion
from ann._plot import MIN_HEIGHT, MIN_WIDTH, line_plot, supports_unicode

ASCII_AXIS = "|+"
UNICODE_AXIS = "│┤"


# ----------------------------------------------------------------------------- helpers


def canvas(text: str, height: int, axis_chars: str, width: int = 0):
    """Split a plot made without title/y_label into (y tick labels, canvas rows).

    The first ``height`` lines are the plotting area: tick label, axis
    character, then the cells. Given the plot ``width``, rows are padded with
    spaces to the full canvas width (the plot strips trailing spaces).
    """
    rows = text.split("\n")[:height]
    labels, cells = [], []
    for row in rows:
        position = min(i for i, ch in enumerate(row) if ch in axis_chars)
        labels.append(row[:position].strip())
        cells.append(row[position + 1 :].ljust(max(0, width - position - 1)))
    return labels, cells


def parse_number(label: str) -> float:
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if label and label[-1] in scale:
        return float(label[:-1]) * scale[label[-1]]
    return float(label)


def mark_rows_by_column(cells, is_mark):
    """For each column, the row indices (0 = top) holding a mark."""
    width = max(len(row) for row in cells)
    columns = {}
    for r, row in enumerate(cells):
        for c, ch in enumerate(row.ljust(width)):
            if is_mark(ch):
                columns.setdefault(c, []).append(r)
    return columns


def is_braille(ch: str) -> bool:
    return "\u2801" <= ch <= "\u28ff"


def braille_lowest_dot(ch: str) -> int:
    """Lowest dot row (0 = top .. 3 = bottom) set in a braille cell."""
    bits = ord(ch) - 0x2800
    rows = []
    for row, (left, right) in enumerate(((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))):
        if bits & (left | right):
            rows.append(row)
    return max(rows)


# ----------------------------------------------------------------------------- widths

finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=-1e-6, max_value=1e-6),
)
points = st.lists(st.tuples(finite_or_not, finite_or_not), max_size=40)
names = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
series_dicts = st.dictionaries(names, points, max_size=4)


def as_series(raw):
    return {name: ([x for x, _ in pts], [y for _, y in pts]) for name, pts in raw.items()}


@pytest.mark.parametrize("charset", ["ascii", "unicode"])
@settings(max_examples=150, deadline=None)
@given(
    raw=series_dicts,
    width=st.integers(MIN_WIDTH, 140),
    height=st.integers(MIN_HEIGHT, 25),
    title=names,
    x_label=names,
    y_label=names,
)
def test_plot_is_printable_in_its_charset_and_never_wider_than_width(
    charset, raw, width, height, title, x_label, y_label
):
    text = line_plot(
        as_series(raw),
        width=width,
        height=height,
        title=title,
        x_label=x_label,
        y_label=y_label,
        charset=charset,
    )
    assert text.isascii() or charset == "unicode"
    text.encode("utf-8")
    for line in text.split("\n"):
        assert len(line) <= width, (width, line)
        assert all(ch.isprintable() for ch in line), line


@pytest.mark.parametrize("charset", ["ascii", "unicode"])
@pytest.mark.parametrize(
    "values",
    [
        [1e308, -1e308, 0.0],  # span overflows a float
        [5e-324, 1e-323],  # subnormals
        [1e16, 1e16 + 2, 1e16 + 4],  # span tiny relative to the values
        [-7.0, -7.0, -7.0],  # constant, negative
        [0.0],  # one point
        [float("nan"), 3.0, float("inf"), -float("inf")],
    ],
)
@pytest.mark.parametrize("width", [20, 21, 33, 80])
def test_extreme_values_fit(charset, values, width):
    xs = list(range(len(values)))
    text = line_plot(
        {"s": (xs, values)},
        width=width,
        height=5,
        charset=charset,
        title="T" * 200,
        x_label="x" * 200,
        y_label="y" * 200,
    )
    for line in text.split("\n"):
        assert len(line) <= width, line
    assert "..." in text or "…" in text  # the long title was visibly cut


def test_long_title_and_legend_are_cut_with_an_ellipsis():
    text = line_plot(
        {"n" * 100: ([0, 1], [0, 1]), "m" * 100: ([0, 1], [1, 0])},
        width=30,
        height=4,
        title="t" * 100,
        charset="ascii",
    )
    lines = text.split("\n")
    assert lines[0].strip() == "t" * 27 + "..."
    assert lines[-2] == "* " + "n" * 25 + "..."
    assert lines[-1] == "+ " + "m" * 25 + "..."


# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("increasing", [True, False])
def test_ascii_monotonic_series_marks_move_the_right_way(increasing):
    xs = list(range(61))  # 0..60 is already a round range: no widening of the y axis
    ys = [x if increasing else -x for x in xs]
    height = 10
    _, cells = canvas(
        line_plot({"s": (xs, ys)}, width=60, height=height, charset="ascii"), height, ASCII_AXIS
    )
    columns = mark_rows_by_column(cells, lambda ch: ch == "*")
    ordered = sorted(columns)
    # A connected line: every column of the canvas has a mark.
    assert ordered == list(range(ordered[0], ordered[-1] + 1))
    assert ordered[0] == 0
    top_rows = [min(columns[c]) for c in ordered]
    if increasing:
        assert max(columns[ordered[0]]) == height - 1  # starts at the bottom
        assert min(columns[ordered[-1]]) == 0  # ends at the top
        assert all(a >= b for a, b in zip(top_rows, top_rows[1:]))
    else:
        assert min(columns[ordered[0]]) == 0
        assert max(columns[ordered[-1]]) == height - 1
        assert all(a <= b for a, b in zip(top_rows, top_rows[1:]))


def test_unicode_increasing_series_is_drawn_low_left_high_right():
    xs = list(range(100))
    ys = [x * x for x in xs]
    height = 8
    _, cells = canvas(
        line_plot({"s": (xs, ys)}, width=50, height=height, charset="unicode"), height, UNICODE_AXIS
    )
    columns = mark_rows_by_column(cells, is_braille)
    ordered = sorted(columns)
    assert ordered == list(range(ordered[0], ordered[-1] + 1))  # connected

    def lowest(column):  # in dot rows from the top of the canvas
        row = max(columns[column])
        return row * 4 + braille_lowest_dot(cells[row][column])

    assert lowest(ordered[0]) == height * 4 - 1  # the minimum sits on the bottom dot row
    assert lowest(ordered[0]) > lowest(ordered[len(ordered) // 2]) > lowest(ordered[-1])


def test_two_points_are_joined_by_a_line():
    _, cells = canvas(
        line_plot({"s": ([0, 10], [0, 10])}, width=40, height=6, charset="ascii"),
        6,
        ASCII_AXIS,
        width=40,
    )
    columns = mark_rows_by_column(cells, lambda ch: ch == "*")
    assert sorted(columns) == list(range(len(cells[0])))  # a mark in every column
    assert columns[0] == [5] and columns[len(cells[0]) - 1] == [0]  # corner to corner


def test_nan_breaks_the_line():
    xs = [0, 1, 2, 3, 4]
    ys = [1.0, 1.0, float("nan"), 1.0, 1.0]
    _, cells = canvas(
        line_plot({"s": (xs, ys)}, width=45, height=5, charset="ascii"), 5, ASCII_AXIS, width=45
    )
    columns = sorted(mark_rows_by_column(cells, lambda ch: ch == "*"))
    n = len(cells[0])
    # x = 1 and x = 3 sit a quarter and three quarters along; nothing between them.
    left, right = round((n - 1) / 4), round(3 * (n - 1) / 4)
    assert columns == list(range(0, left + 1)) + list(range(right, n))


def test_constant_series_is_drawn_in_the_middle():
    height = 9
    _, cells = canvas(
        line_plot({"c": ([0, 1, 2], [5.0, 5.0, 5.0])}, width=30, height=height, charset="ascii"),
        height,
        ASCII_AXIS,
    )
    rows = {r for rs in mark_rows_by_column(cells, lambda ch: ch == "*").values() for r in rs}
    assert rows == {height // 2}


def test_later_series_draws_over_earlier_and_legend_names_markers():
    text = line_plot(
        {"first": ([0, 1], [0, 0]), "second": ([0, 1], [0, 0])}, width=30, height=4, charset="ascii"
    )
    _, cells = canvas(text, 4, ASCII_AXIS)
    assert not any("*" in row for row in cells)
    assert any("+" in row for row in cells)
    assert text.split("\n")[-1] == "* first  + second"


def test_unicode_second_series_uses_a_marker_over_the_braille():
    text = line_plot(
        {"train": ([0, 1, 2, 3], [4, 2, 1, 0]), "val": ([0, 3], [4, 4])},
        width=30,
        height=6,
        charset="unicode",
    )
    _, cells = canvas(text, 6, UNICODE_AXIS)
    assert any(is_braille(ch) for row in cells for ch in row)
    assert "•" * 10 in cells[0]  # val is flat on the top row
    assert "⠤⠤ train" in text and "• val" in text


# ----------------------------------------------------------------------------- axis labels


@settings(max_examples=200, deadline=None)
@given(
    lo=st.floats(-1e6, 1e6),
    span=st.floats(1e-3, 1e6),
    height=st.integers(3, 30),
    charset=st.sampled_from(["ascii", "unicode"]),
)
def test_y_labels_bracket_the_data_with_round_numbers(lo, span, height, charset):
    hi = lo + span
    ys = [lo, (lo + hi) / 2, hi]
    text = line_plot({"s": ([0, 1, 2], ys)}, width=60, height=height, charset=charset)
    labels, _ = canvas(text, height, ASCII_AXIS if charset == "ascii" else UNICODE_AXIS)
    values = [parse_number(label) for label in labels if label]
    assert len(values) >= 2
    assert values == sorted(values, reverse=True)  # top row has the largest
    tolerance = 1e-9 * max(abs(lo), abs(hi)) + 1e-12
    assert min(values) <= lo + tolerance
    assert max(values) >= hi - tolerance
    # Loose but not wasteful: the axis is widened by less than one label step
    # on each side, and a step is a round number not far above the span.
    step = values[0] - values[1]
    assert max(values) - hi < step + tolerance
    assert lo - min(values) < step + tolerance
    assert step <= 2 * span
    # Top and bottom rows carry the extreme labels.
    assert labels[0] and labels[-1]


def test_y_labels_are_rounded_numbers():
    text = line_plot(
        {"loss": ([0, 1, 2, 3], [2.3026, 0.91, 0.4137, 0.0713])},
        width=50,
        height=11,
        charset="ascii",
    )
    labels, _ = canvas(text, 11, ASCII_AXIS)
    shown = [label for label in labels if label]
    assert shown[0] == "2.5" and shown[-1] == "0"
    assert all(len(label) <= 3 for label in shown)  # "0", "0.5", ..., "2.5"


def test_explicit_y_range_is_kept_and_outside_points_are_clipped():
    text = line_plot(
        {"acc": ([0, 1, 2, 3], [0.2, 0.5, 1.7, -3.0])},
        width=40,
        height=6,
        charset="ascii",
        y_range=(0, 1),
    )
    labels, cells = canvas(text, 6, ASCII_AXIS, width=40)
    assert parse_number(labels[0]) == 1.0
    assert parse_number(labels[-1]) == 0.0
    # 1.7 and -3.0 leave through the top and bottom: the segments towards
    # them still reach the edge rows.
    columns = mark_rows_by_column(cells, lambda ch: ch == "*")
    assert 0 in {r for rs in columns.values() for r in rs}
    assert 5 in {r for rs in columns.values() for r in rs}


@pytest.mark.parametrize("y_range", [(0.5, 1), (0, 1), (-1, 1), (90, 100)])
def test_explicit_y_range_labels_both_ends(y_range):
    lo, hi = y_range
    text = line_plot(
        {"acc": ([0, 1], [lo + (hi - lo) / 3, hi])},
        width=40,
        height=10,
        charset="unicode",
        y_range=y_range,
    )
    labels, _ = canvas(text, 10, UNICODE_AXIS)
    assert parse_number(labels[0]) == hi and parse_number(labels[-1]) == lo
    shown = [parse_number(label) for label in labels if label]
    assert 3 <= len(shown) <= 6


def test_x_labels_lie_inside_the_data_range_and_use_si_suffixes():
    xs = list(range(0, 60001, 1000))
    text = line_plot({"s": (xs, [1.0 / (1 + x) for x in xs])}, width=70, height=5, charset="ascii")
    tick_line = text.split("\n")[6]  # 5 canvas rows, the axis line, then the labels
    labels = tick_line.split()
    values = [parse_number(label) for label in labels]
    assert len(values) >= 3
    assert values[0] == 0 and values[-1] <= 60000 and values[-1] >= 40000
    assert any(label.endswith("k") for label in labels)


@pytest.mark.parametrize("width, height", [(19, 5), (0, 5), (40, 2)])
def test_too_small_size_is_a_clear_error(width, height):
    with pytest.raises(ValueError, match="at least"):
        line_plot({"s": ([0, 1], [0, 1])}, width=width, height=height, charset="ascii")


def test_default_size_follows_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "47")
    monkeypatch.setenv("LINES", "15")
    text = line_plot({"s": ([0, 1, 2], [3, 1, 2])}, charset="ascii")
    lines = text.split("\n")
    assert max(len(line) for line in lines) == 47  # the axis line spans the width
    assert len(lines) == 9 + 3  # 15 - 6 canvas rows, then axis, ticks, legend


def test_a_tiny_terminal_still_gets_a_minimum_size_plot(monkeypatch):
    monkeypatch.setenv("COLUMNS", "5")
    monkeypatch.setenv("LINES", "4")
    text = line_plot({"s": ([0, 1], [0, 1])}, charset="ascii")
    assert max(len(line) for line in text.split("\n")) == MIN_WIDTH


@pytest.mark.parametrize("data", [{}, {"a": ([], [])}, {"a": ([1, 2], [float("nan")] * 2)}])
def test_no_data_gives_a_message(data):
    text = line_plot(data, width=25, height=4, title="Loss", charset="ascii")
    lines = text.split("\n")
    assert lines[0].strip() == "Loss"
    assert lines[1].startswith("(no finite data")
    assert all(len(line) <= 25 for line in lines)


def test_series_without_data_is_marked_in_legend():
    text = line_plot({"a": ([0, 1], [0, 1]), "b": ([], [])}, width=40, height=4, charset="ascii")
    assert "+ b (no data)" in text


def test_bad_series_are_reported_by_name():
    with pytest.raises(ValueError, match="'loss'.*3 x values but 2 y values"):
        line_plot({"loss": ([0, 1, 2], [0, 1])}, width=40, height=4, charset="ascii")
    with pytest.raises(ValueError, match="'loss': point 1"):
        line_plot({"loss": ([0, 1], [0, "high"])}, width=40, height=4, charset="ascii")
    with pytest.raises(ValueError, match="charset"):
        line_plot({"loss": ([0], [0])}, width=40, height=4, charset="utf8")
    with pytest.raises(ValueError, match="y_range"):
        line_plot({"loss": ([0], [0])}, width=40, height=4, charset="ascii", y_range=(1, 0))
    with pytest.raises(ValueError, match="y_range must be a pair"):
        line_plot({"loss": ([0], [0])}, width=40, height=4, charset="ascii", y_range=1.0)


# ----------------------------------------------------------------------------- unicode support


def test_supports_unicode_follows_the_stream_encoding():
    assert supports_unicode(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert not supports_unicode(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert not supports_unicode(io.TextIOWrapper(io.BytesIO(), encoding="cp1252"))  # no braille
    assert not supports_unicode(io.StringIO())  # encoding None: cannot tell
    assert not supports_unicode(object())


def test_auto_charset_uses_stdout_encoding(monkeypatch):
    data = {"a": ([0, 1, 2], [0, 2, 1]), "b": ([0, 2], [1, 1])}
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert line_plot(data, width=30, height=5).isascii()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert not line_plot(data, width=30, height=5).isascii()


# ----------------------------------------------------------------------------- confusion


def test_confusion_matrix_counts_a_hand_made_example():
    true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    pred = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    # true 0: predicted 0 twice, 1 once; true 1: 1 twice; true 2: 2 twice, 0 once, 1 once.
    assert confusion_matrix(true, pred, 3) == [[2, 1, 0], [0, 2, 0], [1, 1, 2]]


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="sample 1.*outside 0..2"):
        confusion_matrix([0, 3], [0, 0], 3)
    with pytest.raises(ValueError, match="sample 0"):
        confusion_matrix([0], [-1], 3)
    with pytest.raises(ValueError, match="2 labels but pred has 1"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([], [], 0)


def test_format_confusion_shows_counts_recall_and_accuracy():
    matrix = [[2, 1, 0], [0, 2, 0], [1, 1, 2], [0, 0, 0]]
    matrix = [row + [0] for row in matrix]
    text = format_confusion(matrix, labels=["zero", "one", "two", "three"])
    lines = text.split("\n")
    assert lines[0].split() == ["true\\pred", "zero", "one", "two", "three", "recall"]
    assert lines[1].split() == ["zero", "2", "1", "0", "0", "66.7%"]  # 2 of 3
    assert lines[2].split() == ["one", "0", "2", "0", "0", "100.0%"]
    assert lines[3].split() == ["two", "1", "1", "2", "0", "50.0%"]  # 2 of 4
    assert lines[4].split() == ["three", "0", "0", "0", "0", "-"]  # no samples
    assert lines[5] == "accuracy: 66.67% (6/9)"
    # Columns line up: every row is as long as the header.
    assert len({len(line) for line in lines[:5]}) == 1


def test_format_confusion_rejects_bad_shapes():
    with pytest.raises(ValueError, match="square"):
        format_confusion([[1, 2], [3]])
    with pytest.raises(ValueError, match="2 labels for 3 classes"):
        format_confusion([[0] * 3] * 3, labels=["a", "b"])


def test_constant_series_at_the_float_limit_still_renders():
    """A constant near 1.8e308 used to pad its range to inf and raise (found by hypothesis)."""
    from ann._plot import line_plot

    for value in (1.634266486238469e308, -1.634266486238469e308):
        text = line_plot({"": ([0.0], [value])}, width=20, height=3, charset="ascii")
        assert all(len(line) <= 20 for line in text.splitlines())
        assert "e308" in text
