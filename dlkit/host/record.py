"""RecordingHost: a live host that remembers exactly what the probes read, so that
``dlkit doctor --capture`` writes that and nothing more."""

from __future__ import annotations

import copy
import os
import threading
from typing import Any

from dlkit import __version__
from dlkit.host.base import DEFAULT_COMMAND_TIMEOUT_S, CommandResult, DirList, FileRead, Host, normpath
from dlkit.host.capture import FORMAT, VERSION, Capture
from dlkit.host.live import LiveHost
from dlkit.host.redact import HOSTNAME_FILES, IDENTITY_ENV, Redactor


class RecordingHost(Host):
    def __init__(self, inner: LiveHost | None = None) -> None:
        self.inner = inner or LiveHost()
        self.platform = self.inner.platform
        self.description = self.inner.description
        self._lock = threading.Lock()  # probes run concurrently
        self.files: dict[str, bytes] = {}
        self.unreadable: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.dirs: set[str] = set()
        self.commands: dict[tuple[str, ...], CommandResult] = {}
        self.environ: dict[str, str] = {}
        self.live: dict[str, Any] = {}
        self.nvml_snapshot: dict[str, Any] | None = None  # written as nvml.json
        self.python: dict[str, Any] | None = None  # written as python.json

    def created(self) -> str:
        return self.inner.created()

    def read_text(self, path: str) -> FileRead:
        r = self.inner.read_text(path)
        with self._lock:
            if r.text is not None:
                self.files[r.path] = r.text.encode("utf-8")
            elif r.error not in ("missing", "is a directory"):
                self.unreadable[r.path] = r.error or "unreadable"
        return r

    def list_dir(self, path: str) -> DirList:
        r = self.inner.list_dir(path)
        with self._lock:
            if r.entries is not None:
                self.dirs.add(r.path)
                # Sub-directories appear in the replayed listing even when the probes
                # read nothing inside them (os.path.isdir: host-folder access only).
                for name in r.entries:
                    child = normpath(f"{r.path}/{name}")
                    if os.path.isdir(child) and not os.path.islink(child):
                        self.dirs.add(child)
            elif r.error not in ("missing", "not a directory"):
                self.unreadable[r.path] = r.error or "unreadable"
        return r

    def readlink(self, path: str) -> str | None:
        target = self.inner.readlink(path)
        if target is not None:
            with self._lock:
                self.links[normpath(path)] = target
        return target

    def run(self, argv, timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandResult:
        r = self.inner.run(argv, timeout_s)
        with self._lock:
            self.commands[r.argv] = r
        return r

    def env(self, name: str) -> str | None:
        value = self.inner.env(name)
        if value is not None:
            with self._lock:
                self.environ[name] = value
        return value

    def library(self, name: str) -> Any:
        value = self.inner.library(name)
        if value is not None:
            with self._lock:
                self.live[name] = value
        return value

    def python_probe(self, executable: str | None, import_frameworks: bool, timeout_s: float, *,
                     use_cache: bool = False, driver_version: str | None = None) -> dict[str, Any] | None:
        answer = self.inner.python_probe(executable, import_frameworks, timeout_s,
                                         use_cache=use_cache, driver_version=driver_version)
        if answer is not None:
            with self._lock:
                self.python = copy.deepcopy(answer)  # the last answer is the one the probes used
        return answer

    def which(self, name: str) -> str | None:
        path = self.inner.which(name)
        with self._lock:
            # "not found" is recorded too; a new dict, so a capture taken earlier is not changed
            self.live["which"] = {**(self.live.get("which") or {}), name: path}
        return path

    def nvml(self) -> dict[str, Any] | None:
        snap = self.inner.nvml()
        if snap is not None:
            with self._lock:
                self.nvml_snapshot = copy.deepcopy(snap)
        return snap

    def record_identity(self) -> None:
        """Also read the machine's host name files and user/host variables, so that a
        replay of this capture can redact them (``Redactor.for_capture``), even when the
        capture itself is not redacted. No probe reads them; they are all that is added."""
        for path in HOSTNAME_FILES:
            self.read_text(path)
        for name in IDENTITY_ENV:
            self.env(name)

    def to_capture(self, redactor: Redactor | None, notes: str = "") -> Capture:
        """What was read, as a capture; redacted when a redactor is given: every part of
        it, the manifest's notes and unreadable paths included (Redactor.redact_capture)."""
        self.record_identity()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created(),
            "dlkit_version": __version__,
            "platform": self.platform,
            "redacted": redactor is not None,
            "notes": notes,
        }
        with self._lock:
            cap = Capture(
                manifest=manifest,
                files=dict(self.files),
                links=dict(self.links),
                dirs=set(self.dirs),
                commands=dict(self.commands),
                environ=dict(self.environ),
                live=dict(self.live),
                nvml=copy.deepcopy(self.nvml_snapshot),
                python=copy.deepcopy(self.python),
            )
            if self.unreadable:
                manifest["unreadable"] = dict(sorted(self.unreadable.items()))
        if redactor is not None:
            cap = redactor.redact_capture(cap)
            # redact_capture copies the manifest: record the summary in the copy it returned.
            cap.manifest["redactions"] = redactor.summary()
        return cap
