"""Regenerate the seed corpus of model files in this folder.

    PYTHONPATH=. python tests/corpus/model/make_corpus.py

valid_*.safetensors must load with ann._modelfile.load_model; invalid_* must
raise ModelFileError (tests/test_modelfile.py checks both).  The files also
seed the fuzzer (tests/fuzz/fuzz_model.py).  Structural defects are built by
hand from bytes rather than with our writer, so they do not inherit its
assumptions.  valid_torch_writer.safetensors comes from the reference writer
(safetensors.torch) and is only regenerated where torch is installed.
"""

from __future__ import annotations

import json
import struct
from array import array
from pathlib import Path

from ann._modelfile import ModelFile, save_model

HERE = Path(__file__).resolve().parent
SIZES = [3, 2, 2]
META = {
    "format": "ann-mlp",
    "format_version": "1",
    "layers": json.dumps(SIZES),
    "activations": json.dumps(["relu", "softmax"]),
    "batchnorm": "false",
}


def raw(header, data: bytes = b"", length=None) -> bytes:
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(body) if length is None else length) + body + data


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def model_file(tensors: dict, meta: dict = META) -> bytes:
    """Tensors given as name -> (dtype, shape, bytes), laid out in name order."""
    header: dict = {"__metadata__": meta}
    data = b""
    for name in sorted(tensors):
        dtype, shape, blob = tensors[name]
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(blob)],
        }
        data += blob
    return raw(header, data)


GOOD = {
    "layers.0.weight": ("F32", [2, 3], f32(0.125, -0.25, 0.5, 1.0, -2.0, 0.0)),
    "layers.0.bias": ("F32", [2], f32(0.5, -0.5)),
    "layers.1.weight": ("F32", [2, 2], f32(1.5, -1.5, 0.75, 0.25)),
    "layers.1.bias": ("F32", [2], f32(0.0, 1.0)),
}


BN = dict(
    GOOD,
    **{
        "layers.0.bn.weight": ("F32", [2], f32(1.0, 2.0)),
        "layers.0.bn.bias": ("F32", [2], f32(0.0, -1.0)),
        "layers.0.bn.running_mean": ("F32", [2], f32(0.5, 0.25)),
        "layers.0.bn.running_var": ("F32", [2], f32(4.0, 0.0)),
    },
)
BN_META = dict(META, batchnorm="true")


def main() -> None:
    files = {}
    files["valid_hand_built.safetensors"] = model_file(GOOD)
    files["valid_extra_metadata.safetensors"] = model_file(
        GOOD, dict(META, epochs="7", best_val_loss="0.25")
    )
    files["valid_batchnorm.safetensors"] = model_file(BN, BN_META)
    files["invalid_bn_negative_var.safetensors"] = model_file(
        dict(BN, **{"layers.0.bn.running_var": ("F32", [2], f32(1.0, -1.0))}), BN_META
    )
    files["invalid_bn_without_flag.safetensors"] = model_file(BN)
    good = files["valid_hand_built.safetensors"]
    files["invalid_too_short.safetensors"] = b"\x10\x00\x00"
    files["invalid_truncated.safetensors"] = good[:-3]
    files["invalid_header_length_huge.safetensors"] = b"\xff" * 8 + good[8:]
    files["invalid_not_utf8.safetensors"] = raw(b'{"\xc3\x28": 1}')
    files["invalid_bad_json.safetensors"] = raw(b'{"layers.0.bias": {"dtype": "F32",')
    files["invalid_duplicate_key.safetensors"] = raw(
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
        b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
        b"x",
    )
    files["invalid_overlap.safetensors"] = raw(
        {
            "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
            "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
        },
        b"abcdef",
    )
    files["invalid_hole.safetensors"] = raw(
        {
            "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
            "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]},
        },
        b"abcdef",
    )
    files["invalid_trailing_bytes.safetensors"] = good + b"\x00\x00\x00\x00"
    files["invalid_unknown_dtype.safetensors"] = raw(
        {"a": {"dtype": "F24", "shape": [1], "data_offsets": [0, 3]}}, b"abc"
    )
    files["invalid_size_mismatch.safetensors"] = raw(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"abcd"
    )
    files["invalid_no_metadata.safetensors"] = model_file(GOOD, {})
    files["invalid_future_version.safetensors"] = model_file(GOOD, dict(META, format_version="2"))
    files["invalid_shape_chain.safetensors"] = model_file(
        dict(GOOD, **{"layers.1.weight": ("F32", [2, 1], f32(1.0, 2.0))})
    )
    files["invalid_extra_tensor.safetensors"] = model_file(
        dict(GOOD, **{"layers.1.running_mean": ("F32", [2], f32(0.0, 0.0))})
    )
    files["invalid_missing_tensor.safetensors"] = model_file(
        {k: v for k, v in GOOD.items() if k != "layers.1.bias"}
    )
    files["invalid_f64_weight.safetensors"] = model_file(
        dict(GOOD, **{"layers.1.weight": ("F64", [2, 2], struct.pack("<4d", 1, 2, 3, 4))})
    )
    files["invalid_nan_weight.safetensors"] = model_file(
        dict(GOOD, **{"layers.1.weight": ("F32", [2, 2], f32(1.0, float("nan"), 0.0, 0.0))})
    )
    for name, blob in files.items():
        (HERE / name).write_bytes(blob)

    # Our own writer's output, as a seed that is byte-for-byte what ann saves.
    w0 = array("f", [0.125, 1.0, -0.25, -2.0, 0.5, 0.0])  # ann's (n_in, n_out) layout
    save_model(
        HERE / "valid_ann_writer.safetensors",
        ModelFile(
            SIZES,
            [w0, array("f", [1.5, 0.75, -1.5, 0.25])],
            [array("f", [0.5, -0.5]), array("f", [0.0, 1.0])],
            {"epochs": "1"},
        ),
    )
    try:
        import torch
        from safetensors.torch import save_file as torch_save
    except ImportError:
        return
    tensors = {
        name: torch.tensor(struct.unpack(f"<{len(b) // 4}f", b)).reshape(shape)
        for name, (_, shape, b) in GOOD.items()
    }
    torch_save(tensors, str(HERE / "valid_torch_writer.safetensors"), metadata=META)


if __name__ == "__main__":
    main()
