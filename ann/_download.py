"""Downloading an IDX data set's files and verifying them before they are kept.

``download_files`` fetches the files of a data set (``_datasets.py`` describes each) that a
folder lacks, trying the data set's mirrors in turn (``mirrors_from_env``: its variable, such
as $ANN_MNIST_MIRRORS, else its default mirrors). A file lands in the folder only verified,
against any of the digests its spec lists: sha256 of the file as served ("gz"), sha256 of
its decompressed IDX content ("raw", so that a mirror that recompressed MNIST is accepted
too) or MD5 (what Fashion-MNIST publishes). It is written to a temporary file beside its
final name and renamed into place, so a crash or Ctrl-C never leaves half a file under the
real name. EMNIST comes as one zip of all its splits: it is downloaded, verified, its members
extracted (each checked by the zip's CRC-32 and its IDX header's image count), and deleted.

Each transfer goes through ``_http.get``, which bounds its time and size; a mirror that fails
is reported in one line and the next one tried.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import sys
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Callable, Union

from . import _datasets, _http
from ._datasets import KEYS, Archive, DatasetSpec, files_in
from ._errors import DataError
from ._http import CONNECT_TIMEOUT, MirrorFailure

PathArg = Union[str, "os.PathLike[str]"]

# Limits that keep a hostile or broken mirror from costing unbounded disk or memory (the
# body of each download is bounded by _http.MAX_BODY_BYTES). The largest real file is 47 MB
# raw.
MAX_RAW_BYTES = 256 * 1024 * 1024
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one file extracted from an archive


def _base_url(url: str) -> str:
    url = url.strip()
    return url if url.endswith("/") else url + "/"


def mirrors_from_env(spec: DatasetSpec | None = None) -> list[str]:
    """Base URLs of data set ``spec`` (default MNIST) from its variable ($ANN_MNIST_MIRRORS,
    $ANN_FASHION_MNIST_MIRRORS, ...: comma-separated), else its default mirrors.

    Blank entries are dropped and each URL gets a trailing "/", so the file
    names can simply be appended. A variable holding only blanks counts as unset.
    """
    spec = spec or _datasets.MNIST
    entries = [
        _base_url(part) for part in os.environ.get(spec.mirrors_env, "").split(",") if part.strip()
    ]
    return entries or list(spec.default_mirrors)


def check_mirror(url: str, spec: DatasetSpec) -> None:
    """Refuse anything but http(s): a file:// or ftp:// "mirror" is a configuration mistake."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise DataError(f"{spec.title} mirror {url!r} is not an http:// or https:// URL")


def download_mnist(folder: PathArg, **options: Any) -> dict[str, Path]:
    """``download_files`` for MNIST."""
    return download_files(_datasets.MNIST, folder, **options)


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
    connect_timeout: float = CONNECT_TIMEOUT,
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
        check_mirror(mirror, spec)
    expected = spec.hashes if hashes is None else hashes
    out = sys.stderr if stream is None else stream
    target = Path(os.fspath(folder)).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder ({exc.strerror or exc})", path=target) from exc

    present, _ = files_in(target, spec)
    order = list(mirror_list)
    if spec.archive is not None:
        if any(key not in present for key in keys):
            _download_archive(spec.archive, target, order, timeout, progress, out, connect_timeout)
            present, _ = files_in(target, spec)
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
                ProgressLine(name, out, progress),
                connect_timeout,
                max_bytes,
            )
        except MirrorFailure as exc:
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
            if info.file_size > MAX_MEMBER_BYTES:
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


def _fetch(
    mirror: str,
    name: str,
    dest: Path,
    expected: Mapping[str, str],
    timeout: float,
    progress: ProgressLine,
    connect_timeout: float = CONNECT_TIMEOUT,
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
        # MD5 only because Fashion-MNIST publishes nothing else; a second file with a
        # given MD5 (a preimage, not a collision) is still out of anyone's reach.
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)

        def write(chunk: bytes) -> None:
            sha256.update(chunk)
            md5.update(chunk)
            _local(functools.partial(tmp.write, chunk), tmp_path)

        size = _http.get(mirror + name, write, timeout, progress, connect_timeout, max_bytes)
        digests = {"gz": sha256.hexdigest(), "md5": md5.hexdigest()}
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
        raise MirrorFailure(f"{what} mismatch")
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
                if size > MAX_RAW_BYTES:
                    raise MirrorFailure(f"{what} mismatch (decompresses to too much data)")
                raw.update(block)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        raise MirrorFailure(f"{what} mismatch (not valid gzip)") from None
    if raw.hexdigest() != expected["raw"]:
        raise MirrorFailure(f"{what} mismatch")


class ProgressLine:
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
