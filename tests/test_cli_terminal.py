"""What `ann` shows people: live plots on a real pseudo-terminal, --help, rounded numbers, and
clear errors for thread counts, kernel names, swapped arguments and unwritable destinations."""

from __future__ import annotations

import argparse
import fcntl
import gzip
import json
import os
import platform
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from functools import partial
from pathlib import Path

import pytest
from conftest import (
    REPO,
    one_error_line,
    one_stderr_line,
    run_ann,
    run_python,
    skip_without_c_core,
    start_ann,
)
from test_progress import FakeClock, UnicodeTTY

import ann
from ann._pgm import encode_pgm
from ann._png import encode_png_gray

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = Path(ann.__file__).resolve().parent / "data" / "sample"


needs_c_core = partial(skip_without_c_core, "these runs need the C core")


# ---- a minimal terminal, to see what the bytes written to a pty leave on screen --------------


class Terminal:
    """A VT100 subset: printable text wrapping at ``columns``, CR, LF, "ESC[nA" (cursor up, not
    above the top row) and "ESC[K" (erase to the end of the line), on ``rows`` rows that scroll
    into an unbounded scrollback. Any other control sequence fails the test: a screen clear
    (ESC[2J), a cursor home (ESC[H) or any other erase has no business in ann's output."""

    def __init__(self, rows: int, columns: int) -> None:
        self.rows, self.columns = rows, columns
        self.scrollback: list[str] = []
        self.screen: list[list[str]] = [[] for _ in range(rows)]
        self.y = self.x = 0
        self.wrap_next = False
        self.cursor_ups = 0

    def _line_feed(self) -> None:
        if self.y == self.rows - 1:
            self.scrollback.append("".join(self.screen.pop(0)))
            self.screen.append([])
        else:
            self.y += 1

    def feed(self, text: str) -> None:
        for match in re.finditer(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b.?|\r|\n|.", text, re.S):
            token = match.group(0)
            if token == "\r":
                self.x, self.wrap_next = 0, False
            elif token == "\n":  # as a tty driver sends it (onlcr): CR LF
                self._line_feed()
                self.x, self.wrap_next = 0, False
            elif token.startswith("\x1b"):
                argument, command = match.group(1), match.group(2)
                if command == "A" and argument.isdigit():
                    self.y = max(0, self.y - int(argument))
                    self.wrap_next = False
                    self.cursor_ups += 1
                elif command == "K" and argument in ("", "0"):
                    del self.screen[self.y][self.x :]
                else:
                    raise AssertionError(f"unexpected control sequence {token!r}")
            else:
                if self.wrap_next:
                    self._line_feed()
                    self.x, self.wrap_next = 0, False
                line = self.screen[self.y]
                line.extend(" " * (self.x - len(line)))
                line[self.x : self.x + 1] = [token]
                if self.x == self.columns - 1:
                    self.wrap_next = True
                else:
                    self.x += 1

    def lines(self) -> list[str]:
        """Scrollback then screen, trailing blanks dropped."""
        out = [line.rstrip() for line in self.scrollback + ["".join(row) for row in self.screen]]
        while out and not out[-1]:
            out.pop()
        return out


def test_the_terminal_model_rejects_a_screen_clear():
    # the check below relies on this: the old ESC[2J ESC[H redraw cannot pass it
    with pytest.raises(AssertionError, match="unexpected control sequence"):
        Terminal(5, 20).feed("plot\r\x1b[2J\x1b[Hplot")


def run_on_pty(args: list[str], rows: int, columns: int, env=None) -> bytes:
    """Run `python -m ann ARGS` with stdin, stdout and stderr on one pseudo-terminal of the
    given size; every byte it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = {**os.environ, "TERM": "xterm", **(env or {})}
    for name in ("COLUMNS", "LINES"):
        environment.pop(name, None)
    child = subprocess.Popen(
        [sys.executable, "-m", "ann", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=HERE,
        env=environment,
        close_fds=True,
    )
    os.close(slave)
    output = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError("no output for 120 s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
        child.wait(60)
    assert child.returncode == 0, output.decode(errors="replace")
    return bytes(output)


def test_live_plots_redraw_in_place_and_keep_what_was_on_screen():
    """`ann train` on a terminal: the plots are redrawn over themselves (cursor up), the screen
    is never cleared, the lines printed before and during the run all stay, and one copy of the
    plots is left above the results."""
    needs_c_core()  # pure Python would take minutes for these three epochs
    rows, columns = 60, 100
    raw = run_on_pty(
        ["train", "--data", "sample", "--epochs", "3", "--check-every", "20", "--layers", "16"],
        rows,
        columns,
    )
    assert b"\x1b[2J" not in raw and b"\x1b[H" not in raw and b"\x1b[3J" not in raw
    terminal = Terminal(rows, columns)
    terminal.feed("$ earlier output the run must not erase\r\n")
    terminal.feed(raw.decode("utf-8"))
    lines = terminal.lines()
    text = "\n".join(lines)
    assert lines[0] == "$ earlier output the run must not erase"
    for start in ("backend:", "ann: using the built-in sample", "data:", "network:", "training:"):
        assert sum(line.startswith(start) for line in lines) == 1, (start, text)
    for epoch in (1, 2, 3):  # every epoch's final line, once, above the plots
        assert sum(line.startswith(f"epoch {epoch}/3 ") for line in lines) == 1, text
    assert terminal.cursor_ups >= 2, "the plots were not redrawn in place"
    # one copy of each plot, after the epoch lines and before the results
    loss_legend = [i for i, line in enumerate(lines) if line.endswith("validation loss")]
    accuracy_legend = [i for i, line in enumerate(lines) if line.endswith("validation accuracy")]
    assert len(loss_legend) == 1 and len(accuracy_legend) == 1, text
    last_epoch = max(i for i, line in enumerate(lines) if line.startswith("epoch "))
    table = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "epoch"])
    test_line = next(i for i, line in enumerate(lines) if line.startswith("test: "))
    assert last_epoch < loss_legend[0] < accuracy_legend[0] < table < test_line


def test_live_plots_on_a_short_terminal_still_leave_one_full_frame():
    needs_c_core()
    rows, columns = 14, 90  # too short for the plots: nothing may be redrawn over
    raw = run_on_pty(
        ["train", "--data", "sample", "--epochs", "2", "--check-every", "20", "--layers", "16"],
        rows,
        columns,
    )
    terminal = Terminal(rows, columns)
    terminal.feed(raw.decode("utf-8"))
    lines = terminal.lines()
    assert sum(line.startswith("data:") for line in lines) == 1
    assert sum(line.endswith("validation loss") for line in lines) == 1
    assert sum(line.endswith("validation accuracy") for line in lines) == 1


def test_live_frame_draws_at_most_one_frame_per_half_second(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "20")
    from ann._progress import LiveFrame

    stream, clock = UnicodeTTY(), FakeClock()
    frame = LiveFrame(stream, clock=clock)
    drawn: list[int] = []

    def render(k: int):
        def draw(columns: int, rows: int) -> str:
            drawn.append(k)
            return f"frame {k}\nsecond line {k}"

        return draw

    for k in range(5):  # five requests within the same instant
        frame.show(render(k))
    clock.now = 0.3
    frame.show(render(5))
    assert drawn == [0]
    clock.now = 0.6
    frame.show(render(6))
    frame.show(render(7))
    assert drawn == [0, 6]
    frame.close()  # the last request is drawn at the end
    assert drawn[-1] == 7
    terminal = Terminal(20, 40)
    terminal.feed(stream.getvalue())
    assert terminal.lines() == ["frame 7", "second line 7"]


def test_live_frame_puts_lines_written_through_it_above_the_frame(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "20")
    stream, clock = UnicodeTTY(), FakeClock()
    stream.write("before\n")
    from ann._progress import LiveFrame

    frame = LiveFrame(stream, clock=clock)
    frame.write("\rbar 10%")
    frame.show(lambda columns, rows: "plot A\nplot A2")
    frame.write("\rbar 50%   ")
    frame.write("\rbar 20%")  # shorter: the rest of the line is blanked by the writer
    frame.write("\repoch 1 done\n")
    clock.now = 1.0
    frame.show(lambda columns, rows: "plot B")  # shorter than A: A's rows are blanked
    frame.write("\rbar 30%")
    frame.write("\repoch 2 done\n")
    frame.close()
    stream.write("result\n")
    terminal = Terminal(20, 40)
    terminal.feed(stream.getvalue())
    assert terminal.lines() == ["before", "epoch 1 done", "epoch 2 done", "plot B", "", "result"]


# ---- item 8: --help ---------------------------------------------------------------------------


def _subparsers():
    from ann.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _shown(default) -> str:
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, list):
        return ",".join(map(str, default))
    return str(default)


@pytest.mark.parametrize("command", ["train", "gradcheck", "experiment"])
def test_help_explains_every_option_and_shows_its_default(command):
    for action in _subparsers()[command]._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, f"ann {command} {action.option_strings[0]} has no help text"
        default = action.default
        if default not in (None, False, argparse.SUPPRESS):
            assert f"default {_shown(default)}" in action.help, (
                f"ann {command} {action.option_strings[0]}: help does not show {default!r}"
            )
    out = run_ann(command, "--help")
    assert out.returncode == 0 and "default 0" in out.stdout


def test_gradcheck_help_shows_the_real_tolerance():
    from ann._gradcheck import TOLERANCE

    tolerance = next(a for a in _subparsers()["gradcheck"]._actions if a.dest == "tolerance")
    assert f"default {TOLERANCE:g}" in tolerance.help


def test_quick_experiment_time_is_stated_the_same_in_help_and_readme():
    quick = next(a for a in _subparsers()["experiment"]._actions if a.dest == "quick")
    stated = re.search(r"\d+(-\d+)? s on full MNIST", quick.help)
    assert stated, quick.help
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if "`ann experiment [--quick]`" in line)
    assert stated.group(0) in line, line


def test_experiment_prints_each_row_when_it_finishes_even_into_a_pipe():
    # the full grid on the sample runs for a while; its first row must reach the pipe long
    # before the last run is done
    child = start_ann("experiment", "--data", "sample")
    try:
        for line in child.stdout:
            if re.match(r"\s+32\s+no\s+0\s+0\.\d+", line):
                break
        else:
            pytest.fail("no result row at all")
        assert child.poll() is None, "the first row came only when the whole grid had run"
    finally:
        child.kill()
        child.wait(30)
        child.stdout.close()


# ---- item 9: probabilities ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    train, _ = ann.load_mnist("sample")
    net = ann.Network([784, 16, 10], seed=3)
    net.fit(train, epochs=1, lr=0.1, progress=False)
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    net.save(path)
    return path, net, train


def test_predict_rounds_for_people_and_json_keeps_every_float32_digit(model, tmp_path):
    path, net, train = model
    image = tmp_path / "digit.pgm"
    pixels = train.images[0]
    image.write_bytes(encode_pgm(28, 28, pixels))
    expected = net.predict_proba(pixels)[0]
    # --raw: the pixels as they are, so that predict_proba above is the expected answer
    text = run_ann("predict", "--raw", str(path), str(image))
    assert text.returncode == 0, text.stderr
    assert re.fullmatch(r".*digit\.pgm: \d \(p = \d\.\d{3}\)\n", text.stdout), text.stdout
    out = run_ann("predict", "--raw", str(path), str(image), "--json")
    assert out.returncode == 0, out.stderr
    raw = re.search(r'"probabilities": \[([^\]]*)\]', out.stdout).group(1).split(", ")
    values = json.loads(out.stdout)["probabilities"]
    assert len(values) == 10
    for text_value, value, exact in zip(raw, values, expected):
        digits = len(re.sub(r"e.*|[-.]|^0\.0*", "", text_value))
        assert digits <= 9, f"{text_value} has float64 noise"  # 9 digits: any float32
        assert struct.pack("<f", value) == struct.pack("<f", exact)  # nothing lost


# ---- items 10 and 11: threads -----------------------------------------------------------------


def test_set_num_threads_with_a_huge_count_uses_the_maximum():
    needs_c_core()
    before = ann.get_num_threads()
    try:
        most = ann.set_num_threads(10**6)
        assert ann.set_num_threads(10**12) == most
        assert ann.get_num_threads() == most
        assert ann.set_num_threads(-(10**12)) == ann.set_num_threads(0)  # one per core
    finally:
        ann.set_num_threads(before)


def test_threads_option_too_large_says_what_is_used():
    needs_c_core()
    out = run_ann(
        "train",
        "--data",
        "sample",
        "--epochs",
        "1",
        "--layers",
        "8",
        "--threads",
        "10000000000",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    said = [line for line in out.stderr.splitlines() if "--threads" in line]
    assert len(said) == 1 and "at most" in said[0], out.stderr
    line = said[0]
    most = int(re.search(r"using (\d+)$", line).group(1))
    assert 1 <= most < 10000000000


def test_negative_threads_option_is_a_usage_error():
    one_error_line(run_ann("train", "--threads", "-1"), "--threads")
    assert run_ann("train", "--threads", "-1").returncode == 2


def test_ann_num_threads_sets_the_thread_count_of_ann_train():
    needs_c_core()
    out = run_ann(
        "train", "--data", "sample", "--epochs", "1", "--layers", "8", env={"ANN_NUM_THREADS": "3"}
    )
    assert out.returncode == 0, out.stderr
    assert re.search(r"^backend: .*\b3 thread\(s\)", out.stdout, re.M), out.stdout
    assert re.search(r"^network: .*\b3 thread\(s\)", out.stdout, re.M), out.stdout


# ---- item 12: ANN_KERNEL ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["naive", "AVX2", "avx512 "])
def test_unknown_kernel_name_is_an_error(value):
    needs_c_core()
    out = run_ann("gradcheck", "--layers", "3", env={"ANN_KERNEL": value})
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "gradient check" not in out.stdout  # nothing ran
    one_stderr_line(out, f"ANN_KERNEL={value!r}", "not a kernel name", "portable, avx2")


def test_a_kernel_this_cpu_lacks_is_an_error():
    needs_c_core()
    missing = "avx2" if platform.machine().lower() in ("aarch64", "arm64") else "neon"
    out = run_ann("gradcheck", "--layers", "3", env={"ANN_KERNEL": missing})
    assert out.returncode == 2, (out.stdout, out.stderr)
    one_stderr_line(out, f"ANN_KERNEL={missing!r}", "has no such kernel")


def test_unknown_kernel_name_is_an_error_in_python_too():
    needs_c_core()
    code = (
        "import ann\n"
        "try:\n"
        "    ann.Network([4, 3])\n"
        "except ann.AnnError as exc:\n"
        "    print('refused:', exc)\n"
    )
    out = run_python(code, env={"ANN_KERNEL": "naive"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused: ANN_KERNEL='naive' is not a kernel name"), out.stdout


def test_a_valid_kernel_name_is_not_reported():
    needs_c_core()
    out = run_ann("gradcheck", "--layers", "3", env={"ANN_KERNEL": "portable"})
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "portable kernel" in out.stdout


# ---- item 13: a file that is not a model ------------------------------------------------------


def _idx_images() -> bytes:
    return struct.pack(">BBBBIII", 0, 0, 8, 3, 1, 28, 28) + bytes(784)


@pytest.mark.parametrize(
    "name,content,kind",
    [
        ("digit.png", encode_png_gray(28, 28, bytes(784)), "a PNG image"),
        ("digit.pgm", encode_pgm(28, 28, bytes(784)), "a PGM/PNM image"),
        ("digit.ascii.pgm", encode_pgm(28, 28, bytes(784), binary=False), "a PGM/PNM image"),
        ("images.gz", gzip.compress(_idx_images()), "a gzip file"),
        ("images-idx3-ubyte", _idx_images(), "an IDX data file"),
        ("labels-idx1-ubyte", struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes(3), "an IDX data file"),
        ("notes.txt", "layers: 784,20,10 — a model I trained\n".encode() * 3, "a text file"),
    ],
)
def test_a_file_that_is_not_a_model_says_what_it_looks_like(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ann.ModelFileError) as caught:
        ann.Network.load(path)
    assert str(caught.value).startswith(f"{path}: not a model file (it looks like {kind}")


def test_swapped_arguments_say_not_a_model_file(tmp_path):
    image = tmp_path / "img.png"
    image.write_bytes(encode_png_gray(28, 28, bytes(784)))
    for args in (["predict", str(image), str(image)], ["evaluate", str(image)]):
        line = one_error_line(
            run_ann(*args), str(image), "not a model file (it looks like a PNG image)"
        )
        assert "header length" not in line


# ---- item 14: --save and the other destinations ---------------------------------------------


def test_empty_save_path_is_a_usage_error():
    out = run_ann("train", "--data", "sample", "--save", "")
    one_error_line(out, "--save")
    assert out.returncode == 2 and "data:" not in out.stdout


@pytest.mark.parametrize("option", ["--save", "--log", "--plot-file"])
def test_destination_in_a_missing_folder_fails_before_training(tmp_path, option):
    target = tmp_path / "absent" / "x"
    out = run_ann("train", "--data", "sample", option, str(target))
    one_error_line(out, option, str(target), f"folder {tmp_path / 'absent'} does not exist")
    assert out.returncode == 1
    assert "data:" not in out.stdout and "epoch" not in out.stderr  # nothing was trained


def test_destination_that_is_a_folder_fails_before_training(tmp_path):
    out = run_ann("train", "--data", "sample", "--save", str(tmp_path))
    one_error_line(out, "--save", "is a folder")
    assert "data:" not in out.stdout


def test_destination_the_save_would_refuse_fails_before_training(tmp_path):
    # a symbolic link loop: atomic_write refuses it, so the check before training must too
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    out = run_ann("train", "--data", "sample", "--save", str(tmp_path / "a"))
    one_error_line(out, "--save", "symbolic link loop")
    assert out.returncode == 1
    assert "data:" not in out.stdout and "epoch" not in out.stderr  # nothing was trained
