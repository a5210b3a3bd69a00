"""Files the user names on the command line: inputs to read, outputs to write.

The host seam owns every ``open`` (architecture.md): commands that take ``--catalog FILE``,
``--bench RESULT.json``, ``--plan-build FILE``, ``--compare FILE`` or write ``--plot FILE``
come here. Inputs go through the one safe reader (:mod:`dlkit.host.safefile`: regular files
only, a size cap per kind, bounded JSON). Errors are one line (a :class:`UserFileError`)
that the CLI prints with exit code 2. An output is written to a temporary file beside it
and renamed into place, so a failed write leaves nothing behind; an existing output is
replaced only with ``--force``, and only when it is a regular file (nothing the user gave
is lost).
"""

from __future__ import annotations

import os
import tempfile

from dlkit.host.safefile import FileRefused, kind_of, read_json, read_text

# A price list (SkyPilot's AWS vms.csv is tens of MB) is the largest file a user names;
# a bench result or a plan is kilobytes to a few MB.
MAX_TEXT_BYTES = 64 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
# Kernel file systems: a file "written" there is a device node or a kernel knob, never a
# plot (``--plot /dev/full.png`` as root would otherwise land in devtmpfs and exit 0).
SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")
SYSTEM_FOLDER_EXCEPTIONS = ("/dev/shm",)  # a tmpfs people do write to


class UserFileError(Exception):
    """A named file cannot be read or written; the message is one line for the user."""


def read_user_text(path: str, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path`` (UTF-8, a BOM dropped, no NUL), or a one-line :class:`UserFileError`."""
    try:
        return read_text(os.path.expanduser(path), limit, f"{what} {path}")
    except FileRefused as exc:
        raise UserFileError(str(exc)) from None


def read_user_json(path: str, what: str = "file", limit: int = MAX_JSON_BYTES) -> object:
    """The parsed JSON of ``path``, or a one-line :class:`UserFileError` (with the line of a syntax error)."""
    try:
        return read_json(os.path.expanduser(path), limit, f"{what} {path}")
    except FileRefused as exc:
        raise UserFileError(str(exc)) from None


def list_user_dir(path: str) -> list[str] | None:
    """Sorted names in ``path`` (``~`` expanded), or ``None`` when it is not a readable directory."""
    try:
        return sorted(os.listdir(os.path.expanduser(path)))
    except OSError:
        return None


def in_system_folder(path: str) -> str | None:
    """The kernel file system ``path`` lies in (``"/dev"``), or ``None``."""
    real = os.path.realpath(path)
    if any(real == e or real.startswith(e + "/") for e in SYSTEM_FOLDER_EXCEPTIONS):
        return None
    for top in SYSTEM_FOLDERS:
        if real == top or real.startswith(top + "/"):
            return top
    return None


def check_output(path: str, force: bool = False) -> str:
    """The path to write, or :class:`UserFileError`: a missing folder, a system folder, an
    existing path without ``force``, or anything but a regular file even with it."""
    path = os.path.expanduser(path)
    if os.path.lexists(path):
        st = os.lstat(path)
        kind = kind_of(st.st_mode)
        if kind is not None:
            raise UserFileError(f"{path} is {kind}; give the name of a file to write")
        if not force:
            raise UserFileError(f"{path} already exists; choose another name or add --force to replace it")
    problem = folder_problem(path)
    if problem:
        raise UserFileError(f"cannot write {path}: {problem}")
    return path


def folder_problem(path: str) -> str | None:
    """Why nothing can be written into the folder that would hold ``path``, or ``None``."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"folder {parent} does not exist"
    system = in_system_folder(parent)
    return f"{system} is a kernel file system, not a place for files" if system else None


def write_atomically(path: str, payload: bytes) -> None:
    """Write ``payload`` to a temporary file in ``path``'s folder, then rename it over
    ``path``; on any failure the temporary file is removed and ``OSError`` propagates."""
    parent = os.path.dirname(os.path.abspath(path))
    fd, staged = tempfile.mkstemp(prefix=".dlkit-", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())  # ENOSPC on some file systems shows only here
        os.replace(staged, path)
    except BaseException:
        try:
            os.unlink(staged)
        except OSError:
            pass
        raise


def write_user_file(path: str, data: bytes | str, force: bool = False) -> str:
    """Write ``data`` to ``path`` atomically, or :class:`UserFileError` with the reason."""
    path = check_output(path, force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        write_atomically(path, payload)
    except OSError as exc:
        raise UserFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


__all__ = ["MAX_JSON_BYTES", "MAX_TEXT_BYTES", "UserFileError", "check_output", "folder_problem", "in_system_folder",
           "list_user_dir", "read_user_json", "read_user_text", "write_user_file"]
