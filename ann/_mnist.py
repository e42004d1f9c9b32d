"""Finding an IDX data set on any machine: a given folder, the user cache, a download, or (for
MNIST) the built-in sample.

The order of preference (``find_files``) is what lets ``ann train`` work
everywhere: it uses a folder the user names (and nothing else), or the cache
folder, which it fills from a public mirror when empty; when that is not
possible, MNIST falls back to the sample of 10,000 + 2,000 digits shipped in
``ann/data/sample`` and says so in one line, instead of failing. The other data
sets (``_datasets.py`` describes each) have no sample: for them it is an error.

Downloads are verified before they are moved into place, against any of the
digests the data set's spec lists per file: sha256 of the file as served
("gz"), sha256 of its decompressed IDX content ("raw", so that a mirror that
recompressed MNIST is accepted too) or MD5 (what Fashion-MNIST publishes).
EMNIST comes as one zip of all its splits: it is downloaded, verified, its
members extracted (each checked by the zip's CRC-32 and its IDX header's image
count), and deleted.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Union

from ._datasets import DEFAULT_MIRRORS, FILES, KEYS, MNIST, SHA256, Archive, DatasetSpec
from ._errors import DataError

__all__ = [
    "FILES",
    "SHA256",
    "DEFAULT_MIRRORS",
    "SAMPLE_DIR",
    "MnistSource",
    "default_data_dir",
    "mirrors_from_env",
    "find_files",
    "find_mnist",
    "download_files",
    "download_mnist",
]

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

# Limits that keep a hostile or broken mirror from costing unbounded disk,
# memory or time. The largest real file is 9.9 MB gzipped, 47 MB raw; an archive
# (EMNIST's zip, about 560 MB) has its own limit in its spec.
_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
_MAX_RAW_BYTES = 256 * 1024 * 1024
_MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one file extracted from an archive
_CHUNK = 64 * 1024
# A transfer must bring this much body per `timeout` seconds (about 550 B/s at
# the default 30 s) ...
_MIN_BYTES_PER_WINDOW = 16 * 1024
# ... and finish within this many `timeout`s (10 minutes at the default 30 s,
# i.e. at least ~17 kB/s for the 10 MB training images; an archive allowed k times
# _MAX_DOWNLOAD_BYTES gets k times as long).
_DEADLINE_FACTOR = 20
# Connecting takes well under a second to a working mirror; offline (packets dropped) it would
# take the whole read timeout per mirror on every run, so it gets its own, short, limit.
_CONNECT_TIMEOUT = 5.0
_SKIP_HINT = "download=False skips this; ANN_DATA=DIR uses files you already have"


@dataclass(frozen=True)
class MnistSource:
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


def _base_url(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"


def mirrors_from_env(spec: DatasetSpec | None = None) -> list[str]:
    """Base URLs of data set ``spec`` (default MNIST) from its variable ($ANN_MNIST_MIRRORS,
    $ANN_FASHION_MNIST_MIRRORS, ...: comma-separated), else its default mirrors.

    Blank entries are dropped and each URL gets a trailing "/", so the file
    names can simply be appended. A variable holding only blanks counts as unset.
    """
    spec = spec or MNIST
    entries = [
        _base_url(part) for part in os.environ.get(spec.mirrors_env, "").split(",") if part.strip()
    ]
    return entries or list(spec.default_mirrors)


def _check_mirror(url: str, spec: DatasetSpec = MNIST) -> None:
    """Refuse anything but http(s): a file:// or ftp:// "mirror" is a configuration mistake."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DataError(f"{spec.title} mirror {url!r} is not an http:// or https:// URL")


def _locate(
    folder: Path, keys: Sequence[str] = KEYS, spec: DatasetSpec = MNIST
) -> tuple[dict[str, Path], list[str]]:
    """The files of `keys` present in `folder` (gzipped or not; for a set that comes in an
    archive also in its ``gzip`` subfolder, the layout unzipping it gives), and the names of
    those missing."""
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


def _sample_source(note: str) -> MnistSource:
    found, missing = _locate(SAMPLE_DIR)
    if missing:
        raise DataError(
            f"the built-in MNIST sample lacks {', '.join(missing)} (broken installation?)",
            path=SAMPLE_DIR,
        )
    return MnistSource(found, "sample", note)


def find_mnist(path: PathArg | None = None, **options: Any) -> MnistSource:
    """``find_files`` for MNIST: the four MNIST files, or those of ``keys``."""
    return find_files(MNIST, path, **options)


def find_files(
    spec: DatasetSpec,
    path: PathArg | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    timeout: float = 30.0,
    stream: IO[str] | None = None,
    keys: Sequence[str] = KEYS,
    connect_timeout: float = _CONNECT_TIMEOUT,
    skip_hint: str = _SKIP_HINT,
) -> MnistSource:
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
        found, missing = _locate(folder, keys, spec)
        if missing:
            raise DataError(
                f"{title} file(s) missing, with or without .gz: {', '.join(missing)}", path=folder
            )
        return MnistSource(found, "folder", f"{title} from {folder}")

    folder = default_data_dir() / spec.subfolder if spec.subfolder else default_data_dir()
    found, missing = _locate(folder, keys, spec)
    if not missing:
        return MnistSource(found, "folder", f"{title} from {folder}")

    def unavailable(why: str) -> MnistSource:
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
        _check_mirror(mirror, spec)
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
    return MnistSource(paths, "download", f"{title} downloaded to {folder}")


def download_mnist(folder: PathArg, **options: Any) -> dict[str, Path]:
    """``download_files`` for MNIST."""
    return download_files(MNIST, folder, **options)


def download_files(
    spec: DatasetSpec,
    folder: PathArg,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    progress: bool = True,
    stream: IO[str] | None = None,
    hashes: Mapping[str, Mapping[str, str]] | None = None,
    keys: Sequence[str] = KEYS,
    connect_timeout: float = _CONNECT_TIMEOUT,
) -> dict[str, Path]:
    """Download the files of data set ``spec`` missing from `folder` and return the paths of
    all four (of those of ``keys`` when given).

    Each file is tried on the mirrors in turn (default: ``mirrors_from_env(spec)``)
    and lands in `folder` only once it matches one of its digests in ``hashes`` (default
    the spec's). `connect_timeout` (at most `timeout`) bounds connecting and `timeout` every
    read; in addition a transfer is abandoned when it brings less than 16 KiB in `timeout`
    seconds or lasts over 20 x `timeout` (longer for an archive), so a server that trickles
    bytes cannot hold it forever. Files already present are kept, so an interrupted
    download resumes with the missing ones. A set that comes in an archive has the archive
    downloaded and verified instead, then extracted into `folder` and deleted.

    Raises ``DataError`` when a file fails on every mirror (the message lists
    each mirror's reason), when a mirror is not http(s), or when `folder`
    cannot be created or written.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if not connect_timeout > 0:
        raise ValueError(
            f"connect_timeout must be a positive number of seconds, not {connect_timeout!r}"
        )
    connect_timeout = min(connect_timeout, timeout)
    mirror_list = mirrors_from_env(spec) if mirrors is None else [_base_url(m) for m in mirrors]
    if not mirror_list:
        raise DataError(f"no {spec.title} mirror to download from")
    for mirror in mirror_list:
        _check_mirror(mirror, spec)
    expected = spec.hashes if hashes is None else hashes
    out = sys.stderr if stream is None else stream
    target = Path(os.fspath(folder)).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder ({exc.strerror or exc})", path=target) from exc

    present, _ = _locate(target, KEYS, spec)
    order = list(mirror_list)
    if spec.archive is not None:
        if any(key not in present for key in keys):
            _download_archive(spec.archive, target, order, timeout, progress, out, connect_timeout)
            present, _ = _locate(target, KEYS, spec)
        missing = [spec.files[key] for key in keys if key not in present]
        if missing:
            raise DataError(f"{spec.archive.name} lacks {', '.join(missing)}", path=target)
        return {key: present[key] for key in keys}
    paths: dict[str, Path] = {}
    for key, name in spec.files.items():
        if key not in keys:
            continue
        if key in present:
            paths[key] = present[key]
            continue
        _fetch_from_mirrors(
            order, name, target, expected[key], timeout, progress, out, connect_timeout
        )
        paths[key] = target / name
    return paths


def _fetch_from_mirrors(
    order: list[str],
    name: str,
    target: Path,
    expected: Mapping[str, str],
    timeout: float,
    progress: bool,
    out: IO[str],
    connect_timeout: float,
    max_bytes: int | None = None,
) -> None:
    """Fetch `name` into `target` from the first mirror of `order` that delivers it verified;
    that mirror moves to the front of `order`. DataError listing every mirror's reason if
    none does."""
    failures: list[str] = []
    for i, mirror in enumerate(order):
        try:
            _fetch(
                mirror,
                name,
                target / name,
                expected,
                timeout,
                _Progress(name, out, progress),
                connect_timeout,
                max_bytes,
            )
        except _MirrorFailure as exc:
            failures.append(f"{mirror} ({exc})")
            if progress:
                then = f"; trying {order[i + 1]}" if i + 1 < len(order) else ""
                print(f"{name}: {mirror} failed ({exc}){then}", file=out, flush=True)
            continue
        # Ask the mirror that just worked first for the remaining files: an
        # unreachable mirror then costs its timeout once, not once per file.
        order.remove(mirror)
        order.insert(0, mirror)
        return
    raise DataError(f"could not download {name}: {'; '.join(failures)}", path=target)


def _download_archive(
    archive: Archive,
    target: Path,
    order: list[str],
    timeout: float,
    progress: bool,
    out: IO[str],
    connect_timeout: float,
) -> None:
    """Fetch `archive` into `target` unless it is there already, extract all its members,
    then delete it (it is only a container: keeping it would double the disk used)."""
    zip_path = target / archive.name
    if not zip_path.is_file():
        _fetch_from_mirrors(
            order,
            archive.name,
            target,
            archive.hashes,
            timeout,
            progress,
            out,
            connect_timeout,
            archive.max_bytes,
        )
    _extract(zip_path, target, archive.members, archive.mappings)
    if progress:
        print(
            f"{archive.name}: extracted {len(archive.members)} files into {target}, "
            f"CRC-32, image counts and class mappings verified; deleted the archive",
            file=out,
            flush=True,
        )
    _local(zip_path.unlink, zip_path)


def _extract(
    zip_path: Path,
    target: Path,
    members: Mapping[str, int | None],
    mappings: Mapping[str, tuple[int, tuple[str, ...]]] | None = None,
) -> None:
    """Extract the members named in `members` (by base name, wherever they sit in the zip)
    into `target`, each through a temporary file renamed into place once the zip's CRC-32
    and, for IDX files, the image count of its header (the value in `members`) match. First
    the class-mapping files of `mappings` are checked against the class names ``ann`` uses."""
    from . import _idx

    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable zip archive ({exc})", path=zip_path) from None
    with archive:
        by_name = {Path(info.filename).name: info for info in archive.infolist()}
        absent = [name for name in [*members, *(mappings or {})] if name not in by_name]
        if absent:
            raise DataError(f"the archive lacks {', '.join(absent)}", path=zip_path)
        for name, (offset, classes) in (mappings or {}).items():
            try:
                text = archive.read(by_name[name]).decode("ascii")
            except (OSError, EOFError, zlib.error, zipfile.BadZipFile, UnicodeError) as exc:
                raise DataError(f"{name} is damaged ({exc})", path=zip_path) from None
            _check_mapping(text, offset, classes, f"{name} in {zip_path}")
        for name, count in members.items():
            info = by_name[name]
            if info.file_size > _MAX_MEMBER_BYTES:
                raise DataError(f"{name} in the archive is too large", path=zip_path)
            dest = target / name
            tmp_path = _temporary(dest)
            try:
                with open(tmp_path, "wb") as sink:
                    try:
                        with archive.open(info) as source:
                            while True:
                                block = source.read(1024 * 1024)
                                if not block:
                                    break
                                _local(functools.partial(sink.write, block), tmp_path)
                    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                        # a CRC-32 mismatch is a BadZipFile raised at the member's end
                        raise DataError(f"{name} is damaged ({exc})", path=zip_path) from None
                    _local(functools.partial(os.fsync, sink.fileno()), tmp_path)
                if count is not None:
                    declared = _idx.read_header(tmp_path)[1][0]
                    if declared != count:
                        raise DataError(
                            f"{name} declares {declared} entries, but the published "
                            f"split has {count}",
                            path=zip_path,
                        )
                _local(functools.partial(os.chmod, tmp_path, 0o644), tmp_path)
                _local(functools.partial(os.replace, tmp_path, dest), dest)
            finally:
                if tmp_path.exists():
                    tmp_path.unlink()


def _check_mapping(text: str, offset: int, classes: Sequence[str], where: str) -> None:
    """A mapping file ("label code [code]" per line) must give class ``label - offset`` the
    character ``classes[label - offset]`` (its first code), for every class and no other."""
    found: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            label, code = int(fields[0]), int(fields[1])
            found[label - offset] = chr(code)
        except (ValueError, IndexError, OverflowError):
            raise DataError(f"{where}: line {number} is not 'label code': {line!r}") from None
    expected = dict(enumerate(classes))
    if found != expected:
        wrong = sorted(set(found.items()) ^ set(expected.items()))[:3]
        raise DataError(
            f"{where}: the classes it maps differ from ann's ({len(found)} vs "
            f"{len(expected)} classes; first differences (class, character): {wrong})"
        )


def _temporary(dest: Path) -> Path:
    """A new empty file beside `dest`, for a write that is renamed over `dest` when done."""
    try:
        handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise DataError(
            f"cannot write in the folder ({exc.strerror or exc})", path=dest.parent
        ) from exc
    os.close(handle)
    return Path(name)


class _MirrorFailure(Exception):
    """This mirror could not deliver this file; the next one may. str() is the brief reason."""


def _fetch(
    mirror: str,
    name: str,
    dest: Path,
    expected: Mapping[str, str],
    timeout: float,
    progress: _Progress,
    connect_timeout: float = _CONNECT_TIMEOUT,
    max_bytes: int | None = None,
) -> None:
    """Download mirror+name to a temporary file beside `dest`, verify it, then move it into place.

    The temporary file lives in the destination folder so the final
    ``os.replace`` is an atomic rename: `dest` is either absent or complete
    and verified, even after a crash or Ctrl-C (which deletes the temporary).
    """
    try:
        tmp = tempfile.NamedTemporaryFile(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise DataError(
            f"cannot write in the folder ({exc.strerror or exc})", path=dest.parent
        ) from exc
    tmp_path = Path(tmp.name)
    placed = False
    try:
        started = time.monotonic()
        digests, size = _stream_body(
            mirror + name, tmp, timeout, progress, connect_timeout, max_bytes
        )
        _local(tmp.flush, tmp_path)
        _verify(tmp, digests, expected)
        _local(lambda: os.fsync(tmp.fileno()), tmp_path)
        tmp.close()
        # mkstemp makes the file private (0600); the data sets are public and the
        # folder may be shared ($ANN_DATA), so give it ordinary permissions.
        _local(lambda: os.chmod(tmp_path, 0o644), tmp_path)
        _local(lambda: os.replace(tmp_path, dest), dest)
        placed = True
        progress.finish(size, time.monotonic() - started, mirror, _algorithm(expected))
    finally:
        if not placed:
            progress.abort()
            tmp.close()
            try:
                tmp_path.unlink()
            except OSError:
                pass


def _local(action: Callable[[], object], path: Path) -> None:
    """Run a local file operation; its failure is not the mirror's fault, so it ends the
    download."""
    try:
        action()
    except OSError as exc:
        raise DataError(f"cannot write the download ({exc.strerror or exc})", path=path) from exc


def _stream_body(
    url: str,
    sink: IO[bytes],
    timeout: float,
    progress: _Progress,
    connect_timeout: float = _CONNECT_TIMEOUT,
    max_bytes: int | None = None,
) -> tuple[dict[str, str], int]:
    """GET `url` into `sink`, returning ({"gz": sha256 hex, "md5": md5 hex} of the body, its
    length). `max_bytes` (default _MAX_DOWNLOAD_BYTES) bounds the body; a larger limit
    lengthens the transfer's deadline in proportion."""
    limit = _MAX_DOWNLOAD_BYTES if max_bytes is None else max_bytes
    watchdog = _Watchdog(timeout, max(1.0, limit / _MAX_DOWNLOAD_BYTES))
    opener = _opener(watchdog, connect_timeout)
    request = urllib.request.Request(
        url, headers={"User-Agent": "ann-mlp", "Accept-Encoding": "identity"}
    )
    watchdog.start()
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _MirrorFailure(f"HTTP {exc.code} {exc.reason}".rstrip()) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise _MirrorFailure(watchdog.reason or _describe(exc, timeout)) from None
        with response:
            total = _content_length(response)
            if total is not None and total > limit:
                raise _MirrorFailure(f"file of {total} bytes is too large")
            digest = hashlib.sha256()
            # MD5 only because Fashion-MNIST publishes nothing else; a second file with a
            # given MD5 (a preimage, not a collision) is still out of anyone's reach.
            md5 = hashlib.md5(usedforsecurity=False)
            done = 0
            while True:
                try:
                    # read1 returns after one socket read, so every chunk goes
                    # through the timeout and the watchdog's byte count;
                    # read(n) would block until n bytes came, however slowly.
                    chunk = response.read1(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _MirrorFailure(watchdog.reason or _describe(exc, timeout)) from None
                if not chunk:
                    break
                done += len(chunk)
                if done > limit:
                    raise _MirrorFailure(f"body exceeds {limit // 2**20} MiB")
                digest.update(chunk)
                md5.update(chunk)
                _local(functools.partial(sink.write, chunk), Path(sink.name))
                watchdog.count(len(chunk))
                progress.update(done, total)
        if watchdog.reason:  # an abort the reader saw as a plain end of stream
            raise _MirrorFailure(watchdog.reason)
        if total is not None and done != total:
            raise _MirrorFailure(f"connection closed after {done} of {total} bytes")
        return {"gz": digest.hexdigest(), "md5": md5.hexdigest()}, done
    finally:
        watchdog.stop()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException, timeout: float) -> str:
    """A few words for a network error, e.g. "connection refused"."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, _ConnectTimeout):
        return str(reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _algorithm(expected: Mapping[str, str]) -> str:
    """The name of what `expected` checks, for messages: sha256 when it has a sha256."""
    return "sha256" if "gz" in expected or "raw" in expected else "md5"


def _verify(tmp: IO[bytes], digests: Mapping[str, str], expected: Mapping[str, str]) -> None:
    """Accept the file as served if its sha256 ("gz") or MD5 ("md5") is one of `expected`'s,
    or any gzip whose decompressed content has the "raw" sha256."""
    if any(digests.get(kind) == expected[kind] for kind in ("gz", "md5") if kind in expected):
        return
    what = _algorithm(expected)
    if "raw" not in expected:
        raise _MirrorFailure(f"{what} mismatch")
    tmp.seek(0)
    raw = hashlib.sha256()
    size = 0
    try:
        with gzip.GzipFile(fileobj=tmp, mode="rb") as data:
            # Bounded reads: a small "gzip bomb" cannot fill memory or run long.
            while True:
                block = data.read(1024 * 1024)
                if not block:
                    break
                size += len(block)
                if size > _MAX_RAW_BYTES:
                    raise _MirrorFailure(f"{what} mismatch (decompresses to too much data)")
                raw.update(block)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        raise _MirrorFailure(f"{what} mismatch (not valid gzip)") from None
    if raw.hexdigest() != expected["raw"]:
        raise _MirrorFailure(f"{what} mismatch")


class _Watchdog:
    """Aborts one transfer that stalls or overruns, by shutting down its socket.

    Socket timeouts alone do not bound a transfer: they bound each read, so a
    server that sends one byte just before every timeout keeps it alive for
    ever. A thread checks that every `window` seconds at least
    _MIN_BYTES_PER_WINDOW bytes of body arrived (the first window, which also
    covers connecting and reading headers, lasts twice as long), and that the transfer ends
    within _DEADLINE_FACTOR windows; otherwise it sets ``reason`` and shuts the socket down, which
    wakes the blocked read. The TLS handshake happens before the socket is
    known here, so it is bounded by the per-read timeout only.
    """

    def __init__(self, window: float, scale: float = 1.0) -> None:
        self._window = window
        self._deadline = _DEADLINE_FACTOR * window * scale
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._window_bytes = 0
        self._thread: threading.Thread | None = None
        self.reason: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ann-download-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def add_socket(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.reason is not None
        if fired:
            _shutdown(sock)

    def count(self, nbytes: int) -> None:
        with self._lock:
            self._window_bytes += nbytes

    def _run(self) -> None:
        started = time.monotonic()
        # The first window is twice as long: a server silent from the start is
        # the socket timeout's case (its message is clearer), and connecting
        # plus reading headers must not eat into the first window's bytes.
        window_start = started + self._window
        while not self._stopped.wait(min(self._window / 4, 1.0)):
            now = time.monotonic()
            with self._lock:
                if now - started >= self._deadline:
                    self.reason = f"not finished within {self._deadline:g} s"
                elif now - window_start >= self._window:
                    if self._window_bytes < _MIN_BYTES_PER_WINDOW:
                        self.reason = (
                            f"stalled: under {_MIN_BYTES_PER_WINDOW} bytes in {self._window:g} s"
                        )
                    window_start = now
                    self._window_bytes = 0
                if self.reason is None:
                    continue
                sockets = list(self._sockets)
            for sock in sockets:
                _shutdown(sock)
            return


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed: nothing left to wake
        pass


class _ConnectTimeout(TimeoutError):
    """Connecting (TCP, and TLS for https) took longer than the connect timeout."""


def _connect_within(
    connection: http.client.HTTPConnection, connect: Callable[[], None], connect_timeout: float
) -> None:
    """Run ``connect`` with the short connect timeout, then give the socket the read timeout."""
    read_timeout = connection.timeout
    connection.timeout = connect_timeout
    try:
        connect()
    except (socket.timeout, TimeoutError):
        raise _ConnectTimeout(f"no connection within {connect_timeout:g} s") from None
    finally:
        connection.timeout = read_timeout
    if connection.sock is not None:
        connection.sock.settimeout(read_timeout)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that connects within a short timeout and hands its socket to a
    watchdog once connected."""

    def __init__(
        self, *args: object, watchdog: _Watchdog, connect_timeout: float, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._watchdog = watchdog
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        _connect_within(self, super().connect, self._connect_timeout)
        self._watchdog.add_socket(self.sock)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog, connect_timeout: float) -> None:
        super().__init__()
        self._watchdog = watchdog
        self._connect_timeout = connect_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(
                _GuardedHTTPConnection,
                watchdog=self._watchdog,
                connect_timeout=self._connect_timeout,
            ),
            req,
        )


_handlers: list[Callable[[_Watchdog, float], urllib.request.BaseHandler]] = [_GuardedHTTPHandler]

if hasattr(http.client, "HTTPSConnection"):  # absent when Python was built without ssl

    class _GuardedHTTPSConnection(http.client.HTTPSConnection):
        """The HTTPS counterpart of _GuardedHTTPConnection (certificates are verified as usual)."""

        def __init__(
            self, *args: Any, watchdog: _Watchdog, connect_timeout: float, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            self._watchdog = watchdog
            self._connect_timeout = connect_timeout

        def connect(self) -> None:
            _connect_within(self, super().connect, self._connect_timeout)
            self._watchdog.add_socket(self.sock)

    class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def __init__(self, watchdog: _Watchdog, connect_timeout: float) -> None:
            super().__init__()
            self._watchdog = watchdog
            self._connect_timeout = connect_timeout

        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(
                functools.partial(
                    _GuardedHTTPSConnection,
                    watchdog=self._watchdog,
                    connect_timeout=self._connect_timeout,
                ),
                req,
                context=self._context,  # type: ignore[attr-defined]
            )

    _handlers.append(_GuardedHTTPSHandler)


class _HttpOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s); urllib would also follow one to ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(
    watchdog: _Watchdog, connect_timeout: float = _CONNECT_TIMEOUT
) -> urllib.request.OpenerDirector:
    """An opener that speaks only http(s), honours proxy settings, connects within
    `connect_timeout` seconds, and reports to `watchdog`."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        *(make(watchdog, connect_timeout) for make in _handlers),
        _HttpOnlyRedirectHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class _Progress:
    """One line of progress per file: redrawn in place on a terminal, printed once otherwise."""

    def __init__(self, name: str, stream: IO[str], enabled: bool) -> None:
        self._name = name
        self._stream = stream
        self._enabled = enabled
        self._live = enabled and _isatty(stream)
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int, total: int | None) -> None:
        if not self._live:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done != total:
            return
        self._last_draw = now
        rate = done / max(now - self._started, 1e-9)
        of = f"/{_mb(total)}" if total is not None else ""
        self._stream.write(f"\r{self._name}: {_mb(done)}{of} MB, {_mb(rate)} MB/s   ")
        self._stream.flush()
        self._drawn = True

    def abort(self) -> None:
        """End a half-drawn line so that the next message starts on its own."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def finish(self, size: int, seconds: float, mirror: str, algorithm: str = "sha256") -> None:
        if not self._enabled:
            return
        rate = size / max(seconds, 1e-9)
        line = (
            f"{self._name}: {_mb(size)} MB in {seconds:.1f} s ({_mb(rate)} MB/s) "
            f"from {mirror}, {algorithm} verified"
        )
        self._stream.write(("\r" if self._live else "") + line + "\n")
        self._stream.flush()
        self._drawn = False


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f}"


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
