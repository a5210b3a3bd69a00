"""The capture bundle (spec §1, ``dlkit-capture`` version 1) held in memory.

A capture is read whole into a :class:`Capture`: a directory or a ``.tar.gz`` on disk, or
an importer's product (collect_env text, a bare nvidia-smi file). Archives are read
member by member and never extracted, so a hostile archive cannot write anywhere. Every
member goes through the safe reader (regular files only, never through a symlink out of
the capture) and counts against the caps below. Writing is in capture_write.py.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any

from dlkit.host.base import COMMAND_STATUSES, CommandResult, normpath
from dlkit.host.safefile import FileRefused, kind_of, loads_json, read_regular, size_text

FORMAT = "dlkit-capture"
VERSION = 1


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
# A capture holds small text files (a probe reads at most 4 MiB of one file, a command's
# output is kept to 8 MiB, so commands.json stays well under 64 MiB). Every member,
# top-level ones included, counts against both caps, and so does the number of members:
# a hostile bundle costs at most about MAX_CAPTURE_BYTES of memory plus one member parsed.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_CAPTURE_BYTES = 256 * 1024 * 1024
# A server with 300 PCI functions records about 3,000 sysfs members.
MAX_MEMBERS = 20_000
TOP_LEVEL = ("manifest.json", "commands.json", "python.json", "environ.json", "live.json", "nvml.json")


class _Budget:
    """Members and bytes read so far, against the caps (one per capture being read)."""

    def __init__(self, where: str) -> None:
        self.where, self.members, self.bytes = where, 0, 0

    def member(self, name: str, size: int = 0) -> int:
        """Count one member of ``size`` bytes; the most it may still read."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise CaptureError(f"{self.where}: more than {MAX_MEMBERS:,} members; not a capture dlkit wrote")
        if size > MAX_MEMBER_BYTES:
            raise CaptureError(f"{self.where}: member {name} is {size_text(size)}; a capture member may be at most "
                               f"{size_text(MAX_MEMBER_BYTES)}")
        self.bytes += size
        if self.bytes > MAX_CAPTURE_BYTES:
            raise CaptureError(f"{self.where}: larger than {size_text(MAX_CAPTURE_BYTES)} unpacked; not a capture dlkit wrote")
        return min(MAX_MEMBER_BYTES, MAX_CAPTURE_BYTES - self.bytes + size)


def _json(name: str, data: bytes) -> Any:
    try:
        return loads_json(data, name)
    except FileRefused as exc:
        raise CaptureError(str(exc)) from None


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CaptureError(f"commands.json: {key} of {row.get('argv')!r:.80} must be a string")
    return value


def _parse_commands(data: bytes) -> dict[tuple[str, ...], CommandResult]:
    rows = _json("commands.json", data)
    if not isinstance(rows, list):
        raise CaptureError("commands.json must be a list")
    out: dict[tuple[str, ...], CommandResult] = {}
    for row in rows:
        argv = row.get("argv") if isinstance(row, dict) else None
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise CaptureError("commands.json: every entry needs a non-empty argv list of strings")
        status = row.get("status", "ok")
        if status not in COMMAND_STATUSES:
            raise CaptureError(f"commands.json: unknown status {str(status)[:40]!r}")
        rc = row.get("returncode")
        out[tuple(argv)] = CommandResult(
            tuple(argv),
            rc if isinstance(rc, int) and not isinstance(rc, bool) else None,
            _text(row, "stdout"),
            _text(row, "stderr"),
            status,
            truncated=row.get("truncated") is True,
        )
    return out


def _json_member(name: str, data: bytes | None, kind: type) -> Any:
    if data is None:
        return None
    value = _json(name, data)
    if not isinstance(value, kind):
        raise CaptureError(f"{name} must be a JSON {kind.__name__}")
    return value


def _assemble(top: dict[str, bytes], files: dict[str, bytes], links: dict[str, str], dirs: set[str]) -> Capture:
    manifest = _json_member("manifest.json", top.get("manifest.json"), dict)
    if manifest is None or manifest.get("format") != FORMAT:
        raise CaptureError("not a dlkit capture (no manifest.json with format \"dlkit-capture\")")
    if manifest.get("version") != VERSION:
        raise CaptureError(f"capture version {manifest.get('version')!r:.20} is not supported "
                           f"(this dlkit reads version {VERSION})")
    commands = _parse_commands(top["commands.json"]) if "commands.json" in top else {}
    environ = _json_member("environ.json", top.get("environ.json"), dict) or {}
    if not all(isinstance(v, str) or v is None for v in environ.values()):
        raise CaptureError("environ.json: every value must be a string")
    return Capture(
        manifest=manifest,
        files=files,
        links=links,
        dirs=dirs,
        commands=commands,
        python=_json_member("python.json", top.get("python.json"), dict),
        environ={str(k): v for k, v in environ.items() if v is not None},
        live=_json_member("live.json", top.get("live.json"), dict) or {},
        nvml=_json_member("nvml.json", top.get("nvml.json"), dict),
    )


def _read_member(path: str, name: str, budget: _Budget) -> bytes:
    """One regular file of a capture directory, never through a symlink, within the caps."""
    room = budget.member(name, os.lstat(path).st_size)
    try:
        return read_regular(path, room, f"capture member {name}", follow_symlinks=False)
    except FileRefused as exc:
        raise CaptureError(f"{budget.where}: {exc}") from None


def _read_dir(root: str) -> Capture:
    budget = _Budget(root)
    top: dict[str, bytes] = {}
    for name in TOP_LEVEL:
        p = os.path.join(root, name)
        if os.path.lexists(p):
            top[name] = _read_member(p, name, budget)
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    dirs: set[str] = set()
    base = os.path.join(root, "files")
    if os.path.islink(base) or (os.path.lexists(base) and not os.path.isdir(base)):
        raise CaptureError(f"{root}: files is {kind_of(os.lstat(base).st_mode) or 'a file'}; in a capture it is a folder")

    def walk_error(exc: OSError) -> None:
        raise CaptureError(f"{root}: cannot read capture ({exc.strerror or exc})")

    # os.walk never descends into a symlinked folder; links are stored as links, and
    # ReplayHost resolves them inside the capture, never on this machine.
    for dirpath, dirnames, filenames in os.walk(base, onerror=walk_error):
        rel = os.path.relpath(dirpath, base)
        vpath = normpath("/" if rel == "." else rel.replace(os.sep, "/"))
        dirs.add(vpath)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            v = posixpath.join(vpath, name)
            member = "files" + v
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                budget.member(member)
                links[v] = os.readlink(full)
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(mode):
                budget.member(member)
            else:
                files[v] = _read_member(full, member, budget)
    return _assemble(top, files, links, dirs)


_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")  # gzip, bzip2, xz


def _looks_archived(fileobj: IO[bytes]) -> bool:
    """Compressed, or a tar header (``ustar`` at offset 257): a broken archive, not another file."""
    fileobj.seek(0)
    head = fileobj.read(512)
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


_INFLATE_STEP = 1 << 20


def _check_compressed(path: str, data: bytes) -> None:
    """A compressed archive must end where its format says it ends: tarfile's stream mode
    takes a cut-off stream that happens to end between members for a shorter archive. The
    decompressor runs in bounded steps, so this also caps what the archive unpacks to
    before tarfile sees it."""
    total = 0

    def count(out: bytes) -> None:
        nonlocal total
        total += len(out)
        if total > MAX_CAPTURE_BYTES:
            raise CaptureError(f"{path}: unpacks to more than {size_text(MAX_CAPTURE_BYTES)}; not a capture dlkit wrote")

    try:
        if data.startswith(b"\x1f\x8b"):
            z = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
            rest = data
            while rest and not z.eof:
                count(z.decompress(rest, _INFLATE_STEP))
                rest = z.unconsumed_tail
            done = z.eof
        elif data.startswith((b"BZh", b"\xfd7zXZ\x00")):
            d = bz2.BZ2Decompressor() if data.startswith(b"BZh") else lzma.LZMADecompressor()
            count(d.decompress(data, _INFLATE_STEP))
            while not d.eof and not d.needs_input:
                count(d.decompress(b"", _INFLATE_STEP))
            done = d.eof
        else:
            return
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise CaptureError(f"{path}: corrupt or truncated archive ({exc.__class__.__name__}: {exc})") from None
    if not done:
        raise CaptureError(f"{path}: corrupt or truncated archive (the compressed stream ends early)")


def _read_tar(path: str, fileobj: IO[bytes]) -> Capture:
    """Read an archive in one streaming pass ("r|*"): each member's size is checked against
    the caps from its header before any of its data is decompressed."""
    budget = _Budget(path)
    entries: list[tuple[str, str, Any]] = []  # (name, kind, bytes | link target)
    try:
        with tarfile.open(None, "r|*", fileobj=fileobj) as tar:
            for m in tar:
                name = m.name[2:] if m.name.startswith("./") else m.name.lstrip("/")
                room = budget.member(name or ".", m.size if m.isfile() else 0)
                if m.isfile():
                    if m.size > room:  # over the total: _Budget raised already; belt and braces
                        raise CaptureError(f"{path}: member {name} is too large")
                    entries.append((name, "file", tar.extractfile(m).read()))
                elif m.isdir():
                    entries.append((name, "dir", None))
                elif m.issym():
                    entries.append((name, "link", m.linkname))
                else:
                    kind = "hard link" if m.islnk() else "FIFO" if m.isfifo() else "device" if m.isdev() else "special file"
                    raise CaptureError(f"{path}: member {name} is a {kind}; a capture holds only files, folders and symlinks")
    except CaptureError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, tarfile.ReadError) and not entries and not _looks_archived(fileobj):
            # tarfile found no compression it knows and no tar header: not an archive at all.
            raise CaptureError(f"{path}: not a dlkit capture (neither a capture directory nor a .tar.gz archive)") from None
        detail = " ".join(str(exc).split())
        raise CaptureError(f"{path}: corrupt or truncated archive ({exc.__class__.__name__}: {detail})") from None
    # raw2capture writes members at the archive root; others pack a top folder.
    prefix = next((n[: -len("manifest.json")] for n, kind, _ in entries
                   if kind == "file" and n.endswith("manifest.json") and n.count("/") <= 1), "")
    top: dict[str, bytes] = {}
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    dirs: set[str] = set()
    for name, kind, value in entries:
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        if rel in TOP_LEVEL and kind == "file":
            top[rel] = value
            continue
        if not (rel == "files" or rel.startswith("files/")):
            continue
        vpath = normpath(rel[len("files"):] or "/")
        if kind == "dir":
            dirs.add(vpath)
        elif kind == "link":
            links[vpath] = value
        else:
            files[vpath] = value
    return _assemble(top, files, links, dirs)


def is_archive_name(path: str) -> bool:
    return path.endswith((".tar.gz", ".tgz"))


def load_capture(path: str, data: bytes | None = None) -> Capture:
    """Read a capture directory or archive (``data``: the archive's bytes, already read
    through the safe reader); raise CaptureError with a one-line reason."""
    if data is not None:
        _check_compressed(path, data)
        return _read_tar(path, io.BytesIO(data))
    if not os.path.exists(path):
        raise CaptureError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "manifest.json")):
            raise CaptureError(f"{path}: not a dlkit capture (no manifest.json)")
        try:
            return _read_dir(path)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read capture ({exc.strerror or exc})") from None
    try:
        data = read_regular(path, MAX_CAPTURE_BYTES, path)
    except FileRefused as exc:
        raise CaptureError(str(exc)) from None
    return load_capture(path, data)
