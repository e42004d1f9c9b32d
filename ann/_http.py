"""One HTTP download that cannot hang: the transfer under a watchdog, for ``_download.py``.

Socket timeouts alone do not bound a download: they bound each read, so a server that sends
one byte just before every timeout, or a network that drops packets while connecting, could
keep ``ann`` waiting for ever. ``get`` streams one URL's body to a callback with

* a short timeout for connecting (``CONNECT_TIMEOUT``), separate from the read timeout;
* a watchdog thread that aborts a transfer bringing less than ``MIN_BYTES_PER_WINDOW``
  bytes per timeout, or lasting more than ``DEADLINE_FACTOR`` timeouts;
* a cap on the body (``MAX_BODY_BYTES``, or the caller's own);
* http(s) only, redirects included, with the usual proxy settings.

Whatever goes wrong is a ``MirrorFailure`` whose text is a few words ("connection
refused", "stalled: ..."), for the caller to report and try the next mirror.
"""

from __future__ import annotations

import functools
import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Protocol

# The largest real data-set file is 9.9 MB gzipped; an archive (EMNIST's zip, about 560 MB)
# passes its own limit, and its deadline grows in proportion.
MAX_BODY_BYTES = 64 * 1024 * 1024
CHUNK = 64 * 1024
# A transfer must bring this much body per `timeout` seconds (about 550 B/s at
# the default 30 s) ...
MIN_BYTES_PER_WINDOW = 16 * 1024
# ... and finish within this many `timeout`s (10 minutes at the default 30 s,
# i.e. at least ~17 kB/s for the 10 MB training images; an archive allowed k times
# MAX_BODY_BYTES gets k times as long).
DEADLINE_FACTOR = 20
# Connecting takes well under a second to a working mirror; offline (packets dropped) it would
# take the whole read timeout per mirror on every run, so it gets its own, short, limit.
CONNECT_TIMEOUT = 5.0


class MirrorFailure(Exception):
    """This mirror could not deliver this file; the next one may. str() is the brief reason."""


class Progress(Protocol):
    """What ``get`` reports the bytes received to (``_download``'s progress line)."""

    def update(self, done: int, total: int | None) -> None: ...


def get(
    url: str,
    write: Callable[[bytes], object],
    timeout: float,
    progress: Progress,
    connect_timeout: float = CONNECT_TIMEOUT,
    max_bytes: int | None = None,
) -> int:
    """GET `url`, handing each piece of the body to `write` as it arrives, and return the
    body's length. `max_bytes` (default MAX_BODY_BYTES) bounds the body; a larger limit
    lengthens the transfer's deadline in proportion. A failure of the transfer is a
    ``MirrorFailure``; what `write` raises goes through unchanged."""
    limit = MAX_BODY_BYTES if max_bytes is None else max_bytes
    watchdog = _Watchdog(timeout, max(1.0, limit / MAX_BODY_BYTES))
    opener = _opener(watchdog, connect_timeout)
    request = urllib.request.Request(
        url, headers={"User-Agent": "ann-mlp", "Accept-Encoding": "identity"}
    )
    watchdog.start()
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise MirrorFailure(f"HTTP {exc.code} {exc.reason}".rstrip()) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise MirrorFailure(watchdog.reason or _describe(exc, timeout)) from None
        with response:
            total = _content_length(response)
            if total is not None and total > limit:
                raise MirrorFailure(f"file of {total} bytes is too large")
            done = 0
            while True:
                try:
                    # read1 returns after one socket read, so every chunk goes
                    # through the timeout and the watchdog's byte count;
                    # read(n) would block until n bytes came, however slowly.
                    chunk = response.read1(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise MirrorFailure(watchdog.reason or _describe(exc, timeout)) from None
                if not chunk:
                    break
                done += len(chunk)
                if done > limit:
                    raise MirrorFailure(f"body exceeds {limit // 2**20} MiB")
                write(chunk)
                watchdog.count(len(chunk))
                progress.update(done, total)
        if watchdog.reason:  # an abort the reader saw as a plain end of stream
            raise MirrorFailure(watchdog.reason)
        if total is not None and done != total:
            raise MirrorFailure(f"connection closed after {done} of {total} bytes")
        return done
    finally:
        watchdog.stop()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException, timeout: float) -> str:
    """A few words for a network error, e.g. "connection refused"."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, _ConnectTimeout):
        return str(reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


class _Watchdog:
    """Aborts one transfer that stalls or overruns, by shutting down its socket.

    Socket timeouts alone do not bound a transfer: they bound each read, so a
    server that sends one byte just before every timeout keeps it alive for
    ever. A thread checks that every `window` seconds at least
    MIN_BYTES_PER_WINDOW bytes of body arrived (the first window, which also
    covers connecting and reading headers, lasts twice as long), and that the transfer ends
    within DEADLINE_FACTOR windows; otherwise it sets ``reason`` and shuts the socket down, which
    wakes the blocked read. The TLS handshake happens before the socket is
    known here, so it is bounded by the per-read timeout only.
    """

    def __init__(self, window: float, scale: float = 1.0) -> None:
        self._window = window
        self._deadline = DEADLINE_FACTOR * window * scale
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._window_bytes = 0
        self._thread: threading.Thread | None = None
        self.reason: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ann-download-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def add_socket(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.reason is not None
        if fired:
            _shutdown(sock)

    def count(self, nbytes: int) -> None:
        with self._lock:
            self._window_bytes += nbytes

    def _run(self) -> None:
        started = time.monotonic()
        # The first window is twice as long: a server silent from the start is
        # the socket timeout's case (its message is clearer), and connecting
        # plus reading headers must not eat into the first window's bytes.
        window_start = started + self._window
        while not self._stopped.wait(min(self._window / 4, 1.0)):
            now = time.monotonic()
            with self._lock:
                if now - started >= self._deadline:
                    self.reason = f"not finished within {self._deadline:g} s"
                elif now - window_start >= self._window:
                    if self._window_bytes < MIN_BYTES_PER_WINDOW:
                        self.reason = (
                            f"stalled: under {MIN_BYTES_PER_WINDOW} bytes in {self._window:g} s"
                        )
                    window_start = now
                    self._window_bytes = 0
                if self.reason is None:
                    continue
                sockets = list(self._sockets)
            for sock in sockets:
                _shutdown(sock)
            return


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed: nothing left to wake
        pass


class _ConnectTimeout(TimeoutError):
    """Connecting (TCP, and TLS for https) took longer than the connect timeout."""


def _connect_within(
    connection: http.client.HTTPConnection, connect: Callable[[], None], connect_timeout: float
) -> None:
    """Run ``connect`` with the short connect timeout, then give the socket the read timeout."""
    read_timeout = connection.timeout
    connection.timeout = connect_timeout
    try:
        connect()
    except (socket.timeout, TimeoutError):
        raise _ConnectTimeout(f"no connection within {connect_timeout:g} s") from None
    finally:
        connection.timeout = read_timeout
    if connection.sock is not None:
        connection.sock.settimeout(read_timeout)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that connects within a short timeout and hands its socket to a
    watchdog once connected."""

    def __init__(
        self, *args: Any, watchdog: _Watchdog, connect_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        _connect_within(self, super().connect, self._connect_timeout)
        self._watchdog.add_socket(self.sock)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog, connect_timeout: float) -> None:
        super().__init__()
        self._connection = functools.partial(
            _GuardedHTTPConnection, watchdog=watchdog, connect_timeout=connect_timeout
        )

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


_handlers: list[Callable[[_Watchdog, float], urllib.request.BaseHandler]] = [_GuardedHTTPHandler]

if hasattr(http.client, "HTTPSConnection"):  # absent when Python was built without ssl

    class _GuardedHTTPSConnection(_GuardedHTTPConnection, http.client.HTTPSConnection):
        """The HTTPS counterpart of _GuardedHTTPConnection: its __init__ and connect run
        HTTPSConnection's (next in the method order), so certificates are verified as usual."""

    class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def __init__(self, watchdog: _Watchdog, connect_timeout: float) -> None:
            super().__init__()
            self._connection = functools.partial(
                _GuardedHTTPSConnection, watchdog=watchdog, connect_timeout=connect_timeout
            )

        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(self._connection, req, context=self._context)  # type: ignore[attr-defined]

    _handlers.append(_GuardedHTTPSHandler)


class _HttpOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s); urllib would also follow one to ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(
    watchdog: _Watchdog, connect_timeout: float = CONNECT_TIMEOUT
) -> urllib.request.OpenerDirector:
    """An opener that speaks only http(s), honours proxy settings, connects within
    `connect_timeout` seconds, and reports to `watchdog`."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        *(make(watchdog, connect_timeout) for make in _handlers),
        _HttpOnlyRedirectHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
