"""The computation graph of one training step, as SVG: docs/figures/step.svg (the 4-3-2 network
of ``ann trace --seed 1``) and docs/figures/step_batchnorm.svg (``--batchnorm --batch 3``).

Every tensor of the figure is one of the trace's: its name, shape, formula and C function are
read from ``ann trace ... --json`` when the figure is drawn, so the picture cannot drift from
the trace (a name the trace no longer has is an error, a changed shape or formula a changed
figure). Where each box sits and which arrows join them is written down below, per figure.
Plain Python writing SVG text; it needs ann installed (the C core or not), nothing else.

    python tools/step_graph.py            # check: exit 1 if a committed figure is stale
    python tools/step_graph.py --write    # redraw docs/figures/*.svg

tests/test_figure.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"

# ---- geometry and style -------------------------------------------------------------------------

# The forward pass runs down one column, the backward pass up the next, each gradient beside the
# value it differentiates; parameters sit left of what they feed, gradients and updates right.
COLUMNS = (72, 250, 476, 694, 900)  # x of the centre of each column: inputs and parameters,
COLUMN_TITLES = ("inputs, parameters", "forward ↓", "backward ↑", "gradients", "update")
ROW = 128  # pixels between rows
TOP = 122  # the centre of row 0
STACK = 33  # two boxes sharing a place (W and b, dW and db) sit this far above and below it
CHARS = {"name": 7.9, "shape": 7.3, "formula": 6.7, "function": 6.1, "tag": 6.7}  # px per char
LINE = 15  # height of one text line in a box
PAD_X, PAD_Y = 9, 6
WRAP = 30  # formulas longer than this wrap, in balanced lines

KINDS = {  # box fill and stroke per kind of tensor
    "data": ("#eeeeee", "#616161"),
    "param": ("#fff4d6", "#b38600"),
    "forward": ("#e3eefb", "#2f5f98"),
    "stat": ("#edf2f7", "#5c7a99"),
    "backward": ("#fde7e4", "#b3261e"),
    "update": ("#e2f3e6", "#2e7d32"),
}
EDGES = {  # stroke, dash, width per kind of arrow
    "forward": ("#2f5f98", "", 1.6),
    "backward": ("#b3261e", "", 1.6),
    "reads": ("#8a8a8a", "4 3", 1.2),
    "update": ("#2e7d32", "", 1.6),
}
STYLE = """
  text { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; fill: #212121; }
  .name { font-size: 13px; font-weight: bold; }
  .formula { font-size: 11px; fill: #424242; }
  .function { font-size: 10px; fill: #6d4c41; }
  .tag { font-size: 11px; font-weight: bold; fill: #b3261e; }
  .title { font-family: Helvetica, Arial, sans-serif; font-size: 16px; font-weight: bold; }
  .band { font-family: Helvetica, Arial, sans-serif; font-size: 13px; fill: #757575;
          font-style: italic; }
  .legend { font-family: Helvetica, Arial, sans-serif; font-size: 12px; fill: #424242; }
"""


@dataclass
class Box:
    """One tensor: where it sits (grid units) and what it says."""

    key: str
    x: float
    y: float
    kind: str
    lines: list[tuple[str, str]]  # (css class, text)
    tag: str = ""  # e.g. "BP2": the backprop equation that computes it (docs/dense.md)
    where: str = ""  # the trace's tensor it shows, e.g. "backward 0 dz"
    w: float = 0.0
    h: float = 0.0

    def __post_init__(self) -> None:
        self.w = max(len(text) * CHARS[css] for css, text in self.lines) + 2 * PAD_X
        self.h = LINE * len(self.lines) + 2 * PAD_Y

    @property
    def cx(self) -> float:
        """x is a column, or between two: 1.5 is halfway from column 1 to column 2."""
        i = min(int(self.x), len(COLUMNS) - 2)
        return COLUMNS[i] + (self.x - i) * (COLUMNS[i + 1] - COLUMNS[i])

    @property
    def cy(self) -> float:
        """y is a row; "+" and "-" boxes of a stacked pair are moved by STACK."""
        return TOP + self.y * ROW

    def border(self, tx: float, ty: float) -> tuple[float, float]:
        """Where the segment from the centre towards (tx, ty) leaves the box."""
        dx, dy = tx - self.cx, ty - self.cy
        if dx == 0 and dy == 0:
            return self.cx, self.cy
        sx = (self.w / 2 + 3) / abs(dx) if dx else float("inf")
        sy = (self.h / 2 + 3) / abs(dy) if dy else float("inf")
        s = min(sx, sy)
        return self.cx + dx * s, self.cy + dy * s


def wrap(formula: str) -> list[str]:
    """A formula in lines of at most WRAP characters where it can be: cut after its " = "
    first, then at the space that makes the longest line shortest."""
    if len(formula) <= WRAP:
        return [formula] if formula else []
    left, eq, right = formula.partition(" = ")
    if eq and len(left) < WRAP:
        return [left + " ="] + wrap(right)
    spaces = [i for i, ch in enumerate(formula) if ch == " "]
    if not spaces:
        return [formula]
    cut = min(spaces, key=lambda i: max(i, len(formula) - i - 1))
    return wrap(formula[:cut]) + wrap(formula[cut + 1 :])


# ---- what the trace says ------------------------------------------------------------------------


def run_trace(args: list[str]) -> dict[str, Any]:
    """The JSON of ``ann trace ARGS``, from the installed ann's C core (the pure-Python
    backend would name its own functions in place of the C core's)."""
    env = dict(os.environ, ANN_BACKEND="c")
    env.pop("ANN_KERNEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "ann", "trace", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )
    if done.returncode != 0:
        raise RuntimeError(f"ann trace {' '.join(args)} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    if not result["computed_by"].startswith("the C core"):
        raise RuntimeError(f"ann trace ran on {result['computed_by']}, not the C core")
    return result


def find(trace: dict[str, Any], where: str) -> dict[str, Any]:
    """A tensor of the trace: "forward 0 z", "backward 1 dW", "update 0 W_new", "loss p"."""
    words = where.split()
    if words[0] == "loss":
        tensors = trace["loss"]
    else:
        sections = [s for s in trace[words[0]] if s["layer"] == int(words[1])]
        if not sections:
            raise KeyError(f"the trace has no {words[0]} section for layer {words[1]}")
        tensors = sections[0]["tensors"]
    name = words[-1]
    if name not in tensors:
        raise KeyError(f"the trace has no tensor {name!r} in {' '.join(words[:-1])}")
    tensor: dict[str, Any] = tensors[name]
    return tensor


def shape_text(shape: list[int]) -> str:
    return "(a number)" if not shape else "(" + ", ".join(map(str, shape)) + ")"


def tensor_box(
    trace: dict[str, Any], key: str, where: str, x: float, y: float, kind: str, tag: str = ""
) -> Box:
    """A box for a tensor of the trace: its name (or ``label``) and shape, its formula wrapped,
    and the C function that computed it."""
    tensor = find(trace, where)
    name = where.split()[-1]
    lines = [("name", f"{name} {shape_text(tensor['shape'])}")]
    for part in wrap(tensor["formula"]):
        lines.append(("formula", part))
    if tensor["function"]:
        lines.append(("function", tensor["function"]))
    elif not tensor["formula"]:
        lines.append(("formula", "parameter"))
    return Box(key, x, y, kind, lines, tag, where)


# ---- the two figures ----------------------------------------------------------------------------

UP, DOWN = -STACK / ROW, STACK / ROW  # the two places of a stacked pair, in rows
Edge = tuple[str, str, str]


def data_box(key: str, x: float, y: float, name: str, what: str) -> Box:
    return Box(key, x, y, "data", [("name", name), ("formula", what)])


def dense_layer(trace: dict[str, Any], l: int, row: float) -> list[Box]:
    """A dense layer's W and b (column 0), its gradients and new values (columns 3 and 4)."""
    return [
        tensor_box(trace, f"W{l}", f"forward {l} W", 0, row + UP, "param"),
        tensor_box(trace, f"b{l}", f"forward {l} b", 0, row + DOWN, "param"),
        tensor_box(trace, f"dW{l}", f"backward {l} dW", 3, row + UP, "backward", "BP4"),
        tensor_box(trace, f"db{l}", f"backward {l} db", 3, row + DOWN, "backward", "BP3"),
        tensor_box(trace, f"W_new{l}", f"update {l} W_new", 4, row + UP, "update"),
        tensor_box(trace, f"b_new{l}", f"update {l} b_new", 4, row + DOWN, "update"),
    ]


def dense_edges(l: int, x: str, z: str, dz: str) -> list[Edge]:
    return [
        (x, z, "forward"),
        (f"W{l}", z, "forward"),
        (f"b{l}", z, "forward"),
        (dz, f"dW{l}", "backward"),
        (dz, f"db{l}", "backward"),
        (x, f"dW{l}", "reads"),
        (f"dW{l}", f"W_new{l}", "update"),
        (f"db{l}", f"b_new{l}", "update"),
    ]


def input_part(trace: dict[str, Any], dz0_tag: str) -> tuple[list[Box], list[Edge]]:
    """The pixels, layer 0's x and z (row 1) with its dz, W and b, gradients and update."""
    B, D = trace["batch"], trace["sizes"][0]
    boxes = [
        data_box("pixels", 0, 0, f"pixels ({B}, {D})", "uint8"),
        tensor_box(trace, "x", "forward 0 x", 1, 0, "forward"),
        tensor_box(trace, "z0", "forward 0 z", 1, 1, "forward"),
        tensor_box(trace, "dz0", "backward 0 dz", 2, 1, "backward", dz0_tag),
        *dense_layer(trace, 0, 1),
    ]
    return boxes, [("pixels", "x", "forward"), *dense_edges(0, "x", "z0", "dz0")]


def output_part(trace: dict[str, Any], row: int) -> tuple[list[Box], list[Edge]]:
    """Layer 1 (its z at ``row``) with the softmax, the loss and the gradient da going down."""
    boxes = [
        tensor_box(trace, "a0", "forward 0 a", 1, row - 1, "forward"),
        tensor_box(trace, "da0", "backward 0 da", 2, row - 1, "backward"),
        tensor_box(trace, "z1", "forward 1 z", 1, row, "forward"),
        tensor_box(trace, "dz1", "backward 1 dz", 2, row, "backward", "BP1"),
        tensor_box(trace, "p", "loss p", 1, row + 1, "forward"),
        data_box("labels", 2, row + 1.3, f"labels ({trace['batch']})", "ints"),
        tensor_box(trace, "loss", "loss loss", 1, row + 2, "forward"),
        *dense_layer(trace, 1, row),
    ]
    edges = [
        *dense_edges(1, "a0", "z1", "dz1"),
        ("z1", "p", "forward"),
        ("p", "loss", "forward"),
        ("labels", "loss", "forward"),
        ("p", "dz1", "backward"),
        ("labels", "dz1", "backward"),
        ("dz1", "da0", "backward"),
    ]
    return boxes, edges


def plain_figure(trace: dict[str, Any]) -> tuple[str, list[Box], list[Edge]]:
    """The 4-3-2 network of ``ann trace --seed 1``: z of layer 0, then its ReLU."""
    top, top_edges = input_part(trace, "BP2")
    bottom, bottom_edges = output_part(trace, 3)
    edges = [("z0", "a0", "forward"), ("da0", "dz0", "backward"), ("a0", "dz0", "reads")]
    sizes = "-".join(map(str, trace["sizes"]))
    title = (
        f"ann trace --seed 1: one training step of a {sizes} network, batch of "
        f"{trace['batch']}, {trace['optimizer'].upper()} with lr {trace['lr']:g}"
    )
    return title, top + bottom, top_edges + edges + bottom_edges


def batchnorm_figure(trace: dict[str, Any]) -> tuple[str, list[Box], list[Edge]]:
    """The same network with batch norm after layer 0 (``--batchnorm --batch 3``): between z
    and the ReLU, the batch's mean and variance, xhat and y, with gamma and beta."""
    top, top_edges = input_part(trace, "")
    bottom, bottom_edges = output_part(trace, 6)
    boxes = [
        tensor_box(trace, "mean", "forward 0 mean", 0.6, 2, "stat"),
        tensor_box(trace, "var", "forward 0 var", 1.45, 2, "stat"),
        tensor_box(trace, "xhat", "forward 0 xhat", 1, 3, "forward"),
        tensor_box(trace, "gamma", "forward 0 gamma", 0, 4 + UP, "param"),
        tensor_box(trace, "beta", "forward 0 beta", 0, 4 + DOWN, "param"),
        tensor_box(trace, "y", "forward 0 y", 1, 4, "forward"),
        tensor_box(trace, "dy", "backward 0 dy", 2, 4, "backward"),
        tensor_box(trace, "dgamma", "backward 0 dgamma", 3, 4 + UP, "backward"),
        tensor_box(trace, "dbeta", "backward 0 dbeta", 3, 4 + DOWN, "backward"),
        tensor_box(trace, "gamma_new", "update 0 gamma_new", 4, 4 + UP, "update"),
        tensor_box(trace, "beta_new", "update 0 beta_new", 4, 4 + DOWN, "update"),
    ]
    edges = [
        ("z0", "mean", "forward"),
        ("z0", "var", "forward"),
        ("mean", "var", "forward"),
        ("z0", "xhat", "forward"),
        ("mean", "xhat", "forward"),
        ("var", "xhat", "forward"),
        ("xhat", "y", "forward"),
        ("gamma", "y", "forward"),
        ("beta", "y", "forward"),
        ("y", "a0", "forward"),
        ("da0", "dy", "backward"),
        ("a0", "dy", "reads"),
        ("dy", "dgamma", "backward"),
        ("dy", "dbeta", "backward"),
        ("xhat", "dgamma", "reads"),
        ("dy", "dz0", "backward"),
        ("var", "dz0", "reads"),
        ("dgamma", "gamma_new", "update"),
        ("dbeta", "beta_new", "update"),
    ]
    B = trace["batch"]
    title = (
        f"ann trace --seed 1 --batchnorm --batch {B}: the same step with batch norm "
        f"after layer 0, batch of {B}"
    )
    return title, top + boxes + bottom, top_edges + edges + bottom_edges


FIGURES_SPEC = {
    "step.svg": (["--seed", "1"], plain_figure),
    "step_batchnorm.svg": (["--seed", "1", "--batchnorm", "--batch", "3"], batchnorm_figure),
}


# ---- SVG ----------------------------------------------------------------------------------------


def _n(v: float) -> str:
    """A coordinate, rounded so the text is the same on every machine."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _line(x1: float, y1: float, x2: float, y2: float, kind: str) -> str:
    color, dash, stroke = EDGES[kind]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{color}" '
        f'stroke-width="{stroke}"{dash_attr} marker-end="url(#arrow-{kind})"/>'
    )


def render(title: str, boxes: list[Box], edges: list[Edge]) -> str:
    by_key = {b.key: b for b in boxes}
    if len(by_key) != len(boxes):
        raise ValueError("two boxes share a key")
    width = max(b.cx + b.w / 2 for b in boxes) + 16
    bottom = max(b.cy + b.h / 2 for b in boxes)
    legend_y = bottom + 40
    height = legend_y + 44
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}">',
        f"<style>{STYLE}</style>",
        "<defs>",
    ]
    for kind, (color, _, _) in EDGES.items():
        out.append(
            f'  <marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>')
    out.append(f'<text class="title" x="14" y="28">{escape(title)}</text>')
    for x, text in zip(COLUMNS, COLUMN_TITLES):
        out.append(
            f'<text class="band" x="{_n(x)}" y="{_n(TOP - 58)}" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    for src, dst, kind in edges:
        a, b = by_key[src], by_key[dst]
        x1, y1 = a.border(b.cx, b.cy)
        x2, y2 = b.border(a.cx, a.cy)
        out.append(_line(x1, y1, x2, y2, kind))
    for box in boxes:
        fill, stroke = KINDS[box.kind]
        left, top = box.cx - box.w / 2, box.cy - box.h / 2
        out.append(
            f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(box.w)}" height="{_n(box.h)}" '
            f'rx="7" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>'
        )
        y = top + PAD_Y + LINE - 4
        for css, text in box.lines:
            out.append(
                f'<text class="{css}" x="{_n(box.cx)}" y="{_n(y)}" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
            y += LINE
        if box.tag and box.x >= 3:  # a gradient: right of its top corner, above the arrow
            out.append(
                f'<text class="tag" x="{_n(left + box.w + 4)}" y="{_n(top + 12)}">'
                f"{escape(box.tag)}</text>"
            )
        elif box.tag:  # above its right corner, clear of the arrows leaving its right side
            out.append(
                f'<text class="tag" x="{_n(left + box.w - 4)}" y="{_n(top - 4)}" '
                f'text-anchor="end">{escape(box.tag)}</text>'
            )
    x, y = 14.0, legend_y
    for kind, text in (
        ("forward", "computes (forward)"),
        ("backward", "the gradient flows (backward)"),
        ("reads", "read again by the backward pass"),
        ("update", "SGD update"),
    ):
        out.append(_line(x, y, x + 30, y, kind))
        out.append(f'<text class="legend" x="{_n(x + 38)}" y="{_n(y + 4)}">{escape(text)}</text>')
        x += 38 + len(text) * 6.4 + 22
    out.append(
        f'<text class="legend" x="14" y="{_n(y + 26)}">Each box is a tensor of the trace: '
        "its name and shape, how it is computed, the C function that computes it. "
        "BP1-BP4: docs/dense.md.</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(name: str) -> tuple[str, dict[str, Any], list[Box]]:
    """One figure of FIGURES_SPEC from a fresh trace: its SVG text, the trace, the boxes."""
    args, build = FIGURES_SPEC[name]
    trace = run_trace(args)
    title, boxes, edges = build(trace)
    return render(title, boxes, edges), trace, boxes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="redraw the committed figures")
    args = parser.parse_args(argv)
    stale = []
    for name in FIGURES_SPEC:
        path = FIGURES / name
        svg = draw(name)[0]
        if not path.is_file() or path.read_text(encoding="utf-8") != svg:
            stale.append(path)
            if args.write:
                FIGURES.mkdir(parents=True, exist_ok=True)
                path.write_text(svg, encoding="utf-8")
    for path in stale:
        print(f"{path.relative_to(ROOT)}: {'written' if args.write else 'stale'}")
    if stale and not args.write:
        print("run: python tools/step_graph.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
