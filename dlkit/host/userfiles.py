"""Files the user names on the command line: inputs to read, outputs to write.

The host seam owns every ``open`` (architecture.md): commands that take ``--catalog FILE``,
``--bench RESULT.json``, ``--plan FILE`` or write ``--plot FILE`` come here. Errors are one
line (a :class:`UserFileError`) that the CLI prints with exit code 2; an existing output is
never overwritten unless the user said ``--force`` (nothing the user gave is lost).
"""

from __future__ import annotations

import json
import os
import tempfile

# A price list or a bench result is kilobytes; anything this big is the wrong file.
MAX_INPUT_BYTES = 64 * 1024 * 1024


class UserFileError(Exception):
    """A named file cannot be read or written; the message is one line for the user."""


def read_user_text(path: str, what: str = "file") -> str:
    """The text of ``path`` (UTF-8, a BOM dropped), or a one-line :class:`UserFileError`."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        raise UserFileError(f"{what} {path} is a directory, not a file")
    try:
        size = os.path.getsize(path)
        if size > MAX_INPUT_BYTES:
            raise UserFileError(f"{what} {path} is {size / 2**20:.0f} MiB; that is not a {what}")
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UserFileError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise UserFileError(f"{what} {path} cannot be read: permission denied") from None
    except OSError as exc:
        raise UserFileError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserFileError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def read_user_json(path: str, what: str = "file") -> object:
    """The parsed JSON of ``path``, or a one-line :class:`UserFileError` (with the line of a syntax error)."""
    text = read_user_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserFileError(f"{what} {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise UserFileError(f"{what} {path} is nested too deeply to be a {what}") from None


def list_user_dir(path: str) -> list[str] | None:
    """Sorted names in ``path`` (``~`` expanded), or ``None`` when it is not a readable directory."""
    try:
        return sorted(os.listdir(os.path.expanduser(path)))
    except OSError:
        return None


def check_output(path: str, force: bool = False) -> str:
    """Refuse an output path that exists (unless ``force``) or whose folder is missing."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        raise UserFileError(f"{path} is a directory; give a file name")
    if os.path.exists(path) and not force:
        raise UserFileError(f"{path} already exists; choose another name or add --force to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserFileError(f"cannot write {path}: folder {parent} does not exist")
    return path


def write_user_file(path: str, data: bytes | str, force: bool = False) -> str:
    """Write ``data`` to ``path`` atomically (a temp file in the same folder, then a rename)."""
    path = check_output(path, force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    parent = os.path.dirname(os.path.abspath(path))
    try:
        fd, staged = tempfile.mkstemp(prefix=".dlkit-", dir=parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(staged, path)
    except OSError as exc:
        raise UserFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
