"""Named recipes (ann train --preset, ann.get_preset): each preset's settings reach the backend,
flags given next to --preset win (even when they equal argparse's defaults), bad names and
contradicting flags are one-line usage errors, and the README's table matches the presets."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest
from conftest import run_ann
from test_cli_features import one_error_line

import ann
from ann import _backend
from ann import _defaults as default
from ann._network import OPTIMIZERS
from ann._presets import PRESETS, TABLE_PRESETS, Preset
from ann.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not ann.backend_info()["c_core"], reason="no C core")


class Seen:
    """What the C backend was given: the nets made, the optimizer, max-norm, each step's
    batch size and learning rate. The steps do no work (a constant loss, no update), so even
    the `best` network runs its preset's epochs in seconds."""

    def __init__(self) -> None:
        self.nets: list[tuple[list[int], bool, float]] = []
        self.optimizer: tuple[int, float, float] | None = None  # kind, momentum, l2
        self.max_norm: float | None = None
        self.batches: list[int] = []
        self.rates: list[float] = []


def watch(m: pytest.MonkeyPatch, record: Seen) -> Seen:
    """Patch the C backend (through monkeypatch m) to fill record."""
    make = _backend.CNet.__init__

    def init(self, sizes, batchnorm=False, dropout=0.0):
        record.nets.append((list(sizes), bool(batchnorm), float(dropout)))
        make(self, sizes, batchnorm, dropout)

    def set_optimizer(self, kind, momentum, beta1, beta2, eps, l2):
        record.optimizer = (kind, momentum, l2)

    def set_max_norm(self, c):
        record.max_norm = c

    def train_step(self, images, labels, n_rows, idx, start, batch, lr):
        record.batches.append(batch)
        record.rates.append(lr)
        return math.log(10), batch // 10  # (mean loss, correct): as good as guessing

    m.setattr(_backend.CNet, "__init__", init)
    m.setattr(_backend.CNet, "set_optimizer", set_optimizer)
    m.setattr(_backend.CNet, "set_max_norm", set_max_norm)
    m.setattr(_backend.CNet, "train_step", train_step)
    return record


@pytest.fixture
def seen(monkeypatch):
    return watch(monkeypatch, Seen())


def train(*flags: str) -> int:
    return main(["train", "--data", "sample", "--quiet", "--threads", "1", *flags])


def sample_train_rows(fraction: float = 0.2) -> int:
    train_all, _ = ann.load_mnist("sample")
    return len(train_all) - round(len(train_all) * fraction)


def check_reached(seen: Seen, p: Preset, rows: int) -> None:
    """The backend got p's network, optimizer, batch size, rates and epochs."""
    assert seen.nets[0] == ([784, *p.layers, 10], p.batchnorm, p.dropout)
    kind, momentum, l2 = seen.optimizer
    assert kind == OPTIMIZERS[p.optimizer] and l2 == p.l2
    if p.optimizer in ("momentum", "nesterov"):
        assert momentum == p.momentum
    assert seen.max_norm == (p.max_norm or 0.0)
    # each epoch's last batch may be short (or, with batch norm, one row longer)
    assert seen.batches[0] == p.batch_size and max(seen.batches) <= p.batch_size + 1
    per_epoch = math.ceil(rows / p.batch_size)
    if p.patience:  # a loss that never improves: the best check is the first one
        checks = p.check_every or (per_epoch if p.name in TABLE_PRESETS else 100)
        assert len(seen.rates) == checks * (1 + p.patience)
    else:
        assert len(seen.rates) == p.epochs * per_epoch
    if p.schedule == "onecycle":  # up from lr/25 to lr, down to lr/25/1e4
        assert seen.rates[0] == pytest.approx(p.lr / 25)
        assert max(seen.rates) == pytest.approx(p.lr, rel=1e-3)
        assert seen.rates[-1] == pytest.approx(p.lr / 25 / 1e4)
    elif p.schedule == "none":
        assert set(seen.rates) == {p.lr}


@pytest.mark.parametrize("name", list(PRESETS))
def test_ann_train_preset_reaches_the_backend(seen, name):
    assert train("--preset", name) == 0
    check_reached(seen, PRESETS[name], sample_train_rows(PRESETS[name].val_fraction))


def test_the_fast_preset_by_hand(seen):
    """The recipe the README reports, written out, not read from the table."""
    assert train("--preset", "fast") == 0
    assert seen.nets[0] == ([784, 256, 256, 10], True, 0.0)
    assert seen.optimizer == (OPTIMIZERS["nesterov"], 0.9, 0.0)
    assert seen.batches[0] == 256
    assert max(seen.rates) == pytest.approx(0.2, rel=1e-3)
    assert len(seen.rates) == 4 * math.ceil(sample_train_rows() / 256)


@pytest.mark.parametrize("name", list(PRESETS))
def test_python_entry_point_gives_the_backend_what_ann_train_does(monkeypatch, name):
    cli, python = Seen(), Seen()
    with monkeypatch.context() as m:
        watch(m, cli)
        assert train("--preset", name) == 0
    with monkeypatch.context() as m:
        watch(m, python)
        p = ann.get_preset(name)
        train_all, _ = ann.load_mnist("sample")
        net = ann.Network(**p.network_kwargs(), seed=0)
        net.fit(train_all, **p.fit_kwargs(), seed=0, verbose=0)
    assert cli.nets[0] == python.nets[0]
    assert (cli.optimizer, cli.max_norm) == (python.optimizer, python.max_norm)
    assert cli.batches == python.batches and cli.rates == python.rates
    assert cli.batches  # something was trained


# ---- flags next to --preset ------------------------------------------------------------------


def test_given_flags_win_even_at_argparse_defaults(seen):
    # 0.009, sgd, 64 and 5 are ann train's defaults: given, they still replace fast's values
    flags = ["--lr", "0.009", "--optimizer", "sgd", "--batch-size", "64", "--patience", "5"]
    assert train("--preset", "fast", *flags, "--layers", "32", "--epochs", "1") == 0
    assert seen.nets[0] == ([784, 32, 10], True, 0.0)  # batch norm still the preset's
    assert seen.optimizer[0] == OPTIMIZERS["sgd"]
    assert seen.batches[0] == 64
    assert max(seen.rates) == pytest.approx(0.009, rel=1e-3)  # still one-cycle, peaking there
    assert seen.rates[0] == pytest.approx(0.009 / 25)
    assert len(seen.rates) == math.ceil(sample_train_rows() / 64)  # 1 epoch, no early stop yet


def test_abbreviated_and_equals_forms_count_as_given(seen):
    assert train("--preset=fast", "--epoch=1", "--batch-s", "128") == 0
    assert seen.batches[0] == 128
    assert len(seen.rates) == math.ceil(sample_train_rows() / 128)


def test_without_preset_the_defaults_are_the_seed_preset(seen):
    assert train("--epochs", "1", "--patience", "0") == 0
    p = PRESETS["seed"]
    assert seen.nets[0] == ([784, *p.layers, 10], p.batchnorm, p.dropout)
    assert seen.optimizer[0] == OPTIMIZERS[p.optimizer] and set(seen.rates) == {p.lr}
    assert seen.batches[0] == p.batch_size


def test_seed_preset_is_ann_train_without_flags():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    defaults = vars(sub.choices["train"].parse_args([]))
    # None in argparse: "the seed's" (and patience: 5 when there is a validation split)
    implied = {
        "layers": [20, 7, 5],
        "dropout": 0.0,
        "patience": 5,
        "activation": "relu",
        "head": "softmax-ce",
        "init": default.INIT,
        "negative_slope": 0.01,
    }
    for name, value in PRESETS["seed"].options().items():
        assert implied.get(name, defaults[name]) == value, name


def test_unknown_preset_is_a_usage_error_naming_the_presets():
    out = run_ann("train", "--data", "sample", "--preset", "fastest")
    assert out.returncode == 2
    line = one_error_line(out, "--preset", "'fastest'")
    assert all(name in line for name in ("seed", "fast", "best"))
    with pytest.raises(ValueError, match="seed, fast, best"):
        ann.get_preset("fastest")


def test_a_flag_contradicting_the_presets_schedule_says_where_it_came_from():
    out = run_ann("train", "--data", "sample", "--preset", "fast", "--lr-decay", "0.5")
    assert out.returncode == 2
    one_error_line(out, "--lr-decay", "--preset fast sets --schedule onecycle")
    out = run_ann("train", "--data", "sample", "--preset", "fast", "--warmup", "1")
    assert out.returncode == 2
    one_error_line(out, "--warmup", "--preset fast")


def test_a_flag_changing_the_schedule_too_is_fine(seen):
    flags = ["--schedule", "plateau", "--lr-decay", "0.5", "--epochs", "1"]
    assert train("--preset", "fast", *flags) == 0
    assert set(seen.rates) == {0.2}  # no plateau within one epoch: the preset's constant lr


def test_seed_preset_keeps_lr_decay_alone_meaning_plateau(seen):
    assert train("--preset", "seed", "--lr-decay", "0.5", "--epochs", "1") == 0
    assert seen.rates[0] == 0.009


def test_resume_keeps_the_models_network_and_takes_the_training(tmp_path, seen, capsys):
    model = tmp_path / "m.safetensors"
    assert train("--layers", "16", "--epochs", "1", "--patience", "0", "--save", str(model)) == 0
    seen.nets.clear(), seen.batches.clear(), seen.rates.clear()
    assert train("--preset", "fast", "--resume", str(model), "--epochs", "1") == 0
    captured = capsys.readouterr()
    assert "the network comes from" in captured.out
    assert "784-16-10 (" in captured.out  # not the preset's 784-256-256-10 BN
    assert seen.optimizer[0] == OPTIMIZERS["nesterov"] and seen.batches[0] == 256
    # given explicitly, the preset's architecture contradicts the model: a usage error
    out = run_ann(
        "train", "--data", "sample", "--preset", "fast", "--resume", str(model), "--batchnorm"
    )
    assert out.returncode == 2
    one_error_line(out, "--batchnorm")


# ---- the table, as users see it ----------------------------------------------------------------


def test_presets_are_read_only():
    with pytest.raises(TypeError):
        PRESETS["mine"] = ann.get_preset("fast")  # type: ignore[index]
    with pytest.raises(AttributeError):
        ann.get_preset("fast").lr = 1.0  # type: ignore[misc]


def test_ann_presets_lists_every_preset():
    out = run_ann("presets")
    assert out.returncode == 0, out.stderr
    for p in PRESETS.values():
        assert f"{p.name}: {p.summary}" in out.stdout
        assert p.measured and f"\n    measured: {p.measured}\n" in out.stdout
    # the recipe for tables says what it reached on both kinds of task
    tabular = PRESETS["tabular"].measured
    assert re.search(r"wine [01]\.\d+, digits 0\.\d+ accuracy", tabular), tabular
    assert re.search(r"diabetes R² 0\.\d+", tabular), tabular
    out = run_ann("presets", "--json")
    assert json.loads(out.stdout)["fast"]["layers"] == [256, 256]
    helptext = run_ann("train", "--help").stdout
    assert "--preset" in helptext and "seed (" in helptext and "best (" in helptext


def test_readme_table_matches_the_presets():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:3]
    for p in PRESETS.values():
        # the settings, and what the preset reached (``ann presets`` shows the same)
        assert rows.get(p.name) == [p.describe(), p.measured], p.name
