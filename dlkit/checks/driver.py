"""The NVIDIA kernel driver: loaded at all, matching its user-space library, new enough
for the framework's CUDA, not blocked by Secure Boot (failure-modes.md F02-F04, F09)."""

from __future__ import annotations

from dlkit.catalog import compat, gpu_identity, gpu_support
from dlkit.checks.fixes import per_family
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts, GpuFacts
from dlkit.probes.kernlog import message_boot
from dlkit.report import Finding, Severity

INSTALL_DRIVER = {
    "debian": "sudo ubuntu-drivers install        # Ubuntu; Debian: sudo apt install nvidia-driver\nsudo reboot",
    "rhel": "sudo dnf install akmod-nvidia      # Fedora with RPM Fusion; RHEL: NVIDIA's CUDA repo, dnf module install nvidia-driver\nsudo reboot",
    "arch": "sudo pacman -S nvidia-open         # or nvidia for pre-Turing GPUs\nsudo reboot",
}
RELOAD = ("# the running kernel module and the installed library differ: reboot, or reload the module\n"
          "sudo reboot\n"
          "# without a reboot (stop Xorg/Wayland and GPU jobs first):\n"
          "sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia")


def gpu_advice(g: GpuFacts) -> tuple[str | None, list[str]]:
    """(evidence line, fix lines) naming what a GPU is and which driver branch and PyTorch
    build serve it, from its name or, with no driver, its PCI id (gpu_identity)."""
    found = gpu_identity.identify(g.name, g.pci_vendor_id, g.pci_device_id, g.pci_name, g.memory_total_mib)
    if found.cc is None:
        return None, []
    what = f"{found.name or 'GPU'} ({', '.join(filter(None, (found.arch, 'compute capability ' + found.cc)))})"
    evidence = f"{g.pci_bus_id or '?'}: {what}, identified by {found.basis}"
    fix = [f"# {g.pci_bus_id or 'GPU'} is a {what}"]
    branch = gpu_support.driver_branch(found.cc)
    if branch and branch["status"] == "legacy":
        fix.append(f"# it needs the {branch['branch']} legacy driver branch"
                   + (f" (last release {branch['last_version']})" if branch["last_version"] else "")
                   + f": current drivers do not support {branch['arch']}")
    elif branch:
        fix.append(f"# driver: the {branch['branch']} branch or newer supports {branch['arch']}")
    wheel = gpu_support.wheel_for_cc(found.cc)
    if wheel and wheel.current:
        fix.append(f"# then PyTorch with kernels for it: {wheel.install()}")
    elif wheel:
        fix.append(f"# current PyTorch has no kernels for it; the last release that does is torch "
                   f"{wheel.torch_to or wheel.torch_from} ({wheel.tag}): {wheel.install()}")
    return evidence, fix


def _nvidia_gpus_on_bus(facts: Facts) -> list[str]:
    return [g.pci_bus_id or "?" for g in facts.gpus if g.source == "sysfs" or g.kernel_driver is not None]


@check("driver.not-loaded", "an NVIDIA GPU is present but no NVIDIA kernel module serves it")
def not_loaded(facts: Facts) -> Finding:
    code = "driver.not-loaded"
    d, k = facts.nvidia_driver, facts.kernel
    if d.source == "nvml" or (d.userspace_version and facts.gpus and d.failure is None):
        return ok(code, "the NVIDIA driver answers", evidence=[f"{d.source}: driver {d.version}"])
    if facts.os.wsl:
        # WSL2 has no /proc/driver/nvidia: the Windows driver serves the GPU.
        return skipped(code, "WSL2: the Windows driver serves the GPU")
    smi_says = d.failure == "driver-not-loaded"
    on_bus = _nvidia_gpus_on_bus(facts)
    if not on_bus and not smi_says:
        return skipped(code, "no NVIDIA GPU found on the PCI bus")
    unbound = [g for g in facts.gpus if g.kernel_driver not in (None, "nvidia")]
    module_missing = k.modules_available and not k.is_loaded("nvidia")
    if not (smi_says or module_missing or (unbound and not k.modules_available and d.module_version is None)):
        if d.module_version or k.is_loaded("nvidia") or any(g.kernel_driver == "nvidia" for g in facts.gpus):
            return ok(code, "the NVIDIA kernel module is loaded",
                      evidence=[f"/proc/driver/nvidia/version: {d.module_version}"] if d.module_version else [])
        return skipped(code, "cannot tell: no /proc/modules, no driver binding and no nvidia-smi answer")
    evidence = []
    if module_missing:
        evidence.append("/proc/modules: no nvidia module")
    if smi_says and d.failure_text:
        evidence.append(f"nvidia-smi: {d.failure_text}")
    evidence += [f"/sys/bus/pci/devices/{g.pci_bus_id}/driver -> {g.kernel_driver}" for g in unbound]
    if facts.security.secure_boot:
        evidence.append(f"Secure Boot is enabled ({facts.security.secure_boot_source})")
    if facts.dkms.nvidia_for_running_kernel is False:
        evidence.append(f"dkms status: {facts.dkms.why}; rebuild it: sudo dkms autoinstall (needs linux-headers-$(uname -r))")
    support: list[str] = []
    advised: set[tuple[str, ...]] = set()  # eight identical GPUs get the advice once
    for g in facts.gpus:
        line, fix = gpu_advice(g)
        evidence += [line] if line else []
        if fix and tuple(fix[1:]) not in advised:
            advised.add(tuple(fix[1:]))
            support += fix
    return Finding(
        code, Severity.ERROR, "the NVIDIA driver is not loaded",
        "An NVIDIA GPU is on the PCI bus but no NVIDIA kernel module drives it, so CUDA sees no "
        "device (\"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\"). "
        "Common causes: the driver is not installed, nouveau holds the GPU, Secure Boot rejected "
        "an unsigned module, or the module was not built for the running kernel (DKMS).",
        "sudo modprobe nvidia && nvidia-smi        # does it load? if not, the reason is here:\n"
        "sudo dmesg | grep -iE 'nvrm|nvidia|nouveau' | tail -20\n# install the driver:\n"
        + per_family(facts.os.distro_family, INSTALL_DRIVER) + "".join("\n" + line for line in support),
        tuple(evidence))


@check("driver.library-mismatch", "the loaded kernel module and the user-space driver library differ")
def library_mismatch(facts: Facts) -> Finding:
    code = "driver.library-mismatch"
    d = facts.nvidia_driver
    evidence = []
    if d.module_version and d.userspace_version and compat.vtuple(d.module_version) != compat.vtuple(d.userspace_version):
        evidence.append(f"kernel module {d.module_version} (/proc/driver/nvidia/version) vs user space {d.userspace_version} ({d.source})")
    versions = {v for v in d.module_versions.values()}
    if len(versions) > 1:
        evidence.append("loaded NVIDIA modules differ: " + ", ".join(f"{m} {v}" for m, v in sorted(d.module_versions.items())))
    if d.failure == "library-mismatch":
        evidence.append(f"NVML / nvidia-smi: {d.failure_text or 'Driver/library version mismatch'}")
    module_loaded = d.module_version is not None or facts.kernel.is_loaded("nvidia")
    if d.failure == "library-not-found" and module_loaded:
        evidence.append(f"NVML / nvidia-smi: {d.failure_text or 'NVML library not found'} (while the nvidia module is loaded)")
    # Earlier boots alone prove nothing about the driver running now (spec §2).
    evidence += [f"kernel log (this boot): {line}" for line in facts.kernel_log.nvrm_messages
                 if ("API mismatch" in line or "Version mismatch" in line) and message_boot(line) == "current"][:3]
    if evidence:
        return Finding(
            code, Severity.ERROR, "NVIDIA kernel module and driver library do not match",
            "The user-space driver (libnvidia-ml, libcuda) was upgraded or removed while the old "
            "kernel module stayed loaded, so NVML and CUDA refuse to start (\"Failed to initialize "
            "NVML: Driver/library version mismatch\"). Usually an automatic package upgrade.",
            RELOAD + "\n# keep it from happening again (Debian/Ubuntu): sudo apt-mark hold 'nvidia-*' 'libnvidia-*'",
            tuple(evidence))
    if d.module_version is None or d.userspace_version is None:
        return skipped(code, "needs both the loaded module's version and the user-space driver's")
    return ok(code, "kernel module and driver library agree",
              evidence=[f"module {d.module_version}, user space {d.userspace_version}"])


def _wheel_floor(platform: str) -> str:
    # No framework installed: can any current PyTorch wheel (cu126 or newer) run here?
    return compat.family_min_driver("12.6", platform) or ("527.41" if platform == "windows" else "525.60.13")


@check("driver.too-old-for-cuda", "the driver is older than the framework's CUDA runtime needs")
def too_old_for_cuda(facts: Facts) -> Finding:
    code = "driver.too-old-for-cuda"
    d, py = facts.nvidia_driver, facts.python
    if not d.version:
        return skipped(code, "no NVIDIA driver version known")
    platform = driver_platform(facts)
    torch = py.torch
    if torch is not None and torch.cuda:
        verdict = compat.driver_supports_cuda(d.version, torch.cuda, platform)
        need = compat.min_driver_for_cuda(torch.cuda, platform)
        evidence = (f"driver {d.version} ({d.source}); highest CUDA it supports: {d.cuda_version or 'not stated'}",
                    f"torch {torch.version} is built with CUDA {torch.cuda}, which needs driver >= {need or '?'} ({platform})",
                    f"torch.cuda.is_available(): {torch.cuda_available}")
        if verdict == "yes":
            return ok(code, f"driver {d.version} runs CUDA {torch.cuda}", evidence=evidence)
        if verdict == "unknown":
            return skipped(code, f"no driver requirement known for CUDA {torch.cuda}")
        # spec §2: a warning only while the framework still reports CUDA available
        severity = Severity.WARNING if torch.cuda_available is True else Severity.ERROR
        detail = ("The framework's CUDA runtime is newer than this driver supports"
                  + (": it runs through CUDA minor-version compatibility, but PTX JIT and some "
                     "libraries fail (\"the provided PTX was compiled with an unsupported toolchain\")."
                     if verdict == "minor-compat" else
                     ": \"The NVIDIA driver on your system is too old\" / \"CUDA driver version is insufficient for CUDA runtime version\"."))
        return Finding(code, severity, f"driver {d.version} is too old for CUDA {torch.cuda} (torch {torch.version})", detail,
                       f"# upgrade the driver to >= {need or 'the version CUDA ' + torch.cuda + ' needs'}:\n"
                       + per_family(facts.os.distro_family, INSTALL_DRIVER) + "\n" + _wheel_hint(d, platform), evidence)
    floor = _wheel_floor(platform)
    if compat.vtuple(d.version) and compat.vtuple(floor) and compat.vtuple(d.version) < compat.vtuple(floor):
        return Finding(
            code, Severity.WARNING, f"driver {d.version} is too old for current PyTorch wheels",
            f"Current PyTorch wheels are built with CUDA 12.6 or newer, which needs driver >= {floor} "
            f"on {platform.capitalize()} (CUDA minor-version compatibility floor). Only old framework builds run on this driver.",
            "# upgrade the driver (then check: nvidia-smi shows 'CUDA Version: 12.x' or newer)\n"
            + per_family(facts.os.distro_family, INSTALL_DRIVER),
            (f"driver {d.version} ({d.source})", f"current wheels need >= {floor}"))
    tag = wheel_tag_for(d.cuda_version or compat.max_cuda_for_driver(d.version, platform)) or "cu126"
    cu130 = compat.min_driver_for_cuda("13.0", platform)
    need = f"; cu130 needs >= {cu130}" if cu130 and tag != "cu130" else ""
    return ok(code, f"driver {d.version} runs current PyTorch wheels (newest fitting index: {tag}{need})")


# CUDA tags of the current PyTorch wheel indexes (compatibility.md §5), newest last.
CURRENT_WHEEL_TAGS = ("cu126", "cu128", "cu129", "cu130")


def wheel_tag_for(driver_cuda: str | None) -> str | None:
    """The newest current wheel tag whose CUDA the driver supports ("12.8" -> "cu128")."""
    have = compat.vtuple(driver_cuda or "")
    if not have:
        return None
    cuda = {t: compat.vtuple(f"{t[2:-1]}.{t[-1]}") for t in CURRENT_WHEEL_TAGS}
    fitting = [t for t in CURRENT_WHEEL_TAGS if cuda[t] <= have[:2]]
    if fitting:
        return fitting[-1]
    # A driver of the same CUDA major runs newer minors through minor-version compatibility.
    same_major = [t for t in CURRENT_WHEEL_TAGS if cuda[t][0] == have[0]]
    return same_major[0] if same_major else None


def _wheel_hint(d, platform: str) -> str:
    """Or: the newest current torch wheel this driver can run, when there is one."""
    driver_cuda = d.cuda_version or compat.max_cuda_for_driver(d.version, platform)
    tag = wheel_tag_for(driver_cuda)
    if tag is None:
        return (f"# no current torch wheel runs on this driver (it supports CUDA {driver_cuda or '?'}; "
                "current wheels need 12.6+): upgrading the driver is the fix")
    return ("# or keep the driver and install the torch wheel built for the CUDA it supports:\n"
            f"pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/{tag}")


def driver_platform(facts: Facts) -> str:
    """Whose driver rules apply: WSL2 runs the Windows driver."""
    if facts.os.platform == "windows" or facts.os.wsl or any(g.driver_model in ("WDDM", "TCC") for g in facts.gpus):
        return "windows"
    return "linux"


@check("secureboot.blocks-module", "Secure Boot is on and the NVIDIA module is not loaded")
def secure_boot(facts: Facts) -> Finding:
    code = "secureboot.blocks-module"
    s, k = facts.security, facts.kernel
    if s.secure_boot is None:
        return skipped(code, f"Secure Boot state unknown: {s.unknown.get('secure_boot', 'not probed')}")
    if not s.secure_boot:
        return ok(code, "Secure Boot is off", evidence=[s.secure_boot_source or ""])
    if k.is_loaded("nvidia") or facts.nvidia_driver.module_version:
        return ok(code, "Secure Boot is on and the NVIDIA module is loaded")
    rejected = [m for m in facts.kernel_log.nvrm_messages
                if ("Key was rejected" in m or "unavailable key" in m) and message_boot(m) == "current"]
    nvidia_missing = bool(facts.gpus) and k.modules_available
    if rejected or nvidia_missing:
        return Finding(
            code, Severity.ERROR, "Secure Boot keeps the NVIDIA module from loading",
            "With Secure Boot on, the kernel loads only signed modules; a DKMS-built nvidia.ko signed "
            "with a key that was never enrolled is refused (\"Key was rejected by service\").",
            "# enrol the DKMS signing key, reboot, and confirm in the blue MOK manager screen:\n"
            "sudo mokutil --import /var/lib/dkms/mok.pub      # Ubuntu: /var/lib/shim-signed/mok/MOK.der\n"
            "sudo reboot\n# or use your distribution's pre-signed driver packages, or turn Secure Boot off in the firmware",
            tuple([f"Secure Boot enabled ({s.secure_boot_source})"] + (["/proc/modules: no nvidia module"] if nvidia_missing else []) + rejected[:3]))
    return ok(code, "Secure Boot is on and the NVIDIA module is loaded")
