"""LiveHost: reads the real machine. The only module that opens files, runs commands
or calls libraries that read the system themselves (psutil, py-cpuinfo)."""

from __future__ import annotations

import datetime as _dt
import errno
import os
import shutil
import stat
import sys
from typing import Any, Callable

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
from dlkit.host.nvml import SnapshotOnce
from dlkit.host.proc import run_bounded
from dlkit.host.pyprobe import probe_python

# dmesg on a busy server runs to megabytes; the newest lines matter most, so a long
# output keeps its tail (and a tool that prints past 4× this is stopped: proc.py).
MAX_OUTPUT_BYTES = 8 * 1024 * 1024

# Reading one of these blocks (a FIFO planted at /var/log/kern.log waits for a writer),
# never ends (/dev/zero) or has side effects (opening /dev/watchdog arms it).
_SPECIAL_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                  (stat.S_ISSOCK, "socket"))


def _os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return "missing"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    if exc.errno == errno.ENOTDIR:
        return "missing"
    return exc.strerror or type(exc).__name__


def _not_regular(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "special file")
    return f"not a regular file ({kind})"


def _psutil_virtual_memory() -> dict[str, int]:
    import psutil

    mem = psutil.virtual_memory()
    return {"total": int(mem.total), "available": int(mem.available)}


def _psutil_swap_memory() -> dict[str, int]:
    import psutil

    swap = psutil.swap_memory()
    return {"total": int(swap.total), "free": int(swap.free)}


def _psutil_cpu_count() -> dict[str, int | None]:
    import psutil

    return {"logical": psutil.cpu_count(logical=True), "physical": psutil.cpu_count(logical=False)}


def _cpuinfo() -> dict[str, Any]:
    # py-cpuinfo starts a child Python and costs about a second: the CPU probe asks for
    # it only where there is no /proc/cpuinfo (Windows, macOS).
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    keep = ("brand_raw", "vendor_id_raw", "arch", "bits", "count", "hz_advertised_friendly",
            "hz_advertised", "hz_actual", "flags", "family", "model")
    return {k: info.get(k) for k in keep}


# name -> zero-argument callable returning JSON-able data. Replay answers the same
# names from live.json, so a probe cannot tell the difference.
LIBRARY_CALLS: dict[str, Callable[[], Any]] = {
    "psutil.virtual_memory": _psutil_virtual_memory,
    "psutil.swap_memory": _psutil_swap_memory,
    "psutil.cpu_count": _psutil_cpu_count,
    "cpuinfo.get_cpu_info": _cpuinfo,
}


def current_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"


class LiveHost(Host):
    description = "this machine (live)"

    def __init__(self, max_read_bytes: int = MAX_READ_BYTES) -> None:
        self.platform = current_platform()
        self.max_read_bytes = max_read_bytes
        self._created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        # NVML is asked once per host, lazily, within 4 s (dlkit/host/nvml.py)
        self._nvml = SnapshotOnce()

    def created(self) -> str:
        return self._created

    def read_text(self, path: str) -> FileRead:
        path = normpath(path)
        try:
            # stat before open: opening a device can act (a tape rewinds, a watchdog arms).
            # O_NONBLOCK: should the path become a FIFO between stat and open, the open
            # returns at once instead of waiting for a writer; fstat then refuses it.
            # /proc and /sys files are regular files and read as before.
            why = _not_regular(os.stat(path).st_mode)
            if why:
                return FileRead(path, None, why)
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
            fd = os.open(path, flags)
            with open(fd, "rb") as fh:  # owns fd from here on
                why = _not_regular(os.fstat(fd).st_mode)
                if why:
                    return FileRead(path, None, why)
                if os.name == "posix":
                    os.set_blocking(fd, True)  # a regular file: plain reads, as before
                data = fh.read(self.max_read_bytes + 1)
        except OSError as exc:
            return FileRead(path, None, _os_error(exc))
        truncated = len(data) > self.max_read_bytes
        text, undecodable = decode(data[: self.max_read_bytes])
        return FileRead(path, text, None, truncated, undecodable)

    def list_dir(self, path: str) -> DirList:
        path = normpath(path)
        try:
            return DirList(path, tuple(sorted(os.listdir(path))))
        except OSError as exc:
            # A file listed as a directory: say so, as ReplayHost does (ENOTDIR is "missing"
            # for a read, where a parent of the path is the file).
            if exc.errno == errno.ENOTDIR and os.path.exists(path):
                return DirList(path, None, "not a directory")
            return DirList(path, None, _os_error(exc))

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(normpath(path))
        except OSError:
            return None

    def env(self, name: str) -> str | None:
        # os.environ smuggles bytes that are not UTF-8 as surrogates, which JSON output and
        # capture files cannot encode: decode the raw bytes as read_text does.
        if hasattr(os, "environb"):
            raw = os.environb.get(os.fsencode(name))
            return decode(raw)[0] if raw is not None else None
        return os.environ.get(name)

    def library(self, name: str) -> Any:
        call = LIBRARY_CALLS.get(name)
        if call is None:
            return None
        try:
            return call()
        except Exception:  # an unavailable library is absence, not a crash
            return None

    def python_probe(self, executable: str | None, import_frameworks: bool, timeout_s: float, *,
                     use_cache: bool = False, driver_version: str | None = None) -> dict[str, Any] | None:
        """A child of ``executable`` answers (dlkit/host/pyprobe.py); see ``Host.python_probe``."""
        if not executable:
            return None
        return probe_python(executable, import_frameworks, timeout_s, use_cache=use_cache, driver_version=driver_version)

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def nvml(self) -> dict[str, Any] | None:
        """NVML's answers (``dlkit.host.nvml.snapshot``); see ``Host.nvml``."""
        return self._nvml.get()

    def run(self, argv, timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandResult:
        argv = tuple(argv)
        # argv list, never shell=True; its own session, killed whole when it is done
        # (dlkit/host/proc.py). The C locale: probes parse English output.
        done = run_bounded(argv, timeout_s, max_bytes=MAX_OUTPUT_BYTES, env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        if done.not_found:
            return CommandResult(argv, None, "", "", "not-found")
        if done.start_error is not None:
            return CommandResult(argv, None, "", str(done.start_error), "error")
        if done.timed_out:
            return CommandResult(argv, None, "", f"timed out after {timeout_s:g} s", "timeout")
        stdout, _ = decode(done.stdout)
        stderr, _ = decode(done.stderr)
        if done.truncated:  # stopped at the cap by us: what it printed is the answer
            return CommandResult(argv, None, stdout, stderr, "ok", truncated=True)
        status = "ok" if done.returncode == 0 else "error"
        return CommandResult(argv, done.returncode, stdout, stderr, status)
