"""Every input a user controls, given wrong, through the real `ann` command: one line on stderr
naming the file and the problem, a non-zero exit, no traceback. Run as a table so the list of
bad inputs and their messages can be read in one place (and printed with -s)."""

from __future__ import annotations

import gzip
import struct

import pytest
from conftest import run_ann

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(dims, data=None, type_code=0x08):
    header = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    size = 1
    for d in dims:
        size *= d
    return header + (bytes(size) if data is None else data)


def good_set():
    """Small, valid IDX contents: 20 train and 10 test 28x28 images."""
    return {
        "train_images": idx_bytes((20, 28, 28)),
        "train_labels": idx_bytes((20,), bytes(range(10)) * 2),
        "test_images": idx_bytes((10, 28, 28)),
        "test_labels": idx_bytes((10,), bytes(range(10))),
    }


def make_folder(tmp_path, **overrides):
    files = good_set()
    files.update(overrides)
    for key, content in files.items():
        if content is not None:
            (tmp_path / NAMES[key]).write_bytes(content)
    return tmp_path


def gz(data):
    return gzip.compress(data, mtime=0)


CASES = {
    "wrong magic": (
        dict(train_images=b"\x01\x02" + idx_bytes((20, 28, 28))[2:]),
        "train-images",
        "magic",
    ),
    "unknown type code": (
        dict(train_labels=idx_bytes((20,), bytes(20), type_code=0x07)),
        "train-labels",
        "type",
    ),
    "zero dimensions": (dict(test_labels=bytes([0, 0, 8, 0])), "t10k-labels", "0 dimensions"),
    "too many dimensions": (
        dict(test_images=bytes([0, 0, 8, 9]) + bytes(36)),
        "t10k-images",
        "dimensions",
    ),
    "header sizes that overflow": (
        dict(train_images=bytes([0, 0, 8, 3]) + b"\xff" * 12),
        "train-images",
        "limit",
    ),
    "truncated file": (
        dict(train_images=idx_bytes((20, 28, 28))[:-7]),
        "train-images",
        "truncated",
    ),
    "trailing bytes": (
        dict(test_labels=idx_bytes((10,), bytes(10)) + b"xx"),
        "t10k-labels",
        "trailing",
    ),
    "empty file": (dict(train_labels=b""), "train-labels", "empty"),
    "image/label count mismatch": (
        dict(test_labels=idx_bytes((9,), bytes(9))),
        "t10k-labels",
        "must match",
    ),
    "label outside 0-9": (
        dict(train_labels=idx_bytes((20,), bytes([3] * 19 + [12]))),
        "train-labels",
        "12",
    ),
    "train and test images of different sizes": (
        dict(test_images=idx_bytes((10, 20, 20))),
        "t10k-images",
        "20x20",
    ),
    "missing file": (dict(test_images=None), "t10k-images", ""),
    "corrupt gzip": (
        dict(
            train_images=gz(idx_bytes((20, 28, 28)))[:30]
            + b"\x00" * 40
            + gz(idx_bytes((20, 28, 28)))[70:]
        ),
        "train-images",
        "gzip",
    ),
    "truncated gzip": (
        dict(train_labels=gz(idx_bytes((20,), bytes(20)))[:-12]),
        "train-labels",
        "gzip",
    ),
    "gzip bomb past the declared size": (
        dict(train_labels=gz(idx_bytes((20,), bytes(20)) + bytes(50_000_000))),
        "train-labels",
        "trailing",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_folder(tmp_path, case):
    overrides, file_part, needle = CASES[case]
    folder = make_folder(tmp_path, **overrides)
    out = run_ann("train", "--data", str(folder), "--epochs", "1", "--quiet")
    assert out.returncode == 1, (case, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert file_part in lines[0] and needle in lines[0], lines[0]
    print(f"\n{case}: {lines[0]}")


def test_good_small_folder_trains(tmp_path):
    """The control: the same folder without damage trains (so the cases above fail for their
    damage, not for something else)."""
    out = run_ann(
        "train",
        "--data",
        str(make_folder(tmp_path)),
        "--epochs",
        "1",
        "--quiet",
        "--val-fraction",
        "0.25",
    )
    assert out.returncode == 0, out.stderr


def model_cases(tmp_path):
    """(name, bytes of a damaged model file, expected word) built from a real saved model."""
    import ann
    from ann import _safetensors

    net = ann.Network([6, 4, 3])
    path = tmp_path / "ok.safetensors"
    net.save(path)
    good = path.read_bytes()
    header_len = struct.unpack("<Q", good[:8])[0]
    tensors, meta = _safetensors.load_file(path)

    def rebuilt(**changes):
        t = {k: (v[0], v[1], bytes(v[2])) for k, v in tensors.items()}
        t.update(changes)
        out = tmp_path / "tmp.safetensors"
        _safetensors.save_file(out, t, meta)
        return out.read_bytes()

    return [
        ("truncated", good[:-5], "past the"),
        ("header length absurd", struct.pack("<Q", 1 << 60) + good[8:], "header"),
        ("header not JSON", struct.pack("<Q", 8) + b"{oops!!}" + good[8 + header_len :], "JSON"),
        ("wrong dtype", rebuilt(**{"layers.0.bias": ("I32", (4,), bytes(16))}), "F32"),
        (
            "shapes that do not chain",
            rebuilt(**{"layers.1.weight": ("F32", (3, 5), bytes(60))}),
            "layers.1.weight",
        ),
        ("missing tensor", _drop(tensors, meta, "layers.1.bias", tmp_path), "missing tensor"),
        (
            "offsets out of range",
            good[:8]
            + good[8 : 8 + header_len].replace(b'"data_offsets":[0,', b'"data_offsets":[9,', 1)
            + good[8 + header_len :],
            "offset",
        ),
    ]


def _drop(tensors, meta, name, tmp_path):
    from ann import _safetensors

    t = {k: (v[0], v[1], bytes(v[2])) for k, v in tensors.items() if k != name}
    out = tmp_path / "drop.safetensors"
    _safetensors.save_file(out, t, meta)
    return out.read_bytes()


def test_bad_model_files(tmp_path):
    checked = 0
    for name, content, needle in model_cases(tmp_path):
        path = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        path.write_bytes(content)
        out = run_ann("evaluate", str(path), "--data", "sample")
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1, (name, out.stderr)
        assert path.name in lines[0] and "Traceback" not in out.stderr
        message = lines[0].split(path.name, 1)[1]  # the part after the file name
        assert needle.lower() in message.lower(), (name, lines[0])
        print(f"\n{name}: {lines[0]}")
        checked += 1
    assert checked == 7
