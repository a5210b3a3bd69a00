"""One runner for every subprocess dlkit starts: nvidia-smi, dmesg, nvcc... and the
target-interpreter child (dlkit/host/live.py, dlkit/host/pyprobe.py).

Why one runner: a GPU node that fell off the bus hangs nvidia-smi, a health check runs
from cron or a Slurm prolog, and every orphan it leaves piles up. So each child
  * starts in its own session (hence its own process group, id = its pid), stdin closed;
  * has both pipes read *while* it runs, the size cap applied during the read: a tool
    that floods is killed at ``read_limit`` and its newest ``max_bytes`` are kept;
  * is waited for only ``grace_s`` after it exits: a grandchild holding the pipe open
    cannot turn a finished command into a timeout, nor cost the output already read;
  * has its whole group and session killed when it is done, however it ended, and is
    reaped (no zombies);
  * is registered while alive, so that a signal or interpreter exit kills it at once
    (``terminate_all``, ``install_signal_handlers``).

What cannot be tracked: a descendant that calls setsid() (a daemon) leaves our session
and group, and once its parent died it is reparented to init; only a subreaper
(PR_SET_CHILD_SUBREAPER) or a cgroup could follow it, which a CLI does not own. While the
direct child is still alive its descendants are also found by parentage and killed.
On Windows (CREATE_NEW_PROCESS_GROUP) the tree is found by parentage only.
"""

from __future__ import annotations

import atexit
import collections
import errno
import math
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import psutil

POSIX = os.name == "posix"
_CHUNK = 64 * 1024
# How often the direct child's exit is checked while its pipes stay open (a grandchild
# holds them, or the child closed them and runs on).
_POLL_S = 0.02


class Exiting(OSError):
    """A child refused because dlkit is shutting down (after ``terminate_all``)."""

    def __init__(self) -> None:
        super().__init__(errno.ECANCELED, "not run: dlkit is exiting")

    def __str__(self) -> str:
        return self.strerror


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised like Ctrl-C so that every path that keeps partial
    results on Ctrl-C (bench) keeps them on a signal too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum  # the shell's convention: 130 SIGINT, 143 SIGTERM


@dataclass(frozen=True)
class Finished:
    """How a child ended. ``returncode`` is None when it did not exit by itself (not
    started, killed at the timeout, at the cap, or because dlkit is exiting)."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    truncated: bool = False  # killed at read_limit; the streams hold their newest max_bytes
    start_error: OSError | None = None  # FileNotFoundError: no such program
    elapsed_s: float = 0.0

    @property
    def not_found(self) -> bool:
        return isinstance(self.start_error, FileNotFoundError)


# ----------------------------------------------------------------------------- registry
# pids of live children; each is also its group's and session's id (start_new_session).
# An RLock: the signal handler runs terminate_all on the main thread, possibly while that
# very thread is inside one of the short critical sections below.
_lock = threading.RLock()
_live: set[int] = set()
_closing = False
_received: int | None = None  # the last signal the handlers caught


def received_signal() -> int | None:
    """The signal that interrupted dlkit, if any. Frameworks may swallow ``Interrupted``
    (typer turns any KeyboardInterrupt into exit code 130): the CLI asks here to exit
    with 128 + this signal (143 for SIGTERM)."""
    return _received


def terminate_all() -> None:
    """Kill every registered child's group and session now; refuse new children after."""
    global _closing
    # Kills happen under the lock: a run that unregisters (then reaps) its child waits for
    # us, so a pid we signal is never one that was reaped and reused.
    with _lock:
        _closing = True
        for pid in list(_live):
            _kill_session(pid)


atexit.register(terminate_all)


def _on_signal(signum: int, frame: object) -> None:
    global _received
    _received = signum
    terminate_all()  # the hung nvidia-smi dies now, not when the exception reaches the top
    raise Interrupted(signum)


def install_signal_handlers() -> bool:
    """SIGINT, SIGTERM and SIGHUP kill every child and raise ``Interrupted``. Call once,
    from the main thread (a no-op elsewhere: Python only allows handlers there). A signal
    ignored when dlkit started (nohup, a background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for num in [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]:
        try:
            if signal.getsignal(num) != signal.SIG_IGN:
                signal.signal(num, _on_signal)
        except (ValueError, OSError):  # an embedding host that owns its signals
            pass
    return True


# ----------------------------------------------------------------------------- killing

def _quietly(kill, *args) -> None:
    try:
        kill(*args)
    except (OSError, psutil.Error):  # already gone
        pass


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (``/proc/<pid>/stat`` field 6): this finds a grandchild
    that moved itself into another process group with setpgid()."""
    skip = (os.getpid(), sid)  # a session leader cannot leave its group: killpg reached it
    out = []
    try:
        for pid in psutil.pids():
            try:
                if pid not in skip and os.getsid(pid) == sid:
                    out.append(pid)
            except OSError:  # gone meanwhile, or not ours to query
                pass
    except (psutil.Error, OSError):
        pass
    return out


def _kill_session(pid: int) -> None:
    if not POSIX:
        return
    # The group id stays valid while any member lives, even after the leader died
    # (POSIX killpg); SIGKILL because a hung tool may ignore SIGTERM.
    _quietly(os.killpg, pid, signal.SIGKILL)
    for _ in range(3):  # a member may fork while we sweep: sweep again while any is found
        members = _session_members(pid)
        for member in members:
            _quietly(os.kill, member, signal.SIGKILL)
        if not members:
            return


def _kill_descendants(pid: int) -> None:
    """While the child lives, its descendants are known by parentage, even those that
    left the session with setsid()."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for kid in kids:
        _quietly(kid.kill)  # psutil checks that the pid still names the same process


def _exited(proc: subprocess.Popen) -> bool:
    """Has the child exited? Without reaping it where the OS allows (WNOWAIT): a zombie
    keeps its pid, so the group kill that follows cannot hit a reused pid."""
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            pass
    return proc.poll() is not None


# ----------------------------------------------------------------------------- reading

class _Tail:
    """The newest ``limit`` bytes of a stream, and how many were seen (memory ≤ limit + a chunk)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.seen, self.kept = limit, 0, 0
        self.chunks: collections.deque[bytes] = collections.deque()

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.seen += len(chunk)
        self.kept += len(chunk)
        while self.chunks and self.kept - len(self.chunks[0]) >= self.limit:
            self.kept -= len(self.chunks.popleft())

    def value(self) -> bytes:
        data = b"".join(self.chunks)
        return data[len(data) - self.limit:] if len(data) > self.limit else data


def _read_selectors(proc, tails, deadline, read_limit, grace_s) -> tuple[bool, bool]:
    """Read both pipes until EOF, the deadline, the cap, or ``grace_s`` after the child
    exited. Non-blocking reads under a selector: no thread can block forever on a pipe
    (https://docs.python.org/3/library/selectors.html). Returns (timed_out, truncated)."""
    sel = selectors.DefaultSelector()
    try:
        for stream, tail in zip((proc.stdout, proc.stderr), tails):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ, tail)
        exited_at = None
        while sel.get_map():
            now = time.monotonic()
            if exited_at is None and _exited(proc):
                exited_at = now
            if exited_at is not None:
                wait = exited_at + grace_s - now
            elif now >= deadline:
                return True, False
            else:
                wait = min(deadline - now, _POLL_S)
            last = wait <= 0  # the grace is over: take what is already in the pipes, then stop
            for key, _ in sel.select(max(0.0, wait)):
                try:
                    chunk = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                key.data.add(chunk)
                if key.data.seen > read_limit:
                    return False, True
            if last:
                break
    finally:
        sel.close()
    # Both pipes closed (or the grace ran out): the child itself may still be running.
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return True, False
        time.sleep(_POLL_S)
    return False, False


def _read_threads(proc, tails, deadline, read_limit, grace_s) -> tuple[bool, bool]:
    """Windows has no select() on pipes: one daemon reader per pipe. A reader blocked by
    a grandchild's open pipe is abandoned after the grace; the tree kill unblocks it."""
    capped = threading.Event()

    def pump(stream, tail) -> None:
        while not capped.is_set():
            chunk = stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK)
            if not chunk:
                return
            tail.add(chunk)
            if tail.seen > read_limit:
                capped.set()

    readers = [threading.Thread(target=pump, args=(s, t), daemon=True) for s, t in zip((proc.stdout, proc.stderr), tails)]
    for r in readers:
        r.start()
    while proc.poll() is None and not capped.is_set():
        if time.monotonic() >= deadline:
            return True, False
        time.sleep(_POLL_S)
    for r in readers:
        r.join(0 if capped.is_set() else grace_s)
    return False, capped.is_set()


# ----------------------------------------------------------------------------- the runner

def run_bounded(argv: Sequence[str], timeout_s: float, *, max_bytes: int, env: Mapping[str, str] | None = None,
                read_limit: int | None = None, grace_s: float = 0.25) -> Finished:
    """Run ``argv`` (a list, never a shell) for at most ``timeout_s``; see the module
    docstring. Never raises for the child's behaviour: every outcome is a ``Finished``."""
    t0 = time.monotonic()
    timeout_s = 0.0 if math.isnan(timeout_s) else max(0.0, timeout_s)
    read_limit = 4 * max_bytes if read_limit is None else read_limit
    with _lock:
        if _closing:
            return Finished(None, b"", b"", start_error=Exiting())
    kwargs: dict = {"start_new_session": True} if POSIX else \
        {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, env=dict(env) if env is not None else None, **kwargs)
    except OSError as exc:
        return Finished(None, b"", b"", start_error=exc, elapsed_s=time.monotonic() - t0)
    tails = (_Tail(max_bytes), _Tail(max_bytes))
    timed_out = truncated = cancelled = False
    try:
        with _lock:
            _live.add(proc.pid)
            # terminate_all ran between our first look and the spawn: it did not see us
            cancelled = _closing
        if not cancelled:
            reader = _read_selectors if POSIX else _read_threads
            timed_out, truncated = reader(proc, tails, t0 + timeout_s, read_limit, grace_s)
    finally:
        # However it ended, even by an exception (a signal) raised in here: kill the tree,
        # unregister, then reap.
        exited = _exited(proc)
        if not exited:
            _kill_descendants(proc.pid)
        with _lock:
            _kill_session(proc.pid)
            _live.discard(proc.pid)
        if not POSIX and not exited:
            _quietly(proc.kill)
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            # Stuck in the kernel (D state: a driver call on a GPU that fell off the bus)
            # even SIGKILL waits. Do not wait with it: subprocess reaps an abandoned Popen
            # later (subprocess._cleanup), so it does not stay a zombie.
            pass
        if POSIX:  # on Windows a reader thread may still hold the stream's lock
            for stream in (proc.stdout, proc.stderr):
                stream.close()
    if cancelled:
        return Finished(None, b"", b"", start_error=Exiting(), elapsed_s=time.monotonic() - t0)
    return Finished(proc.returncode if exited else None, tails[0].value(), tails[1].value(), timed_out, truncated,
                    None, time.monotonic() - t0)
