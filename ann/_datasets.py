"""The catalogue of IDX data sets ``ann`` can find, download and load by name, and where each
fact comes from.

Every set here ships as the four MNIST-style IDX files (training and test images, training
and test labels), so one reader serves them all; what differs is recorded in a
``DatasetSpec``: the file names, where to download them and how to verify them, the class
names, and two quirks of EMNIST (images stored transposed, the Letters split numbering its
classes from 1). ``_locate.py`` finds the files (``_download.py`` fetches and verifies them)
and ``_load.py`` reads them into ``Dataset`` objects; this module only describes.

Checksums are those the data sets' publishers give where they give one; where they do not,
the comment says so and says what is verified instead.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DatasetSpec", "Archive", "DATASETS", "NAMES", "get_spec", "files_in"]

#: The four parts of a data set, in the order they are looked for and downloaded.
KEYS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class Archive:
    """A single download that holds the data set's files (EMNIST's ``gzip.zip``).

    ``members`` lists every file extracted from it, by base name (the archive may keep them
    in a folder), each with the image or label count its IDX header must declare (None for a
    file that is not IDX). All of them are extracted in one go, so the archive is fetched
    once for every data set that shares it, and then deleted. ``mappings`` names the
    archive's class-mapping files (lines "label code [code]": the ASCII code of each label's
    character), each with the label of class 0 and the class names ``ann`` uses, which the
    file must agree with: they are read, checked and not kept.
    """

    name: str
    hashes: Mapping[str, str]  # "md5" / "gz" (sha256) of the archive as served
    max_bytes: int
    members: Mapping[str, int | None]
    mappings: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything ``ann`` knows about one IDX data set.

    ``files`` maps the four ``KEYS`` to file names (looked for with and without ``.gz``);
    ``hashes`` maps a key to the accepted digests of that file as downloaded: ``"gz"``
    (sha256 of the served bytes), ``"raw"`` (sha256 of the decompressed IDX content) or
    ``"md5"`` (of the served bytes); any one that matches is enough. ``subfolder`` is where
    the set lives inside the data folder ("" for MNIST, which has always lived at its top).
    ``archive`` is set when the files come out of one archive instead of one download each.
    ``label_offset`` is the label the files use for class 0 (EMNIST Letters: 1), and
    ``transposed`` says the images are stored column by column.
    """

    name: str
    title: str
    files: Mapping[str, str]
    classes: tuple[str, ...]
    sizes: tuple[int, int]  # (training, test) images, as published
    mirrors_env: str
    default_mirrors: tuple[str, ...]
    hashes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    subfolder: str = ""
    archive: Archive | None = None
    label_offset: int = 0
    transposed: bool = False
    has_sample: bool = False
    licence: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ---- MNIST ---------------------------------------------------------------------------------

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# "gz": the official files as served by the mirrors; "raw": their decompressed
# IDX content, which any faithful copy shares however it was recompressed.
SHA256 = {
    "train_images": {
        "gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "raw": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    "train_labels": {
        "gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "raw": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    "test_images": {
        "gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "raw": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    "test_labels": {
        "gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "raw": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

DEFAULT_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

DIGITS = tuple(string.digits)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    files=FILES,
    classes=DIGITS,
    sizes=(60_000, 10_000),
    mirrors_env="ANN_MNIST_MIRRORS",
    default_mirrors=tuple(DEFAULT_MIRRORS),
    hashes=SHA256,
    has_sample=True,
    licence="CC BY-SA 3.0 (Yann LeCun, Corinna Cortes, Christopher J.C. Burges)",
)

# ---- Fashion-MNIST -------------------------------------------------------------------------
# Files, sizes, MD5s and class names: the "Get the Data" and "Labels" tables of the
# official README, https://github.com/zalandoresearch/fashion-mnist (Zalando Research). The
# files are served from the project's S3 website (the README's links, plain http: the MD5
# is what makes it safe) and are also in the repository itself under data/fashion.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=FILES,
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    sizes=(60_000, 10_000),
    mirrors_env="ANN_FASHION_MNIST_MIRRORS",
    default_mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    hashes={
        "train_images": {"md5": "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
        "train_labels": {"md5": "25c81989df183df01b3e8a0aad5dffbe"},
        "test_images": {"md5": "bef4ecab320f06d8554ea6380940ec79"},
        "test_labels": {"md5": "bb300cfdad3c16e7a12a480ee83cd310"},
    },
    subfolder="fashion-mnist",
    licence="MIT (Zalando SE)",
)

# ---- Kuzushiji-MNIST -----------------------------------------------------------------------
# Files and URLs: the "Kuzushiji-MNIST" table of the official README,
# https://github.com/rois-codh/kmnist (ROIS-DS Center for Open Data in the Humanities).
# Class names: its kmnist_classmap.csv (index, Unicode code point, character), the hiragana
# お き す つ な は ま や れ を (U+304A ... U+3092). The README and download_data.py publish
# no checksum, so these are the MD5s that torchvision pins for the same URLs
# (torchvision/datasets/mnist.py, class KMNIST): not the publisher's, but what every
# torchvision download of these files has been checked against.
KMNIST = DatasetSpec(
    name="kmnist",
    title="Kuzushiji-MNIST",
    files=FILES,
    classes=("お", "き", "す", "つ", "な", "は", "ま", "や", "れ", "を"),
    sizes=(60_000, 10_000),
    mirrors_env="ANN_KMNIST_MIRRORS",
    default_mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    hashes={
        "train_images": {"md5": "bdb82020997e1d708af4cf47b453dcf7"},
        "train_labels": {"md5": "e144d726b3acfaa3e44228e80efcd344"},
        "test_images": {"md5": "5c965bf0a639b31b8f53240b1b52f4d7"},
        "test_labels": {"md5": "7320c461ea6c1c855c0b718fb2a4b134"},
    },
    subfolder="kmnist",
    licence="CC BY-SA 4.0 ('KMNIST Dataset' (created by CODH), adapted from 'Kuzushiji Dataset')",
)

# ---- EMNIST --------------------------------------------------------------------------------
# Publication: Cohen, Afshar, Tapson & van Schaik, "EMNIST: an extension of MNIST to
# handwritten letters" (arXiv:1702.05373), and NIST's page
# https://www.nist.gov/itl/products-and-services/emnist-dataset, whose "binary format" link
# is https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip: one zip (some 540 MB) holding
# every split as gzipped IDX files in a folder gzip/. Split sizes: the paper's Table II.
# Class names: the splits' mapping files in that zip (emnist-<split>-mapping.txt: label,
# ASCII code of the character), e.g. Balanced's 0-9, A-Z, then a b d e f g h n q r t.
#
# Neither NIST nor the paper publishes a checksum. The zip is checked against the MD5 that
# torchvision pins for it (torchvision/datasets/mnist.py, class EMNIST) -- not an official
# value, but the one every torchvision download of it has matched -- and then what can be
# verified is: each member's CRC-32 from the zip itself on extraction, each IDX header's
# image count against the paper's, and on loading the IDX structure and the label range.
EMNIST_SPLITS = {
    # split: (classes, (train, test) images as in the paper, label of class 0)
    "balanced": (
        DIGITS + tuple(string.ascii_uppercase) + tuple("abdefghnqrt"),
        (112_800, 18_800),
        0,
    ),
    # The Letters files label A..Z as 1..26 (the mapping file: "1 65 97" = A and a, both
    # cases merged into one class); ann maps them to 0..25 on load.
    "letters": (tuple(string.ascii_uppercase), (124_800, 20_800), 1),
    "digits": (DIGITS, (240_000, 40_000), 0),
}


def _emnist_files(split: str) -> dict[str, str]:
    return {
        key: f"emnist-{split}-{part}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
        for key, (part, kind) in zip(
            KEYS, (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))
        )
    }


EMNIST_ARCHIVE = Archive(
    name="gzip.zip",
    hashes={"md5": "58c8d27c78d21e728a6bc7b3cc06412e"},
    max_bytes=1 << 30,
    members={
        name: sizes[0 if "-train-" in name else 1]
        for split, (_, sizes, _) in EMNIST_SPLITS.items()
        for name in _emnist_files(split).values()
    },
    mappings={
        f"emnist-{split}-mapping.txt": (offset, classes)
        for split, (classes, _, offset) in EMNIST_SPLITS.items()
    },
)

EMNIST = {
    split: DatasetSpec(
        name=f"emnist-{split}",
        title=f"EMNIST {split.capitalize()}",
        files=_emnist_files(split),
        classes=classes,
        sizes=sizes,
        mirrors_env="ANN_EMNIST_MIRRORS",
        default_mirrors=("https://biometrics.nist.gov/cs_links/EMNIST/",),
        subfolder="emnist",
        archive=EMNIST_ARCHIVE,
        label_offset=offset,
        transposed=True,
        licence="no licence stated by NIST; cite Cohen et al. 2017 (arXiv:1702.05373)",
    )
    for split, (classes, sizes, offset) in EMNIST_SPLITS.items()
}

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (MNIST, FASHION_MNIST, KMNIST, *EMNIST.values())
}
NAMES = tuple(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name`` (one of ``NAMES``); ValueError naming the choices."""
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
    return spec


def classes_of(name: str | None) -> tuple[str, ...] | None:
    """The class names of data set ``name``, or None for no name or an unknown one."""
    spec = DATASETS.get(name) if isinstance(name, str) else None
    return spec.classes if spec is not None else None


def files_in(
    folder: Path, spec: DatasetSpec, keys: Sequence[str] = KEYS
) -> tuple[dict[str, Path], list[str]]:
    """The files of `keys` of data set `spec` present in `folder` (gzipped or not; for a set
    that comes in an archive also in its ``gzip`` subfolder, the layout unzipping it gives),
    and the names of those missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    places = (folder, folder / "gzip") if spec.archive is not None else (folder,)
    for key, name in spec.files.items():
        if key not in keys:
            continue
        for candidate in (p / n for p in places for n in (name, name[: -len(".gz")])):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(name)
    return found, missing
