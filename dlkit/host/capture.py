"""The capture bundle (spec §1, ``dlkit-capture`` version 1) held in memory.

A capture is read whole into a :class:`Capture`: a directory or a ``.tar.gz`` on disk, or
an importer's product (collect_env text, a bare nvidia-smi file). Archives are read
member by member and never extracted, so a hostile archive cannot write anywhere.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Any

from dlkit.host.base import COMMAND_STATUSES, CommandResult, normpath
from dlkit.host.safefile import FileRefused, kind_of, loads_json, read_regular, size_text
from dlkit.host.userfiles import in_system_folder

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
        return _read_tar(path, io.BytesIO(read_regular(path, MAX_CAPTURE_BYTES, path)))
    except FileRefused as exc:
        raise CaptureError(str(exc)) from None


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


def _replaceable(dest: str) -> str | None:
    """Why ``--force`` must not replace ``dest``; ``None`` when it may.

    ``--force`` replaces what dlkit writes and nothing else: a regular file, or a folder
    that is itself a dlkit capture (its manifest.json says ``dlkit-capture`` and it holds
    nothing but capture members). ``--capture . --force`` in a project, ``~`` or ``/``
    is refused.
    """
    st = os.lstat(dest)
    if stat.S_ISREG(st.st_mode):
        return None
    if not stat.S_ISDIR(st.st_mode):
        return f"is {kind_of(st.st_mode)}"
    here = os.path.realpath(os.getcwd())
    if here == dest or here.startswith(dest.rstrip(os.sep) + os.sep):
        return "is the current folder or holds it"
    try:
        names = os.listdir(dest)
        manifest = read_regular(os.path.join(dest, "manifest.json"), 1 << 20, "manifest.json", follow_symlinks=False)
        is_capture = loads_json(manifest, "manifest.json")
    except (OSError, FileRefused):
        return "is a folder that is not a dlkit capture (no manifest.json)"
    if not isinstance(is_capture, dict) or is_capture.get("format") != FORMAT:
        return "is a folder that is not a dlkit capture (its manifest.json is not dlkit's)"
    others = sorted(n for n in names if n not in TOP_LEVEL and n != "files")
    if others:
        return f"is a dlkit capture folder that also holds {', '.join(others[:3])}{' …' if len(others) > 3 else ''}"
    files = os.path.join(dest, "files")
    if os.path.lexists(files) and (os.path.islink(files) or not os.path.isdir(files)):
        return "is a capture folder whose files entry is not a folder"
    return None


def check_target(dest: str, force: bool = False) -> str:
    """The absolute path a capture may be written to; CaptureError when it may not.

    The CLI asks before probing, so that a bad --capture fails at once, and
    :func:`write_capture` asks again just before it replaces anything.
    """
    dest = os.path.abspath(dest)
    if os.path.lexists(dest):
        if not force:
            raise CaptureError(f"{dest} already exists; pass --force to replace it")
        why = _replaceable(dest)
        if why:
            raise CaptureError(f"{dest} {why}; --force replaces only a file or a dlkit capture folder, "
                               f"so nothing was written")
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        raise CaptureError(f"{parent}: no such directory")
    system = in_system_folder(parent)
    if system:
        raise CaptureError(f"cannot write {dest}: {system} is a kernel file system, not a place for files")
    return dest


def write_capture(cap: Capture, dest: str, force: bool = False) -> None:
    """Write ``cap`` to a directory or, for ``*.tar.gz``/``*.tgz``, an archive.

    Nothing the user has is overwritten without ``force``, and with it only what
    :func:`check_target` allows; the capture is built in a temporary folder beside
    ``dest`` and moved into position only when complete, so a full disk leaves nothing.
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
            with open(staged, "rb+") as fh:
                os.fsync(fh.fileno())  # a full disk fails here, before anything is replaced
        else:
            staged = tree
        if os.path.lexists(dest):
            check_target(dest, force)  # it may have changed while the probes ran
            # Move the old capture into the temporary folder (removed with it) rather than
            # deleting it first: a failed rename below then leaves the old one in place.
            replaced = os.path.join(tmp, "replaced")
            os.replace(dest, replaced)
            try:
                os.replace(staged, dest)
            except OSError:
                os.replace(replaced, dest)
                raise
        else:
            os.replace(staged, dest)
