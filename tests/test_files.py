"""Saving files: what atomic_write replaces (links, modes, loops) and the stale temporary files
of saves that died (issue 12, items 17 and 18)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_ann, run_python

import ann
import ann._files as files
from ann._errors import ModelFileError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX links and permission bits")


def _net(seed: int) -> ann.Network:
    return ann.Network([6, 4, 3], seed=seed)


def _same(path: Path, net: ann.Network) -> bool:
    return ann.Network.load(path).get_weights() == net.get_weights()


# ---- item 17: links, modes, loops ------------------------------------------------------------


@posix_only
def test_saving_over_a_symlink_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path):
    real, link = tmp_path / "real.safetensors", tmp_path / "link.safetensors"
    _net(1).save(real)
    link.symlink_to(real.name)
    new = _net(2)
    new.save(link)
    assert link.is_symlink() and os.readlink(link) == real.name
    assert _same(real, new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.safetensors", "real.safetensors"]


@posix_only
def test_a_link_to_a_file_in_another_folder_is_written_there(tmp_path):
    (tmp_path / "models").mkdir()
    real = tmp_path / "models" / "m.safetensors"
    link = tmp_path / "current.safetensors"
    link.symlink_to(real)  # dangling until the first save
    new = _net(3)
    new.save(link)
    assert link.is_symlink() and _same(real, new)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o604])
def test_saving_over_a_file_keeps_its_permission_bits(tmp_path, mode):
    path = tmp_path / "m.safetensors"
    _net(1).save(path)
    os.chmod(path, mode)
    old = os.umask(0o022)
    try:
        _net(2).save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert _same(path, _net(2))


@posix_only
def test_set_id_bits_are_not_carried_to_the_new_file(tmp_path):
    path = tmp_path / "m.safetensors"
    _net(1).save(path)
    os.chmod(path, 0o4755)
    _net(2).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


@posix_only
def test_a_read_only_file_is_refused_when_it_cannot_be_written(tmp_path, monkeypatch):
    """Without write permission (a normal user), the save is refused and the file kept."""
    path = tmp_path / "m.safetensors"
    _net(1).save(path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(
        files.os, "access", lambda p, m, **kw: False if m == os.W_OK else real_access(p, m, **kw)
    )
    with pytest.raises(ModelFileError) as info:
        _net(2).save(path)
    assert str(info.value) == (
        f"{path}: is read-only (mode 0444); not replacing it: make it "
        f"writable or write to another name"
    )
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@posix_only
def test_a_read_only_file_stays_read_only_when_it_can_be_written(tmp_path):
    """Where the user may write it anyway (root), it is replaced and stays 0444."""
    path = tmp_path / "m.safetensors"
    _net(1).save(path)
    os.chmod(path, 0o444)
    if not os.access(path, os.W_OK):
        with pytest.raises(ModelFileError, match="read-only"):
            _net(2).save(path)
        return
    _net(2).save(path)
    assert _same(path, _net(2)) and stat.S_IMODE(path.stat().st_mode) == 0o444


@posix_only
def test_a_symlink_loop_is_refused_and_left_alone(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to("b")
    b.symlink_to("a")
    with pytest.raises(ModelFileError) as info:
        _net(1).save(a)
    assert (
        str(info.value) == f"{a}: is a symbolic link loop (or a chain of too many links); "
        f"not replacing it"
    )
    assert a.is_symlink() and os.readlink(a) == "b" and os.readlink(b) == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize(
    "target,message",
    [
        ("folder", "is a directory; give a file name to write"),
        ("fifo", "is not a regular file (device, named pipe or socket); not replacing it"),
    ],
)
def test_folders_and_pipes_are_not_replaced(tmp_path, target, message):
    path = tmp_path / target
    if target == "folder":
        path.mkdir()
    else:
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(path)
    with pytest.raises(ModelFileError) as info:
        _net(1).save(path)
    assert str(info.value) == f"{path}: {message}"
    assert path.is_dir() if target == "folder" else stat.S_ISFIFO(path.stat().st_mode)


@posix_only
def test_cli_save_over_a_link_loop_is_one_clear_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    save = str(tmp_path / "a")
    flags = ["--epochs", "1", "--quiet", "--no-download", "--save", save]
    proc = run_ann("train", "--data", "sample", *flags, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "symbolic link loop" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "a").is_symlink() and os.readlink(tmp_path / "a") == "b"


# ---- item 18: stale temporary files ----------------------------------------------------------


def _temps(folder: Path):
    return sorted(p.name for p in folder.iterdir() if files.TEMP_NAME.match(p.name))


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


KILLED_SAVE = """
import os, signal, sys
import ann
net = ann.Network([6, 4, 3], seed=9)
os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
net.save(sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_next_save_removes_the_temp_file_a_killed_save_left(tmp_path):
    path = tmp_path / "m.safetensors"
    _net(1).save(path)
    for _ in range(2):
        proc = run_python(KILLED_SAVE, str(path), cwd=tmp_path, timeout=60)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftovers = _temps(tmp_path)
    assert len(leftovers) == 2 and all(n.startswith(".m.safetensors.") for n in leftovers)
    for name in leftovers:
        _age(tmp_path / name, files.STALE_AFTER + 5)
    _net(2).save(tmp_path / "other.safetensors")  # any save in that folder cleans up
    assert _temps(tmp_path) == []
    assert _same(path, _net(1))


def test_only_stale_temp_files_of_ours_are_removed(tmp_path):
    stale = tmp_path / ".m.safetensors.0123456789ab.tmp"
    fresh = tmp_path / ".m.safetensors.ba9876543210.tmp"
    not_ours = [
        ".m.safetensors.0123456789AB.tmp",
        ".m.safetensors.0123456789a.tmp",
        ".m.safetensors.0123456789ab.tmp.bak",
        "m.safetensors.0123456789ab.tmp",
        ".m.safetensors.0123456789ab.part",
        "notes.tmp",
        ".0123456789ab.tmp",
    ]
    for p in [stale, fresh] + [tmp_path / n for n in not_ours]:
        p.write_bytes(b"x" * 100)
    for n in not_ours + [stale.name]:
        _age(tmp_path / n, 7 * 24 * 3600)
    _net(1).save(tmp_path / "m.safetensors")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert stale.name not in left
    assert left == sorted([fresh.name, "m.safetensors"] + not_ours)


@posix_only
def test_a_link_named_like_a_temp_file_is_left_alone(tmp_path):
    victim = tmp_path / "precious"
    victim.write_bytes(b"keep")
    link = tmp_path / ".x.0123456789ab.tmp"
    link.symlink_to(victim)
    os.utime(link, (0, 0), follow_symlinks=False)
    _age(victim, 7 * 24 * 3600)
    _net(1).save(tmp_path / "m.safetensors")
    assert link.is_symlink() and victim.read_bytes() == b"keep"


SLOW_SAVE = """
import sys, time
import ann._files as files
def write(put):
    put(b"first")
    print("writing", flush=True)
    sys.stdin.readline()          # wait until the parent says go on
    put(b"second")
files.atomic_write(sys.argv[1], write, OSError)
print("done", flush=True)
"""


@pytest.mark.skipif(files.fcntl is None, reason="needs flock")
def test_a_save_running_in_another_process_keeps_its_temp_file(tmp_path):
    """Two processes saving in one folder: an old-looking temp file whose writer is alive (it
    holds the lock) is not removed, and that writer's save completes."""
    target = tmp_path / "slow.bin"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(target)],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "writing\n"
        (temp,) = _temps(tmp_path)
        _age(tmp_path / temp, 7 * 24 * 3600)  # untouched for a week, but locked
        _net(1).save(tmp_path / "m.safetensors")
        assert _temps(tmp_path) == [temp]
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    assert child.returncode == 0
    assert target.read_bytes() == b"firstsecond" and _temps(tmp_path) == []


def test_a_save_running_in_another_thread_keeps_its_temp_file(tmp_path):
    started, go = threading.Event(), threading.Event()
    errors = []

    def write(put):
        put(b"first")
        started.set()
        go.wait(30)
        put(b"second")

    def run():
        try:
            files.atomic_write(tmp_path / "slow.bin", write, OSError)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert started.wait(30)
        (temp,) = _temps(tmp_path)
        _age(tmp_path / temp, 7 * 24 * 3600)
        _net(1).save(tmp_path / "m.safetensors")
        assert _temps(tmp_path) == [temp]
    finally:
        go.set()
        thread.join(30)
    assert not errors and (tmp_path / "slow.bin").read_bytes() == b"firstsecond"


def test_without_locks_only_very_old_temp_files_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "fcntl", None)
    old = tmp_path / ".m.0123456789ab.tmp"
    recent = tmp_path / ".m.ba9876543210.tmp"
    for p, age in ((old, files.STALE_AFTER_NO_LOCKS + 60), (recent, files.STALE_AFTER + 60)):
        p.write_bytes(b"x")
        _age(p, age)
    _net(1).save(tmp_path / "m")
    assert _temps(tmp_path) == [recent.name]
    assert _same(tmp_path / "m", _net(1))
