"""File helpers shared by every reader and writer of the package.

* ``regular_file`` refuses what is not a regular file before anything opens it: opening a named
  pipe blocks forever waiting for a writer, which for a loader is a hang, not an error.
* ``atomic_write`` makes a file appear complete or not at all: the bytes go to a temporary file
  in the same folder, are flushed and fsynced, and the temporary file is renamed over the
  target (then the folder is fsynced, so the rename itself survives a crash). Any failure,
  Ctrl-C included, removes the temporary file and leaves the old target untouched.

  The target is what a plain ``open(path, "w")`` would write: a symbolic link is followed and
  the file it points to is replaced (the link stays a link), that file keeps its permission
  bits (and, where allowed, its owner and group), and what ``open`` would refuse is refused
  with one clear error: a read-only file, a link loop, a folder, a device or named pipe.

  A process killed mid-save (SIGKILL, power loss) cannot remove its temporary file. Each
  writer holds an ``flock`` on its temporary file while it exists, and every later save in
  that folder removes the temporary files of ours (``.NAME.<12 hex digits>.tmp``) that nobody
  holds locked and that were last written ``STALE_AFTER`` seconds ago or more: the kernel
  drops a lock when its process dies however it dies, so a locked one belongs to a save still
  running (in this or another process) and is left alone. Where locks cannot be taken (no
  ``fcntl``, or a file system that refuses them) only files untouched for
  ``STALE_AFTER_NO_LOCKS`` seconds are removed.

Both take the exception class to raise (``DataError`` for data files, ``ModelFileError`` for
models), so each caller's errors keep naming the file in its own terms.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterable
from typing import Callable, Union

from ._errors import PathLike, _LocatedError

try:
    import fcntl
except ImportError:  # Windows: no flock; open files cannot be deleted there anyway
    fcntl = None  # type: ignore[assignment]

Chunk = Union[bytes, bytearray, memoryview]

#: The temporary files ``atomic_write`` creates: "." + target name + "." + 12 hex + ".tmp".
TEMP_NAME = re.compile(r"\A\..+\.[0-9a-f]{12}\.tmp\Z", re.DOTALL)
#: A temporary file nobody holds locked is stale once untouched this long (seconds). The lock
#: is what tells a live save from a dead one; the age only covers the instant between a
#: writer's create and its lock, and writers of versions that took no lock.
STALE_AFTER = 10.0
#: Where no lock can tell (see the module docstring), a temporary file untouched this long.
STALE_AFTER_NO_LOCKS = 3600.0

_ours: set[str] = set()  # temporary files this process is writing now (any thread)
_ours_lock = threading.Lock()


def regular_file(path: PathLike, error: type[_LocatedError], kind: str) -> os.stat_result:
    """``os.stat(path)``, or ``error(message, path=path)`` when it is missing, a folder, or not
    a regular file. ``kind`` names what was expected ("an IDX file", "an image file")."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error("no such file", path=path) from None
    except OSError as exc:
        raise error(f"cannot access file: {exc.strerror or exc}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"is a directory, not {kind}", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise error("is not a regular file (named pipe, device or socket)", path=path)
    return info


def _create_temp(folder: str, base: str) -> tuple[int, str]:
    """A new file beside the target, opened for writing.

    os.open with O_EXCL and a random name instead of tempfile.mkstemp: mkstemp forces mode
    0600, which would silently make a replaced file private; 0666 here is narrowed by the umask
    like any plain open()."""
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_BINARY", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    for _ in range(100):
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp, flags, 0o666)
        except FileExistsError:
            continue
        with _ours_lock:
            _ours.add(temp)
        return fd, temp
    raise FileExistsError(f"no free temporary name in {folder}")


def _lock(fd: int) -> bool:
    """Hold an exclusive flock on our temporary file (False where none can be taken)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a cleaner probes it (microseconds)
    except OSError:
        return False
    return True


def remove_stale_temps(folder: str) -> None:
    """Remove the temporary files of ``atomic_write`` in ``folder`` whose save died (see the
    module docstring). Never raises: a file it cannot judge or remove is left where it is."""
    try:
        with os.scandir(folder) as entries:
            candidates = [entry.path for entry in entries if TEMP_NAME.match(entry.name)]
    except OSError:
        return
    for path in candidates:
        with _ours_lock:
            if path in _ours:
                continue
        try:
            _remove_if_stale(path)
        except OSError:
            pass


def _remove_if_stale(path: str) -> None:
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):  # a link or folder by that name is not ours
        return
    age = time.time() - info.st_mtime
    if age < STALE_AFTER:
        return
    if fcntl is None:
        if age >= STALE_AFTER_NO_LOCKS:
            os.unlink(path)
        return
    fd = os.open(
        path,
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NONBLOCK", 0),
    )
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return  # locked: its save is still running
            if age < STALE_AFTER_NO_LOCKS:  # this file system cannot tell: wait longer
                return
        opened, now = os.fstat(fd), os.lstat(path)
        if (opened.st_dev, opened.st_ino) == (now.st_dev, now.st_ino):  # still the same file
            os.unlink(path)
    finally:
        os.close(fd)


def resolve_target(path: PathLike, error: type[_LocatedError]) -> tuple[str, os.stat_result | None]:
    """The file a write to ``path`` would really replace (symbolic links followed) and its
    stat (None when it does not exist yet), or ``error`` for what must not be replaced."""
    target = os.path.abspath(os.fspath(path))
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None  # a new file (or a link to one not created yet)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(
                "is a symbolic link loop (or a chain of too many links); not replacing it",
                path=path,
            ) from None
        raise error(f"cannot access: {exc.strerror or exc}", path=path) from None
    real = os.path.realpath(target)
    if info is None:
        return real, None
    if stat.S_ISDIR(info.st_mode):
        raise error("is a directory; give a file name to write", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise error(
            "is not a regular file (device, named pipe or socket); not replacing it", path=path
        )
    if not os.access(real, os.W_OK):
        raise error(
            f"is read-only (mode {stat.S_IMODE(info.st_mode):04o}); not replacing it: "
            f"make it writable or write to another name",
            path=path,
        )
    return real, info


def _keep_mode_and_owner(fd: int, temp: str, info: os.stat_result) -> None:
    """Give the new file the replaced file's permission bits, and its owner and group where
    the system lets us (best effort: a failure leaves the umask's mode and our ownership)."""
    mode = stat.S_IMODE(info.st_mode) & 0o777  # never carry set-id bits to new content
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:
            os.chmod(temp, mode)
    except OSError:
        pass
    if hasattr(os, "fchown"):
        mine = os.fstat(fd)
        if (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid):
            for uid in (info.st_uid, -1):  # the owner needs root; the group may work
                try:
                    os.fchown(fd, uid, info.st_gid)
                    break
                except OSError:
                    continue


def fsync_folder(folder: str) -> None:
    """Persist a rename in ``folder``; skipped where a folder cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(out: io.FileIO, data: Chunk) -> None:
    # FileIO.write may write less than asked (signals, pipes): loop until done.
    view = memoryview(data).cast("B")
    while view.nbytes:
        n = out.write(view)
        if n is None or n <= 0:
            raise OSError("short write")
        view = view[n:]


def atomic_write(
    path: PathLike, write: Callable[[Callable[[Chunk], None]], None], error: type[_LocatedError]
) -> None:
    """Create or replace ``path`` atomically. ``write(put)`` produces the contents by calling
    ``put(chunk)`` as many times as it likes. OS failures become ``error(..., path=path)``."""
    target, replacing = resolve_target(path, error)
    folder, base = os.path.split(target)
    remove_stale_temps(folder)
    try:
        fd, temp = _create_temp(folder, base)
    except OSError as exc:
        raise error(f"cannot create a file in {folder}: {exc.strerror or exc}", path=path) from None
    replaced = False
    out: io.FileIO | None = None
    try:
        out = io.FileIO(fd, "wb", closefd=True)
        locked = _lock(fd)
        if replacing is not None:
            _keep_mode_and_owner(fd, temp, replacing)
        write(lambda chunk: _write_all(out, chunk))
        out.flush()
        os.fsync(out.fileno())
        if not locked:  # Windows cannot rename an open file; no lock to hold there
            out.close()
        os.replace(temp, target)  # with the lock held to the end, no cleaner can take it
        replaced = True
        out.close()
        fsync_folder(folder)
    except BaseException as exc:
        if out is not None:
            try:
                out.close()
            except OSError:
                pass
        else:
            os.close(fd)
        if not replaced:
            try:
                os.unlink(temp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not replaced:
            raise error(f"cannot write: {exc.strerror or exc}", path=path) from None
        raise
    finally:
        with _ours_lock:
            _ours.discard(temp)


def write_chunks(chunks: Iterable[Chunk]) -> Callable[[Callable[[Chunk], None]], None]:
    """A ``write`` argument for ``atomic_write`` that puts the given chunks in order."""

    def write(put: Callable[[Chunk], None]) -> None:
        for chunk in chunks:
            put(chunk)

    return write
