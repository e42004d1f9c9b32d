"""A recorded training step (``_trace.trace_step``) written out: as JSON (``to_json``: each
float32 value with the fewest digits that read back as it) and as the text ``ann trace``
prints (``format_trace``: shapes as headings, numbers aligned, the check beside each matrix,
and the input digits drawn in characters).
"""

from __future__ import annotations

import json
from array import array
from typing import Any, Callable

from ._drawing import draw_digits
from ._trace import TOLERANCE, Tensor, Values, flatten


def _short(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (0.2, not 0.20000000298...)."""
    exact = array("f", [value]).tobytes()
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        short = float(f"{value:.{digits}g}")
        if array("f", [short]).tobytes() == exact:
            return short
    return value


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """A copy of a trace for json.dumps, each float32 value written with the fewest digits that
    give it back (the differences and the loss, float64 numbers, stay as they are)."""

    def walk(node: Any, float32: bool) -> Any:
        if isinstance(node, dict):
            # a tensor with a shape holds float32 values; a scalar (the loss) is a double
            return {k: walk(v, k == "values" and bool(node.get("shape"))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, float32) for v in node]
        return _short(node) if float32 and isinstance(node, float) else node

    out: dict[str, Any] = walk(result, False)
    return out


def json_text(result: dict[str, Any], indent: int = 0) -> str:
    """The trace as JSON text: one line (``indent`` 0, for tools), or nested objects indented
    by ``indent`` spaces with each matrix row, a list of numbers, kept on one line."""
    data = to_json(result)
    if indent <= 0:
        return json.dumps(data)
    return _indented(data, " " * indent, "")


def _indented(node: Any, step: str, pad: str) -> str:
    inner = pad + step
    if isinstance(node, dict) and node:
        items = [f"{inner}{json.dumps(k)}: {_indented(v, step, inner)}" for k, v in node.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        items = [inner + _indented(v, step, inner) for v in node]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(node)


# ---- the text a student reads ----------------------------------------------------------------

ACTIVATION_TITLES = {
    "relu": "ReLU",
    "leaky-relu": "leaky ReLU",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "GELU",
    "identity": "the identity",
}
HEAD_TITLES = {
    "softmax-ce": "softmax + cross-entropy",
    "sigmoid-bce": "sigmoid + binary cross-entropy",
    "identity-mse": "identity + mean squared error",
    "sigmoid-mse": "sigmoid + mean squared error",
}

FULL_LIMIT = 12  # a matrix with more rows or columns than this is summarized in text


def _number_format(values: Values) -> Callable[[float], str]:
    big = max((abs(v) for v in values), default=0.0)
    if big != 0.0 and (big < 1e-3 or big >= 1e5):
        return lambda v: f"{v:.4e}"
    return lambda v: f"{v:.6f}"


def _matrix_lines(tensor: Tensor, indent: str) -> list[str]:
    shape, values = tensor["shape"], tensor["values"]
    if not shape:
        return []
    rows = values if len(shape) == 2 else [values]
    flat = flatten(rows)
    if max(shape) > FULL_LIMIT:
        nonzero = sum(1 for v in flat if v != 0.0)
        fmt = _number_format(flat)
        mean = sum(flat) / len(flat)
        return [
            f"{indent}{len(flat)} values: min {fmt(min(flat))}, max {fmt(max(flat))}, "
            f"mean {fmt(mean)}, {nonzero} nonzero (wide: --json has every value)"
        ]
    fmt = _number_format(flat)
    cells = [[fmt(v) for v in row] for row in rows]
    width = max(len(c) for row in cells for c in row)
    return [indent + "  ".join(c.rjust(width) for c in row) for row in cells]


def _heading(name: str, tensor: Tensor) -> str:
    """ "z (2, 3) = x W + b   [ann_dense_forward, vs float64 2.4e-08]"; a scalar shows its
    value: "loss = 0.69314718   mean over rows of -log p[label]   [...]"."""
    shape = tensor["shape"]
    if shape:
        text = f"{name} ({', '.join(map(str, shape))})"
        if tensor["formula"]:
            text += f" = {tensor['formula']}"
    else:
        text = f"{name} = {tensor['values']:.8f}"
        if tensor["formula"]:
            text += f"   ({tensor['formula']})"
    notes = [tensor["function"]] if tensor["function"] else []
    if tensor["difference"] is not None:
        d = tensor["difference"]
        notes.append(f"vs float64 {d:.1e}" if d else "vs float64 0")
    if notes:
        text = text.ljust(56) + "  [" + ", ".join(notes) + "]"
    return text


def _section(
    title: str, tensors_: dict[str, Tensor], notes: dict[str, str] | None = None
) -> list[str]:
    """A part of the trace: its title, then each matrix under its heading, followed by the
    note on it if there is one (``notes``: name -> text)."""
    lines = [title]
    for name, t in tensors_.items():
        lines.append("  " + _heading(name, t))
        rows = _matrix_lines(t, "      ")
        # the dropout mask is 0 or 1: shown as such, like the pixels
        lines.extend([r.replace(".000000", "") for r in rows] if name == "keep" else rows)
        if notes and name in notes:
            lines.append("note: " + notes[name])
    return lines


# ---- notes on what a printed value is --------------------------------------------------------


def _forward_notes(result: dict[str, Any], section: dict[str, Any]) -> dict[str, str]:
    """x of layer 0: the float32 rounding of pixel / 255 is the "vs float64" beside it."""
    x = section["tensors"].get("x")
    if section["layer"] != 0 or not x or not x["difference"]:
        return {}
    pairs = zip(flatten(result["pixels"]), flatten(x["values"]))
    pixel, value = max(pairs, key=lambda pv: abs(pv[1] - pv[0] / 255))
    return {
        "x": f"x is each pixel times 1/255 in float32 (ann_gather_u8): {pixel:g} gives "
        f"{value:.9g}, not {pixel / 255:.9g}; that {abs(value - pixel / 255):.1e} is the vs "
        "float64 beside x, float32 rounding, not an error"
    }


def _backward_notes(result: dict[str, Any], section: dict[str, Any]) -> dict[str, str]:
    """db of a layer followed by batch norm: 0 in exact arithmetic, float32 residue here."""
    db = section["tensors"].get("db")
    if not (result["batchnorm"] and section["hidden"] and db and any(flatten(db["values"]))):
        return {}
    return {
        "db": "db is 0 in exact arithmetic (batch norm subtracts each column's mean, so the "
        "columns of dz sum to 0): these values are float32 rounding residue, and b moves by "
        "lr times them"
    }


def _bias_correction_note(result: dict[str, Any], step: dict[str, Any], t: int) -> list[str]:
    """Where the C core's 1 - beta^t, from float32 betas, differs from the decimal one."""
    notes = []
    for beta, c in zip(result["betas"], step["bias_corrections"]):
        exact = 1.0 - beta**t
        if f"{exact:.6g}" != f"{c:.6g}":
            notes.append(
                f"note: 1 - {beta:g}^{t} is {exact:.7g} in decimal; the C core raises "
                f"{beta:g} rounded to float32 ({array('f', [beta])[0]:.9g}) to the power {t}, "
                f"hence {c:.6g}; m and v use that same float32 {beta:g}, the float64 reference "
                f"takes {beta:g} as it is, which is most of each new parameter's vs float64"
            )
    return notes


def format_trace(result: dict[str, Any]) -> str:
    """The trace as text: shapes as headings, numbers aligned, the check beside each matrix.
    The first step is shown whole; each later step (``steps`` > 1) by its loss, the gradients
    of the parameters and the update, with the optimizer's state before and after."""
    sizes, B = result["sizes"], result["batch"]
    opt, steps = result["optimizer"], result.get("steps", 1)
    extra = {
        "sgd": "",
        "momentum": f", momentum {result['momentum']:g}",
        "nesterov": f", momentum {result['momentum']:g}",
        "adam": f", betas {result['betas'][0]:g}, {result['betas'][1]:g}, eps {result['eps']:g}",
    }[opt]
    kinds = list(dict.fromkeys(result.get("activations") or ["relu"]))
    head = result.get("head", "softmax-ce")
    extras = (
        ([f"{'/'.join(kinds)} hidden units"] if kinds != ["relu"] else [])
        + ([f"the {head} head"] if head != "softmax-ce" else [])
        + (["batch norm"] if result["batchnorm"] else [])
        + ([f"dropout {result['dropout']:g}"] if result["dropout"] else [])
    )
    what = "one training step" if steps == 1 else f"{steps} training steps"
    lines = [
        f"{what} of a {'-'.join(map(str, sizes))} network"
        f"{' with ' + ' and '.join(extras) if extras else ''}, batch of {B}, "
        f"{opt} with lr {result['lr']:g}{extra}"
        f"{', L2 ' + format(result['l2'], 'g') if result['l2'] else ''}"
        + ("" if steps == 1 else ", the same batch at every step"),
        f"computed by {result['computed_by']}, one function per step;",
    ]
    if result["checked_against"]:
        lines.append(
            "[vs float64] is the largest |C - reference| of that matrix, the "
            "reference (ann/_reference.py) given the same inputs"
        )
    else:
        lines.append("(no C core: nothing to check the reference against)")
    lines.append("")
    pixels = {
        "shape": [B, sizes[0]],
        "formula": "",
        "function": "",
        "difference": None,
        "values": result["pixels"],
    }
    lines.append(
        f"input: {B} image{'s' if B > 1 else ''} of {sizes[0]} pixels (uint8), "
        f"labels {result['labels']}" + (f": {result['images']}" if result.get("images") else "")
    )
    lines.extend(l.replace(".000000", "") for l in _matrix_lines(pixels, "      "))
    lines.extend(draw_digits(result["pixels"], "      "))
    lines.append("")
    if steps > 1:
        lines.append("STEP 1")
    lines.append("FORWARD")
    L = len(sizes) - 1
    activations = result.get("activations") or ["relu"] * (L - 1)
    for section in result["forward"]:
        l = section["layer"]
        act = ACTIVATION_TITLES[activations[l]] if section["hidden"] else ""
        what = (
            (f"batch norm, then {act}" if "xhat" in section["tensors"] else f"then {act}")
            if section["hidden"]
            else "the logits z"
        ) + (", then dropout" if "keep" in section["tensors"] else "")
        lines += _section(
            f"layer {l}: dense {sizes[l]} -> {sizes[l + 1]}, {what}",
            section["tensors"],
            _forward_notes(result, section),
        )
    lines.append("")
    lines.append("LOSS")
    head = result.get("head", "softmax-ce")
    lines += _section(
        f"{HEAD_TITLES[head]} of the logits z of layer {L - 1}, labels {result['labels']}"
        + (
            ""
            if head == "softmax-ce"
            else " (the targets t: " + ("one-hot" if sizes[-1] > 1 else "the labels") + ")"
        ),
        result["loss"],
    )
    lines.append("")
    lines.append("BACKWARD")
    for section in result["backward"]:
        l = section["layer"]
        lines += _section(
            f"layer {l}" + ("" if l else "  (no dx: the input is the data)"),
            section["tensors"],
            _backward_notes(result, section),
        )
    lines.append("")
    lines += _update(result, result, 1)
    for later in result.get("later_steps", []):
        lines.append("")
        lines += _later_step(result, later)
    if steps > 1:
        lines.append("")
        lines += _loss_table(result)
    lines.append("")
    lines += _checks(result)
    return "\n".join(lines)


def _update(result: dict[str, Any], step: dict[str, Any], t: int) -> list[str]:
    """The UPDATE part of step t: its rule, and per layer the state and the new parameters."""
    opt, (beta1, beta2) = result["optimizer"], result["betas"]
    if t == 1:
        rule = {
            "sgd": "theta - lr g",
            "momentum": "v = mu v + g (v starts at 0), theta - lr v",
            "nesterov": "v = mu v + g (v starts at 0), theta - lr (g + mu v)",
            "adam": "step t = 1, m and v start at 0",
        }[opt]
    else:
        carried = f"from step {t - 1}"
        rule = {
            "sgd": "theta - lr g",
            "momentum": f"v = mu v + g, v carried over {carried}, theta - lr v",
            "nesterov": f"v = mu v + g, v carried over {carried}, theta - lr (g + mu v)",
            "adam": f"step t = {t}, m and v carried over {carried}",
        }[opt]
        if opt == "adam":
            c1, c2 = step["bias_corrections"]
            rule += f"; bias corrections 1 - {beta1:g}^{t} = {c1:.6g}, 1 - {beta2:g}^{t} = {c2:.6g}"
    lines = [f"UPDATE ({opt}: {rule})"]
    if opt == "adam" and t > 1:
        lines += _bias_correction_note(result, step, t)
    for section in step["update"]:
        lines += _section(f"layer {section['layer']}", section["tensors"])
    if opt == "adam" and result["batchnorm"]:
        lines.append(
            "note: b of a layer followed by batch norm has gradient 0 in exact "
            "arithmetic (batch norm subtracts the mean), so db is float32 rounding "
            "noise; Adam divides each gradient by its own size, which moves that b "
            "by up to lr all the same"
        )
    return lines


def _later_step(result: dict[str, Any], step: dict[str, Any]) -> list[str]:
    """Step t > 1, short: its loss, the parameters' gradients and the update. Its forward and
    backward are the first step's on the parameters the step before left (--json has them)."""
    t = step["step"]
    lines = [
        f"STEP {t}  (forward and backward as in step 1, from the parameters step {t - 1} left; "
        "--json has every matrix)"
    ]
    lines += _section("LOSS", {k: v for k, v in step["loss"].items() if k not in ("p", "y", "t")})
    lines.append("GRADIENTS")
    for section in step["backward"]:
        gradients = {
            name: tensor
            for name, tensor in section["tensors"].items()
            if name in ("dW", "db", "dgamma", "dbeta")
        }
        lines += _section(f"layer {section['layer']}", gradients, _backward_notes(result, section))
    lines += _update(result, step, t)
    return lines


def _loss_table(result: dict[str, Any]) -> list[str]:
    """The loss at each step (of the parameters before it), and Adam's bias corrections."""
    steps = [result, *result["later_steps"]]
    (beta1, beta2) = result["betas"]
    columns = ["step", "loss"] + (["loss + L2"] if "total" in result["loss"] else [])
    if result["optimizer"] == "adam":
        columns += [f"1 - {beta1:g}^t", f"1 - {beta2:g}^t"]
    rows = []
    for step in steps:
        row = [str(step["step"]), f"{step['loss']['loss']['values']:.8f}"]
        if "total" in step["loss"]:
            row.append(f"{step['loss']['total']['values']:.8f}")
        row += [f"{c:.6g}" for c in step.get("bias_corrections", [])]
        rows.append(row)
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    return ["LOSS BY STEP  (the same batch each time, before that step's update)"] + [
        "  " + "  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [columns, *rows]
    ]


def _checks(result: dict[str, Any]) -> list[str]:
    steps = [result, *result.get("later_steps", [])]
    several = len(steps) > 1
    lines = []
    checked = [s for s in steps if s["worst"] is not None]
    if checked:
        step = max(checked, key=lambda s: s["worst"]["relative"])
        worst = step["worst"]
        where = f"{worst['phase']}" + (
            f" layer {worst['layer']}" if worst["layer"] is not None else ""
        )
        if several:
            where += f" of step {step['step']}"
        ok = all(s["worst"]["ok"] for s in checked)
        # the difference that decides: the worst relative to its tensor's values (above 1)
        size = worst.get("size", 1.0)
        relative = (  # (shown where it differs from the difference by 10x or more)
            f", {worst['difference'] / size:.1e} of its values' size {size:.2g}"
            if size >= 10
            else ""
        )
        lines.append(
            f"check: largest difference from the float64 reference {worst['difference']:.1e} "
            f"({worst['name']} in {where}{relative}): "
            f"{'ok' if ok else 'FAILED'} (tolerance {TOLERANCE:g}"
            f"{', relative to the values where they exceed 1' if size >= 10 else ''})"
        )
    runs = [s["train_step"] for s in steps]
    if all(r["identical"] for r in runs):
        same = "identical"
    else:
        run = max(runs, key=lambda r: max(r["largest_difference"], r["state_difference"]))
        difference = max(run["largest_difference"], run["state_difference"])
        size = run.get("size", 1.0)
        same = f"largest difference {difference:.1e}" + (
            f", {difference / size:.1e} of the parameters' size {size:.2g}" if size >= 10 else ""
        )
    failed = "" if all(r["ok"] for r in runs) else " FAILED"
    function = runs[0]["function"]
    if several:
        lines.append(
            f"check: the network's own training step ({function}, one call per step, "
            f"{len(runs)} calls on a copy) on the same batch gives the same new parameters "
            f"after every step: {same}{failed}"
        )
    else:
        lines.append(
            f"check: the network's own training step ({function}, one call) on "
            f"the same batch gives the same new parameters: {same}{failed}"
        )
    return lines
