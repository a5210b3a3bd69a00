"""The host seam: the only door between dlkit and the machine.

Every probe asks a :class:`Host` for files, directory listings, symlinks, commands,
environment variables and library answers. Three hosts implement it:

* :class:`~dlkit.host.live.LiveHost` reads the real machine;
* :class:`~dlkit.host.record.RecordingHost` wraps a live host and remembers every
  answer so that it can be written as a capture bundle;
* :class:`~dlkit.host.replay.ReplayHost` answers from a capture bundle.

Absence is data: nothing here raises for a missing file, a refused permission or a
command that hangs. Each answer carries the reason it is empty instead
(flutter's injected ``ProcessManager``; psutil's ``cat(path, fallback=)``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

# Files the probes read are small (sysfs attributes, /proc tables, logs). A 50 MB file
# is a mistake or an attack; read at most this much and say it was cut.
MAX_READ_BYTES = 4 * 1024 * 1024
# A command that has not answered by then is treated as hung (nvidia-smi can hang for
# minutes on a GPU that fell off the bus: failure-modes.md F-series notes).
DEFAULT_COMMAND_TIMEOUT_S = 4.0

COMMAND_STATUSES = ("ok", "not-found", "timeout", "error")


@dataclass(frozen=True)
class FileRead:
    """The answer to reading one file: its text, or why there is none."""

    path: str
    text: str | None
    error: str | None = None  # "missing", "permission denied", "is a directory", ...
    truncated: bool = False  # the file was larger than MAX_READ_BYTES
    undecodable: bool = False  # bytes that were not UTF-8 were replaced

    @property
    def ok(self) -> bool:
        return self.text is not None

    def why(self) -> str:
        """A short phrase for an "unknown, because ..." fact."""
        return f"{self.path}: {self.error}" if self.error else f"{self.path}: read"


@dataclass(frozen=True)
class DirList:
    path: str
    entries: tuple[str, ...] | None
    error: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """One command's outcome, in the capture format's terms (spec §1 commands.json)."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    status: str  # ok | not-found | timeout | error
    # The command printed more than dlkit reads (a dmesg that floods): it was stopped at
    # the cap and its output holds the newest part only (dlkit/host/proc.py).
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def why(self) -> str:
        cmd = " ".join(self.argv)
        if self.status == "not-found":
            return f"`{cmd}`: command not found"
        if self.status == "timeout":
            return f"`{cmd}`: timed out"
        if self.status == "error":
            first = (self.stderr or self.stdout).strip().splitlines()
            detail = f": {first[0][:200]}" if first else ""
            return f"`{cmd}`: exit code {self.returncode}{detail}"
        if self.truncated:
            return f"`{cmd}`: ok, but its output was cut at the size cap (only its last part was kept)"
        return f"`{cmd}`: ok"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "argv": list(self.argv),
            "returncode": self.returncode,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "status": self.status,
        }
        if self.truncated:  # only when true: captures without it stay byte-identical
            out["truncated"] = True
        return out


def normpath(path: str) -> str:
    """Absolute POSIX path without '..' or duplicate slashes (sysfs paths are POSIX)."""
    return posixpath.normpath("/" + path.replace("\\", "/").lstrip("/"))


def decode(data: bytes) -> tuple[str, bool]:
    """Text of a system file; bytes that are not UTF-8 are replaced, and said so."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


class Host:
    """What every host answers. Subclasses implement the ``_``-free methods.

    ``platform`` is ``linux``, ``windows`` or ``darwin`` (the capture manifest's values).
    """

    platform: str = "linux"
    description: str = "host"

    def read_text(self, path: str) -> FileRead:  # pragma: no cover - interface
        raise NotImplementedError

    def list_dir(self, path: str) -> DirList:  # pragma: no cover - interface
        raise NotImplementedError

    def readlink(self, path: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, argv: list[str] | tuple[str, ...], timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandResult:  # pragma: no cover
        raise NotImplementedError

    def env(self, name: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def library(self, name: str) -> Any:  # pragma: no cover - interface
        """What a system-reading library returned (see ``dlkit.host.live.LIBRARY_CALLS``).

        ``None`` when the library is unavailable or, on replay, when the capture does not
        hold its answer.
        """
        raise NotImplementedError

    def nvml(self) -> dict[str, Any] | None:
        """What NVML said about the GPUs: the ``dlkit.nvml/1`` snapshot of
        :func:`dlkit.host.nvml.snapshot` (a capture's ``nvml.json``).

        A failed NVML is an answer too (``init.ok`` false, with the error kind). ``None``
        means NVML was not asked: the Python binding is not installed, or the capture has
        no ``nvml.json``; the NVIDIA probe then reads nvidia-smi instead.
        """
        return None

    def python_probe(self, executable: str | None, import_frameworks: bool, timeout_s: float, *,
                     use_cache: bool = False, driver_version: str | None = None) -> dict[str, Any] | None:
        """What the target interpreter ``executable`` reports about its frameworks: the
        capture's ``python.json`` (spec §3, schema in :mod:`dlkit.host.pyprobe`).

        Live, a child ``[executable, "-c", ...]`` answers: versions only (fast, nothing
        imported) unless ``import_frameworks``, which imports torch/TensorFlow/JAX and
        initialises CUDA (1-5 s). A child that crashes, hangs past ``timeout_s`` or is not
        a Python is an answer too (``{"error": "crashed: signal 11 (SIGSEGV)", ...}``).
        ``use_cache`` reuses an earlier import answer while the interpreter, its packages,
        the mapped CUDA libraries and ``driver_version`` are unchanged. On replay the
        capture's python.json whatever the arguments. ``None``: nothing to ask (no
        interpreter, or the capture holds no python.json).
        Check by hand: ``python -c "import torch; print(torch.__version__, torch.cuda.is_available())"``.
        """
        return None

    def which(self, name: str) -> str | None:
        """The executable a shell would run for ``name`` (``shutil.which``), or ``None``.

        A name with a directory part (``/opt/venv/bin/python``) is returned as given when it
        is an executable file. Replay answers from the capture's live.json ("which").
        Check by hand: ``command -v NAME``.
        """
        return None

    def created(self) -> str | None:
        """When the facts were taken (ISO-8601 UTC); live hosts say now."""
        return None

    # Convenience built on the primitives: shared by every host so that live and
    # replay cannot drift apart.
    def read_first_line(self, path: str) -> str | None:
        r = self.read_text(path)
        if r.text is None:
            return None
        lines = r.text.strip().splitlines()
        return lines[0].strip() if lines else ""


class StopAfterTimeout:
    """A view of a host whose commands stop running after the first one timed out.

    A probe that runs several commands (dmesg, then journalctl...) must fit in the time
    the engine gives it; when one command hangs, the next is likely to hang too (a stuck
    driver, a dead journal), and waiting for each would overrun the probe's bound and lose
    everything it learned. The skipped commands answer "timeout" without running.
    """

    def __init__(self, inner: Host) -> None:
        self._inner = inner
        self._timed_out: tuple[str, ...] | None = None

    def run(self, argv, timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandResult:
        if self._timed_out is not None:
            return CommandResult(tuple(argv), None, "",
                                 f"not run: `{' '.join(self._timed_out)}` timed out before it", "timeout")
        r = self._inner.run(argv, timeout_s)
        if r.status == "timeout":
            self._timed_out = r.argv
        return r

    def __getattr__(self, name: str):
        return getattr(self._inner, name)
