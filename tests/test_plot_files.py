"""--plot-file writes what its name says (issue 23, item 13): an SVG line plot for .svg, a PNG
for .png, the text plot for any other name, and a one-line refusal for an image format ann
does not draw (.jpg, .pdf, ...); before, plot.png held braille text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from conftest import one_stderr_line, run_ann

import ann
from ann._experiment import run_experiment
from ann._plot_image import Panel, image_format, render
from ann._png import decode_png

SAMPLE = str(Path(ann.__file__).parent / "data" / "sample")
SVG = "{http://www.w3.org/2000/svg}"


def train(tmp_path, plot):
    return run_ann(
        "train", "--data", SAMPLE, "--epochs", "3", "--lr", "0.05", "--quiet",
        "--plot-file", plot, cwd=tmp_path,
    )  # fmt: skip


def test_a_svg_plot_file_is_an_svg_line_plot(tmp_path):
    out = train(tmp_path, "curves.svg")
    assert out.returncode == 0, out.stderr
    root = ET.parse(tmp_path / "curves.svg").getroot()
    assert root.tag == f"{SVG}svg" and root.get("width") == "800"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"loss", "accuracy", "step", "train loss", "validation accuracy"} <= set(texts)
    lines = [p for p in root.iter(f"{SVG}polyline") if p.get("stroke", "black") != "black"]
    assert len(lines) == 4  # two series in each of the two panels
    for line in lines:  # every point inside the figure
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        assert len(points) >= 3
        assert all(0 <= x <= 800 and 0 <= y <= float(root.get("height")) for x, y in points)


def test_a_png_plot_file_is_a_png_image(tmp_path):
    out = train(tmp_path, "curves.PNG")
    assert out.returncode == 0, out.stderr
    data = (tmp_path / "curves.PNG").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, gray = decode_png(data)
    assert width == 800 and height > 500
    shades = set(gray)
    assert 255 in shades and 0 in shades  # white paper, black axes and text
    assert len(shades) >= 4  # and the coloured curves
    # the palette holds the curves' colours (IHDR colour type 3, PLTE chunk)
    assert data[25] == 3 and b"PLTE" in data
    compressed = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    assert len(zlib.decompress(compressed)) == height * (width + 1)


def test_any_other_name_gets_the_text_plot_and_other_image_names_are_refused(tmp_path):
    out = train(tmp_path, "curves.txt")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "curves.txt").read_text(encoding="utf-8")
    assert "loss" in text and "⠤⠤ train loss" in text
    for name in ("curves.jpg", "curves.pdf"):
        out = train(tmp_path, name)
        assert out.returncode == 2
        one_stderr_line(out, f"--plot-file {name}: ann draws plots as .svg or .png images")
        assert not (tmp_path / name).exists()
    assert [image_format(n) for n in ("a.svg", "b.Png", "c.txt", "d", "e.jpeg")] == [
        "svg", "png", "text", "text", None
    ]  # fmt: skip


def test_experiment_writes_its_plot_by_the_name_too(tmp_path):
    images = bytes((i * 7) % 256 for i in range(300 * 16))
    data = ann.Dataset(images, [i % 3 for i in range(300)], (4, 4))
    test = ann.Dataset(images[: 60 * 16], [i % 3 for i in range(60)], (4, 4))
    for name in ("runs.svg", "runs.png", "runs.txt"):
        run_experiment(data, test, quick=True, plot_file=str(tmp_path / name), say=lambda _: None)
    root = ET.parse(tmp_path / "runs.svg").getroot()
    drawn = [e for e in root.iter() if "clip-path" in e.attrib]  # lines, or lone points
    assert len(drawn) == 16  # one curve for each run of the quick grid
    assert decode_png((tmp_path / "runs.png").read_bytes())[0] == 800
    assert "batch" in (tmp_path / "runs.txt").read_text(encoding="utf-8")


def test_gaps_and_lone_points_are_drawn_as_the_text_plot_draws_them():
    series = {"a": ([0, 1, 2, 3, 4], [1.0, 2.0, math.nan, 3.0, 2.0]), "b": ([2], [1.5])}
    root = ET.fromstring(render([Panel("t", "x", series)], "svg"))
    assert len([p for p in root.iter(f"{SVG}polyline") if "stroke-width" in p.attrib]) >= 2
    assert len(list(root.iter(f"{SVG}circle"))) == 1  # b's one point
    png = render([Panel("t", "x", series)], "png")
    assert decode_png(png)[0] == 800
    with pytest.raises(ValueError, match="kind must be 'svg' or 'png'"):
        render([Panel("t", "x", series)], "gif")
