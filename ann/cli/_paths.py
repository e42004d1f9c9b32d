"""The files a command writes, checked before anything is written.

``check_destination`` fails at once when a file could not be written later (a missing folder,
a read-only file, a device), so that a run of an hour does not end with "cannot write".
``check_separate`` refuses an output that is one of the command's inputs, or another of its
outputs: ``ann train --data data.csv --save data.csv`` would replace the training data with a
model, and ``--save m.st --log m.st`` would leave JSON lines where the model was said to be.
Paths are compared as the files they name: symbolic links resolved, and for files that
exist, ``os.path.samefile`` (a hard link or another spelling of the same file is the same).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Union

from .._errors import DataError
from .._files import resolve_target
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
