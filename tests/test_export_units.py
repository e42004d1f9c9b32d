"""ann.export on small hand-made networks (no MNIST, a few seconds): every activation and head
each exporter knows, held to the float64 meaning of ann/export/_activations.py.

* the float32 C header, compiled with gcc -std=c99 -Wall -Wextra -Werror -pedantic, against
  the float64 forward pass;
* the int8 C header against the Python int8 arithmetic (bit for bit: classes and the float32
  bits of every score), the packed Python sums against the plain loops, and the int8 results
  against float64 (loosely: they are 8-bit);
* the ONNX file, run by ONNX Runtime, against float64 (skipped without onnx/onnxruntime);
* the pieces: the protobuf varint, C literals, the multiplier, the integer exponential;
* bad input: names, folders, calibration data.
"""

from __future__ import annotations

import math
import os
import random
import re
import struct
import subprocess
from pathlib import Path

import pytest
from export_helpers import as_float, bits, build, print_loop

import ann
from ann.export import _int8, c_float, c_int8
from ann.export import onnx as onnx_export
from ann.export._activations import HEADS, HIDDEN
from ann.export._c_common import c_float as c_literal
from ann.export._protobuf import varint
from ann.export._spec import ExportError, Layer, ModelSpec, forward, predict
from ann.export.quantization import quantize_multiplier, quantize_spec

# (head, outputs): sigmoid twice, as multi-label (K = 3) and as a binary classifier (K = 1)
HEAD_CASES = [("softmax", 3), ("sigmoid", 3), ("sigmoid", 1), ("identity", 2)]


def make_spec(hidden: str, head: str, K: int, inputs: str, seed: int) -> ModelSpec:
    """A D-5-4-K network with random weights (D = 6 features or 12 pixels)."""
    rng = random.Random(seed)
    D = 6 if inputs == "features" else 12
    sizes = [D, 5, 4, K]
    layers = []
    for l in range(3):
        n_in, n_out = sizes[l], sizes[l + 1]
        bound = 2.0 / math.sqrt(n_in)
        weight = [[rng.uniform(-bound, bound) for _ in range(n_in)] for _ in range(n_out)]
        bias = [rng.uniform(-0.5, 0.5) for _ in range(n_out)]
        layers.append(Layer(weight, bias, hidden if l < 2 else head, alpha=0.1))
    mean = [rng.uniform(-3, 3) for _ in range(D)]
    std = [rng.uniform(0.5, 4) for _ in range(D)]
    if inputs == "pixels":  # an image model with a standardisation: folded into layer 1
        mean, std = [m * 0.05 + 0.4 for m in mean], [s * 0.1 for s in std]
    return ModelSpec(
        layers, inputs=inputs, mean=mean, std=std, classes=[f"class {k}" for k in range(K)]
    )


def make_rows(spec: ModelSpec, n: int, seed: int) -> list:
    rng = random.Random(seed)
    D = spec.sizes[0]
    if spec.inputs == "pixels":
        return [bytes(rng.randrange(256) for _ in range(D)) for _ in range(n)]
    assert spec.mean is not None and spec.std is not None
    rows = []
    for _ in range(n):
        row = [rng.gauss(m, s) for m, s in zip(spec.mean, spec.std)]
        rows.append(struct.unpack(f"<{D}f", struct.pack(f"<{D}f", *row)))
    return rows


def cases(inputs: str) -> list[tuple[str, ModelSpec]]:
    out = []
    for h, hidden in enumerate(HIDDEN):
        for c, (head, K) in enumerate(HEAD_CASES):
            name = f"{inputs[0]}_{hidden}_{head}{K}"
            out.append((name, make_spec(hidden, head, K, inputs, seed=100 * h + c)))
    return out


def compile_and_run(
    tmp: Path, headers: dict[str, str], calls: list[str], D: int, data: bytes, pixels: bool
) -> list[str]:
    """A C program including ``headers`` (file name -> text) that reads rows of D inputs
    (uint8 pixels or float32 features) from stdin and, per row, runs each of ``calls`` (the
    function names) and prints "<class> <score bits...>"; returns the output lines."""
    for name, text in headers.items():
        (tmp / name).write_text(text)
    ctype = "uint8_t" if pixels else "float"
    body = "".join(
        print_loop(
            call,
            call.split("_predict")[0].upper() + "_N_OUTPUTS",
            "frow" if pixels and call.endswith("_predict") else "row",
        )
        for call in calls
    )
    includes = "".join(f'#include "{name}"\n' for name in headers)
    # the pixels as floats too, for predict(const float *)
    frow_declaration = f"\n    float frow[{D}];" if pixels else ""
    frow_fill = (
        f"        for (int i = 0; i < {D}; i++) frow[i] = (float)row[i];\n" if pixels else ""
    )
    source = f"""#include <stdio.h>
#include <stdint.h>
#include <string.h>
{includes}
int main(void)
{{
    {ctype} row[{D}];
    float scores[16];{frow_declaration}
    while (fread(row, sizeof row, 1, stdin) == 1) {{
{frow_fill}{body}
    }}
    return 0;
}}
"""
    exe = build(tmp, source)
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout
    return out.decode().splitlines()


def row_bytes(rows: list, pixels: bool) -> bytes:
    if pixels:
        return b"".join(rows)
    return b"".join(struct.pack(f"<{len(r)}f", *r) for r in rows)


@pytest.mark.parametrize("inputs", ["features", "pixels"])
def test_every_activation_and_head_in_c(tmp_path, inputs):
    """The float header agrees with float64 (1e-5), the int8 header with the Python int8
    arithmetic (bit for bit), for each hidden activation under each head."""
    specs = cases(inputs)
    pixels = inputs == "pixels"
    headers, calls, quantized = {}, [], {}
    for name, spec in specs:
        headers[f"{name}_f.h"] = c_float.render(spec, f"{name}_f")
        q = quantize_spec(spec, make_rows(spec, 200, seed=1), "200 random rows")
        quantized[name] = q
        headers[f"{name}_q.h"] = c_int8.render(q, f"{name}_q")
        for suffix in ("_f", "_q"):
            calls.append(f"{name}{suffix}_predict")
            if pixels:
                calls.append(f"{name}{suffix}_predict_u8")
    rows = make_rows(specs[0][1], 100, seed=2)
    D = specs[0][1].sizes[0]
    lines = compile_and_run(tmp_path, headers, calls, D, row_bytes(rows, pixels), pixels)
    per_row = len(calls)
    assert len(lines) == per_row * len(rows)
    for r, raw in enumerate(rows):
        got = iter(lines[r * per_row : (r + 1) * per_row])
        for name, spec in specs:
            cls, scores = predict(spec, list(raw))
            for _ in range(2 if pixels else 1):  # predict, then predict_u8: the same
                fields = next(got).split()
                c_scores = [as_float(h) for h in fields[1:]]
                assert int(fields[0]) == cls, (name, r)
                assert max(abs(a - b) for a, b in zip(c_scores, scores)) < 1e-5, (name, r)
            q_cls, q_scores, _ = quantized[name].run(raw)
            assert quantized[name].run(raw, naive=True) == (q_cls, q_scores, _)
            want = [str(q_cls)] + [bits(s) for s in q_scores]
            for _ in range(2 if pixels else 1):
                assert next(got).split() == want, (name, r)


@pytest.mark.parametrize("inputs", ["features", "pixels"])
def test_int8_follows_float64(inputs):
    """8 bits are not float64, but the int8 network must compute the same function: on
    held-out rows its scores stay close and its classes mostly agree. A wrong sign, zero
    point or table index would break either."""
    for name, spec in cases(inputs):
        q = quantize_spec(spec, make_rows(spec, 300, seed=3))
        rows = make_rows(spec, 200, seed=4)
        agree, error = 0, 0.0
        for raw in rows:
            cls, scores = predict(spec, list(raw))
            q_cls, q_scores, _ = q.run(raw)
            agree += q_cls == cls
            span = 1.0 if HEADS[spec.head].probabilities else max(1.0, max(map(abs, scores)))
            error += sum(abs(a - b) for a, b in zip(q_scores, scores)) / len(scores) / span
        assert agree / len(rows) >= 0.9, (name, agree)
        assert error / len(rows) < 0.03, (name, error / len(rows))


def test_onnx_every_activation_and_head():
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    for inputs in ("features", "pixels"):
        for name, spec in cases(inputs):
            data = onnx_export.model_bytes(spec)
            onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            rows = make_rows(spec, 50, seed=5)
            x = np.array([list(r) for r in rows], dtype=np.float32)
            outputs = session.run(None, {"input": x})
            for r, raw in enumerate(rows):
                cls, scores = predict(spec, list(raw))
                assert np.abs(outputs[0][r] - np.array(scores)).max() < 1e-5, name
                if spec.head != "identity":
                    assert int(outputs[1][r]) == cls, name
            assert len(outputs) == (1 if spec.head == "identity" else 2)


def test_every_table_covers_every_name():
    assert set(c_float._ACTIVATION_CALL) == set(HIDDEN)
    assert set(c_float._HEAD_BODY) == set(HEADS)
    assert set(c_int8._ACTIVATION_CALL) == set(HIDDEN)
    assert set(c_int8._HEAD_LINES) == set(HEADS)
    assert set(onnx_export._ACTIVATION_NODES) == set(HIDDEN)
    assert set(onnx_export._HEAD_NODES) == set(HEADS)


def test_c_template_constants_are_the_python_ones():
    """The int8 template's exponential (table and log2 e) is the one _int8 computes with."""
    text = (Path(_int8.__file__).parent / "c" / "int8_kernels.h").read_text()
    start = text.index("prefix_exp2[65]")
    table = [int(v) for v in re.findall(r"(\d+)u,", text[start : text.index("};", start)])]
    assert table == list(_int8.EXP2_TABLE)
    assert f"(uint64_t)d * {_int8.LOG2E_Q24}u + {1 << 23}u) >> 24" in text


def test_forward_matches_a_hand_computation():
    """One 2-2-2 network computed by hand: the reference everything else is held to."""
    spec = ModelSpec(
        [
            Layer([[1.0, -2.0], [0.5, 0.25]], [0.5, -1.0], "relu"),
            Layer([[2.0, 1.0], [-1.0, 3.0]], [0.0, 1.0], "softmax"),
        ],
        inputs="features",
    )
    (z1, a1), (z2, p) = forward(spec, [3.0, 1.0])
    assert z1 == [1.5, 0.75] and a1 == [1.5, 0.75]
    assert z2 == [3.75, 1.75]  # 2 x 1.5 + 0.75 + 0; -1.5 + 3 x 0.75 + 1
    assert p[0] == pytest.approx(1 / (1 + math.exp(-2.0)))


# ---- the pieces ---------------------------------------------------------------------------


def test_varint_examples_of_the_protobuf_documentation():
    assert varint(1) == b"\x01"
    assert varint(150) == b"\x96\x01"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten bytes


def test_c_float_literals_read_back_exactly():
    rng = random.Random(0)
    for _ in range(2000):
        v = rng.uniform(-1, 1) * 10 ** rng.randrange(-12, 12)
        text = c_literal(v)
        assert text.endswith("f") and any(c in text for c in ".e")
        # the nearest float32 to the decimal (what a C compiler makes of the literal) is v's
        assert _int8.f32(float(text[:-1])) == _int8.f32(v)
    assert c_literal(3.0) == "3.0f"


def test_multiplier_represents_the_ratio():
    rng = random.Random(0)
    for _ in range(2000):
        m = 10 ** rng.uniform(-9, 8)
        mult, shift = quantize_multiplier(m)
        assert 2**30 <= mult < 2**31 and 1 <= shift <= 62
        assert abs(mult / 2**shift - m) <= m * 2**-30
    with pytest.raises(ExportError):
        quantize_multiplier(2.0**31)


def test_shift_round_is_round_half_away_from_zero():
    for v in range(-70, 71):
        for shift in (1, 2, 3, 5):
            q = v / 2**shift
            want = math.floor(abs(q) + 0.5) * (1 if q >= 0 else -1)
            assert _int8.shift_round(v, shift) == want


def test_integer_exponential():
    for d in [0, 1, 100, 2**15, 2**16, 3 * 2**16 + 1234, 10 * 2**16, 16 * 2**16, 30 * 2**16]:
        want = 2**24 * math.exp(-d / 2**16)
        assert abs(_int8.exp_neg(d) - want) <= 2e-5 * want + 1, d
    assert _int8.exp_neg(2**32 - 1) == 0
    assert _int8.exp_neg(0) == 2**24


def test_packed_sums_equal_the_plain_loops():
    rng = random.Random(1)
    for n_in, n_out, offset in [(1, 1, 0), (7, 3, 128), (784, 20, 0), (300, 65, 128)]:
        weights = [rng.randrange(-127, 128) for _ in range(n_in * n_out)]
        packed = _int8.PackedLayer(weights, n_in, n_out, offset)
        for _ in range(5):
            u = bytes(rng.choice([0, 0, rng.randrange(256)]) for _ in range(n_in))
            x = [v - offset for v in u]
            assert packed(u) == _int8.dot_naive(x, weights, n_in, n_out)


# ---- bad input ----------------------------------------------------------------------------


@pytest.fixture
def net():
    return ann.Network([12, 5, 3], seed=1)


@pytest.mark.parametrize("name", ["2fast", "my-net", "", "int", "__x", "_Ab", "a b", "é"])
def test_names_that_are_not_c_identifiers(tmp_path, net, name):
    target = tmp_path / "out.h"
    with pytest.raises(ExportError, match="name"):
        ann.export_c(net, target, name=name)
    assert not target.exists()


def test_default_name_is_the_file_name(tmp_path, net):
    assert ann.export_c(net, tmp_path / "digits.h") == "digits"
    assert "static inline int digits_predict(" in (tmp_path / "digits.h").read_text()
    with pytest.raises(ExportError, match="--name"):
        ann.export_c(net, tmp_path / "my-model.h")
    assert not (tmp_path / "my-model.h").exists()


def test_missing_folder(tmp_path, net):
    for call in (
        lambda p: ann.export_c(net, p, name="m"),
        lambda p: ann.export_onnx(net, p),
    ):
        with pytest.raises(ExportError, match="does not exist"):
            call(tmp_path / "nowhere" / "m.h")
    assert not (tmp_path / "nowhere").exists()


def test_a_failed_export_leaves_the_old_file(tmp_path, net, monkeypatch):
    target = tmp_path / "m.h"
    target.write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("mid-way")

    monkeypatch.setattr(c_float, "render", broken)
    with pytest.raises(RuntimeError):
        ann.export_c(net, target)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["m.h"]


def test_calibration_data_must_fit(net):
    pixels = ann.Dataset(bytes(range(12)) * 10, list(range(3)) * 3 + [0], 12)
    q = ann.quantize(net, pixels, rows=5)
    assert q.rows == 5
    with pytest.raises(ExportError, match="only 10"):
        ann.quantize(net, pixels, rows=11)
    wide = ann.Dataset(bytes(13 * 4), [0, 1, 2, 0], 13)
    with pytest.raises(ExportError, match="takes 12 inputs"):
        ann.quantize(net, wide)
    floats = ann.Dataset([[0.5] * 12] * 4, [0, 1, 2, 0])
    with pytest.raises(ExportError, match="reads pixels"):
        ann.quantize(net, floats)
    with pytest.raises(ValueError, match="positive"):
        ann.quantize(net, pixels, rows=0)


def test_too_many_inputs_for_int32_accumulators():
    n_in = 70_000  # 70,000 x 255 x 127 > 2^31
    spec = ModelSpec([Layer([[0.001] * n_in, [-0.001] * n_in], [0.0, 0.0], "softmax")])
    with pytest.raises(ExportError, match="too many for int8"):
        quantize_spec(spec, [bytes(n_in)])
