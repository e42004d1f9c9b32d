"""Coverage-guided fuzzing of the IDX reader with atheris (libFuzzer for Python).

Run from the project root, e.g.::

    pip install atheris
    python tests/fuzz/fuzz_idx.py tests/corpus/idx -runs=20000

The only exception allowed to escape the readers is ``DataError``; anything
else (zlib.error, EOFError, struct.error, MemoryError, IndexError...) is a
crash that libFuzzer reports with the input that caused it. A result that
does parse must also agree with its own header.

libFuzzer writes every new interesting input into the *first* corpus
directory it is given. So that a run does not litter the committed seed
corpus, harness.py puts a fresh temporary directory in front of the ones on
the command line and prints where it is. With ``--replay`` (implied when
atheris is missing) the files or folders named are checked once instead.

Each input is tried twice: as the file's bytes, and gzip-compressed, because
random mutations almost never produce a valid gzip stream and the IDX parsing
behind the decompressor would otherwise go unexplored.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from harness import instrumented, main, scratch_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with instrumented():
    from ann._errors import DataError
    from ann._idx import read_idx, read_images, read_labels

_ELEMENT_SIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}
_FILE = scratch_file("fuzz-idx-", "input.idx")


def _check(content: bytes) -> None:
    with open(_FILE, "wb") as out:
        out.write(content)
    try:
        type_code, dims, data = read_idx(_FILE)
    except DataError:
        pass
    else:
        count = 1
        for dim in dims:
            count *= dim
        assert count > 0 and len(data) == count * _ELEMENT_SIZE[type_code], (type_code, dims)
    try:
        images = read_images(_FILE)
    except DataError:
        pass
    else:
        assert len(images.data) == images.count * images.rows * images.cols > 0
    try:
        labels = read_labels(_FILE)
    except DataError:
        pass
    else:
        assert len(labels.data) == labels.count > 0 and max(labels.data) < 10


def test_one_input(data: bytes) -> None:
    _check(data)
    _check(gzip.compress(data, compresslevel=1, mtime=0))


if __name__ == "__main__":
    main("fuzz_idx", test_one_input, "no unexpected exception")
