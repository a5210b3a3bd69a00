"""``dlkit cloud-cost refresh``: fetch SkyPilot's published price catalogs into dlkit's cache.

This is the one place dlkit goes to the network, and only when the user runs that command;
reading prices (``dlkit cloud-cost``) stays offline and reads what this module left behind.

Layout of the cache (``$DLKIT_CACHE_DIR`` or ``platformdirs.user_cache_dir("dlkit")``)::

    skypilot/manifest.json      one entry per cloud: url, fetched_at (UTC), size_bytes, sha256, rows
    skypilot/<cloud>/vms.csv    SkyPilot's file, byte for byte

Where the files come from: SkyPilot reads
``{HOSTED_CATALOG_DIR_URL}/{CATALOG_SCHEMA_VERSION}/<cloud>/vms.csv`` with
``HOSTED_CATALOG_DIR_URL = https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs``
and ``CATALOG_SCHEMA_VERSION = 'v8'`` (sky/skylet/constants.py, sky/catalog/catalog_url_config.py;
releases before it read v7, which is still published). The column order differs per cloud, so
files are checked by header name with the same parser that reads them later
(:func:`dlkit.catalog.cloud_sources.parse_skypilot_csv`).

What a refresh guarantees, whatever the network does:

* a file is streamed into a temporary file (``.dlkit-refresh-*.part``) in its cloud's folder,
  at most :data:`MAX_DOWNLOAD_BYTES`, checked against ``Content-Length`` (a connection cut
  short is not a catalog), decoded and parsed (the SkyPilot columns and at least one GPU price
  row), and only then renamed over ``vms.csv``; the manifest entry is written after it;
* any failure, an exception or a signal (Ctrl-C) removes the temporary file, and the file
  that was there before stays, with its manifest entry;
* ``--timeout`` bounds the connection and every wait for data (a server that stops sending),
  not the whole download: a 30 MB catalog on a slow line is fine, a silent server is not.

The manifest is read back by :func:`cached_catalogs`: a file counts only if it is the size and
sha256 its entry records, so an edited or half-replaced file is named, never read as current.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from dlkit.host.safefile import FileRefused, decode_text, loads_json, read_regular, size_text
from dlkit.host.userfiles import MAX_JSON_BYTES, MAX_TEXT_BYTES, write_atomically

SKY_LAYOUT = "v8"  # SkyPilot's CATALOG_SCHEMA_VERSION (sky/skylet/constants.py)
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/{SKY_LAYOUT}"
# The providers the shipped catalog covers (dlkit/catalog/data/cloud_prices.csv).
DEFAULT_CLOUDS = ("aws", "azure", "gcp", "lambda", "runpod", "vast")
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0
# SkyPilot's AWS vms.csv is tens of MB; the same cap as a price file the user names.
MAX_DOWNLOAD_BYTES = MAX_TEXT_BYTES
CACHE_ENV = "DLKIT_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "dlkit.skypilot-cache/1"
TEMP_PREFIX = ".dlkit-refresh-"
TEMP_SUFFIX = ".part"
_CHUNK = 64 * 1024


class RefreshError(Exception):
    """The refresh cannot run at all (no cache folder, another refresh holds the lock)."""


class FetchFailed(Exception):
    """One cloud's file could not be fetched or is not a catalog; the message is the reason."""


# --------------------------------------------------------------------------- where the cache is


def cache_root() -> str:
    """``$DLKIT_CACHE_DIR`` when set (tests point it at a temporary folder), else the
    platform's cache folder for dlkit (``~/.cache/dlkit`` on Linux, honouring ``XDG_CACHE_HOME``)."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return platformdirs.user_cache_dir("dlkit", appauthor=False)


def sky_cache_dir(root: str | None = None) -> str:
    return os.path.join(root if root is not None else cache_root(), "skypilot")


def cloud_url(base_url: str, cloud: str) -> str:
    return f"{base_url.rstrip('/')}/{cloud}/vms.csv"


# --------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class Entry:
    """What the manifest says about one cached file."""

    cloud: str
    url: str
    fetched_at: str  # ISO 8601, UTC, seconds: 2026-12-04T10:11:12Z
    size_bytes: int
    sha256: str
    rows: int  # GPU price rows parsed when it was fetched

    @property
    def fetched_date(self) -> str:
        return self.fetched_at[:10]

    def as_json(self) -> dict:
        return {"file": f"{self.cloud}/vms.csv", "url": self.url, "fetched_at": self.fetched_at,
                "size_bytes": self.size_bytes, "sha256": self.sha256, "rows": self.rows}


_SHA = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _entry(cloud: str, raw: object) -> Entry | None:
    """An entry, or ``None`` when it is not one dlkit wrote (the manifest is a file on disk:
    hostile until read). The path is never taken from the manifest: it is ``<cloud>/vms.csv``."""
    if not isinstance(raw, dict):
        return None
    url, at, size, sha, rows = (raw.get(k) for k in ("url", "fetched_at", "size_bytes", "sha256", "rows"))
    if not (isinstance(url, str) and isinstance(at, str) and _DATE.fullmatch(at) and isinstance(sha, str)
            and _SHA.fullmatch(sha) and type(size) is int and size >= 0 and type(rows) is int and rows >= 0):
        return None
    try:
        dt.date.fromisoformat(at[:10])
    except ValueError:
        return None
    return Entry(cloud, url, at, size, sha, rows)


def read_manifest(sky_dir: str) -> tuple[dict[str, Entry], str | None]:
    """(entries by cloud, why the manifest was ignored or ``None``). No manifest: ``({}, None)``."""
    from dlkit.catalog.cloud_sources import known_cloud

    path = os.path.join(sky_dir, MANIFEST)
    if not os.path.lexists(path):
        return {}, None
    try:
        doc = loads_json(read_regular(path, MAX_JSON_BYTES, f"cache manifest {path}"), f"cache manifest {path}")
    except FileRefused as exc:
        return {}, str(exc)
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA or not isinstance(doc.get("files"), dict):
        return {}, f"cache manifest {path} is not a {MANIFEST_SCHEMA} document"
    out = {}
    for cloud, raw in doc["files"].items():
        if isinstance(cloud, str) and known_cloud(cloud):
            e = _entry(cloud, raw)
            if e is not None:
                out[cloud] = e
    return out, None


def write_manifest(sky_dir: str, entries: dict[str, Entry]) -> None:
    doc = {"schema": MANIFEST_SCHEMA, "layout": SKY_LAYOUT,
           "files": {c: entries[c].as_json() for c in sorted(entries)}}
    write_atomically(os.path.join(sky_dir, MANIFEST), (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


@dataclass(frozen=True)
class CachedFile:
    entry: Entry
    path: str
    text: str


def cached_catalogs(root: str | None = None) -> tuple[list[CachedFile], list[str]]:
    """The cached files that match their manifest entry, and one line per file left out
    (changed since it was fetched, unreadable) or a manifest that was ignored. Offline."""
    sky_dir = sky_cache_dir(root)
    entries, problem = read_manifest(sky_dir)
    notes = [f"ignored {problem}; run dlkit cloud-cost refresh"] if problem else []
    out = []
    for cloud in sorted(entries):
        e = entries[cloud]
        path = os.path.join(sky_dir, cloud, "vms.csv")
        try:
            data = read_regular(path, MAX_TEXT_BYTES, f"cached catalog {path}")
            if len(data) != e.size_bytes or hashlib.sha256(data).hexdigest() != e.sha256:
                raise FileRefused(f"cached catalog {path} is not the file fetched {e.fetched_date} "
                                  f"(size or sha256 differ from {MANIFEST})")
            out.append(CachedFile(e, path, decode_text(data, f"cached catalog {path}")))
        except FileRefused as exc:
            notes.append(f"skipped {exc}; run dlkit cloud-cost refresh")
    return out, notes


# --------------------------------------------------------------------------- fetching


class Progress(Protocol):
    def start(self, cloud: str, total_bytes: int | None) -> None: ...
    def advance(self, cloud: str, n_bytes: int) -> None: ...
    def finish(self, cloud: str, ok: bool) -> None: ...


class _Quiet:
    def start(self, cloud: str, total_bytes: int | None) -> None:
        pass

    def advance(self, cloud: str, n_bytes: int) -> None:
        pass

    def finish(self, cloud: str, ok: bool) -> None:
        pass


@dataclass(frozen=True)
class Outcome:
    """One cloud's refresh: ``entry`` is the new file's (refreshed) or ``None`` (failed);
    ``kept`` is the earlier file left in place after a failure, if there was one."""

    cloud: str
    url: str
    path: str
    entry: Entry | None = None
    error: str | None = None
    kept: Entry | None = None

    @property
    def ok(self) -> bool:
        return self.entry is not None

    @property
    def message(self) -> str:
        """The one line a failure prints."""
        if self.ok:
            return f"{self.cloud}: refreshed from {self.url}"
        after = f"kept the copy fetched {self.kept.fetched_date}" if self.kept else f"nothing is cached for {self.cloud}"
        return f"refresh {self.cloud} from {self.url} failed: {self.error}; {after}"


@dataclass(frozen=True)
class RefreshResult:
    cache_dir: str
    base_url: str
    timeout_s: float
    outcomes: tuple[Outcome, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """0: every cloud refreshed; 1: some did (the others kept what they had);
        2: none did (README "cloud-cost refresh")."""
        good = sum(o.ok for o in self.outcomes)
        return 0 if good == len(self.outcomes) else 1 if good else 2


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


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


def _download(url: str, out, timeout_s: float, max_bytes: int, cloud: str, progress: Progress) -> tuple[int, str]:
    """Stream ``url`` into the open binary file ``out``: (bytes, sha256 hex), or :class:`FetchFailed`."""
    import http.client
    import urllib.request

    from dlkit import __version__

    req = urllib.request.Request(url, headers={"User-Agent": f"dlkit/{__version__} (cloud-cost refresh)"})
    got, sha = 0, hashlib.sha256()
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (http/https only: checked by the CLI)
            length_text = resp.headers.get("Content-Length")
            length = int(length_text) if length_text and length_text.strip().isdigit() else None
            if length is not None and length > max_bytes:
                raise FetchFailed(f"the server offers {size_text(length)}; dlkit downloads at most {size_text(max_bytes)}")
            progress.start(cloud, length)
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                got += len(chunk)
                if got > max_bytes:
                    raise FetchFailed(f"larger than {size_text(max_bytes)}, the most dlkit downloads")
                out.write(chunk)
                sha.update(chunk)
                progress.advance(cloud, len(chunk))
    except FetchFailed:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
        raise FetchFailed(_reason(exc, timeout_s) + (f" (after {size_text(got)})" if got else "")) from None
    # http.client stops quietly at a closed connection; a body shorter than announced is cut.
    if length is not None and got != length:
        raise FetchFailed(f"cut short: got {got} of {length} bytes (Content-Length)")
    return got, sha.hexdigest()


def validate(text: str, cloud: str) -> int:
    """The number of GPU price rows in a downloaded ``vms.csv``, or :class:`FetchFailed`: it must
    parse as a SkyPilot file, hold at least one GPU price row, and end with a newline (SkyPilot's
    files always do; a file without one was cut inside its last row)."""
    from dlkit.catalog.cloud import CatalogError
    from dlkit.catalog.cloud_sources import parse_skypilot_csv, provider_name

    name = f"{cloud}/vms.csv"
    try:
        rows = parse_skypilot_csv(text, name, provider_name(cloud))
    except CatalogError as exc:
        raise FetchFailed(str(exc)) from None
    if not rows:
        raise FetchFailed(f"{name} has no GPU price rows: not a SkyPilot catalog")
    if not text.endswith("\n"):
        raise FetchFailed(f"{name} does not end with a newline: cut inside its last row")
    return len(rows)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def refresh_one(cloud: str, url: str, sky_dir: str, *, timeout_s: float, max_bytes: int, progress: Progress,
                clock: Callable[[], dt.datetime], old: Entry | None) -> Outcome:
    folder = os.path.join(sky_dir, cloud)
    final = os.path.join(folder, "vms.csv")
    kept = old if old is not None and os.path.isfile(final) else None
    staged = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, staged = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as fh:
            size, sha = _download(url, fh, timeout_s, max_bytes, cloud, progress)
            fh.flush()
            os.fsync(fh.fileno())
        # Validate what is on disk, read back through the one safe reader.
        text = decode_text(read_regular(staged, max_bytes, f"{cloud}/vms.csv"), f"{cloud}/vms.csv")
        rows = validate(text, cloud)
        os.replace(staged, final)
        staged = None
        entry = Entry(cloud, url, clock().astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), size, sha, rows)
        entries, _ = read_manifest(sky_dir)
        entries[cloud] = entry
        write_manifest(sky_dir, entries)
        progress.finish(cloud, True)
        return Outcome(cloud, url, final, entry=entry)
    except (FetchFailed, FileRefused) as exc:
        progress.finish(cloud, False)
        return Outcome(cloud, url, final, error=" ".join(str(exc).split()), kept=kept)
    except OSError as exc:  # the cache folder: a full disk, no permission
        progress.finish(cloud, False)
        return Outcome(cloud, url, final, error=f"cannot write the cache: {exc.strerror or exc}"
                       + (f" ({exc.filename})" if exc.filename else ""), kept=kept)
    finally:  # also on Ctrl-C / SIGTERM (raised as KeyboardInterrupt): no .part file stays
        if staged is not None:
            _unlink(staged)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty: a cloud that never fetched leaves no folder


@contextlib.contextmanager
def _locked(sky_dir: str) -> Iterator[None]:
    """One refresh at a time per cache: two would race on the manifest."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    path = os.path.join(sky_dir, ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise RefreshError(f"cannot write the cache {sky_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RefreshError(f"another dlkit cloud-cost refresh is writing {sky_dir}; try again when it ends") from None
        yield
    finally:
        os.close(fd)


def refresh(clouds: list[str] | tuple[str, ...], *, base_url: str = DEFAULT_BASE_URL,
            timeout_s: float = DEFAULT_TIMEOUT_S, root: str | None = None, progress: Progress | None = None,
            max_bytes: int = MAX_DOWNLOAD_BYTES, clock: Callable[[], dt.datetime] = _utc_now) -> RefreshResult:
    """Fetch ``<base_url>/<cloud>/vms.csv`` for each cloud into the cache, one after another."""
    sky_dir = sky_cache_dir(root)
    try:
        os.makedirs(sky_dir, exist_ok=True)
    except OSError as exc:
        raise RefreshError(f"cannot create the cache folder {sky_dir}: {exc.strerror or exc}") from None
    progress = progress or _Quiet()
    outcomes = []
    with _locked(sky_dir):
        old, _ = read_manifest(sky_dir)
        for cloud in clouds:
            outcomes.append(refresh_one(cloud, cloud_url(base_url, cloud), sky_dir, timeout_s=timeout_s,
                                        max_bytes=max_bytes, progress=progress, clock=clock, old=old.get(cloud)))
    return RefreshResult(sky_dir, base_url.rstrip("/"), timeout_s, tuple(outcomes))


def temp_files(root: str | None = None) -> list[str]:
    """Leftover temporary files in the cache: downloads (``.dlkit-refresh-*.part``) and manifest
    writes (``.dlkit-*``). None, unless dlkit was killed with SIGKILL."""
    sky_dir = sky_cache_dir(root)
    found = []
    for here, _dirs, names in os.walk(sky_dir):
        found += [os.path.join(here, n) for n in names if n.startswith(".dlkit-")]
    return sorted(found)


__all__ = ["CACHE_ENV", "DEFAULT_BASE_URL", "DEFAULT_CLOUDS", "DEFAULT_TIMEOUT_S", "MAX_DOWNLOAD_BYTES", "MAX_TIMEOUT_S",
           "CachedFile", "Entry", "FetchFailed", "Outcome", "RefreshError", "RefreshResult", "cache_root",
           "cached_catalogs", "cloud_url", "read_manifest", "refresh", "sky_cache_dir", "temp_files", "validate"]
