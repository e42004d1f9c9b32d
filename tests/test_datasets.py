"""ann.load_dataset and --dataset: Fashion-MNIST, KMNIST and the EMNIST splits, on synthetic IDX
files and local HTTP servers (no test reaches the internet: test_download's ``offline``
fixture points every data set's mirrors at 127.0.0.1)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import run_ann
from test_download import offline, serve  # noqa: F401  (fixtures, used by name)

import ann
from ann import _datasets, _idx, _locate
from ann._datasets import DATASETS, EMNIST_ARCHIVE

pytestmark = pytest.mark.usefixtures("offline")


def idx(dims: tuple[int, ...], data: bytes) -> bytes:
    """A gzipped uint8 IDX file, built here independently of ann's writer."""
    header = struct.pack(f">BBBB{len(dims)}I", 0, 0, 0x08, len(dims), *dims)
    return gzip.compress(header + data, mtime=0)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# An asymmetric 4x4 picture (an "L" with a dot), upright, and how EMNIST would store it:
# transposed, i.e. the picture's columns written as the file's rows.
UPRIGHT = bytes(
    [
        9, 0, 0, 0,
        9, 0, 0, 5,
        9, 0, 0, 0,
        9, 9, 9, 0,
    ]
)  # fmt: skip
STORED = bytes(UPRIGHT[r * 4 + c] for c in range(4) for r in range(4))


def write_split(folder: Path, files: dict[str, str], train: list[int], test: list[int]) -> None:
    """The four files of a data set under its own names: image i is UPRIGHT stored
    transposed, with pixel 0 set to i (so each image is told apart), labels as given."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, labels in (("train", train), ("test", test)):
        images = b"".join(bytes([i]) + STORED[1:] for i in range(len(labels)))
        (folder / files[f"{part}_images"]).write_bytes(idx((len(labels), 4, 4), images))
        (folder / files[f"{part}_labels"]).write_bytes(idx((len(labels),), bytes(labels)))


def upright(i: int) -> bytes:
    """Image i of write_split, as it must come out of the loader."""
    return bytes([i]) + UPRIGHT[1:]


# --- IDX helpers -------------------------------------------------------------------------------


def test_transpose_images_turns_each_stored_image_upright():
    # two 2x3 stored images; upright each is the 3x2 transpose
    stored = bytes([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60])
    assert _idx.transpose_images(stored, 2, 2, 3) == bytes(
        [1, 4, 2, 5, 3, 6, 10, 40, 20, 50, 30, 60]
    )
    assert _idx.transpose_images(STORED, 1, 4, 4) == UPRIGHT
    with pytest.raises(ValueError, match="not 3 images"):
        _idx.transpose_images(stored, 3, 2, 3)


def test_transpose_images_across_blocks_matches_a_plain_loop():
    import random

    rng = random.Random(3)
    count, rows, cols = 2500, 3, 5  # more images than one block of 1,024
    data = bytes(rng.randrange(256) for _ in range(count * rows * cols))
    expected = bytearray()
    for i in range(count):
        image = data[i * 15 : (i + 1) * 15]
        expected += bytes(image[c * cols + r] for r in range(cols) for c in range(rows))
    assert _idx.transpose_images(data, count, rows, cols) == bytes(expected)


def test_read_header_reads_only_the_header(tmp_path):
    path = tmp_path / "x.gz"
    # a declared count of 7 but only 2 images: the header alone does not notice
    path.write_bytes(idx((7, 4, 4), bytes(32)))
    assert _idx.read_header(path) == (0x08, (7, 4, 4))
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ann.DataError, match="not an IDX file"):
        _idx.read_header(tmp_path / "bad")


# --- loading from a folder ---------------------------------------------------------------------


def test_emnist_letters_come_out_upright_from_0_with_their_names(tmp_path):
    spec = DATASETS["emnist-letters"]
    write_split(tmp_path, dict(spec.files), train=[1, 2, 26], test=[26, 1])
    train, test = ann.load_dataset("emnist-letters", tmp_path)
    assert [train[i][0] for i in range(3)] == [upright(0), upright(1), upright(2)]
    assert list(train.labels) == [0, 1, 25] and list(test.labels) == [25, 0]
    assert train.num_classes == 26 and train.shape == (4, 4)
    assert train.classes == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert test.classes == train.classes


def test_emnist_letters_label_0_is_an_error_naming_the_file(tmp_path):
    spec = DATASETS["emnist-letters"]
    write_split(tmp_path, dict(spec.files), train=[1, 0, 3], test=[1])
    with pytest.raises(ann.DataError) as caught:
        ann.load_dataset("emnist-letters", tmp_path)
    message = str(caught.value)
    assert spec.files["train_labels"] in message and "numbers its classes from 1" in message
    assert "label 1 is 0" in message


def test_emnist_balanced_has_47_named_classes(tmp_path):
    spec = DATASETS["emnist-balanced"]
    write_split(tmp_path / "gzip", dict(spec.files), train=[0, 46, 10], test=[36])  # unzip layout
    train, test = ann.load_dataset("emnist-balanced", tmp_path)
    assert train.num_classes == 47 and len(train.classes) == 47
    # the mapping file's order: digits, capitals, then the 11 lower-case letters kept
    assert "".join(train.classes) == ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "abdefghnqrt")
    assert [train.classes[v] for v in train.labels] == ["0", "t", "A"]
    assert train[1][0] == upright(1)
    write_split(tmp_path / "gzip", dict(spec.files), train=[47], test=[0])
    with pytest.raises(ann.DataError, match="label 0 is 47, not in 0..46"):
        ann.load_dataset("emnist-balanced", tmp_path)


def test_fashion_and_kmnist_are_not_transposed_and_have_their_names(tmp_path):
    for name, first, last in (
        ("fashion-mnist", "T-shirt/top", "Ankle boot"),
        ("kmnist", "お", "を"),
    ):
        write_split(tmp_path / name, dict(DATASETS[name].files), train=[0, 9], test=[3])
        train, _ = ann.load_dataset(name, tmp_path / name)
        assert train[0][0] == bytes([0]) + STORED[1:]  # as stored
        assert train.classes[0] == first and train.classes[9] == last
        assert len(train.classes) == 10


def test_unknown_names_and_the_sample_of_other_sets_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'cifar10'; choose one of mnist,"):
        ann.load_dataset("cifar10")
    with pytest.raises(ann.DataError, match="no built-in sample of Fashion-MNIST"):
        ann.load_dataset("fashion-mnist", "sample")
    with pytest.raises(ann.DataError, match="Kuzushiji-MNIST file"):
        ann.load_dataset("kmnist", tmp_path)  # an empty folder


def test_mnist_by_name_is_load_mnist():
    train, test = ann.load_dataset("mnist", "sample")
    same_train, _ = ann.load_mnist("sample")
    assert len(train) == 10_000 and len(test) == 2_000
    assert train.images.tobytes() == same_train.images.tobytes()
    assert train.classes == list("0123456789")


# --- downloads ---------------------------------------------------------------------------------


def synthetic_files(spec, train: list[int], test: list[int]) -> dict[str, bytes]:
    out = {}
    for part, labels in (("train", train), ("test", test)):
        images = b"".join(bytes([i]) + STORED[1:] for i in range(len(labels)))
        out[spec.files[f"{part}_images"]] = idx((len(labels), 4, 4), images)
        out[spec.files[f"{part}_labels"]] = idx((len(labels),), bytes(labels))
    return out


def test_fashion_mnist_downloads_into_its_subfolder_verified_by_md5(request, tmp_path, monkeypatch):
    start = request.getfixturevalue("serve")
    spec = DATASETS["fashion-mnist"]
    files = synthetic_files(spec, [1, 2, 3], [4])
    hashes = {key: {"md5": md5(files[name])} for key, name in spec.files.items()}
    monkeypatch.setitem(DATASETS, spec.name, replace(spec, hashes=hashes))
    bad = start({**files, spec.files["test_labels"]: files[spec.files["test_images"]]})
    good = start(files)
    monkeypatch.setenv("ANN_FASHION_MNIST_MIRRORS", f"{bad.url},{good.url}")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANN_DATA", str(cache))

    said = io.StringIO()
    source = _locate.find_files(DATASETS[spec.name], None, timeout=5, stream=said)
    assert source.kind == "download"
    for name, data in files.items():
        assert (cache / "fashion-mnist" / name).read_bytes() == data
    assert not (cache / spec.files["train_images"]).exists()  # not where MNIST lives
    text = said.getvalue()
    assert text.startswith(f"ann: Fashion-MNIST is not in {cache / 'fashion-mnist'}: downloading")
    assert f"{bad.url} failed (md5 mismatch)" in text and "md5 verified" in text

    train, test = ann.load_dataset("fashion-mnist")  # now from the cache, no request
    requests = len(bad.requests) + len(good.requests)
    assert list(train.labels) == [1, 2, 3] and test.classes[4] == "Coat"
    ann.load_dataset("fashion-mnist")
    assert len(bad.requests) + len(good.requests) == requests


def test_a_set_without_sample_fails_when_it_cannot_be_had(request, tmp_path, monkeypatch):
    start = request.getfixturevalue("serve")
    empty = start({})
    monkeypatch.setenv("ANN_KMNIST_MIRRORS", empty.url)
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "cache"))
    with pytest.raises(ann.DataError) as caught:
        ann.load_dataset("kmnist", progress=False)
    message = str(caught.value)
    assert "Kuzushiji-MNIST not found in" in message and "HTTP 404" in message
    assert "built-in sample" not in message and "\n" not in message
    with pytest.raises(ann.DataError, match="downloading is off"):
        ann.load_dataset("kmnist", download=False)


def emnist_zip(counts: dict[str, tuple[int, int]], *, extra: dict[str, bytes] | None = None):
    """NIST's gzip.zip in miniature: every split's four files and mapping file under gzip/;
    `extra` adds members or replaces those of the same name."""
    members: dict[str, bytes] = {}
    for split, (n_train, n_test) in counts.items():
        spec = DATASETS[f"emnist-{split}"]
        low = spec.label_offset
        files = synthetic_files(spec, [low] * n_train, [low + 1] * n_test)
        for name, data in files.items():
            members[f"gzip/{name}"] = data
        # as NIST's: "label code" lines, Letters also with the lower-case code
        lines = [
            f"{i + low} {ord(c)}" + (f" {ord(c.lower())}" if low else "")
            for i, c in enumerate(spec.classes)
        ]
        members[f"gzip/emnist-{split}-mapping.txt"] = ("\n".join(lines) + "\n").encode()
    members.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


COUNTS = {"balanced": (3, 2), "letters": (2, 1), "digits": (4, 1)}


def use_archive(monkeypatch, blob: bytes, counts=COUNTS) -> None:
    """Make the EMNIST specs expect `blob` (its MD5) holding splits of `counts`."""
    members = {}
    for split, (n_train, n_test) in counts.items():
        for key, name in DATASETS[f"emnist-{split}"].files.items():
            members[name] = n_train if key.startswith("train") else n_test
    archive = replace(EMNIST_ARCHIVE, hashes={"md5": md5(blob)}, members=members)
    for split in counts:
        name = f"emnist-{split}"
        monkeypatch.setitem(DATASETS, name, replace(DATASETS[name], archive=archive))


def test_emnist_zip_is_fetched_once_extracted_for_every_split_and_deleted(
    request, tmp_path, monkeypatch
):
    start = request.getfixturevalue("serve")
    blob = emnist_zip(COUNTS)
    use_archive(monkeypatch, blob)
    server = start({"gzip.zip": blob})
    monkeypatch.setenv("ANN_EMNIST_MIRRORS", server.url)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANN_DATA", str(cache))

    said = io.StringIO()
    source = _locate.find_files(DATASETS["emnist-balanced"], None, timeout=5, stream=said)
    assert source.kind == "download" and server.requests == ["gzip.zip"]
    folder = cache / "emnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        name for split in COUNTS for name in DATASETS[f"emnist-{split}"].files.values()
    )  # every split, no zip left, no temporary file, no mapping file
    assert "md5 verified" in said.getvalue() and "CRC-32" in said.getvalue()

    train, test = ann.load_dataset("emnist-balanced")
    assert len(train) == 3 and len(test) == 2 and train[2][0] == upright(2)
    letters, _ = ann.load_dataset("emnist-letters")  # extracted already: no second download
    digits, _ = ann.load_dataset("emnist-digits")
    assert list(letters.labels) == [0, 0] and len(digits) == 4
    assert server.requests == ["gzip.zip"]


def test_emnist_zip_with_a_wrong_checksum_is_rejected(request, tmp_path, monkeypatch):
    start = request.getfixturevalue("serve")
    blob = emnist_zip(COUNTS)
    use_archive(monkeypatch, blob)
    served = bytearray(blob)
    served[len(served) // 2] ^= 0xFF
    monkeypatch.setenv("ANN_EMNIST_MIRRORS", start({"gzip.zip": bytes(served)}).url)
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "cache"))
    with pytest.raises(ann.DataError, match=r"gzip.zip: .*\(md5 mismatch\)"):
        ann.load_dataset("emnist-digits", progress=False)
    assert list((tmp_path / "cache" / "emnist").iterdir()) == []


def test_emnist_members_are_checked_against_their_crc_and_the_published_counts(
    request, tmp_path, monkeypatch
):
    start = request.getfixturevalue("serve")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANN_DATA", str(cache))
    # the digits split declares 4 training images where the "published" count says 5
    blob = emnist_zip(COUNTS)
    use_archive(monkeypatch, blob, {**COUNTS, "digits": (5, 1)})
    server = start({"gzip.zip": blob})
    monkeypatch.setenv("ANN_EMNIST_MIRRORS", server.url)
    with pytest.raises(ann.DataError, match="declares 4 entries, but the published split has 5"):
        ann.load_dataset("emnist-letters", progress=False)
    assert not any(p.name.endswith(".part") for p in (cache / "emnist").iterdir())
    assert (cache / "emnist" / "gzip.zip").exists()  # kept: a retry need not download it

    # a member whose bytes do not match the zip's CRC-32
    good = emnist_zip(COUNTS)
    name = DATASETS["emnist-letters"].files["train_images"]
    at = good.index(b"gzip/" + name.encode())  # local header's name; data follows it
    data_at = at + len("gzip/" + name) + 40
    damaged = bytearray(good)
    damaged[data_at] ^= 0xFF
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "other-cache"))
    use_archive(monkeypatch, bytes(damaged))
    server.routes["gzip.zip"] = bytes(damaged)
    with pytest.raises(ann.DataError, match="is damaged|not a readable zip"):
        ann.load_dataset("emnist-letters", progress=False)


# --- any number of classes, and the command line -----------------------------------------------


def separable(n_classes: int, per_class: int) -> tuple[bytes, bytes]:
    """28x28 images where class k lights pixels 16k..16k+15: learnable in a few epochs."""
    images, labels = bytearray(), bytearray()
    for rep in range(per_class):
        for k in range(n_classes):
            image = bytearray(784)
            image[16 * k : 16 * k + 16] = bytes([255]) * 16
            image[(rep * 7) % 784] = 128  # a little per-image variation
            images += image
            labels.append(k)
    return bytes(images), bytes(labels)


def test_a_network_with_47_outputs_trains_on_47_classes():
    images, labels = separable(47, 6)
    data = ann.Dataset(images, labels, (28, 28), num_classes=47)
    net = ann.Network([784, 32, 47], seed=0)
    net.fit(data, epochs=30, batch_size=16, lr=0.5)
    assert net.evaluate(data)["accuracy"] > 0.9  # chance is 1/47


def emnist_folder(folder: Path) -> None:
    """emnist-balanced files of separable 28x28 images, stored transposed as EMNIST's are."""
    spec = DATASETS["emnist-balanced"]
    folder.mkdir()
    for part, per_class in (("train", 6), ("test", 2)):
        images, labels = separable(47, per_class)
        n = len(labels)
        stored = b"".join(
            bytes(images[i * 784 + r * 28 + c] for c in range(28) for r in range(28))
            for i in range(n)
        )
        (folder / spec.files[f"{part}_images"]).write_bytes(idx((n, 28, 28), stored))
        (folder / spec.files[f"{part}_labels"]).write_bytes(idx((n,), labels))


def test_cli_trains_evaluates_and_predicts_emnist_balanced_with_its_class_names(tmp_path):
    data = tmp_path / "emnist"
    emnist_folder(data)
    model = tmp_path / "model.safetensors"
    out = run_ann(
        "train", "--dataset", "emnist-balanced", "--data", str(data), "--layers", "32",
        "--lr", "0.5", "--batch-size", "16", "--epochs", "40", "--patience", "0",
        "--val-fraction", "0.1", "--save", str(model), "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "data: emnist-balanced, 47 classes: 254 train / 28 validation / 94 test" in out.stdout
    assert "network: 784-32-47 " in out.stdout

    evaluated = run_ann("evaluate", str(model), "--data", str(data), "--json")  # its data set
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["images"] == 94 and len(result["confusion_matrix"]) == 47
    assert result["accuracy"] > 0.9

    # the test images of class 10 ("A") and class 46 ("t"), upright, in an IDX file
    images, _ = separable(47, 1)
    picked = images[10 * 784 : 11 * 784] + images[46 * 784 : 47 * 784]
    (tmp_path / "two.idx").write_bytes(idx((2, 28, 28), picked))
    predicted = run_ann("predict", str(model), str(tmp_path / "two.idx"), "--json")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [(r["class"], r["name"]) for r in rows] == [(10, "A"), (46, "t")]
    plain = run_ann("predict", str(model), str(tmp_path / "two.idx"))
    assert plain.stdout.splitlines()[0].startswith(f"{tmp_path / 'two.idx'}[0]: A (p = ")


def test_cli_rejects_an_unknown_data_set():
    out = run_ann("train", "--dataset", "cifar10")
    assert out.returncode == 2
    assert "invalid choice: 'cifar10'" in out.stderr and "Traceback" not in out.stderr


def test_every_spec_is_consistent():
    for spec in DATASETS.values():
        assert set(spec.files) == set(_datasets.KEYS)
        assert len(set(spec.classes)) == len(spec.classes) >= 10
        assert spec.archive is not None or set(spec.hashes) == set(spec.files)
        assert spec.mirrors_env.startswith("ANN_") and spec.default_mirrors
    assert len(DATASETS["emnist-balanced"].classes) == 47
    assert set(EMNIST_ARCHIVE.members) == {
        name for split in ("balanced", "letters", "digits")
        for name in DATASETS[f"emnist-{split}"].files.values()
    }  # fmt: skip


def test_emnist_mapping_files_must_agree_with_the_class_names(request, tmp_path, monkeypatch):
    start = request.getfixturevalue("serve")
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "cache"))
    # NIST's Balanced mapping, with "t" (116) where ann has "r" (114) at class 45
    wrong = "\n".join(
        f"{i} {ord(c) if i != 45 else 116}"
        for i, c in enumerate(DATASETS["emnist-balanced"].classes)
    )
    blob = emnist_zip(COUNTS, extra={"gzip/emnist-balanced-mapping.txt": wrong.encode()})
    use_archive(monkeypatch, blob)
    monkeypatch.setenv("ANN_EMNIST_MIRRORS", start({"gzip.zip": blob}).url)
    with pytest.raises(ann.DataError) as caught:
        ann.load_dataset("emnist-digits", progress=False)
    message = str(caught.value)
    assert "emnist-balanced-mapping.txt" in message and "(45, 'r'), (45, 't')" in message
    assert list((tmp_path / "cache" / "emnist").iterdir()) == [
        tmp_path / "cache" / "emnist" / "gzip.zip"
    ]


def test_resuming_on_another_data_set_is_refused(tmp_path):
    model = tmp_path / "m.safetensors"
    out = run_ann(
        "train", "--data", "sample", "--epochs", "1", "--patience", "0", "--save", str(model),
        "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    again = run_ann("train", "--dataset", "kmnist", "--resume", str(model), "--epochs", "1")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"{model} was trained on mnist, not kmnist: give --dataset mnist" in again.stderr


def test_experiment_and_trace_size_their_networks_to_the_data_set(tmp_path):
    data = tmp_path / "emnist"
    emnist_folder(data)
    out = run_ann("experiment", "--quick", "--dataset", "emnist-balanced", "--data", str(data))
    assert out.returncode == 0, out.stderr
    assert "images: 784-20-7-5-47, SGD" in out.stdout
    common = ("trace", "--digits", "--dataset", "emnist-balanced", "--data", str(data))
    refused = run_ann(*common)
    assert refused.returncode == 2 and "need --layers ending in 47, not 10" in refused.stderr
    traced = run_ann(*common, "--layers", "784,4,47", "--json")
    assert traced.returncode == 0, traced.stderr
    assert json.loads(traced.stdout)["images"].startswith("EMNIST Balanced training images 0-1")
