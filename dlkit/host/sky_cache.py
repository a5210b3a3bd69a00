"""dlkit's on-disk cache of SkyPilot price catalogs: where it is, its manifest, and how a file gets in.

Layout (``$DLKIT_CACHE_DIR`` or ``platformdirs.user_cache_dir("dlkit")``)::

    skypilot/manifest.json      one entry per cloud: url, fetched_at (UTC), size_bytes, sha256, rows
    skypilot/<cloud>/vms.csv    SkyPilot's file, byte for byte

Writing (:func:`staging`): a download goes to a temporary ``.dlkit-refresh-*.part`` in its
cloud's folder and is renamed over ``vms.csv`` only when the caller installs it; any exception
or signal (KeyboardInterrupt) removes it, so the earlier file and its manifest entry stay.
Reading (:func:`cached_catalogs`): a file counts only if it is the size and sha256 its entry
records, so an edited or half-replaced file is named, never read as current. This module is the
host seam for the cache; :mod:`dlkit.catalog.refresh` decides what to fetch and when.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from dlkit.host.safefile import FileRefused, decode_text, loads_json, read_regular
from dlkit.host.userfiles import MAX_JSON_BYTES, MAX_TEXT_BYTES, write_atomically

SKY_LAYOUT = "v8"  # SkyPilot's CATALOG_SCHEMA_VERSION (sky/skylet/constants.py)
CACHE_ENV = "DLKIT_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "dlkit.skypilot-cache/1"
TEMP_PREFIX = ".dlkit-refresh-"
TEMP_SUFFIX = ".part"


class CacheUnavailable(Exception):
    """The cache folder cannot be created or is locked by another refresh; the message says which."""


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
        path = cached_path(sky_dir, cloud)
        try:
            data = read_regular(path, MAX_TEXT_BYTES, f"cached catalog {path}")
            if len(data) != e.size_bytes or hashlib.sha256(data).hexdigest() != e.sha256:
                raise FileRefused(f"cached catalog {path} is not the file fetched {e.fetched_date} "
                                  f"(size or sha256 differ from {MANIFEST})")
            out.append(CachedFile(e, path, decode_text(data, f"cached catalog {path}")))
        except FileRefused as exc:
            notes.append(f"skipped {exc}; run dlkit cloud-cost refresh")
    return out, notes


# --------------------------------------------------------------------------- writing


def cached_path(sky_dir: str, cloud: str) -> str:
    return os.path.join(sky_dir, cloud, "vms.csv")


def has_cached(sky_dir: str, cloud: str) -> bool:
    return os.path.isfile(cached_path(sky_dir, cloud))


def make_cache_dir(root: str | None = None) -> str:
    sky_dir = sky_cache_dir(root)
    try:
        os.makedirs(sky_dir, exist_ok=True)
    except OSError as exc:
        raise CacheUnavailable(f"cannot create the cache folder {sky_dir}: {exc.strerror or exc}") from None
    return sky_dir


class Staged:
    """A download on its way into the cache: write to ``file``, then :meth:`read_back` and :meth:`install`."""

    def __init__(self, path: str, final: str, file: BinaryIO) -> None:
        self.path, self.final, self.file = path, final, file
        self.installed = False

    def read_back(self, max_bytes: int, name: str) -> str:
        """Flush to disk and read the file back through the one safe reader (what is validated is what is kept)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return decode_text(read_regular(self.path, max_bytes, name), name)

    def install(self) -> None:
        os.replace(self.path, self.final)
        self.installed = True


@contextlib.contextmanager
def staging(sky_dir: str, cloud: str) -> Iterator[Staged]:
    """A temporary file beside ``<cloud>/vms.csv``; removed on the way out unless installed
    (also on Ctrl-C / SIGTERM raised as KeyboardInterrupt). OSError: the cache cannot be written."""
    folder = os.path.dirname(cached_path(sky_dir, cloud))
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    staged = Staged(path, cached_path(sky_dir, cloud), os.fdopen(fd, "wb"))
    try:
        yield staged
    finally:
        staged.file.close()
        if not staged.installed:
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty: a cloud that never fetched leaves no folder


@contextlib.contextmanager
def locked(sky_dir: str) -> Iterator[None]:
    """One refresh at a time per cache: two would race on the manifest."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = os.path.join(sky_dir, ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise CacheUnavailable(f"cannot write the cache {sky_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CacheUnavailable(f"another dlkit cloud-cost refresh is writing {sky_dir}; try again when it ends") from None
        yield
    finally:
        os.close(fd)


def temp_files(root: str | None = None) -> list[str]:
    """Leftover temporary files in the cache: downloads (``.dlkit-refresh-*.part``) and manifest
    writes (``.dlkit-*``). None, unless dlkit was killed with SIGKILL."""
    found = []
    for here, _dirs, names in os.walk(sky_cache_dir(root)):
        found += [os.path.join(here, n) for n in names if n.startswith(".dlkit-")]
    return sorted(found)
