"""``ann export-c --int8``: a quantized network as one C99 header of integer arithmetic.

The header needs no floating point until the scores (so none at all for a caller that passes
scores = NULL to an image model) and no library at all: int8 weights and int32 accumulators,
requantization by an integer multiply and a rounding shift, lookup tables for the smooth
activations, an integer exponential for the probabilities. The operations are the C of
``c/int8_kernels.h``; ``quantization.QuantizedNetwork`` runs the same arithmetic in Python,
and docs/quantization.md derives it. This module writes the tables and the network's own
lines: how its input becomes codes, and which operations follow which.

Each activation and head is one entry of ``_ACTIVATION_CALL`` / ``_HEAD_LINES``: how
``forward`` calls its function of the template.
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
from ._int8 import EXP2_TABLE, ONE_Q24
from .quantization import QuantizedLayer, QuantizedNetwork

# hidden activation -> its call, turning the accumulators acc of layer {l} ({n} units) into
# the int8 outputs x; {zero} is the output's zero point (a table's: the pre-activation's)
_ACTIVATION_CALL: dict[str, str] = {
    "identity": "{p}_requantize(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, -128);",
    "relu": "{p}_requantize(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {zero});",
    "leaky_relu": "{p}_leaky_relu(x, acc, {p}_m{l}, {p}_s{l}, {p}_mn{l}, {p}_sn{l}, {n}, {zero});",
    "sigmoid": "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});",
    "tanh": "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});",
    "gelu": "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});",
}


def _sigmoid_lines(p: str, L: int, K: int) -> list[str]:
    last = f"return {p}_argmax(acc, {K});" if K > 1 else "return acc[0] > 0;"
    return [
        f"{p}_logits(acc, {p}_m{L}, {p}_s{L}, {K});",
        f"if (scores) {p}_sigmoid_out(acc, scores, {K});",
        last,
    ]


# head -> the statements of forward after the last dense layer (acc holds its K accumulators)
_HEAD_LINES: dict[str, Callable[[str, int, int], list[str]]] = {
    "softmax": lambda p, L, K: [
        f"{p}_logits(acc, {p}_m{L}, {p}_s{L}, {K});",
        f"return {p}_softmax(acc, scores, {K});",
    ],
    "sigmoid": _sigmoid_lines,
    "identity": lambda p, L, K: [f"return {p}_outputs(acc, scores, {p}_d{L}, {K});"],
}


def _ints(values: list[int]) -> list[str]:
    return [str(v) for v in values]


def _layer_tables(q: QuantizedLayer, l: int, p: str, P: str) -> tuple[str, int]:
    """The tables of layer l (1-based) and their size in bytes."""
    rom = f"{P}_ROM"
    what = ACTIVATION_TITLES[q.activation]
    out = [
        f"/* layer {l}: {q.n_in} -> {q.n_out}, {what}. w{l} (int8, ({q.n_out}, {q.n_in}): row j "
        f"the weights into unit j, w = s_j q),\n"
        f" * b{l} (int32: round(b_j / (s_x s_j)) - z_x sum_i q_ji; s_x = {q.in_scale:.6g}, "
        f"z_x = {q.in_zero}) */\n",
        table("int8_t", f"{p}_w{l}", _ints(q.weight), rom, f"{q.n_out} * {q.n_in}", 20),
        table("int32_t", f"{p}_b{l}", _ints(q.bias), rom, str(q.n_out)),
    ]
    size = len(q.weight) + 4 * q.n_out
    if q.kind != "outputs":
        target = {
            "linear": f"the output (s_y = {q.out_scale:.6g}, z_y = {q.out_zero})",
            "table": f"the pre-activation (s = {q.pre_scale:.6g}, z = {q.zero})",
            "logits": "Q16 logits",
        }[q.kind]
        out.append(f"/* requantization to {target}: M_j = m{l}_j / 2^s{l}_j */\n")
        out.append(table("int32_t", f"{p}_m{l}", _ints(q.multiplier), rom, str(q.n_out)))
        out.append(table("uint8_t", f"{p}_s{l}", _ints(q.shift), rom, str(q.n_out), 16))
        size += 5 * q.n_out
    if q.negative_multiplier is not None and q.negative_shift is not None:
        out.append("/* and alpha M_j, for negative accumulators */\n")
        out.append(table("int32_t", f"{p}_mn{l}", _ints(q.negative_multiplier), rom, str(q.n_out)))
        out.append(table("uint8_t", f"{p}_sn{l}", _ints(q.negative_shift), rom, str(q.n_out), 16))
        size += 5 * q.n_out
    if q.table is not None:
        out.append(
            f"/* {what} of each int8 pre-activation code q (index q + 128), as output codes "
            f"(s_y = {q.out_scale:.6g}, z_y = {q.out_zero}) */\n"
        )
        out.append(table("int8_t", f"{p}_t{l}", _ints(q.table), rom, "256", 16))
        size += 256
    if q.dequantize is not None:
        out.append("/* s_x s_j: one accumulator unit of each output */\n")
        out.append(
            table("float", f"{p}_d{l}", [c_float(v) for v in q.dequantize], rom, str(q.n_out), 6)
        )
        size += 4 * q.n_out
    return "".join(out), size


def table_bytes(q: QuantizedNetwork) -> int:
    """The size of the header's constant tables (int8 weights, int32 biases, requantization
    multipliers and shifts, lookup tables, the exponential's table, the input's floats)."""
    return (
        sum(_layer_tables(layer, l, "p", "P")[1] for l, layer in enumerate(q.layers, 1))
        + (8 * q.sizes[0] if q.spec.inputs == "features" else 0)
        + (4 * len(EXP2_TABLE) if q.layers[-1].kind == "logits" else 0)
    )


def render(
    q: QuantizedNetwork,
    prefix: str,
    command: str = "ann export-c --int8",
    notes: Sequence[str] = (),
) -> str:
    """The int8 header of ``q``, its identifiers starting with ``prefix``; ``notes`` are more
    lines for its opening comment."""
    p, P = prefix, prefix.upper()
    spec = q.spec
    sizes = spec.sizes
    D, K, L = sizes[0], sizes[-1], len(q.layers)
    width = max(sizes[1:])
    pixels = spec.inputs == "pixels"

    tables = []
    if not pixels:
        tables.append(
            "/* the input: code = z + round((x - mean_i) / d_i), d_i = std_i s_x "
            f"(s_x = {q.input_scale:.6g}, z = {q.input_zero}) */\n"
        )
        tables.append(
            table("float", f"{p}_mean", [c_float(v) for v in q.input_mean], f"{P}_ROM", str(D), 6)
        )
        tables.append(
            table("float", f"{p}_div", [c_float(v) for v in q.input_divisor], f"{P}_ROM", str(D), 6)
        )
    for l, layer in enumerate(q.layers, start=1):
        tables.append(_layer_tables(layer, l, p, P)[0])

    glue = []  # the network's own functions, after the template's
    if not pixels:
        glue.append(
            f"""/* a float32 feature to its int8 code: (x - mean_i) / d_i, rounded half away from
 * zero, + z; the clamps first keep the conversion to int defined (NaN goes to 127) */
static inline int8_t {p}_input(float raw, size_t i)
{{
    float u = (raw - {P}_F32(&{p}_mean[i])) / {P}_F32(&{p}_div[i]);
    if (!(u < 256.0f)) u = 256.0f;
    if (!(u > -256.0f)) u = -256.0f;
    const int32_t r = u >= 0.0f ? (int32_t)(u + 0.5f) : -(int32_t)(0.5f - u);
    return {p}_clamp8(r + {q.input_zero}, -128);
}}
"""
        )
    last = q.layers[-1]
    body = []
    for l, layer in enumerate(q.layers, start=1):
        kind = "u8" if l == 1 and pixels else "i8"
        src = ("pixels" if pixels else "x0") if l == 1 else "x"
        body.append(
            f"{p}_dense_{kind}(acc, {src}, {p}_w{l}, {p}_b{l}, {layer.n_in}, {layer.n_out});"
        )
        if l < L:
            call = _ACTIVATION_CALL[layer.activation]
            body.append(call.format(p=p, l=l, n=layer.n_out, zero=layer.zero))
    body += _HEAD_LINES[last.activation](p, L, K)
    first = "const uint8_t *pixels" if pixels else "const int8_t *x0"
    forward = (
        f"/* every layer, from the first layer's input codes; acc and x hold one layer's\n"
        f" * accumulators and int8 outputs at a time */\n"
        f"static inline int {p}_forward({first}, float *scores)\n{{\n"
        f"    int32_t acc[{P}_MAX_WIDTH];\n"
        + (f"    int8_t x[{P}_MAX_WIDTH];\n" if L > 1 else "")
        + "".join(f"    {line}\n" for line in body)
        + "}\n"
    )
    if pixels:
        entries = f"""static inline int {p}_predict_u8(const uint8_t *pixels, float *scores)
{{
    return {p}_forward(pixels, scores);
}}

static inline int {p}_predict(const float *input, float *scores)
{{
    uint8_t pixels[{P}_N_INPUTS];
    for (size_t i = 0; i < {P}_N_INPUTS; i++) pixels[i] = {p}_pixel(input[i]);
    return {p}_forward(pixels, scores);
}}
"""
    else:
        entries = f"""static inline int {p}_predict(const float *input, float *scores)
{{
    int8_t x0[{P}_N_INPUTS];
    for (size_t i = 0; i < {P}_N_INPUTS; i++) x0[i] = {p}_input(input[i], i);
    return {p}_forward(x0, scores);
}}
"""

    stack = 5 * width
    use = usage(spec, p, "pixels 0..255 as floats, rounded to bytes", ", with no conversion")
    use += [
        "",
        "No allocation, no global mutable state (re-entrant, thread-safe), no library calls:",
        "integer arithmetic, and float only for the scores"
        + ("" if pixels else " and the input features")
        + ". The float steps are single",
        "float32 operations (FLT_EVAL_METHOD 0: x86-64, ARM, AVR), so the scores are the same",
        "bits as ann evaluate --int8 computes.",
    ]
    memory = [
        f"Memory: {table_bytes(q):,} bytes of constant tables (flash; PROGMEM on AVR), and on the",
        f"stack {stack:,} bytes for one layer's accumulators and outputs, plus {D:,} for the input",
        f"codes in {p}_predict.",
        f"Calibrated on {q.calibration or f'{q.rows} rows'}.",
    ]
    comment = opening_comment(
        f"{p}.h: a trained ann network quantized to int8, as C99.",
        [generator_line(spec, "`" + command + "`"), ""]
        + comment_lines(spec)
        + list(notes)
        + memory
        + [""]
        + use,
    )
    sum_type = "uint32_t" if K * ONE_Q24 < 2**32 else "uint64_t"
    readers = [
        ("I8", "int8_t", "pgm_read_byte"),
        ("U8", "uint8_t", "pgm_read_byte"),
        ("I32", "int32_t", "pgm_read_dword"),
        ("U32", "uint32_t", "pgm_read_dword"),
        ("F32", "float", "pgm_read_float"),
    ]
    sections = ["/* ---- the tables ---- */\n\n", "\n".join(tables), "\n"]
    sections += [kernels("int8_kernels.h", p), "\n/* ---- the network ---- */\n\n"]
    sections += ["\n".join(glue), "\n" if glue else "", forward, "\n", entries]
    return assemble(
        spec,
        p,
        comment,
        ["stddef.h", "stdint.h"],
        [f"#define {P}_SCORE_SUM {sum_type} /* holds {K} x 2^24 */"],
        readers,
        sections,
    )
