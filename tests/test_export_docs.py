"""docs/quantization.md's worked example is what tools/deploy/quantization_example.py prints
for the committed seed network (integer and float64 arithmetic: the same on every machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "deploy" / "quantization_example.py"


@pytest.mark.slow
def test_worked_example_is_what_the_script_prints(mnist_dir):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, ANN_DATA=str(mnist_dir)),
        cwd="/",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_page_states_the_bounds_the_code_uses():
    """The largest layer the int32 accumulators take, as the page states it."""
    from ann.export.quantization import _BIAS_BITS

    text = (ROOT / "docs" / "quantization.md").read_text(encoding="utf-8")
    for largest_input in (255, 128):
        bound = (2**31 - 1 - 2**_BIAS_BITS) // (largest_input * 127)
        assert f"{bound:,}".replace(",", "{,}") in text or f"{bound:,}" in text, bound
