"""Coverage-guided fuzzing of the CSV reader with atheris (libFuzzer for Python).

Run from the project root, e.g.::

    pip install atheris
    python tests/fuzz/fuzz_csv.py tests/corpus/csv -runs=20000

The properties, for any bytes read as a CSV file under a few sets of options (the defaults,
header=False, the label first, rows of a network's width with or without a label, a
network's feature names):

* the only exception is ``DataError``, one line that starts with the file's name;
* the three ways a block can be read (the C core, Python's bulk path, csv.reader record by
  record; blocks of 64 characters so that records cross blocks), and csv.reader over the file
  in one block, give the same table or the same message;
* a table that is read is consistent: as many rows of features as line numbers, increasing,
  every value finite, every label code one of the label keys.

As for every target here (harness.py), libFuzzer writes new inputs into a fresh temporary
folder put in front of the folders given, so a run does not litter the committed seed corpus.
With ``--replay`` (implied when atheris is missing) the files or folders named are checked
once instead::

    python tests/fuzz/fuzz_csv.py --replay crash-1234 tests/corpus/csv
"""

from __future__ import annotations

import math
import sys

from harness import instrumented, main, scratch_file

# (no sys.path insert, unlike fuzz_idx.py: the installed ann has the built C core, whose CSV
# parser is one of the paths compared; a source tree on the path would have none)


with instrumented():
    from ann import _csv
    from ann._errors import DataError

_FILE = scratch_file("fuzz-csv-", "input.csv")

OPTIONS = (
    {},
    {"header": False},
    {"label": 0},
    {"label": -1, "width": 2},
    {"label": None, "width": 3},
    {"feature_names": ["a", "b"]},
)


# (block size, bulk paths on, C core on): the three paths in blocks of 64 characters, and the
# record path reading the file in one block
PATHS = ((64, True, True), (64, True, False), (64, False, False), (1 << 30, False, False))


def _read(options: dict) -> object:
    """The table as plain values, or the error message."""
    try:
        table = _csv.read_table(_FILE, **options)
    except DataError as err:
        message = str(err)
        assert message.startswith(_FILE + ": ") and "\n" not in message, message
        return message
    n = len(table.lines)
    assert n > 0 and len(table.features) == n * table.width and table.width > 0
    lines = list(table.lines)
    assert lines == sorted(set(lines)) and lines[0] >= 1
    assert all(math.isfinite(v) for v in table.features)
    labels = None
    if table.labels is not None:
        assert len(table.labels) == n
        assert all(0 <= k < len(table.label_keys) for k in table.labels)
        labels = [table.label_keys[k] for k in table.labels]
        assert all(label and label == label.strip() for label in labels)
        try:
            ds = _csv.table_dataset(table, _FILE)
        except DataError as err:
            assert "\n" not in str(err)
        else:
            assert len(ds) == n and ds.classes is not None
            assert sorted(set(ds.labels)) == list(range(len(ds.classes)))
    if table.feature_names is not None:
        assert len(table.feature_names) == table.width
    return (table.features.tobytes(), labels, table.feature_names, lines, table.header)


def check(data: bytes) -> None:
    with open(_FILE, "wb") as out:
        out.write(data)
    saved = _csv._BLOCK, _csv._BULK, _csv._USE_C
    try:
        for options in OPTIONS:
            results = []
            for _csv._BLOCK, _csv._BULK, _csv._USE_C in PATHS:
                results.append(_read(options))
            assert all(r == results[0] for r in results), (options, results)
    finally:
        _csv._BLOCK, _csv._BULK, _csv._USE_C = saved


if __name__ == "__main__":
    if not _csv.c_core_reads(","):
        print("fuzz_csv: this ann has no C core: its CSV parser is not compared", file=sys.stderr)
    main("fuzz_csv", check, "the three paths agree, no unexpected exception")
