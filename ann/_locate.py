"""Finding an IDX data set's files on any machine: a given folder, the user cache, a download,
or (for MNIST) the built-in sample.

The order of preference (``find_files``) is what lets ``ann train`` work everywhere: it uses a
folder the user names (and nothing else), or the cache folder, which it fills from a public
mirror when empty (``_download.py``); when that is not possible, MNIST falls back to the
sample of 10,000 + 2,000 digits shipped in ``ann/data/sample`` and says so in one line,
instead of failing. The other data sets (``_datasets.py`` describes each) have no sample: for
them it is an error.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from . import _datasets
from ._datasets import KEYS, DatasetSpec, files_in
from ._download import check_mirror, download_files, mirrors_from_env
from ._errors import DataError
from ._http import CONNECT_TIMEOUT

PathArg = Union[str, "os.PathLike[str]"]

# A plain path next to this module: the package is installed as files (cffi
# extension beside it), never imported from a zip, so no importlib.resources
# indirection is needed.
SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"
SAMPLE_TRAIN_SIZE = 10_000
SAMPLE_TEST_SIZE = 2_000
_SAMPLE_WORDS = (
    f"the built-in sample ({SAMPLE_TRAIN_SIZE:,} training and {SAMPLE_TEST_SIZE:,} test digits)"
)

_SKIP_HINT = "download=False skips this; ANN_DATA=DIR uses files you already have"


@dataclass(frozen=True)
class DataSource:
    """Where a data set's files were found, and one line telling the user about it.

    ``paths`` has the keys of ``FILES``; a path may end in ``.gz`` or not.
    ``kind`` is "folder" (found on disk), "download" (just fetched) or
    "sample" (the built-in MNIST sample).
    """

    paths: dict[str, Path]
    kind: str
    note: str


def default_data_dir() -> Path:
    """The folder data sets are looked for and downloaded to when none is given (MNIST at its
    top, every other set in its ``subfolder``).

    $ANN_DATA if set; otherwise the user's cache folder (``user_cache_dir``).
    """
    explicit = os.environ.get("ANN_DATA", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return user_cache_dir()


def user_cache_dir() -> Path:
    """%LOCALAPPDATA%\\ann on Windows, else $XDG_CACHE_HOME/ann (only if absolute, as the
    XDG spec asks) or ~/.cache/ann."""
    if os.name == "nt":
        local = os.environ.get("LOCALAPPDATA", "").strip()
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "ann"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "ann"
    return Path.home() / ".cache" / "ann"


def _sample_source(note: str) -> DataSource:
    found, missing = files_in(SAMPLE_DIR, _datasets.MNIST)
    if missing:
        raise DataError(
            f"the built-in MNIST sample lacks {', '.join(missing)} (broken installation?)",
            path=SAMPLE_DIR,
        )
    return DataSource(found, "sample", note)


def find_mnist(path: PathArg | None = None, **options: Any) -> DataSource:
    """``find_files`` for MNIST: the four MNIST files, or those of ``keys``."""
    return find_files(_datasets.MNIST, path, **options)


def find_files(
    spec: DatasetSpec,
    path: PathArg | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    timeout: float = 30.0,
    stream: IO[str] | None = None,
    keys: Sequence[str] = KEYS,
    connect_timeout: float = CONNECT_TIMEOUT,
    skip_hint: str = _SKIP_HINT,
) -> DataSource:
    """Find the four files of data set ``spec`` (or only those of ``keys``, e.g. the two test
    files), downloading them if needed and allowed.

    - ``path == "sample"`` (MNIST only): the built-in sample (write ``"./sample"`` for a
      folder that happens to be called so).
    - any other ``path``: that folder must hold the four files, with or
      without ``.gz``; otherwise ``DataError`` names the folder and what is
      missing. A folder the user names is never replaced by a download or the
      sample, since training on other data than asked for would mislead.
    - ``path is None``: the files in ``default_data_dir()`` (in the spec's subfolder); if
      some are missing and ``download`` is true, they are downloaded there. If they are
      missing and cannot be downloaded (every mirror failed, the folder cannot
      be written) or ``download`` is false, the result is, for MNIST, the built-in sample,
      with ``note`` saying why in one line for the caller to show; for any other set a
      ``DataError`` saying the same.

    Files already on disk are not hashed: a folder may legitimately hold a
    drop-in replacement with the same names, and the IDX reader checks their
    structure anyway. A mirror URL that is not http(s) raises ``DataError`` rather than
    falling back: it is a setting to fix.

    Before a download starts, one line on ``stream`` (with ``progress``) says what is tried
    and how to skip it (``skip_hint``), since an offline machine waits ``connect_timeout``
    seconds per mirror before the fallback.
    """
    unknown = [key for key in keys if key not in spec.files]
    if unknown or not keys:
        raise ValueError(f"keys must be some of {', '.join(spec.files)}, got {list(keys)!r}")
    title = spec.title
    if isinstance(path, str) and path == "sample":
        if not spec.has_sample:
            raise DataError(f"there is no built-in sample of {title}, only of MNIST")
        return _sample_source(f"using {_SAMPLE_WORDS}")
    if path is not None:
        if not os.fspath(path):  # Path("") would silently mean the current folder
            raise DataError(f"the {title} folder name is empty")
        folder = Path(os.fspath(path)).expanduser()
        if not folder.exists():
            raise DataError(f"{title} folder does not exist", path=folder)
        if not folder.is_dir():
            raise DataError(
                f"not a folder (expected a folder holding the four {title} files)", path=folder
            )
        found, missing = files_in(folder, spec, keys)
        if missing:
            raise DataError(
                f"{title} file(s) missing, with or without .gz: {', '.join(missing)}", path=folder
            )
        return DataSource(found, "folder", f"{title} from {folder}")

    folder = default_data_dir() / spec.subfolder if spec.subfolder else default_data_dir()
    found, missing = files_in(folder, spec, keys)
    if not missing:
        return DataSource(found, "folder", f"{title} from {folder}")

    def unavailable(why: str) -> DataSource:
        if spec.has_sample:
            return _sample_source(f"{title} not found in {folder} {why}; using {_SAMPLE_WORDS}")
        raise DataError(
            f"{title} not found in {folder} {why}; put its files there or name their "
            f"folder (ann: --data DIR)"
        )

    if not download:
        return unavailable("and downloading is off")
    mirrors = mirrors_from_env(spec)
    for mirror in mirrors:
        check_mirror(mirror, spec)
    if progress:
        host = urllib.parse.urlsplit(mirrors[0]).hostname
        others = f" (then {len(mirrors) - 1} other mirror(s))" if len(mirrors) > 1 else ""
        what = (
            f"{spec.archive.name} (all its splits, {spec.archive.max_bytes // 2**30} GiB at most)"
            if spec.archive is not None
            else ", ".join(missing)
        )
        print(
            f"ann: {title} is not in {folder}: downloading {what} from {host}"
            f"{others}, waiting at most {min(connect_timeout, timeout):g} s to connect; "
            f"{skip_hint}",
            file=sys.stderr if stream is None else stream,
            flush=True,
        )
    try:
        paths = download_files(
            spec,
            folder,
            mirrors=mirrors,
            timeout=timeout,
            progress=progress,
            stream=stream,
            keys=keys,
            connect_timeout=connect_timeout,
        )
    except DataError as exc:
        return unavailable(f"and not downloadable ({exc.reason})")
    return DataSource(paths, "download", f"{title} downloaded to {folder}")
