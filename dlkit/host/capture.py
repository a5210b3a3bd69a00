"""The capture bundle (spec §1, ``dlkit-capture`` version 1) held in memory.

A capture is read whole into a :class:`Capture`: a directory or a ``.tar.gz`` on disk, or
an importer's product (collect_env text, a bare nvidia-smi file). Archives are read
member by member and never extracted, so a hostile archive cannot write anywhere.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from dlkit.host.base import COMMAND_STATUSES, CommandResult, normpath

FORMAT = "dlkit-capture"
VERSION = 1
# A capture holds small text files; refuse archives that would unpack to more.
MAX_CAPTURE_BYTES = 512 * 1024 * 1024


class CaptureError(Exception):
    """A capture that cannot be read or written; the message is one line for the user."""


@dataclass
class Capture:
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # "/proc/cpuinfo" -> bytes
    links: dict[str, str] = field(default_factory=dict)  # "/sys/.../driver" -> target
    dirs: set[str] = field(default_factory=set)
    commands: dict[tuple[str, ...], CommandResult] = field(default_factory=dict)
    python: dict[str, Any] | None = None
    environ: dict[str, str] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    nvml: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Every parent of a stored path is a directory (as on the real machine)."""
        for path in list(self.files) + list(self.links) + list(self.dirs):
            parent = posixpath.dirname(path)
            while parent not in self.dirs:
                self.dirs.add(parent)
                if parent == "/":
                    break
                parent = posixpath.dirname(parent)
        self.dirs.add("/")

    def children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = set()
        for p in (*self.files, *self.links, *self.dirs):
            if p.startswith(prefix) and p != prefix:
                names.add(p[len(prefix):].split("/", 1)[0])
        return sorted(names)


# ---------------------------------------------------------------- reading


def _parse_commands(data: bytes) -> dict[tuple[str, ...], CommandResult]:
    try:
        rows = json.loads(data)
    except ValueError as exc:
        raise CaptureError(f"commands.json is not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise CaptureError("commands.json must be a list")
    out: dict[tuple[str, ...], CommandResult] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("argv"), list) or not row["argv"]:
            raise CaptureError("commands.json: every entry needs a non-empty argv list")
        status = row.get("status", "ok")
        if status not in COMMAND_STATUSES:
            raise CaptureError(f"commands.json: unknown status {status!r}")
        rc = row.get("returncode")
        out[tuple(str(a) for a in row["argv"])] = CommandResult(
            tuple(str(a) for a in row["argv"]),
            rc if isinstance(rc, int) else None,
            str(row.get("stdout") or ""),
            str(row.get("stderr") or ""),
            status,
        )
    return out


def _json_member(name: str, data: bytes | None, kind: type) -> Any:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise CaptureError(f"{name} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, kind):
        raise CaptureError(f"{name} must be a JSON {kind.__name__}")
    return value


def _assemble(top: dict[str, bytes], files: dict[str, bytes], links: dict[str, str], dirs: set[str]) -> Capture:
    manifest = _json_member("manifest.json", top.get("manifest.json"), dict)
    if manifest is None or manifest.get("format") != FORMAT:
        raise CaptureError("not a dlkit capture (no manifest.json with format \"dlkit-capture\")")
    if manifest.get("version") != VERSION:
        raise CaptureError(f"capture version {manifest.get('version')!r} is not supported (this dlkit reads version {VERSION})")
    commands = _parse_commands(top["commands.json"]) if "commands.json" in top else {}
    environ = _json_member("environ.json", top.get("environ.json"), dict) or {}
    return Capture(
        manifest=manifest,
        files=files,
        links=links,
        dirs=dirs,
        commands=commands,
        python=_json_member("python.json", top.get("python.json"), dict),
        environ={str(k): str(v) for k, v in environ.items() if v is not None},
        live=_json_member("live.json", top.get("live.json"), dict) or {},
        nvml=_json_member("nvml.json", top.get("nvml.json"), dict),
    )


TOP_LEVEL = ("manifest.json", "commands.json", "python.json", "environ.json", "live.json", "nvml.json")


def _read_dir(root: str) -> Capture:
    top = {}
    for name in TOP_LEVEL:
        p = os.path.join(root, name)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                top[name] = fh.read()
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    dirs: set[str] = set()
    base = os.path.join(root, "files")
    total = 0
    for dirpath, dirnames, filenames in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        vpath = normpath("/" if rel == "." else rel.replace(os.sep, "/"))
        dirs.add(vpath)
        for name in list(dirnames) + filenames:
            full = os.path.join(dirpath, name)
            v = posixpath.join(vpath, name)
            if os.path.islink(full):
                links[v] = os.readlink(full)
                if name in dirnames:
                    dirnames.remove(name)  # never follow a link out of the capture
            elif name in filenames:
                with open(full, "rb") as fh:
                    files[v] = fh.read()
                total += len(files[v])
                if total > MAX_CAPTURE_BYTES:
                    raise CaptureError("capture is larger than 512 MiB; not a capture dlkit wrote")
    return _assemble(top, files, links, dirs)


def _read_tar(path: str) -> Capture:
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            names = [m.name.lstrip("./") if m.name not in (".", "./") else "" for m in members]
            # raw2capture writes members at the archive root; others pack a top folder.
            prefix = ""
            for n in names:
                if n.endswith("manifest.json") and n.count("/") <= 1:
                    prefix = n[: -len("manifest.json")]
                    break
            top: dict[str, bytes] = {}
            files: dict[str, bytes] = {}
            links: dict[str, str] = {}
            dirs: set[str] = set()
            total = 0
            for m, name in zip(members, names):
                if not name.startswith(prefix):
                    continue
                rel = name[len(prefix):]
                if rel in TOP_LEVEL and m.isfile():
                    top[rel] = tar.extractfile(m).read()
                    continue
                if not (rel == "files" or rel.startswith("files/")):
                    continue
                vpath = normpath(rel[len("files"):] or "/")
                if m.isdir():
                    dirs.add(vpath)
                elif m.issym():
                    links[vpath] = m.linkname
                elif m.isfile():
                    total += m.size
                    if total > MAX_CAPTURE_BYTES:
                        raise CaptureError("capture is larger than 512 MiB; not a capture dlkit wrote")
                    files[vpath] = tar.extractfile(m).read()
    except CaptureError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, tarfile.ReadError) and "could not be opened" in str(exc):
            # tarfile.open("r:*") tried every compression: not an archive at all. Its
            # message lists each attempt on its own line; the user gets one line.
            raise CaptureError(f"{path}: not a dlkit capture (neither a capture directory nor a .tar.gz archive)") from None
        detail = " ".join(str(exc).split())
        raise CaptureError(f"{path}: corrupt or truncated archive ({exc.__class__.__name__}: {detail})") from None
    return _assemble(top, files, links, dirs)


def is_archive_name(path: str) -> bool:
    return path.endswith((".tar.gz", ".tgz"))


def load_capture(path: str) -> Capture:
    """Read a capture directory or archive; raise CaptureError with a one-line reason."""
    if not os.path.exists(path):
        raise CaptureError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "manifest.json")):
            raise CaptureError(f"{path}: not a dlkit capture (no manifest.json)")
        try:
            return _read_dir(path)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read capture ({exc.strerror or exc})") from None
    return _read_tar(path)


# ---------------------------------------------------------------- writing


def _write_tree(cap: Capture, root: str) -> None:
    def dump(name: str, value: Any) -> None:
        with open(os.path.join(root, name), "w", encoding="utf-8") as fh:
            json.dump(value, fh, indent=1, ensure_ascii=False, sort_keys=name != "commands.json")
            fh.write("\n")

    dump("manifest.json", cap.manifest)
    dump("commands.json", [c.to_json() for c in cap.commands.values()])
    if cap.python is not None:
        dump("python.json", cap.python)
    if cap.environ:
        dump("environ.json", cap.environ)
    if cap.live:
        dump("live.json", cap.live)
    if cap.nvml is not None:
        dump("nvml.json", cap.nvml)
    base = os.path.join(root, "files")
    os.makedirs(base, exist_ok=True)
    for d in sorted(cap.dirs):
        os.makedirs(os.path.join(base, d.lstrip("/")), exist_ok=True)
    for p, data in cap.files.items():
        full = os.path.join(base, p.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)
    for p, target in cap.links.items():
        full = os.path.join(base, p.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.symlink(target, full)


def check_target(dest: str, force: bool = False) -> str:
    """The absolute path a capture may be written to; CaptureError when it may not.

    The CLI asks before probing, so that a bad --capture fails at once.
    """
    dest = os.path.abspath(dest)
    if os.path.lexists(dest) and not force:
        raise CaptureError(f"{dest} already exists; pass --force to replace it")
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        raise CaptureError(f"{parent}: no such directory")
    return dest


def write_capture(cap: Capture, dest: str, force: bool = False) -> None:
    """Write ``cap`` to a directory or, for ``*.tar.gz``/``*.tgz``, an archive.

    Nothing the user has is overwritten without ``force``; the capture is built in a
    temporary place and moved into position only when complete.
    """
    dest = check_target(dest, force)
    parent = os.path.dirname(dest)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".dlkit-capture-") as tmp:
        tree = os.path.join(tmp, "capture")
        os.makedirs(tree)
        _write_tree(cap, tree)
        if is_archive_name(dest):
            staged = os.path.join(tmp, "capture.tar.gz")
            with tarfile.open(staged, "w:gz") as tar:
                for dirpath, dirnames, filenames in os.walk(tree):
                    for name in sorted(dirnames) + sorted(filenames):
                        full = os.path.join(dirpath, name)
                        tar.add(full, arcname=os.path.relpath(full, tree), recursive=False)
        else:
            staged = tree
        if os.path.lexists(dest):
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            else:
                os.remove(dest)
        os.replace(staged, dest)
