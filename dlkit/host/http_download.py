"""Stream one URL into an open file, bounded in size and in silence; every failure is one line.

The only network code in dlkit (used by ``dlkit cloud-cost refresh``). urllib from the standard
library is enough for plain GETs of public files; ``timeout`` applies to the connection and to
every read (https://docs.python.org/3/library/urllib.request.html#urllib.request.urlopen), so it
bounds a silent server, not a slow download.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Callable, Optional

from dlkit.host.safefile import size_text

_CHUNK = 64 * 1024


class FetchFailed(Exception):
    """The file could not be fetched (or, for callers, is not what was expected); the message is the reason."""


def _reason(exc: BaseException, timeout_s: float) -> str:
    """One line for a network error, in the user's terms."""
    import http.client
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError):  # raised before any response: connect, TLS, DNS
        inner = exc.reason
        if isinstance(inner, TimeoutError):
            return f"no answer for {timeout_s:g} s (--timeout {timeout_s:g})"
        return f"cannot connect: {inner.strerror or inner}" if isinstance(inner, OSError) else f"cannot connect: {inner}"
    if isinstance(exc, TimeoutError):
        return f"no answer for {timeout_s:g} s (--timeout {timeout_s:g})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes of the response"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response ({type(exc).__name__}: {' '.join(str(exc).split())[:80]})"
    if isinstance(exc, OSError):  # a reset or a refused connection
        return f"network error: {exc.strerror or exc}"
    return " ".join(str(exc).split())[:200]


def download(url: str, out: BinaryIO, *, timeout_s: float, max_bytes: int, user_agent: str,
             on_start: Callable[[Optional[int]], None], on_chunk: Callable[[int], None]) -> tuple[int, str]:
    """Stream ``url`` into ``out``: (bytes, sha256 hex), or :class:`FetchFailed`. ``on_start`` gets
    the announced length (None when the server gives none), ``on_chunk`` each chunk's size."""
    import http.client
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": user_agent})
    got, sha = 0, hashlib.sha256()
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (http/https only: checked by the CLI)
            length_text = resp.headers.get("Content-Length")
            length = int(length_text) if length_text and length_text.strip().isdigit() else None
            if length is not None and length > max_bytes:
                raise FetchFailed(f"the server offers {size_text(length)}; dlkit downloads at most {size_text(max_bytes)}")
            on_start(length)
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                if got > max_bytes:
                    raise FetchFailed(f"larger than {size_text(max_bytes)}, the most dlkit downloads")
                out.write(chunk)
                sha.update(chunk)
                on_chunk(len(chunk))
    except FetchFailed:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
        raise FetchFailed(_reason(exc, timeout_s) + (f" (after {size_text(got)})" if got else "")) from None
    # http.client stops quietly at a closed connection; a body shorter than announced is cut.
    if length is not None and got != length:
        raise FetchFailed(f"cut short: got {got} of {length} bytes (Content-Length)")
    return got, sha.hexdigest()
