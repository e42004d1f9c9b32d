"""Tests of the strict IDX reader/writer (ann._idx).

Test files are built here byte by byte with ``struct`` rather than with
``write_idx``, so the reader is checked against the format itself, not
against our own writer. Every error test asserts the exception type, that the
message names the file, and the specific wording of the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
from pathlib import Path

import pytest
from conftest import PeakMemory, require_mnist
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ann._idx as idx_module
from ann._errors import DataError
from ann._idx import IdxImages, IdxLabels, check_pair, read_idx, read_images, read_labels, write_idx

CORPUS = Path(__file__).resolve().parent / "corpus" / "idx"

# Element sizes per type code, written down from the format description
# (not imported from the module under test).
ELEMENT_SIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def idx_bytes(type_code: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, type_code, len(dims), *dims) + data


def gz(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


def put(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


IMAGES = idx_bytes(0x08, (3, 4, 5), bytes(range(60)))
LABELS = idx_bytes(0x08, (6,), bytes([0, 1, 2, 9, 5, 3]))


def error_of(call, path: Path, *args, **kwargs) -> str:
    """Run ``call(path)``, require a DataError that names ``path``, return its text."""
    with pytest.raises(DataError) as info:
        call(path, *args, **kwargs)
    text = str(info.value)
    assert str(path) in text, text
    assert info.value.path == str(path)
    assert "\n" not in text
    return text


# --------------------------------------------------------------------------
# files that cannot be opened


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in error_of(read_idx, tmp_path / "nope.idx")


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in error_of(read_images, tmp_path)


def test_permission_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests often run as root, where chmod 000 does not stop a read, so the
    # failing open is simulated at the one place the module opens files.
    path = put(tmp_path, "locked.idx", IMAGES)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(idx_module, "open", refuse, raising=False)
    assert "permission denied" in error_of(read_idx, path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_rejected_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.idx"
    os.mkfifo(path)
    assert "not a regular file" in error_of(read_idx, path)


# --------------------------------------------------------------------------
# header


def test_empty_file(tmp_path: Path) -> None:
    assert "empty file" in error_of(read_idx, put(tmp_path, "e.idx", b""))


def test_header_shorter_than_magic(tmp_path: Path) -> None:
    text = error_of(read_idx, put(tmp_path, "s.idx", b"\x00\x00\x08"))
    assert "too short for an IDX header: 3 bytes" in text


def test_bad_magic(tmp_path: Path) -> None:
    text = error_of(read_idx, put(tmp_path, "m.idx", b"\x01\x02\x08\x01" + IMAGES[4:]))
    assert "bad magic 0x01020801: not an IDX file" in text
    assert "(at byte 0)" in text


def test_doubly_gzipped_file_reports_gzip_magic(tmp_path: Path) -> None:
    # One layer is unpacked; the inner gzip header then shows up as the magic.
    text = error_of(read_idx, put(tmp_path, "twice.gz", gz(gz(IMAGES))))
    assert "bad magic 0x1f8b" in text and "not an IDX file" in text


def test_unknown_type_code(tmp_path: Path) -> None:
    path = put(tmp_path, "t.idx", b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    text = error_of(read_idx, path)
    assert "unknown IDX type code 0x07" in text and "(at byte 2)" in text


def test_zero_dimensions(tmp_path: Path) -> None:
    text = error_of(read_idx, put(tmp_path, "z.idx", b"\x00\x00\x08\x00"))
    assert "declares 0 dimensions" in text


def test_too_many_dimensions(tmp_path: Path) -> None:
    path = put(tmp_path, "five.idx", idx_bytes(0x08, (1, 1, 1, 1, 1), b"\x07"))
    assert "declares 5 dimensions; at most 4" in error_of(read_idx, path)


def test_dimension_sizes_truncated(tmp_path: Path) -> None:
    path = put(tmp_path, "d.idx", b"\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00")
    text = error_of(read_idx, path)
    assert "header truncated: 3 dimensions need 12 size bytes, found 6" in text


def test_zero_image_count(tmp_path: Path) -> None:
    path = put(tmp_path, "none.idx", idx_bytes(0x08, (0, 28, 28), b""))
    assert "contains no images" in error_of(read_images, path)
    assert "dimension 0 is 0" in error_of(read_idx, path)


def test_zero_label_count(tmp_path: Path) -> None:
    path = put(tmp_path, "none.idx", idx_bytes(0x08, (0,), b""))
    assert "contains no labels" in error_of(read_labels, path)


def test_zero_rows(tmp_path: Path) -> None:
    path = put(tmp_path, "flat.idx", idx_bytes(0x08, (5, 0, 28), b""))
    assert "dimension 1 is 0" in error_of(read_images, path)


def test_declared_size_over_limit_is_rejected_before_allocating(tmp_path: Path) -> None:
    dims = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    path = put(tmp_path, "huge.idx.gz", gz(idx_bytes(0x08, dims, b"\x00" * 64)))
    with PeakMemory() as memory:
        text = error_of(read_images, path)
    assert f"= {0xFFFFFFFF**3} data bytes, more than the limit of {1 << 31}" in text
    assert memory.peak < 4 << 20


def test_max_bytes_applies_to_element_size(tmp_path: Path) -> None:
    # 3 float64 = 24 bytes: over a limit of 23 even though only 3 elements.
    path = put(tmp_path, "f.idx", idx_bytes(0x0E, (3,), struct.pack(">3d", 1, 2, 3)))
    assert "= 24 data bytes, more than the limit of 23" in error_of(read_idx, path, max_bytes=23)
    assert read_idx(path, max_bytes=24)[1] == (3,)


def test_negative_max_bytes_is_a_caller_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        read_idx(put(tmp_path, "i.idx", IMAGES), max_bytes=-1)


# --------------------------------------------------------------------------
# data length


@pytest.mark.parametrize("packer", [bytes, gz], ids=["raw", "gzip"])
def test_truncated_data(tmp_path: Path, packer) -> None:
    path = put(tmp_path, "cut.idx", packer(IMAGES[:-7]))
    text = error_of(read_idx, path)
    assert "truncated data: header declares 3x4x5 uint8 = 60 bytes, found 53" in text


def test_trailing_bytes_raw(tmp_path: Path) -> None:
    text = error_of(read_idx, put(tmp_path, "long.idx", IMAGES + b"\x00\x00"))
    assert "2 trailing bytes after the 60 data bytes" in text
    assert "(at byte 76)" in text


def test_trailing_bytes_gzip(tmp_path: Path) -> None:
    text = error_of(read_idx, put(tmp_path, "long.idx.gz", gz(IMAGES + b"\x00")))
    assert "trailing bytes after the 60 data bytes" in text


def test_gzip_bomb_is_stopped_after_declared_size(tmp_path: Path) -> None:
    # 64 gzip members of 1 MiB of zeros each: 64 MiB inflated from ~65 KiB,
    # behind a header that declares 4 bytes. A reader that inflates first
    # and checks later would hold the whole 64 MiB.
    member = gzip.compress(b"\x00" * (1 << 20), compresslevel=9, mtime=0)
    bomb = gz(idx_bytes(0x08, (4,), b"\x01\x02\x03\x04")) + member * 64
    path = put(tmp_path, "bomb.idx.gz", bomb)
    with PeakMemory() as memory:
        text = error_of(read_labels, path)
    assert "trailing bytes after the 4 data bytes" in text
    assert memory.peak < 8 << 20


# --------------------------------------------------------------------------
# gzip damage


def test_gzip_bad_crc(tmp_path: Path) -> None:
    packed = bytearray(gz(IMAGES))
    packed[-8] ^= 0xFF  # first byte of the CRC-32 in the gzip trailer
    text = error_of(read_images, put(tmp_path, "crc.gz", bytes(packed)))
    assert "corrupt gzip data: CRC check failed" in text


def test_gzip_bad_deflate_data(tmp_path: Path) -> None:
    packed = bytearray(gz(IMAGES))
    packed[10] = 0xFF  # first deflate block header: block type 3 is invalid
    text = error_of(read_images, put(tmp_path, "bad.gz", bytes(packed)))
    assert "corrupt gzip data" in text and "invalid block type" in text


def test_gzip_truncated(tmp_path: Path) -> None:
    path = put(tmp_path, "short.gz", gz(IMAGES)[:-12])
    assert "truncated gzip stream" in error_of(read_images, path)


def test_gzip_only_magic(tmp_path: Path) -> None:
    assert "truncated gzip stream" in error_of(read_idx, put(tmp_path, "m.gz", b"\x1f\x8b"))


def test_gzip_garbage_after_stream(tmp_path: Path) -> None:
    path = put(tmp_path, "tail.gz", gz(IMAGES) + b"garbage!")
    text = error_of(read_images, path)
    assert "bytes after the end of the gzip stream are not another gzip member" in text


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    unnamed = put(tmp_path, "images.idx", gz(IMAGES))
    misnamed = put(tmp_path, "raw.idx.gz", IMAGES)
    for path in (unnamed, misnamed):
        images = read_images(path)
        assert (images.count, images.rows, images.cols) == (3, 4, 5)
        assert images.data == bytes(range(60))


# --------------------------------------------------------------------------
# images and labels


def test_images_reject_two_dimensional_features(tmp_path: Path) -> None:
    path = put(tmp_path, "flat.idx", idx_bytes(0x08, (3, 20), bytes(60)))
    text = error_of(read_images, path)
    assert "images need 3 dimensions (count, rows, cols), found 2" in text
    assert "'count x features' file is not accepted" in text


def test_images_reject_label_file(tmp_path: Path) -> None:
    text = error_of(read_images, put(tmp_path, "labels.idx", LABELS))
    assert "found 1 (this looks like a label file)" in text


def test_images_reject_float_type(tmp_path: Path) -> None:
    path = put(tmp_path, "f.idx", idx_bytes(0x0D, (1, 1, 1), struct.pack(">f", 0.5)))
    assert "images must be uint8 (type 0x08), found type 0x0d (float32)" in error_of(
        read_images, path
    )


def test_labels_reject_image_file(tmp_path: Path) -> None:
    text = error_of(read_labels, put(tmp_path, "images.idx", IMAGES))
    assert "labels need 1 dimension (count), found 3 (this looks like an image file)" in text


def test_label_out_of_range_names_first_bad_index_and_value(tmp_path: Path) -> None:
    path = put(tmp_path, "l.idx", idx_bytes(0x08, (7,), bytes([0, 9, 4, 12, 255, 10, 1])))
    text = error_of(read_labels, path)
    assert "label 3 is 12, not in 0..9" in text
    assert "(at byte 11)" in text  # 8-byte header + index 3


def test_label_range_follows_num_classes(tmp_path: Path) -> None:
    path = put(tmp_path, "l.idx", LABELS)  # labels 0 1 2 9 5 3
    assert "label 3 is 9, not in 0..3" in error_of(read_labels, path, num_classes=4)
    assert read_labels(path, num_classes=10).data == bytes([0, 1, 2, 9, 5, 3])


@pytest.mark.parametrize("bad", [0, 257, 2.0, -3])
def test_num_classes_is_validated(tmp_path: Path, bad) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        read_labels(put(tmp_path, "l.idx", LABELS), num_classes=bad)


def test_read_images_and_labels_fields(tmp_path: Path) -> None:
    ipath = put(tmp_path, "i.idx", IMAGES)
    lpath = put(tmp_path, "l.idx.gz", gz(LABELS))
    assert read_images(ipath) == IdxImages(bytes(range(60)), 3, 4, 5, str(ipath))
    assert read_labels(lpath) == IdxLabels(bytes([0, 1, 2, 9, 5, 3]), 6, str(lpath))


def test_check_pair(tmp_path: Path) -> None:
    images = read_images(put(tmp_path, "i.idx", IMAGES))  # 3 images
    labels = read_labels(put(tmp_path, "l.idx", LABELS))  # 6 labels
    with pytest.raises(DataError) as info:
        check_pair(images, labels)
    text = str(info.value)
    assert images.path in text and labels.path in text
    assert "3 images but" in text and "holds 6 labels" in text
    three = read_labels(put(tmp_path, "l3.idx", idx_bytes(0x08, (3,), b"\x01\x02\x03")))
    check_pair(images, three)  # matching counts: no error


def test_every_type_code_reads_back_its_bytes(tmp_path: Path) -> None:
    cases = {
        0x09: struct.pack(">2b", -128, 127),
        0x0B: struct.pack(">2h", -2, 300),
        0x0C: struct.pack(">2i", -70000, 5),
        0x0D: struct.pack(">2f", 0.5, -3.0),
        0x0E: struct.pack(">2d", 1e-300, -8.0),
    }
    for type_code, data in cases.items():
        path = put(tmp_path, f"t{type_code}.idx", idx_bytes(type_code, (2,), data))
        assert read_idx(path) == (type_code, (2,), data)


# --------------------------------------------------------------------------
# writer


@pytest.mark.parametrize("name", ["rt.idx", "rt.idx.gz"])
def test_write_read_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    data = bytes((i * 37) % 256 for i in range(2 * 3 * 4))
    write_idx(path, data, (2, 3, 4))
    on_disk = path.read_bytes()
    if name.endswith(".gz"):
        assert on_disk[:2] == b"\x1f\x8b"
        on_disk = gzip.decompress(on_disk)
    assert on_disk == idx_bytes(0x08, (2, 3, 4), data)
    assert read_images(path) == IdxImages(data, 2, 3, 4, str(path))


def test_write_compress_flag_overrides_name(tmp_path: Path) -> None:
    packed = tmp_path / "packed.idx"
    plain = tmp_path / "plain.idx.gz"
    write_idx(packed, b"\x01\x02", (2,), compress=True)
    write_idx(plain, b"\x01\x02", (2,), compress=False)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert plain.read_bytes() == idx_bytes(0x08, (2,), b"\x01\x02")
    assert read_labels(packed).data == read_labels(plain).data == b"\x01\x02"


def test_write_multibyte_type(tmp_path: Path) -> None:
    data = struct.pack(">3f", 1.0, -2.5, 3.75)
    write_idx(tmp_path / "f.idx", data, (3,), 0x0D)
    assert (tmp_path / "f.idx").read_bytes() == idx_bytes(0x0D, (3,), data)


def test_write_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    write_idx(path, b"\x05", (1,))
    write_idx(path, b"\x06\x07", (2,))
    assert os.listdir(tmp_path) == ["x.idx"]
    assert read_labels(path).data == b"\x06\x07"


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.idx"
    write_idx(path, b"\x05", (1,))

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(DataError) as info:
        write_idx(path, b"\x06\x07", (2,))
    assert str(path) in str(info.value) and "Input/output error" in str(info.value)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["keep.idx"]
    assert path.read_bytes() == idx_bytes(0x08, (1,), b"\x05")


@pytest.mark.parametrize(
    "data, dims, type_code, expected",
    [
        (b"\x00" * 6, (2, 3), 0x07, "unknown IDX type code 7"),
        (b"", (), 0x08, "cannot write 0 dimensions"),
        (b"\x00", (1,) * 5, 0x08, "cannot write 5 dimensions"),
        (b"", (0, 3), 0x08, "dimension 0 = 0"),
        (b"\x00" * 5, (2, 3), 0x08, "data has 5 bytes but 2x3 uint8 needs 6"),
        (b"\x00" * 5, (3,), 0x0B, "data has 5 bytes but 3 int16 needs 6"),
    ],
)
def test_write_rejects_what_the_reader_would(
    tmp_path: Path, data, dims, type_code, expected
) -> None:
    path = tmp_path / "w.idx"
    with pytest.raises(DataError) as info:
        write_idx(path, data, dims, type_code)
    assert expected in str(info.value) and str(path) in str(info.value)
    assert not path.exists()


# --------------------------------------------------------------------------
# committed seed corpus: the file name says whether it must parse


def test_seed_corpus() -> None:
    names = sorted(os.listdir(CORPUS))
    assert any(n.startswith("ok-") for n in names) and any(n.startswith("bad-") for n in names)
    for name in names:
        if name.startswith("ok-"):
            type_code, dims, data = read_idx(CORPUS / name)
            count = 1
            for dim in dims:
                count *= dim
            assert len(data) == count * ELEMENT_SIZE[type_code], name
        elif name.startswith("bad-"):
            with pytest.raises(DataError):
                read_idx(CORPUS / name)


# --------------------------------------------------------------------------
# the real MNIST files (facts from shared/mnist/README.md, typed in here)

TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
RAW_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def mnist_file(name: str) -> Path:
    """The full MNIST file (see conftest.require_mnist: missing data fails under CI)."""
    return require_mnist() / name


@pytest.mark.parametrize(
    "prefix, count, label_counts",
    [
        ("train", 60000, TRAIN_LABEL_COUNTS),
        ("t10k", 10000, TEST_LABEL_COUNTS),
    ],
)
def test_real_mnist(prefix: str, count: int, label_counts) -> None:
    images_name = f"{prefix}-images-idx3-ubyte.gz"
    labels_name = f"{prefix}-labels-idx1-ubyte.gz"
    images = read_images(mnist_file(images_name))
    labels = read_labels(mnist_file(labels_name))
    check_pair(images, labels)
    assert (images.count, images.rows, images.cols) == (count, 28, 28)
    assert len(images.data) == count * 28 * 28
    assert labels.count == count and len(labels.data) == count
    assert [labels.data.count(digit) for digit in range(10)] == label_counts
    # Rebuilding the raw file from what was read must give the README's hash
    # of the uncompressed content: proves every byte came through unchanged.
    raw_images = idx_bytes(0x08, (count, 28, 28), images.data)
    raw_labels = idx_bytes(0x08, (count,), labels.data)
    assert hashlib.sha256(raw_images).hexdigest() == RAW_SHA256[images_name]
    assert hashlib.sha256(raw_labels).hexdigest() == RAW_SHA256[labels_name]


# --------------------------------------------------------------------------
# properties

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

header_like = st.builds(
    lambda t, n, rest: bytes([0, 0, t, n]) + rest,
    st.sampled_from(sorted(ELEMENT_SIZE) + [0x00, 0x0A, 0xFF]),
    st.integers(0, 6),
    st.binary(max_size=64),
)
any_bytes = st.one_of(st.binary(max_size=200), header_like)


def check_consistent(type_code: int, dims: tuple[int, ...], data: bytes) -> None:
    count = 1
    for dim in dims:
        assert dim >= 1
        count *= dim
    assert len(data) == count * ELEMENT_SIZE[type_code]


@PROPERTY_SETTINGS
@given(content=any_bytes, compress=st.booleans())
def test_property_random_bytes_give_result_or_data_error(
    tmp_path: Path, content: bytes, compress: bool
) -> None:
    path = put(tmp_path, "random.bin", gz(content) if compress else content)
    for reader in (read_idx, read_images, read_labels):
        try:
            result = reader(path)
        except DataError as exc:
            assert exc.path == str(path)
            continue
        if reader is read_idx:
            check_consistent(*result)
        elif reader is read_images:
            assert len(result.data) == result.count * result.rows * result.cols
        else:
            assert len(result.data) == result.count and max(result.data) < 10


@st.composite
def valid_idx(draw):
    type_code = draw(st.sampled_from(sorted(ELEMENT_SIZE)))
    dims = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    count = 1
    for dim in dims:
        count *= dim
    data = draw(
        st.binary(
            min_size=count * ELEMENT_SIZE[type_code], max_size=count * ELEMENT_SIZE[type_code]
        )
    )
    return type_code, dims, data


@PROPERTY_SETTINGS
@given(case=valid_idx(), name=st.sampled_from(["v.idx", "v.idx.gz"]))
def test_property_round_trip(tmp_path: Path, case, name: str) -> None:
    type_code, dims, data = case
    path = tmp_path / name
    write_idx(path, data, dims, type_code)
    assert read_idx(path) == (type_code, dims, data)
    # The reader must agree with a file built independently of write_idx.
    put(tmp_path, "manual.idx", idx_bytes(type_code, dims, data))
    assert read_idx(tmp_path / "manual.idx") == (type_code, dims, data)


@PROPERTY_SETTINGS
@given(
    case=valid_idx(),
    cut=st.integers(0, 10_000),
    flip=st.integers(0, 10_000),
    xor=st.integers(1, 255),
    mode=st.sampled_from(["truncate", "flip", "both"]),
    compress=st.booleans(),
)
def test_property_mutations(
    tmp_path: Path, case, cut: int, flip: int, xor: int, mode: str, compress: bool
) -> None:
    type_code, dims, data = case
    original = idx_bytes(type_code, dims, data)
    mutated = bytearray(original)
    header_len = 4 + 4 * len(dims)
    if mode in ("flip", "both"):
        mutated[flip % header_len] ^= xor
    if mode in ("truncate", "both"):
        del mutated[cut % len(original) :]
    raw = bytes(mutated)
    packed = gz(raw) if compress else raw
    if compress and mode == "truncate":
        # Cut the compressed stream itself rather than its content.
        raw = original
        packed = gz(original)[: cut % len(gz(original))]
    path = put(tmp_path, "mut.idx", packed)
    try:
        got_type, got_dims, got_data = read_idx(path)
    except DataError as exc:
        assert exc.path == str(path)
        return
    # A parse that succeeds must be exactly what the (mutated) header says.
    check_consistent(got_type, got_dims, got_data)
    assert raw[2] == got_type and raw[3] == len(got_dims)
    assert struct.unpack(f">{len(got_dims)}I", raw[4 : 4 + 4 * len(got_dims)]) == got_dims
    assert raw[4 + 4 * len(got_dims) :] == got_data


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
