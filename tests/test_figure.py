"""The computation-graph figures of docs/figures/ (issue 24, item 4) are what
tools/step_graph.py draws from today's ``ann trace``: a committed SVG that differs from a fresh
drawing fails here (run ``python tools/step_graph.py --write``), and so does a tensor of the
trace that the figure leaves out, or a figure that no page shows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path

import pytest
from conftest import load_tool, skip_without_c_core

ROOT = Path(__file__).resolve().parents[1]
FIX = "run `python tools/step_graph.py --write` and look at the result"


tool = load_tool("step_graph.py")

# tensors of the trace a figure shows under another name (x of layer 1 is a of layer 0, dx of
# layer 1 is da of layer 0) or leaves out (batch norm's running statistics, which only
# inference reads)
NOT_DRAWN = {
    "forward 1 x",
    "backward 1 dx",
    "forward 0 running_mean",
    "forward 0 running_mean_new",
    "forward 0 running_var",
    "forward 0 running_var_new",
}


_c_core_or_skip = partial(skip_without_c_core, "the figures name the C core's functions")


def _trace_tensors(trace) -> set[str]:
    names = {f"loss {name}" for name in trace["loss"]}
    for phase in ("forward", "backward", "update"):
        for section in trace[phase]:
            names |= {f"{phase} {section['layer']} {name}" for name in section["tensors"]}
    return names


@pytest.mark.parametrize("name", list(tool.FIGURES_SPEC))
def test_the_committed_figure_is_what_the_script_draws(name):
    _c_core_or_skip()
    path = ROOT / "docs" / "figures" / name
    assert path.is_file(), f"docs/figures/{name} is missing; {FIX}"
    svg, _, _ = tool.draw(name)
    assert path.read_text(encoding="utf-8") == svg, f"docs/figures/{name} is stale; {FIX}"


@pytest.mark.parametrize("name", list(tool.FIGURES_SPEC))
def test_the_figure_shows_every_tensor_of_the_trace(name):
    _c_core_or_skip()
    svg, trace, boxes = tool.draw(name)
    shown = {box.where for box in boxes if box.where}
    missing = sorted(_trace_tensors(trace) - shown - NOT_DRAWN)
    assert not missing, f"{name} leaves out {', '.join(missing)} of the trace"
    # each box says its tensor's name and shape as the trace does: "dz (2, 3)"
    root = ET.fromstring(svg)
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    for where in shown:
        phase, *_, tensor = where.split()
        shape = tool.find(trace, where)["shape"]
        assert f"{tensor} {tool.shape_text(shape)}" in texts, where
    assert len(set(texts)) > 40  # a real drawing, not an empty frame


def test_a_changed_figure_is_caught(tmp_path, monkeypatch):
    """The check of tools/step_graph.py reports a figure that differs, and --write fixes it."""
    _c_core_or_skip()
    for name in tool.FIGURES_SPEC:
        (tmp_path / name).write_text(
            (ROOT / "docs" / "figures" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    monkeypatch.setattr(tool, "FIGURES", tmp_path)
    monkeypatch.setattr(tool, "ROOT", tmp_path.parent)
    assert tool.main([]) == 0
    stale = tmp_path / "step.svg"
    stale.write_text(stale.read_text(encoding="utf-8").replace("dz (2, 3)", "dz (3, 2)"))
    assert tool.main([]) == 1
    assert tool.main(["--write"]) == 0 and tool.main([]) == 0


def test_the_pages_show_the_figures():
    for page, figure in (
        ("README.md", "figures/step.svg"),
        ("README.md", "figures/step_batchnorm.svg"),
        ("batchnorm.md", "figures/step_batchnorm.svg"),
    ):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert re.search(rf"!\[[^\]]+\]\({re.escape(figure)}\)", text), f"{page} shows no {figure}"


def test_long_formulas_wrap_in_balanced_lines():
    assert tool.wrap("x W + b") == ["x W + b"]
    assert tool.wrap("dL/dz = (p - onehot(label)) / B") == ["dL/dz =", "(p - onehot(label)) / B"]
    lines = tool.wrap("gamma / sqrt(var + 1e-5) / B * (B dy - dbeta - xhat dgamma)")
    assert lines == ["gamma / sqrt(var + 1e-5) / B", "* (B dy - dbeta - xhat dgamma)"]
