"""Tests of the generic safetensors reader/writer (ann._safetensors).

Malformed files are built by hand here, byte by byte, so the reader is checked
against the format's definition rather than against our own writer.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import sys
from pathlib import Path

import pytest
from conftest import mutations_of, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ann._files as files
import ann._safetensors as sft
from ann._errors import ModelFileError
from ann._safetensors import DTYPE_SIZES, load_file, save_file

ROOT = Path(__file__).resolve().parents[1]


def build(header, data: bytes = b"", length: int | None = None) -> bytes:
    """A file from a header (dict -> JSON, or raw bytes) and a data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    return struct.pack("<Q", n) + raw + data


def entry(dtype: str, shape, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def write(tmp_path: Path, blob: bytes, name: str = "f.safetensors") -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def parse_bytes(blob: bytes, max_header: int = 100 * 1024 * 1024):
    """The reader without a file: what the fuzzer calls."""
    return sft._read(io.BytesIO(blob), len(blob), "mem", max_header)


# --------------------------------------------------------------------------
# Round trips and the exact bytes written
# --------------------------------------------------------------------------


def sample_tensors():
    return {
        "f32": ("F32", (2, 3), struct.pack("<6f", 1.5, -2.0, 0.0, 3.25, -0.0, 1e-3)),
        "f64": ("F64", (2,), struct.pack("<2d", 1e300, -4.5)),
        "i32": ("I32", (3,), struct.pack("<3i", -1, 2**31 - 1, 0)),
        "i64": ("I64", (1, 1), struct.pack("<q", -(2**63))),
        "u8": ("U8", (5,), bytes([0, 1, 2, 254, 255])),
        "scalar": ("F32", (), struct.pack("<f", 7.0)),
        "empty": ("F32", (0, 4), b""),
    }


def test_round_trip_values_shapes_and_metadata(tmp_path):
    path = tmp_path / "t.safetensors"
    tensors = sample_tensors()
    metadata = {"note": "héllo ✓", "epochs": "3", "empty": ""}
    save_file(path, tensors, metadata)
    loaded, meta = load_file(path)
    assert meta == metadata
    assert set(loaded) == set(tensors)
    for name, (dtype, shape, data) in tensors.items():
        got_dtype, got_shape, got_data = loaded[name]
        assert (got_dtype, got_shape) == (dtype, shape)
        assert bytes(got_data) == data


def test_exact_bytes_of_a_tiny_file(tmp_path):
    # Sorted keys, compact JSON, spaces up to a multiple of 8 (spec facts).
    path = tmp_path / "t.safetensors"
    save_file(path, {"b": ("U8", (2,), b"\x01\x02"), "a": ("I32", (1,), b"\x05\x00\x00\x00")})
    text = (
        '{"a":{"data_offsets":[0,4],"dtype":"I32","shape":[1]},'
        '"b":{"data_offsets":[4,6],"dtype":"U8","shape":[2]}}'
    )
    padded = text + " " * (-len(text) % 8)
    expected = struct.pack("<Q", len(padded)) + padded.encode() + b"\x05\x00\x00\x00\x01\x02"
    assert path.read_bytes() == expected


def test_output_is_deterministic_and_aligned(tmp_path):
    tensors = sample_tensors()
    save_file(tmp_path / "a", tensors, {"x": "1", "y": "2"})
    save_file(tmp_path / "b", dict(reversed(list(tensors.items()))), {"y": "2", "x": "1"})
    a = (tmp_path / "a").read_bytes()
    assert a == (tmp_path / "b").read_bytes()
    (n,) = struct.unpack("<Q", a[:8])
    assert (8 + n) % 8 == 0
    text = a[8 : 8 + n].decode()
    json_part = text.rstrip(" ")
    assert json_part.endswith("}") and len(text) - len(json_part) < 8
    json.loads(json_part)


def test_accepts_memoryview_bytearray_and_array(tmp_path):
    from array import array

    vals = array("f", [1.0, 2.0])
    path = tmp_path / "t"
    save_file(
        path,
        {
            "a": ("F32", (2,), vals),
            "b": ("U8", (1,), bytearray(b"\x09")),
            "c": ("U8", (1,), memoryview(b"\x08")),
        },
    )
    loaded, _ = load_file(path)
    assert bytes(loaded["a"][2]) == struct.pack("<2f", 1.0, 2.0) or sys.byteorder == "big"
    assert bytes(loaded["b"][2]) == b"\x09" and bytes(loaded["c"][2]) == b"\x08"


def test_reads_pretty_json_with_padding_and_any_entry_order(tmp_path):
    # A header as another writer might produce it: indented, data order not
    # name order, metadata in the middle, space padding.
    header = {"z": entry("U8", [2], 0, 2), "__metadata__": {"k": "v"}, "a": entry("U8", [1], 2, 3)}
    raw = json.dumps(header, indent=2).encode() + b"       "
    path = write(tmp_path, build(raw, b"\x01\x02\x03"))
    tensors, meta = load_file(path)
    assert meta == {"k": "v"}
    assert bytes(tensors["z"][2]) == b"\x01\x02" and bytes(tensors["a"][2]) == b"\x03"


def test_empty_file_of_tensors_and_zero_size_tensors(tmp_path):
    path = write(
        tmp_path, build({"e": entry("F64", [3, 0], 0, 0), "s": entry("U8", [], 0, 1)}, b"\x07")
    )
    tensors, meta = load_file(path)
    assert meta == {}
    assert tensors["e"][1] == (3, 0) and bytes(tensors["e"][2]) == b""
    assert tensors["s"][1] == () and bytes(tensors["s"][2]) == b"\x07"


def test_dtype_sizes_cover_the_required_types():
    assert {k: DTYPE_SIZES[k] for k in ("F32", "F64", "I32", "I64", "U8")} == {
        "F32": 4,
        "F64": 8,
        "I32": 4,
        "I64": 8,
        "U8": 1,
    }


# --------------------------------------------------------------------------
# Bad arguments to save_file
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tensors, metadata, words",
    [
        ({"a": ("F32", (2,), b"\x00" * 7)}, None, "7 bytes given"),
        ({"a": ("F17", (1,), b"\x00")}, None, "unknown dtype"),
        ({"a": ("U8", (-1,), b"")}, None, "non-negative"),
        ({"__metadata__": ("U8", (1,), b"\x00")}, None, "cannot save a tensor named"),
        ({"": ("U8", (1,), b"\x00")}, None, "cannot save a tensor named"),
        ({}, {"k": 3}, "metadata must map str to str"),
        ({"\ud800": ("U8", (1,), b"\x00")}, None, "cannot encode header"),
    ],
)
def test_save_rejects_bad_arguments_and_writes_nothing(tmp_path, tensors, metadata, words):
    path = tmp_path / "t"
    with pytest.raises(ModelFileError, match=words):
        save_file(path, tensors, metadata)
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_folder_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot create"):
        save_file(tmp_path / "nope" / "t", {"a": ("U8", (1,), b"\x00")})


# --------------------------------------------------------------------------
# Atomic save
# --------------------------------------------------------------------------

OLD = {"a": ("U8", (3,), b"old")}
NEW = {"a": ("F64", (1000,), b"\x00" * 8000)}


def _old_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "model.safetensors"
    save_file(path, OLD, {"v": "old"})
    return path, path.read_bytes()


def _assert_old_file_alone(path: Path, before: bytes) -> None:
    """The target still holds its old bytes, and no temporary file is left beside it."""
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "call, error, message",
    [
        ("replace", PermissionError(13, "Permission denied"), "Permission denied"),
        ("fsync", OSError(28, "No space left on device"), "No space left"),
    ],
    ids=["rename", "fsync"],
)
def test_failed_rename_or_fsync_keeps_old_file_and_removes_temp(
    tmp_path, monkeypatch, call, error, message
):
    path, before = _old_file(tmp_path)

    def broken(*args):
        raise error

    monkeypatch.setattr(sft.os, call, broken)
    with pytest.raises(ModelFileError, match=message):
        save_file(path, NEW)
    _assert_old_file_alone(path, before)


def test_interrupt_mid_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path, before = _old_file(tmp_path)
    real_write_all = files._write_all
    calls = []

    def write_then_interrupt(out, data):
        calls.append(1)
        if len(calls) == 2:  # header written, then Ctrl-C during the data
            real_write_all(out, bytes(memoryview(data)[:100]))
            raise KeyboardInterrupt
        real_write_all(out, data)

    monkeypatch.setattr(files, "_write_all", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_file(path, NEW)
    assert len(calls) == 2
    _assert_old_file_alone(path, before)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_process_killed_before_rename_leaves_old_file(tmp_path):
    # A real crash: the child writes and fsyncs the new file, then dies by
    # SIGKILL where os.replace would run.  No cleanup code can run, yet the
    # target must still be the old, complete file.
    path, before = _old_file(tmp_path)
    child = (
        "import os, signal, sys\n"
        "import ann._safetensors as s\n"
        "s.os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"s.save_file({str(path)!r}, {{'a': ('F64', (1000,), bytes(8000))}})\n"
    )
    proc = run_python(child, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.safetensors"]
    # The orphan is a hidden, recognisable temp file, never the target name.
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.safetensors.")
    assert leftovers[0].endswith(".tmp")


def test_successful_save_replaces_and_leaves_no_temp(tmp_path):
    path, _ = _old_file(tmp_path)
    save_file(path, NEW)
    tensors, meta = load_file(path)
    assert tensors["a"][0] == "F64" and meta == {}
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_file(tmp_path / "t", OLD)
    finally:
        os.umask(old)
    assert (tmp_path / "t").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------
# Malformed files
# --------------------------------------------------------------------------

U8_2 = entry("U8", [2], 0, 2)

MALFORMED = [
    ("empty file", b"", "too short"),
    ("7 bytes", b"\x01" * 7, "too short"),
    ("length past end", struct.pack("<Q", 50) + b"{}", "runs past the end"),
    ("length 2**64-1", b"\xff" * 8 + b"{}", "exceeds the limit"),
    ("zero-length header", build(b""), "not valid JSON"),
    ("not utf-8", build(b'{"\xff":1}'), "not valid UTF-8"),
    ("truncated json", build(b'{"a":'), "not valid JSON"),
    ("json array", build(b"[1, 2]"), "not an object"),
    ("json string", build(b'"x"'), "not an object"),
    ("NaN constant", build(b'{"a": NaN}'), "not valid JSON"),
    ("deep nesting", build(b"[" * 100000), "header"),
    ("entry not object", build({"a": 1}), "entry is not an object"),
    (
        "entry missing offsets",
        build({"a": {"dtype": "U8", "shape": [2]}}, b"ab"),
        "missing data_offsets",
    ),
    ("entry extra key", build({"a": dict(U8_2, extra=1)}, b"ab"), "unexpected key 'extra'"),
    ("unknown dtype", build({"a": entry("F31", [2], 0, 2)}, b"ab"), "unknown dtype 'F31'"),
    ("dtype not str", build({"a": entry(4, [2], 0, 2)}, b"ab"), "unknown dtype"),
    ("shape negative", build({"a": entry("U8", [-2], 0, 2)}, b"ab"), "shape"),
    ("shape float", build({"a": entry("U8", [2.0], 0, 2)}, b"ab"), "shape"),
    ("shape bool", build({"a": entry("U8", [True, 2], 0, 2)}, b"ab"), "shape"),
    ("shape not list", build({"a": entry("U8", 2, 0, 2)}, b"ab"), "shape"),
    (
        "offsets three",
        build({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 1, 2]}}, b"ab"),
        "data_offsets",
    ),
    (
        "offsets float",
        build({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2.0]}}, b"ab"),
        "data_offsets",
    ),
    ("offsets negative", build({"a": entry("U8", [0], -1, -1)}, b""), "data_offsets"),
    ("offsets reversed", build({"a": entry("U8", [2], 2, 0)}, b"ab"), "end before they begin"),
    ("size mismatch", build({"a": entry("F32", [2], 0, 4)}, b"abcd"), "needs 8"),
    ("huge shape", build({"a": entry("F32", [2**62, 2**62], 0, 4)}, b"abcd"), "needs"),
    ("offsets past data", build({"a": entry("U8", [2], 1, 3)}, b"ab"), "run past"),
    (
        "overlap",
        build({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 2, 6)}, b"abcdef"),
        "overlap",
    ),
    ("same range twice", build({"a": U8_2, "b": U8_2}, b"ab"), "overlap"),
    ("hole", build({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 4, 6)}, b"abcdef"), "hole"),
    ("hole at start", build({"a": entry("U8", [2], 2, 4)}, b"abcd"), "hole"),
    ("trailing bytes", build({"a": U8_2}, b"abcd"), "2 trailing bytes"),
    ("data but no tensors", build({}, b"x"), "1 trailing bytes"),
    ("metadata list", build({"__metadata__": ["a"]}), "__metadata__"),
    ("metadata int value", build({"__metadata__": {"a": 1}}), "__metadata__"),
    ("metadata nested", build({"__metadata__": {"a": {"b": "c"}}}), "__metadata__"),
    (
        "duplicate tensor",
        build(
            b'{"a":' + json.dumps(U8_2).encode() + b',"a":' + json.dumps(U8_2).encode() + b"}",
            b"ab",
        ),
        "duplicate key 'a'",
    ),
    (
        "duplicate field",
        build(b'{"a":{"dtype":"U8","dtype":"U8","shape":[2],"data_offsets":[0,2]}}', b"ab"),
        "duplicate key 'dtype'",
    ),
    ("duplicate metadata", build(b'{"__metadata__":{"k":"1","k":"2"}}'), "duplicate key 'k'"),
]


@pytest.mark.parametrize("blob, words", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_file_is_rejected_with_named_problem(tmp_path, blob, words):
    path = write(tmp_path, blob)
    with pytest.raises(ModelFileError, match=words) as info:
        load_file(path)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ")
    assert "\n" not in str(err)


def test_header_limit_is_configurable(tmp_path):
    path = write(tmp_path, build({"a": U8_2}, b"ab"))
    load_file(path)  # fine with the default limit
    with pytest.raises(ModelFileError, match="exceeds the limit of 16 bytes"):
        load_file(path, max_header=16)


def test_error_offsets_point_at_the_problem(tmp_path):
    bad_utf8 = build(b'{"ab\xffc":1}')
    with pytest.raises(ModelFileError) as info:
        load_file(write(tmp_path, bad_utf8))
    assert info.value.offset == 8 + 4 and "(at byte 12)" in str(info.value)

    bad_json = build('{"é": tru}'.encode())  # "tru" is char 6 but byte 7: é takes 2
    with pytest.raises(ModelFileError) as info:
        load_file(write(tmp_path, bad_json))
    assert info.value.offset == 8 + 7

    hole = build({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 4, 6)}, b"abcdef")
    with pytest.raises(ModelFileError) as info:
        load_file(write(tmp_path, hole))
    n = struct.unpack("<Q", hole[:8])[0]
    assert info.value.offset == 8 + n + 2


def test_long_hostile_names_are_cut_in_messages(tmp_path):
    name = "x" * 100000
    with pytest.raises(ModelFileError) as info:
        load_file(write(tmp_path, build({name: entry("Q", [1], 0, 1)}, b"a")))
    assert len(str(info.value)) < 400


def test_missing_file_directory_and_fifo(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_file(tmp_path / "absent.safetensors")
    with pytest.raises(ModelFileError, match="is a directory, not a model file"):
        load_file(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        with pytest.raises(ModelFileError, match="not a regular file"):
            load_file(fifo)  # must not block waiting for a writer


def test_every_truncation_of_a_valid_file_is_rejected(tmp_path):
    path = tmp_path / "full"
    save_file(path, {"w": ("F32", (2, 3), bytes(range(24))), "b": ("U8", (3,), b"xyz")}, {"k": "v"})
    blob = path.read_bytes()
    load_file(path)
    cut = tmp_path / "cut"
    for n in range(len(blob)):
        cut.write_bytes(blob[:n])
        with pytest.raises(ModelFileError):
            load_file(cut)


def test_a_longer_valid_file_with_an_appended_byte_is_rejected(tmp_path):
    path = tmp_path / "full"
    save_file(path, {"b": ("U8", (3,), b"xyz")})
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ModelFileError, match="trailing"):
        load_file(path)


# --------------------------------------------------------------------------
# Property tests: any input is either valid or a ModelFileError
# --------------------------------------------------------------------------


def _valid_or_model_file_error(blob: bytes) -> None:
    try:
        tensors, meta = parse_bytes(blob)
    except ModelFileError as err:
        assert str(err).startswith("mem: ")
        return
    # Whatever was accepted must really tile the data section.
    n = struct.unpack("<Q", blob[:8])[0]
    assert sum(len(t[2]) for t in tensors.values()) == len(blob) - 8 - n
    assert all(isinstance(v, str) for v in meta.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(blob):
    _valid_or_model_file_error(blob)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_header_text_never_crashes(raw):
    _valid_or_model_file_error(build(raw, b"\x00" * 8))


_SEED = build(
    {"__metadata__": {"k": "v"}, "a": entry("F32", [2], 0, 8), "b": entry("U8", [3], 8, 11)},
    bytes(11),
)


@settings(max_examples=300, deadline=None)
@given(mutations_of(_SEED, 4))
def test_mutated_valid_file_never_crashes(blob):
    _valid_or_model_file_error(blob)


tensor_strategy = st.tuples(
    st.sampled_from(sorted(DTYPE_SIZES)),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda s: s != "__metadata__"),
        tensor_strategy,
        max_size=5,
    ),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.randoms(use_true_random=False),
)
def test_random_tensors_round_trip(tmp_path_factory, specs, metadata, rnd):
    tensors = {}
    for name, (dtype, shape) in specs.items():
        size = DTYPE_SIZES[dtype]
        for d in shape:
            size *= d
        tensors[name] = (dtype, shape, bytes(rnd.getrandbits(8) for _ in range(size)))
    path = tmp_path_factory.mktemp("rt") / "t.safetensors"
    try:
        save_file(path, tensors, metadata)
    except ModelFileError as err:  # lone surrogates cannot be UTF-8
        assert "encode" in str(err)
        return
    loaded, meta = load_file(path)
    assert meta == metadata
    assert {k: (v[0], v[1], bytes(v[2])) for k, v in loaded.items()} == tensors
