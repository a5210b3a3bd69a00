"""The fault matrix: every probe x every way its inputs can fail.

A fault never escapes ``engine.doctor`` as an exception, never makes it overrun its time
bound, and leaves facts that say what is unknown and why (the ``unknown`` maps), while
the other probes' facts stay exactly as on the healthy machine. Faults are injected
twice: into a capture (ReplayHost; "permission denied" through the manifest's
``unreadable`` map) and onto disk under the real LiveHost code (RootedLiveHost).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time

import pytest

from dlkit import engine
from dlkit.engine import Probe, doctor
from dlkit.facts import CpuFacts, KernelFacts, MemoryFacts, NvidiaDriverFacts, PciFacts
from dlkit.host import CommandResult, Host, LiveHost, ReplayHost
from dlkit.host.base import decode
from dlkit.report import Finding, Severity
from test_golden import CMDLINE, DEV, GPU0, part1_capture, part1_machine
from test_host import IS_ROOT, RootedLiveHost, materialize

PROBE_NAMES = ("cpu", "memory", "os", "pci", "kernel", "nvidia_driver")
FILE_FAULTS = ("missing", "permission-denied", "empty", "garbage", "non-utf8", "huge")
COMMAND_FAULTS = ("command-not-found", "command-hangs", "command-fails")
TIME_BOUND_S = 2.0  # doctor on a fake machine takes milliseconds; a hang would take the probe timeout

# Meaningless text: control characters, braces and colons, valid UTF-8.
GARBAGE = b"\x00\x1b[2J\x07 ::: }{ \x7f\x01 -- ### \n" * 64
NON_UTF8_TAIL = b"\n\xff\xfe\xe9\n"
HUGE = 50 * 1024 * 1024
FILLER = b"x" * 79 + b"\n"

files0, links0 = part1_machine()
PCI_FILES = sorted(p for p in files0 if p.startswith(DEV + "/"))
MODPROBE = sorted(p for p in files0 if p.startswith("/etc/modprobe.d/"))
# What each probe reads: content faults hit every one of these files.
INPUTS = {
    "cpu": ["/proc/cpuinfo"],
    "memory": ["/proc/meminfo"],
    "os": ["/etc/os-release", "/proc/version"],
    "pci": PCI_FILES,
    "kernel": ["/proc/modules", "/proc/cmdline", *MODPROBE],
    "nvidia_driver": ["/proc/driver/nvidia/version"],
}
# "missing" and "permission denied" hit these paths (a directory stands for all it holds).
GATES = {**INPUTS, "pci": [DEV], "kernel": ["/proc/modules", "/proc/cmdline", "/etc/modprobe.d"]}
# A 50 MB file is the probe's main file (50 MB each for every sysfs attribute would be silly).
HUGE_FILE = {"cpu": "/proc/cpuinfo", "memory": "/proc/meminfo", "os": "/etc/os-release",
             "pci": f"{DEV}/{GPU0}/class", "kernel": "/proc/modules", "nvidia_driver": "/proc/driver/nvidia/version"}


def faulty_machine(probe: str, fault: str) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """(files, links, unreadable) of the fake machine with one fault in one probe's inputs."""
    files = {p: d.encode() for p, d in files0.items()}
    links = dict(links0)
    unreadable: dict[str, str] = {}
    if fault == "missing":
        for gate in GATES[probe]:
            files = {p: d for p, d in files.items() if p != gate and not p.startswith(gate + "/")}
            links = {p: t for p, t in links.items() if not p.startswith(gate + "/")}
    elif fault == "permission-denied":
        unreadable = {gate: "permission denied" for gate in GATES[probe]}
    elif fault == "huge":
        files[HUGE_FILE[probe]] = FILLER * (HUGE // len(FILLER))
    elif fault in ("empty", "garbage", "non-utf8"):
        for p in INPUTS[probe]:
            files[p] = {"empty": b"", "garbage": GARBAGE, "non-utf8": files[p] + NON_UTF8_TAIL}[fault]
    return files, links, unreadable


# ------------------------------------------------------------------ expected facts


def healthy_facts():
    return doctor(ReplayHost(part1_capture())).facts


HEALTHY = healthy_facts()
GARBAGE_TEXT = decode(GARBAGE)[0]
NON_UTF8_TEXT = decode(NON_UTF8_TAIL)[0]
ALL_BDFS = ", ".join(sorted({p.split("/")[5] for p in PCI_FILES}))


def expected(probe: str, fault: str):
    """The facts `probe` must report under `fault`, written out by hand."""
    if fault == "non-utf8" or fault in COMMAND_FAULTS:
        base = getattr(HEALTHY, probe)
        if probe == "kernel" and fault == "non-utf8":
            return dataclasses.replace(base, cmdline=(CMDLINE + "\n" + NON_UTF8_TEXT).strip())
        return base  # a bad byte after the data loses nothing; a probe that runs no command is unaffected
    if probe == "cpu":
        why = {"missing": "/proc/cpuinfo missing",
               "permission-denied": "/proc/cpuinfo permission denied, and py-cpuinfo gave no answer",
               "empty": "/proc/cpuinfo is empty, and py-cpuinfo gave no answer"}
        if fault in why:
            return CpuFacts(unknown={"model": why[fault]})
        return CpuFacts(source="/proc/cpuinfo", unknown={"model": "/proc/cpuinfo has no processor entries"})
    if probe == "memory":
        why = {"missing": "/proc/meminfo: missing",
               "permission-denied": "/proc/meminfo: permission denied, and psutil gave no answer"}
        return MemoryFacts(unknown={"total_mib": why.get(fault, "/proc/meminfo: no MemTotal line, and psutil gave no answer")})
    if probe == "os":
        base = dataclasses.replace(HEALTHY.os, distro_id=None, distro_name=None, distro_version=None,
                                   distro_family=None, kernel=None)
        if fault == "missing":
            return dataclasses.replace(base, wsl=None, unknown={
                "distro_id": "/etc/os-release: missing; /usr/lib/os-release: missing", "kernel": "/proc/version: missing"})
        if fault == "permission-denied":
            return dataclasses.replace(base, wsl=None, unknown={
                "distro_id": "/etc/os-release: permission denied; /usr/lib/os-release: missing",
                "kernel": "/proc/version: permission denied"})
        if fault == "huge":  # only /etc/os-release is huge; /proc/version is fine
            return dataclasses.replace(HEALTHY.os, distro_id=None, distro_name=None, distro_version=None,
                                       distro_family=None, unknown={"distro_id": "/etc/os-release has no ID line"})
        return dataclasses.replace(base, wsl=False, unknown={
            "distro_id": "/etc/os-release has no ID line", "kernel": "/proc/version has no 'Linux version' line"})
    if probe == "pci":
        if fault == "missing":
            return PciFacts(unknown={"devices": f"{DEV}: missing (no PCI sysfs: container, VM or not Linux)"})
        if fault == "permission-denied":
            return PciFacts(unknown={"devices": f"{DEV}: permission denied"})
        if fault == "huge":  # the first NVIDIA GPU's class is 50 MB of filler: it cannot be told a GPU
            return PciFacts(devices=tuple(d for d in HEALTHY.pci.devices if d.bus_id != GPU0), devices_seen=4,
                            unknown={"devices": f"class or vendor unreadable for {GPU0}"})
        return PciFacts(devices=(), devices_seen=4, unknown={"devices": f"class or vendor unreadable for {ALL_BDFS}"})
    if probe == "kernel":
        versions = {"nvidia": "550.54.14"}  # /sys/module/nvidia/version is not among the faulted files
        if fault in ("missing", "permission-denied"):
            error = "missing" if fault == "missing" else "permission denied"
            return KernelFacts(modules_available=False, module_versions=versions, unknown={
                "loaded": f"/proc/modules: {error}", "nouveau_blacklist": "no modprobe.d directory could be listed"})
        if fault == "empty":
            return KernelFacts(modules_available=True, module_versions=versions, cmdline="",
                               modprobe_dirs=("/etc/modprobe.d",), modprobe_files=tuple(MODPROBE))
        if fault == "garbage":
            return KernelFacts(modules_available=False, module_versions=versions, cmdline=GARBAGE_TEXT.strip(),
                               modprobe_dirs=("/etc/modprobe.d",), modprobe_files=tuple(MODPROBE),
                               unknown={"loaded": "/proc/modules has no module lines"})
        if fault == "huge":
            return dataclasses.replace(HEALTHY.kernel, modules_available=False, loaded=(),
                                       unknown={"loaded": "/proc/modules has no module lines"})
    if probe == "nvidia_driver":
        return {"missing": "/proc/driver/nvidia/version: missing (NVIDIA module not loaded)",
                "permission-denied": "/proc/driver/nvidia/version: permission denied"}.get(
            fault, "/proc/driver/nvidia/version has no 'Kernel Module' line")
    raise AssertionError((probe, fault))


def assert_facts(facts, probe: str, fault: str, ran_commands: set[str] = frozenset()) -> None:
    want = expected(probe, fault)
    got = getattr(facts, probe)
    if probe in ran_commands:
        # a probe that asked for a command that failed must say what it could not learn
        assert got.unknown, f"{probe} ran a failing command and reports nothing unknown"
    elif probe == "nvidia_driver" and isinstance(want, str):
        # the part-2 driver probe adds fields; what part 1 promises is the version and why it is unknown
        assert got.version is None
        assert got.unknown["version"] == want
    else:
        assert got == want
    for other in PROBE_NAMES:
        if other != probe and other not in ran_commands:
            assert getattr(facts, other) == getattr(HEALTHY, other), f"{other} changed by a fault in {probe}"


def assert_report_sane(report, elapsed: float) -> None:
    assert elapsed < TIME_BOUND_S
    crashed = [f for f in report.findings if f.severity == Severity.CRASHED]
    assert crashed == []
    assert report.status in ("ok", "warning", "error")
    assert report.to_json()["schema"] == "dlkit.doctor/1"


# ------------------------------------------------------------------ fault hosts


class CommandFaultHost(Host):
    """Another host, with every command failing one way (not found / hanging / exit 1)."""

    def __init__(self, inner: Host, fault: str) -> None:
        self.inner, self.fault = inner, fault
        self.platform, self.description = inner.platform, inner.description
        self.asked: dict[str, list[tuple[str, ...]]] = {}  # probe name -> the commands it ran

    def probes_that_ran_commands(self) -> set[str]:
        return {name for name, argvs in self.asked.items() if argvs}

    def read_text(self, path):
        return self.inner.read_text(path)

    def list_dir(self, path):
        return self.inner.list_dir(path)

    def readlink(self, path):
        return self.inner.readlink(path)

    def env(self, name):
        return self.inner.env(name)

    def library(self, name):
        return self.inner.library(name)

    def nvml(self):
        return None

    def created(self):
        return self.inner.created()

    def run(self, argv, timeout_s=4.0):
        argv = tuple(argv)
        # engine runs each probe in a thread named "probe-<name>"
        self.asked.setdefault(threading.current_thread().name.removeprefix("probe-"), []).append(argv)
        if self.fault == "command-not-found":
            return CommandResult(argv, None, "", "", "not-found")
        if self.fault == "command-hangs":
            time.sleep(min(timeout_s, 0.2))  # a hung command costs its timeout, then says so
            return CommandResult(argv, None, "", f"timed out after {timeout_s:g} s", "timeout")
        return CommandResult(argv, 1, "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "error")


# ------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("fault", FILE_FAULTS + COMMAND_FAULTS)
@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_fault_in_a_capture(probe, fault):
    assert {p.name for p in engine.PROBES} >= set(PROBE_NAMES)
    if fault in COMMAND_FAULTS:
        host = CommandFaultHost(ReplayHost(part1_capture()), fault)
    else:
        files, links, unreadable = faulty_machine(probe, fault)
        host = ReplayHost(part1_capture(files=files, links=links, unreadable=unreadable))
    t0 = time.monotonic()
    report = doctor(host, timeout_s=5)
    assert_report_sane(report, time.monotonic() - t0)
    ran = host.probes_that_ran_commands() if isinstance(host, CommandFaultHost) else set()
    # the part-1 probes read files only (their canonical sources, spec §1)
    assert not ran & {"cpu", "memory", "os", "pci", "kernel"}
    assert_facts(report.facts, probe, fault, ran)


@pytest.mark.parametrize("fault", FILE_FAULTS)
@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_fault_on_disk_through_live_host(tmp_path, probe, fault):
    """The same faults, read by LiveHost from real files (chmod 000 for permission denied)."""
    if fault == "permission-denied" and IS_ROOT:
        pytest.skip("root reads chmod 000 files; the capture variant covers permission denied")
    files, links, _ = faulty_machine(probe, fault)  # permission denied: the healthy files, locked below
    root = materialize(tmp_path / "machine", files, links)
    locked = []
    if fault == "permission-denied":
        for gate in GATES[probe]:
            locked.append(root / gate.lstrip("/"))
            os.chmod(locked[-1], 0)
    try:
        t0 = time.monotonic()
        report = doctor(RootedLiveHost(root), timeout_s=5)
        assert_report_sane(report, time.monotonic() - t0)
        assert_facts(report.facts, probe, fault)
    finally:
        for p in locked:
            os.chmod(p, 0o700)
        if fault == "huge":
            os.remove(root / HUGE_FILE[probe].lstrip("/"))  # do not leave 50 MB in the tmp dirs pytest keeps


# ------------------------------------------------------------------ probes that crash or hang


def _replace_probe(name: str, collect) -> tuple[Probe, ...]:
    return tuple(Probe(p.name, collect, p.empty) if p.name == name else p for p in engine.PROBES)


@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_a_probe_that_raises_becomes_a_crashed_finding(monkeypatch, probe):
    def boom(host):
        raise RuntimeError("boom in the probe")

    monkeypatch.setattr(engine, "PROBES", _replace_probe(probe, boom))
    report = doctor(ReplayHost(part1_capture()), timeout_s=5)
    crashed = [f for f in report.findings if f.severity == Severity.CRASHED]
    assert crashed == [Finding(
        f"probe.{probe}", Severity.CRASHED, f"the {probe} probe failed",
        "RuntimeError: boom in the probe. The facts it gathers are unknown; every other check still ran.",
        "# please report this with a capture of the machine:\ndlkit doctor --capture dlkit-capture.tar.gz",
        ("RuntimeError: boom in the probe",))]
    empty = next(p.empty for p in engine.PROBES if p.name == probe)
    assert getattr(report.facts, probe) == empty
    for other in PROBE_NAMES:
        if other != probe:
            assert getattr(report.facts, other) == getattr(HEALTHY, other)
    assert report.status in ("warning", "error")  # crashed counts as a warning at least
    # every check still ran
    codes = {f.code for f in report.findings}
    assert {"pcie.link-degraded", "nouveau.loaded", "nouveau.not-blacklisted", "memory.ram-below-vram"} <= codes


@pytest.fixture
def release():
    """An event that frees hung probe threads when the test ends (they are daemons anyway)."""
    ev = threading.Event()
    yield ev
    ev.set()


@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_a_probe_that_hangs_is_cut_off(monkeypatch, release, probe):
    def hang(host):
        release.wait(30)
        raise RuntimeError("released")

    monkeypatch.setattr(engine, "PROBES", _replace_probe(probe, hang))
    t0 = time.monotonic()
    report = doctor(ReplayHost(part1_capture()), timeout_s=0.5)
    elapsed = time.monotonic() - t0
    assert 0.4 < elapsed < 3.0
    assert [f for f in report.findings if f.severity == Severity.CRASHED] == [Finding(
        f"probe.{probe}", Severity.CRASHED, f"the {probe} probe failed",
        "did not finish within 0.5 s. The facts it gathers are unknown; every other check still ran.",
        "# please report this with a capture of the machine:\ndlkit doctor --capture dlkit-capture.tar.gz",
        ("did not finish within 0.5 s",))]
    for other in PROBE_NAMES:
        if other != probe:
            assert getattr(report.facts, other) == getattr(HEALTHY, other)


def test_every_probe_hanging_still_returns(monkeypatch, release):
    monkeypatch.setattr(engine, "PROBES", tuple(Probe(p.name, lambda h: release.wait(30), p.empty) for p in engine.PROBES))
    t0 = time.monotonic()
    report = doctor(ReplayHost(part1_capture()), timeout_s=0.5)
    assert time.monotonic() - t0 < 3.0
    assert sorted(f.code for f in report.findings if f.severity == Severity.CRASHED) == \
        sorted(f"probe.{p.name}" for p in engine.PROBES)
    assert report.status == "warning"


def test_a_check_that_raises_becomes_a_crashed_finding(monkeypatch):
    from dlkit.checks import REGISTRY
    from dlkit.checks.registry import Check

    def broken(facts):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(REGISTRY, "pcie.link-degraded", Check("pcie.link-degraded", "x", broken))
    report = doctor(ReplayHost(part1_capture()))
    assert [f for f in report.findings if f.code == "pcie.link-degraded"] == [Finding(
        "pcie.link-degraded", Severity.CRASHED, "the pcie.link-degraded check failed", "ZeroDivisionError: division by zero",
        "# please report this with: dlkit doctor --capture dlkit-capture.tar.gz", ("ZeroDivisionError: division by zero",))]
    assert any(f.code == "nouveau.loaded" and f.severity == Severity.ERROR for f in report.findings)


# ------------------------------------------------------------------ commands through the real LiveHost


def _fake_tool(bin_dir, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    os.chmod(path, 0o755)


@pytest.mark.parametrize("behaviour,status,why", [
    ("absent", "not-found", "`nvidia-smi -q -x`: command not found"),
    ("exec {sleep} 30", "timeout", "`nvidia-smi -q -x`: timed out"),
    ("echo 'Failed to initialize NVML: Driver/library version mismatch'; exit 18", "error",
     "`nvidia-smi -q -x`: exit code 18: Failed to initialize NVML: Driver/library version mismatch"),
    ("printf '\\377\\376 not xml'", "ok", "`nvidia-smi -q -x`: ok"),
])
def test_a_probe_running_a_failing_command(monkeypatch, tmp_path, behaviour, status, why):
    """A probe asks LiveHost for nvidia-smi; whatever the command does, doctor finishes in time."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if behaviour != "absent":
        _fake_tool(bin_dir, "nvidia-smi", behaviour.format(sleep=shutil.which("sleep")))
    monkeypatch.setenv("PATH", str(bin_dir))
    seen: list[CommandResult] = []

    def smi_probe(host):
        r = host.run(["nvidia-smi", "-q", "-x"], timeout_s=0.5)
        seen.append(r)
        return NvidiaDriverFacts(unknown={"version": r.why()})

    monkeypatch.setattr(engine, "PROBES", _replace_probe("nvidia_driver", smi_probe))
    t0 = time.monotonic()
    report = doctor(LiveHost(), timeout_s=3)
    assert time.monotonic() - t0 < 2.5
    assert [r.status for r in seen] == [status]
    assert report.facts.nvidia_driver.unknown == {"version": why}
    assert not [f for f in report.findings if f.severity == Severity.CRASHED]
    if status == "ok":
        assert seen[0].stdout == "\ufffd\ufffd not xml"

