"""The README's claims and examples hold (issue 12, item 22), and those of the docs pages it
sends the reader to for the detail (issue 24): the sample's accuracy, the split seed shared by
the Python example and ``ann train``, no path of the machine it was written on, a PyTorch
snippet that runs (when PyTorch is installed), the scikit-learn example's output, the trace
screen, the first screen's commands and links, and the commands CI runs."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_ann
from test_docs import check_links, check_names, github_anchor

from ann.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.DOTALL)
# the Python API in detail, where the README sends the reader (the PyTorch snippet, sklearn)
PYTHON_PAGE = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")
PAGE_BLOCKS = re.findall(r"```python\n(.*?)```", PYTHON_PAGE, re.DOTALL)


def test_readme_states_the_sample_accuracy_ann_train_reaches(capsys):
    stated = re.search(
        r"built-in sample[^.]*?reach about (\d+) % \((\d+\.\d) % measured\)",
        TEXT.replace("\n", " "),
    )
    assert stated, "the README should say what `ann train` reaches on the built-in sample"
    assert main(["train", "--data", "sample", "--no-download", "--quiet"]) == 0
    out = capsys.readouterr().out
    measured = 100 * float(re.search(r"test: loss [0-9.]+, accuracy ([0-9.]+)", out).group(1))
    # the float sums differ a little between kernels (AVX2, AVX-512, portable)
    assert abs(measured - float(stated.group(2))) <= 1.0
    assert abs(measured - int(stated.group(1))) <= 1.5


def test_python_example_splits_with_the_seed_ann_train_uses():
    example = next(
        block for block in PYTHON_BLOCKS if "net.fit(" in block and "load_mnist" in block
    )
    seeds = re.findall(r"\.split\(0\.2, seed=(\d+)\)", example)
    network_seed = re.search(r"ann\.Network\(.*?seed=(\d+)\)", example, re.DOTALL).group(1)
    cli_seed = build_parser().parse_args(["train"]).seed
    assert seeds == [str(cli_seed)] and network_seed == str(cli_seed)
    assert "the seed's 48,000" not in TEXT


def test_readme_shows_no_path_of_the_machine_it_was_written_on():
    """Examples use a folder of the reader's (``mnist``); the suite's own search path
    (``../shared/mnist`` beside the checkout) is described, never used in an example."""
    for text in [TEXT] + [p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")]:
        assert "/work/" not in text
        assert not re.search(r"--data \.\./shared|load_mnist\(\"\.\./shared", text)


def run_example(folder: Path, code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``code`` saved as folder/example.py and run there as a reader runs it (``python
    example.py``), checked to exit with status 0."""
    script = folder / "example.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=folder, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _torch_snippet() -> str:
    return next(block for block in PAGE_BLOCKS if "safetensors.torch" in block)


def test_torch_snippet_is_complete():
    snippet = _torch_snippet()
    compile(snippet, "README torch snippet", "exec")
    for needle in (
        "torch.nn.Sequential(",
        "torch.nn.Linear(",
        "torch.nn.ReLU()",
        "torch.nn.BatchNorm1d(",
        "running_var",
        ".eval()",
        "model(",
        "softmax",
    ):
        assert needle in snippet, needle
    assert "then copy into" not in snippet


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("safetensors") is None,
    reason="optional: needs torch and safetensors",
)
@pytest.mark.parametrize("batchnorm", [False, True])
def test_torch_snippet_runs_and_predicts_what_ann_predicts(tmp_path, batchnorm):
    import ann

    sample = Path(ann.__file__).parent / "data" / "sample"
    shutil.copytree(sample, tmp_path / "mnist")
    train, _ = ann.load_mnist(tmp_path / "mnist")
    net = ann.Network([784, 32, 10], batchnorm=batchnorm, seed=0)
    net.fit(train, epochs=1, lr=0.05, progress=False)
    net.save(tmp_path / "model.safetensors")
    proc = run_example(tmp_path, _torch_snippet())
    torch_classes, ann_classes = re.fullmatch(
        r"(\[[\d, ]+\]) (\[[\d, ]+\])\n", proc.stdout
    ).groups()
    assert torch_classes == ann_classes


# ---- "Your own data" ----------------------------------------------------------------------

OWN_DATA = TEXT.split("## Your own data", 1)[1].split("\n## ", 1)[0]
DATA_DIR = Path(__file__).resolve().parent / "data"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _own_data_folder(tmp_path: Path) -> Path:
    """A folder laid out as the checkout's root for the section's paths (tests/data/...)."""
    shutil.copytree(DATA_DIR, tmp_path / "tests" / "data")
    return tmp_path


def _same_up_to_numbers(shown: list[str], actual: list[str], tolerance: float) -> None:
    """Line by line the same text; each number within ``tolerance`` of the README's (float
    sums differ a little between kernels), timings excepted."""
    assert len(shown) == len(actual), (shown, actual)
    for want, got in zip(shown, actual):
        assert NUMBER.sub("#", want) == NUMBER.sub("#", got), (want, got)
        if "trained in" in want or "thread(s)" in want:
            continue
        for a, b in zip(NUMBER.findall(want), NUMBER.findall(got)):
            assert abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(a))), (want, got)


def test_own_data_commands_print_what_the_readme_shows(tmp_path):
    block = next(b for b in re.findall(r"```\n(.*?)```", OWN_DATA, re.DOTALL) if "$ ann" in b)
    runs = re.findall(r"^\$ ann (.*)\n((?:(?!\$ ).*\n)*)", block, re.MULTILINE)
    assert [r[0].split()[0] for r in runs] == ["train", "evaluate", "predict"]
    folder = _own_data_folder(tmp_path)
    for command, shown in runs:
        proc = run_ann(*command.split(), cwd=folder)
        assert proc.returncode == 0, proc.stderr
        # the seconds column of the training table is a timing: masked with the rest
        lines = [re.sub(r"\s+\d+\.\d+$", "", x) for x in proc.stdout.splitlines()]
        want = [re.sub(r"\s+\d+\.\d+$", "", x) for x in shown.splitlines()]
        _same_up_to_numbers(want, lines, tolerance=0.02)
        if command.startswith("predict"):  # the classes themselves, exactly
            assert [x.split()[1] for x in lines] == [x.split()[1] for x in want]


def test_regression_commands_print_what_the_readme_shows(tmp_path):
    # the README's diabetes and linnerud runs, on the files it says how to write: each line
    # it shows (not the "..." it leaves out) in the output, in order, numbers within 2 %
    pytest.importorskip("pandas")
    datasets = pytest.importorskip("sklearn.datasets")
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    frame.to_csv(tmp_path / "diabetes.csv", index=False)
    frame.drop(columns="target").head(3).to_csv(tmp_path / "new.csv", index=False)
    datasets.load_linnerud(as_frame=True).frame.to_csv(tmp_path / "linnerud.csv", index=False)
    block = next(b for b in re.findall(r"```\n(.*?)```", OWN_DATA, re.DOTALL) if "diabetes" in b)
    runs = re.findall(r"^\$ ann (.*)\n((?:(?!\$ ).*\n)*)", block, re.MULTILINE)
    assert [r[0].split()[:3] for r in runs] == [
        ["train", "--data", "diabetes.csv"],
        ["predict", "diabetes.safetensors", "new.csv"],
        ["train", "--data", "linnerud.csv"],
    ]
    for command, shown in runs:
        proc = run_ann(*command.split(), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        actual = proc.stdout.splitlines()
        at = 0
        for want in (x for x in shown.splitlines() if x != "..."):
            masked = NUMBER.sub("#", want)
            while at < len(actual) and NUMBER.sub("#", actual[at]) != masked:
                at += 1
            assert at < len(actual), (want, proc.stdout)
            _same_up_to_numbers([want], [actual[at]], tolerance=0.02)
            at += 1


def test_own_data_python_example_prints_what_the_page_shows(tmp_path):
    """The README's fruit example from Python, on the page the README sends the reader to."""
    example = next(b for b in PAGE_BLOCKS if "ann.load_csv(" in b)
    shown = PYTHON_PAGE.split(example, 1)[1].split("prints\n\n```\n", 1)[1].split("```", 1)[0]
    folder = _own_data_folder(tmp_path)
    proc = run_example(folder, example)
    actual = proc.stdout.splitlines()
    assert actual[0] == shown.splitlines()[0]  # the data set, its classes and columns
    _same_up_to_numbers(shown.splitlines(), actual, tolerance=0.05)


@pytest.mark.skipif(importlib.util.find_spec("numpy") is None, reason="needs numpy")
def test_own_data_numpy_example_runs(tmp_path):
    import ann

    example = next(b for b in PAGE_BLOCKS if "import numpy as np" in b)
    shutil.copytree(Path(ann.__file__).parent / "data" / "sample", tmp_path / "mnist")
    train, _ = ann.load_mnist(tmp_path / "mnist")
    net = ann.Network([784, 16, 10], seed=0)
    net.fit(train[:2000], epochs=1, lr=0.1, progress=False)
    net.save(tmp_path / "model.safetensors")
    proc = run_example(tmp_path, example)
    first, second = proc.stdout.splitlines()
    pixels, dataset = re.fullmatch(r"(\[[\d, ]+\]) (\[[\d, ]+\])", first).groups()
    assert pixels == dataset and second == "True"


@pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("numpy") is None,
    reason="optional: needs scikit-learn and NumPy",
)
def test_sklearn_example_prints_what_the_page_shows(tmp_path):
    example = next(block for block in PAGE_BLOCKS if "GridSearchCV" in block)
    after = PYTHON_PAGE.split(example, 1)[1]
    shown = re.search(r"```\n\nprints.*?\n\n```\n(.*?)```", after, re.DOTALL).group(1)
    proc = run_example(tmp_path, example, timeout=600)
    assert (tmp_path / "wine.safetensors").is_file()
    _same_up_to_numbers(shown.splitlines(), proc.stdout.splitlines(), tolerance=0.05)


# ---- the way in (issue 24) ---------------------------------------------------------------------


def _section(title: str) -> str:
    """A "## title" section of the README, its subsections included."""
    return TEXT.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _first_commands(title: str) -> list[str]:
    """The first indented block of a section: the commands it gives."""
    lines = _section(title).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    "))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def test_the_first_screen_says_what_ann_is_how_to_install_and_train_and_where_to_go():
    first = TEXT.split("\n## ", 1)[0]  # what a reader sees before the first section
    assert len(first.splitlines()) <= 30
    assert "no NumPy, PyTorch or other heavy dependency" in first
    commands = [line.strip() for line in first.splitlines() if line.startswith("    ")]
    assert commands == _first_commands("Install") + _first_commands("Train")
    for target in ("#learn-backprop", "#train", "#your-own-data", "#deploy"):
        assert f"]({target})" in first, target
    contents = _section("Contents")
    for heading in re.findall(r"^## (.+)$", TEXT, re.MULTILINE):
        if heading != "Contents":
            assert f"](#{github_anchor(heading)})" in contents, f"Contents lacks {heading!r}"
    # the presets sit with training, where a newcomer looks first, not in the study section
    assert "### Presets" in _section("Train")


def test_every_link_and_name_of_the_readme_resolves():
    assert check_links(README, TEXT) == []
    assert check_names(README, TEXT) == []


def test_ci_runs_the_readmes_install_train_and_test_commands():
    """.ci/run runs, in a fresh virtual environment, the commands the README gives (ann train
    with --epochs 1, to keep CI short)."""
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    install, train, tests = (_first_commands(t) for t in ("Install", "Train", "Tests"))
    assert install and train and tests
    for command in install + tests:
        assert command in ci, f".ci/run does not run the README's {command!r}"
    for command in train:
        assert any(line == command or line.startswith(command + " ") for line in ci), command
    assert ci.index(install[0]) < ci.index(tests[0])


def test_the_study_path_starts_at_the_trace_and_leaves_the_c_api_for_later():
    section = _section("Learn backprop")
    assert _first_commands("Learn backprop") == ["ann trace --seed 1"]
    steps = (
        "ann trace --seed 1",
        "(docs/dense.md)",
        "(docs/relu.md)",
        "(docs/softmax_cross_entropy.md)",
        "(docs/optimizers.md)",
        "(csrc/textbook/one_step.c)",
        "(docs/exercises.md)",
        "(csrc/ann.h)",
    )
    order = [section.index(step) for step in steps]
    assert order == sorted(order), "the path: trace, dense, ReLU, softmax-CE, optimizers, ..."
    before = section[: section.index("(docs/exercises.md)")].lower()
    for word in ("pool", "stride", "gemm", "ann.h"):
        assert word not in before, f"the study path meets {word!r} before the exercises"


def _masked(line: str) -> str:
    """A trace line without what differs between machines: the kernel, the thread count and
    the C core's rounding against float64 (each "vs float64", and the worst of them)."""
    line = re.sub(r"[\w-]+ kernel\b", "# kernel", line)
    line = re.sub(r"\d+ thread\(s\)", "# thread(s)", line)
    line = re.sub(r"vs float64 [-+.e\d]+", "vs float64 #", line)
    line = re.sub(r"that [-+.e\d]+ is the vs float64", "that # is the vs float64", line)
    line = re.sub(r"reference [-+.e\d]+ \(relative to size, worst: [^)]*\)", "reference #", line)
    return re.sub(r"same new parameters: .*", "same new parameters: #", line)


def test_the_trace_screen_is_what_ann_trace_seed_1_prints():
    """Line by line, up to the machine's kernel, threads and rounding; a "..." line stands for
    lines cut, the others follow one another as in the command's output."""
    screen = re.search(r"```\n(backend: .*?)```", _section("Learn backprop"), re.DOTALL)
    out = run_ann("trace", "--seed", "1")
    assert out.returncode == 0, out.stderr
    actual = [_masked(line) for line in out.stdout.splitlines()]
    at, cut = 0, False
    for line in screen.group(1).splitlines():
        if line.strip().startswith("..."):
            cut = True
            continue
        want = _masked(line)
        if cut:
            assert want in actual[at:], f"not in the trace after line {at}: {line!r}"
            at = actual.index(want, at)
        else:
            assert actual[at] == want, (actual[at], line)
        at, cut = at + 1, False
    assert at > 40


def test_the_augmentation_ranges_stated_are_the_defaults():
    import ann

    section = _section("Train").split("### Data augmentation", 1)[1].replace("\n", " ")
    defaults = ann.Augment()
    for flag, field in (
        ("rotate", "rotate"),
        ("scale", "scale"),
        ("shear", "shear"),
        ("shift", "shift"),
        ("elastic-alpha", "elastic_alpha"),
        ("elastic-sigma", "elastic_sigma"),
    ):
        stated = re.search(rf"`--{flag}` ([\d.]+)", section)
        assert stated, flag
        assert float(stated.group(1)) == getattr(defaults, field), flag
