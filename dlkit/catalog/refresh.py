"""``dlkit cloud-cost refresh``: fetch SkyPilot's published price catalogs into dlkit's cache.

This is the one place dlkit goes to the network, and only when the user runs that command;
reading prices (``dlkit cloud-cost``) stays offline and reads what this module left behind.

The cache and its manifest are :mod:`dlkit.host.sky_cache`'s; the download is
:mod:`dlkit.host.http_download`'s (both in the host seam). This module decides what to fetch,
checks it, and reports one :class:`Outcome` per cloud.

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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Protocol

from dlkit.host.http_download import FetchFailed, download
from dlkit.host.safefile import FileRefused
from dlkit.host.sky_cache import (SKY_LAYOUT, CacheUnavailable, Entry, cached_path, has_cached, locked, make_cache_dir,
                                  read_manifest, staging, write_manifest)
from dlkit.host.userfiles import MAX_TEXT_BYTES

DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/{SKY_LAYOUT}"
# The providers the shipped catalog covers (dlkit/catalog/data/cloud_prices.csv).
DEFAULT_CLOUDS = ("aws", "azure", "gcp", "lambda", "runpod", "vast")
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0
# SkyPilot's AWS vms.csv is tens of MB; the same cap as a price file the user names.
MAX_DOWNLOAD_BYTES = MAX_TEXT_BYTES


class RefreshError(Exception):
    """The refresh cannot run at all (no cache folder, another refresh holds the lock)."""


def cloud_url(base_url: str, cloud: str) -> str:
    return f"{base_url.rstrip('/')}/{cloud}/vms.csv"


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


def refresh_one(cloud: str, url: str, sky_dir: str, *, timeout_s: float, max_bytes: int, progress: Progress,
                clock: Callable[[], dt.datetime], old: Entry | None) -> Outcome:
    from dlkit import __version__

    final = cached_path(sky_dir, cloud)
    kept = old if old is not None and has_cached(sky_dir, cloud) else None
    try:
        with staging(sky_dir, cloud) as staged:
            size, sha = download(url, staged.file, timeout_s=timeout_s, max_bytes=max_bytes,
                                 user_agent=f"dlkit/{__version__} (cloud-cost refresh)",
                                 on_start=lambda n: progress.start(cloud, n),
                                 on_chunk=lambda n: progress.advance(cloud, n))
            rows = validate(staged.read_back(max_bytes, f"{cloud}/vms.csv"), cloud)
            staged.install()
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


def refresh(clouds: list[str] | tuple[str, ...], *, base_url: str = DEFAULT_BASE_URL,
            timeout_s: float = DEFAULT_TIMEOUT_S, root: str | None = None, progress: Progress | None = None,
            max_bytes: int = MAX_DOWNLOAD_BYTES, clock: Callable[[], dt.datetime] = _utc_now) -> RefreshResult:
    """Fetch ``<base_url>/<cloud>/vms.csv`` for each cloud into the cache, one after another."""
    progress = progress or _Quiet()
    outcomes = []
    try:
        sky_dir = make_cache_dir(root)
        with locked(sky_dir):
            old, _ = read_manifest(sky_dir)
            for cloud in clouds:
                outcomes.append(refresh_one(cloud, cloud_url(base_url, cloud), sky_dir, timeout_s=timeout_s,
                                            max_bytes=max_bytes, progress=progress, clock=clock, old=old.get(cloud)))
    except CacheUnavailable as exc:
        raise RefreshError(str(exc)) from None
    return RefreshResult(sky_dir, base_url.rstrip("/"), timeout_s, tuple(outcomes))
