"""What the float32 and int8 C headers share: the prefix rules, number literals, constant
tables, the flash access macros and the opening comment."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from .. import __version__
from ._spec import ExportError, ModelSpec

# C99's keywords (6.4.1); a prefix that is one would make `PREFIX_predict` fine but the
# header guard and the tables hard to read, so it is refused with the rest.
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto "
    "if inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary".split()
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: what each activation and head is called in the comments
ACTIVATION_TITLES = {
    "identity": "identity",
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "GELU",
    "softmax": "softmax",
}


def check_prefix(name: str) -> str:
    """``name`` if it can prefix C identifiers (``NAME_predict``), else ExportError: a C
    identifier, not a keyword, and not reserved (two underscores, or one and a capital)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ExportError(
            f"name {name!r} is not a C identifier (letters, digits and _, not starting with "
            f"a digit): it prefixes the header's functions, e.g. {name}_predict"
        )
    if name in _C_KEYWORDS:
        raise ExportError(f"name {name!r} is a C keyword: choose another prefix")
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        raise ExportError(
            f"name {name!r} is reserved for the C implementation (it starts with __ or _ and a "
            f"capital): choose another prefix"
        )
    return name


def f32(value: float) -> float:
    """``value`` rounded to the nearest float32 (round half to even, as a C cast does)."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def c_float(value: float) -> str:
    """A C float literal that reads back as exactly the float32 nearest ``value``."""
    v = f32(value)
    if not math.isfinite(v):
        raise ExportError(f"{value!r} does not fit a float32")
    text = f"{v:.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def table(
    ctype: str, name: str, values: Sequence[str], rom: str, dims: str, per_line: int = 8
) -> str:
    """``static const ctype name[dims] ROM = {...};`` with ``per_line`` values a line."""
    lines = [
        "    " + ", ".join(values[i : i + per_line]) + "," for i in range(0, len(values), per_line)
    ]
    return f"static const {ctype} {name}[{dims}] {rom} = {{\n" + "\n".join(lines) + "\n};\n"


def rom_macros(upper: str, readers: Iterable[tuple[str, str, str]]) -> str:
    """The flash access macros: on AVR, const tables would be copied to the 2 KB of RAM at
    start-up unless they are PROGMEM, and PROGMEM data must be read with pgm_read_*; every
    other target reads const data in place. ``readers``: (suffix, C type, pgm_read_ call)."""
    avr = [f"#define {upper}_ROM PROGMEM"]
    other = [f"#define {upper}_ROM"]
    for suffix, ctype, reader in readers:
        avr.append(f"#define {upper}_{suffix}(p) (({ctype}){reader}(p))")
        other.append(f"#define {upper}_{suffix}(p) (*(p))")
    return (
        "/* Flash access. On AVR the tables must stay in flash (PROGMEM: an ATmega328P has 2 KB\n"
        " * of RAM) and be read with pgm_read_*; elsewhere const data is read in place. */\n"
        "#if defined(__AVR__)\n#include <avr/pgmspace.h>\n"
        + "\n".join(avr)
        + "\n#else\n"
        + "\n".join(other)
        + "\n#endif\n"
    )


def _architecture(spec: ModelSpec) -> str:
    parts = [" -> ".join(map(str, spec.sizes))]
    hidden = {layer.activation for layer in spec.layers[:-1]}
    if hidden:
        names = ", ".join(ACTIVATION_TITLES[h] for h in sorted(hidden))
        parts.append(f"{names} hidden layers")
    parts.append(f"{ACTIVATION_TITLES[spec.head]} output")
    if spec.batchnorm:
        parts.append("batch norm folded into the dense layers")
    if "leaky_relu" in hidden:
        parts.append(f"leaky slope {spec.layers[0].alpha:g}")
    return ", ".join(parts)


def _training(about: dict[str, str]) -> list[str]:
    """The training result the model file records, as comment lines (none if it says
    nothing)."""
    out = []
    what = []
    if "dataset" in about:
        what.append(f"trained on {about['dataset']}")
    if "epochs" in about:
        try:
            what.append(f"{float(about['epochs']):.4g} epochs")
        except ValueError:
            pass
    if "steps" in about:
        what.append(f"{about['steps']} steps")
    if "optimizer" in about:
        what.append(
            f"{about['optimizer']}"
            + (f" lr {about['lr']}" if "lr" in about else "")
            + (f", batch {about['batch_size']}" if "batch_size" in about else "")
        )
    if what:
        out.append("Training: " + ", ".join(what))
    loss = about.get("best_val_loss")
    if loss not in (None, "nan"):
        try:
            out.append(f"Best validation loss: {float(loss):.4f}")
        except ValueError:
            pass
    return out


def comment_lines(spec: ModelSpec) -> list[str]:
    """The lines describing the network, its input and output, and its training."""
    D, K = spec.sizes[0], spec.sizes[-1]
    lines = [f"Network: {_architecture(spec)}"]
    if spec.inputs == "pixels":
        how = f"{D} pixels 0..255 (the values ann predict takes), read as pixel / 255"
    else:
        how = f"{D} features as ann predict takes them (a CSV row without its label)"
    if spec.mean is not None:
        how += ", then standardised: (x - mean) / std"
    lines.append(f"Input: {how}")
    what = {
        "softmax": f"{K} class probabilities (softmax); predict returns the most probable class",
        "sigmoid": f"{K} independent probabilities (sigmoid); predict returns "
        + ("the largest one's index" if K > 1 else "1 when it is above 1/2, else 0"),
        "identity": f"{K} regression outputs; predict returns 0",
    }[spec.head]
    lines.append(f"Output: {what}")
    if spec.classes is not None:
        shown = ", ".join(spec.classes[:12]) + (", ..." if len(spec.classes) > 12 else "")
        lines.append(f"Classes: {shown}")
    return lines + _training(spec.about)


def opening_comment(title: str, body: Sequence[str]) -> str:
    """A /* ... */ block: the title line, then ``body`` (empty strings make blank lines)."""
    out = [f"/* {title}"]
    out += [" *" + (f" {line}" if line else "") for line in body]
    return "\n".join(out) + "\n */\n"


def generator_line(spec: ModelSpec, command: str) -> str:
    source = f" from {spec.source}" if spec.source else ""
    return f"Written by {command} (ann {__version__}){source}; do not edit by hand."


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8; anything but printable ASCII escaped)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # '?' escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def kernels(filename: str, prefix: str) -> str:
    """The C template ``ann/export/c/<filename>`` for a header of prefix ``prefix``: its
    opening comment (which describes the template) left out, prefix_ and PREFIX_ replaced."""
    text = (Path(__file__).parent / "c" / filename).read_text(encoding="utf-8")
    body = text[text.index("*/") + 2 :].lstrip("\n")
    body = body.replace("PREFIX_", prefix.upper() + "_").replace("prefix_", prefix + "_")
    return f"/* ---- the operations (ann/export/c/{filename}) ---- */\n\n" + body


def usage(spec: ModelSpec, prefix: str, float_input: str, u8_note: str) -> list[str]:
    """The "Use:" lines of a header's opening comment: the two entry points and their
    contract. ``float_input`` says how an image model's predict reads its floats, ``u8_note``
    what predict_u8 adds."""
    p, P = prefix, prefix.upper()
    pixels = spec.inputs == "pixels"
    call = f"{p}_predict_u8(pixels, scores);" if pixels else f"{p}_predict(row, scores);"
    lines = [
        "Use:",
        f'    #include "{p}.h"',
        f"    float scores[{P}_N_OUTPUTS];",
        f"    int k = {call}"
        + (f"   (pixels: {spec.sizes[0]} bytes, row by row)" if pixels else ""),
        "",
        f"int {p}_predict(const float *input, float *scores)",
        f"    input: the {P}_N_INPUTS raw values" + (f" ({float_input})" if pixels else ""),
        f"    writes the {P}_N_OUTPUTS scores unless scores is NULL, and returns the class",
        "    index (the first largest logit on ties).",
    ]
    if pixels:
        lines += [
            f"int {p}_predict_u8(const uint8_t *pixels, float *scores)",
            f"    the same from the pixel bytes themselves{u8_note}.",
        ]
    return lines


def assemble(
    spec: ModelSpec,
    prefix: str,
    comment: str,
    includes: Sequence[str],
    defines: Sequence[str],
    readers: Iterable[tuple[str, str, str]],
    sections: Sequence[str],
) -> str:
    """A whole header: ``comment``, the include guard, the #includes, PREFIX_N_INPUTS,
    PREFIX_N_OUTPUTS, PREFIX_MAX_WIDTH and ``defines``, the flash macros (``readers``), the
    class names, then ``sections`` (tables, operations, the network) in order."""
    p, P = prefix, prefix.upper()
    guard = f"{P}_H_INCLUDED"
    sizes = spec.sizes
    parts = [
        comment,
        f"#ifndef {guard}\n#define {guard}\n\n",
        "".join(f"#include <{name}>\n" for name in includes) + "\n",
        f"#define {P}_N_INPUTS {sizes[0]}\n#define {P}_N_OUTPUTS {sizes[-1]}\n",
        f"#define {P}_MAX_WIDTH {max(sizes[1:])} /* the widest layer after the input */\n",
        "".join(line + "\n" for line in defines) + "\n",
        rom_macros(P, readers),
        "\n",
    ]
    if spec.classes is not None:
        names = ", ".join(c_string(c) for c in spec.classes)
        parts.append(
            f"/* the name of each output */\n"
            f"static const char *const {p}_classes[{P}_N_OUTPUTS] = {{{names}}};\n\n"
        )
    parts += list(sections)
    parts.append(f"\n#endif /* {guard} */\n")
    return "".join(parts)
