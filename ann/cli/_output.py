"""What every command says, and how it ends: stdout lines, stderr notes, exit statuses.

Results go to stdout, one ``say`` per line, flushed at once (a pipe or a log file sees each
line as it is made); notes and warnings go to stderr prefixed ``ann:``. A bad command-line
value raises ``UsageError``, which ``main`` prints as its one line and exits with status 2.
"""

from __future__ import annotations

import sys
from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command-line value (exit status 2)."""


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    print(f"ann: {text}", file=sys.stderr, flush=True)


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; False for anything that cannot say."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
