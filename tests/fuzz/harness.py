"""What the fuzz targets beside this file share: atheris when it is installed, a scratch file
for inputs that a reader takes by name, and ``main``, which either replays saved inputs or
hands the target to libFuzzer with a fresh corpus folder in front.

libFuzzer writes every new interesting input into the *first* corpus folder it is given, so
``main`` puts a temporary folder in front of the ones on the command line (and says where):
a run does not litter the committed seed corpus. With ``--replay`` (implied when atheris is
missing) the files, or the files of the folders, named on the command line are checked once
instead, so a crash input can be re-run anywhere.

A target is run as a script (``python tests/fuzz/fuzz_idx.py ...``), which puts this folder
first on sys.path: that is how ``import harness`` finds this module.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

try:
    import atheris
except ImportError:  # replay mode only
    atheris = None


def instrumented() -> contextlib.AbstractContextManager:
    """Around the imports of the code under test: atheris instruments them for coverage."""
    return atheris.instrument_imports() if atheris is not None else contextlib.nullcontext()


def scratch_file(prefix: str, name: str) -> str:
    """A path in a temporary folder removed at exit, for readers that take a file name."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return os.path.join(folder, name)


def main(target: str, check: Callable[[bytes], None], replayed: str) -> None:
    """Replay (``--replay`` or no atheris) or fuzz ``check`` with the command line's libFuzzer
    flags and corpus folders; ``replayed`` says what a clean replay showed."""
    argv = list(sys.argv)
    if atheris is None or "--replay" in argv:
        args = [a for a in argv[1:] if a != "--replay"]
        files = [
            p
            for arg in args
            for p in (sorted(Path(arg).iterdir()) if Path(arg).is_dir() else [Path(arg)])
        ]
        for path in files:
            check(path.read_bytes())
        print(f"replayed {len(files)} inputs: {replayed}")
        return
    scratch = tempfile.mkdtemp(prefix=target.replace("_", "-") + "-corpus-")
    flags = [arg for arg in argv[1:] if arg.startswith("-")]
    dirs = [arg for arg in argv[1:] if not arg.startswith("-")]
    print(f"{target}: new corpus entries go to {scratch}", file=sys.stderr)
    atheris.Setup([argv[0], *flags, scratch, *dirs], check)
    atheris.Fuzz()
