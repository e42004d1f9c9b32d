"""What `ann` says about its own installation: the backend it runs and why, `--version`, a
source checkout that shadows the installed copy, a core that was not built at install, and
where the suite looks for full MNIST.

The install itself (no compiler, ANN_REQUIRE_C=1, wheel tag, manylinux repair, the suite from
an unpacked sdist) is checked by tools/check_install.sh, which CI runs: it needs fresh
virtual environments and minutes, not a unit test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import mnist_candidates, run_ann, run_python

import ann

HERE = Path(__file__).resolve().parent
PACKAGE = Path(ann.__file__).resolve().parent


def python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in ``cwd`` with ``env``, free of the suite's ANN_BACKEND and
    PYTHONPATH, so that the child imports what a user's would from that folder."""
    return run_python(code, cwd=cwd, env={"ANN_BACKEND": None, "PYTHONPATH": None, **env})


def copy_sources(dest: Path) -> Path:
    """The installed package's Python files (no compiled core) copied to dest/ann."""
    target = dest / "ann"
    shutil.copytree(
        PACKAGE,
        target,
        ignore=shutil.ignore_patterns("_core*", "__pycache__", "_build_status.json", "data"),
    )
    return target


REASON = "import ann, json; print(json.dumps(ann.backend_info()))"


def test_a_source_checkout_without_core_says_it_shadows_the_installed_copy(tmp_path):
    copy_sources(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'ann-mlp'\n")
    (tmp_path / "csrc").mkdir()
    out = python(REASON, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["backend"] == "python" and info["c_core"] is False
    assert f"source folder {tmp_path / 'ann'}" in info["reason"]
    assert "pip install -e ." in info["reason"] and "another folder" in info["reason"]
    if ann.backend_info()["c_core"]:  # the suite runs against a real installation
        assert f"hides the copy installed in {PACKAGE}" in info["reason"]


def test_a_core_not_built_at_install_is_explained(tmp_path):
    package = copy_sources(tmp_path)
    (package / "_build_status.json").write_text(
        json.dumps({"c_core": False, "reason": "no C compiler: 'gcc' was not found"})
    )
    out = python(REASON, cwd=tmp_path)
    info = json.loads(out.stdout)
    assert info["backend"] == "python"
    assert (
        "not built when ann-mlp was installed (no C compiler: 'gcc' was not found)"
        in info["reason"]
    )
    assert "--force-reinstall" in info["reason"] and "slower" in info["reason"]
    # and the CLI says the same, once, at start-up, on stderr, for any command
    cli = run_ann("gradcheck", "--layers", "3", env={"ANN_BACKEND": None}, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines()[0].startswith("backend: pure Python: the C core was not built")
    assert "RuntimeWarning" not in cli.stderr  # said once, as a sentence, not as a warning


def test_the_installed_copy_reports_the_c_core():
    if os.environ.get("ANN_BACKEND") == "python":
        pytest.skip("the suite was asked to run on the Python backend")
    info = ann.backend_info()
    assert info["backend"] == "c" and info["c_core"] is True
    assert info["kernel"] in info["reason"]


def test_backend_env_is_reported_as_the_reason():
    out = python(REASON, cwd=HERE, ANN_BACKEND="python")
    info = json.loads(out.stdout)
    assert info["backend"] == "python" and "ANN_BACKEND=python" in info["reason"]


@pytest.mark.parametrize("form", [["--version"], ["-V"]])
def test_version(form):
    out = run_ann(*form, env={"ANN_BACKEND": None})
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith(f"ann {ann.__version__} (distribution ann-mlp; Python ")
    assert "backend: " in line and "\n" not in line


def test_version_matches_the_installed_metadata():
    from importlib.metadata import version

    assert version("ann-mlp") == ann.__version__


def test_train_names_the_backend_first_and_honours_ann_num_threads():
    if not ann.backend_info()["c_core"]:
        pytest.skip("needs the C core")
    out = run_ann("gradcheck", "--layers", "3", env={"ANN_BACKEND": None, "ANN_NUM_THREADS": "3"})
    first = out.stdout.splitlines()[0]
    assert first == f"backend: C core, {ann.backend_info()['kernel']} kernel, 3 thread(s)"


def test_the_suite_looks_for_mnist_where_users_keep_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folders = mnist_candidates()
    assert folders[0] == HERE.parent.parent / "shared" / "mnist"
    assert folders[1:] == [tmp_path / "mine", tmp_path / "cache" / "ann"]
