"""The data set a command reads: --dataset, --data and --no-download to files and examples.

Finding (or downloading) the IDX files says what it did on stderr when that was more than
reading a folder; a CSV file given to --data is each command's own business.
"""

from __future__ import annotations

import argparse
from typing import Literal, overload

import ann

from .._datasets import KEYS, get_spec
from .._load import read_parts
from .._locate import DataSource, find_files
from ._options import is_csv
from ._output import UsageError, note

# how to avoid a download, for the message of one that fails
SKIP_DOWNLOAD = "--no-download skips this; --data DIR or ANN_DATA=DIR uses files you have"


@overload
def load_data(
    args: argparse.Namespace, quiet: bool = ..., test_only: Literal[False] = ...
) -> tuple[DataSource, ann.Dataset, ann.Dataset]: ...
@overload
def load_data(
    args: argparse.Namespace, quiet: bool = ..., *, test_only: Literal[True]
) -> tuple[DataSource, None, ann.Dataset]: ...
def load_data(
    args: argparse.Namespace, quiet: bool = False, test_only: bool = False
) -> tuple[DataSource, ann.Dataset | None, ann.Dataset]:
    """(source, train, test) of ``--dataset``; with ``test_only`` train is None and only the
    two test files are looked for (or downloaded)."""
    if is_csv(args.data):  # the commands that take one read it themselves, before this
        raise UsageError(
            f"ann {args.command}: --data {args.data}: {args.command} reads an IDX data set "
            f"(a folder of IDX files, or 'sample'), not a CSV file"
        )
    spec = get_spec(args.dataset or "mnist")
    keys = ("test_images", "test_labels") if test_only else KEYS
    source = find_files(
        spec,
        args.data,
        download=not args.no_download,
        progress=not quiet,
        keys=keys,
        skip_hint=SKIP_DOWNLOAD,
    )
    if source.note and source.kind != "folder":  # a download, or the sample fallback
        note(source.note)
    # every file read, for the checks that no output overwrites one (_paths.check_separate)
    vars(args).setdefault("files_read", []).extend(source.paths.values())
    if test_only:
        return source, None, read_parts(spec, source.paths, ("test",))[0]
    train, test = read_parts(spec, source.paths)
    return source, train, test


def dataset_title(args: argparse.Namespace) -> str:
    return get_spec(args.dataset or "mnist").title


def source_where(source: DataSource) -> str:
    return ", ".join(sorted({str(p.parent) for p in source.paths.values()}))
