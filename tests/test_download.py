"""Finding and downloading MNIST, against real HTTP servers on 127.0.0.1.

No test here may reach the internet: every test runs with every data set's
mirror variable ($ANN_MNIST_MIRRORS, ...) and MNIST's default mirrors pointing at
127.0.0.1, proxies disabled, and a guard that fails any connection to another host.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import struct
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Union

import pytest
from conftest import load_tool, require_mnist, run_ann

from ann import _datasets, _download, _http
from ann._datasets import DATASETS, FILES, SHA256
from ann._download import download_mnist, mirrors_from_env
from ann._errors import DataError
from ann._locate import SAMPLE_DIR, DataSource, default_data_dir, find_mnist

NOWHERE = "http://127.0.0.1:9/nowhere/"  # the discard port: refused at once, never the internet

# A route's behaviour: bytes to serve, an HTTP status, or one of the special
# tuples built by the helpers below.
Route = Union[bytes, int, tuple]


def hang() -> tuple:
    """Accept the request and never answer."""
    return ("hang",)


def trickle(body: bytes, every: float) -> tuple:
    """Promise the whole body in the headers, then send one byte every `every` seconds."""
    return ("trickle", body, every)


def short(body: bytes) -> tuple:
    """Promise the whole body, send half of it and close."""
    return ("short", body)


def redirect(location: str) -> tuple:
    return ("redirect", location)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:0 serving `routes` by file name, recording requests."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[str] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                route = server.routes.get(name, 404)
                if isinstance(route, int):
                    self.send_error(route)
                elif isinstance(route, bytes):
                    self._headers(len(route))
                    self.wfile.write(route)
                elif route[0] == "hang":
                    server.stop.wait(20)
                    self.close_connection = True
                elif route[0] == "trickle":
                    body, every = route[1], route[2]
                    self._headers(len(body))
                    # Bounded so that a client without its own limits fails
                    # (short body) instead of hanging the test run.
                    give_up = time.monotonic() + 15
                    for i in range(len(body)):
                        if server.stop.wait(every) or time.monotonic() > give_up:
                            break
                        try:
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                        except OSError:  # the client hung up, as it should
                            break
                    self.close_connection = True
                elif route[0] == "short":
                    body = route[1]
                    self._headers(len(body))
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif route[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", route[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _headers(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve():
    """serve(routes) -> a running _Server; all of them are stopped when the test ends."""
    servers: list[_Server] = []

    def start(routes: dict[str, Route]) -> _Server:
        server = _Server(routes)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Keep every test on 127.0.0.1 and away from the user's real cache folder."""
    for spec in DATASETS.values():
        monkeypatch.setenv(spec.mirrors_env, NOWHERE)
    monkeypatch.setattr(_datasets, "MNIST", replace(_datasets.MNIST, default_mirrors=(NOWHERE,)))
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "default-cache"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    real_create_connection = socket.create_connection

    def local_only(address, *args, **kwargs):
        assert address[0] in ("127.0.0.1", "localhost"), f"test tried to reach {address}"
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)


def use_sample_hashes(monkeypatch) -> None:
    """Make MNIST's spec accept the built-in sample's files as the real ones."""
    monkeypatch.setattr(_datasets, "MNIST", replace(_datasets.MNIST, hashes=sample_hashes()))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sample_files() -> dict[str, bytes]:
    """The built-in sample's gz bytes, by file name."""
    return {name: (SAMPLE_DIR / name).read_bytes() for name in FILES.values()}


def sample_hashes() -> dict[str, dict[str, str]]:
    """Both hashes of each sample file, computed here independently of the code under test."""
    return {
        key: {
            "gz": sha256((SAMPLE_DIR / name).read_bytes()),
            "raw": sha256(gzip.decompress((SAMPLE_DIR / name).read_bytes())),
        }
        for key, name in FILES.items()
    }


def flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a download left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def assert_sample_downloaded(folder: Path, paths: dict[str, Path]) -> None:
    expected = sample_files()
    assert set(paths) == set(FILES)
    for key, name in FILES.items():
        assert paths[key] == folder / name
        assert paths[key].read_bytes() == expected[name]
    assert leftovers(folder) == []


# --- downloads -------------------------------------------------------------------------------


def test_full_download_accepts_recompressed_files_by_their_raw_hash(serve, tmp_path):
    full = require_mnist()
    routes = {name: (full / name).read_bytes() for name in FILES.values()}
    # These copies were recompressed: their gz hashes are not the official ones,
    # so only the raw-content hash can let them in.
    for key, name in FILES.items():
        assert sha256(routes[name]) != SHA256[key]["gz"]
    server = serve(routes)
    out = io.StringIO()
    folder = tmp_path / "mnist"

    paths = download_mnist(folder, mirrors=[server.url], timeout=5, stream=out)

    for key, name in FILES.items():
        assert paths[key] == folder / name
        assert paths[key].read_bytes() == routes[name]
    assert leftovers(folder) == []
    lines = out.getvalue().splitlines()  # not a terminal: one line per finished file
    assert len(lines) == 4
    for line, name in zip(lines, FILES.values()):
        assert line.startswith(f"{name}: ") and "\r" not in line


@pytest.mark.parametrize("good", ["gz", "raw"])
def test_either_hash_is_enough(serve, tmp_path, good):
    hashes = sample_hashes()
    for value in hashes.values():
        value["raw" if good == "gz" else "gz"] = "0" * 64
    server = serve(sample_files())
    folder = tmp_path / "mnist"
    paths = download_mnist(folder, mirrors=[server.url], timeout=5, hashes=hashes, progress=False)
    assert_sample_downloaded(folder, paths)


def download_past(serve, tmp_path, routes: dict[str, Route], timeout: float):
    """Download the sample with a server of ``routes`` as the first mirror and a good one as
    the second, checking that the sample arrives whole: (first, second, what was said)."""
    bad, good = serve(routes), serve(sample_files())
    folder = tmp_path / "mnist"
    out = io.StringIO()
    paths = download_mnist(
        folder, mirrors=[bad.url, good.url], timeout=timeout, hashes=sample_hashes(), stream=out
    )
    assert_sample_downloaded(folder, paths)
    return bad, good, out.getvalue()


def test_corrupted_file_is_rejected_and_the_next_mirror_used(serve, tmp_path):
    files = sample_files()
    name = "train-images-idx3-ubyte.gz"
    bad, good, said = download_past(serve, tmp_path, {**files, name: flipped(files[name])}, 5)
    assert "train-images-idx3-ubyte.gz" in bad.requests
    assert "train-images-idx3-ubyte.gz" in good.requests
    assert f"{bad.url} failed (sha256 mismatch" in said


def test_corrupted_file_on_the_only_mirror_leaves_nothing_in_place(serve, tmp_path):
    files = sample_files()
    bad = serve({name: flipped(data) for name, data in files.items()})
    folder = tmp_path / "mnist"
    with pytest.raises(DataError, match="sha256 mismatch"):
        download_mnist(folder, mirrors=[bad.url], timeout=5, hashes=sample_hashes(), progress=False)
    assert list(folder.iterdir()) == []


def test_a_server_that_never_answers_times_out_and_the_next_mirror_is_used(serve, tmp_path):
    silent, _, said = download_past(serve, tmp_path, {n: hang() for n in FILES.values()}, 1)
    assert "no answer within 1 s" in said
    # After the good mirror delivered the first file it is asked first, so the
    # silent one costs its timeout only once.
    assert silent.requests == ["train-images-idx3-ubyte.gz"]


def test_a_trickling_server_is_cut_off_as_stalled(serve, tmp_path):
    # One byte every 0.2 s: each read arrives well within the 1 s timeout, so
    # only the watchdog can stop this transfer. The server gives up after 15 s,
    # which would surface as "connection closed", not "stalled".
    routes = {name: trickle(data, 0.2) for name, data in sample_files().items()}
    slow, _, said = download_past(serve, tmp_path, routes, 1)
    assert f"{slow.url} failed (stalled" in said


def test_a_transfer_past_its_deadline_is_cut_off(serve, tmp_path, monkeypatch):
    # Lower the floor so that the trickle counts as progress; the deadline
    # (2 x timeout here) must then end it.
    monkeypatch.setattr(_http, "MIN_BYTES_PER_WINDOW", 1)
    monkeypatch.setattr(_http, "DEADLINE_FACTOR", 2)
    files = sample_files()
    slow = serve({name: trickle(data, 0.05) for name, data in files.items()})
    folder = tmp_path / "mnist"
    with pytest.raises(DataError, match=r"not finished within 2 s"):
        download_mnist(
            folder, mirrors=[slow.url], timeout=1, hashes=sample_hashes(), progress=False
        )
    assert list(folder.iterdir()) == []


def test_404_on_the_first_mirror_uses_the_second(serve, tmp_path):
    empty, _, said = download_past(serve, tmp_path, {}, 5)
    assert f"{empty.url} failed (HTTP 404" in said


def test_when_every_mirror_fails_the_error_lists_each(serve, tmp_path):
    files = sample_files()
    empty = serve({})
    bad = serve({name: flipped(data) for name, data in files.items()})
    cut = serve({name: short(data) for name, data in files.items()})
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
    folder = tmp_path / "mnist"

    with pytest.raises(DataError) as caught:
        download_mnist(
            folder,
            mirrors=[empty.url, bad.url, cut.url, refused],
            timeout=5,
            hashes=sample_hashes(),
            progress=False,
        )

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder}: could not download train-images-idx3-ubyte.gz")
    assert f"{empty.url} (HTTP 404" in message
    assert f"{bad.url} (sha256 mismatch" in message
    assert f"{cut.url} (connection closed after" in message
    assert f"{refused} (connection refused)" in message
    assert list(folder.iterdir()) == []


def test_files_already_present_are_not_downloaded_again(serve, tmp_path):
    files = sample_files()
    server = serve(files)
    folder = tmp_path / "mnist"
    folder.mkdir()
    kept = folder / "t10k-labels-idx1-ubyte"  # the uncompressed name counts too
    kept.write_bytes(gzip.decompress(files["t10k-labels-idx1-ubyte.gz"]))
    paths = download_mnist(
        folder, mirrors=[server.url], timeout=5, hashes=sample_hashes(), progress=False
    )
    assert paths["test_labels"] == kept
    assert "t10k-labels-idx1-ubyte.gz" not in server.requests
    assert len(server.requests) == 3


def test_oversized_body_is_refused(serve, tmp_path, monkeypatch):
    monkeypatch.setattr(_http, "MAX_BODY_BYTES", 1000)
    server = serve(sample_files())
    folder = tmp_path / "mnist"
    with pytest.raises(DataError, match="too large"):
        download_mnist(
            folder, mirrors=[server.url], timeout=5, hashes=sample_hashes(), progress=False
        )
    assert list(folder.iterdir()) == []


def test_redirects_are_followed_to_http_only(serve, tmp_path):
    files = sample_files()
    good = serve(files)
    hop = serve({name: redirect(good.url + name) for name in files})
    folder = tmp_path / "mnist"
    paths = download_mnist(
        folder, mirrors=[hop.url], timeout=5, hashes=sample_hashes(), progress=False
    )
    assert_sample_downloaded(folder, paths)

    to_ftp = serve({name: redirect(f"ftp://127.0.0.1/{name}") for name in files})
    with pytest.raises(DataError, match="HTTP 302"):
        download_mnist(
            tmp_path / "other",
            mirrors=[to_ftp.url],
            timeout=5,
            hashes=sample_hashes(),
            progress=False,
        )


@pytest.mark.parametrize("url", ["file:///tmp/mnist/", "ftp://127.0.0.1/mnist/", "127.0.0.1/mnist"])
def test_only_http_urls_are_accepted(tmp_path, url):
    with pytest.raises(DataError, match="not an http:// or https:// URL"):
        download_mnist(tmp_path / "mnist", mirrors=[url], progress=False)
    assert not (tmp_path / "mnist").exists()


def test_an_interrupted_download_leaves_no_temporary_file(serve, tmp_path, monkeypatch):
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_download, "_verify", interrupt)
    server = serve(sample_files())
    folder = tmp_path / "mnist"
    with pytest.raises(KeyboardInterrupt):
        download_mnist(folder, mirrors=[server.url], timeout=5, progress=False)
    assert server.requests == ["train-images-idx3-ubyte.gz"]
    assert list(folder.iterdir()) == []


def test_terminal_progress_redraws_one_line(serve, tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    server = serve(sample_files())
    out = Terminal()
    download_mnist(
        tmp_path / "mnist", mirrors=[server.url], timeout=5, hashes=sample_hashes(), stream=out
    )
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""
    assert len(lines) == 5  # four finished lines, each redrawn in place with '\r'
    assert all(line.startswith("\r") and "sha256 verified" in line for line in lines[:4])


# --- find_mnist ------------------------------------------------------------------------------


def test_explicit_folder_with_missing_files_fails_without_any_request(serve, tmp_path, monkeypatch):
    watcher = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", watcher.url)
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    (folder / "train-labels-idx1-ubyte").write_bytes(b"x")

    with pytest.raises(DataError) as caught:
        find_mnist(folder)

    message = str(caught.value)
    assert message.startswith(f"{folder}: ")
    assert "t10k-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "train-" not in message
    with pytest.raises(DataError, match="empty"):
        find_mnist("")
    with pytest.raises(DataError, match="does not exist"):
        find_mnist(tmp_path / "absent")
    with pytest.raises(DataError, match="not a folder"):
        find_mnist(str(folder / "train-labels-idx1-ubyte"))
    assert watcher.requests == []


def test_explicit_folder_accepts_gz_and_plain_names(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    names = list(FILES.values())
    (folder / names[0]).write_bytes(b"x")
    (folder / names[1][:-3]).write_bytes(b"x")
    (folder / names[2]).write_bytes(b"x")
    (folder / names[3][:-3]).write_bytes(b"x")
    source = find_mnist(str(folder))
    assert source.kind == "folder"
    assert source.paths == {
        "train_images": folder / names[0],
        "train_labels": folder / names[1][:-3],
        "test_images": folder / names[2],
        "test_labels": folder / names[3][:-3],
    }


def test_default_folder_falls_back_to_the_sample_when_no_mirror_works(serve, tmp_path, monkeypatch):
    empty = serve({})
    monkeypatch.setenv("ANN_MNIST_MIRRORS", empty.url)
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    monkeypatch.setenv("ANN_DATA", str(cache))

    source = find_mnist(None, timeout=5, progress=False)

    assert source.kind == "sample"
    assert source.paths == {key: SAMPLE_DIR / name for key, name in FILES.items()}
    assert "\n" not in source.note
    assert str(cache) in source.note and "HTTP 404" in source.note and "10,000" in source.note
    assert empty.requests == ["train-images-idx3-ubyte.gz"]
    assert list(cache.iterdir()) == []


def test_default_folder_without_download_uses_the_sample_and_no_network(
    serve, tmp_path, monkeypatch
):
    watcher = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", watcher.url)
    source = find_mnist(None, download=False)
    assert source.kind == "sample"
    assert "downloading is off" in source.note
    assert watcher.requests == []


def test_default_folder_is_filled_once_then_used(serve, tmp_path, monkeypatch):
    server = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", server.url)
    use_sample_hashes(monkeypatch)
    cache = tmp_path / "cache" / "ann"  # does not exist yet

    monkeypatch.setenv("ANN_DATA", str(cache))
    first = find_mnist(None, timeout=5, progress=False)
    second = find_mnist(None, timeout=5, progress=False)

    assert first.kind == "download"
    assert_sample_downloaded(cache, first.paths)
    assert second == DataSource(first.paths, "folder", second.note)
    assert len(server.requests) == 4


def test_default_folder_that_cannot_be_created_falls_back(serve, tmp_path, monkeypatch):
    server = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", server.url)
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("ANN_DATA", str(blocker / "ann"))
    source = find_mnist(None, timeout=5, progress=False)
    assert source.kind == "sample"
    assert "cannot create the folder" in source.note
    assert server.requests == []


def test_bad_mirror_setting_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setenv("ANN_MNIST_MIRRORS", "file:///srv/mnist")
    with pytest.raises(DataError, match="file:///srv/mnist"):
        find_mnist(None)


def test_sample_on_request(serve, monkeypatch):
    watcher = serve({})
    monkeypatch.setenv("ANN_MNIST_MIRRORS", watcher.url)
    source = find_mnist("sample")
    assert source.kind == "sample"
    assert source.paths == {key: SAMPLE_DIR / name for key, name in FILES.items()}
    assert watcher.requests == []


# --- settings --------------------------------------------------------------------------------


def test_mirrors_from_env(monkeypatch):
    monkeypatch.setenv("ANN_MNIST_MIRRORS", " http://a.example/m , ,https://b.example/x/ ,")
    assert mirrors_from_env() == ["http://a.example/m/", "https://b.example/x/"]
    monkeypatch.setenv("ANN_MNIST_MIRRORS", "  , ")
    default = ("http://127.0.0.1:9/default/",)
    monkeypatch.setattr(_datasets, "MNIST", replace(_datasets.MNIST, default_mirrors=default))
    assert mirrors_from_env() == list(default)
    monkeypatch.delenv("ANN_MNIST_MIRRORS")
    assert mirrors_from_env() == list(default)


def test_the_shipped_default_mirrors_are_the_public_https_ones():
    # Read from the module source, since the autouse fixture replaces the attribute.
    text = Path(_datasets.__file__).read_text(encoding="utf-8")
    for url in (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ):
        assert f'"{url}"' in text


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid"), reason="POSIX folder rules")
def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    monkeypatch.delenv("ANN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "ann"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "ann"


# --- the built-in sample ---------------------------------------------------------------------


def _idx(path: Path) -> tuple:
    blob = gzip.decompress(path.read_bytes())
    ndim = blob[3]
    dims = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
    return dims, blob[4 + 4 * ndim :]


@pytest.mark.parametrize("split,size", [("train", 10_000), ("t10k", 2_000)])
def test_sample_is_a_stratified_ordered_subset_of_mnist(split, size):
    full = require_mnist()
    full_dims, full_images = _idx(full / f"{split}-images-idx3-ubyte.gz")
    _, full_labels = _idx(full / f"{split}-labels-idx1-ubyte.gz")
    dims, images = _idx(SAMPLE_DIR / f"{split}-images-idx3-ubyte.gz")
    label_dims, labels = _idx(SAMPLE_DIR / f"{split}-labels-idx1-ubyte.gz")
    assert dims == (size, 28, 28) and label_dims == (size,)

    pixels = 28 * 28
    where: dict[bytes, list[int]] = {}
    for i in range(full_dims[0]):
        where.setdefault(full_images[i * pixels : (i + 1) * pixels], []).append(i)
    previous = -1
    for j in range(size):
        # MNIST has a few duplicate images: take the first copy after the previous pick.
        candidates = [i for i in where[images[j * pixels : (j + 1) * pixels]] if i > previous]
        assert candidates, f"sample image {j} is not in MNIST after index {previous}"
        previous = candidates[0]
        assert labels[j] == full_labels[previous]

    for digit in range(10):
        share = size * full_labels.count(digit) / len(full_labels)
        assert abs(labels.count(digit) - share) < 1


def test_make_sample_reproduces_the_shipped_files(tmp_path):
    full = require_mnist()
    tool = load_tool("make_sample.py")
    assert tool.main([str(full), "--out", str(tmp_path)]) == 0
    for name in FILES.values():
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), name


# --- only the files needed, and saying what is tried before waiting ---------------------------

TEST_KEYS = ("test_images", "test_labels")


def test_only_the_files_asked_for_are_looked_for_and_downloaded(serve, tmp_path, monkeypatch):
    server = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", server.url)
    use_sample_hashes(monkeypatch)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANN_DATA", str(cache))
    source = find_mnist(None, keys=TEST_KEYS, timeout=5, progress=False)
    assert source.kind == "download"
    assert sorted(server.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert set(source.paths) == set(TEST_KEYS)
    again = find_mnist(None, keys=TEST_KEYS, timeout=5, progress=False)  # now on disk
    assert again.kind == "folder" and len(server.requests) == 2


def _model(tmp_path: Path) -> Path:
    import ann

    path = tmp_path / "model.safetensors"
    ann.Network([784, 10], seed=1).save(path)
    return path


def test_evaluate_uses_the_test_files_and_downloads_nothing_else(serve, tmp_path, monkeypatch):
    watcher = serve(sample_files())
    monkeypatch.setenv("ANN_MNIST_MIRRORS", watcher.url)  # seen by the child process
    cache = tmp_path / "cache"
    cache.mkdir()
    for key in TEST_KEYS:
        (cache / FILES[key]).write_bytes((SAMPLE_DIR / FILES[key]).read_bytes())
    monkeypatch.setenv("ANN_DATA", str(cache))
    out = run_ann("evaluate", str(_model(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert watcher.requests == []
    assert f"data: 2000 test images from folder ({cache})" in out.stdout
    assert out.stderr == ""


def test_the_download_is_announced_before_it_waits(serve, tmp_path, monkeypatch):
    server = serve({name: hang() for name in FILES.values()})
    monkeypatch.setenv("ANN_MNIST_MIRRORS", server.url)
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "cache"))
    said = io.StringIO()
    result: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            source=find_mnist(None, timeout=5, stream=said, skip_hint="HOW TO SKIP")
        )
    )
    worker.start()
    try:
        while not server.requests:  # the server is now keeping it waiting
            assert worker.is_alive(), result
            time.sleep(0.01)
        notice = said.getvalue()
        assert notice.startswith(f"ann: MNIST is not in {tmp_path / 'cache'}: downloading ")
        assert "127.0.0.1" in notice and "HOW TO SKIP" in notice and notice.endswith("\n")
    finally:
        server.stop.set()  # let the hanging request end
        worker.join(60)
    assert result["source"].kind == "sample"


def test_the_cli_says_how_to_skip_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("ANN_DATA", str(tmp_path / "cache"))  # NOWHERE: refused at once
    out = run_ann("evaluate", str(_model(tmp_path)))
    assert out.returncode == 0, out.stderr
    first, *rest = out.stderr.splitlines()
    assert first.startswith("ann: MNIST is not in ") and "--no-download" in first
    assert "ANN_DATA" in first and "t10k-images-idx3-ubyte.gz" in first
    assert "train-images" not in first  # evaluate needs only the test files
    assert rest[-1].startswith("ann: MNIST not found in ") and "built-in sample" in rest[-1]


@pytest.fixture
def unanswered_port():
    """A port on 127.0.0.1 where connecting hangs: a listener that never accepts, its one-slot
    queue already taken, so the kernel drops further SYNs as a black-holed network would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port), timeout=5)
    probe = socket.socket()
    probe.settimeout(0.2)
    try:
        probe.connect(("127.0.0.1", port))
        pytest.skip("this kernel accepts connections beyond the listen queue")
    except socket.timeout:
        pass
    finally:
        probe.close()
    yield port
    queued.close()
    listener.close()


def test_connecting_has_its_own_short_timeout(tmp_path, unanswered_port):
    mirror = f"http://127.0.0.1:{unanswered_port}/mnist/"
    with pytest.raises(DataError) as caught:
        download_mnist(
            tmp_path / "mnist", mirrors=[mirror], timeout=30, connect_timeout=0.3, progress=False
        )
    assert f"{mirror} (no connection within 0.3 s)" in str(caught.value)
    assert _http.CONNECT_TIMEOUT <= 10  # the default is short too
