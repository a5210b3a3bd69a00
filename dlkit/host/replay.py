"""ReplayHost: answers every question from a capture. Never writes to it."""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from dlkit.host.base import (
    DEFAULT_COMMAND_TIMEOUT_S,
    MAX_READ_BYTES,
    CommandResult,
    DirList,
    FileRead,
    Host,
    decode,
    normpath,
)
from dlkit.host.capture import Capture


class ReplayHost(Host):
    def __init__(self, capture: Capture, description: str = "capture") -> None:
        self.capture = capture
        self.description = description
        platform = capture.manifest.get("platform")
        self.platform = platform if platform in ("linux", "windows", "darwin") else "linux"
        # Reads that failed live for a reason other than absence (permission denied, ...)
        # are kept in the manifest so that replay gives the same "unknown, because".
        unreadable = capture.manifest.get("unreadable")
        self._unreadable: dict[str, str] = unreadable if isinstance(unreadable, dict) else {}

    def created(self) -> str | None:
        created = self.capture.manifest.get("created")
        return created if isinstance(created, str) else None

    def _resolve(self, path: str) -> str:
        """Follow symlinks stored in the capture, in any path component."""
        path = normpath(path)
        for _ in range(16):  # a link loop in a hand-made capture is absence, not a hang
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                head = "/" + "/".join(parts[:i])
                if head in self.capture.links:
                    target = self.capture.links[head]
                    base = posixpath.dirname(head)
                    resolved = normpath(posixpath.join(base, target))
                    path = normpath(posixpath.join(resolved, *parts[i:])) if parts[i:] else resolved
                    break
            else:
                return path
        return path

    def read_text(self, path: str) -> FileRead:
        path = normpath(path)
        if path in self._unreadable:
            return FileRead(path, None, str(self._unreadable[path]))
        real = self._resolve(path)
        data = self.capture.files.get(real)
        if data is None:
            return FileRead(path, None, "is a directory" if real in self.capture.dirs else "missing")
        text, undecodable = decode(data[:MAX_READ_BYTES])
        return FileRead(path, text, None, len(data) > MAX_READ_BYTES, undecodable)

    def list_dir(self, path: str) -> DirList:
        path = normpath(path)
        if path in self._unreadable:
            return DirList(path, None, str(self._unreadable[path]))
        real = self._resolve(path)
        if real not in self.capture.dirs:
            return DirList(path, None, "not a directory" if real in self.capture.files else "missing")
        return DirList(path, tuple(self.capture.children(real)))

    def readlink(self, path: str) -> str | None:
        # The link itself is not followed, but its parent may be a stored link
        # (/sys/bus/pci/devices/<bdf> -> ../../../devices/...), as read_text and list_dir allow.
        path = normpath(path)
        if path in self.capture.links:
            return self.capture.links[path]
        real = posixpath.join(self._resolve(posixpath.dirname(path)), posixpath.basename(path))
        return self.capture.links.get(real)

    def run(self, argv, timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandResult:
        argv = tuple(argv)
        found = self.capture.commands.get(argv)
        return found if found is not None else CommandResult(argv, None, "", "", "not-found")

    def env(self, name: str) -> str | None:
        return self.capture.environ.get(name)

    def library(self, name: str) -> Any:
        return self.capture.live.get(name)

    def nvml(self) -> dict[str, Any] | None:
        return self.capture.nvml

    def python_probe(self, executable: str | None, import_frameworks: bool, timeout_s: float, *,
                     use_cache: bool = False, driver_version: str | None = None) -> dict[str, Any] | None:
        # The capture's python.json answers whatever was asked: the target interpreter is
        # on the machine the capture came from.
        return copy.deepcopy(self.capture.python) if self.capture.python is not None else None

    def which(self, name: str) -> str | None:
        which = self.capture.live.get("which")
        path = which.get(name) if isinstance(which, dict) else None
        return path if isinstance(path, str) else None
