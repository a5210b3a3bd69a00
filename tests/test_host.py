"""The host seam: LiveHost, RecordingHost, ReplayHost, the capture bundle and redaction.

The central promise (spec §1): a capture replays to the same report as the live run that
wrote it, on any machine, and replay never writes into the capture.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import hashlib
import json
import os
import sys
import tarfile
import time
from pathlib import Path

import pytest

from dlkit.engine import doctor
from dlkit.host import (
    Capture,
    CaptureError,
    CommandResult,
    DirList,
    FileRead,
    LiveHost,
    RecordingHost,
    Redactor,
    ReplayHost,
    load_capture,
    write_capture,
)
from dlkit.host import live as live_module
from dlkit.host.base import MAX_READ_BYTES, normpath
from dlkit.host.redact import IDENTITY_ENV
from test_golden import CREATED, PYTHON, full_machine, part1_capture, part1_machine, python_json
from test_golden import full_capture as desktop_capture

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(IS_ROOT, reason="root reads a chmod 000 file anyway")


# ------------------------------------------------------------------ helpers


class RootedLiveHost(LiveHost):
    """The real LiveHost code, reading a machine laid out under ``root`` (a tmp tree).

    Path ``/proc/cpuinfo`` is opened at ``root/proc/cpuinfo``; answers carry the machine path.
    Everything else would describe the test runner, so the fake machine scripts it: its
    ``commands`` (any other command is not found), its environment, its PATH answers
    (``which``) and its interpreter's python.json (``python``; no child is started).
    Libraries (psutil, py-cpuinfo) and NVML answer None.
    """

    def __init__(self, root, commands: dict | None = None, environ: dict[str, str] | None = None,
                 which: dict[str, str] | None = None, python: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = str(root)
        self.commands = dict(commands or {})
        self.environ = dict(environ or {})
        self.which_answers = dict(which or {})
        self.python = python

    def _real(self, path: str) -> str:
        return self.root + normpath(path)

    def created(self) -> str:
        return CREATED

    def read_text(self, path: str) -> FileRead:
        return dataclasses.replace(super().read_text(self._real(path)), path=normpath(path))

    def list_dir(self, path: str) -> DirList:
        return dataclasses.replace(super().list_dir(self._real(path)), path=normpath(path))

    def readlink(self, path: str) -> str | None:
        return super().readlink(self._real(path))

    def library(self, name: str):
        return None

    def nvml(self):
        return None

    def run(self, argv, timeout_s: float = 4.0) -> CommandResult:
        argv = tuple(argv)
        return self.commands.get(argv) or CommandResult(argv, None, "", "", "not-found")

    def env(self, name: str) -> str | None:
        return self.environ.get(name)

    def which(self, name: str) -> str | None:
        return self.which_answers.get(name)

    def python_probe(self, executable, import_frameworks, timeout_s, **kwargs):
        return copy.deepcopy(self.python) if executable and self.python is not None else None


def materialize(root: Path, files: dict[str, str | bytes], links: dict[str, str]) -> Path:
    """Lay a fake machine out on disk under root."""
    for path, data in files.items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data if isinstance(data, bytes) else data.encode())
    for path, target in links.items():
        full = root / path.lstrip("/")
        full.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, full)
    return root


def snapshot(path: Path) -> dict[str, tuple]:
    """Every entry under path (and path itself): kind, size, mtime, content hash, link target."""
    out = {}
    entries = [path] + sorted(path.rglob("*")) if path.is_dir() else [path]
    for p in entries:
        st = os.lstat(p)
        if p.is_symlink():
            out[str(p)] = ("link", os.readlink(p), st.st_mtime_ns)
        elif p.is_dir():
            out[str(p)] = ("dir", tuple(sorted(os.listdir(p))), st.st_mtime_ns)
        else:
            out[str(p)] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def without_created(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["facts"]["run"].pop("created")
    return doc


# ------------------------------------------------------------------ LiveHost


def test_live_read_text_reads_a_file(tmp_path):
    (tmp_path / "f").write_text("line one\nline two\n")
    r = LiveHost().read_text(str(tmp_path / "f"))
    assert r == FileRead(str(tmp_path / "f"), "line one\nline two\n", None, False, False)
    assert r.ok and r.why() == f"{tmp_path}/f: read"
    assert LiveHost().read_first_line(str(tmp_path / "f")) == "line one"


def test_live_read_text_missing_directory_and_empty(tmp_path):
    host = LiveHost()
    assert host.read_text(str(tmp_path / "nope")) == FileRead(str(tmp_path / "nope"), None, "missing")
    assert host.read_text(str(tmp_path / "nope" / "deeper")).error == "missing"
    assert host.read_text(str(tmp_path)) == FileRead(str(tmp_path), None, "is a directory")
    (tmp_path / "empty").write_bytes(b"")
    assert host.read_text(str(tmp_path / "empty")) == FileRead(str(tmp_path / "empty"), "", None)
    assert host.read_first_line(str(tmp_path / "empty")) == ""
    assert host.read_first_line(str(tmp_path / "nope")) is None
    # a regular file used as a directory: ENOTDIR reads as "missing"
    assert host.read_text(str(tmp_path / "empty" / "x")).error == "missing"
    assert FileRead("/x", None, "missing").why() == "/x: missing"


@needs_non_root
def test_live_read_text_permission_denied(tmp_path):
    f = tmp_path / "secret"
    f.write_text("x")
    os.chmod(f, 0)
    try:
        assert LiveHost().read_text(str(f)) == FileRead(str(f), None, "permission denied")
    finally:
        os.chmod(f, 0o600)


@pytest.mark.parametrize("err,expected", [
    (errno.ENOENT, "missing"), (errno.EACCES, "permission denied"), (errno.EPERM, "permission denied"),
    (errno.EISDIR, "is a directory"), (errno.ENOTDIR, "missing"), (errno.EIO, os.strerror(errno.EIO)),
])
def test_live_os_error_names(err, expected):
    """How LiveHost words an OSError (the permission case is testable here even as root)."""
    assert live_module._os_error(OSError(err, os.strerror(err))) == expected


def test_live_read_text_caps_a_50_mb_file(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        fh.write(b"0123456789abcdef" * (50 * 1024 * 1024 // 16))
    assert big.stat().st_size == 50 * 1024 * 1024
    t0 = time.monotonic()
    r = LiveHost().read_text(str(big))
    assert time.monotonic() - t0 < 2.0
    assert r.truncated is True and r.undecodable is False and r.error is None
    assert len(r.text) == MAX_READ_BYTES == 4 * 1024 * 1024
    assert r.text[:32] == "0123456789abcdef" * 2
    # exactly MAX_READ_BYTES is not truncated; one byte more is
    exact = tmp_path / "exact"
    exact.write_bytes(b"a" * 10)
    assert LiveHost(max_read_bytes=10).read_text(str(exact)).truncated is False
    exact.write_bytes(b"a" * 11)
    r = LiveHost(max_read_bytes=10).read_text(str(exact))
    assert (r.text, r.truncated) == ("a" * 10, True)
    big.unlink()  # pytest keeps the tmp dirs of recent runs: do not leave 50 MB there


def test_live_read_text_non_utf8_is_replaced_and_said(tmp_path):
    f = tmp_path / "latin1"
    f.write_bytes(b"model name\t: Intel\xae Xeon\xae\n")
    r = LiveHost().read_text(str(f))
    assert r == FileRead(str(f), "model name\t: Intel\ufffd Xeon\ufffd\n", None, False, True)


def test_live_list_dir_and_readlink(tmp_path):
    (tmp_path / "b").write_text("")
    (tmp_path / "a").mkdir()
    os.symlink("../../../../bus/pci/drivers/nvidia", tmp_path / "driver")
    host = LiveHost()
    assert host.list_dir(str(tmp_path)) == DirList(str(tmp_path), ("a", "b", "driver"))
    assert host.list_dir(str(tmp_path / "nope")) == DirList(str(tmp_path / "nope"), None, "missing")
    # a file listed as a directory: the same answer as ReplayHost gives
    assert host.list_dir(str(tmp_path / "b")) == DirList(str(tmp_path / "b"), None, "not a directory")
    assert host.readlink(str(tmp_path / "driver")) == "../../../../bus/pci/drivers/nvidia"
    assert host.readlink(str(tmp_path / "b")) is None
    assert host.readlink(str(tmp_path / "nope")) is None


def test_live_and_replay_agree_on_odd_paths(tmp_path):
    """Absence is worded the same live and on replay, so a replayed report says the same."""
    root = materialize(tmp_path / "m", {"/etc/f": "x\n", "/etc/d/g": "y\n"}, {"/etc/l": "f"})
    live = RootedLiveHost(root)
    cap = Capture(manifest={}, files={"/etc/f": b"x\n", "/etc/d/g": b"y\n"}, links={"/etc/l": "f"})
    replay = ReplayHost(cap)
    for path in ("/etc/f", "/etc/d", "/etc/nope", "/etc/f/sub", "/etc/l"):
        assert live.read_text(path) == replay.read_text(path), path
    for path in ("/etc", "/etc/d", "/etc/f", "/etc/nope"):
        assert live.list_dir(path) == replay.list_dir(path), path
    for path in ("/etc/l", "/etc/f", "/etc/nope"):
        assert live.readlink(path) == replay.readlink(path), path


def test_live_run_ok_passes_c_locale():
    r = LiveHost().run([sys.executable, "-c", "import os; print(os.environ['LC_ALL']); print('e', file=__import__('sys').stderr)"])
    assert r == CommandResult((sys.executable, "-c", r.argv[2]), 0, "C\n", "e\n", "ok")
    assert r.ok and r.why().endswith("`: ok")


def test_live_run_command_not_found():
    r = LiveHost().run(["dlkit-no-such-command-xyz", "-q"])
    assert r == CommandResult(("dlkit-no-such-command-xyz", "-q"), None, "", "", "not-found")
    assert r.why() == "`dlkit-no-such-command-xyz -q`: command not found"


def test_live_run_nonzero_exit():
    r = LiveHost().run([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('NVML: Driver/library version mismatch\\nmore\\n'); sys.exit(9)"])
    assert (r.returncode, r.stdout, r.status) == (9, "out\n", "error")
    assert r.why() == f"`{' '.join(r.argv)}`: exit code 9: NVML: Driver/library version mismatch"


def test_live_run_timeout_kills_the_command_and_its_children(tmp_path):
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    r = LiveHost().run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], timeout_s=0.5)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    assert r.status == "timeout" and r.returncode is None and r.stdout == ""
    assert r.stderr == "timed out after 0.5 s"
    assert r.why() == f"`sh -c sleep 30 & echo $! > {pidfile}; wait`: timed out"
    # the grandchild is dead too (gone, or a zombie waiting for init to reap it)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"sleep {pid} survived the timeout")


def test_live_run_sleep_30_times_out_fast():
    t0 = time.monotonic()
    r = LiveHost().run(["sleep", "30"], timeout_s=0.5)
    assert time.monotonic() - t0 < 2.0
    assert r == CommandResult(("sleep", "30"), None, "", "timed out after 0.5 s", "timeout")


def test_live_library_unknown_or_failing_is_none(monkeypatch):
    host = LiveHost()
    assert host.library("no.such.library") is None

    def boom():
        raise RuntimeError("psutil exploded")

    monkeypatch.setitem(live_module.LIBRARY_CALLS, "psutil.virtual_memory", boom)
    assert host.library("psutil.virtual_memory") is None
    monkeypatch.setitem(live_module.LIBRARY_CALLS, "psutil.virtual_memory", lambda: {"total": 1, "available": 1})
    assert host.library("psutil.virtual_memory") == {"total": 1, "available": 1}


def test_live_env(monkeypatch):
    monkeypatch.setenv("DLKIT_TEST_VAR", "0,1")
    monkeypatch.delenv("DLKIT_TEST_UNSET", raising=False)
    assert LiveHost().env("DLKIT_TEST_VAR") == "0,1"
    assert LiveHost().env("DLKIT_TEST_UNSET") is None


def test_live_created_is_utc_iso():
    created = LiveHost().created()
    assert len(created) == 20 and created.endswith("Z") and created[10] == "T"


# ------------------------------------------------------------------ capture bundle


def full_capture() -> Capture:
    return Capture(
        manifest={"format": "dlkit-capture", "version": 1, "created": CREATED, "dlkit_version": "test",
                  "platform": "linux", "redacted": False, "notes": "round trip"},
        files={"/proc/cpuinfo": b"processor\t: 0\n", "/etc/empty": b"", "/etc/bin": b"\xff\x00\xfe",
               "/sys/bus/pci/devices/0000:01:00.0/vendor": b"0x10de\n"},
        links={"/sys/bus/pci/devices/0000:01:00.0/driver": "../../../../bus/pci/drivers/nvidia"},
        dirs={"/etc/modprobe.d", "/sys/bus/pci/drivers/nvidia"},
        commands={("nvidia-smi", "-q", "-x"): CommandResult(("nvidia-smi", "-q", "-x"), 0, "<xml/>\n", "", "ok"),
                  ("dmesg",): CommandResult(("dmesg",), 1, "", "dmesg: read kernel buffer failed", "error"),
                  ("nvcc", "--version"): CommandResult(("nvcc", "--version"), None, "", "", "not-found")},
        python={"executable": "/usr/bin/python3", "torch": None},
        environ={"CUDA_VISIBLE_DEVICES": "0,1"},
        live={"psutil.cpu_count": {"logical": 8, "physical": 4}},
        nvml={"schema": "x", "gpus": []},
    )


def assert_same_capture(a: Capture, b: Capture) -> None:
    assert a.manifest == b.manifest
    assert a.files == b.files
    assert a.links == b.links
    assert a.dirs == b.dirs
    assert a.commands == b.commands
    assert (a.python, a.environ, a.live, a.nvml) == (b.python, b.environ, b.live, b.nvml)


@pytest.mark.parametrize("name", ["cap", "cap.tar.gz", "cap.tgz"])
def test_capture_round_trip(tmp_path, name):
    cap = full_capture()
    write_capture(cap, str(tmp_path / name))
    back = load_capture(str(tmp_path / name))
    assert_same_capture(back, cap)
    assert back.dirs >= {"/", "/etc", "/etc/modprobe.d", "/sys/bus/pci/drivers/nvidia"}
    if name == "cap":
        assert json.loads((tmp_path / name / "manifest.json").read_text())["format"] == "dlkit-capture"
        assert os.readlink(tmp_path / name / "files/sys/bus/pci/devices/0000:01:00.0/driver") == \
            "../../../../bus/pci/drivers/nvidia"
        assert [c["argv"] for c in json.loads((tmp_path / name / "commands.json").read_text())] == \
            [["nvidia-smi", "-q", "-x"], ["dmesg"], ["nvcc", "--version"]]
    else:
        assert tarfile.is_tarfile(tmp_path / name)
    # no staging leftovers beside the capture
    assert sorted(os.listdir(tmp_path)) == [name]


@pytest.mark.parametrize("name", ["cap", "cap.tar.gz"])
def test_write_capture_never_overwrites_without_force(tmp_path, name):
    dest = tmp_path / name
    if name == "cap":  # an earlier capture: the only kind of folder --force may replace
        write_capture(dataclasses.replace(full_capture(), files={"/etc/hostname": b"old\n"}), str(dest))
    else:
        dest.write_text("user data")
    before = snapshot(dest)
    with pytest.raises(CaptureError, match="already exists; pass --force to replace it"):
        write_capture(full_capture(), str(dest))
    assert snapshot(dest) == before
    write_capture(full_capture(), str(dest), force=True)
    assert_same_capture(load_capture(str(dest)), full_capture())
    assert sorted(os.listdir(tmp_path)) == [name]


def test_write_capture_into_a_missing_directory(tmp_path):
    with pytest.raises(CaptureError, match="folder .* does not exist"):
        write_capture(full_capture(), str(tmp_path / "no" / "cap.tar.gz"))
    assert os.listdir(tmp_path) == []


def test_load_capture_tar_with_a_top_folder(tmp_path):
    """Archives packed by hand (tar czf x.tar.gz mycapture/) hold a top folder."""
    write_capture(full_capture(), str(tmp_path / "mycapture"))
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "mycapture", arcname="mycapture")
    assert_same_capture(load_capture(str(tmp_path / "x.tar.gz")), full_capture())


def test_load_capture_never_follows_a_link_out_of_the_capture(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not read")
    write_capture(full_capture(), str(tmp_path / "cap"))
    os.symlink(str(outside), tmp_path / "cap" / "files" / "escape")
    cap = load_capture(str(tmp_path / "cap"))
    assert cap.links["/escape"] == str(outside)
    assert "/escape/secret" not in cap.files
    assert ReplayHost(cap).read_text("/escape/secret").error == "missing"


def _one_line_capture_error(path) -> str:
    with pytest.raises(CaptureError) as info:
        load_capture(str(path))
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


def test_load_capture_errors_are_one_line(tmp_path):
    assert _one_line_capture_error(tmp_path / "nope") == f"{tmp_path}/nope: no such file or directory"
    (tmp_path / "empty-dir").mkdir()
    assert _one_line_capture_error(tmp_path / "empty-dir") == f"{tmp_path}/empty-dir: not a dlkit capture (no manifest.json)"
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 8)
    assert _one_line_capture_error(tmp_path / "random.bin") == \
        f"{tmp_path}/random.bin: not a dlkit capture (neither a capture directory nor a .tar.gz archive)"
    (tmp_path / "report.json").write_text('{"schema": "dlkit.doctor/1"}\n')
    assert "not a dlkit capture" in _one_line_capture_error(tmp_path / "report.json")
    write_capture(full_capture(), str(tmp_path / "good.tar.gz"))
    data = (tmp_path / "good.tar.gz").read_bytes()
    (tmp_path / "half.tar.gz").write_bytes(data[: len(data) // 2])
    assert _one_line_capture_error(tmp_path / "half.tar.gz").startswith(f"{tmp_path}/half.tar.gz: corrupt or truncated archive (")


@pytest.mark.parametrize("member,content,message", [
    ("manifest.json", "{not json", "manifest.json is not JSON: Expecting property name enclosed in double quotes at line 1"),
    ("manifest.json", "[]", "manifest.json must be a JSON dict"),
    ("manifest.json", '{"format": "other"}', 'not a dlkit capture (no manifest.json with format "dlkit-capture")'),
    ("manifest.json", '{"format": "dlkit-capture", "version": 2}',
     "capture version 2 is not supported (this dlkit reads version 1)"),
    ("commands.json", "{}", "commands.json must be a list"),
    ("commands.json", "[{\"argv\": []}]", "commands.json: every entry needs a non-empty argv list of strings"),
    ("commands.json", '[{"argv": ["x"], "status": "weird"}]', "commands.json: unknown status 'weird'"),
    ("environ.json", '["x"]', "environ.json must be a JSON dict"),
])
def test_load_capture_rejects_bad_members(tmp_path, member, content, message):
    write_capture(full_capture(), str(tmp_path / "cap"))
    (tmp_path / "cap" / member).write_text(content)
    assert _one_line_capture_error(tmp_path / "cap") == message


# ------------------------------------------------------------------ ReplayHost


def test_replay_answers_from_the_capture():
    cap = full_capture()
    cap.manifest["unreadable"] = {"/proc/modules": "permission denied"}
    host = ReplayHost(cap)
    assert host.platform == "linux" and host.created() == CREATED
    assert host.read_text("/proc/cpuinfo") == FileRead("/proc/cpuinfo", "processor\t: 0\n")
    assert host.read_text("//proc/./cpuinfo") == FileRead("/proc/cpuinfo", "processor\t: 0\n")
    assert host.read_text("/etc/empty") == FileRead("/etc/empty", "")
    assert host.read_text("/etc/bin") == FileRead("/etc/bin", "\ufffd\x00\ufffd", None, False, True)
    assert host.read_text("/proc/modules") == FileRead("/proc/modules", None, "permission denied")
    assert host.read_text("/proc/meminfo") == FileRead("/proc/meminfo", None, "missing")
    assert host.read_text("/etc/modprobe.d") == FileRead("/etc/modprobe.d", None, "is a directory")
    assert host.list_dir("/etc") == DirList("/etc", ("bin", "empty", "modprobe.d"))
    assert host.list_dir("/etc/modprobe.d") == DirList("/etc/modprobe.d", ())
    assert host.list_dir("/etc/empty") == DirList("/etc/empty", None, "not a directory")
    assert host.list_dir("/nope") == DirList("/nope", None, "missing")
    assert host.readlink("/sys/bus/pci/devices/0000:01:00.0/driver") == "../../../../bus/pci/drivers/nvidia"
    assert host.readlink("/proc/cpuinfo") is None
    assert host.list_dir("/sys/bus/pci/devices/0000:01:00.0/driver") == DirList(
        "/sys/bus/pci/devices/0000:01:00.0/driver", ())
    assert host.run(["nvidia-smi", "-q", "-x"]).stdout == "<xml/>\n"
    assert host.run(("dmesg",)).status == "error"
    assert host.run(["nvidia-smi", "-q"]) == CommandResult(("nvidia-smi", "-q"), None, "", "", "not-found")
    assert host.env("CUDA_VISIBLE_DEVICES") == "0,1" and host.env("HOME") is None
    assert host.library("psutil.cpu_count") == {"logical": 8, "physical": 4}
    assert host.library("cpuinfo.get_cpu_info") is None


def test_replay_follows_linked_directories_like_sysfs():
    """Real sysfs: /sys/bus/pci/devices/<bdf> is itself a link into /sys/devices."""
    real = "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"
    cap = Capture(manifest={}, files={f"{real}/vendor": b"0x10de\n"},
                  links={"/sys/bus/pci/devices/0000:01:00.0": "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0",
                         f"{real}/driver": "../../../../bus/pci/drivers/nvidia"})
    host = ReplayHost(cap)
    assert host.read_text("/sys/bus/pci/devices/0000:01:00.0/vendor").text == "0x10de\n"
    assert host.list_dir("/sys/bus/pci/devices") == DirList("/sys/bus/pci/devices", ("0000:01:00.0",))
    assert host.list_dir("/sys/bus/pci/devices/0000:01:00.0") == DirList(
        "/sys/bus/pci/devices/0000:01:00.0", ("driver", "vendor"))
    assert host.readlink("/sys/bus/pci/devices/0000:01:00.0/driver") == "../../../../bus/pci/drivers/nvidia"


def test_replay_link_loop_is_absence_not_a_hang():
    cap = Capture(manifest={}, links={"/a": "b", "/b": "a"})
    t0 = time.monotonic()
    assert ReplayHost(cap).read_text("/a/x").error == "missing"
    assert time.monotonic() - t0 < 1.0


def test_replay_caps_a_50_mb_file():
    cap = Capture(manifest={}, files={"/big": b"x" * (50 * 1024 * 1024)})
    r = ReplayHost(cap).read_text("/big")
    assert (len(r.text), r.truncated, r.error) == (MAX_READ_BYTES, True, None)


def test_replay_unknown_platform_is_linux():
    assert ReplayHost(Capture(manifest={"platform": "amiga"})).platform == "linux"
    assert ReplayHost(Capture(manifest={"platform": "windows"})).platform == "windows"
    assert ReplayHost(Capture(manifest={"created": 5})).created() is None


@pytest.mark.parametrize("name", ["cap", "cap.tar.gz"])
def test_replay_never_writes_into_the_capture(tmp_path, name):
    dest = tmp_path / name
    write_capture(part1_capture(), str(dest))
    before = snapshot(dest)
    parent_before = sorted(os.listdir(tmp_path))
    time.sleep(0.01)  # a write now would show in the mtimes
    report = doctor(ReplayHost(load_capture(str(dest))))
    assert report.status == "error"
    assert snapshot(dest) == before
    assert sorted(os.listdir(tmp_path)) == parent_before


# ------------------------------------------------------------------ RecordingHost


def test_recording_host_records_exactly_what_was_read():
    inner = ReplayHost(Capture(
        manifest={"created": CREATED},
        files={"/proc/cpuinfo": b"processor\t: 0\n", "/etc/modprobe.d/a.conf": b"x\n"},
        links={"/sys/x/driver": "../drivers/nvidia"},
        commands={("dmesg",): CommandResult(("dmesg",), 0, "hello\n", "", "ok")},
        environ={"CUDA_VISIBLE_DEVICES": "1"}, live={"psutil.cpu_count": {"logical": 1}}))
    inner._unreadable = {"/proc/modules": "permission denied"}
    rec = RecordingHost(inner)
    rec.read_text("/proc/cpuinfo")
    rec.read_text("/proc/modules")
    rec.read_text("/proc/meminfo")  # missing: not recorded at all
    rec.list_dir("/etc/modprobe.d")
    rec.list_dir("/nope")
    rec.readlink("/sys/x/driver")
    rec.readlink("/sys/y/driver")
    rec.run(["dmesg"])
    rec.run(["nvidia-smi"])
    rec.env("CUDA_VISIBLE_DEVICES")
    rec.env("HOME")
    rec.library("psutil.cpu_count")
    rec.library("cpuinfo.get_cpu_info")
    cap = rec.to_capture(None, notes="n")
    assert cap.manifest == {"format": "dlkit-capture", "version": 1, "created": CREATED,
                            "dlkit_version": cap.manifest["dlkit_version"], "platform": "linux",
                            "redacted": False, "notes": "n", "unreadable": {"/proc/modules": "permission denied"}}
    assert cap.files == {"/proc/cpuinfo": b"processor\t: 0\n"}
    assert cap.links == {"/sys/x/driver": "../drivers/nvidia"}
    assert "/etc/modprobe.d" in cap.dirs and "/nope" not in cap.dirs
    assert cap.commands == {("dmesg",): CommandResult(("dmesg",), 0, "hello\n", "", "ok"),
                            ("nvidia-smi",): CommandResult(("nvidia-smi",), None, "", "", "not-found")}
    assert cap.environ == {"CUDA_VISIBLE_DEVICES": "1"}
    assert cap.live == {"psutil.cpu_count": {"logical": 1}}
    # and the unreadable file stays unreadable on replay, for the same reason
    assert ReplayHost(cap).read_text("/proc/modules") == FileRead("/proc/modules", None, "permission denied")


def test_recording_host_redacted_manifest_lists_redactions():
    inner = ReplayHost(Capture(manifest={"created": CREATED},
                               files={"/proc/cmdline": b"ip=10.1.2.3 root=UUID=3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f\n"},
                               environ={"HF_TOKEN": "hf_secret"}))
    rec = RecordingHost(inner)
    rec.read_text("/proc/cmdline")
    rec.env("HF_TOKEN")
    cap = rec.to_capture(Redactor())
    assert cap.manifest["redacted"] is True
    assert cap.manifest["redactions"] == {"ip": 1, "uuid": 1, "secret_env_values": 1}
    assert cap.files == {"/proc/cmdline": b"ip=192.0.2.2 root=UUID=00000000-0000-0000-0000-000000000001\n"}
    assert cap.environ == {"HF_TOKEN": "REDACTED"}


# ------------------------------------------------------------------ live -> capture -> replay


@pytest.fixture(scope="module")
def live_run():
    """doctor on this machine through a RecordingHost: (host, report JSON)."""
    host = RecordingHost()
    return host, doctor(host).to_json()


@pytest.mark.parametrize("name", ["capture", "capture.tar.gz"])
def test_live_capture_replays_to_the_same_report(tmp_path, live_run, name):
    host, live_json = live_run
    write_capture(host.to_capture(None), str(tmp_path / name))
    replay_json = doctor(ReplayHost(load_capture(str(tmp_path / name)))).to_json()
    assert without_created(replay_json) == without_created(live_json)
    assert replay_json["facts"]["run"]["created"] == host.created()


@pytest.mark.parametrize("name", ["capture", "capture.tar.gz"])
def test_live_redacted_capture_replays_to_the_redacted_report(tmp_path, live_run, name):
    host, live_json = live_run
    redactor = Redactor.for_this_machine()
    write_capture(host.to_capture(redactor), str(tmp_path / name))
    replay_json = doctor(ReplayHost(load_capture(str(tmp_path / name)))).to_json()
    expected = json.loads(redactor.text(json.dumps(live_json)))
    assert without_created(replay_json) == without_created(expected)


SENSITIVE_CMDLINE = ("BOOT_IMAGE=/boot/vmlinuz-6.5.0-35-generic root=UUID=3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f ro "
                     "ip=10.20.30.40::10.20.30.1:255.255.255.0:gpu-box-7:eth0:off "
                     "nfsroot=[fd12:3456:789a::5]:/srv/home/alice")


@pytest.mark.parametrize("name", ["capture", "capture.tar.gz"])
def test_recorded_fake_machine_round_trips_with_and_without_redaction(tmp_path, name):
    """The real LiveHost and RecordingHost code over a machine laid out on disk, with data to redact."""
    files, links = part1_machine()
    files["/proc/cmdline"] = SENSITIVE_CMDLINE + "\n"
    files["/etc/hostname"] = "gpu-box-7\n"
    root = materialize(tmp_path / "machine", files, links)

    rec = RecordingHost(RootedLiveHost(root))
    live_json = doctor(rec).to_json()
    assert live_json["facts"]["kernel"]["cmdline"] == SENSITIVE_CMDLINE
    assert live_json == doctor(ReplayHost(part1_capture(files=files, links=links))).to_json()

    write_capture(rec.to_capture(None), str(tmp_path / f"plain-{name}"))
    plain = doctor(ReplayHost(load_capture(str(tmp_path / f"plain-{name}")))).to_json()
    assert plain == live_json

    redactor = Redactor(["gpu-box-7.example.com"])
    write_capture(rec.to_capture(redactor), str(tmp_path / f"red-{name}"))
    cap = load_capture(str(tmp_path / f"red-{name}"))
    replay_json = doctor(ReplayHost(cap)).to_json()
    assert replay_json == json.loads(redactor.text(json.dumps(live_json)))
    assert replay_json["facts"]["kernel"]["cmdline"] == (
        "BOOT_IMAGE=/boot/vmlinuz-6.5.0-35-generic root=UUID=00000000-0000-0000-0000-000000000001 ro "
        "ip=192.0.2.2::192.0.2.3:192.0.2.4:host-1:eth0:off nfsroot=[2001:db8::4]:/srv/home/user-1")
    # nothing identifying is left anywhere in the written capture; the diagnosis is intact
    everything = b"".join(cap.files.values()) + json.dumps(cap.manifest).encode()
    for secret in (b"3f1c2d4e", b"10.20.30", b"gpu-box-7", b"fd12:3456", b"alice"):
        assert secret not in everything
    assert cap.manifest["redactions"] == {"hostname": 1, "ip": 4, "user": 1, "uuid": 1}
    assert [f["code"] for f in replay_json["findings"]] == [f["code"] for f in live_json["findings"]]
    assert replay_json["facts"]["gpus"] == live_json["facts"]["gpus"]


@pytest.mark.parametrize("name", ["capture", "capture.tar.gz"])
def test_recorded_full_desktop_round_trips_with_and_without_redaction(tmp_path, name):
    """Part 2's channels too: the commands, the environment, PATH answers and python.json a live run
    used are what its capture holds, and replay (redacted or not) gives the live report."""
    m = full_machine()
    root = materialize(tmp_path / "machine", m["files"], m["links"])
    rec = RecordingHost(RootedLiveHost(root, commands=m["commands"], environ=m["environ"], which=m["live"]["which"],
                                       python=m["python"]))
    live_json = doctor(rec).to_json()
    assert live_json == doctor(ReplayHost(desktop_capture())).to_json()

    cap = rec.to_capture(None)
    # exactly what was asked: the commands that answered and those that were not found
    assert {argv: r.status for argv, r in cap.commands.items()} == {
        ("nvidia-smi", "-q", "-x"): "ok", ("nvcc", "--version"): "ok", ("gcc", "--version"): "ok",
        ("ldconfig", "-p"): "ok", ("dmesg",): "ok", ("journalctl", "-b", "-1"): "not-found",
        ("journalctl", "-b", "-2"): "not-found", ("mokutil", "--sb-state"): "ok", ("dkms", "status"): "ok"}
    assert cap.environ == m["environ"]  # the variables that were asked and are set
    assert cap.live == {"which": {PYTHON: PYTHON}}
    assert cap.python == python_json()
    write_capture(cap, str(tmp_path / f"plain-{name}"))
    assert doctor(ReplayHost(load_capture(str(tmp_path / f"plain-{name}")))).to_json() == live_json

    redactor = Redactor(["tower.example.com"])
    write_capture(rec.to_capture(redactor), str(tmp_path / f"red-{name}"))
    red = load_capture(str(tmp_path / f"red-{name}"))
    replay_json = doctor(ReplayHost(red)).to_json()
    assert replay_json == json.loads(redactor.text(json.dumps(live_json)))
    assert red.manifest["redactions"] == {"hostname": 1, "user": 1, "uuid": 3}
    # the user's name is gone from the interpreter's path everywhere, consistently: the venv is still chosen
    assert (replay_json["facts"]["python"]["executable"], replay_json["facts"]["python"]["chosen_by"]) == (
        "/home/user-1/venv/bin/python", "VIRTUAL_ENV")
    everything = (b"".join(red.files.values()) + json.dumps(red.manifest).encode()
                  + json.dumps([r.to_json() for r in red.commands.values()]).encode()
                  + json.dumps([red.environ, red.live, red.python]).encode())
    for secret in (b"tower", b"/home/ada", b"6a4f2b10", b"7b5a3c21", b"3f1c2d4e"):
        assert secret not in everything
    assert [f["code"] for f in replay_json["findings"]] == [f["code"] for f in live_json["findings"]]


def test_live_env_bytes_that_are_not_utf8_are_replaced(monkeypatch):
    monkeypatch.setenv("DLKIT_TEST_LD_LIBRARY_PATH", "/opt/caf\udce9/lib")  # the bytes b"/opt/caf\xe9/lib"
    assert LiveHost().env("DLKIT_TEST_LD_LIBRARY_PATH") == "/opt/caf\ufffd/lib"


def test_a_capture_of_an_environment_that_is_not_utf8_can_be_written(tmp_path, monkeypatch):
    monkeypatch.setenv("DLKIT_TEST_LD_LIBRARY_PATH", "/opt/caf\udce9/lib")
    rec = RecordingHost(LiveHost())
    rec.env("DLKIT_TEST_LD_LIBRARY_PATH")
    write_capture(rec.to_capture(None), str(tmp_path / "cap"))
    # what was read, and the user/host variables a replay needs to redact the capture (RecordingHost.record_identity)
    identity = {n: LiveHost().env(n) for n in IDENTITY_ENV if LiveHost().env(n) is not None}
    assert load_capture(str(tmp_path / "cap")).environ == {"DLKIT_TEST_LD_LIBRARY_PATH": "/opt/caf\ufffd/lib", **identity}


# ------------------------------------------------------------------ Redactor


def test_redactor_placeholders_are_consistent():
    r = Redactor()
    text = ("GPU-4a5b6c7d-1234-5678-9abc-def012345678 GPU-4A5B6C7D-1234-5678-9ABC-DEF012345678 "
            "MIG-4a5b6c7d-1234-5678-9abc-def012345678 GPU-11111111-2222-3333-4444-555555555555")
    assert r.text(text) == ("GPU-00000000-0000-0000-0000-000000000001 GPU-00000000-0000-0000-0000-000000000001 "
                            "MIG-00000000-0000-0000-0000-000000000001 GPU-00000000-0000-0000-0000-000000000002")
    # the same value in a later call, or in JSON, maps to the same placeholder
    assert r.text("uuid 4a5b6c7d-1234-5678-9abc-def012345678") == "uuid 00000000-0000-0000-0000-000000000001"
    assert r.json_value({"uuid": "GPU-11111111-2222-3333-4444-555555555555"}) == \
        {"uuid": "GPU-00000000-0000-0000-0000-000000000002"}
    # redacting twice changes nothing more
    once = r.text(text)
    assert r.text(once) == once
    assert r.summary() == {"uuid": 2}


@pytest.mark.parametrize("original,redacted", [
    ("ether AA:BB:CC:DD:EE:FF brd ff:ff:ff:ff:ff:ff; aa:bb:cc:dd:ee:ff",
     "ether 00:00:5e:00:53:01 brd 00:00:5e:00:53:02; 00:00:5e:00:53:01"),
    ("inet 10.0.0.5/24 src 172.16.4.2 http://10.0.0.5:3128 lo 127.0.0.1 any 0.0.0.0",
     "inet 192.0.2.2/24 src 192.0.2.3 http://192.0.2.2:3128 lo 127.0.0.1 any 0.0.0.0"),
    ("ip=10.0.0.5::10.0.0.1 nfsroot=10.0.0.5:/srv", "ip=192.0.2.2::192.0.2.3 nfsroot=192.0.2.2:/srv"),
    ("inet6 fe80::1ff:fe23:4567:890a/64 and 2606:4700:4700::1111, lo ::1",
     "inet6 2001:db8::1/64 and 2001:db8::2, lo ::1"),
    ("inet6 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "inet6 2001:db8::1"),
    ("    Serial Number                         : 1324217012345\n", "    Serial Number                         : REDACTED-SERIAL-1\n"),
    ("<serial>0324018012345</serial><board_id>0x100</board_id>", "<serial>REDACTED-SERIAL-1</serial><board_id>0x100</board_id>"),
    ("Serial Number : N/A", "Serial Number : N/A"),
    ("/home/alice/miniconda3/bin/python and /home/alice/.cache, /Users/bob/x, /var/home/carol/y",
     "/home/user-1/miniconda3/bin/python and /home/user-1/.cache, /Users/user-2/x, /var/home/user-3/y"),
    ("/home/root/x /home/ubuntu/y /root/z", "/home/root/x /home/ubuntu/y /root/z"),
])
def test_redactor_replaces(original, redacted):
    assert Redactor().text(original) == redacted


@pytest.mark.parametrize("text", [
    "cuDNN 9.1.0.70",
    "cudnn_version: 9.1.0.70",
    "nvidia-cudnn-cu12==9.1.0.70",
    "[conda] nvidia-cudnn-cu12          9.1.0.70                 pypi_0    pypi",
    "TensorRT version: 10.0.1.6",
    "libcudnn.so.9.1.0.70",
    "Bus Id : 00000000:01:00.0  PCI 0000:01:00.0",
    "Thu Feb 22 01:44:30 UTC 2024, 12:34:56",
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
    "GPU-00000000-0000-0000-0000-000000000000",
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024",
    "BOOT_IMAGE=/boot/vmlinuz-6.5.0-35-generic ro quiet splash",
])
def test_redactor_keeps_what_is_not_identifying(text):
    r = Redactor(["gpu-box-7"])
    assert r.text(text) == text
    assert r.summary() == {}


def test_redactor_keeps_versions_in_python_json():
    r = Redactor()
    value = {"packages": {"nvidia-cudnn-cu12": "9.1.0.70", "tensorrt": "10.0.1.6", "nvidia-cublas-cu12": "12.1.3.1"},
             "torch": {"cudnn_version": 90100}}
    assert r.json_value(value) == value


def test_redactor_hostnames():
    r = Redactor(["gpu-box-7.lab.example.com", "localhost", "ab"])
    assert r.hostnames == ["gpu-box-7.lab.example.com", "gpu-box-7"]
    # a name stands alone unless letters or digits continue it: "gpu-box-7x" is another word, "my-gpu-box-7"
    # (an alias, an interface "gpu-box-7-ib0") and "GPU-BOX-7" are the host
    assert r.text("ssh gpu-box-7.lab.example.com; prompt root@gpu-box-7:~# gpu-box-7x my-gpu-box-7 GPU-BOX-7-ib0") == \
        "ssh host-1; prompt root@host-2:~# gpu-box-7x my-host-2 host-2-ib0"


def test_redactor_leaves_generic_hostnames_alone():
    """A machine called "ubuntu" (cloud images) must not lose ID=ubuntu from its os-release."""
    r = Redactor(["ubuntu", "nvidia"])
    assert r.hostnames == []
    text = "ID=ubuntu\nnvidia 54255616 65 nvidia_uvm, Live 0x0\n"
    assert r.text(text) == text


def test_redactor_secret_environment_values():
    r = Redactor()
    env = {"HF_TOKEN": "hf_abc", "AWS_SECRET_ACCESS_KEY": "x", "WANDB_API_KEY": "k", "DB_PASSWORD": "p",
           "GOOGLE_APPLICATION_CREDENTIALS": "/home/alice/key.json", "PASSWD": "q",
           "CUDA_VISIBLE_DEVICES": "0,1", "LD_LIBRARY_PATH": "/home/alice/cuda/lib64:/usr/lib"}
    assert r.environ(env) == {
        "HF_TOKEN": "REDACTED", "AWS_SECRET_ACCESS_KEY": "REDACTED", "WANDB_API_KEY": "REDACTED",
        "DB_PASSWORD": "REDACTED", "GOOGLE_APPLICATION_CREDENTIALS": "REDACTED", "PASSWD": "REDACTED",
        "CUDA_VISIBLE_DEVICES": "0,1", "LD_LIBRARY_PATH": "/home/user-1/cuda/lib64:/usr/lib"}
    assert r.summary() == {"user": 1, "secret_env_values": 6}


def test_redact_capture_redacts_every_part():
    cap = Capture(
        manifest={"format": "dlkit-capture", "version": 1},
        files={"/home/alice/.bashrc": b"export X=10.9.8.7\n"},
        links={"/home/alice/link": "/home/alice/target"},
        dirs={"/home/alice/dir"},
        commands={("nvidia-smi", "-q"): CommandResult(("nvidia-smi", "-q"), 0,
                                                      "GPU UUID : GPU-4a5b6c7d-1234-5678-9abc-def012345678\n",
                                                      "see /home/alice/log", "ok")},
        python={"executable": "/home/alice/venv/bin/python"},
        environ={"MY_TOKEN": "t", "HOME": "/home/alice"},
        live={"where": "/home/alice"},
        nvml={"uuid": "GPU-4a5b6c7d-1234-5678-9abc-def012345678"},
    )
    out = Redactor().redact_capture(cap)
    assert out.files == {"/home/user-1/.bashrc": b"export X=192.0.2.2\n"}
    assert out.links == {"/home/user-1/link": "/home/user-1/target"}
    assert "/home/user-1/dir" in out.dirs and not any("alice" in d for d in out.dirs)
    assert out.commands == {("nvidia-smi", "-q"): CommandResult(
        ("nvidia-smi", "-q"), 0, "GPU UUID : GPU-00000000-0000-0000-0000-000000000001\n", "see /home/user-1/log", "ok")}
    assert out.python == {"executable": "/home/user-1/venv/bin/python"}
    assert out.environ == {"MY_TOKEN": "REDACTED", "HOME": "/home/user-1"}
    assert out.live == {"where": "/home/user-1"}
    assert out.nvml == {"uuid": "GPU-00000000-0000-0000-0000-000000000001"}
    assert cap.files == {"/home/alice/.bashrc": b"export X=10.9.8.7\n"}  # the input is left as it was


def test_write_capture_cleans_up_after_a_failure(tmp_path):
    """write_capture's staging directory is gone, and nothing is at dest, when writing fails half-way."""
    cap = full_capture()
    cap.files["/bad"] = "not bytes"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        write_capture(cap, str(tmp_path / "cap"))
    assert os.listdir(tmp_path) == []
