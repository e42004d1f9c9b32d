"""A one-line progress display for training epochs, with no dependencies.

On a terminal the line is redrawn in place ("\\r") while an epoch runs:
samples done, a bar, percentage, throughput, time left and the latest
metrics. Anywhere else (a pipe, a log file, CI) nothing is written while
running and exactly one plain line is written per epoch, so logs stay
readable and small.

``update`` is called once per mini-batch, which can be well over a thousand
times a second, so it only stores its arguments, reads the clock and returns
unless a redraw is due (at most one per ``min_interval`` seconds).

No colour or other ANSI styling is used: only "\\r", spaces and "\\n". Output
therefore looks the same everywhere and ``NO_COLOR`` is respected trivially.

``LiveFrame`` keeps a block of lines (the live plots of ``ann train``) at the bottom of a
terminal, redrawn in place: it moves the cursor up over its previous frame and rewrites it,
erasing only to the end of each of its own lines, so nothing printed before stays anything but
where it was. Lines others write meanwhile (through the frame, as a stream) go above the frame.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Iterable
from typing import Any, Callable

from ._plot import supports_unicode

__all__ = ["ProgressBar", "LiveFrame"]

_MIN_BAR = 10  # narrower bars carry no information; drop the bar instead
_MAX_BAR = 40
_UNICODE_EIGHTHS = " ▏▎▍▌▋▊▉█"  # partial blocks: 1/8 of a cell per step


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


def _columns(stream: Any) -> int:
    """Width of the terminal ``stream`` writes to.

    ``COLUMNS`` wins (as in ``shutil.get_terminal_size``); then the stream's
    own terminal, which matters when stdout is redirected but stderr, where
    the bar usually goes, is still a terminal; then shutil's answer.
    """
    if not os.environ.get("COLUMNS", "").strip():
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            pass
    return shutil.get_terminal_size().columns


def _format_duration(seconds: float, *, precise: bool = False) -> str:
    """ "m:ss" or "h:mm:ss"; with ``precise``, short times as "4.2s"."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if precise and seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _format_rate(rate: float) -> str:
    if not math.isfinite(rate):
        return "?"
    if rate >= 1e6:
        return f"{rate / 1e6:.1f}M"
    if rate >= 1e4:
        return f"{rate / 1e3:.1f}k"
    if rate >= 100:
        return f"{rate:.0f}"
    return f"{rate:.1f}"


def _format_value(value: object) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1e5 or 0 < magnitude < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


class ProgressBar:
    """Progress of one epoch: ``update(done, loss=...)`` per batch, ``close()`` at the end.

    ``total``: samples in the epoch. ``label``: shown first (e.g. "epoch 3/10").
    ``stream``: where to write (default ``sys.stderr``, read at construction).
    ``enabled=False`` writes nothing at all (``--quiet``); ``redraw=False`` writes the one
    plain line per epoch even on a terminal (``fit(verbose=2)``). ``unit``: name of a
    sample in the rate ("img/s"). ``min_interval``: least time between two
    redraws on a terminal. ``clock``: seconds as a float, injectable for tests.

    A failing stream (closed pipe, full disk) silently disables the display:
    losing the progress line must never stop a training run.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        stream: Any = None,
        enabled: bool = True,
        redraw: bool = True,
        unit: str = "img",
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError(f"progress total must be >= 0, got {total}")
        if not min_interval >= 0:
            raise ValueError(f"min_interval must be >= 0 seconds, got {min_interval}")
        self._total = total
        self._label = label
        self._stream = sys.stderr if stream is None else stream
        self._unit = unit
        self._min_interval = min_interval
        self._clock = clock
        self._tty = enabled and redraw and _isatty(self._stream)
        # _live: redraws may happen (a terminal, not yet closed).
        # _open: close() still has to write its line.
        self._live = self._tty
        self._open = enabled
        self._unicode = self._tty and supports_unicode(self._stream)
        self._start = clock()
        self._next_draw = -math.inf
        self._done = 0
        self._fields: dict[str, object] = {}
        self._drawn = 0  # length of the line now on screen, to blank leftovers

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, done: int, **fields: float) -> None:
        """Record progress (samples done so far this epoch) and the latest metrics.

        Metrics given once stay shown until replaced, so a batch that does not
        report, say, accuracy does not make it disappear.
        """
        self._done = done
        if fields:
            self._fields.update(fields)
        if not self._live:
            return
        now = self._clock()
        if now < self._next_draw:
            return
        self._next_draw = now + self._min_interval
        self._redraw(self._running_line(now, _columns(self._stream) - 1))

    def close(self, **fields: object) -> None:
        """Write the epoch's final line (once; later calls do nothing)."""
        if not self._open:
            return
        self._open = False
        self._live = False
        if fields:
            self._fields.update(fields)
        now = self._clock()
        if self._tty:
            line = self._final_line(now, _columns(self._stream) - 1)
            self._write("\r" + line + " " * max(0, self._drawn - len(line)) + "\n")
        else:
            # Log files have no width: keep every metric rather than truncating.
            self._write(self._final_line(now, None) + "\n")

    # -------------------------------------------------------------------- drawing

    def _redraw(self, line: str) -> None:
        # Blank what is left of a longer previous line with spaces (not an
        # ANSI erase code, so this works on any terminal).
        self._write("\r" + line + " " * max(0, self._drawn - len(line)))
        self._drawn = len(line)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._live = False
            self._open = False

    def _rate(self, now: float) -> float:
        elapsed = now - self._start
        return self._done / elapsed if elapsed > 0 else math.nan

    def _fields_text(self) -> str:
        return "  ".join(f"{name} {_format_value(value)}" for name, value in self._fields.items())

    def _count_text(self, unit: bool) -> str:
        # Right-aligned to the width of the total so the line does not jitter.
        text = f"{self._done:>{len(str(self._total))}}/{self._total}"
        return f"{text} {self._unit}" if unit else text

    def _bar(self, fraction: float, width: int) -> str:
        inner = width - 2
        if self._unicode:
            eighths = int(fraction * inner * 8)
            full, partial = divmod(eighths, 8)
            body = "█" * full
            if full < inner:
                body += _UNICODE_EIGHTHS[partial]
            return "|" + body.ljust(inner) + "|"
        filled = int(fraction * inner)
        return "[" + "#" * filled + "." * (inner - filled) + "]"

    def _running_line(self, now: float, width: int) -> str:
        fraction = min(1.0, self._done / self._total) if self._total else 1.0
        rate = self._rate(now)
        remaining = (self._total - self._done) / rate if rate > 0 else math.nan
        # Parts in display order with a drop priority (dropped first: lowest).
        parts = [
            ("label", self._label, 2),
            ("count", self._count_text(unit=False), 5),
            ("bar", "", 1),
            ("percent", f"{100 * fraction:3.0f}%", 4),
            ("rate", f"{_format_rate(rate)} {self._unit}/s", 0),
            ("eta", f"ETA {_format_duration(remaining)}", 3),
            ("fields", self._fields_text(), 6),
        ]
        return self._fit(parts, fraction, width)

    def _final_line(self, now: float, width: int | None) -> str:
        elapsed = now - self._start
        parts = [
            ("label", self._label, 2),
            ("count", self._count_text(unit=True), 5),
            ("time", f"in {_format_duration(elapsed, precise=True)}", 3),
            ("rate", f"{_format_rate(self._rate(now))} {self._unit}/s", 1),
            ("fields", self._fields_text(), 6),
        ]
        if width is None:
            return "  ".join(text for _, text, _ in parts if text)
        return self._fit(parts, 0.0, width)

    def _fit(self, parts: list[tuple[str, str, int]], fraction: float, width: int) -> str:
        """Join ``parts`` into at most ``width`` columns.

        The bar takes whatever room is left (between _MIN_BAR and _MAX_BAR);
        if even the smallest bar does not fit it goes, then the least
        important parts one by one, and a last resort cuts the line.
        """
        width = max(width, 1)
        kept = [(name, text, rank) for name, text, rank in parts if text or name == "bar"]
        while True:
            texts = [text for name, text, _ in kept if name != "bar"]
            has_bar = any(name == "bar" for name, _, _ in kept)
            length = sum(len(t) for t in texts) + 2 * (len(texts) - 1 + has_bar)
            if has_bar:
                room = width - length
                if room >= _MIN_BAR:
                    bar = self._bar(fraction, min(room, _MAX_BAR))
                    return "  ".join(bar if name == "bar" else text for name, text, _ in kept)
            elif length <= width or len(kept) <= 1:
                return "  ".join(texts)[:width]
            droppable = min(kept, key=lambda part: part[2])
            kept.remove(droppable)


def _rows(text: str, columns: int) -> int:
    """Terminal rows that one line of ``text`` takes at ``columns`` columns (it wraps)."""
    return max(1, -(-len(text) // max(columns, 1)))


def _overlay(line: str) -> str:
    """What a line written with carriage returns shows: each "\\r" segment overwrites the
    start of what was there."""
    shown = ""
    for segment in line.split("\r"):
        shown = segment + shown[len(segment) :]
    return shown


class LiveFrame:
    """A block of lines kept at the bottom of a terminal and redrawn in place.

    ``show(render)`` asks for a new frame: ``render(columns, rows)`` returns its text for a
    terminal of that size (``rows``: the most it may take), and is called only when the frame
    is drawn, at most once per ``min_interval`` seconds (the last request is drawn by
    ``close``). A frame is redrawn by moving the cursor up to its first row ("ESC[nA") and
    rewriting each line followed by "ESC[K" (erase to the end of that line): the screen is
    never cleared, so what was printed before the frame stays on screen and in the scrollback.

    The object is also a text stream: what others write through it (a progress bar, notes)
    is shown below the frame while a line is being written, and complete lines are moved
    above the frame, which is redrawn under them. A frame taller than the terminal is not
    drawn live (the cursor cannot move above the top of the screen).

    ``close()`` redraws the last frame at full size (``rows`` unbounded) and leaves it on
    screen with the cursor below it, so the next output follows it. Not on a terminal,
    ``show`` draws nothing and ``close`` writes the last frame once. A failing stream disables
    the display.
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        min_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._tty = _isatty(self._stream)
        self._min_interval = min_interval
        self._clock = clock
        self._next_draw = -math.inf
        self._pending: Callable[[int, int], str] | None = None  # asked for, not drawn
        self._last: Callable[[int, int], str] | None = None  # drawn last
        self._frame: list[str] = []  # the lines of the frame on screen ([] before the first)
        self._partial = ""  # what others wrote after the frame, no newline yet
        self._frame_rows = 0  # terminal rows those lines take
        self._up = 0  # rows from the frame's first row to the cursor's row
        self._open = True

    # ---- the stream interface, for what others write while the frame is shown

    @property
    def stream(self) -> Any:
        """The stream the frame is drawn on."""
        return self._stream

    @property
    def encoding(self) -> str | None:
        return getattr(self._stream, "encoding", None)

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        return self._stream.fileno()

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        # the rest of the stream interface (errors, name, buffer ...) is the wrapped stream's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        if not self._open or not self._tty or not self._frame:
            self._track(text)
            self._emit(text)
            return len(text)
        *complete, self._partial = (self._partial + text).split("\n")
        if complete:
            self._draw([_overlay(line) for line in complete], self._due_frame())
        else:
            self._emit(text)
            self._up = self._frame_rows + _rows(_overlay(self._partial), self._size()[0]) - 1
        return len(text)

    # ---- the frame

    def show(self, render: Callable[[int, int], str]) -> None:
        """Ask for a new frame, drawn now or at the latest by ``close``."""
        if not self._open:
            return
        self._pending = render
        if self._tty and self._clock() >= self._next_draw:
            lines = self._due_frame()
            if self._pending is None:
                self._draw([], lines)

    def close(self) -> None:
        """Draw the last frame asked for, and leave it (and the cursor below it)."""
        if not self._open:
            return
        render = self._pending or self._last
        if render is not None:
            # Full size: nothing is redrawn after this, so it may be taller than the screen.
            text = self._render(render, 10**6)
            if self._tty:
                self._draw([], text.split("\n"))
            else:
                self._emit(("\n" if self._partial else "") + text + "\n")
                self._partial = ""
        if self._partial and self._tty:
            self._emit("\n")
        self._partial = ""
        self._open = False

    # ---- drawing

    def _size(self) -> tuple[int, int]:
        """(columns, rows) of the terminal."""
        try:
            rows = os.get_terminal_size(self._stream.fileno()).lines
        except (AttributeError, ValueError, OSError):
            rows = shutil.get_terminal_size().lines
        return max(_columns(self._stream), 2), rows

    def _render(self, render: Callable[[int, int], str], rows: int) -> str:
        # One column short of the width: a line that fills the last column leaves the cursor
        # waiting to wrap, where "ESC[K" would erase that column's character on some terminals.
        return render(self._size()[0] - 1, rows)

    def _due_frame(self, force: bool = False) -> list[str]:
        """The lines of the frame to draw now: the pending one when due (or forced), else the
        one on screen."""
        if self._pending is None or not (force or self._clock() >= self._next_draw):
            return self._frame
        columns, rows = self._size()
        room = rows - _rows(self._partial, columns) - 1
        lines = self._render(self._pending, room).split("\n")
        if sum(_rows(line, columns) for line in lines) > room:
            return self._frame  # too tall to redraw in place
        self._last, self._pending = self._pending, None
        self._next_draw = self._clock() + self._min_interval
        return lines

    def _draw(self, above: list[str], frame: list[str]) -> None:
        columns, _ = self._size()
        if len(frame) < len(self._frame):  # keep the rows a taller frame had
            frame = frame + [""] * (len(self._frame) - len(frame))
        parts = ["\r"]
        if self._up:
            parts.append(f"\x1b[{self._up}A")
        parts.extend(line + "\x1b[K\n" for line in above + frame)
        shown = _overlay(self._partial)
        parts.append(shown + "\x1b[K")
        self._frame = frame
        self._frame_rows = sum(_rows(line, columns) for line in frame)
        self._up = self._frame_rows + _rows(shown, columns) - 1
        self._emit("".join(parts))

    def _track(self, text: str) -> None:
        """Follow the cursor while writes pass straight through (no frame on screen yet)."""
        self._partial = (self._partial + text).rsplit("\n", 1)[-1]
        if self._frame:
            return
        self._up = _rows(_overlay(self._partial), self._size()[0]) - 1 if self._tty else 0

    def _emit(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._open = False
            self._tty = False
