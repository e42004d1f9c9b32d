"""The files a command writes, checked before anything is written.

``check_destination`` fails at once when a file could not be written later (a missing folder,
a read-only file, a device), so that a run of an hour does not end with "cannot write".
``check_separate`` refuses an output that is one of the command's inputs, or another of its
outputs: ``ann train --data data.csv --save data.csv`` would replace the training data with a
model, and ``--save m.st --log m.st`` would leave JSON lines where the model was said to be.
Paths are compared as the files they name: symbolic links resolved, and for files that
exist, ``os.path.samefile`` (a hard link or another spelling of the same file is the same).
``SaveLock`` keeps two runs from saving to one file at once: each save is atomic, so the file
would be valid, but both runs would say "model saved" while it holds only the last writer's.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Union

from .._errors import DataError
from .._files import resolve_target
from .._plot_image import image_format

try:
    import fcntl
except ImportError:  # Windows: no flock, and no lock (see SaveLock)
    fcntl = None  # type: ignore[assignment]
from ._output import UsageError

# (option, path): where a path came from, for the message ("--data", "data.csv"); a path of
# None (an option not given) is left out
Named = tuple[str, Union[str, "os.PathLike[str]", None]]


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether writing ``a`` would write ``b``: the same inode when both exist, else the same
    path once links and ``..`` are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_separate(
    command: str,
    inputs: Iterable[Named],
    outputs: Sequence[Named],
    allowed: Iterable[tuple[str, str]] = (),
) -> None:
    """Raise UsageError when an output is an input or another output. ``allowed`` lists the
    (output option, input option) pairs that may name one file on purpose (``ann train
    --resume m --save m`` updates the model in place)."""
    given = [(option, path) for option, path in outputs if path]
    sources = [(option, path) for option, path in inputs if path]
    permitted = set(allowed)
    for i, (option, path) in enumerate(given):
        for other, source in sources:
            if (option, other) not in permitted and same_file(path, source):
                raise UsageError(
                    f"ann {command}: {option} {path} would overwrite {other} {source}, "
                    f"which the command reads; give {option} another path"
                )
        for other, target in given[:i]:
            if same_file(path, target):
                raise UsageError(
                    f"ann {command}: {other} {target} and {option} {path} are one file: "
                    f"one would overwrite the other; give each its own path"
                )


def check_plot_name(command: str, path: str | None) -> None:
    """--plot-file: .svg and .png are images, any other name gets text; an image format ann
    does not write (.jpg, .pdf, ...) is refused rather than filled with text."""
    if path is not None and image_format(path) is None:
        suffix = os.path.splitext(path)[1]
        raise UsageError(
            f"ann {command}: --plot-file {path}: ann draws plots as .svg or .png images, or "
            f"as text under any other name (plot.txt), not as {suffix}"
        )


def check_destination(command: str, option: str, path: str | None) -> None:
    """Fail now, with the reason, if a file cannot be written at ``path`` later."""
    if path is None:
        return
    if not path.strip():
        raise UsageError(f"ann {command}: {option} needs a file name, got {path!r}")
    if os.path.isdir(path):
        raise DataError(f"{option} {path}: is a folder, not a file")
    try:  # what the save itself would refuse: a link loop, a device, a read-only file
        target, _ = resolve_target(path, DataError)
    except DataError as exc:
        raise DataError(f"{option} {exc}") from None
    folder = os.path.dirname(target)  # a link is written through to its target
    if not os.path.isdir(folder):
        what = "does not exist" if not os.path.exists(folder) else "is not a folder"
        raise DataError(f"{option} {path}: folder {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in folder {folder} (permission denied)")


class SaveLock:
    """``with SaveLock("--save", path):`` holds ``.NAME.lock`` beside the file ``path`` writes
    (a link's target) locked for the whole run; a second run saving to the same file fails at
    once, naming the first one's process id. The kernel drops the lock when a process ends,
    however it ends, so a lock file left by a killed run does not block the next. Where
    ``flock`` is missing or refused (Windows, some network file systems) nothing is locked."""

    def __init__(self, option: str, path: str) -> None:
        target, _ = resolve_target(path, DataError)
        self.option, self.path = option, path
        self.lock_path = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.lock")
        self.fd: int | None = None

    def __enter__(self) -> SaveLock:
        if fcntl is None:
            return self
        while self.fd is None:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                return self  # cannot create it (a read-only folder fails the save anyway)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    return self  # no locks on this file system: go on without
                raise DataError(
                    f"{self.option} {self.path}: another run is saving to this file"
                    + (f" (process {holder})" if holder else "")
                    + "; wait for it to finish, or give another path"
                ) from None
            try:  # its last holder may have removed it between our open and our lock
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.fd is None:
            return
        try:  # removed while still locked, so nobody can take a lock on a file going away
            os.unlink(self.lock_path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
