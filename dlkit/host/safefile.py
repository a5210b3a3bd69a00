"""The one safe reader for files dlkit is *given*: ``--from``, ``--catalog``, ``--bench``,
``--compare``, ``--plan-build``, and every member of a capture (directory or archive).

A user file is hostile until read: a FIFO blocks ``open`` or ``read`` forever, ``/dev/zero``
never ends, a 1 GiB file of spaces costs gigabytes before ``json`` rejects it, and a
10,000-deep ``[[[[`` blows Python's recursion limit. So, for every such file:

* it is opened ``O_NONBLOCK`` (opening a FIFO for reading then returns at once instead of
  waiting for a writer, fifo(7)) and refused unless ``fstat`` says it is a regular file;
* its size is checked against the cap of its kind *before* reading, and at most cap + 1
  bytes are read (a file that grows while it is read is refused too);
* JSON is refused when nested deeper than :data:`MAX_JSON_DEPTH` (counted on the text
  before parsing, so no parser ever recurses that deep) or when it holds ``NaN`` or
  ``Infinity``, which are not JSON (RFC 8259 §6) and poison every sum they reach;
* text formats are refused when they hold NUL bytes or are not UTF-8.

Every refusal is one :class:`FileRefused` line that names the file and the limit.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from itertools import accumulate
from typing import Any

# Real documents nest a handful of levels (a capture's nvml.json: about 6); 64 is far
# past any of them and far below the depth at which a recursive parser or walker fails.
MAX_JSON_DEPTH = 64
_READ_CHUNK = 1 << 20


class FileRefused(Exception):
    """A file that must not or cannot be read; the message is one line for the user."""


def size_text(n: float) -> str:
    """``"512 MiB"``, ``"4.2 GiB"``, ``"900 bytes"``: sizes in errors, in the units of the caps.

    >>> size_text(512 * 2**20), size_text(4.2 * 2**30), size_text(900)
    ('512 MiB', '4.2 GiB', '900 bytes')
    """
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{int(n)} bytes"


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words; ``None`` for a regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_regular(path: str, limit: int, label: str, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of ``path`` (at most ``limit``), or :class:`FileRefused`.

    ``label`` names the file in messages ("bench result old.json", "capture member
    files/proc/cpuinfo"). ``follow_symlinks=False`` refuses a symbolic link (capture
    members: a link must never lead out of the capture).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(f"{label} {_open_error(path, exc, follow_symlinks)}") from None
    try:
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind is not None:
            raise FileRefused(f"{label} is {kind}, not a file")
        if st.st_size > limit:
            raise FileRefused(f"{label} is {size_text(st.st_size)}; it may be at most {size_text(limit)}")
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # /proc-style files report size 0 and may be endless
            raise FileRefused(f"{label} is larger than {size_text(limit)}, the most it may be")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"{label} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _open_error(path: str, exc: OSError, follow_symlinks: bool) -> str:
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if exc.errno == errno.ELOOP and not follow_symlinks:
        return "is a symbolic link, not a file"
    if isinstance(exc, IsADirectoryError) or os.path.isdir(path):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if exc.errno == errno.ENXIO:  # a socket, or a device with no driver behind it
        return "is not a file (a socket or a device)"
    return f"cannot be read: {exc.strerror or exc}"


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text (a BOM dropped) without NUL bytes, or :class:`FileRefused`."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FileRefused(f"{label} holds a NUL byte (byte {nul}): not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{label} is not UTF-8 text (byte {exc.start})") from None


# A JSON string, written so that the regex engine never backtracks ("unrolled loop").
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deeply ``text`` nests arrays and objects (brackets inside strings ignored).

    >>> json_depth('{"a": [1, {"b": "[[["}]}'), json_depth('3')
    (3, 0)
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_json(data: bytes | str, label: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parsed JSON, or :class:`FileRefused` (syntax error with its line, too deep, NaN)."""
    text = decode_text(data, label) if isinstance(data, bytes) else data
    if json_depth(text) > max_depth:
        raise FileRefused(f"{label} nests more than {max_depth} levels deep: not a file dlkit reads")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileRefused(f"{label} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, a 5,000-digit integer
        raise FileRefused(f"{label} is not JSON dlkit reads: {' '.join(str(exc).split())[:120]}") from None


def read_json(path: str, limit: int, label: str, *, follow_symlinks: bool = True) -> Any:
    return loads_json(read_regular(path, limit, label, follow_symlinks=follow_symlinks), label)


def read_text(path: str, limit: int, label: str) -> str:
    return decode_text(read_regular(path, limit, label), label)
