"""``ann export-c``: a network as one self-contained C99 header computing in float32.

The header holds the weights as ``static const`` tables (in flash on AVR) and a
``PREFIX_predict`` over caller-provided buffers: no allocation, no global mutable state, and
no library but <math.h> (expf, tanhf, erff: only those the activations call). The
operations are the C of ``c/float_kernels.h`` (one plain dot product per output unit, the
textbook form of y = W x + b); this module writes the tables and the few lines that are the
network's own: how its input is read, and which operations follow which.

Each activation and head is one entry of ``_ACTIVATION_CALL`` / ``_HEAD_BODY``: how
``predict`` calls its function of the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

from ._c_common import (
    ACTIVATION_TITLES,
    assemble,
    c_float,
    comment_lines,
    generator_line,
    kernels,
    opening_comment,
    table,
    usage,
)
from ._spec import ModelSpec

# hidden activation -> its call on the buffer {x} of {n} values ("": nothing to do)
_ACTIVATION_CALL = {
    "identity": "",
    "relu": "{p}_relu({x}, {n});",
    "leaky_relu": "{p}_leaky_relu({x}, {n}, {alpha});",
    "sigmoid": "{p}_sigmoid({x}, {n});",
    "tanh": "{p}_tanh({x}, {n});",
    "gelu": "{p}_gelu({x}, {n});",
}


def _sigmoid_body(K: int) -> str:
    if K == 1:  # a binary classifier: class 1 when p > 1/2, that is z > 0
        return "    if (scores) {p}_sigmoid_out(scores, z, 1);\n    return z[0] > 0.0f;"
    return "    if (scores) {p}_sigmoid_out(scores, z, {K});\n    return {p}_argmax(z, {K});"


# head -> the body of PREFIX_output(z, scores) for K outputs: the scores and the class
_HEAD_BODY: dict[str, Callable[[int], str]] = {
    "softmax": lambda K: (
        "    if (scores) {p}_softmax(scores, z, {K});\n    return {p}_argmax(z, {K});"
    ),
    "sigmoid": _sigmoid_body,
    "identity": lambda K: (
        "    if (scores) {p}_identity_out(scores, z, {K});\n"
        "    return 0; /* a regression has no class */"
    ),
}

# the <math.h> function each activation or head calls, for the header's comment
_MATH = {"sigmoid": "expf", "tanh": "tanhf", "gelu": "erff", "softmax": "expf"}


def _input_function(spec: ModelSpec, p: str, P: str) -> str:
    """prefix_input(raw, i): input i as the first layer sees it."""
    pixels = spec.inputs == "pixels"
    body = ["    float x = " + ("raw * (1.0f / 255.0f);" if pixels else "raw;")]
    if spec.mean is not None:
        body.append(f"    x = (x - {P}_F32(&{p}_mean[i])) / {P}_F32(&{p}_std[i]);")
    else:
        body.insert(0, "    (void)i;")
    what = "pixel / 255 (the multiplication ann's C core does)" if pixels else "the raw value"
    if spec.mean is not None:
        what += ", then standardised as ann does: (x - mean_i) / std_i"
    return (
        f"/* input i as the network sees it: {what} */\n"
        f"static inline float {p}_input(float raw, size_t i)\n{{\n"
        + "\n".join(body)
        + "\n    return x;\n}\n"
    )


def table_bytes(spec: ModelSpec) -> int:
    """The size of the header's constant tables: float32 weights, biases, standardisation."""
    floats = sum(layer.n_out * (layer.n_in + 1) for layer in spec.layers)
    return 4 * (floats + (2 * spec.sizes[0] if spec.mean is not None else 0))


def render(
    spec: ModelSpec, prefix: str, command: str = "ann export-c", notes: Sequence[str] = ()
) -> str:
    """The float32 header of ``spec``, its identifiers starting with ``prefix``; ``notes`` are
    more lines for its opening comment (a test accuracy, say)."""
    p, P = prefix, prefix.upper()
    sizes = spec.sizes
    D, K, L = sizes[0], sizes[-1], len(spec.layers)
    width = max(sizes[1:])
    pixels = spec.inputs == "pixels"
    fmt = {"p": p, "P": P, "K": K}

    tables = []

    def floats(name: str, values: list[float], dims: str) -> None:
        literals = [c_float(v) for v in values]
        tables.append(table("float", f"{p}_{name}", literals, f"{P}_ROM", dims, 6))

    for l, layer in enumerate(spec.layers, start=1):
        title = ACTIVATION_TITLES[layer.activation]
        tables.append(
            f"/* layer {l}: {layer.n_in} -> {layer.n_out}, {title}; "
            f"w{l} is ({layer.n_out}, {layer.n_in}): row j holds the weights into unit j */\n"
        )
        floats(f"w{l}", [v for row in layer.weight for v in row], f"{layer.n_out} * {layer.n_in}")
        floats(f"b{l}", layer.bias, str(layer.n_out))
    if spec.mean is not None and spec.std is not None:
        tables.append("/* the input standardisation: x = (x - mean) / std */\n")
        floats("mean", spec.mean, str(D))
        floats("std", spec.std, str(D))

    # layers 2..L ping-pong between two buffers; the first layer's output is in a
    steps = []
    bufs = ("a", "b")

    def activate(l: int, buf: str) -> None:
        layer = spec.layers[l]
        call = _ACTIVATION_CALL[layer.activation]
        if call:
            alpha = c_float(layer.alpha)
            steps.append("    " + call.format(p=p, x=buf, n=layer.n_out, alpha=alpha))

    if L > 1:
        activate(0, "a")
    for l in range(1, L):
        src, dst = bufs[(l - 1) % 2], bufs[l % 2]
        layer = spec.layers[l]
        steps.append(
            f"    {p}_dense({dst}, {src}, {p}_w{l + 1}, {p}_b{l + 1}, {layer.n_in}, {layer.n_out});"
        )
        if l < L - 1:
            activate(l, dst)
    last = bufs[(L - 1) % 2]
    network = (
        f"/* ---- the network ---- */\n\n"
        f"/* the logits z ({K}) to the scores and the class */\n"
        f"static inline int {p}_output(const float *z, float *scores)\n{{\n"
        + _HEAD_BODY[spec.head](K).format(**fmt)
        + "\n}\n\n"
        + "/* every layer after the first, whose output is in a; b is the other buffer */\n"
        + f"static inline int {p}_rest(float *a, float *b, float *scores)\n{{\n"
        + ("" if L > 1 else "    (void)b;\n")
        + "".join(line + "\n" for line in steps)
        + f"    return {p}_output({last}, scores);\n}}\n"
    )
    l1 = spec.layers[0]
    for suffix, ctype, name in (("", "float", "input"), ("_u8", "uint8_t", "pixels")):
        if suffix and not pixels:
            continue
        network += f"""
static inline int {p}_predict{suffix}(const {ctype} *{name}, float *scores)
{{
    float a[{P}_MAX_WIDTH], b[{P}_MAX_WIDTH]; /* the activations of consecutive layers */
    {p}_dense_in{suffix}(a, {name}, {p}_w1, {p}_b1, {l1.n_in}, {l1.n_out});
    return {p}_rest(a, b, scores);
}}
"""

    used = [layer.activation for layer in spec.layers]
    needs = sorted({_MATH[a] for a in used if a in _MATH})
    memory = [
        f"Memory: {table_bytes(spec):,} bytes of constant tables (flash), and on the stack "
        f"2 x {width} floats",
        f"({8 * width:,} bytes) for the activations of consecutive layers.",
    ]
    use = usage(spec, p, "pixels 0..255 as floats", "") + [
        "",
        "No allocation and no global mutable state: re-entrant and thread-safe.",
        f"Library calls: {', '.join(needs)} from <math.h> (link with -lm where needed)."
        if needs
        else "Library calls: none.",
    ]
    comment = opening_comment(
        f"{p}.h: a trained ann network as float32 C99.",
        [generator_line(spec, "`" + command + "`"), ""]
        + comment_lines(spec)
        + list(notes)
        + memory
        + [""]
        + use,
    )
    sections = ["/* ---- the tables ---- */\n\n", "\n".join(tables), "\n"]
    sections += [_input_function(spec, p, P), "\n", kernels("float_kernels.h", p), "\n", network]
    return assemble(
        spec,
        p,
        comment,
        ["math.h", "stddef.h", "stdint.h"],
        [],
        [("F32", "float", "pgm_read_float")],
        sections,
    )
