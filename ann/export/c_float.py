"""``ann export-c``: a network as one self-contained C99 header computing in float32.

The header holds the weights as ``static const`` tables (in flash on AVR) and a
``PREFIX_predict`` over caller-provided buffers: no allocation, no global mutable state, and
no library but <math.h> (expf, tanhf, erff: only those the activations need). The layer code
is one plain dot product per output unit, the textbook form of y = W x + b.

Each activation and head is one entry of ``_ACTIVATION_C`` / ``_HEAD_C``: a small C function
(with ``{p}`` for the prefix) and how ``predict`` calls it.
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
from ._spec import ModelSpec

# activation name -> (C function, the call on a buffer x of n values, <math.h> functions used).
# {p} is the prefix, {P} its capitals; the call has {x}, {n} and {alpha}.
_ACTIVATION_C: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "identity": ("", "", ()),
    "relu": (
        """/* x = max(x, 0), in place */
static void {p}_relu(float *x, size_t n)
{{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}}
""",
        "{p}_relu({x}, {n});",
        (),
    ),
    "leaky_relu": (
        """/* x = x if x > 0 else alpha x, in place */
static void {p}_leaky_relu(float *x, size_t n, float alpha)
{{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}}
""",
        "{p}_leaky_relu({x}, {n}, {alpha});",
        (),
    ),
    "sigmoid": (
        """/* x = 1 / (1 + e^-x), in place (expf(-x) = inf for x < -88 gives 0, as it should) */
static void {p}_sigmoid(float *x, size_t n)
{{
    for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}}
""",
        "{p}_sigmoid({x}, {n});",
        ("expf",),
    ),
    "tanh": (
        """/* x = tanh x, in place */
static void {p}_tanh(float *x, size_t n)
{{
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}}
""",
        "{p}_tanh({x}, {n});",
        ("tanhf",),
    ),
    "gelu": (
        """/* x = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact GELU, in place */
static void {p}_gelu(float *x, size_t n)
{{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.707106781f));
}}
""",
        "{p}_gelu({x}, {n});",
        ("erff",),
    ),
}

_ARGMAX_C = """/* the index of the first largest of z[0..n-1] */
static int {p}_argmax(const float *z, size_t n)
{{
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (z[k] > z[best]) best = k;
    return (int)best;
}}
"""

# head name -> (C functions, the body of PREFIX_output (z holds the K logits), <math.h> use)
_HEAD_C: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "softmax": (
        _ARGMAX_C
        + """
/* p = softmax(z): p_k = e^(z_k - m) / sum_j e^(z_j - m) with m = max z, so that expf never
 * overflows (the m cancels); the division as ann's C core does it, times 1 / sum */
static void {p}_softmax(float *p, const float *z, size_t n)
{{
    float m = z[0], sum = 0.0f;
    for (size_t k = 1; k < n; k++)
        if (z[k] > m) m = z[k];
    for (size_t k = 0; k < n; k++) {{
        p[k] = expf(z[k] - m);
        sum += p[k];
    }}
    const float inv_sum = 1.0f / sum;
    for (size_t k = 0; k < n; k++) p[k] *= inv_sum;
}}
""",
        """    if (scores) {p}_softmax(scores, z, {K});
    return {p}_argmax(z, {K});""",
        ("expf",),
    ),
    "sigmoid": (
        """/* p_k = 1 / (1 + e^-z_k), each output on its own */
static void {p}_sigmoid_out(float *p, const float *z, size_t n)
{{
    for (size_t k = 0; k < n; k++) p[k] = 1.0f / (1.0f + expf(-z[k]));
}}
""",
        "",  # filled in by _head_body: the class rule depends on K
        ("expf",),
    ),
    "identity": (
        "",
        """    if (scores)
        for (size_t k = 0; k < {K}; k++) scores[k] = z[k];
    return 0; /* a regression has no class */""",
        (),
    ),
}


def _head(spec: ModelSpec) -> tuple[str, str, tuple[str, ...]]:
    code, body, needs = _HEAD_C[spec.head]
    if spec.head == "sigmoid":
        K = spec.sizes[-1]
        if K == 1:
            body = "    if (scores) {p}_sigmoid_out(scores, z, 1);\n    return z[0] > 0.0f;"
        else:
            code = _ARGMAX_C + "\n" + code
            body = (
                "    if (scores) {p}_sigmoid_out(scores, z, {K});\n    return {p}_argmax(z, {K});"
            )
    return code, body, needs


def _sizes_comment(spec: ModelSpec, table_bytes: int, width: int) -> list[str]:
    return [
        f"Memory: {table_bytes:,} bytes of constant tables (flash), and on the stack "
        f"2 x {width} floats ({8 * width:,} bytes)",
        "for the activations of consecutive layers.",
    ]


def render(spec: ModelSpec, prefix: str, command: str = "ann export-c") -> str:
    """The float32 header of ``spec``, its identifiers starting with ``prefix``."""
    p, P = prefix, prefix.upper()
    sizes = spec.sizes
    D, K, L = sizes[0], sizes[-1], len(spec.layers)
    width = max(sizes[1:])
    pixels = spec.inputs == "pixels"
    fmt = {"p": p, "P": P, "K": K}

    tables = []
    table_floats = 0

    def floats(name: str, values: list[float], dims: str) -> None:
        nonlocal table_floats
        tables.append(
            table("float", f"{p}_{name}", [c_float(v) for v in values], f"{P}_ROM", dims, 6)
        )
        table_floats += len(values)

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

    # the input as the first layer sees it
    body = ["    float x = " + ("raw * (1.0f / 255.0f);" if pixels else "raw;")]
    if spec.mean is not None:
        body.append(f"    x = (x - {P}_F32(&{p}_mean[i])) / {P}_F32(&{p}_std[i]);")
    input_fn = (
        "/* input i as the network sees it: "
        + ("pixel / 255 (the multiplication ann's C core does)" if pixels else "the raw value")
        + (", then standardised" if spec.mean is not None else "")
        + " */\n"
        + f"static float {p}_input(float raw, size_t i)\n{{\n"
        + ("" if spec.mean is not None else "    (void)i;\n")
        + "\n".join(body)
        + "\n    return x;\n}\n"
    )

    dense = f"""/* y = W x + b: one dot product per output unit. W (n_out, n_in) and b (n_out) in
 * flash, x (n_in), y (n_out) */
static void {p}_dense(float *y, const float *x, const float *W, const float *b, size_t n_in,
                      size_t n_out)
{{
    for (size_t j = 0; j < n_out; j++) {{
        const float *w = W + j * n_in; /* (n_in) */
        float acc = {P}_F32(&b[j]);
        for (size_t i = 0; i < n_in; i++) acc += {P}_F32(&w[i]) * x[i];
        y[j] = acc;
    }}
}}
"""
    first = []
    for suffix, ctype, words, cast in (
        ("", "float", "floats", "input[i]"),
        ("_u8", "uint8_t", "bytes", "(float)input[i]"),
    ):
        if suffix and not pixels:
            continue
        first.append(
            f"""/* the first layer, reading the raw input (n_in {words}) through {p}_input */
static void {p}_dense_in{suffix}(float *y, const {ctype} *input, const float *W, const float *b,
                          size_t n_in, size_t n_out)
{{
    for (size_t j = 0; j < n_out; j++) {{
        const float *w = W + j * n_in; /* (n_in) */
        float acc = {P}_F32(&b[j]);
        for (size_t i = 0; i < n_in; i++) acc += {P}_F32(&w[i]) * {p}_input({cast}, i);
        y[j] = acc;
    }}
}}
"""
        )

    # the activation functions the network uses, each once, and the head
    needs: set[str] = set()
    functions = []
    for name in dict.fromkeys(layer.activation for layer in spec.layers[:-1]):
        code, _, used = _ACTIVATION_C[name]
        if code:
            functions.append(code.format(**fmt))
        needs.update(used)
    head_code, head_body, used = _head(spec)
    needs.update(used)
    if head_code:
        functions.append(head_code.format(**fmt))

    # layers 2..L ping-pong between two buffers; the first layer's output is in a
    rest = []
    bufs = ("a", "b")

    def activate(l: int, buf: str) -> None:
        layer = spec.layers[l]
        call = _ACTIVATION_C[layer.activation][1]
        if call:
            rest.append("    " + call.format(p=p, x=buf, n=layer.n_out, alpha=c_float(layer.alpha)))

    if L > 1:
        activate(0, "a")
    for l in range(1, L):
        src, dst = bufs[(l - 1) % 2], bufs[l % 2]
        layer = spec.layers[l]
        rest.append(
            f"    {p}_dense({dst}, {src}, {p}_w{l + 1}, {p}_b{l + 1}, {layer.n_in}, {layer.n_out});"
        )
        if l < L - 1:
            activate(l, dst)
    last = bufs[(L - 1) % 2]
    rest_fn = (
        f"/* the logits z ({K}) to the scores and the class */\n"
        f"static int {p}_output(const float *z, float *scores)\n{{\n"
        + head_body.format(**fmt)
        + "\n}\n\n"
        + "/* every layer after the first, whose output is in a; b is the other buffer */\n"
        + f"static int {p}_rest(float *a, float *b, float *scores)\n{{\n"
        + ("" if L > 1 else "    (void)b;\n")
        + "".join(line + "\n" for line in rest)
        + f"    return {p}_output({last}, scores);\n}}\n"
    )

    entries = []
    for suffix, ctype, name in (("", "float", "input"), ("_u8", "uint8_t", "pixels")):
        if suffix and not pixels:
            continue
        l1 = spec.layers[0]
        entries.append(
            f"""static inline int {p}_predict{suffix}(const {ctype} *{name}, float *scores)
{{
    float a[{P}_MAX_WIDTH], b[{P}_MAX_WIDTH]; /* the activations of consecutive layers */
    {p}_dense_in{suffix}(a, {name}, {p}_w1, {p}_b1, {l1.n_in}, {l1.n_out});
    return {p}_rest(a, b, scores);
}}
"""
        )

    math_note = (
        f"Library calls: {', '.join(sorted(needs))} from <math.h> (link with -lm where needed)."
        if needs
        else "Library calls: none."
    )
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
        + (" (pixels 0..255 as floats)" if pixels else ""),
        f"    writes the {P}_N_OUTPUTS scores unless scores is NULL, and returns the class",
        "    index (the first largest logit on ties).",
    ]
    if pixels:
        use += [
            f"int {p}_predict_u8(const uint8_t *pixels, float *scores)",
            "    the same from the pixel bytes themselves.",
        ]
    use += [
        "",
        "No allocation and no global mutable state: re-entrant and thread-safe.",
        math_note,
    ]
    header_comment = opening_comment(
        f"{p}.h: a trained ann network as float32 C99.",
        [generator_line(spec, "`" + command + "`"), ""]
        + comment_lines(spec)
        + _sizes_comment(spec, 4 * table_floats, width)
        + [""]
        + use,
    )
    guard = f"{P}_H_INCLUDED"
    parts = [
        header_comment,
        f"#ifndef {guard}\n#define {guard}\n\n",
        "#include <math.h>\n" if needs else "",
        "#include <stddef.h>\n#include <stdint.h>\n\n",
        f"#define {P}_N_INPUTS {D}\n#define {P}_N_OUTPUTS {K}\n",
        f"#define {P}_MAX_WIDTH {width} /* the widest layer after the input */\n\n",
        rom_macros(P, [("F32", "float", "pgm_read_float")]),
        "\n",
    ]
    if spec.classes is not None:
        names = ", ".join(c_string(c) for c in spec.classes)
        parts.append(
            f"/* the name of each output */\n"
            f"static const char *const {p}_classes[{P}_N_OUTPUTS] = {{{names}}};\n\n"
        )
    parts += ["\n".join(tables), "\n", input_fn, "\n", dense, "\n", "\n".join(first), "\n"]
    parts += ["\n".join(functions), "\n" if functions else "", rest_fn, "\n"]
    parts += ["\n".join(entries), f"\n#endif /* {guard} */\n"]
    return "".join(parts)
