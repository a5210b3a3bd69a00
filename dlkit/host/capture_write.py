"""Writing a capture bundle (spec §1): ``dlkit doctor --capture PATH``.

The capture is built in a temporary folder beside PATH and moved into place only when
complete, so a full disk or a failed rename leaves nothing half-written. ``--force``
replaces what dlkit writes and nothing else (issue 11: ``--capture . --force`` in a
project used to delete the project).
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import tempfile
from typing import Any

from dlkit.host.capture import FORMAT, TOP_LEVEL, Capture, CaptureError, is_archive_name
from dlkit.host.safefile import FileRefused, kind_of, loads_json, read_regular
from dlkit.host.userfiles import folder_problem


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


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member header without the owner: tarfile fills in the user and group names and ids
    from the password database, and a redacted capture must not name its maker."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


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
    problem = folder_problem(dest)
    if problem:
        raise CaptureError(f"cannot write {dest}: {problem}")
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
                        tar.add(full, arcname=os.path.relpath(full, tree), recursive=False, filter=_anonymous)
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
