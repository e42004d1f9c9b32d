"""Shared fixtures and helpers: full MNIST (from ../shared/mnist, $ANN_DATA or the user cache),
the C core (or a skip without it), running the ``ann`` command or a Python snippet in a child
process, the tools/ scripts as modules, the peak memory of a block, and byte mutations for
the fuzz properties."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "tests"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def mnist_candidates() -> list[Path]:
    """Where the suite looks for full MNIST, in order: ../shared/mnist beside the checkout
    (this project's machines and CI), $ANN_DATA, then the user cache ``ann`` downloads to."""
    from ann._locate import user_cache_dir

    folders = [REPO.parent / "shared" / "mnist"]
    if os.environ.get("ANN_DATA", "").strip():
        folders.append(Path(os.environ["ANN_DATA"].strip()).expanduser())
    folders.append(user_cache_dir())
    return folders


def _has_mnist(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MNIST_FILES)


def find_full_mnist() -> Path | None:
    """The first folder of ``mnist_candidates()`` holding all four files, or None."""
    return next((folder for folder in mnist_candidates() if _has_mnist(folder)), None)


# fixed at import, before any test changes $ANN_DATA or $HOME
MNIST_DIR = find_full_mnist()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_mnist() -> Path:
    """The full-MNIST folder; in CI its absence fails the test instead of skipping it."""
    if MNIST_DIR is None:
        message = (
            "full MNIST ("
            + ", ".join(MNIST_FILES)
            + ") not found in any of: "
            + ", ".join(map(str, mnist_candidates()))
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return require_mnist()


@pytest.fixture(scope="session")
def mnist():
    """(train, test) full MNIST, loaded once per test session."""
    import ann

    return ann.load_mnist(require_mnist())


@pytest.fixture(scope="session")
def core():
    """(ffi, lib) of the compiled C core; required (not skipped) unless ANN_BACKEND=python."""
    try:
        from ann._core import ffi, lib
    except ImportError as exc:
        if os.environ.get("ANN_BACKEND") == "python":
            pytest.skip(f"C core not built and ANN_BACKEND=python ({exc})")
        pytest.fail(f"the C core is not built: {exc}; install with `pip install .`")
    return ffi, lib


def skip_without_c_core(why: str) -> None:
    """Skip the calling test when this install has no compiled C core (the pure-Python
    backend is in use), saying ``why`` the test needs it."""
    import ann

    if not ann.backend_info()["c_core"]:
        pytest.skip(f"{why}; this install has no C core")


def one_stderr_line(out, *needles: str) -> str:
    """The single stderr line of a finished ``ann`` command, checked to hold every needle and
    no traceback: what every error of the CLI must look like."""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def one_error_line(out, *needles: str) -> str:
    """``one_stderr_line`` of a command that must have failed (any non-zero status)."""
    assert out.returncode != 0, out.stdout
    return one_stderr_line(out, *needles)


def _run_child(
    argv: list[str],
    env: Mapping[str, str | None] | None,
    cwd: str | os.PathLike[str],
    timeout: float,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment
    )


def run_ann(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] = HERE,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``python -m ann ARGS`` in a child process, its output captured as text.

    The child gets this process's environment with ``env`` merged over it; a value of None
    removes that variable (``env={"ANN_BACKEND": None}``: the default backend). ``cwd`` is the
    tests folder unless given, so that ``-m ann`` imports the installed package rather than
    the source tree; ``timeout`` only stops a hang."""
    return _run_child([sys.executable, "-m", "ann", *args], env, cwd, timeout)


def start_ann(
    *args: str, stderr: int = subprocess.DEVNULL, cwd: str | os.PathLike[str] = HERE
) -> subprocess.Popen[str]:
    """``python -m ann ARGS`` started and left running, its stdout a text pipe to read as the
    command writes (for the tests that act while it runs: Ctrl-C, locks, streamed rows);
    stderr discarded unless ``stderr=subprocess.PIPE``. The caller ends and waits for it."""
    argv = [sys.executable, "-m", "ann", *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=cwd)


def run_python(
    code: str,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] = HERE,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS`` in a child interpreter, for what one process can only do once
    (read ANN_KERNEL, import ann fresh); environment, ``cwd`` and ``timeout`` as ``run_ann``,
    ``stdin`` the text the child reads, if any."""
    return _run_child([sys.executable, "-c", code, *args], env, cwd, timeout, stdin)


def load_tool(relative: str) -> ModuleType:
    """A script of tools/ (``"step_graph.py"``, ``"deploy/targets.py"``) imported as a module
    named after its file, registered in sys.modules so that its dataclasses resolve."""
    path = REPO / "tools" / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class PeakMemory:
    """``with PeakMemory() as memory: ...``, then ``memory.peak``: the most bytes Python held
    allocated at once inside the block (tracemalloc), for the checks that a reader refuses a
    bomb or a lying header before it allocates what the input asks for."""

    peak = 0

    def __enter__(self) -> PeakMemory:
        tracemalloc.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def mutations_of(seed: bytes, most: int):
    """A hypothesis strategy: ``seed`` with 1 to ``most`` of its bytes overwritten."""
    from hypothesis import strategies as st

    def overwrite(edits: list[tuple[int, int]]) -> bytes:
        blob = bytearray(seed)
        for position, value in edits:
            blob[position] = value
        return bytes(blob)

    edit = st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=most).map(overwrite)
