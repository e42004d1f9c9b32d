"""Shared fixtures: full MNIST from ../shared/mnist, and helpers to call the C core."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_mnist() -> Path:
    """The full-MNIST folder; in CI its absence fails the test instead of skipping it."""
    missing = [name for name in MNIST_FILES if not (MNIST_DIR / name).is_file()]
    if missing:
        message = f"full MNIST not found in {MNIST_DIR} (missing {', '.join(missing)})"
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
