"""Process hygiene (dlkit/host/proc.py): every subprocess dlkit starts dies with its whole
group and session, on timeout, at the output cap, on SIGINT/SIGTERM/SIGHUP and at exit;
its output is read under the cap while it runs.

Issue "Orphans": a hung nvidia-smi/dmesg left 5 orphans per interrupted run, a tool that
forks left them even in a normal run, a flooding dmesg was read to 1.8 GB before the
timeout. The fake tools below are ``#!/bin/sh`` scripts that log their pid and carry a
unique marker in their environment, which every descendant inherits: a survivor is any
live, non-zombie process with the marker.
"""

from __future__ import annotations

import errno
import inspect
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from dlkit.host import LiveHost, pyprobe
from dlkit.host.proc import Interrupted, install_signal_handlers, run_bounded

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX process groups and /bin/sh fake tools")

MARK_ENV = "DLKIT_HYGIENE_MARK"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def mark(monkeypatch) -> str:
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, value)
    yield value
    for p in survivors(value):  # never leak a sleeper into the next test, even on failure
        try:
            p.kill()
        except psutil.Error:
            pass


def survivors(mark: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        if p.pid == os.getpid():
            continue
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get(MARK_ENV) == mark:
                out.append(p)
        except psutil.Error:  # gone, a zombie, or not ours to read
            continue
    return out


def assert_no_survivors(mark: str, within_s: float = 2.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        left = survivors(mark)
        if not left:
            return
        if time.monotonic() > deadline:
            pytest.fail("survivors: " + "; ".join(f"{p.pid} {' '.join(p.cmdline())}" for p in left))
        time.sleep(0.05)


def tool(tmp_path: Path, name: str, body: str) -> str:
    """A fake tool that logs its pid to tmp_path/pids, then runs ``body``."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho $$ >> '{tmp_path}/pids'\n{body}\n")
    path.chmod(0o755)
    return str(path)


def wait_for_pids(tmp_path: Path, n: int, within_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            pids = [int(x) for x in (tmp_path / "pids").read_text().split()]
        except (FileNotFoundError, ValueError):
            pids = []
        if len(pids) >= n:
            return pids
        time.sleep(0.02)
    pytest.fail(f"fewer than {n} fake tools started")


# ------------------------------------------------------------------ run_bounded / LiveHost.run

def test_a_hung_tool_times_out_and_its_group_dies(tmp_path, mark):
    hang = tool(tmp_path, "nvidia-smi", "echo started; sleep 1000")
    t0 = time.monotonic()
    r = LiveHost().run([hang, "-q"], timeout_s=0.5)
    assert time.monotonic() - t0 < 1.5
    assert (r.status, r.returncode, r.stderr) == ("timeout", None, "timed out after 0.5 s")
    assert_no_survivors(mark)


def test_a_flooding_tool_is_stopped_at_the_cap_and_keeps_its_tail(tmp_path, mark):
    flood = tool(tmp_path, "dmesg", "yes 'kernel: line'")
    t0 = time.monotonic()
    r = run_bounded([flood], 30, max_bytes=64 * 1024)
    assert time.monotonic() - t0 < 2.0  # not the 30 s timeout: killed at 4 × the cap
    assert (r.truncated, r.timed_out, r.returncode, r.start_error) == (True, False, None, None)
    assert len(r.stdout) == 64 * 1024 and r.stdout.endswith(b"kernel: line\n")
    assert_no_survivors(mark)


def test_a_flood_through_livehost_is_ok_truncated_and_memory_bounded(tmp_path, mark):
    flood = tool(tmp_path, "dmesg", "cat /dev/zero >&2 & exec yes")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    r = LiveHost().run([flood], timeout_s=20)
    assert time.monotonic() - t0 < 5.0
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # KiB on Linux
    assert (r.status, r.truncated, r.returncode) == ("ok", True, None)
    assert len(r.stdout) <= 8 * 1024 * 1024 and len(r.stderr) <= 8 * 1024 * 1024
    assert max(len(r.stdout), len(r.stderr)) == 8 * 1024 * 1024
    assert grew_mib < 200  # the unbounded read took 1.8 GB in 4 s
    assert r.to_json()["truncated"] is True and "size cap" in r.why()
    assert "truncated" not in LiveHost().run(["true"]).to_json()  # goldens stay identical
    assert_no_survivors(mark)


@pytest.mark.parametrize("body", [
    "echo before; sleep 1000 & echo after; exit 0",  # a background child holds stdout
    "echo before; ( sleep 1000 & ) ; echo after",    # double fork: the sleeper is orphaned at once
])
def test_a_tool_that_leaves_a_child_holding_its_pipe_finishes_ok(tmp_path, mark, body):
    forks = tool(tmp_path, "journalctl", body)
    t0 = time.monotonic()
    r = LiveHost().run([forks], timeout_s=10)
    assert time.monotonic() - t0 < 1.5
    assert (r.status, r.returncode, r.stdout, r.truncated) == ("ok", 0, "before\nafter\n", False)
    assert_no_survivors(mark)


def test_a_grandchild_in_another_process_group_is_found_by_its_session(tmp_path, mark):
    escape = (f"{sys.executable} -c \"import os, time; os.setpgid(0, 0); "
              f"open('{tmp_path}/pgid', 'w').write(str(os.getpgrp())); time.sleep(1000)\" &\n"
              f"while [ ! -s '{tmp_path}/pgid' ]; do sleep 0.02; done; echo done")
    r = LiveHost().run([tool(tmp_path, "nvcc", escape)], timeout_s=10)
    assert (r.status, r.stdout) == ("ok", "done\n")
    leader = wait_for_pids(tmp_path, 1)[0]
    assert int((tmp_path / "pgid").read_text()) != leader  # it really left the group
    assert_no_survivors(mark)


def test_many_threads_at_once(tmp_path, mark):
    hang = tool(tmp_path, "gcc", "sleep 1000")
    results = []
    threads = [threading.Thread(target=lambda: results.append(LiveHost().run([hang], 0.5))) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert time.monotonic() - t0 < 3.0
    assert [r.status for r in results] == ["timeout"] * 6
    assert_no_survivors(mark)


def test_a_missing_tool_is_still_not_found():
    r = run_bounded(["dlkit-no-such-tool-xyz"], 1, max_bytes=10)
    assert r.not_found and r.returncode is None
    assert LiveHost().run(["dlkit-no-such-tool-xyz"]).status == "not-found"


# ------------------------------------------------------------------ the target-interpreter child

ANSWER = '{"probe": 1, "mode": "fast", "executable": "/fake/python", "python_version": "3.11.0", "packages": {}}'


def test_a_python_child_that_spawns_a_grandchild(tmp_path, mark):
    py = tool(tmp_path, "python", f"sleep 1000 &\necho '{pyprobe.MARKER} {ANSWER}'\n"
                                  f"echo '{pyprobe.STAGE_MARKER} done'\nexit 0")
    t0 = time.monotonic()
    out = pyprobe.run_probe(py, False, 10)
    assert time.monotonic() - t0 < 1.5
    assert out.get("error") is None and out["python_version"] == "3.11.0"
    assert_no_survivors(mark)
    out = pyprobe.run_probe(py, True, 10)  # three parallel children, each with a grandchild
    assert out["python_version"] == "3.11.0"
    assert len(wait_for_pids(tmp_path, 4)) == 4
    assert_no_survivors(mark)


def test_a_python_child_that_hangs_keeps_what_it_said(tmp_path, mark):
    py = tool(tmp_path, "python", f"echo '{pyprobe.MARKER} {ANSWER}'\n"
                                  f"echo '{pyprobe.STAGE_MARKER} import torch'\nsleep 1000 & sleep 1000")
    t0 = time.monotonic()
    out = pyprobe.run_probe(py, False, 1.0)
    assert time.monotonic() - t0 < 2.5
    assert (out["error"], out["stage"], out["python_version"]) == ("timeout", "import torch", "3.11.0")
    assert_no_survivors(mark)


def test_a_python_child_that_floods_is_stopped_and_keeps_its_answer(tmp_path, mark):
    py = tool(tmp_path, "python", f"echo '{pyprobe.MARKER} {ANSWER}'\nyes 'torch warning' >&2")
    t0 = time.monotonic()
    out = pyprobe.run_probe(py, False, 20)
    assert time.monotonic() - t0 < 5.0
    assert out["error"] == "stopped: it printed more than 16 MiB" and out["python_version"] == "3.11.0"
    assert out["stderr_tail"].endswith("torch warning")
    assert_no_survivors(mark)


@pytest.mark.parametrize("fail_in", ["replace", "dump"])
def test_a_failed_cache_write_leaves_no_staged_file(tmp_path, monkeypatch, fail_in):
    cache = tmp_path / "cache" / "pyprobe.json"
    monkeypatch.setattr(pyprobe, "cache_path", lambda: str(cache))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pyprobe.os if fail_in == "replace" else pyprobe.json, fail_in, full)
    pyprobe.cache_put("k", {"python_version": "3.11.0"})  # no exception: a cache is optional
    assert sorted(p.name for p in cache.parent.iterdir()) == []


# ------------------------------------------------------------------ files that are not files

def test_read_text_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "kern.log"
    os.mkfifo(fifo)  # a FIFO planted at /var/log/kern.log: open() would wait for a writer
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    answers = {}
    t = threading.Thread(target=lambda: answers.update(
        {p: LiveHost().read_text(p) for p in (str(fifo), "/dev/zero", str(tmp_path / "s"))}), daemon=True)
    t.start()
    t.join(3)
    sock.close()
    assert not t.is_alive(), "read_text hung on a FIFO or a device"
    assert [answers[p].error for p in (str(fifo), "/dev/zero", str(tmp_path / "s"))] == [
        "not a regular file (FIFO)", "not a regular file (character device)", "not a regular file (socket)"]
    # /proc and /sys files are regular files and read as before
    if os.path.exists("/proc/cpuinfo"):
        assert LiveHost().read_text("/proc/cpuinfo").text
    vendors = sorted(Path("/sys/bus/pci/devices").glob("*/vendor")) if Path("/sys/bus/pci/devices").is_dir() else []
    if vendors:
        assert LiveHost().read_text(str(vendors[0])).text.startswith("0x")


# ------------------------------------------------------------------ signals and exit

SIGNAL_SCRIPT = """
import sys, threading
from dlkit.host.proc import Interrupted, install_signal_handlers, received_signal
from dlkit.host.live import LiveHost
assert install_signal_handlers()
host = LiveHost()
for _ in range(3):  # probes run commands on worker threads, as the doctor engine does
    threading.Thread(target=host.run, args=([sys.argv[1]], 30), daemon=True).start()
try:
    r = host.run([sys.argv[1]], 30)
    print("not interrupted:", r.status)
    sys.exit(1)
except Interrupted as exc:
    after = host.run(["true"])
    print("interrupted", exc.signum, received_signal(), isinstance(exc, KeyboardInterrupt), after.status, after.stderr)
    sys.exit(exc.exit_code)
"""


def _signal_midrun(argv, tmp_path, n_tools: int, signum: int, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        wait_for_pids(tmp_path, n_tools)
        time.sleep(0.2)  # the tools' own children (sleep) are started too
        t0 = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_kills_every_child_and_exits_128_plus_signum(tmp_path, mark, signum):
    hang = tool(tmp_path, "nvidia-smi", "sleep 1000")
    done = _signal_midrun([sys.executable, "-c", SIGNAL_SCRIPT, hang], tmp_path, 4, signum, cwd=REPO)
    assert done.returncode == 128 + signum, done.stderr
    assert done.stdout.split() == ["interrupted", str(int(signum)), str(int(signum)), "True",
                                   "error", "not", "run:", "dlkit", "is", "exiting"]
    assert "Traceback" not in done.stderr
    assert_no_survivors(mark)


def test_children_of_threads_still_running_at_exit_are_killed(tmp_path, mark):
    hang = tool(tmp_path, "dmesg", "sleep 1000")
    script = ("import sys, threading, time\nfrom dlkit.host.live import LiveHost\n"
              "threading.Thread(target=LiveHost().run, args=([sys.argv[1]], 30), daemon=True).start()\n"
              f"while not __import__('os').path.exists({str(tmp_path / 'pids')!r}): time.sleep(0.02)\n"
              "time.sleep(0.2)\n")
    done = subprocess.run([sys.executable, "-c", script, hang], cwd=REPO, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert_no_survivors(mark)


def test_interrupted_is_a_keyboard_interrupt_and_handlers_need_the_main_thread():
    exc = Interrupted(signal.SIGTERM)
    assert isinstance(exc, KeyboardInterrupt) and (exc.signum, exc.exit_code) == (15, 143)
    answer = []
    t = threading.Thread(target=lambda: answer.append(install_signal_handlers()))
    t.start()
    t.join()
    assert answer == [False] and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def _cli_installs_handlers() -> bool:
    import dlkit.cli
    return "install_signal_handlers" in inspect.getsource(dlkit.cli.main)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_doctor_interrupted_while_every_tool_hangs(tmp_path, mark, signum):
    """The real CLI on a node whose tools all hang (a GPU that fell off the bus)."""
    if not _cli_installs_handlers():
        pytest.skip("dlkit.cli.main does not call dlkit.host.proc.install_signal_handlers() yet")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("nvidia-smi", "dmesg", "journalctl", "nvcc", "gcc", "mokutil", "ldconfig", "python3"):
        tool(bin_dir, name, "sleep 1000")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    done = _signal_midrun([sys.executable, "-m", "dlkit", "doctor", "--json"], bin_dir, 3, signum, cwd=REPO, env=env)
    assert done.returncode == 128 + signum, done.stderr
    assert "Traceback" not in done.stderr
    assert_no_survivors(mark)
