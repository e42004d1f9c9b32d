"""Learning-rate schedules: the rate of each step against hand-computed values, what the
backend receives during fit, what the History records, bad settings, and ann train's flags."""

from __future__ import annotations

import csv
import json
import math

import pytest
from conftest import run_ann
from test_cli_features import one_error_line
from test_network import synthetic
from test_training_features import noisy

import ann
from ann._schedules import LRPlan


def plan_rates(lr, schedule, total, per_epoch=10):
    plan = LRPlan(lr, schedule, total, per_epoch)
    return [plan.lr_for(i) for i in range(total)]


# ---- the rate of each step, by hand ----------------------------------------------------------


def test_no_schedule_is_the_constant_lr():
    assert plan_rates(0.3, None, 5) == [0.3] * 5


def test_cosine_by_hand():
    rates = plan_rates(0.1, ann.Cosine(), 10)
    assert rates[0] == 0.1
    assert rates[5] == pytest.approx(0.05)  # cos(pi / 2) = 0: half way
    assert rates[9] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.9)))
    assert all(b < a for a, b in zip(rates, rates[1:]))
    floor = plan_rates(0.1, ann.Cosine(min_lr=0.02), 10)
    assert floor[5] == pytest.approx(0.06)  # half way between 0.1 and 0.02


def test_one_cycle_by_hand():
    # peak 1.0, start 1.0 / 25 = 0.04, end 0.04 / 1e4; 20 steps, 25 % rising: the peak is at
    # step 0.25 * 20 - 1 = 4, the end at step 19
    end = 0.04 / 1e4
    rates = plan_rates(1.0, ann.OneCycle(pct_start=0.25), 20)
    assert rates[0] == pytest.approx(0.04)
    assert rates[2] == pytest.approx((0.04 + 1.0) / 2)  # half way up
    assert rates[4] == pytest.approx(1.0)  # the peak
    assert rates[10] == pytest.approx(end + (1 - end) * (1 + math.cos(math.pi * 6 / 15)) / 2)
    assert rates[19] == pytest.approx(end)
    assert rates.index(max(rates)) == 4
    assert all(b > a for a, b in zip(rates[:4], rates[1:5]))
    assert all(b < a for a, b in zip(rates[4:], rates[5:]))
    explicit = plan_rates(0.001, ann.OneCycle(max_lr=1.0, pct_start=0.25), 20)
    assert explicit == pytest.approx(rates)  # max_lr wins over fit's lr
    assert plan_rates(1.0, ann.OneCycle(pct_start=0.01), 3)[0] == pytest.approx(1.0)  # no rise


def test_warmup_steps_then_constant():
    assert plan_rates(0.1, ann.Warmup(steps=4), 6) == pytest.approx(
        [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]
    )


def test_warmup_epochs_then_cosine_over_the_steps_left():
    # half an epoch of 10 steps = 5 warm-up steps, then cosine over the 15 steps left
    rates = plan_rates(0.1, ann.Warmup(epochs=0.5, then=ann.Cosine()), 20, per_epoch=10)
    assert rates[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert rates[5] == pytest.approx(0.1)
    assert rates[5 + 15 // 2] == pytest.approx(0.05 * (1 + math.cos(math.pi * 7 / 15)))
    assert rates[-1] < 0.01


def test_plateau_lowers_the_base_after_patience_checks():
    plan = LRPlan(0.4, ann.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.15), 100, 10)
    for loss in (1.0, 0.9, 0.95, 0.95):  # two checks without improvement: halve
        plan.on_check(loss)
    assert plan.lr_for(0) == 0.2
    plan.on_check(0.95)
    plan.on_check(float("nan"))  # NaN is no improvement
    assert plan.lr_for(1) == 0.15  # 0.1 would be below min_lr


# ---- in fit ----------------------------------------------------------------------------------


def record_rates(net):
    """Wrap the backend's train_step to record the lr each step is given."""
    seen, step = [], net._net.train_step

    def train_step(*args):
        seen.append(args[-1])
        return step(*args)

    net._net.train_step = train_step
    return seen


@pytest.mark.parametrize("backend", ["c", "python"])
def test_fit_gives_the_backend_each_steps_rate(backend):
    if backend == "c" and not ann.backend_info()["c_core"]:
        pytest.skip("no C core")
    train, val = synthetic(60, seed=2).split(0.25, seed=0)  # 45 rows: 5 batches of 9
    net = ann.Network([30, 8, 4], backend=backend)
    seen = record_rates(net)
    schedule = ann.OneCycle(max_lr=0.5)
    history = net.fit(
        train, val, epochs=2, batch_size=9, lr=0.1, schedule=schedule, check_every=1, verbose=0
    )
    expected = plan_rates(0.1, schedule, 10, per_epoch=5)
    assert seen == pytest.approx(expected, rel=1e-12)
    assert history.lr == seen  # the rate of the step before each check
    assert history.history["lr"] == history.lr


def test_a_schedule_changes_the_weights_and_none_is_lr_throughout():
    train = synthetic(80, seed=3)
    weights = {}
    for name, schedule in (
        ("none", None),
        ("cosine", ann.Cosine()),
        ("warmup", ann.Warmup(steps=3)),
    ):
        net = ann.Network([30, 8, 4], seed=1)
        seen = record_rates(net)
        net.fit(train, epochs=2, batch_size=16, lr=0.2, schedule=schedule, verbose=0)
        weights[name] = net.get_weights()
        if schedule is None:
            assert seen == [0.2] * 10
    assert weights["none"] != weights["cosine"] and weights["none"] != weights["warmup"]


def test_plateau_as_schedule_is_lr_decay():
    train, val = noisy(200, seed=8).split(0.5, seed=1)  # nothing to learn: a plateau
    runs = []
    for kwargs in (
        dict(lr_decay=ann.ReduceLROnPlateau(factor=0.5, patience=1)),
        dict(schedule=ann.ReduceLROnPlateau(factor=0.5, patience=1)),
    ):
        net = ann.Network([30, 64, 4], seed=3)
        history = net.fit(
            train, val, epochs=10, batch_size=10, lr=0.2, check_every=5, verbose=0, **kwargs
        )
        runs.append((history.lr, net.get_weights()))
    assert runs[0] == runs[1]
    assert runs[0][0][-1] < 0.2  # it did decay


def test_history_files_carry_the_rate(tmp_path):
    train = synthetic(40, seed=5)
    history = ann.Network([30, 4]).fit(
        train, epochs=3, batch_size=10, lr=0.1, schedule=ann.Cosine(), verbose=0
    )
    assert len(history.lr) == 3 and history.lr[0] > history.lr[1] > history.lr[2]
    history.to_csv(tmp_path / "h.csv")
    rows = list(csv.DictReader(open(tmp_path / "h.csv")))
    assert [float(r["lr"]) for r in rows] == history.lr
    history.to_jsonl(tmp_path / "h.jsonl")
    lines = [json.loads(line) for line in open(tmp_path / "h.jsonl")]
    assert [line["lr"] for line in lines[:-1]] == history.lr


# ---- bad settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,word",
    [
        (lambda: ann.Cosine(min_lr=-1.0), "min_lr"),
        (lambda: ann.Cosine(min_lr=math.nan), "min_lr"),
        (lambda: ann.OneCycle(max_lr=0.0), "max_lr"),
        (lambda: ann.OneCycle(pct_start=1.0), "pct_start"),
        (lambda: ann.OneCycle(div_factor=0.5), "div_factor"),
        (lambda: ann.OneCycle(final_div_factor=-3), "final_div_factor"),
        (lambda: ann.Warmup(), "exactly one"),
        (lambda: ann.Warmup(steps=2, epochs=1.0), "exactly one"),
        (lambda: ann.Warmup(steps=0), "warm-up steps"),
        (lambda: ann.Warmup(epochs=-1.0), "warm-up epochs"),
        (lambda: ann.Warmup(steps=5, then=ann.OneCycle()), "rises on its own"),
        (lambda: ann.Warmup(steps=5, then=ann.Warmup(steps=1)), "then="),
        (lambda: ann.ReduceLROnPlateau(factor=1.5), "factor"),
    ],
)
def test_bad_schedule_settings(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_bad_schedule_arguments_to_fit():
    train = synthetic(20)
    net = ann.Network([30, 4])
    with pytest.raises(TypeError, match="schedule must be"):
        net.fit(train, schedule="cosine", verbose=0)
    with pytest.raises(ValueError, match="not both"):
        net.fit(
            train,
            train,
            schedule=ann.Cosine(),
            lr_decay=ann.ReduceLROnPlateau(),
            verbose=0,
        )
    with pytest.raises(ValueError, match="validation"):  # a plateau needs a validation set
        net.fit(train, schedule=ann.Warmup(steps=2, then=ann.ReduceLROnPlateau()), verbose=0)


# ---- ann train -------------------------------------------------------------------------------


def train_on_the_sample(tmp_path, flags: str) -> tuple[str, list[float]]:
    """`ann train --data sample FLAGS --patience 0 --quiet`, logged to a CSV: its stdout and
    the learning rate of every check."""
    log = tmp_path / "h.csv"
    out = run_ann(
        "train", "--data", "sample", *flags.split(), "--patience", "0", "--quiet", "--log", str(log)
    )
    assert out.returncode == 0, out.stderr
    with open(log, newline="") as rows:
        return out.stdout, [float(row["lr"]) for row in csv.DictReader(rows)]


def test_ann_train_onecycle_logs_the_rate_rising_then_falling(tmp_path):
    stdout, rates = train_on_the_sample(
        tmp_path, "--epochs 4 --lr 0.2 --schedule onecycle --check-every 100"
    )
    assert "one-cycle up to 0.2" in stdout
    header = next(line for line in stdout.splitlines() if line.split()[:1] == ["step"])
    assert header.split()[-1] == "lr"  # the table shows the rate when it changes
    last = next(line for line in stdout.splitlines() if line.startswith("stopped:"))
    table = stdout.splitlines()
    assert float(table[table.index(last) - 1].split()[-1]) == pytest.approx(rates[-1], rel=1e-3)
    peak = rates.index(max(rates))
    assert 0 < peak < len(rates) - 1 and max(rates) <= 0.2
    assert rates[0] < max(rates) and rates[-1] == pytest.approx(0.2 / 25 / 1e4)


def test_ann_train_warmup_then_cosine(tmp_path):
    stdout, rates = train_on_the_sample(
        tmp_path, "--epochs 2 --schedule cosine --warmup 0.5 --min-lr 0.001 --check-every 25"
    )
    assert "warm-up 0.5 epochs, then cosine decay to 0.001" in stdout
    top = rates.index(max(rates))
    assert all(b > a for a, b in zip(rates[:top], rates[1 : top + 1]))  # rising
    assert all(b < a for a, b in zip(rates[top:], rates[top + 1 :]))  # then falling
    assert 0.001 <= rates[-1] < 0.002


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--schedule", "cosine", "--lr-decay", "0.5"], "--lr-decay"),
        (["--schedule", "onecycle", "--warmup", "1"], "--warmup"),
        (["--min-lr", "0.1"], "--min-lr"),
        (["--schedule", "linear"], "--schedule"),
        (["--warmup", "0"], "--warmup"),
    ],
)
def test_ann_train_bad_schedule_flags(flags, needle):
    out = run_ann("train", "--data", "sample", "--quiet", *flags)
    assert out.returncode == 2
    one_error_line(out, needle)
