"""The fault matrix: every probe x every way its inputs can fail.

A fault never escapes ``engine.doctor`` as an exception, never makes it overrun its time
bound, and leaves facts that say what is unknown and why (the ``unknown`` maps), while
the other probes' facts stay exactly as on the healthy machine. The machine is the fully
recorded fake desktop of test_golden.py (``full_machine``). Faults are injected twice:
into a capture (ReplayHost; "permission denied" through the manifest's ``unreadable``
map; a failing command through ``CommandFaultHost``, which fails only the commands of
the probe under test) and onto disk under the real LiveHost code (RootedLiveHost).

The python probe's "command" is the child interpreter (``Host.python_probe``): its faults
are the answers a child that cannot start, hangs or crashes gives, and a python.json that
is absent, empty or garbage. No test here starts a real interpreter.
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
from dlkit.facts import (
    CpuFacts,
    CudaFacts,
    CudaToolkit,
    CudnnInstall,
    DkmsFacts,
    EnvFacts,
    GpuFacts,
    KernelFacts,
    KernelLogFacts,
    MemoryFacts,
    NvidiaDriverFacts,
    PciFacts,
    PlatformSecurityFacts,
    PythonFacts,
    TorchFacts,
    XidEvent,
)
from dlkit.host import CommandResult, Host, LiveHost, ReplayHost
from dlkit.host.base import decode
from dlkit.host.nvml import DEFAULT_TIMEOUT_S as NVML_TIMEOUT_S
from dlkit.render import render_json, render_markdown
from dlkit.report import Finding, Severity
from test_golden import (
    CMDLINE,
    CUDNN_HEADER_PATH,
    DEV,
    FELL_OFF,
    GPU0,
    GPU1,
    LIBCUDNN,
    NVRM_LOADING,
    PYTHON,
    SECURE_BOOT_VAR,
    VENV,
    XID13,
    XID79,
    full_capture,
    full_machine,
    python_json,
)
from test_host import IS_ROOT, RootedLiveHost, materialize

PROBE_NAMES = ("cpu", "memory", "os", "pci", "kernel", "nvidia", "cuda", "kernel_log", "security", "dkms", "env",
               "python")
FILE_FAULTS = ("missing", "permission-denied", "empty", "garbage", "non-utf8", "huge")
COMMAND_FAULTS = ("command-not-found", "command-hangs", "command-fails")
# The environment has no files: its values are unset, empty, garbage or not UTF-8.
ENV_FAULTS = ("missing", "empty", "garbage", "non-utf8")
# python.json absent (the capture never asked), empty or garbage; the child's failures come
# as COMMAND_FAULTS (cannot run it / it hangs / it crashes).
PYTHON_FILE_FAULTS = ("missing", "empty", "garbage")
FILE_PROBES = ("cpu", "memory", "os", "pci", "kernel", "nvidia", "cuda", "kernel_log", "security")
FAULTS = {p: FILE_FAULTS + COMMAND_FAULTS for p in FILE_PROBES} | {
    "dkms": COMMAND_FAULTS, "env": ENV_FAULTS + COMMAND_FAULTS, "python": PYTHON_FILE_FAULTS + COMMAND_FAULTS}
TIME_BOUND_S = 2.0  # doctor on a fake machine takes milliseconds; a hang would take the probe timeout
HANG_S = 0.1  # what a hung command costs CommandFaultHost before it says "timed out"

# Meaningless text: control characters, braces and colons, valid UTF-8.
GARBAGE = b"\x00\x1b[2J\x07 ::: }{ \x7f\x01 -- ### \n" * 64
NON_UTF8_TAIL = b"\n\xff\xfe\xe9\n"
HUGE = 50 * 1024 * 1024
FILLER = b"x" * 79 + b"\n"

MACHINE = full_machine()
files0, links0 = MACHINE["files"], MACHINE["links"]
PCI_FILES = sorted(p for p in files0 if p.startswith(DEV + "/"))
MODPROBE = sorted(p for p in files0 if p.startswith("/etc/modprobe.d/"))
NV_INFO = [f"/proc/driver/nvidia/gpus/{GPU0}/information", f"/proc/driver/nvidia/gpus/{GPU1}/information"]
CUDA_JSON = "/usr/local/cuda-12.4/version.json"
# What each probe reads: content faults hit every one of these files.
INPUTS = {
    "cpu": ["/proc/cpuinfo"],
    "memory": ["/proc/meminfo"],
    "os": ["/etc/os-release", "/proc/version"],
    "pci": PCI_FILES,
    "kernel": ["/proc/modules", "/proc/cmdline", *MODPROBE],
    "nvidia": ["/proc/driver/nvidia/version", *NV_INFO],
    "cuda": [CUDA_JSON, CUDNN_HEADER_PATH],
    "kernel_log": ["/var/log/kern.log"],
    "security": [SECURE_BOOT_VAR],
}
# "missing" and "permission denied" hit these paths (a directory stands for all it holds).
GATES = {**INPUTS, "pci": [DEV], "kernel": ["/proc/modules", "/proc/cmdline", "/etc/modprobe.d"],
         "nvidia": ["/proc/driver/nvidia/version", "/proc/driver/nvidia/gpus"]}
# A 50 MB file is the probe's main file (50 MB each for every sysfs attribute would be silly).
HUGE_FILE = {"cpu": "/proc/cpuinfo", "memory": "/proc/meminfo", "os": "/etc/os-release",
             "pci": f"{DEV}/{GPU0}/class", "kernel": "/proc/modules", "nvidia": "/proc/driver/nvidia/version",
             "cuda": CUDA_JSON, "kernel_log": "/var/log/kern.log", "security": SECURE_BOOT_VAR}
# The commands each probe runs on the healthy machine, in order.
COMMANDS = {
    "nvidia": [("nvidia-smi", "-q", "-x")],
    "cuda": [("nvcc", "--version"), ("gcc", "--version"), ("ldconfig", "-p")],
    "kernel_log": [("dmesg",), ("journalctl", "-b", "-1"), ("journalctl", "-b", "-2")],
    "security": [("mokutil", "--sb-state")],
    "dkms": [("dkms", "status")],
}
ENV_VARS = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")
MOKUTIL = ("mokutil", "--sb-state")


def faulty_machine(probe: str | None, fault: str | None) -> dict:
    """The fake desktop (``full_capture`` keyword arguments) with one fault in one probe's inputs
    (none for ``None, None``).

    The Secure Boot probe reads its EFI variable only when mokutil does not answer, so its
    file faults come with mokutil absent.
    """
    m = full_machine()
    files = {p: d.encode() for p, d in m["files"].items()}
    links, unreadable, commands, environ = m["links"], {}, m["commands"], m["environ"]
    python, no_python = m["python"], False
    if probe == "security" and fault in FILE_FAULTS:
        commands = {argv: r for argv, r in commands.items() if argv != MOKUTIL}
    if probe == "env":
        value = {"empty": "", "garbage": decode(GARBAGE)[0],
                 # a capture holds text: bytes that were not UTF-8 arrive replaced
                 "non-utf8": "/usr/local/cuda-12.4/lib64:" + decode(NON_UTF8_TAIL)[0]}.get(fault)
        if fault == "missing":
            environ = {k: v for k, v in environ.items() if k not in ENV_VARS}
        elif fault in ENV_FAULTS:
            environ = environ | {k: value for k in ENV_VARS}
    elif probe == "python":
        if fault == "missing":
            no_python = True
        elif fault == "empty":
            python = {}
        elif fault == "garbage":
            python = {"executable": 42, "requested": PYTHON, "python_version": ["3", "10"], "packages": "torch",
                      "tensorflow": [], "jax": 0, "error": None}
    elif fault == "missing":
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
    return {"files": files, "links": links, "unreadable": unreadable, "commands": commands, "environ": environ,
            "python": python, "no_python": no_python}


# ------------------------------------------------------------------ fault hosts


def failing_command(argv: tuple[str, ...], fault: str, timeout_s: float) -> CommandResult:
    if fault == "command-not-found":
        return CommandResult(argv, None, "", "", "not-found")
    if fault == "command-hangs":
        time.sleep(min(timeout_s, HANG_S))  # a hung command costs its timeout, then says so
        return CommandResult(argv, None, "", f"timed out after {timeout_s:g} s", "timeout")
    if argv[0] == "nvidia-smi":
        return CommandResult(argv, 9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                             "Make sure that the latest NVIDIA driver is installed and running.\n", "", "error")
    return CommandResult(argv, 127, "", f"{argv[0]}: error while loading shared libraries: libfoo.so.1: "
                         "cannot open shared object file: No such file or directory\n", "error")


def failing_child(fault: str) -> dict:
    """What ``Host.python_probe`` answers when the child interpreter cannot start, hangs or crashes
    (the shapes dlkit.host.pyprobe.run_probe builds)."""
    empty = dict.fromkeys(("executable", "python_version", "packages", "torch", "tensorflow", "jax"))
    if fault == "command-not-found":
        return {**empty, "requested": PYTHON, "error": f"cannot run {PYTHON}: no such file"}
    # the child wrote its snapshot (versions, torch/version.py) before it hung or crashed in torch
    snapshot = python_json() | {"imported": [], "elapsed_s": 0.051}
    snapshot["torch"] = {"version": "2.5.1+cu124", "cuda": "12.4", "hip": None,
                         "location": f"{VENV}/lib/python3.10/site-packages/torch", "version_source": "torch/version.py",
                         "imported": False, "cuda_available": None, "device_count": None, "arch_list": None,
                         "cudnn_version": None, "cudnn_error": None, "error": None, "warnings": [], "libraries": None}
    if fault == "command-hangs":
        return snapshot | {"error": "timeout", "timeout_s": 14.0, "stage": "torch.cuda.is_available()"}
    return snapshot | {"error": "crashed: signal 11 (SIGSEGV)", "stage": "import torch",
                       "stderr_tail": "Fatal Python error: Segmentation fault\n\nCurrent thread 0x00007f3a (most recent call first):\n"}


def failing_nvml(fault: str) -> dict | None:
    """NVML's snapshot (dlkit.host.nvml) when the driver interface fails: the binding is absent,
    NVML hangs (a GPU fallen off the bus), or the driver is not loaded."""
    if fault == "command-not-found":
        return None
    init = {"command-hangs": {"ok": False, "error": "timeout", "code": None,
                              "message": f"NVML did not answer within {NVML_TIMEOUT_S:g} s (stuck in nvmlInit_v2)"},
            "command-fails": {"ok": False, "error": "driver-not-loaded", "message": "Driver Not Loaded", "code": 9}}[fault]
    return {"schema": "dlkit.nvml/1", "init": init, "driver_version": None, "nvml_version": None,
            "cuda_driver_version": None, "errors": {}, "gpus": []}


class CommandFaultHost(Host):
    """Another host, with the commands (and NVML, and the child interpreter) of one probe failing
    one way: not found / hanging / failing. The other probes' commands answer as before."""

    def __init__(self, inner: Host, fault: str, probe: str) -> None:
        self.inner, self.fault, self.probe = inner, fault, probe  # probe "*": every probe
        self.platform, self.description = inner.platform, inner.description
        self.asked: dict[str, list[tuple[str, ...]]] = {}  # probe name -> the commands it ran
        self.spent: dict[str, float] = {}  # probe name -> seconds its hangs would cost on a real machine

    def _target(self) -> bool:
        # engine runs each probe in a thread named "probe-<name>"
        name = threading.current_thread().name
        return name.startswith("probe-") if self.probe == "*" else name == f"probe-{self.probe}"

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

    def which(self, name):
        return self.inner.which(name)

    def _spend(self, seconds: float) -> None:
        name = threading.current_thread().name.removeprefix("probe-")
        self.spent[name] = self.spent.get(name, 0.0) + seconds

    def nvml(self):
        if not self._target():
            return self.inner.nvml()
        if self.fault == "command-hangs":
            self._spend(NVML_TIMEOUT_S)  # dlkit.host.nvml gives up after this long
        return failing_nvml(self.fault)

    def python_probe(self, executable, import_frameworks, timeout_s, **kwargs):
        if self._target():
            if self.fault == "command-hangs":
                self._spend(timeout_s)
            return failing_child(self.fault)
        return self.inner.python_probe(executable, import_frameworks, timeout_s, **kwargs)

    def created(self):
        return self.inner.created()

    def run(self, argv, timeout_s=4.0):
        argv = tuple(argv)
        self.asked.setdefault(threading.current_thread().name.removeprefix("probe-"), []).append(argv)
        if not self._target():
            return self.inner.run(argv, timeout_s)
        if self.fault == "command-hangs":
            self._spend(timeout_s)  # what the hang costs on a real machine
        return failing_command(argv, self.fault, timeout_s)


def capture_host(probe: str, fault: str) -> Host:
    if fault in COMMAND_FAULTS:
        return CommandFaultHost(ReplayHost(full_capture()), fault, probe)
    return ReplayHost(full_capture(**faulty_machine(probe, fault)))


def live_host(root, m: dict) -> RootedLiveHost:
    return RootedLiveHost(root, commands=m["commands"], environ=m["environ"], which=full_machine()["live"]["which"],
                          python=None if m["no_python"] else m["python"])


# ------------------------------------------------------------------ what each probe's facts are


def view(facts, probe: str):
    """The facts one probe gathers (the nvidia probe's driver half: its GPUs are checked with the PCI ones)."""
    return facts.nvidia_driver if probe == "nvidia" else getattr(facts, probe)


HEALTHY = doctor(ReplayHost(full_capture())).facts
GARBAGE_TEXT = decode(GARBAGE)[0]
NON_UTF8_TEXT = decode(NON_UTF8_TAIL)[0]
ALL_BDFS = ", ".join(sorted({p.split("/")[5] for p in PCI_FILES}))
NV_SYSFS = "/proc/driver/nvidia/version"
CURRENT_BOOT_COMMANDS = [("dmesg",), ("journalctl", "-k", "-b", "0", "--no-pager"), ("journalctl", "-b", "-0")]
EARLIER_BOOT_COMMANDS = [("journalctl", "-b", "-1"), ("journalctl", "-b", "-2")]
# The commands each probe asks for under each command fault, in order.
ASKED = {
    "nvidia": {"command-not-found": [("nvidia-smi", "-q", "-x"), ("nvidia-smi", "-q"), ("nvidia-smi",), ("nvidia-smi", "-L")],
               "command-hangs": [("nvidia-smi", "-q", "-x")],  # after a hang the other forms would hang too
               "command-fails": [("nvidia-smi", "-q", "-x"), ("nvidia-smi", "-q"), ("nvidia-smi",), ("nvidia-smi", "-L")]},
    "cuda": {"command-not-found": [("nvcc", "--version"), ("gcc", "--version"), ("ldconfig", "-p"), ("/sbin/ldconfig", "-p")],
             "command-hangs": [("nvcc", "--version")],  # StopAfterTimeout: the rest would overrun the bound
             "command-fails": [("nvcc", "--version"), ("gcc", "--version"), ("ldconfig", "-p")]},
    "kernel_log": {**dict.fromkeys(COMMAND_FAULTS, CURRENT_BOOT_COMMANDS + EARLIER_BOOT_COMMANDS),
                   "command-hangs": [("dmesg",)]},  # StopAfterTimeout: the rest would overrun the bound
    "security": dict.fromkeys(COMMAND_FAULTS, [MOKUTIL]),
    "dkms": dict.fromkeys(COMMAND_FAULTS, [("dkms", "status")]),
}


def why(fault: str, argv: tuple[str, ...]) -> str:
    """How a failing command reads in an "unknown, because ..." (see failing_command)."""
    cmd = " ".join(argv)
    return {"command-not-found": f"`{cmd}`: command not found", "command-hangs": f"`{cmd}`: timed out",
            "command-fails": f"`{cmd}`: exit code 127: {argv[0]}: error while loading shared libraries: libfoo.so.1: "
                             "cannot open shared object file: No such file or directory"}[fault]


# The desktop's CUDA stack, its kernel log and its GPUs as sysfs alone sees them, written out.
NVCC_TOOLKIT = CudaToolkit("12.4", "12.4.99", None, "nvcc --version", True)
LOCAL_TOOLKIT = CudaToolkit("12.4", "12.4.0", "/usr/local/cuda-12.4", f"{CUDA_JSON} (/usr/local/cuda -> cuda-12.4)")
NO_VERSION_TOOLKIT = CudaToolkit(None, None, "/usr/local/cuda-12.4", None)  # /usr/local/cuda still points there
CUDNN_FROM_HEADER = CudnnInstall("9.1.0", CUDNN_HEADER_PATH)
CUDNN_FROM_LDCONFIG = CudnnInstall("9.1.0", LIBCUDNN)  # libcudnn.so.9 -> libcudnn.so.9.1.0
XID79_EARLIER = XidEvent(79, GPU1, f"Dec 31 21:12:44 tower kernel: [ 4360.112233] {XID79}", "previous")
XID13_NOW = XidEvent(13, GPU1, f"[ 8211.532191] {XID13}", "current")
DMESG_LOADING = f"dmesg: [    4.305112] {NVRM_LOADING}"
DKMS_LINE = "nvidia/550.54.14, 6.5.0-35-generic, x86_64: installed"
NO_KERNEL_MODULE_LINE = "/proc/driver/nvidia/version has no 'Kernel Module' line"


def sysfs_gpus(named: bool) -> tuple[GpuFacts, ...]:
    """The NVIDIA GPUs when the driver's user space gave no answer: sysfs, and the model the kernel
    module names in /proc/driver/nvidia/gpus (``named``)."""
    name = "NVIDIA GeForce RTX 4090" if named else None
    return (GpuFacts(GPU0, name=name, pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=16, pcie_width_max=16,
                     pcie_source="sysfs", kernel_driver="nvidia", numa_node=0, source="sysfs",
                     pci_vendor_id="0x10de", pci_device_id="0x2684"),
            GpuFacts(GPU1, name=name, pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=8, pcie_width_max=16,
                     pcie_source="sysfs", kernel_driver="nvidia", numa_node=None, source="sysfs",
                     pci_vendor_id="0x10de", pci_device_id="0x2684"))


def unmerged(gpu: GpuFacts) -> GpuFacts:
    """A GPU as nvidia-smi alone reports it: no sysfs driver binding, NUMA node or PCI id
    (the fake machine's nvidia-smi XML prints no pci_device_id)."""
    return dataclasses.replace(gpu, kernel_driver=None, numa_node=None, pci_vendor_id=None, pci_device_id=None)


def expected(probe: str, fault: str):
    """The facts `probe` must report under `fault`, written out by hand."""
    if fault == "non-utf8" and probe in ("cpu", "memory", "os", "pci", "nvidia", "kernel_log"):
        return view(HEALTHY, probe)  # a bad byte after the data loses nothing
    if fault in COMMAND_FAULTS and probe in ("cpu", "memory", "os", "pci", "kernel", "env"):
        return view(HEALTHY, probe)  # a probe that runs no command is unaffected
    if probe == "cpu":
        reason = {"missing": "/proc/cpuinfo missing",
                  "permission-denied": "/proc/cpuinfo permission denied, and py-cpuinfo gave no answer",
                  "empty": "/proc/cpuinfo is empty, and py-cpuinfo gave no answer"}
        if fault in reason:
            return CpuFacts(unknown={"model": reason[fault]})
        return CpuFacts(source="/proc/cpuinfo", unknown={"model": "/proc/cpuinfo has no processor entries"})
    if probe == "memory":
        reason = {"missing": "/proc/meminfo: missing",
                  "permission-denied": "/proc/meminfo: permission denied, and psutil gave no answer"}
        return MemoryFacts(unknown={"total_mib": reason.get(fault, "/proc/meminfo: no MemTotal line, and psutil gave no answer")})
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
        if fault == "non-utf8":
            return dataclasses.replace(HEALTHY.kernel, cmdline=(CMDLINE + "\n" + NON_UTF8_TEXT).strip())
        if fault == "huge":
            return dataclasses.replace(HEALTHY.kernel, modules_available=False, loaded=(),
                                       unknown={"loaded": "/proc/modules has no module lines"})
    if probe == "nvidia":
        answered = NvidiaDriverFacts(  # nvidia-smi answers; the kernel module's own file is faulted
            version="550.54.14", cuda_version="12.4", userspace_version="550.54.14",
            module_versions={"nvidia": "550.54.14"}, probed_gpus=(GPU0, GPU1), source="nvidia-smi -q -x")
        if fault == "missing":  # no /proc/driver/nvidia: the module probed no GPU
            return dataclasses.replace(answered, probed_gpus=(), unknown={"module_version": f"{NV_SYSFS}: missing"})
        if fault == "permission-denied":  # which GPUs the module probed is unknown, not "none"
            return dataclasses.replace(answered, probed_gpus=(), unknown={
                "module_version": f"{NV_SYSFS}: permission denied",
                "probed_gpus": "/proc/driver/nvidia/gpus: permission denied"})
        if fault in FILE_FAULTS:  # empty, garbage, huge
            return dataclasses.replace(answered, unknown={"module_version": NO_KERNEL_MODULE_LINE})
        failure = {"command-not-found": ("not-found", "`nvidia-smi -q -x`: command not found"),
                   "command-hangs": ("timeout", "NVML did not answer within 4 s (stuck in nvmlInit_v2)"),
                   "command-fails": ("driver-not-loaded", "Failed to initialize NVML: Driver Not Loaded")}[fault]
        return NvidiaDriverFacts(version="550.54.14", module_version="550.54.14", module_versions={"nvidia": "550.54.14"},
                                 probed_gpus=(GPU0, GPU1), failure=failure[0], failure_text=failure[1],
                                 source=NV_SYSFS, unknown={"cuda_version": "no NVML or nvidia-smi answer that states it"})
    if probe == "cuda":
        if fault in COMMAND_FAULTS:
            ldconfig = ("/sbin/ldconfig", "-p") if fault == "command-not-found" else ("ldconfig", "-p")
            return CudaFacts(toolkits=(LOCAL_TOOLKIT,), cudnn=(CUDNN_FROM_HEADER,), unknown={
                "nvcc": why(fault, ("nvcc", "--version")), "gcc_version": why(fault, ("gcc", "--version")),
                "cudnn_ldconfig": why(fault, ldconfig)})
        reason = {"missing": f"{CUDA_JSON}: missing", "permission-denied": f"{CUDA_JSON}: permission denied"}.get(
            fault, f"{CUDA_JSON}: no cuda.version entry")  # non-utf8: bytes after the JSON break the document
        header_read = fault in ("non-utf8", "huge")  # the header survives these (huge hits version.json only)
        return CudaFacts(toolkits=(NVCC_TOOLKIT, NO_VERSION_TOOLKIT), gcc_version="11.4.0",
                         cudnn=((CUDNN_FROM_HEADER,) if header_read else ()) + (CUDNN_FROM_LDCONFIG,),
                         unknown={"toolkit /usr/local/cuda-12.4":
                                  f"{reason}; /usr/local/cuda-12.4/version.txt: missing (/usr/local/cuda -> cuda-12.4)"})
    if probe == "kernel_log":
        if fault in COMMAND_FAULTS:  # no current-boot log: every kern.log line counts as an earlier boot
            return KernelLogFacts(
                xids=(XID79_EARLIER,),
                nvrm_messages=(f"/var/log/kern.log: Dec 31 21:12:44 tower kernel: [ 4360.112240] {FELL_OFF}",
                               f"/var/log/kern.log: Jan  1 00:00:05 tower kernel: [    4.305112] {NVRM_LOADING}"),
                sources=("/var/log/kern.log",),
                unknown={"current_boot": "; ".join(why(fault, argv) for argv in CURRENT_BOOT_COMMANDS)
                         + " (file lines are counted as earlier boots)"})
        this_boot = KernelLogFacts(xids=(XID13_NOW,), nvrm_messages=(DMESG_LOADING,), sources=("dmesg", "/var/log/kern.log"))
        no_earlier = "no /var/log/kern.log, /var/log/messages or journal of earlier boots"
        if fault == "missing":
            return dataclasses.replace(this_boot, sources=("dmesg",), unknown={"earlier_boots": no_earlier})
        if fault == "permission-denied":
            return dataclasses.replace(this_boot, sources=("dmesg",), unknown={
                "/var/log/kern.log": "permission denied", "earlier_boots": no_earlier})
        if fault == "huge":
            return dataclasses.replace(this_boot, unknown={
                "/var/log/kern.log": "only the first 4 MiB were read; its newest lines are missing"})
        return this_boot  # empty, garbage: read, nothing in it
    if probe == "security":
        if fault in COMMAND_FAULTS:  # the EFI variable answers instead
            return PlatformSecurityFacts(secure_boot=True, secure_boot_source=SECURE_BOOT_VAR)
        reason = {"missing": f"{SECURE_BOOT_VAR}: missing; /sys/firmware: missing (container?)",
                  "permission-denied": f"{SECURE_BOOT_VAR}: permission denied"}.get(
            fault, f"{SECURE_BOOT_VAR}: unexpected content")
        return PlatformSecurityFacts(unknown={"secure_boot": f"`mokutil --sb-state`: command not found; {reason}"})
    if probe == "dkms":
        return DkmsFacts(None, "6.5.0-35-generic", (), why(fault, ("dkms", "status")))
    if probe == "env":
        value = {"missing": None, "empty": "", "garbage": GARBAGE_TEXT,
                 "non-utf8": "/usr/local/cuda-12.4/lib64:\n\ufffd\ufffd\ufffd\n"}[fault]
        return EnvFacts(value, value, value)
    if probe == "python":
        if fault == "missing":
            return PythonFacts(executable=PYTHON, chosen_by="VIRTUAL_ENV", unknown={"python": f"{PYTHON}: no answer"})
        if fault in ("empty", "garbage"):
            return PythonFacts(chosen_by="import" if fault == "empty" else "VIRTUAL_ENV", unknown={
                "executable": "the report does not name the interpreter", "python_version": "not reported",
                "packages": "not reported"})
        if fault == "command-not-found":
            cannot = f"cannot run {PYTHON}: no such file"
            return PythonFacts(chosen_by="VIRTUAL_ENV", unknown=dict.fromkeys(
                ("executable", "python_version", "packages", "torch"), cannot))
        if fault == "command-hangs":
            error = None
            reason = "the child interpreter did not answer within 14 s during `torch.cuda.is_available()` (hung?)"
        else:
            error = reason = "the child interpreter crashed: signal 11 (SIGSEGV) during `import torch`"
        return dataclasses.replace(HEALTHY.python, torch=TorchFacts(version="2.5.1+cu124", cuda="12.4", error=error),
                                   unknown={"torch.cuda_available": reason})
    raise AssertionError((probe, fault))


def expected_side_effects(probe: str, fault: str) -> dict:
    """Other probes' facts that a fault changes too, because they read the same input."""
    if probe == "os" and fault in ("missing", "permission-denied", "empty", "garbage"):
        # dkms reads the running kernel from /proc/version as well
        return {"dkms": DkmsFacts(None, None, (DKMS_LINE,), "/proc/version: running kernel unknown")}
    return {}


def expected_gpus(probe: str, fault: str) -> tuple[tuple[GpuFacts, ...], tuple[GpuFacts, ...]]:
    """(gpus, other_gpus): the merge of the PCI and the nvidia probes' facts."""
    if probe == "pci" and fault == "huge":  # GPU0 is no PCI device any more; GPU1 still is
        return (unmerged(HEALTHY.gpus[0]), HEALTHY.gpus[1]), HEALTHY.other_gpus
    if probe == "pci" and fault in ("missing", "permission-denied", "empty", "garbage", "raises", "hangs"):
        return tuple(unmerged(g) for g in HEALTHY.gpus), ()
    if probe == "nvidia" and fault in COMMAND_FAULTS + ("raises", "hangs"):
        return sysfs_gpus(named=fault in COMMAND_FAULTS), HEALTHY.other_gpus
    return HEALTHY.gpus, HEALTHY.other_gpus


def assert_facts(facts, probe: str, fault: str) -> None:
    assert view(facts, probe) == expected(probe, fault)
    side = expected_side_effects(probe, fault)
    for other in PROBE_NAMES:
        if other != probe:
            assert view(facts, other) == side.get(other, view(HEALTHY, other)), f"{other} changed by a fault in {probe}"
    assert (facts.gpus, facts.other_gpus) == expected_gpus(probe, fault)


def assert_report_sane(report, elapsed: float) -> None:
    assert elapsed < TIME_BOUND_S
    crashed = [f for f in report.findings if f.severity == Severity.CRASHED]
    assert crashed == []
    assert report.status in ("ok", "warning", "error")
    doc = report.to_json()
    assert doc["schema"] == "dlkit.doctor/1"
    # every way of writing the report out works on what the fault left
    render_json(report).encode("utf-8")
    render_markdown(report, "fault").encode("utf-8")


# ------------------------------------------------------------------ the matrix

# Faults under which the product is wrong today (reported with the fix): the test states
# the right facts and is expected to fail until the fix lands (strict: it then passes and
# must lose its mark).
KNOWN_BUGS: dict = {}


def matrix(probes=PROBE_NAMES, faults=None) -> list:
    return [pytest.param(p, f, marks=KNOWN_BUGS.get((p, f), ()), id=f"{p}-{f}")
            for p in probes for f in FAULTS[p] if faults is None or f in faults]


def test_the_matrix_covers_every_probe():
    """A new probe must join the matrix (and say how its inputs fail)."""
    assert tuple(p.name for p in engine.make_probes()) == PROBE_NAMES
    assert tuple(p.name for p in getattr(engine, "PROBES", engine.make_probes())) == PROBE_NAMES
    assert set(FAULTS) == set(PROBE_NAMES)


def test_the_commands_each_probe_runs_on_the_healthy_desktop():
    host = CommandFaultHost(ReplayHost(full_capture()), "command-fails", "no probe")  # fails nothing
    assert view(doctor(host).facts, "nvidia") == view(HEALTHY, "nvidia")
    assert host.asked == COMMANDS


@pytest.mark.parametrize("probe,fault", matrix())
def test_fault_in_a_capture(probe, fault):
    host = capture_host(probe, fault)
    t0 = time.monotonic()
    report = doctor(host, timeout_s=5)
    assert_report_sane(report, time.monotonic() - t0)
    if isinstance(host, CommandFaultHost):
        # only these probes run commands; the part-1 probes read files only (spec §1)
        assert host.probes_that_ran_commands() == set(COMMANDS)
        assert host.asked.get(probe, []) == ASKED.get(probe, {}).get(fault, [])
    assert_facts(report.facts, probe, fault)


@pytest.mark.parametrize("fault", COMMAND_FAULTS)
def test_every_command_failing_at_once(fault):
    """NVML, every command and the child interpreter fail together: each probe says what it could not
    learn, exactly as when it fails alone."""
    host = CommandFaultHost(ReplayHost(full_capture()), fault, "*")
    t0 = time.monotonic()
    report = doctor(host, timeout_s=5)
    assert_report_sane(report, time.monotonic() - t0)
    assert {p: host.asked[p] for p in COMMANDS} == {p: ASKED[p][fault] for p in COMMANDS}
    for probe in PROBE_NAMES:
        assert view(report.facts, probe) == expected(probe, fault), probe
    assert (report.facts.gpus, report.facts.other_gpus) == expected_gpus("nvidia", fault)


@pytest.mark.parametrize("probe", [
    "nvidia",  # NVML 4 s + nvidia-smi -q -x 8 s, within its 13 s
    "cuda",  # nvcc hangs: gcc and ldconfig are not run (StopAfterTimeout)
    "kernel_log",  # dmesg hangs: the journalctl fallbacks and earlier boots are not run
    "security", "dkms", "python"])
def test_a_probe_whose_commands_all_hang_still_fits_its_time_bound(probe):
    """What the hangs would cost on a real machine (each command its full timeout, NVML its 4 s, the
    child interpreter its timeout) fits in the time the engine gives the probe: otherwise the probe is
    cut off and reports nothing it learned."""
    host = CommandFaultHost(ReplayHost(full_capture()), "command-hangs", probe)
    doctor(host, timeout_s=engine.DEFAULT_TIMEOUT_S)
    bound = max(engine.DEFAULT_TIMEOUT_S, next(p.min_timeout_s for p in engine.make_probes() if p.name == probe))
    assert 0 < host.spent[probe] <= bound


@pytest.mark.parametrize("probe,fault", matrix(FILE_PROBES, FILE_FAULTS))
def test_fault_on_disk_through_live_host(tmp_path, probe, fault):
    """The same faults, read by LiveHost from real files (chmod 000 for permission denied)."""
    if fault == "permission-denied" and IS_ROOT:
        pytest.skip("root reads chmod 000 files; the capture variant covers permission denied")
    m = faulty_machine(probe, fault)  # permission denied: the healthy files, locked below
    root = materialize(tmp_path / "machine", m["files"], m["links"])
    locked = []
    if fault == "permission-denied":
        for gate in GATES[probe]:
            locked.append(root / gate.lstrip("/"))
            os.chmod(locked[-1], 0)
    try:
        t0 = time.monotonic()
        report = doctor(live_host(root, m), timeout_s=5)
        assert_report_sane(report, time.monotonic() - t0)
        assert_facts(report.facts, probe, fault)
    finally:
        for p in locked:
            os.chmod(p, 0o700)
        if fault == "huge":
            os.remove(root / HUGE_FILE[probe].lstrip("/"))  # do not leave 50 MB in the tmp dirs pytest keeps


def test_the_healthy_desktop_on_disk_reads_as_its_capture(tmp_path):
    """The matrix's two halves start from the same machine."""
    m = faulty_machine(None, None)
    root = materialize(tmp_path / "machine", m["files"], m["links"])
    assert doctor(live_host(root, m)).to_json() == doctor(ReplayHost(full_capture())).to_json()


# ------------------------------------------------------------------ probes that crash or hang


def use_probes(monkeypatch, probes: tuple[Probe, ...]) -> None:
    """Make doctor run ``probes``, whatever timeout and --python it is given (engine.gather takes
    engine.PROBES only for the default timeout and no --python, else calls engine.make_probes)."""
    monkeypatch.setattr(engine, "PROBES", probes, raising=False)
    monkeypatch.setattr(engine, "make_probes", lambda python=None, timeout_s=engine.DEFAULT_TIMEOUT_S: probes)


def replace_probe(name: str, collect, min_timeout_s: float = 0.0) -> tuple[Probe, ...]:
    """The real probe set with one probe's collect replaced (its min timeout is the test's to choose)."""
    return tuple(Probe(p.name, collect, p.empty, min_timeout_s) if p.name == name else p for p in engine.make_probes())


def crash(probe: str, why: str) -> Finding:
    return Finding(
        f"probe.{probe}", Severity.CRASHED, f"the {probe} probe failed",
        f"{why}. The facts it gathers are unknown; every other check still ran.",
        "# please report this with a capture of the machine:\ndlkit doctor --capture dlkit-capture.tar.gz", (why,))


def empty_view(probe: str):
    empty = next(p.empty for p in engine.make_probes() if p.name == probe)
    return empty.driver if probe == "nvidia" else empty


@pytest.mark.parametrize("probe", PROBE_NAMES)
def test_a_probe_that_raises_becomes_a_crashed_finding(monkeypatch, probe):
    def boom(host):
        raise RuntimeError("boom in the probe")

    use_probes(monkeypatch, replace_probe(probe, boom))
    report = doctor(ReplayHost(full_capture()), timeout_s=5)
    assert [f for f in report.findings if f.severity == Severity.CRASHED] == [
        crash(probe, "RuntimeError: boom in the probe")]
    assert view(report.facts, probe) == empty_view(probe)
    for other in PROBE_NAMES:
        if other != probe:
            assert view(report.facts, other) == view(HEALTHY, other)
    assert (report.facts.gpus, report.facts.other_gpus) == expected_gpus(probe, "raises")
    assert report.status in ("warning", "error")  # crashed counts as a warning at least
    # every check still ran
    assert {f.code for f in report.findings} == {f"probe.{probe}"} | set(engine.REGISTRY)


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

    use_probes(monkeypatch, replace_probe(probe, hang))
    t0 = time.monotonic()
    report = doctor(ReplayHost(full_capture()), timeout_s=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 2.3
    assert [f for f in report.findings if f.severity == Severity.CRASHED] == [crash(probe, "did not finish within 0.3 s")]
    assert view(report.facts, probe) == empty_view(probe)
    for other in PROBE_NAMES:
        if other != probe:
            assert view(report.facts, other) == view(HEALTHY, other)
    assert (report.facts.gpus, report.facts.other_gpus) == expected_gpus(probe, "hangs")


def test_a_hanging_probe_gets_at_least_its_min_timeout(monkeypatch, release):
    """The bound of a probe is max(--timeout, its min_timeout_s): a slow probe (nvidia-smi waking the
    driver, torch importing) is not cut off by a short --timeout, and doctor still returns by then."""
    def hang(host):
        release.wait(30)

    probes = tuple(Probe(p.name, hang, p.empty, 1.0) if p.name == "nvidia" else
                   Probe(p.name, hang, p.empty) if p.name == "python" else p for p in engine.make_probes())
    use_probes(monkeypatch, probes)
    t0 = time.monotonic()
    report = doctor(ReplayHost(full_capture()), timeout_s=0.2)
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 3.0
    assert sorted((f for f in report.findings if f.severity == Severity.CRASHED), key=lambda f: f.code) == [
        crash("nvidia", "did not finish within 1 s"), crash("python", "did not finish within 0.2 s")]


def test_every_probe_hanging_still_returns(monkeypatch, release):
    use_probes(monkeypatch, tuple(Probe(p.name, lambda h: release.wait(30), p.empty) for p in engine.make_probes()))
    t0 = time.monotonic()
    report = doctor(ReplayHost(full_capture()), timeout_s=0.3)
    assert time.monotonic() - t0 < 2.3
    assert sorted(f.code for f in report.findings if f.severity == Severity.CRASHED) == \
        sorted(f"probe.{name}" for name in PROBE_NAMES)
    assert report.status == "warning"


def test_the_probe_set_and_its_time_bounds():
    probes = engine.make_probes()
    assert [(p.name, p.min_timeout_s) for p in probes] == [
        ("cpu", 0.0), ("memory", 0.0), ("os", 0.0), ("pci", 0.0), ("kernel", 0.0), ("nvidia", 13.0), ("cuda", 0.0),
        ("kernel_log", 0.0), ("security", 0.0), ("dkms", 0.0), ("env", 0.0), ("python", 15.0)]
    # what a probe that crashed or hung leaves: nothing known
    assert [p.empty for p in probes if p.name != "nvidia"] == [
        CpuFacts(), MemoryFacts(), engine.OsFacts(), PciFacts(), KernelFacts(), CudaFacts(), KernelLogFacts(),
        PlatformSecurityFacts(), DkmsFacts(), EnvFacts(), PythonFacts()]
    nvidia = next(p.empty for p in probes if p.name == "nvidia")
    assert (nvidia.driver, nvidia.report, nvidia.probed_names) == (NvidiaDriverFacts(), None, {})


@pytest.mark.parametrize("timeout_s,child_timeout_s", [(5.0, 14.0), (0.5, 14.0), (30.0, 29.0)])
def test_the_python_probe_asks_its_child_with_the_framework_timeout(monkeypatch, timeout_s, child_timeout_s):
    """The child interpreter gets max(--timeout, 15 s) less a second, so that it answers (or says it
    timed out) before the engine cuts the probe off; it imports the frameworks when an NVIDIA driver is here."""
    calls = []
    monkeypatch.setattr(engine.frameworks, "collect", lambda *args: calls.append(args) or PythonFacts())
    host = ReplayHost(full_capture())
    python = next(p for p in engine.make_probes("/opt/py/bin/python", timeout_s) if p.name == "python")
    python.collect(host)
    no_driver = ReplayHost(full_capture(**faulty_machine("nvidia", "missing")))
    python.collect(no_driver)
    assert calls == [(host, "/opt/py/bin/python", True, child_timeout_s),
                     (no_driver, "/opt/py/bin/python", False, child_timeout_s)]


def test_doctor_passes_timeout_and_python_to_the_probe_set(monkeypatch):
    seen = []
    real = engine.make_probes
    def recording(python=None, timeout_s=engine.DEFAULT_TIMEOUT_S):
        seen.append((python, timeout_s))
        return real(python, timeout_s)

    monkeypatch.setattr(engine, "make_probes", recording)
    doctor(ReplayHost(full_capture()), timeout_s=7.5, python="/opt/py/bin/python")
    doctor(ReplayHost(full_capture()), timeout_s=0.5)
    assert seen == [("/opt/py/bin/python", 7.5), (None, 0.5)]


def test_a_python_json_whose_torch_is_not_an_object_leaves_torch_unknown():
    facts = doctor(ReplayHost(full_capture(python=python_json() | {"torch": "2.5.1+cu124"}))).facts.python
    assert facts.torch is None
    assert "torch" in facts.unknown


def test_a_check_that_raises_becomes_a_crashed_finding(monkeypatch):
    from dlkit.checks import REGISTRY
    from dlkit.checks.registry import Check

    def broken(facts):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(REGISTRY, "pcie.link-degraded", Check("pcie.link-degraded", "x", broken))
    report = doctor(ReplayHost(full_capture()))
    assert [f for f in report.findings if f.code == "pcie.link-degraded"] == [Finding(
        "pcie.link-degraded", Severity.CRASHED, "the pcie.link-degraded check failed", "ZeroDivisionError: division by zero",
        "# please report this with: dlkit doctor --capture dlkit-capture.tar.gz", ("ZeroDivisionError: division by zero",))]
    assert any(f.code == "nouveau.loaded" and f.severity == Severity.ERROR for f in report.findings)


# ------------------------------------------------------------------ commands through the real LiveHost


def _fake_tool(bin_dir, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    os.chmod(path, 0o755)


@pytest.mark.parametrize("behaviour,status,why_not", [
    ("absent", "not-found", "`nvidia-smi -q -x`: command not found"),
    ("exec {sleep} 30", "timeout", "`nvidia-smi -q -x`: timed out"),
    ("echo 'Failed to initialize NVML: Driver/library version mismatch'; exit 18", "error",
     "`nvidia-smi -q -x`: exit code 18: Failed to initialize NVML: Driver/library version mismatch"),
    ("printf '\\377\\376 not xml'", "ok", "`nvidia-smi -q -x`: ok"),
])
def test_a_probe_running_a_failing_command(monkeypatch, tmp_path, behaviour, status, why_not):
    """A probe asks LiveHost for nvidia-smi; whatever the command does, doctor finishes in time.
    The other probes are stubs that answer at once (this test is about the one command)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if behaviour != "absent":
        _fake_tool(bin_dir, "nvidia-smi", behaviour.format(sleep=shutil.which("sleep")))
    monkeypatch.setenv("PATH", str(bin_dir))
    seen: list[CommandResult] = []

    def smi_probe(host):
        r = host.run(["nvidia-smi", "-q", "-x"], timeout_s=0.5)
        seen.append(r)
        return engine.nvidia.NvidiaState(NvidiaDriverFacts(unknown={"version": r.why()}), None, {})

    use_probes(monkeypatch, tuple(Probe(p.name, smi_probe if p.name == "nvidia" else (lambda h, e=p.empty: e), p.empty)
                                  for p in engine.make_probes()))
    t0 = time.monotonic()
    report = doctor(LiveHost(), timeout_s=3)
    assert time.monotonic() - t0 < 2.5
    assert [r.status for r in seen] == [status]
    assert report.facts.nvidia_driver == NvidiaDriverFacts(unknown={"version": why_not})
    assert not [f for f in report.findings if f.severity == Severity.CRASHED]
    if status == "ok":
        assert seen[0].stdout == "\ufffd\ufffd not xml"


# ------------------------------------------------------------------ odd facts reach the checks


def _odd_facts():
    from dlkit.facts import BuildFacts, CpuFacts, CudaFacts, CudaToolkit, GpuFacts, GpuPart, MemoryFacts, PythonFacts, RunFacts, TorchFacts, Facts
    gpu = GpuFacts(pci_bus_id=None, vendor=None, name=None, compute_capability="N/A", power_limit_w=0.0,
                   memory_total_mib=0, pcie_width_max=0)
    return Facts(run=RunFacts(None, "t"), cpu=CpuFacts(model="N/A", logical_cores=0, physical_cores=0),
                 memory=MemoryFacts(total_mib=0), gpus=(gpu, gpu), other_gpus=(gpu,),
                 cuda=CudaFacts(toolkits=(CudaToolkit(version="N/A", on_path=True),)),
                 python=PythonFacts(torch=TorchFacts(version="?", cuda="N/A", cudnn_version=0)),
                 build=BuildFacts(psu_w=0, circuit_continuous_w=0, board_slots=0, cpu_tdp_w=0, cpu_lanes_usable=0,
                                  gpus=(GpuPart(),)))


def test_odd_facts_never_crash_a_check():
    """"N/A" versions, zeros, None vendors: every check returns a finding, none crashes."""
    from dlkit.checks import REGISTRY
    findings = engine.run_checks(_odd_facts(), sorted(REGISTRY))
    crashed = [(f.code, f.detail) for f in findings if f.severity == Severity.CRASHED]
    assert crashed == []
    sev = {f.code: f.severity for f in findings}
    # a zero PSU, circuit, slot count, thread count or RAM is "unknown", not a verdict
    for code in ("power.budget-exceeded", "power.circuit-exceeded", "build.slots-insufficient",
                 "cpu.cores-per-gpu", "memory.ram-below-vram", "cuda.toolkit-mismatch"):
        assert sev[code] == Severity.SKIPPED, code
