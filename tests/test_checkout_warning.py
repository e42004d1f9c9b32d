"""Python run from a source checkout's root imports the checkout's ann, which has no built core
after a plain `pip install .` (issue 23, item 13): that is said at the first use of ann, not
only once a Network is built, and the checkout's leftover ann_mlp.egg-info does not hide the
installed copy from the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_install import PACKAGE, copy_sources, python

import ann


def fake_checkout(root: Path) -> Path:
    """root/ann (the package's Python files, no core), pyproject.toml, csrc/, and the
    ann_mlp.egg-info a build leaves in a checkout."""
    copy_sources(root)
    (root / "pyproject.toml").write_text("[project]\nname = 'ann-mlp'\n")
    (root / "csrc").mkdir()
    info = root / "ann_mlp.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text(
        f"Metadata-Version: 2.1\nName: ann-mlp\nVersion: {ann.__version__}\n"
    )
    return root / "ann"


@pytest.mark.skipif(
    "site-packages" not in str(PACKAGE),
    reason="needs ann installed (pip install .): an editable install serves its core to any ann",
)
def test_the_first_use_of_an_unbuilt_checkout_says_it_runs_pure_python(tmp_path):
    source = fake_checkout(tmp_path)
    out = python("import ann; ann.one_hot; print('ok')", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    warnings = [line for line in out.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warnings) == 1, out.stderr
    assert "ann: using the pure-Python backend" in warnings[0]
    assert f"imported from the source folder {source}" in warnings[0]
    if "site-packages" in str(PACKAGE):  # an installed copy (not an editable checkout)
        assert f"hides the copy installed in {PACKAGE}" in warnings[0]
    # said once: building a network afterwards does not say it again
    out = python("import ann; ann.one_hot; ann.Network([2, 2]); print('ok')", cwd=tmp_path)
    assert out.returncode == 0 and out.stderr.count("RuntimeWarning") == 1, out.stderr


def test_no_word_when_python_is_asked_for_or_the_core_is_built(tmp_path):
    fake_checkout(tmp_path)
    out = python("import ann; ann.one_hot", cwd=tmp_path, ANN_BACKEND="python")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    out = python("import ann; ann.one_hot; ann.Network([2, 2])", cwd=Path(__file__).parent)
    assert out.returncode == 0 and "RuntimeWarning" not in out.stderr, out.stderr
