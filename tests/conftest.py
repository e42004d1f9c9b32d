"""Shared fixtures and helpers: full MNIST (from ../shared/mnist, $ANN_DATA or the user cache),
the C core, and running the ``ann`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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


def one_stderr_line(out, *needles: str) -> str:
    """The single stderr line of a finished ``ann`` command, checked to hold every needle and
    no traceback: what every error of the CLI must look like."""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


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
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "-m", "ann", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=environment,
    )
