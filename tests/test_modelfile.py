"""Tests of ann's model file schema (ann._modelfile) on top of safetensors."""

from __future__ import annotations

import io
import json
import math
import random
import struct
from array import array
from pathlib import Path

import pytest
from conftest import mutations_of
from hypothesis import given, settings
from hypothesis import strategies as st

import ann._safetensors as sft
from ann._errors import ModelFileError
from ann._modelfile import FORMAT_VERSION, ModelFile, _model_from_tensors, load_model, save_model
from ann._safetensors import load_file, save_file

CORPUS = Path(__file__).resolve().parent / "corpus" / "model"


def random_model(sizes, seed=0, metadata=None) -> ModelFile:
    rnd = random.Random(seed)
    weights = [
        array("f", [rnd.uniform(-1, 1) for _ in range(a * b)]) for a, b in zip(sizes, sizes[1:])
    ]
    biases = [array("f", [rnd.uniform(-1, 1) for _ in range(n)]) for n in sizes[1:]]
    return ModelFile(list(sizes), weights, biases, dict(metadata or {}))


def random_bn(sizes, seed=1):
    rnd = random.Random(seed)
    return [
        {
            "gamma": array("f", [rnd.uniform(0.5, 2) for _ in range(n)]),
            "beta": array("f", [rnd.uniform(-1, 1) for _ in range(n)]),
            "running_mean": array("f", [rnd.uniform(-1, 1) for _ in range(n)]),
            "running_var": array("f", [rnd.uniform(0.1, 3) for _ in range(n)]),
        }
        for n in sizes[1:-1]
    ]


def good_metadata(sizes, **changes) -> dict:
    meta = {
        "format": "ann-mlp",
        "format_version": "1",
        "layers": json.dumps(sizes),
        "activations": json.dumps(["relu"] * (len(sizes) - 2) + ["softmax"]),
        "batchnorm": "false",
    }
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def f32(values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def good_tensors(sizes) -> dict:
    """Parameters written by hand, in torch's [out, in] layout (not via save_model)."""
    tensors = {}
    for l, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        tensors[f"layers.{l}.weight"] = (
            "F32",
            (n_out, n_in),
            f32([0.01 * k for k in range(n_in * n_out)]),
        )
        tensors[f"layers.{l}.bias"] = ("F32", (n_out,), f32([0.5] * n_out))
    return tensors


# --------------------------------------------------------------------------
# Round trip and layout
# --------------------------------------------------------------------------


def test_round_trip_is_exact_and_keeps_metadata(tmp_path):
    model = random_model([784, 20, 7, 5, 10], metadata={"best_val_loss": "0.123", "epochs": "12"})
    # Awkward values must survive bit for bit.
    model.weights[0][0] = -0.0
    model.weights[0][1] = 3.4028234663852886e38
    model.weights[0][2] = 1.401298464324817e-45  # smallest subnormal float32
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    loaded = load_model(path)
    assert loaded.sizes == model.sizes
    assert [w.tobytes() for w in loaded.weights] == [w.tobytes() for w in model.weights]
    assert [b.tobytes() for b in loaded.biases] == [b.tobytes() for b in model.biases]
    assert all(w.typecode == "f" for w in loaded.weights + loaded.biases)
    assert loaded.metadata == {
        "best_val_loss": "0.123",
        "epochs": "12",
        "format": "ann-mlp",
        "format_version": "1",
        "layers": "[784, 20, 7, 5, 10]",
        "activations": '["relu", "relu", "relu", "softmax"]',
        "batchnorm": "false",
    }
    assert loaded.activations == ["relu", "relu", "relu", "softmax"]
    # Saving what was loaded reproduces the same bytes.
    save_model(tmp_path / "again.safetensors", loaded)
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


def test_weights_are_stored_transposed_like_torch_linear(tmp_path):
    # ann keeps W as (n_in, n_out): W[i][j] = w[i * n_out + j].  On disk the
    # tensor must be [n_out, n_in]: T[j][i] = t[j * n_in + i] = W[i][j].
    n_in, n_out = 3, 4
    w = array("f", [10 * i + j for i in range(n_in) for j in range(n_out)])
    model = ModelFile([n_in, n_out], [w], [array("f", [1, 2, 3, 4])])
    path = tmp_path / "m"
    save_model(path, model)
    tensors, _ = load_file(path)
    dtype, shape, data = tensors["layers.0.weight"]
    assert (dtype, shape) == ("F32", (n_out, n_in))
    t = struct.unpack(f"<{n_in * n_out}f", data)
    for i in range(n_in):
        for j in range(n_out):
            assert t[j * n_in + i] == 10 * i + j
    assert struct.unpack("<4f", tensors["layers.0.bias"][2]) == (1, 2, 3, 4)


@pytest.mark.parametrize("n_in, n_out", [(1, 1), (1, 5), (5, 1), (3, 7), (7, 3), (16, 16)])
def test_transpose_both_loop_directions(tmp_path, n_in, n_out):
    model = random_model([n_in, n_out], seed=n_in * 31 + n_out)
    save_model(tmp_path / "m", model)
    tensors, _ = load_file(tmp_path / "m")
    t = struct.unpack(f"<{n_in * n_out}f", tensors["layers.0.weight"][2])
    w = model.weights[0]
    assert all(t[j * n_in + i] == w[i * n_out + j] for i in range(n_in) for j in range(n_out))
    assert load_model(tmp_path / "m").weights[0] == w


def test_batchnorm_round_trip_and_layout(tmp_path):
    sizes = [5, 4, 3, 2]
    model = random_model(sizes, seed=5)
    model.batchnorm = random_bn(sizes)
    path = tmp_path / "bn.safetensors"
    save_model(path, model)
    tensors, meta = load_file(path)
    assert meta["batchnorm"] == "true"
    bn_names = {n for n in tensors if ".bn." in n}
    assert bn_names == {
        f"layers.{l}.bn.{k}"
        for l in (0, 1)
        for k in ("weight", "bias", "running_mean", "running_var")
    }
    assert tensors["layers.1.bn.running_var"][:2] == ("F32", (3,))
    assert struct.unpack("<3f", tensors["layers.1.bn.weight"][2]) == tuple(
        model.batchnorm[1]["gamma"]
    )
    loaded = load_model(path)
    assert loaded.batchnorm == model.batchnorm
    assert loaded.weights == model.weights and loaded.biases == model.biases
    assert load_model(tmp_path / "bn.safetensors").metadata["batchnorm"] == "true"
    # Without batch norm the field is None and no bn tensor is written.
    save_model(path, random_model(sizes))
    assert load_model(path).batchnorm is None
    assert not [n for n in load_file(path)[0] if ".bn." in n]


def test_single_layer_network_with_batchnorm_has_no_bn_tensors(tmp_path):
    model = random_model([4, 3])
    model.batchnorm = []
    save_model(tmp_path / "m", model)
    loaded = load_model(tmp_path / "m")
    assert loaded.batchnorm == [] and loaded.metadata["batchnorm"] == "true"


def test_custom_activations_are_kept(tmp_path):
    model = random_model([4, 3, 2], metadata={"activations": '["tanh", "identity"]'})
    save_model(tmp_path / "m", model)
    loaded = load_model(tmp_path / "m")
    assert loaded.activations == ["tanh", "identity"]


def test_loads_hand_built_file(tmp_path):
    sizes = [3, 2, 2]
    save_file(tmp_path / "m", good_tensors(sizes), good_metadata(sizes))
    model = load_model(tmp_path / "m")
    assert model.sizes == sizes
    # torch layout [out=2, in=3] holds 0.00..0.05 row-major; ann's (3, 2):
    # W[i][j] = T[j][i] = 0.01 * (j * 3 + i).
    expected = [0.01 * (j * 3 + i) for i in range(3) for j in range(2)]
    assert list(model.weights[0]) == pytest.approx(expected, abs=1e-7)
    assert list(model.biases[1]) == [0.5, 0.5]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=5), st.integers(0, 2**32))
def test_random_models_round_trip(tmp_path_factory, sizes, seed):
    model = random_model(sizes, seed)
    path = tmp_path_factory.mktemp("m") / "m.safetensors"
    save_model(path, model)
    loaded = load_model(path)
    assert loaded.sizes == sizes
    assert loaded.weights == model.weights and loaded.biases == model.biases


# --------------------------------------------------------------------------
# save_model refuses inconsistent models, writing nothing
# --------------------------------------------------------------------------


def _bad_models():
    base = lambda: random_model([3, 2, 2])  # noqa: E731
    m1 = base()
    m1.weights[0] = array("f", [0.0] * 5)
    m2 = base()
    m2.weights[1] = array("d", [0.0] * 4)
    m3 = base()
    m3.biases[0] = [0.0, 0.0]
    m4 = base()
    m4.weights[1][3] = float("nan")
    m5 = base()
    m5.biases[1][0] = float("-inf")
    m6 = base()
    m6.sizes = [3, 2]
    m7 = base()
    m7.sizes = [3, 0, 2]
    m8 = base()
    m8.metadata = {"layers": "[3, 5, 2]"}
    m9 = base()
    m9.metadata = {"format_version": "2"}
    m10 = base()
    m10.metadata = {"activations": '["relu"]'}
    m11 = base()
    m11.metadata = {"activations": '["relu", "swish"]'}
    m12 = base()
    m12.metadata = {"epochs": 3}
    m13 = base()
    m13.batchnorm = random_bn([3, 2, 2]) * 2
    m14 = base()
    m14.batchnorm = random_bn([3, 2, 2])
    del m14.batchnorm[0]["beta"]
    m15 = base()
    m15.batchnorm = random_bn([3, 2, 2])
    m15.batchnorm[0]["running_var"][1] = -1.0
    m16 = base()
    m16.batchnorm = random_bn([3, 2, 2])
    m16.batchnorm[0]["gamma"] = array("f", [1.0])
    m17 = base()
    m17.metadata = {"batchnorm": "true"}
    return [
        (m1, "weights\\[0\\] has 5 values, expected 6"),
        (m2, "array\\('f'\\)"),
        (m3, "array\\('f'\\), got list"),
        (m4, "weights\\[1\\]\\[3\\] is nan"),
        (m5, "biases\\[1\\]\\[0\\] is -inf"),
        (m6, "describe 1 layers"),
        (m7, "positive integers"),
        (m8, "contradicts"),
        (m9, "format_version"),
        (m10, "name 1 functions but the network has 2 layers"),
        (m11, "unknown activation 'swish'"),
        (m12, "str to str"),
        (m13, "list of 1 dicts"),
        (m14, "keys gamma, beta"),
        (m15, "negative variance"),
        (m16, "batchnorm\\[0\\]\\['gamma'\\] has 1 values, expected 2"),
        (m17, "metadata batchnorm is 'true', but this model needs 'false'"),
    ]


@pytest.mark.parametrize("model, words", _bad_models())
def test_save_rejects_inconsistent_model(tmp_path, model, words):
    path = tmp_path / "m"
    path.write_bytes(b"previous")
    with pytest.raises(ModelFileError, match=words):
        save_model(path, model)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


# --------------------------------------------------------------------------
# load_model: every schema violation is a ModelFileError naming the file
# --------------------------------------------------------------------------

S = [3, 2, 2]


def _replace(tensors, name, dtype=None, shape=None, data=None):
    old = tensors[name]
    out = dict(tensors)
    out[name] = (
        dtype or old[0],
        old[1] if shape is None else shape,
        old[2] if data is None else data,
    )
    return out


def _without(tensors, name):
    return {k: v for k, v in tensors.items() if k != name}


T = good_tensors(S)
BN_T = dict(
    T,
    **{
        "layers.0.bn.weight": ("F32", (2,), f32([1.0, 2.0])),
        "layers.0.bn.bias": ("F32", (2,), f32([0.0, -1.0])),
        "layers.0.bn.running_mean": ("F32", (2,), f32([0.5, 0.25])),
        "layers.0.bn.running_var": ("F32", (2,), f32([4.0, 0.0])),
    },
)
BAD_FILES = [
    ("no metadata", T, {}, "no 'format'"),
    ("other format", T, {"format": "pt"}, "not an ann model file: format is 'pt'"),
    ("missing format", T, good_metadata(S, format=None), "no 'format'"),
    (
        "future version",
        T,
        good_metadata(S, format_version="2"),
        "format_version '2' is not supported",
    ),
    ("missing version", T, good_metadata(S, format_version=None), "no 'format_version'"),
    ("missing layers", T, good_metadata(S, layers=None), "no 'layers'"),
    ("layers not json", T, good_metadata(S, layers="3,2,2"), "layers must be a list"),
    ("layers one entry", T, good_metadata(S, layers="[3]"), "at least 2 positive"),
    ("layers zero", T, good_metadata(S, layers="[3, 0, 2]"), "positive integers"),
    ("layers float", T, good_metadata(S, layers="[3, 2.0, 2]"), "positive integers"),
    ("layers bool", T, good_metadata(S, layers="[3, true, 2]"), "positive integers"),
    ("layers object", T, good_metadata(S, layers='{"a": 1}'), "positive integers"),
    ("missing activations", T, good_metadata(S, activations=None), "no 'activations'"),
    (
        "activations short",
        T,
        good_metadata(S, activations='["relu"]'),
        "name 1 functions but the network has 2 layers",
    ),
    (
        "activations unknown",
        T,
        good_metadata(S, activations='["relu", "gelu2"]'),
        "unknown activation 'gelu2'",
    ),
    ("activations not list", T, good_metadata(S, activations='"relu"'), "not a JSON list"),
    (
        "batchnorm true without bn tensors",
        T,
        good_metadata(S, batchnorm="true"),
        "missing tensor layers.0.bn.weight",
    ),
    ("batchnorm odd", T, good_metadata(S, batchnorm="no"), "batchnorm is 'no'"),
    (
        "bn tensors but batchnorm false",
        dict(T, **{"layers.0.bn.weight": ("F32", (2,), f32([1, 1]))}),
        good_metadata(S),
        "unexpected tensor 'layers.0.bn.weight'",
    ),
    (
        "bn on the output layer",
        dict(BN_T, **{"layers.1.bn.weight": ("F32", (2,), f32([1, 1]))}),
        good_metadata(S, batchnorm="true"),
        "unexpected tensor 'layers.1.bn.weight'",
    ),
    (
        "bn wrong shape",
        _replace(BN_T, "layers.0.bn.running_mean", shape=(1,), data=f32([0])),
        good_metadata(S, batchnorm="true"),
        "layers.0.bn.running_mean has shape \\[1\\] but layer 0 has 2 outputs",
    ),
    (
        "bn negative variance",
        _replace(BN_T, "layers.0.bn.running_var", data=f32([1, -0.5])),
        good_metadata(S, batchnorm="true"),
        "layers.0.bn.running_var\\[1\\] is -0.5",
    ),
    (
        "bn nan gamma",
        _replace(BN_T, "layers.0.bn.weight", data=f32([float("nan"), 1])),
        good_metadata(S, batchnorm="true"),
        "layers.0.bn.weight\\[0\\] is nan",
    ),
    (
        "bn f64",
        _replace(BN_T, "layers.0.bn.bias", dtype="F64", data=bytes(16)),
        good_metadata(S, batchnorm="true"),
        "layers.0.bn.bias has dtype F64",
    ),
    ("batchnorm missing", T, good_metadata(S, batchnorm=None), "no 'batchnorm'"),
    (
        "layers disagree with chain",
        T,
        good_metadata(S, layers="[3, 5, 2]"),
        "layers.0.weight has shape \\[2, 3\\] but layer 0 has 5 outputs",
    ),
    (
        "input size wrong",
        T,
        good_metadata(S, layers="[4, 2, 2]"),
        "layers.0.weight has shape \\[2, 3\\] but layer 0 takes 4 inputs",
    ),
    (
        "chain broken",
        _replace(T, "layers.1.weight", shape=(2, 1), data=f32([0, 0])),
        good_metadata(S),
        "layers.1.weight has shape \\[2, 1\\] but layer 1 takes 2 inputs",
    ),
    (
        "weight 1-D",
        _replace(T, "layers.1.weight", shape=(4,)),
        good_metadata(S),
        "layers.1.weight has shape \\[4\\] but a weight must be 2-D",
    ),
    (
        "bias wrong",
        _replace(T, "layers.0.bias", shape=(1, 2)),
        good_metadata(S),
        "layers.0.bias has shape \\[1, 2\\] but layer 0 has 2 outputs",
    ),
    (
        "missing weight",
        _without(T, "layers.1.weight"),
        good_metadata(S),
        "missing tensor layers.1.weight",
    ),
    (
        "missing bias",
        _without(T, "layers.0.bias"),
        good_metadata(S),
        "missing tensor layers.0.bias",
    ),
    (
        "too few layers",
        T,
        good_metadata(S, layers="[3, 2, 2, 2]", activations='["relu", "relu", "softmax"]'),
        "missing tensor layers.2.weight",
    ),
    (
        "extra tensor",
        dict(T, extra=("F32", (1,), f32([0]))),
        good_metadata(S),
        "unexpected tensor 'extra'",
    ),
    (
        "extra layer",
        dict(T, **{"layers.2.bias": ("F32", (1,), f32([0]))}),
        good_metadata(S),
        "unexpected tensor 'layers.2.bias'",
    ),
    (
        "leading zero",
        dict(_without(T, "layers.1.bias"), **{"layers.01.bias": T["layers.1.bias"]}),
        good_metadata(S),
        "unexpected tensor 'layers.01.bias'",
    ),
    (
        "f64 weight",
        _replace(T, "layers.0.weight", dtype="F64", data=bytes(48)),
        good_metadata(S),
        "layers.0.weight has dtype F64",
    ),
    (
        "nan weight",
        _replace(T, "layers.1.weight", data=f32([0, 0, 0, float("nan")])),
        good_metadata(S),
        "layers.1.weight\\[1, 1\\] is nan",
    ),
    (
        "inf bias",
        _replace(T, "layers.0.bias", data=f32([0, float("inf")])),
        good_metadata(S),
        "layers.0.bias\\[1\\] is inf",
    ),
]


@pytest.mark.parametrize(
    "tensors, metadata, words", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_load_rejects_schema_violation(tmp_path, tensors, metadata, words):
    path = tmp_path / "bad.safetensors"
    save_file(path, tensors, metadata)
    with pytest.raises(ModelFileError, match=words) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_structural_damage_is_reported_by_load_model(tmp_path):
    path = tmp_path / "m"
    save_model(path, random_model([3, 2]))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ModelFileError, match=f"^{path}: .*tensor"):
        load_model(path)
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent")


def test_huge_layer_count_in_metadata_fails_fast(tmp_path):
    sizes = [2] * 200_000
    meta = good_metadata(
        S, layers=json.dumps(sizes), activations=json.dumps(["relu"] * (len(sizes) - 1))
    )
    path = tmp_path / "m"
    save_file(path, {}, meta)
    with pytest.raises(ModelFileError, match="missing tensor layers.0.weight"):
        load_model(path)


# --------------------------------------------------------------------------
# Random input: only ModelFileError or a valid model
# --------------------------------------------------------------------------


def _model_or_error(blob: bytes) -> None:
    try:
        tensors, meta = sft._read(io.BytesIO(blob), len(blob), "mem", 1 << 20)
        model = _model_from_tensors(tensors, meta, "mem")
    except ModelFileError:
        return
    assert len(model.weights) == len(model.sizes) - 1
    assert all(math.isfinite(v) for w in model.weights for v in w)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_give_model_or_model_file_error(blob):
    _model_or_error(blob)


def _seed_file() -> bytes:
    buf = io.BytesIO()
    header, blobs = sft._build_header("mem", good_tensors(S), good_metadata(S))
    buf.write(header)
    for b in blobs:
        buf.write(b)
    return buf.getvalue()


_SEED = _seed_file()


@settings(max_examples=300, deadline=None)
@given(mutations_of(_SEED, 3))
def test_mutated_model_file_gives_model_or_error(blob):
    _model_or_error(blob)


def test_every_truncation_of_a_model_is_rejected(tmp_path):
    path = tmp_path / "cut"
    for n in range(len(_SEED)):
        path.write_bytes(_SEED[:n])
        with pytest.raises(ModelFileError):
            load_model(path)
    path.write_bytes(_SEED)
    assert load_model(path).sizes == S


# --------------------------------------------------------------------------
# Seed corpus: valid_* files load, invalid_* files are rejected
# --------------------------------------------------------------------------

CORPUS_FILES = sorted(CORPUS.glob("*.safetensors"))
# Why each invalid seed must be rejected (see corpus/model/make_corpus.py).
CORPUS_REASONS = {
    "invalid_bad_json": "not valid JSON",
    "invalid_bn_negative_var": "layers.0.bn.running_var\\[1\\] is -1.0",
    "invalid_bn_without_flag": "unexpected tensors 'layers.0.bn.bias'",
    "invalid_duplicate_key": "duplicate key 'a'",
    "invalid_extra_tensor": "unexpected tensor 'layers.1.running_mean'",
    "invalid_f64_weight": "layers.1.weight has dtype F64",
    "invalid_future_version": "format_version '2' is not supported",
    "invalid_header_length_huge": "exceeds the limit",
    "invalid_hole": "hole in the data section",
    "invalid_missing_tensor": "missing tensor layers.1.bias",
    "invalid_nan_weight": "layers.1.weight\\[0, 1\\] is nan",
    "invalid_no_metadata": "not an ann model file",
    "invalid_not_utf8": "not valid UTF-8",
    "invalid_overlap": "overlap",
    "invalid_shape_chain": "layers.1.weight has shape \\[2, 1\\] but layer 1 takes 2 inputs",
    "invalid_size_mismatch": "needs 8",
    "invalid_too_short": "too short",
    "invalid_trailing_bytes": "4 trailing bytes",
    "invalid_truncated": "run past",
    "invalid_unknown_dtype": "unknown dtype 'F24'",
}


def test_corpus_is_complete():
    invalid = {p.stem for p in CORPUS_FILES if p.name.startswith("invalid_")}
    assert invalid == set(CORPUS_REASONS)
    assert {p.stem for p in CORPUS_FILES if p.name.startswith("valid_")} >= {
        "valid_hand_built",
        "valid_ann_writer",
        "valid_torch_writer",
        "valid_batchnorm",
    }


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_file(path):
    if path.name.startswith("valid_"):
        model = load_model(path)
        assert model.metadata["format_version"] == FORMAT_VERSION
        assert len(model.weights) == len(model.sizes) - 1
    else:
        with pytest.raises(ModelFileError, match=CORPUS_REASONS[path.stem]):
            load_model(path)


def test_hand_built_ann_and_reference_writer_files_hold_the_same_network():
    # The same parameters written three ways: by hand from the spec, by
    # save_model, and by safetensors.torch (the reference writer, whose header
    # layout and padding differ from ours).  All must read back identically,
    # with no torch needed at test time.
    models = [
        load_model(CORPUS / f"{stem}.safetensors")
        for stem in ("valid_hand_built", "valid_ann_writer", "valid_torch_writer")
    ]
    for m in models:
        assert m.sizes == [3, 2, 2]
        # torch layout [[0.125, -0.25, 0.5], [1.0, -2.0, 0.0]] transposed to ann's (3, 2)
        assert list(m.weights[0]) == [0.125, 1.0, -0.25, -2.0, 0.5, 0.0]
        assert list(m.weights[1]) == [1.5, 0.75, -1.5, 0.25]
        assert list(m.biases[0]) == [0.5, -0.5] and list(m.biases[1]) == [0.0, 1.0]


# --------------------------------------------------------------------------
# Interop with the reference implementation (skipped without torch)
# --------------------------------------------------------------------------


def forward_logits(model: ModelFile, x):
    """Pure-Python MLP forward pass in inference mode, pre-softmax output.

    ann's layout: z_j = b_j + sum_i x_i * W[i * n_out + j]; a hidden layer
    then applies batch norm from running statistics if present,
    gamma (z - mean) / sqrt(var + 1e-5) + beta, and ReLU.
    """
    h = list(x)
    n_layers = len(model.sizes) - 1
    for l in range(n_layers):
        n_in, n_out = model.sizes[l], model.sizes[l + 1]
        w, b = model.weights[l], model.biases[l]
        z = [b[j] + sum(h[i] * w[i * n_out + j] for i in range(n_in)) for j in range(n_out)]
        if l == n_layers - 1:
            return z
        if model.batchnorm:
            bn = model.batchnorm[l]
            z = [
                bn["gamma"][j]
                * (z[j] - bn["running_mean"][j])
                / math.sqrt(bn["running_var"][j] + 1e-5)
                + bn["beta"][j]
                for j in range(n_out)
            ]
        h = [max(0.0, v) for v in z]
    return h


def _torch_mlp(torch, sizes, batchnorm=False):
    """nn.Sequential(Linear, [BatchNorm1d], ReLU, ..., Linear) and a map from
    our tensor names to its state_dict names."""
    layers, names = [], {}
    for l, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        names[f"layers.{l}.weight"] = f"{len(layers)}.weight"
        names[f"layers.{l}.bias"] = f"{len(layers)}.bias"
        layers.append(torch.nn.Linear(n_in, n_out))
        if l < len(sizes) - 2:
            if batchnorm:
                for k in ("weight", "bias", "running_mean", "running_var"):
                    names[f"layers.{l}.bn.{k}"] = f"{len(layers)}.{k}"
                layers.append(torch.nn.BatchNorm1d(n_out))
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers), names


def test_forward_pass_reference_on_known_numbers():
    # 2 -> 2 -> 1 by hand: h = relu([1*1 + 2*3, 1*2 + 2*(-4)] + [0, 1]) = relu([7, -5]) = [7, 0]
    # y = 7 * 0.5 + 0 * 9 - 1 = 2.5
    model = ModelFile(
        [2, 2, 1],
        [array("f", [1, 2, 3, -4]), array("f", [0.5, 9])],
        [array("f", [0, 1]), array("f", [-1])],
    )
    assert forward_logits(model, [1, 2]) == [2.5]


def test_torch_reads_our_file_and_computes_the_same_logits(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    safetensors = pytest.importorskip("safetensors")
    sizes = [12, 8, 5, 3]
    model = random_model(sizes, seed=7, metadata={"epochs": "4"})
    path = tmp_path / "m.safetensors"
    save_model(path, model)

    state = st_torch.load_file(str(path))
    assert set(state) == {f"layers.{l}.{k}" for l in range(3) for k in ("weight", "bias")}
    net, names = _torch_mlp(torch, sizes)
    net.load_state_dict({names[k]: v for k, v in state.items()})
    rnd = random.Random(3)
    for _ in range(5):
        x = [rnd.uniform(-2, 2) for _ in range(sizes[0])]
        with torch.no_grad():
            got = net(torch.tensor([x], dtype=torch.float32))[0].tolist()
        assert got == pytest.approx(forward_logits(model, x), rel=1e-4, abs=1e-5)

    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "ann-mlp" and meta["epochs"] == "4"
    assert json.loads(meta["layers"]) == sizes


def test_we_read_files_written_by_the_reference_writer(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    sizes = [6, 5, 4]
    torch.manual_seed(0)
    net, names = _torch_mlp(torch, sizes)
    state = {ours: net.state_dict()[theirs].contiguous() for ours, theirs in names.items()}
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(state, str(path), metadata=good_metadata(sizes, note="from torch"))
    model = load_model(path)
    assert model.sizes == sizes and model.metadata["note"] == "from torch"
    for l in range(2):
        expected = state[f"layers.{l}.weight"].t().contiguous().flatten().tolist()
        assert list(model.weights[l]) == expected
        assert list(model.biases[l]) == state[f"layers.{l}.bias"].tolist()
    x = [0.3, -1.0, 2.0, 0.5, 0.0, -0.7]
    with torch.no_grad():
        got = net(torch.tensor([x]))[0].tolist()
    assert got == pytest.approx(forward_logits(model, x), rel=1e-4, abs=1e-5)


def test_batchnorm_model_matches_torch_in_both_directions(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    sizes = [6, 5, 4, 3]
    x = [0.3, -1.0, 2.0, 0.5, 0.0, -0.7]

    # ann -> torch
    model = random_model(sizes, seed=11)
    model.batchnorm = random_bn(sizes, seed=12)
    save_model(tmp_path / "ours.safetensors", model)
    net, names = _torch_mlp(torch, sizes, batchnorm=True)
    state = st_torch.load_file(str(tmp_path / "ours.safetensors"))
    result = net.load_state_dict({names[k]: v for k, v in state.items()}, strict=False)
    assert result.unexpected_keys == []
    assert all(k.endswith("num_batches_tracked") for k in result.missing_keys)
    net.eval()
    with torch.no_grad():
        got = net(torch.tensor([x]))[0].tolist()
    assert got == pytest.approx(forward_logits(model, x), rel=1e-4, abs=1e-5)

    # torch -> ann, with running statistics that are not the defaults
    torch.manual_seed(1)
    net, names = _torch_mlp(torch, sizes, batchnorm=True)
    net.train()
    with torch.no_grad():
        net(torch.randn(32, sizes[0]) * 3 + 1)  # updates running mean/var
    net.eval()
    theirs = net.state_dict()
    st_torch.save_file(
        {ours: theirs[t].contiguous() for ours, t in names.items()},
        str(tmp_path / "torch.safetensors"),
        metadata=good_metadata(sizes, batchnorm="true"),
    )
    loaded = load_model(tmp_path / "torch.safetensors")
    assert list(loaded.batchnorm[1]["running_var"]) == theirs["4.running_var"].tolist()
    with torch.no_grad():
        got = net(torch.tensor([x]))[0].tolist()
    assert got == pytest.approx(forward_logits(loaded, x), rel=1e-4, abs=1e-5)
