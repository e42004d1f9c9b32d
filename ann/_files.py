"""File helpers shared by every reader and writer of the package.

* ``regular_file`` refuses what is not a regular file before anything opens it: opening a named
  pipe blocks forever waiting for a writer, which for a loader is a hang, not an error.
* ``atomic_write`` makes a file appear complete or not at all: the bytes go to a temporary file
  in the same folder, are flushed and fsynced, and the temporary file is renamed over the
  target (then the folder is fsynced, so the rename itself survives a crash). Any failure,
  Ctrl-C included, removes the temporary file and leaves the old target untouched.

Both take the exception class to raise (``DataError`` for data files, ``ModelFileError`` for
models), so each caller's errors keep naming the file in its own terms.
"""
from __future__ import annotations

import io
import os
import secrets
import stat
from typing import Callable, Iterable, Tuple, Type, Union

from ._errors import PathLike

Chunk = Union[bytes, bytearray, memoryview]


def regular_file(path: PathLike, error: Type[Exception], kind: str) -> os.stat_result:
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


def _create_temp(folder: str, base: str) -> Tuple[int, str]:
    """A new file beside the target, opened for writing.

    os.open with O_EXCL and a random name instead of tempfile.mkstemp: mkstemp forces mode
    0600, which would silently make a replaced file private; 0666 here is narrowed by the umask
    like any plain open()."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
             | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


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


def atomic_write(path: PathLike, write: Callable[[Callable[[Chunk], None]], None],
                 error: Type[Exception]) -> None:
    """Create or replace ``path`` atomically. ``write(put)`` produces the contents by calling
    ``put(chunk)`` as many times as it likes. OS failures become ``error(..., path=path)``."""
    target = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(target)
    try:
        fd, temp = _create_temp(folder, base)
    except OSError as exc:
        raise error(f"cannot create a file in {folder}: {exc.strerror or exc}",
                    path=path) from None
    replaced = False
    try:
        with io.FileIO(fd, "wb", closefd=True) as out:
            write(lambda chunk: _write_all(out, chunk))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        replaced = True
        fsync_folder(folder)
    except BaseException as exc:
        if not replaced:
            try:
                os.unlink(temp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not replaced:
            raise error(f"cannot write: {exc.strerror or exc}", path=path) from None
        raise


def write_chunks(chunks: Iterable[Chunk]) -> Callable[[Callable[[Chunk], None]], None]:
    """A ``write`` argument for ``atomic_write`` that puts the given chunks in order."""
    def write(put: Callable[[Chunk], None]) -> None:
        for chunk in chunks:
            put(chunk)
    return write
