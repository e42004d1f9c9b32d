"""Framing a user's drawing as MNIST's digits were framed (issue 12, item 21): crop to the ink,
fit the longer side to 20 pixels keeping the aspect ratio, anti-aliased, centre of mass at the
centre of 28x28; and ``ann predict`` doing it unless ``--raw``."""

from __future__ import annotations

import json
import math
import random

import pytest

import ann
from ann._errors import DataError
from ann._pgm import encode_pgm
from ann._png import _encode_png, encode_png_gray
from ann._preprocess import mnist_preprocess
from ann.cli import main

# ---- drawings rendered independently of the code under test ---------------------------------

# A "7" and a "1" as strokes in a unit box (x right, y down): what a user would draw.
SEVEN = [((0.0, 0.0), (1.0, 0.0)), ((1.0, 0.0), (0.35, 1.0))]
ONE = [((0.5, 0.0), (0.5, 1.0))]


def _distance(px, py, a, b):
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def render(strokes, canvas, left, top, width, height, thickness):
    """Strokes scaled to the box (left, top, width, height) of a canvas x canvas image, as
    a round pen of ``thickness`` pixels, anti-aliased by 4x4 supersampling: light on black."""
    out = bytearray(canvas * canvas)
    segments = [
        ((left + ax * width, top + ay * height), (left + bx * width, top + by * height))
        for (ax, ay), (bx, by) in strokes
    ]
    for y in range(canvas):
        for x in range(canvas):
            inside = 0
            for sy in range(4):
                for sx in range(4):
                    px, py = x + (sx + 0.5) / 4, y + (sy + 0.5) / 4
                    if min(_distance(px, py, a, b) for a, b in segments) <= thickness / 2:
                        inside += 1
            out[y * canvas + x] = round(255 * inside / 16)
    return bytes(out)


def centre_of_mass(pixels, width):
    total = sum(pixels)
    cx = sum((i % width) * v for i, v in enumerate(pixels)) / total
    cy = sum((i // width) * v for i, v in enumerate(pixels)) / total
    return cx, cy


def ink_box(pixels, width, level=0):
    xs = [i % width for i, v in enumerate(pixels) if v > level]
    ys = [i // width for i, v in enumerate(pixels) if v > level]
    return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1


def mnist_style(strokes, width, height, thickness):
    """The same strokes (drawn in a width x height box with that pen) drawn directly the
    MNIST way: scaled so the ink's longer side (pen included) is 20 pixels, then moved by
    whole pixels so that the centre of mass is at (14, 14)."""
    scale = 20 / (max(width, height) + thickness)
    w, h = width * scale, height * scale
    drawn = render(strokes, 28, (28 - w) / 2, (28 - h) / 2, w, h, thickness * scale)
    cx, cy = centre_of_mass(drawn, 28)
    dx, dy = math.floor(14 - cx + 0.5), math.floor(14 - cy + 0.5)
    out = bytearray(28 * 28)
    for i, v in enumerate(drawn):
        x, y = i % 28 + dx, i // 28 + dy
        if v and 0 <= x < 28 and 0 <= y < 28:
            out[y * 28 + x] = v
    return bytes(out)


def mean_abs_difference(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def shifted(pixels, dx, dy, size=28):
    out = bytearray(size * size)
    for i, v in enumerate(pixels):
        x, y = i % size + dx, i // size + dy
        if 0 <= x < size and 0 <= y < size:
            out[y * size + x] = v
    return bytes(out)


def difference_up_to_one_pixel(a, b):
    """Mean absolute difference, b moved by at most one pixel each way to match a best (a
    centre of mass a hair either side of .5 rounds to shifts one pixel apart)."""
    return min(mean_abs_difference(a, shifted(b, dx, dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1))


# ---- the function --------------------------------------------------------------------------


def test_a_large_off_centre_seven_comes_out_as_the_same_seven_drawn_mnist_style():
    # drawn large (80 px of 100) and off-centre, with a thick pen
    canvas = render(SEVEN, 100, 14, 4, 60, 80, 10)
    framed = mnist_preprocess(canvas, 100, 100)
    expected = mnist_style(SEVEN, 60, 80, 10)
    assert len(framed) == 784
    assert mean_abs_difference(framed, expected) < 6
    # a drawing left as it is, large and off-centre in 28x28, is nowhere near it
    assert (
        mean_abs_difference(framed, expected)
        < mean_abs_difference(render(SEVEN, 28, 6, 1, 21, 27, 3), expected) / 3
    )
    left, top, w, h = ink_box(framed, 28)
    assert h == 20 and 15 <= w <= 16  # 70:90 kept: 15.6 x 20
    cx, cy = centre_of_mass(framed, 28)
    assert abs(cx - 14) <= 0.5 and abs(cy - 14) <= 0.5
    assert max(framed) == 255


def test_a_small_digit_in_a_corner_is_enlarged_to_20_pixels():
    corner = render(SEVEN, 28, 1, 1, 7, 9, 1.5)
    framed = mnist_preprocess(corner, 28, 28)
    _, _, w, h = ink_box(framed, 28)
    assert h == 20 and 14 <= w <= 17
    cx, cy = centre_of_mass(framed, 28)
    assert abs(cx - 14) <= 0.5 and abs(cy - 14) <= 0.5


def test_a_one_keeps_its_aspect_ratio_instead_of_being_stretched_to_a_square():
    tall = render(ONE, 60, 25, 5, 0, 50, 6)  # 6 wide, 56 tall
    framed = mnist_preprocess(tall, 60, 60)
    _, _, w, h = ink_box(framed, 28, level=40)
    assert h == 20 and w <= 4


def test_a_wide_image_that_is_not_square_is_accepted():
    wide = render(SEVEN, 90, 50, 30, 30, 40, 6)[: 90 * 70]  # 90 x 70: rows cut off below
    framed = mnist_preprocess(wide, 90, 70)
    assert len(framed) == 784 and ink_box(framed, 28)[3] == 20


def test_background_noise_does_not_count_as_ink():
    rng = random.Random(0)
    clean = render(SEVEN, 100, 14, 4, 60, 80, 10)
    noisy = bytes(min(255, v + rng.randrange(12)) for v in clean)
    assert (
        mean_abs_difference(mnist_preprocess(noisy, 100, 100), mnist_preprocess(clean, 100, 100))
        < 3
    )


def test_an_mnist_digit_is_left_nearly_as_it_was():
    _, test = ann.load_mnist("sample")
    for i in range(20):
        digit = test[i][0]
        assert difference_up_to_one_pixel(mnist_preprocess(digit, 28, 28), digit) < 6


def test_a_blank_image_is_a_clear_error():
    with pytest.raises(DataError) as info:
        mnist_preprocess(bytes(100), 10, 10, path="empty.png")
    assert str(info.value) == "empty.png: the image is blank (every pixel is 0): no digit to frame"


def test_pixel_count_must_match_the_size():
    with pytest.raises(ValueError, match="99 pixels do not make a 10x10 image"):
        mnist_preprocess(bytes(99), 10, 10)


# ---- it is what a trained model needs -------------------------------------------------------


def _crop(digit):
    left, top, w, h = ink_box(digit, 28)
    return [list(digit[(top + y) * 28 + left : (top + y) * 28 + left + w]) for y in range(h)]


def _nearest(rows, factor):
    h, w = len(rows), len(rows[0])
    H, W = max(1, int(h * factor)), max(1, int(w * factor))
    return [
        [rows[min(h - 1, int(y / factor))][min(w - 1, int(x / factor))] for x in range(W)]
        for y in range(H)
    ]


def _place(rows, size, left, top):
    out = bytearray(size * size)
    for y, row in enumerate(rows):
        for x, v in enumerate(row):
            if 0 <= top + y < size and 0 <= left + x < size:
                out[(top + y) * size + left + x] = v
    return bytes(out)


@pytest.fixture(scope="module")
def sample_model():
    train, test = ann.load_mnist("sample")
    net = ann.Network([784, 64, 10], seed=0)
    net.fit(train, epochs=4, batch_size=32, lr=0.1, progress=False)
    return net, test[:200]


def test_framing_recovers_accuracy_on_shifted_and_rescaled_digits(sample_model):
    net, test = sample_model
    labels = list(test.labels)
    digits = [test[i][0] for i in range(len(test))]

    def accuracy(images):
        return sum(p == y for p, y in zip(net.predict(b"".join(images)), labels)) / len(labels)

    baseline = accuracy(digits)
    assert baseline > 0.8
    rng = random.Random(1)
    small = [
        _place(_nearest(_crop(d), 0.6), 28, rng.randrange(3), rng.randrange(3)) for d in digits
    ]
    large = [_place(_nearest(_crop(d), 1.35), 28, rng.randrange(2), 0) for d in digits]
    canvas = [
        _place(_nearest(_crop(d), 3.5), 100, rng.randrange(30), rng.randrange(30)) for d in digits
    ]
    for raw, size in ((small, 28), (large, 28)):
        framed = accuracy([mnist_preprocess(d, size, size) for d in raw])
        assert accuracy(raw) < 0.5 < baseline - 0.05 <= framed
    assert accuracy([mnist_preprocess(d, 100, 100) for d in canvas]) >= baseline - 0.05


# ---- ann predict -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(sample_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    sample_model[0].save(path)
    return path


def _predict(capsys, *args):
    status = main(["predict", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_predict_frames_a_drawing_of_any_size(sample_model, model_file, tmp_path, capsys):
    net = sample_model[0]
    seven = render(SEVEN, 100, 14, 4, 60, 80, 10)
    png, pgm = tmp_path / "seven.png", tmp_path / "seven.pgm"
    png.write_bytes(encode_png_gray(100, 100, seven))
    pgm.write_bytes(encode_pgm(100, 100, seven))
    status, records, err = _predict(capsys, model_file, png, pgm)
    assert status == 0, err
    expected = net.predict(mnist_preprocess(seven, 100, 100))[0]
    assert [r["class"] for r in records] == [expected, expected]


def test_predict_reads_an_rgb_drawing_as_gray(sample_model, model_file, tmp_path, capsys):
    seven = render(SEVEN, 64, 10, 2, 40, 56, 7)
    rgb = [bytes(v for v in seven[y * 64 : (y + 1) * 64] for _ in range(3)) for y in range(64)]
    path = tmp_path / "seven-rgb.png"
    path.write_bytes(_encode_png(64, 64, 2, 8, rgb))
    status, records, err = _predict(capsys, model_file, path)
    assert status == 0, err
    assert records[0]["class"] == sample_model[0].predict(mnist_preprocess(seven, 64, 64))[0]


def test_predict_invert_then_frames_dark_ink_on_white(sample_model, model_file, tmp_path, capsys):
    seven = render(SEVEN, 100, 14, 4, 60, 80, 10)
    path = tmp_path / "paper.png"
    path.write_bytes(encode_png_gray(100, 100, bytes(255 - v for v in seven)))
    status, records, err = _predict(capsys, model_file, path, "--invert")
    assert status == 0, err
    assert records[0]["class"] == sample_model[0].predict(mnist_preprocess(seven, 100, 100))[0]


def test_raw_keeps_the_pixels_and_the_28x28_rule(sample_model, model_file, tmp_path, capsys):
    net = sample_model[0]
    corner = render(SEVEN, 28, 1, 1, 7, 9, 1.5)
    path = tmp_path / "corner.png"
    path.write_bytes(encode_png_gray(28, 28, corner))
    status, records, _ = _predict(capsys, model_file, path, "--raw")
    assert status == 0
    assert records[0]["probabilities"] == pytest.approx(net.predict_proba(corner)[0])
    status, records, _ = _predict(capsys, model_file, path)
    assert records[0]["probabilities"] == pytest.approx(
        net.predict_proba(mnist_preprocess(corner, 28, 28))[0]
    )
    big = tmp_path / "big.png"
    big.write_bytes(encode_png_gray(100, 100, render(SEVEN, 100, 14, 4, 60, 80, 10)))
    status, _, err = _predict(capsys, model_file, big, "--raw")
    assert status == 1
    assert (
        err == f"ann: error: {big}: image is 100x100 pixels; ann predict takes 28x28 "
        f"grayscale images (like MNIST)\n"
    )


def test_predict_says_a_blank_drawing_is_blank(model_file, tmp_path, capsys):
    path = tmp_path / "blank.png"
    path.write_bytes(encode_png_gray(50, 40, bytes(50 * 40)))
    status, _, err = _predict(capsys, model_file, path)
    assert status == 1
    assert err == f"ann: error: {path}: the image is blank (every pixel is 0): no digit to frame\n"
