"""Fingerprints of what ann computes and prints, to show a refactoring changed no behaviour.

Prints one line per case, ``NAME SHA256``: fixed-seed trainings through the Python API (the
final parameters, the optimizer and batch-norm state, the history and the evaluation), and
the output of a fixed set of ``ann`` commands run as subprocesses (exit status, stdout,
stderr, and the files they write). Run it on the tree before a change and after it; every
line must be the same::

    python tools/behaviour_hashes.py > before.txt           # from the repository root
    python tools/behaviour_hashes.py --raw DIR > after.txt  # DIR: each case's text, to diff

Only what depends on the clock is masked: the "seconds" column of the history (in the
table ``ann train`` prints and in --log files) and "trained in X s". Full MNIST comes from
$ANN_DATA (required); the threads are pinned to 2 and the kernel is the one this machine
picks (unless $ANN_KERNEL says otherwise), both named on the first line, which is a comment.
It takes about a minute with the C core.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
TESTS_DATA = TOOLS.parent / "tests" / "data"
THREADS = 2


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """Collects (name, text) cases; prints ``name sha256`` and, with --raw, keeps the text."""

    def __init__(self, raw: Path | None) -> None:
        self.raw = raw
        if raw is not None:
            raw.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, text: str) -> None:
        print(f"{name} {sha256(text.encode('utf-8'))}", flush=True)
        if self.raw is not None:
            (self.raw / f"{name}.txt").write_text(text, encoding="utf-8")


# ---- the Python API ----------------------------------------------------------------------------


def history_text(history: Any) -> str:
    """The history as JSON, without its wall-clock column."""
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows()]
    summary = {
        name: getattr(history, name)
        for name in ("best_step", "best_val_loss", "stop_reason", "stopped_step", "restored_best")
    }
    return json.dumps({"rows": rows, **summary}, indent=1, default=repr)


def net_case(rec: Recorder, name: str, net: Any, history: Any, test: Any) -> None:
    """One trained network: its history, evaluation and first 50 predictions (as exact
    float hex), and the SHA-256 of its parameters and of its state (optimizer, batch norm)."""
    proba = net.predict_proba(test[:50])
    rec.add(
        f"api.{name}",
        history_text(history)
        + f"\nevaluate: {net.evaluate(test)!r}\nsizes: {net.sizes}\n"
        + f"weights: {sha256(net.get_weights().tobytes())}\n"
        + f"state: {sha256(net.get_state().tobytes())}\n"
        + "predict_proba[:50]: "
        + json.dumps([[float(v).hex() for v in row] for row in proba])
        + "\n",
    )


def api_cases(rec: Recorder, mnist_dir: str) -> None:
    import ann

    ann.set_num_threads(THREADS)
    train_all, test = ann.load_mnist(mnist_dir)
    small = train_all[:12000]
    train, val = small.split(0.2, seed=0)
    test = test[:2000]

    # the seed network and settings (ann train's defaults), early stopping every 100 steps
    net = ann.Network([784, 20, 7, 5, 10], seed=0)
    early = ann.EarlyStopping(patience=5, check_every=100)
    h = net.fit(train, val, epochs=2, batch_size=64, lr=0.009, early_stopping=early, verbose=0)
    net_case(rec, "sgd_seed", net, h, test)

    net = ann.Network([784, 64, 32, 10], batchnorm=True, dropout=0.2, seed=1)
    h = net.fit(
        train,
        val,
        epochs=2,
        batch_size=100,
        lr=0.002,
        optimizer="adam",
        l2=1e-4,
        max_norm=3.0,
        schedule=ann.OneCycle(),
        verbose=0,
        seed=3,
    )
    net_case(rec, "adam_bn_dropout_l2", net, h, test)

    net = ann.Network([784, 32, 10], seed=2)
    h = net.fit(
        train,
        val,
        epochs=2,
        batch_size=32,
        lr=0.01,
        optimizer="momentum",
        momentum=0.8,
        schedule=ann.Warmup(epochs=0.5, then=ann.Cosine(min_lr=0.001)),
        check_every=150,
        verbose=0,
    )
    net_case(rec, "momentum_warmup_cosine", net, h, test)

    net = ann.Network([784, 24, 10], batchnorm=True, seed=4)
    h = net.fit(
        train,
        val,
        epochs=2,
        batch_size=128,
        lr=0.05,
        optimizer="nesterov",
        schedule=ann.ReduceLROnPlateau(factor=0.5),
        check_every=40,
        verbose=0,
    )
    net_case(rec, "nesterov_bn_plateau", net, h, test)

    augment = ann.Augment(rotate=12, scale=0.1, shear=0.2, shift=2, elastic_alpha=30)
    net = ann.Network([784, 32, 10], seed=5)
    h = net.fit(
        train[:2000], val[:500], epochs=1, batch_size=50, lr=0.05, augment=augment, verbose=0
    )
    net_case(rec, "augment_affine_elastic", net, h, test)

    fruit = ann.load_csv(TESTS_DATA / "fruit.csv")
    fruit_test = ann.load_csv(TESTS_DATA / "fruit-test.csv", classes=fruit.classes)
    net = ann.Network(data=fruit, hidden=[16], seed=6)
    h = net.fit(fruit, epochs=20, batch_size=16, lr=0.05, validation_split=0.2, verbose=0)
    net_case(rec, "csv_fruit", net, h, fruit_test)

    # the pure-Python reference backend, on something small enough for it
    net = ann.Network(data=fruit, hidden=[8, 6], batchnorm=True, seed=7, backend="python")
    h = net.fit(fruit, epochs=3, batch_size=20, lr=0.05, optimizer="adam", verbose=0, l2=1e-3)
    net_case(rec, "python_backend_csv", net, h, fruit_test)

    # a save/load round trip with optimizer state, then one more epoch from the file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        net = ann.Network([784, 16, 10], seed=8)
        net.fit(train[:3000], epochs=1, lr=0.05, optimizer="adam", verbose=0)
        net.save(path, optimizer_state=True)
        blob = path.read_bytes()
        again = ann.Network.load(path)
        h = again.fit(train[:3000], epochs=1, lr=0.05, optimizer="adam", verbose=0)
        net_case(rec, "save_load_resume", again, h, test)
        rec.add("api.save_file", f"{len(blob)} bytes, sha256 {sha256(blob)}\n")


# ---- the command line ------------------------------------------------------------------------

_TRAINED_IN = re.compile(r"trained in \d+\.\d+ s")
# the tables with a wall-time column: ann train's history, ann experiment's runs; for each,
# its header and the index of "seconds" among the fields of a row
_TABLES = (
    (re.compile(r"^\s*step\s+epoch\s+train loss\s+train acc\s+val loss\s+val acc\s+seconds"), 6),
    (
        re.compile(
            r"^\s*batch\s+BN\s+L2\s+train acc\s+val acc\s+test acc\s+steps\s+epochs\s+seconds"
        ),
        8,
    ),
)
_TABLE_ROW = re.compile(r"^\s*\d+\s+\S+\s+\S+\s")


def mask_train_output(text: str) -> str:
    """The tables' seconds column and "trained in X s" replaced by placeholders."""
    out, column = [], None
    for line in text.split("\n"):
        header = next((index for pattern, index in _TABLES if pattern.match(line)), None)
        if header is not None:
            column = header
        elif column is not None and _TABLE_ROW.match(line):
            fields = line.split()
            fields[column] = "<seconds>"
            line = " ".join(fields)
        else:
            column = None
        out.append(_TRAINED_IN.sub("trained in <seconds> s", line))
    return "\n".join(out)


def mask_log(path: Path) -> str:
    """A --log file (CSV or JSON lines) without its seconds column."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        lines = text.splitlines()
        column = lines[0].split(",").index("seconds")
        return "\n".join(
            ",".join("<seconds>" if i == column else v for i, v in enumerate(line.split(",")))
            for line in lines
        )
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        if "seconds" in row:
            row["seconds"] = "<seconds>"
    return "\n".join(json.dumps(row) for row in rows)


def write_idx_images(path: Path, images: bytes, count: int, rows: int = 28, cols: int = 28) -> None:
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (count, rows, cols))
    path.write_bytes(header + images)


def write_pgm(path: Path, pixels: bytes, width: int, height: int) -> None:
    path.write_bytes(f"P5\n{width} {height}\n255\n".encode() + pixels)


def cli_cases(rec: Recorder, mnist_dir: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="ann-behaviour-"))
    try:
        _cli_cases(rec, mnist_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cli_cases(rec: Recorder, mnist_dir: str, work: Path) -> None:
    env = {
        **os.environ,
        "ANN_DATA": mnist_dir,
        "ANN_NUM_THREADS": str(THREADS),
        "COLUMNS": "100",
        "LINES": "40",
        "PYTHONIOENCODING": "utf-8",
    }
    env.pop("ANN_BACKEND", None)
    import ann as package

    folders = {
        str(work.resolve()): "<work>",
        str(work): "<work>",
        str(Path(package.__file__).resolve().parent): "<ann>",
    }

    def mask_paths(text: str) -> str:
        """The temporary work folder and the installed package's folder, named the same
        from any checkout."""
        for folder, name in sorted(folders.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(folder, name)
        return text

    def ann(
        name: str, command: str, files: str = "", extra_env: dict[str, str] | None = None
    ) -> None:
        """Run ``python -m ann COMMAND`` in the work folder; record what it said and wrote
        (``files``: the files it writes, space-separated)."""
        out = subprocess.run(
            [sys.executable, "-m", "ann", *shlex.split(command)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=work,
            env={**env, **(extra_env or {})},
        )
        text = (
            f"$ ann {command}\nexit {out.returncode}\n--- stdout\n"
            + mask_paths(mask_train_output(out.stdout))
            + "--- stderr\n"
            + mask_paths(mask_train_output(out.stderr))
        )
        for f in files.split():
            path = work / f
            if not path.exists():
                text += f"--- {f}: missing\n"
            elif "log" in f:
                text += f"--- {f}\n{mask_log(path)}\n"
            elif f.endswith(".txt"):
                text += f"--- {f}\n{path.read_text(encoding='utf-8')}"
            else:
                blob = path.read_bytes()
                text += f"--- {f}: {len(blob)} bytes, sha256 {sha256(blob)}\n"
        rec.add(f"cli.{name}", text)

    # inputs: the fruit tables, a few test images as an IDX file and as PGM drawings
    for name in ("fruit.csv", "fruit-test.csv", "fruit-new.csv"):
        shutil.copy(TESTS_DATA / name, work / name)
    with gzip.open(Path(mnist_dir) / "t10k-images-idx3-ubyte.gz", "rb") as f:
        f.read(16)
        images = f.read(6 * 784)
    write_idx_images(work / "six.idx", images, 6)
    write_pgm(work / "digit.pgm", images[:784], 28, 28)
    write_pgm(work / "dark-on-light.pgm", bytes(255 - v for v in images[784:1568]), 28, 28)
    third = images[2 * 784 : 3 * 784]
    padded = b"".join(bytes(6) + third[r * 28 : (r + 1) * 28] + bytes(6) for r in range(28))
    write_pgm(work / "wide.pgm", padded, 40, 28)

    # the parser: version, the help of every command, usage errors
    ann("version", "--version")
    ann("help", "--help")
    ann("no_command", "")
    for (
        command
    ) in "train evaluate predict experiment gradcheck trace augment-preview presets".split():
        ann(f"help_{command}", f"{command} --help")
    ann("presets", "presets")
    ann("presets_json", "presets --json")
    for name, command in {
        "lr_negative": "train --lr -1",
        "layers_bad": "train --layers 2,x",
        "no_such_option": "train --nope",
        "no_such_command": "fly",
        "preset_unknown": "train --preset nope",
        "val0_patience": "train --val-fraction 0 --patience 3",
        "val0_plateau": "train --val-fraction 0 --lr-decay 0.5 --patience 0",
        "lr_decay_cosine": "train --schedule cosine --lr-decay 0.5",
        "min_lr_none": "train --min-lr 0.1",
        "warmup_onecycle": "train --schedule onecycle --warmup 1",
        "preset_contradiction": "train --preset fast --lr-decay 0.5",
        "augment_range": "train --augment affine --rotate 400",
        "save_no_folder": "train --save no/such/folder/m.safetensors",
        "save_empty": "train --save ' '",
        "trace_batch": "trace --batch 100",
        "trace_bn_one_row": "trace --batchnorm --batch 1",
        "trace_bn_no_hidden": "trace --batchnorm --layers 4,2",
        "trace_wide": "trace --layers 4,2000,2",
        "trace_layers_short": "trace --layers 4",
        "evaluate_missing": "evaluate missing.safetensors",
        "predict_missing": "predict missing.safetensors six.idx",
    }.items():
        ann(f"error_{name}", command)
    ann("error_kernel_unknown", "gradcheck", extra_env={"ANN_KERNEL": "nope"})

    # the study commands
    ann("gradcheck", "gradcheck")
    ann("gradcheck_bn_l2", "gradcheck --batchnorm --l2 0.01 --layers 5,4 --seed 3")
    ann("trace", "trace")
    ann("trace_json", "trace --json")
    ann(
        "trace_json_bn_dropout_adam",
        "trace --json --layers 5,4,3,3 --batch 3 --batchnorm --dropout 0.3 --optimizer adam "
        "--l2 0.01 --seed 2",
    )
    ann("trace_nesterov", "trace --optimizer nesterov --lr 0.05")
    ann("trace_digits", "trace --digits")
    ann("trace_digits_json", "trace --digits --json --batch 3")
    preview = "augment-preview --ascii --data sample"
    ann("augment_preview", f"{preview} --n 3")
    ann("augment_preview_n2", f"{preview} --n 2")
    ann("augment_preview_affine", f"{preview} --n 2 --augment affine --rotate 30 --seed 4")
    ann("augment_preview_none", f"{preview} --n 2 --augment none")
    ann("experiment_quick_sample", "experiment --quick --data sample")

    # ann train --quiet: one epoch of the seed network on full MNIST, and shorter runs on the
    # built-in sample and the fruit table, with what they write
    ann(
        "train_seed_mnist",
        "train --quiet --epochs 1 --save seed.safetensors --log seed-log.csv "
        "--plot-file seed-plot.txt",
        files="seed.safetensors seed-log.csv seed-plot.txt",
    )
    sample = "train --quiet --data sample"
    ann(
        "train_adam_bn_sample",
        f"{sample} --epochs 2 --layers 32,16 --optimizer adam --lr 0.002 --batchnorm "
        "--dropout 0.2 --l2 0.0001 --schedule cosine --min-lr 0.0001 --warmup 0.5 --max-norm 3 "
        "--check-every 50 --save adam.safetensors --log adam-log.jsonl",
        files="adam.safetensors adam-log.jsonl",
    )
    ann(
        "train_resume",
        f"{sample} --epochs 1 --resume adam.safetensors --optimizer adam --lr 0.001 "
        "--save resumed.safetensors",
        files="resumed.safetensors",
    )
    ann(
        "train_resume_other_optimizer",
        f"{sample} --epochs 1 --resume adam.safetensors --seed 1 --check-every 40",
    )
    ann("error_resume_layers", f"{sample} --resume adam.safetensors --layers 8")
    ann(
        "train_augment_sample",
        f"{sample} --epochs 1 --layers 32 --lr 0.05 --augment affine+elastic --rotate 10 "
        "--elastic-alpha 20",
    )
    ann(
        "train_momentum_plateau",
        f"{sample} --epochs 2 --optimizer momentum --lr-decay 0.5 --patience 0 "
        "--check-every 30 --val-fraction 0.3 --seed 5",
    )
    ann(
        "train_nesterov_val0",
        f"{sample} --epochs 1 --optimizer nesterov --val-fraction 0 --schedule onecycle "
        "--save all.safetensors",
        files="all.safetensors",
    )
    ann(
        "train_preset_fast_overrides",
        f"{sample} --preset fast --epochs 1 --layers 64 --lr 0.1",
    )
    ann("train_preset_seed_val0", f"{sample} --preset seed --epochs 1 --val-fraction 0")
    ann(
        "train_preset_best_resume",
        f"{sample} --preset best --epochs 1 --resume adam.safetensors --augment none",
    )
    ann("train_diverges", f"{sample} --epochs 1 --lr 50 --layers 16")
    ann("train_threads", f"{sample} --epochs 1 --layers 8 --threads 100 --val-fraction 0")
    ann(
        "train_csv",
        "train --quiet --data fruit.csv --layers 16 --lr 0.05 --save fruit.safetensors",
        files="fruit.safetensors",
    )
    ann("train_csv_label", "train --quiet --data fruit.csv --label fruit --layers 4 --epochs 3")

    # ann evaluate / predict on the models just trained
    ann("evaluate_json", "evaluate seed.safetensors --json")
    ann("evaluate_text", "evaluate seed.safetensors")
    ann("evaluate_sample_json", "evaluate adam.safetensors --data sample --json")
    ann("evaluate_csv_json", "evaluate fruit.safetensors --data fruit-test.csv --json")
    ann("evaluate_csv_text", "evaluate fruit.safetensors --data fruit-test.csv")
    ann("evaluate_csv_unlabelled", "evaluate fruit.safetensors --data fruit-new.csv")
    ann("predict_idx_json", "predict seed.safetensors six.idx --json")
    ann("predict_idx_text", "predict adam.safetensors six.idx")
    ann(
        "predict_pgm_json",
        "predict seed.safetensors digit.pgm wide.pgm dark-on-light.pgm --json",
    )
    ann("predict_pgm_invert_raw", "predict seed.safetensors dark-on-light.pgm --invert --raw")
    ann("predict_csv_json", "predict fruit.safetensors fruit-new.csv fruit-test.csv --json")
    ann("predict_csv_text", "predict fruit.safetensors fruit-new.csv")
    ann("error_predict_csv_wide", "predict seed.safetensors fruit-new.csv")

    # the pure-Python backend, which the CLI announces on stderr
    python = {"ANN_BACKEND": "python"}
    ann(
        "train_python_backend",
        "train --quiet --data fruit.csv --layers 6 --epochs 2 --threads 2",
        extra_env=python,
    )
    ann("python_gradcheck", "gradcheck --layers 4", extra_env=python)
    ann("python_trace_json", "trace --json", extra_env=python)
    ann("python_predict_json", "predict fruit.safetensors fruit-new.csv --json", extra_env=python)
    # before issue 21 this drew with the C core whatever ANN_BACKEND said (compare
    # augment_preview_n2)
    ann("python_augment_preview", f"{preview} --n 2", extra_env=python)

    # the console script itself, next to this Python
    script = Path(sys.executable).parent / "ann"
    out = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    rec.add("cli.console_script_version", f"exit {out.returncode}\n{out.stdout}{out.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, help="also write each case's text to DIR/NAME.txt")
    parser.add_argument("--only", choices=("api", "cli"), help="run only these cases")
    args = parser.parse_args()
    mnist_dir = os.environ.get("ANN_DATA", "").strip()
    if not mnist_dir:
        parser.error("set ANN_DATA to the folder with the four full-MNIST IDX files")
    os.environ["ANN_NUM_THREADS"] = str(THREADS)
    import ann

    info = ann.backend_info()
    print(f"# ann {ann.__version__}, {info['backend']} backend, {info['kernel']} kernel", end="")
    print(f", {THREADS} threads")
    rec = Recorder(args.raw)
    if args.only in (None, "api"):
        api_cases(rec, mnist_dir)
    if args.only in (None, "cli"):
        cli_cases(rec, mnist_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
