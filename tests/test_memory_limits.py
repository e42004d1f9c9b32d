"""Running out of memory, and not running out of it (issue 23, item 6): a MemoryError says what
ran out and where; a gzip IDX header declaring more than the file can hold is refused before
anything is inflated; ``ann predict`` on a large IDX file holds one batch of floats at a time."""

from __future__ import annotations

import gzip
import os
import struct

import pytest
from conftest import PeakMemory, run_python

import ann
from ann import cli
from ann._errors import DataError
from ann._idx import read_images


def idx_gz(path, count, declared=None, rows=28, cols=28):
    """An IDX image file of ``count`` black images whose header says ``declared``."""
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, declared or count, rows, cols)
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(header)
        block = bytes(rows * cols * 1000)
        for start in range(0, count, 1000):
            f.write(block[: rows * cols * min(1000, count - start)])
    return path


def test_a_gzip_header_declaring_more_than_the_file_can_hold_is_refused_unread(tmp_path):
    # 60,000 black images (47 MB) fit in ~50 KB of gzip; the header claims 1.9 million
    path = idx_gz(tmp_path / "liar.gz", 60_000, declared=1_900_000)
    with PeakMemory() as memory:
        with pytest.raises(DataError, match=r"more than a gzip file of \d+ bytes can hold"):
            read_images(path)
    assert memory.peak < 4 << 20  # nothing inflated (the 47 MB it holds, or a 64 MB read buffer)


def test_a_gzip_file_holding_what_it_declares_still_reads(tmp_path):
    images = read_images(idx_gz(tmp_path / "ok.gz", 3000))
    assert images.count == 3000 and len(images.data) == 3000 * 784


def run_main(monkeypatch, capsys, *argv):
    status = cli.main(list(argv))
    return status, capsys.readouterr().err


def test_a_bare_memory_error_says_out_of_memory_and_where(monkeypatch, capsys):
    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("ann.cli.study.gradcheck", no_memory)
    status, err = run_main(monkeypatch, capsys, "gradcheck")
    assert status == 1
    assert err.strip().splitlines() == [
        "ann: error: out of memory in ann gradcheck: the data or the network needs more "
        "memory than this process could get"
    ]


def test_predict_names_the_file_it_ran_out_of_memory_reading(monkeypatch, capsys, tmp_path):
    path = idx_gz(tmp_path / "many.gz", 10)
    model = tmp_path / "m.st"
    ann.Network([784, 10], seed=0).save(model)

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("ann.cli.inference.read_images", no_memory)
    status, err = run_main(monkeypatch, capsys, "predict", str(model), str(path))
    assert status == 1
    assert err.strip() == (
        f"ann: error: {path}: out of memory reading its 10x28x28 pixels (7,840 bytes)"
    )


@pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="peak memory of a child: Linux's VmHWM"
)
@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="under AddressSanitizer (tools/sanitize.sh) a process's peak memory is ASan's",
)
def test_predict_on_a_large_idx_file_holds_one_batch_at_a_time(tmp_path):
    path = idx_gz(tmp_path / "big.gz", 200_000)  # 157 MB of pixels, 160 KB on disk
    model = tmp_path / "m.st"
    ann.Network([784, 10], seed=0).save(model)
    # the child reports its own peak as VmHWM, the high-water mark of its own address space.
    # Neither getrusage measure will do: RUSAGE_CHILDREN here is the largest peak of every child
    # the suite has run so far, and Linux carries ru_maxrss across exec, so the child's
    # RUSAGE_SELF starts at the size of this pytest process when it forked (1,100 MB in CI)
    report = (
        "import sys; from ann.cli import main; rc = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
        "print('PEAK_KB', hwm[0].split()[1], file=sys.stderr); "
        "sys.exit(rc)"
    )
    out = run_python(report, "predict", str(model), str(path), timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 200_000 and lines[-1].startswith(f"{path}[199999]: ")
    assert len(set(line.split(": ", 1)[1] for line in lines)) == 1  # black images alike
    # the file's pixels (157 MB, twice while they are read) and one batch: 340 MB measured,
    # where a copy of every image and all of them joined made 490 MB
    peak = int(out.stderr.split("PEAK_KB")[1].split()[0]) * 1024
    assert peak < 420 << 20, f"peak {peak >> 20} MB"


def test_a_model_header_of_too_many_entries_is_refused_before_it_is_decoded(tmp_path):
    # 300,000 empty tensors: a well-formed safetensors header of 18 MB, which json.loads
    # turns into some 300 MB of Python objects before ann's schema could refuse it
    import json

    header = {
        f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(300_000)
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = tmp_path / "huge.st"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    del header
    with PeakMemory() as memory:
        with pytest.raises(ann.ModelFileError, match=r"header holds about 300,000 entries"):
            ann.Network.load(path)
    assert memory.peak < 3 * len(raw)  # the header's bytes, not its objects
