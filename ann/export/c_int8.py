"""``ann export-c --int8``: a quantized network as one C99 header of integer arithmetic.

The header needs no floating point until the scores (so none at all for a caller that passes
scores = NULL to an image model) and no library at all: int8 weights and int32 accumulators,
requantization by an integer multiply and a rounding shift, lookup tables for the smooth
activations, an integer exponential for the probabilities. ``quantization.QuantizedNetwork`` is
the same arithmetic in Python; docs/quantization.md derives it.

Each activation and head is one entry of ``_ACTIVATION_CALL`` / ``_HEAD_C``: the call that
turns a layer's accumulators into its output, and the small C functions it needs.
"""

from __future__ import annotations

from ._c_common import (
    ACTIVATION_TITLES,
    c_float,
    c_string,
    comment_lines,
    generator_line,
    opening_comment,
    rom_macros,
    table,
)
from ._int8 import EXP2_TABLE, LOG2E_Q24, ONE_Q24
from .quantization import QuantizedLayer, QuantizedNetwork

_HELPERS = """/* round(v / 2^shift), halves away from zero, 1 <= shift <= 62; only non-negative
 * values are shifted, so the result is the same with every C compiler */
static int64_t {p}_shift_round(int64_t v, uint8_t shift)
{{
    const int64_t half = (int64_t)1 << (shift - 1);
    return v >= 0 ? (v + half) >> shift : -((-v + half) >> shift);
}}

/* acc M with M = m / 2^shift: the requantization multiply (|acc m| < 2^62) */
static int64_t {p}_scale(int32_t acc, int32_t m, uint8_t shift)
{{
    return {p}_shift_round((int64_t)acc * m, shift);
}}

/* v clamped into low..127 */
static int8_t {p}_clamp8(int64_t v, int32_t low)
{{
    return (int8_t)(v < low ? low : v > 127 ? 127 : v);
}}
"""

_DENSE_U8 = """/* acc (n_out) = B + W x: int8 weights W (n_out, n_in) and int32 B (n_out) in flash,
 * the input x (n_in) of uint8 pixels. Each product fits 16 bits (|x w| <= 255 x 127), the
 * sum 32; the product is formed from the 8-bit operands themselves, which an 8-bit CPU
 * multiplies in one instruction (AVR: mulsu), not from values widened to 16 or 32 bits */
static void {p}_dense_u8(int32_t *acc, const uint8_t *x, const int8_t *W, const int32_t *B,
                        size_t n_in, size_t n_out)
{{
    for (size_t j = 0; j < n_out; j++) {{
        const int8_t *w = W + j * n_in; /* (n_in) */
        int32_t sum = {P}_I32(&B[j]);
        const uint8_t *xi = x; /* walking pointers: 15 % fewer AVR cycles than x[i], w[i] */
        for (size_t i = 0; i < n_in; i++, xi++, w++) {{
            const int16_t product = (int16_t)(*xi * {P}_I8(w));
            sum += product;
        }}
        acc[j] = sum;
    }}
}}
"""

_DENSE_I8 = """/* acc (n_out) = B + W x for an int8 input x (n_in): as the pixels' */
static void {p}_dense_i8(int32_t *acc, const int8_t *x, const int8_t *W, const int32_t *B,
                        size_t n_in, size_t n_out)
{{
    for (size_t j = 0; j < n_out; j++) {{
        const int8_t *w = W + j * n_in; /* (n_in) */
        int32_t sum = {P}_I32(&B[j]);
        const int8_t *xi = x;
        for (size_t i = 0; i < n_in; i++, xi++, w++) {{
            const int16_t product = (int16_t)(*xi * {P}_I8(w)); /* |x w| <= 128 x 127 */
            sum += product;
        }}
        acc[j] = sum;
    }}
}}
"""

_REQUANTIZE = """/* y_j = clamp(zero + round(acc_j M_j), low..127): identity (low -128) and ReLU
 * (low = zero, the code of 0: a negative accumulator gives 0) */
static void {p}_requantize(int8_t *y, const int32_t *acc, const int32_t *m, const uint8_t *s,
                          size_t n, int32_t zero, int32_t low)
{{
    for (size_t j = 0; j < n; j++)
        y[j] = {p}_clamp8(zero + {p}_scale(acc[j], {P}_I32(&m[j]), {P}_U8(&s[j])), low);
}}
"""

_LEAKY = """/* leaky ReLU: y_j = clamp(zero + round(acc_j M_j)) with M_j, or alpha M_j (mn, sn)
 * where the accumulator is negative */
static void {p}_leaky_relu(int8_t *y, const int32_t *acc, const int32_t *m, const uint8_t *s,
                          const int32_t *mn, const uint8_t *sn, size_t n, int32_t zero)
{{
    for (size_t j = 0; j < n; j++) {{
        int64_t v = acc[j] < 0 ? {p}_scale(acc[j], {P}_I32(&mn[j]), {P}_U8(&sn[j]))
                               : {p}_scale(acc[j], {P}_I32(&m[j]), {P}_U8(&s[j]));
        y[j] = {p}_clamp8(zero + v, -128);
    }}
}}
"""

_LOOKUP = """/* a smooth activation f: the accumulator requantized to the int8 pre-activation
 * q = clamp(zero + round(acc_j M_j)), then y_j = T[q + 128], T holding f's int8 outputs */
static void {p}_lookup(int8_t *y, const int32_t *acc, const int32_t *m, const uint8_t *s,
                      size_t n, int32_t zero, const int8_t *T)
{{
    for (size_t j = 0; j < n; j++) {{
        int8_t q = {p}_clamp8(zero + {p}_scale(acc[j], {P}_I32(&m[j]), {P}_U8(&s[j])), -128);
        y[j] = {P}_I8(&T[q + 128]);
    }}
}}
"""

# activation -> (the C function it needs, the call; {l} is the layer number, {n} its width,
# {zero} / {low} its codes)
_ACTIVATION_CALL: dict[str, tuple[str, str]] = {
    "identity": (_REQUANTIZE, "{p}_requantize(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, -128);"),
    "relu": (_REQUANTIZE, "{p}_requantize(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {zero});"),
    "leaky_relu": (
        _LEAKY,
        "{p}_leaky_relu(x, acc, {p}_m{l}, {p}_s{l}, {p}_mn{l}, {p}_sn{l}, {n}, {zero});",
    ),
    "sigmoid": (_LOOKUP, "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});"),
    "tanh": (_LOOKUP, "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});"),
    "gelu": (_LOOKUP, "{p}_lookup(x, acc, {p}_m{l}, {p}_s{l}, {n}, {zero}, {p}_t{l});"),
}

_LOGITS = """/* the logits in fixed point with 16 fractional bits, one scale for every class:
 * l_k = round(acc_k M_k), in place */
static void {p}_logits(int32_t *acc, const int32_t *m, const uint8_t *s, size_t n)
{{
    for (size_t k = 0; k < n; k++) {{
        int64_t v = {p}_scale(acc[k], {P}_I32(&m[k]), {P}_U8(&s[k]));
        acc[k] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : v);
    }}
}}

/* 2^(-k/64) in Q24, k = 0..64 */
static const uint32_t {p}_exp2[65] {P}_ROM = {{
{exp2}
}};

/* 2^24 e^(-d / 2^16) for d >= 0, in integers: e^-x = 2^-y, y = x log2 e = n + f (n whole,
 * 0 <= f < 1, f in Q16); 2^-f interpolated between the table's steps of 1/64 (relative error
 * below 2e-5), then >> n */
static uint32_t {p}_exp_neg(uint32_t d)
{{
    const uint64_t y = ((uint64_t)d * {log2e}u + {half}u) >> 24; /* Q16 */
    if ((y >> 16) > 24) return 0;
    const unsigned n = (unsigned)(y >> 16);
    const uint32_t f = (uint32_t)(y & 0xFFFFu), i = f >> 10, r = f & 0x3FFu;
    const uint32_t hi = {P}_U32(&{p}_exp2[i]), lo = {P}_U32(&{p}_exp2[i + 1]);
    const uint32_t v = hi - (((hi - lo) * r + 512u) >> 10);
    return (v + (((uint32_t)1 << n) >> 1)) >> n;
}}
"""

_ARGMAX = """/* the index of the first largest of l[0..n-1] */
static int {p}_argmax(const int32_t *l, size_t n)
{{
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (l[k] > l[best]) best = k;
    return (int)best;
}}
"""

_HEAD_C: dict[str, str] = {
    "softmax": """/* p_k = e^(l_k - max l) / sum_j e^(l_j - max l): integer exponentials, then one
 * float division each (integers up to 2^24 by their sum); returns the argmax */
static int {p}_softmax(const int32_t *l, float *scores, size_t n)
{{
    const int best = {p}_argmax(l, n);
    if (scores) {{
        {sum_type} sum = 0;
        for (size_t k = 0; k < n; k++) {{
            const uint32_t e = {p}_exp_neg((uint32_t)((int64_t)l[best] - l[k]));
            sum += e;
            scores[k] = (float)e;
        }}
        const float total = (float)sum;
        for (size_t k = 0; k < n; k++) scores[k] = scores[k] / total;
    }}
    return best;
}}
""",
    "sigmoid": """/* p_k = 1 / (1 + e^-l_k): with e = e^-|l_k| (an integer exponential), 1 / (1 + e)
 * for l_k >= 0 and e / (1 + e) below, so that nothing overflows */
static void {p}_sigmoid_out(const int32_t *l, float *scores, size_t n)
{{
    for (size_t k = 0; k < n; k++) {{
        const uint32_t e = {p}_exp_neg(l[k] >= 0 ? (uint32_t)l[k] : (uint32_t)(-(int64_t)l[k]));
        const float denominator = (float)({one}u + e);
        scores[k] = (l[k] >= 0 ? (float){one}u : (float)e) / denominator;
    }}
}}
""",
    "identity": """/* y_k = acc_k s_x s_k: the regression outputs, in float32 */
static int {p}_outputs(const int32_t *acc, float *scores, const float *d, size_t n)
{{
    if (scores)
        for (size_t k = 0; k < n; k++) scores[k] = (float)acc[k] * {P}_F32(&d[k]);
    return 0; /* a regression has no class */
}}
""",
}


def _head_lines(q: QuantizedNetwork, p: str) -> list[str]:
    """The statements of forward after the last dense layer (acc holds its accumulators)."""
    last = q.layers[-1]
    L, K = len(q.layers), last.n_out
    if last.kind == "outputs":
        return [f"return {p}_outputs(acc, scores, {p}_d{L}, {K});"]
    lines = [f"{p}_logits(acc, {p}_m{L}, {p}_s{L}, {K});"]
    if last.activation == "softmax":
        return lines + [f"return {p}_softmax(acc, scores, {K});"]
    lines.append(f"if (scores) {p}_sigmoid_out(acc, scores, {K});")
    return lines + [f"return {p}_argmax(acc, {K});" if K > 1 else "return acc[0] > 0;"]


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


def render(q: QuantizedNetwork, prefix: str, command: str = "ann export-c --int8") -> str:
    """The int8 header of ``q``, its identifiers starting with ``prefix``."""
    p, P = prefix, prefix.upper()
    spec = q.spec
    sizes = spec.sizes
    D, K, L = sizes[0], sizes[-1], len(q.layers)
    width = max(sizes[1:])
    pixels = spec.inputs == "pixels"
    fmt = {"p": p, "P": P}

    tables, table_bytes = [], 0
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
        table_bytes += 8 * D
    for l, layer in enumerate(q.layers, start=1):
        text, size = _layer_tables(layer, l, p, P)
        tables.append(text)
        table_bytes += size

    functions = [_HELPERS.format(**fmt)]
    if pixels:
        functions.append(_DENSE_U8.format(**fmt))
    if not pixels or L > 1:
        functions.append(_DENSE_I8.format(**fmt))
    for name in dict.fromkeys(layer.activation for layer in q.layers[:-1]):
        code = _ACTIVATION_CALL[name][0].format(**fmt)
        if code not in functions:
            functions.append(code)
    last = q.layers[-1]
    if last.kind == "logits":
        exp2 = "\n".join(
            "    " + ", ".join(f"{v}u" for v in EXP2_TABLE[i : i + 8]) + ","
            for i in range(0, len(EXP2_TABLE), 8)
        )
        functions.append(_LOGITS.format(p=p, P=P, exp2=exp2, log2e=LOG2E_Q24, half=1 << 23))
        table_bytes += 4 * len(EXP2_TABLE)
    if last.activation == "softmax" or (last.activation == "sigmoid" and K > 1):
        functions.append(_ARGMAX.format(**fmt))
    sum_type = "uint32_t" if K * ONE_Q24 < 2**32 else "uint64_t"
    functions.append(_HEAD_C[last.activation].format(p=p, P=P, one=ONE_Q24, sum_type=sum_type))

    if not pixels:
        functions.append(
            f"""/* a float32 feature to its int8 code: (x - mean_i) / d_i, rounded half away from
 * zero, + z; the clamps first keep the conversion to int defined (NaN goes to 127) */
static int8_t {p}_input(float raw, size_t i)
{{
    float u = (raw - {P}_F32(&{p}_mean[i])) / {P}_F32(&{p}_div[i]);
    if (!(u < 256.0f)) u = 256.0f;
    if (!(u > -256.0f)) u = -256.0f;
    const int32_t r = u >= 0.0f ? (int32_t)(u + 0.5f) : -(int32_t)(0.5f - u);
    return {p}_clamp8(r + {q.input_zero}, -128);
}}
"""
        )
    else:
        functions.append(
            f"""/* a pixel given as a float (0..255) to its byte: rounded, clamped (NaN to 0) */
static uint8_t {p}_pixel(float v)
{{
    return v > 0.0f ? (v >= 255.0f ? 255 : (uint8_t)(v + 0.5f)) : 0;
}}
"""
        )

    body = []
    for l, layer in enumerate(q.layers, start=1):
        kind = "u8" if l == 1 and pixels else "i8"
        src = ("pixels" if pixels else "x0") if l == 1 else "x"
        body.append(
            f"{p}_dense_{kind}(acc, {src}, {p}_w{l}, {p}_b{l}, {layer.n_in}, {layer.n_out});"
        )
        if l < L:
            call = _ACTIVATION_CALL[layer.activation][1]
            body.append(call.format(p=p, l=l, n=layer.n_out, zero=layer.zero))
    body += _head_lines(q, p)
    first = "const uint8_t *pixels" if pixels else "const int8_t *x0"
    forward = (
        f"/* every layer, from the first layer's input codes; acc and x hold one layer's\n"
        f" * accumulators and int8 outputs at a time */\n"
        f"static int {p}_forward({first}, float *scores)\n{{\n"
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
    use = [
        "Use:",
        f'    #include "{p}.h"',
        f"    float scores[{P}_N_OUTPUTS];",
        f"    int k = {p}_predict{'_u8' if pixels else ''}("
        + ("pixels" if pixels else "row")
        + ", scores);"
        + (f"   (pixels: {D} bytes, row by row)" if pixels else ""),
        "",
        f"int {p}_predict(const float *input, float *scores)",
        f"    input: the {P}_N_INPUTS raw values"
        + (" (pixels 0..255 as floats, rounded to bytes)" if pixels else ""),
        f"    writes the {P}_N_OUTPUTS scores unless scores is NULL, and returns the class",
        "    index (the first largest logit on ties).",
    ]
    if pixels:
        use += [
            f"int {p}_predict_u8(const uint8_t *pixels, float *scores)",
            "    the same from the pixel bytes themselves, with no conversion.",
        ]
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
        f"Memory: {table_bytes:,} bytes of constant tables (flash; PROGMEM on AVR), and on the",
        f"stack {stack:,} bytes for one layer's accumulators and outputs, plus {D:,} for the input",
        f"codes in {p}_predict.",
        f"Calibrated on {q.calibration or f'{q.rows} rows'}.",
    ]
    comment = opening_comment(
        f"{p}.h: a trained ann network quantized to int8, as C99.",
        [generator_line(spec, "`" + command + "`"), ""] + comment_lines(spec) + memory + [""] + use,
    )
    guard = f"{P}_H_INCLUDED"
    readers = [
        ("I8", "int8_t", "pgm_read_byte"),
        ("U8", "uint8_t", "pgm_read_byte"),
        ("I32", "int32_t", "pgm_read_dword"),
        ("U32", "uint32_t", "pgm_read_dword"),
        ("F32", "float", "pgm_read_float"),
    ]
    parts = [
        comment,
        f"#ifndef {guard}\n#define {guard}\n\n",
        "#include <stddef.h>\n#include <stdint.h>\n\n",
        f"#define {P}_N_INPUTS {D}\n#define {P}_N_OUTPUTS {K}\n",
        f"#define {P}_MAX_WIDTH {width} /* the widest layer after the input */\n\n",
        rom_macros(P, readers),
        "\n",
    ]
    if spec.classes is not None:
        names = ", ".join(c_string(c) for c in spec.classes)
        parts.append(
            f"/* the name of each output */\n"
            f"static const char *const {p}_classes[{P}_N_OUTPUTS] = {{{names}}};\n\n"
        )
    parts += ["\n".join(tables), "\n", "\n".join(functions), "\n", forward, "\n", entries]
    parts.append(f"\n#endif /* {guard} */\n")
    return "".join(parts)
