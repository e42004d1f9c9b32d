"""Tests of the epoch progress line (ann._progress)."""

from __future__ import annotations

import io
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ann._progress import ProgressBar


class FakeTTY(io.StringIO):
    """A terminal as far as ProgressBar can tell."""

    def isatty(self) -> bool:
        return True


class UnicodeTTY(FakeTTY):
    encoding = "utf-8"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class BrokenStream(FakeTTY):
    def write(self, text: str) -> int:
        raise BrokenPipeError("pipe closed")


def segments(output: str):
    """What each redraw put on screen: text between '\\r' and the next '\\r' or '\\n'."""
    return [part.split("\n")[0] for part in output.split("\r")[1:]]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")


def test_redraws_are_rate_limited():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(60000, stream=stream, clock=clock, min_interval=0.1)
    for i in range(1000):  # 1000 batches within 0.05 s: only the first one draws
        clock.now = i * 0.05 / 1000
        bar.update(i * 60, loss=0.5)
    assert stream.getvalue().count("\r") == 1
    for i in range(1000):  # then 1000 batches over one second: about ten redraws
        clock.now = 1.0 + i / 1000
        bar.update(i * 60, loss=0.5)
    assert 9 <= stream.getvalue().count("\r") - 1 <= 11


def test_tty_close_ends_the_line_once():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(100, label="epoch 1/3", stream=stream, clock=clock)
    bar.update(50, loss=1.0)
    clock.now = 2.0
    bar.close(loss=0.25)
    bar.close(loss=9.0)  # a second close writes nothing
    bar.update(100, loss=9.0)  # nor does a late update
    output = stream.getvalue()
    assert output.endswith("\n") and output.count("\n") == 1
    final = segments(output)[-1]
    assert final.startswith("epoch 1/3")
    assert "loss 0.2500" in final and "9.0" not in final


def test_non_tty_prints_exactly_one_plain_line_per_close():
    clock, stream = FakeClock(), io.StringIO()
    for epoch in range(3):
        bar = ProgressBar(1000, label=f"epoch {epoch + 1}", stream=stream, clock=clock)
        for done in range(0, 1001, 10):
            clock.now += 0.01
            bar.update(done, loss=0.43119)
        assert stream.getvalue().count("\n") == epoch  # nothing while running
        bar.close(val_acc=0.975)
    lines = stream.getvalue().split("\n")
    assert lines[-1] == ""
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["epoch", "1"],
        ["epoch", "2"],
        ["epoch", "3"],
    ]
    assert "\r" not in stream.getvalue()
    for line in lines[:-1]:
        assert "1000/1000 img" in line
        assert "loss 0.4312" in line and "val_acc 0.9750" in line  # fields from update and close


def test_disabled_prints_nothing():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(10, stream=stream, clock=clock, enabled=False)
    for done in range(11):
        clock.now += 1
        bar.update(done, loss=1.0)
    bar.close(loss=0.5)
    assert stream.getvalue() == ""


def test_rate_and_eta_are_computed_from_the_clock():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(60000, stream=stream, clock=clock, unit="img")
    clock.now = 1.0
    bar.update(1000)  # 1000 images in 1 s: 1000 img/s, 59000 left: 59 s
    line = segments(stream.getvalue())[-1]
    assert "1000/60000" in line
    assert "1000 img/s" in line
    assert "ETA 0:59" in line
    assert "2%" in line


def test_final_line_reports_elapsed_time_and_rate():
    clock, stream = FakeClock(), io.StringIO()
    bar = ProgressBar(60000, label="epoch 2/5", stream=stream, clock=clock)
    clock.now = 12.5
    bar.update(60000, loss=0.1)
    bar.close()
    line = stream.getvalue().rstrip("\n")
    assert "60000/60000 img" in line
    assert "in 12.5s" in line
    assert "4800 img/s" in line  # 60000 / 12.5


def test_bar_grows_with_progress():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(100, stream=stream, clock=clock, min_interval=0)
    fills = []
    for done in (0, 25, 50, 100):
        clock.now += 1
        bar.update(done)
        match = re.search(r"\[(#*)(\.*)\]", segments(stream.getvalue())[-1])
        assert match, stream.getvalue()
        inner = len(match.group(1)) + len(match.group(2))
        fills.append(len(match.group(1)) / inner)
    assert fills[0] == 0 and fills[-1] == 1
    assert abs(fills[1] - 0.25) < 0.1 and abs(fills[2] - 0.5) < 0.1


def test_unicode_terminal_gets_a_block_bar():
    clock, stream = FakeClock(), UnicodeTTY()
    bar = ProgressBar(100, stream=stream, clock=clock)
    clock.now = 1
    bar.update(50)
    assert "█" in stream.getvalue()


def test_shorter_redraw_blanks_the_leftovers():
    clock, stream = FakeClock(), FakeTTY()
    bar = ProgressBar(100, stream=stream, clock=clock, min_interval=0)
    clock.now = 1
    bar.update(10, loss=123456.789)  # long field
    clock.now = 2
    bar.update(20, loss=0.5)  # shorter
    first, second = segments(stream.getvalue())
    assert len(second.rstrip()) < len(first.rstrip())
    assert len(second) >= len(first)  # padded with spaces over the old text


@settings(max_examples=60, deadline=None)
@given(
    columns=st.integers(1, 200),
    label=st.text(max_size=50),
    loss=st.floats(allow_nan=True, allow_infinity=True),
    total=st.integers(0, 10**7),
)
def test_every_line_fits_the_terminal(columns, label, loss, total):
    clock, stream = FakeClock(), FakeTTY()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", str(columns))
        bar = ProgressBar(
            total,
            label=label.replace("\r", "").replace("\n", ""),
            stream=stream,
            clock=clock,
            min_interval=0,
        )
        for step in range(5):
            clock.now += 0.3
            bar.update(total * step // 4, loss=loss, accuracy=0.5)
        bar.close()
    for segment in segments(stream.getvalue()):
        assert len(segment) <= max(1, columns - 1), (columns, segment)


def test_default_stream_is_stderr(monkeypatch):
    fake = io.StringIO()
    monkeypatch.setattr(sys, "stderr", fake)
    bar = ProgressBar(5, label="epoch 1", clock=FakeClock())
    bar.update(5)
    bar.close()
    assert fake.getvalue().startswith("epoch 1") and fake.getvalue().count("\n") == 1


def test_a_failing_stream_does_not_stop_training():
    clock = FakeClock()
    bar = ProgressBar(10, stream=BrokenStream(), clock=clock)
    clock.now = 1
    bar.update(5, loss=1.0)
    bar.close()  # no exception


def test_context_manager_closes():
    stream = io.StringIO()
    with ProgressBar(3, label="e", stream=stream, clock=FakeClock()) as bar:
        bar.update(3)
    assert stream.getvalue().count("\n") == 1


@pytest.mark.parametrize("kwargs", [{"total": -1}, {"total": 5, "min_interval": -0.1}])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        ProgressBar(**kwargs)
