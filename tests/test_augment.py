"""Data augmentation (csrc/augment.c, ann/_augment.py): the C core against hand-computed cases
and its float64 twin, determinism, thread independence, and that only training is augmented."""

from __future__ import annotations

import math
import random
from array import array

import pytest
from conftest import run_ann

import ann
from ann import _augment as ref
from tests.conftest import one_stderr_line

FULL = ann.Augment()  # the default: affine + elastic
AFFINE = ann.Augment(elastic_alpha=0.0)
BOUNDED = ann.Augment(elastic_max=2.0)  # the field rescaled to a largest move of 2 px
FIELDS = ("rotate", "scale", "shear", "shift", "elastic_alpha", "elastic_sigma", "elastic_max")


def c_params(ffi, params, seed):
    c = ffi.new("ann_augment *")
    for name in FIELDS:
        setattr(c, name, getattr(params, name))
    c.seed = seed
    return c


def digit_like(B, H=28, W=28, seed=0):
    """B images (B, H, W) of float32 values: mostly 0 with bright strokes, like MNIST."""
    rng = random.Random(seed)
    x = array("f")
    for _ in range(B * H * W):
        x.append(rng.random() if rng.random() < 0.3 else 0.0)
    return x


def c_augment(core, x, params, seed=7, step=0, H=28, W=28):
    ffi, lib = core
    out = array("f", x)
    B = len(x) // (H * W)
    buf = ffi.from_buffer("float[]", out)
    assert lib.ann_augment_batch(buf, c_params(ffi, params, seed), step, B, H, W) == lib.ANN_OK
    return out


# ---- the transform itself ---------------------------------------------------------------


def test_identity_transform_returns_the_image_exactly(core):
    x = digit_like(5)
    assert c_augment(core, x, ann.Augment.none()).tobytes() == x.tobytes()
    # the float64 twin too
    assert ref.augment_batch(list(x), ann.Augment.none(), 7, 0, 5, 28, 28) == list(x)


def test_bilinear_weights_by_hand():
    img = [0.0, 1.0, 2.0, 3.0]  # 2 x 2: [[0, 1], [2, 3]]
    # at (x, y) = (0.25, 0.5): .75*.5*0 + .25*.5*1 + .75*.5*2 + .25*.5*3 = 1.25
    assert ref.bilinear(img, 2, 2, 0.25, 0.5) == pytest.approx(1.25, abs=1e-15)
    # outside the image is background: half of pixel (0, 1) at x = 1.5
    assert ref.bilinear(img, 2, 2, 1.5, 0.0) == pytest.approx(0.5, abs=1e-15)


def test_shifted_image_matches_a_hand_computed_bilinear_case(core):
    """Shift only: one lit pixel at (row 2, col 2) of a 5 x 5 image moves by the drawn (tx, ty)
    and spreads over its neighbours by the tent weights max(0, 1 - |d|) in x times in y."""
    ffi, lib = core
    H = W = 5
    x = array("f", [0.0] * (H * W))
    x[2 * W + 2] = 1.0
    params = ann.Augment(rotate=0, scale=0, shear=0, shift=0.9, elastic_alpha=0)
    for seed in (1, 2, 3):
        out = c_augment(core, x, params, seed=seed, step=4, H=H, W=W)
        # the draws, in ann.h's order: theta, s, k, tx, ty from the image's own stream
        state = ffi.new("uint64_t *", lib.ann_augment_stream(seed, 4, 0))
        u = [lib.ann_random_uniform(state) for _ in range(5)]
        tx, ty = (2 * u[3] - 1) * 0.9, (2 * u[4] - 1) * 0.9
        assert abs(tx) > 0.05 and abs(ty) > 0.05  # a real sub-pixel shift

        def tent(d):
            return max(0.0, 1.0 - abs(d))

        for i in range(H):
            for j in range(W):
                want = tent(j - tx - 2) * tent(i - ty - 2)
                assert out[i * W + j] == pytest.approx(want, abs=1e-6), (seed, i, j)


def test_separable_smoothing_equals_the_2d_gaussian():
    """The two 1-D passes give the direct 2-D sum over g(a) g(b) u[i+a][j+b]."""
    rng = random.Random(3)
    H, W, sigma = 9, 7, 1.3
    u = [rng.uniform(-1, 1) for _ in range(H * W)]
    taps = ref.gaussian_taps(sigma)
    r = len(taps) - 1
    assert r == math.ceil(3 * sigma)
    assert taps[0] + 2 * sum(taps[1:]) == pytest.approx(1.0, abs=1e-15)
    fast = ref.smooth(u, taps, H, W)
    for i in range(H):
        for j in range(W):
            direct = sum(
                taps[abs(a)] * taps[abs(b)] * u[(i + a) * W + j + b]
                for a in range(-r, r + 1)
                for b in range(-r, r + 1)
                if 0 <= i + a < H and 0 <= j + b < W
            )
            assert fast[i * W + j] == pytest.approx(direct, abs=1e-12)


def test_mirror_index_by_hand():
    # n = 5: ... 2 1 | 0 1 2 3 4 | 3 2 1 0 1 ...
    assert [ref.mirror_index(i, 5) for i in range(-9, 14)] == (
        [1, 0, 1, 2, 3, 4, 3, 2, 1] + [0, 1, 2, 3, 4] + [3, 2, 1, 0, 1, 2, 3, 4, 3]
    )
    assert [ref.mirror_index(i, 1) for i in (-3, 0, 4)] == [0, 0, 0]


def test_mirrored_smoothing_equals_the_2d_gaussian_over_the_mirrored_image():
    """With a mirrored edge the two 1-D passes give the direct 2-D sum over the image
    extended by mirroring, taps wider than the image included (sigma 3: r = 9 > H, W)."""
    rng = random.Random(4)
    H, W = 6, 4
    u = [rng.uniform(-1, 1) for _ in range(H * W)]
    for sigma in (1.3, 3.0):
        taps = ref.gaussian_taps(sigma)
        r = len(taps) - 1
        fast = ref.smooth(u, taps, H, W, mirror=True)
        for i in range(H):
            for j in range(W):
                direct = sum(
                    taps[abs(a)]
                    * taps[abs(b)]
                    * u[ref.mirror_index(i + a, H) * W + ref.mirror_index(j + b, W)]
                    for a in range(-r, r + 1)
                    for b in range(-r, r + 1)
                )
                assert fast[i * W + j] == pytest.approx(direct, abs=1e-12)
    # a constant field stays constant under the mirror (the taps sum to 1), not under 0 padding
    ones = [1.0] * (H * W)
    taps = ref.gaussian_taps(1.3)
    assert ref.smooth(ones, taps, H, W, mirror=True) == pytest.approx(ones, abs=1e-12)
    assert ref.smooth(ones, taps, H, W)[0] < 0.9


@pytest.mark.parametrize(
    "params",
    [
        FULL,
        AFFINE,
        BOUNDED,
        ann.Augment(rotate=0, shear=0, shift=0),
        ann.Augment(elastic_sigma=1 / 3),  # 3 sigma is 1 in float64, just above in float32
        ann.Augment(rotate=0, scale=0, shear=0, shift=0, elastic_max=1.5, elastic_sigma=12),
    ],
)
def test_c_matches_the_float64_reference(core, params):
    x = digit_like(4, seed=5)
    got = c_augment(core, x, params, seed=11, step=3)
    want = ref.augment_batch(list(x), params, 11, 3, 4, 28, 28)
    assert max(abs(a - b) for a, b in zip(got, want)) < 2e-5
    assert sum(abs(a - b) for a, b in zip(got, x)) > 10  # and the images did change


@pytest.mark.parametrize(
    "params",
    [
        FULL,
        AFFINE,
        ann.Augment(elastic_sigma=0.3),
        BOUNDED,
        ann.Augment(elastic_max=3.0, elastic_sigma=0.3),
        ann.Augment(elastic_max=1.0, elastic_sigma=12),  # taps wider than the image
    ],
)
def test_fast_matches_naive_bit_for_bit(core, params):
    """ann_augment_batch (flat tap loops, unchecked interior samples) against the plain
    ann_augment_batch_naive, on awkward sizes: the same sums in the same order."""
    ffi, lib = core
    for H, W in ((28, 28), (7, 13), (1, 5), (30, 3)):
        x = digit_like(6, H, W, seed=H * W)
        fast, naive = array("f", x), array("f", x)
        c = c_params(ffi, params, 5)
        assert lib.ann_augment_batch(ffi.from_buffer("float[]", fast), c, 2, 6, H, W) == 0
        assert lib.ann_augment_batch_naive(ffi.from_buffer("float[]", naive), c, 2, 6, H, W) == 0
        assert fast.tobytes() == naive.tobytes(), (H, W)
        want = ref.augment_batch(list(x), params, 5, 2, 6, H, W)
        assert max(abs(a - b) for a, b in zip(fast, want)) < 2e-5, (H, W)


def test_elastic_displacement_is_about_two_pixels():
    """alpha 34, sigma 4 (Simard's values): RMS displacement near 2 px in the digit's area."""
    rng = random.Random(0)
    H = W = 28
    taps = ref.gaussian_taps(4.0)
    total = count = 0.0
    for _ in range(10):
        dx = ref.smooth([rng.uniform(-1, 1) for _ in range(H * W)], taps, H, W)
        dy = ref.smooth([rng.uniform(-1, 1) for _ in range(H * W)], taps, H, W)
        for i in range(6, 22):
            for j in range(6, 22):
                total += (34 * dx[i * W + j]) ** 2 + (34 * dy[i * W + j]) ** 2
                count += 1
    assert 1.5 < math.sqrt(total / count) < 2.5


def test_bounded_field_has_its_largest_move_and_about_one_pixel_rms():
    """elastic_max 2, sigma 4: the field's largest |dx| or |dy| is exactly 2 px, and the RMS
    move over the image is near 1 px (half of alpha 34's). Drawn as augment_image draws it."""
    H = W = 28
    taps = ref.gaussian_taps(4.0)
    total = count = 0.0
    for seed in range(6):
        rng = random.Random(seed)
        sx = ref.smooth([rng.uniform(-1, 1) for _ in range(H * W)], taps, H, W, mirror=True)
        sy = ref.smooth([rng.uniform(-1, 1) for _ in range(H * W)], taps, H, W, mirror=True)
        scale = 2.0 / max(max(map(abs, sx)), max(map(abs, sy)))
        assert max(abs(scale * v) for v in sx + sy) == pytest.approx(2.0, abs=1e-12)
        total += sum((scale * a) ** 2 + (scale * b) ** 2 for a, b in zip(sx, sy))
        count += H * W
    assert 0.7 < math.sqrt(total / count) < 1.3


def test_bounded_move_of_a_lit_pixel_is_at_most_elastic_max(core):
    """Elastic only, bounded at 1.5 px: every output pixel samples the input within 1.5 px in
    x and in y, so light from one lit pixel lands only within 2.5 px of it (bilinear reach 1),
    and it does move (the field is never 0 everywhere)."""
    H = W = 15
    x = array("f", [0.0] * (H * W))
    x[7 * W + 7] = 1.0
    params = ann.Augment(rotate=0, scale=0, shear=0, shift=0, elastic_max=1.5, elastic_sigma=2)
    for seed in range(5):
        out = c_augment(core, x, params, seed=seed, H=H, W=W)
        lit = [(i, j) for i in range(H) for j in range(W) if out[i * W + j] > 0]
        assert lit and all(abs(i - 7) <= 2.5 and abs(j - 7) <= 2.5 for i, j in lit), seed
        assert out.tobytes() != x.tobytes()


def test_deterministic_per_seed_and_step(core):
    x = digit_like(6)
    a = c_augment(core, x, FULL, seed=1, step=0)
    assert c_augment(core, x, FULL, seed=1, step=0).tobytes() == a.tobytes()
    assert c_augment(core, x, FULL, seed=2, step=0).tobytes() != a.tobytes()
    assert c_augment(core, x, FULL, seed=1, step=1).tobytes() != a.tobytes()
    # each image has its own stream: image 0 alone is distorted as in the batch of 6
    first = c_augment(core, x[: 28 * 28], FULL, seed=1, step=0)
    assert first.tobytes() == a[: 28 * 28].tobytes()


def test_identical_for_any_thread_count(core):
    x = digit_like(37)  # not a multiple of the chunk size
    before = ann.get_num_threads()
    try:
        runs = set()
        for threads in (1, 2, 3, 8):
            ann.set_num_threads(threads)
            runs.add(c_augment(core, x, FULL, seed=9, step=5).tobytes())
    finally:
        ann.set_num_threads(before)
    assert len(runs) == 1


def test_c_rejects_bad_parameters(core):
    ffi, lib = core
    x = ffi.new("float[]", 784)
    good = c_params(ffi, FULL, 0)
    assert lib.ann_augment_batch(x, good, 0, 1, 28, 28) == lib.ANN_OK
    assert lib.ann_augment_batch(ffi.NULL, good, 0, 1, 28, 28) == lib.ANN_E_NULL
    assert lib.ann_augment_batch(x, good, 0, 0, 28, 28) == lib.ANN_E_SIZE
    for name, value in (
        ("rotate", -1.0),
        ("scale", 1.0),
        ("shear", math.nan),
        ("shift", math.inf),
        ("elastic_sigma", 0.0),
        ("elastic_alpha", -2.0),
        ("elastic_max", -1.0),
        ("elastic_max", math.nan),
        ("elastic_max", 2.0),  # and alpha 34: two scalings at once
    ):
        bad = c_params(ffi, FULL, 0)
        setattr(bad, name, value)
        assert lib.ann_augment_check(bad) == lib.ANN_E_ARG, name
        assert lib.ann_augment_batch(x, bad, 0, 1, 28, 28) == lib.ANN_E_ARG, name
    bounded = c_params(ffi, BOUNDED, 0)
    assert lib.ann_augment_check(bounded) == lib.ANN_OK
    bounded.elastic_sigma = 0.0  # the bounded field is smoothed too
    assert lib.ann_augment_check(bounded) == lib.ANN_E_ARG


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(rotate=-1), "rotate"),
        (dict(rotate=181), "rotate"),
        (dict(scale=1.0), "scale"),
        (dict(shear=math.nan), "shear"),
        (dict(shift=math.inf), "shift"),
        (dict(shift="2"), "shift"),
        (dict(elastic_alpha=True), "elastic_alpha"),
        (dict(elastic_sigma=0), "elastic_sigma"),
        (dict(elastic_sigma=101), "elastic_sigma"),
        (dict(elastic_max=-0.5), "elastic_max"),
        (dict(elastic_max=math.inf), "elastic_max"),
    ],
)
def test_augment_rejects_bad_parameters(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ann.Augment(**kwargs)


def test_elastic_max_replaces_alpha_and_modes_switch_it_off():
    assert (BOUNDED.elastic_alpha, BOUNDED.elastic_max, BOUNDED.elastic) == (0.0, 2.0, True)
    assert ann.Augment(elastic_alpha=20, elastic_max=2).elastic_alpha == 0.0
    assert (FULL.elastic_alpha, FULL.elastic_max) == (34.0, 0.0)
    assert not AFFINE.elastic
    affine = ref.for_mode("affine", elastic_max=2.0)
    assert affine is not None and not affine.elastic
    elastic = ref.for_mode("elastic", elastic_max=2.0)
    assert elastic is not None and elastic.elastic_max == 2.0 and elastic.rotate == 0.0


def test_augment_is_frozen_and_typed():
    a = ann.Augment(rotate=5, shift=1)
    assert a.rotate == 5.0 and isinstance(a.rotate, float)
    with pytest.raises(AttributeError):
        a.rotate = 3.0  # type: ignore[misc]


# ---- only training is augmented ----------------------------------------------------------


def small(mnist, n=1024):
    train, test = mnist
    return train[:n], test[:500]


def fit(ds, val=None, augment=None, backend=None, sizes=(784, 32, 10), **kwargs):
    net = ann.Network(list(sizes), seed=4, backend=backend)
    history = net.fit(
        ds, val, epochs=1, batch_size=64, lr=0.05, progress=False, augment=augment, **kwargs
    )
    return net, history


def test_fit_augments_training_and_identity_changes_nothing(mnist):
    ds, _ = small(mnist)
    plain, _ = fit(ds)
    same, _ = fit(ds, augment=ann.Augment.none())
    distorted, _ = fit(ds, augment=FULL)
    assert same.get_weights().tobytes() == plain.get_weights().tobytes()
    assert distorted.get_weights().tobytes() != plain.get_weights().tobytes()
    again, _ = fit(ds, augment=FULL)
    assert again.get_weights().tobytes() == distorted.get_weights().tobytes()
    # a later fit without augment trains plainly again
    net = ann.Network([784, 32, 10], seed=4)
    start = net.get_weights()
    net.fit(ds, epochs=1, batch_size=64, lr=0.05, progress=False, augment=FULL)
    net.set_weights(start)
    net.fit(ds, epochs=1, batch_size=64, lr=0.05, progress=False)
    assert net.get_weights().tobytes() == plain.get_weights().tobytes()


def test_training_is_identical_for_any_thread_count_with_augmentation(mnist):
    ds, _ = small(mnist, 512)
    before = ann.get_num_threads()
    try:
        runs = set()
        for threads in (1, 2, 3):
            ann.set_num_threads(threads)
            runs.add(fit(ds, augment=FULL, sizes=(784, 64, 10))[0].get_weights().tobytes())
    finally:
        ann.set_num_threads(before)
    assert len(runs) == 1


def test_nothing_augmented_at_predict_evaluate_or_validation(mnist):
    ds, val = small(mnist)
    net, history = fit(ds, val, augment=FULL)
    # a twin with the same weights that never had augmentation switched on
    twin = ann.Network([784, 32, 10], seed=0)
    twin.set_weights(net.get_weights())
    assert net.predict_proba(val) == twin.predict_proba(val)
    assert net.evaluate(val) == twin.evaluate(val)
    assert history.val_loss[-1] == pytest.approx(twin.evaluate(val)["loss"], rel=1e-12)
    assert net.predict(val) == net.predict(val)  # and predicting draws nothing


@pytest.mark.parametrize(
    "params",
    [  # a smaller kernel keeps the Python side quick
        ann.Augment(elastic_sigma=2.0),
        ann.Augment(elastic_max=2.0, elastic_sigma=2.0),  # the best preset's bounded field
    ],
)
def test_c_training_matches_the_reference_backend(mnist, params):
    ds, _ = small(mnist, 48)
    c_net, _ = fit(ds, augment=params, sizes=(784, 10), backend="c")
    py_net, _ = fit(ds, augment=params, sizes=(784, 10), backend="python")
    plain, _ = fit(ds, sizes=(784, 10), backend="c")
    c, p, base = c_net.get_weights(), py_net.get_weights(), plain.get_weights()
    assert max(abs(a - b) for a, b in zip(c, p)) < 1e-4
    assert max(abs(a - b) for a, b in zip(c, base)) > 1e-3  # augmentation did something


def test_fit_rejects_a_bad_augment(mnist):
    ds, _ = small(mnist, 64)
    net = ann.Network([784, 10])
    with pytest.raises(TypeError, match="augment"):
        net.fit(ds, epochs=1, progress=False, augment={"rotate": 5})
    flat = ann.Dataset(bytes(10 * 12), bytes(10), 12)
    with pytest.raises(ValueError, match="augment needs images"):
        ann.Network([12, 10]).fit(flat, epochs=1, progress=False, augment=FULL)


# ---- the command line ---------------------------------------------------------------------


def preview_rows(*flags):
    """(original, augmented) drawings of the first band of ann augment-preview --ascii."""
    out = run_ann("augment-preview", "--data", "sample", "--n", "3", "--ascii", *flags)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    o = next(k for k, l in enumerate(lines) if l.startswith("original"))
    a = next(k for k, l in enumerate(lines) if l.startswith("augmented"))
    return [l[10:] for l in lines[o:a]], [l[10:] for l in lines[a : a + (a - o)]]


def test_augment_preview_draws_pairs():
    original, augmented = preview_rows("--seed", "2")
    assert len(original) == len(augmented) == 14  # 28 pixel rows, 2 per character
    assert any(ch in "@%#" for l in original for ch in l)
    assert original != augmented
    # with --augment none the two rows are the same drawing
    original, augmented = preview_rows("--seed", "2", "--augment", "none")
    assert original == augmented


def test_cli_bad_augment_flag_is_a_usage_error():
    out = run_ann("train", "--data", "sample", "--augment", "affine", "--scale", "1.5")
    assert out.returncode == 2
    one_stderr_line(out, "--scale")
    out = run_ann("augment-preview", "--data", "sample", "--augment", "warp")
    assert out.returncode == 2
    one_stderr_line(out, "--augment")
    for bad in ("inf", "-1", "nan", "two", "1e39"):
        out = run_ann("train", "--data", "sample", "--augment", "elastic", "--elastic-max", bad)
        assert out.returncode == 2, bad
        one_stderr_line(out, "--elastic-max")
    # the two scalings of the field at once: a contradiction, named, before any data is read
    both = ("--elastic-alpha", "20", "--elastic-max", "2")
    for command in ("train", "augment-preview"):
        out = run_ann(command, "--data", "sample", *both)
        assert out.returncode == 2, (command, out.stderr)
        one_stderr_line(out, "--elastic-alpha 20 and --elastic-max 2", "give one")


def test_cli_elastic_max_bounds_the_preview():
    """--elastic-max draws a different distortion from --elastic-alpha's, and says so."""
    _, alpha = preview_rows("--seed", "2", "--augment", "elastic")
    _, bounded = preview_rows("--seed", "2", "--augment", "elastic", "--elastic-max", "2")
    assert alpha != bounded
    out = run_ann(
        "augment-preview", "--data", "sample", "--n", "1", "--ascii", "--elastic-max", "2"
    )
    assert out.returncode == 0, out.stderr
    assert "elastic max 2" in out.stdout + out.stderr
    assert "elastic alpha" not in out.stdout + out.stderr
