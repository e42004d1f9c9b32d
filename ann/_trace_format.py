"""A recorded training step (``_trace.trace_step``) written out: as JSON (``to_json``: each
float32 value with the fewest digits that read back as it) and as the text ``ann trace``
prints (``format_trace``: shapes as headings, numbers aligned, the check beside each matrix,
and the input digits drawn in characters).
"""

from __future__ import annotations

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


# ---- the text a student reads ----------------------------------------------------------------

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


def _section(title: str, tensors_: dict[str, Tensor]) -> list[str]:
    lines = [title]
    for name, t in tensors_.items():
        lines.append("  " + _heading(name, t))
        rows = _matrix_lines(t, "      ")
        # the dropout mask is 0 or 1: shown as such, like the pixels
        lines.extend([r.replace(".000000", "") for r in rows] if name == "keep" else rows)
    return lines


def format_trace(result: dict[str, Any]) -> str:
    """The trace as text: shapes as headings, numbers aligned, the check beside each matrix."""
    sizes, B = result["sizes"], result["batch"]
    opt = result["optimizer"]
    extra = {
        "sgd": "",
        "momentum": f", momentum {result['momentum']:g}",
        "nesterov": f", momentum {result['momentum']:g}",
        "adam": f", betas {result['betas'][0]:g}, {result['betas'][1]:g}, eps {result['eps']:g}",
    }[opt]
    extras = (["batch norm"] if result["batchnorm"] else []) + (
        [f"dropout {result['dropout']:g}"] if result["dropout"] else []
    )
    lines = [
        f"one training step of a {'-'.join(map(str, sizes))} network"
        f"{' with ' + ' and '.join(extras) if extras else ''}, batch of {B}, "
        f"{opt} with lr {result['lr']:g}{extra}"
        f"{', L2 ' + format(result['l2'], 'g') if result['l2'] else ''}",
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
    lines.append("FORWARD")
    L = len(sizes) - 1
    for section in result["forward"]:
        l = section["layer"]
        what = (
            ("batch norm, then ReLU" if "xhat" in section["tensors"] else "then ReLU")
            if section["hidden"]
            else "the logits z"
        ) + (", then dropout" if "keep" in section["tensors"] else "")
        lines += _section(
            f"layer {l}: dense {sizes[l]} -> {sizes[l + 1]}, {what}", section["tensors"]
        )
    lines.append("")
    lines.append("LOSS")
    lines += _section(
        f"softmax + cross-entropy of the logits z of layer {L - 1}, labels {result['labels']}",
        result["loss"],
    )
    lines.append("")
    lines.append("BACKWARD")
    for section in result["backward"]:
        l = section["layer"]
        lines += _section(
            f"layer {l}" + ("" if l else "  (no dx: the input is the data)"), section["tensors"]
        )
    lines.append("")
    rule = {
        "sgd": "theta - lr g",
        "momentum": "v = mu v + g (v starts at 0), theta - lr v",
        "nesterov": "v = mu v + g (v starts at 0), theta - lr (g + mu v)",
        "adam": "step t = 1, m and v start at 0",
    }[opt]
    lines.append(f"UPDATE ({opt}: {rule})")
    for section in result["update"]:
        lines += _section(f"layer {section['layer']}", section["tensors"])
    if opt == "adam" and result["batchnorm"]:
        lines.append(
            "note: b of a layer followed by batch norm has gradient 0 in exact "
            "arithmetic (batch norm subtracts the mean), so db is float32 rounding "
            "noise; Adam divides each gradient by its own size, which moves that b "
            "by up to lr all the same"
        )
    lines.append("")
    worst = result["worst"]
    if worst is not None:
        where = f"{worst['phase']}" + (
            f" layer {worst['layer']}" if worst["layer"] is not None else ""
        )
        lines.append(
            f"check: largest difference from the float64 reference "
            f"{result['largest_difference']:.1e} (relative to size, worst: "
            f"{worst['name']} in {where}): "
            f"{'ok' if worst['ok'] else 'FAILED'} (tolerance {TOLERANCE:g})"
        )
    step = result["train_step"]
    same = (
        "identical"
        if step["identical"]
        else f"largest difference {max(step['largest_difference'], step['state_difference']):.1e}"
    )
    lines.append(
        f"check: the network's own training step ({step['function']}, one call) on "
        f"the same batch gives the same new parameters: {same}"
        f"{'' if step['ok'] else ' FAILED'}"
    )
    return "\n".join(lines)
