"""The process's standard streams: what dlkit does when nobody, or no disk, listens.

* ``dlkit doctor | head -1``: the reader leaves, the next write raises BrokenPipeError.
  Python's documented recipe (https://docs.python.org/3/library/signal.html#note-on-sigpipe)
  points stdout at ``os.devnull`` so that nothing more fails, including the flush at
  interpreter exit, and the command ends quietly; here it keeps the exit code the command
  itself gives (the report's 0/1/2), so ``set -o pipefail`` scripts see the verdict.
* ``dlkit doctor >&-``: Python starts with ``sys.stdout = None`` and fd 1 free, so the next
  ``open`` would *become* fd 1 and a later print would land inside a capture file. Free
  standard descriptors are filled with ``os.devnull`` first.
* ``dlkit doctor >/dev/full``: the output is lost; that is a failed command (one line on
  stderr, exit code 2), not a success with nothing delivered.
* ``LC_ALL=C`` / ``PYTHONIOENCODING=ascii``: text that the stream cannot encode is replaced
  (``?``), never a UnicodeEncodeError.

Writes go through :class:`GuardedStream`, which catches the OSError of a write or flush
once, records it and discards the rest. It has no ``buffer`` attribute on purpose: click's
``echo`` would otherwise write bytes around it.
"""

from __future__ import annotations

import errno
import io
import os
import sys

QUIET_ERRNOS = (errno.EPIPE, errno.EBADF)  # the reader left, or there never was one


class GuardedStream(io.TextIOBase):
    def __init__(self, inner, fd: int | None) -> None:
        self._inner = inner
        self._fd = fd
        self.failure: OSError | None = None

    # -- what renderers use
    def write(self, s: str) -> int:
        if self.failure is None:
            try:
                return self._inner.write(s)
            except OSError as exc:
                self._failed(exc)
        return len(s)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._inner.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.failure = exc
        if self._fd is not None:
            try:  # the docs' recipe: nothing written after this, or at exit, can fail again
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._fd)
                os.close(devnull)
            except OSError:
                pass

    # -- what rich and click ask
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._inner, "errors", None)

    def isatty(self) -> bool:
        try:
            return self.failure is None and self._inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("fileno")
        return self._fd

    def writable(self) -> bool:
        return True

    @property
    def quiet(self) -> bool:
        """True when the failure is a reader that left (or never was), not a lost write."""
        return self.failure is not None and self.failure.errno in QUIET_ERRNOS


def _fill_closed_descriptors() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                pass


def _guard(stream, fd: int) -> GuardedStream:
    if stream is None:  # the descriptor was closed at start: now devnull
        stream = open(fd, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    elif hasattr(stream, "reconfigure"):
        try:
            stream.reconfigure(errors="replace")
        except (ValueError, OSError):
            pass
    return GuardedStream(stream, fd)


def guard_standard_streams() -> tuple[GuardedStream, GuardedStream]:
    """Install guarded ``sys.stdout``/``sys.stderr`` (once, at CLI start)."""
    if isinstance(sys.stdout, GuardedStream) and isinstance(sys.stderr, GuardedStream):
        return sys.stdout, sys.stderr
    _fill_closed_descriptors()
    out = _guard(sys.stdout, 1)
    err = _guard(sys.stderr, 2)
    sys.stdout, sys.stderr = out, err
    return out, err


def finish(out: GuardedStream, err: GuardedStream, code: int) -> int:
    """Flush both streams; the exit code to use: ``code``, or 2 when the output was lost
    for a reason other than a reader that left (said in one line on stderr)."""
    out.flush()
    err.flush()
    if out.failure is None or out.quiet:
        return code
    reason = out.failure.strerror or str(out.failure)
    err.write(f"dlkit: error: could not write the output: {reason}\n")
    err.flush()
    return 2
