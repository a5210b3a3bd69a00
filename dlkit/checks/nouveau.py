"""nouveau, the open-source driver that takes NVIDIA GPUs away from the CUDA driver
(failure-modes.md F08; DCGM's checkDenylist)."""

from __future__ import annotations

from dlkit.checks.fixes import REBUILD_INITRAMFS, per_family
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.report import Finding, Severity

NVIDIA_MODULES = ("nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset")


def _nvidia_present(facts: Facts) -> bool:
    return bool(facts.gpus) or any(facts.kernel.is_loaded(m) for m in NVIDIA_MODULES) \
        or facts.nvidia_driver.version is not None


@check("nouveau.loaded", "nouveau is loaded or bound to an NVIDIA GPU")
def nouveau_loaded(facts: Facts) -> Finding:
    code = "nouveau.loaded"
    bound = [g for g in facts.gpus if g.kernel_driver == "nouveau"]
    loaded = facts.kernel.is_loaded("nouveau")
    if not _nvidia_present(facts):
        return skipped(code, "no NVIDIA GPU or driver found")
    if not facts.kernel.modules_available and not any(g.kernel_driver for g in facts.gpus):
        return skipped(code, f"cannot tell: {facts.kernel.unknown.get('loaded', '/proc/modules unreadable')} and no GPU driver binding known")
    if bound or loaded:
        evidence = [f"/sys/bus/pci/devices/{g.pci_bus_id}/driver -> nouveau" for g in bound]
        if loaded:
            evidence.append("/proc/modules: nouveau " + ("(loaded)" if not facts.kernel.module_versions.get("nouveau") else facts.kernel.module_versions["nouveau"]))
        if facts.kernel.is_loaded("nvidia"):
            evidence.append("/proc/modules: nvidia (loaded at the same time)")
        return Finding(
            code, Severity.ERROR,
            "nouveau is loaded" + (" and drives an NVIDIA GPU" if bound else ""),
            "The open-source nouveau driver claims NVIDIA GPUs before the NVIDIA driver can "
            "(\"NVRM: The NVIDIA probe routine was not called ... nouveau ... obtained ownership\"); "
            "CUDA cannot use a GPU nouveau holds, and both loaded together is fragile.",
            per_family(facts.os.distro_family, REBUILD_INITRAMFS), tuple(evidence))
    if facts.kernel.modules_available:
        return ok(code, "nouveau is not loaded", evidence=["/proc/modules: no nouveau"])
    # /proc/modules unknown: only the GPUs' driver bindings speak, so claim no more than they show.
    return ok(code, "no NVIDIA GPU is bound to nouveau",
              evidence=[f"/sys/bus/pci/devices/{g.pci_bus_id}/driver -> {g.kernel_driver}" for g in facts.gpus if g.kernel_driver])


@check("nouveau.not-blacklisted", "the NVIDIA driver is installed but nouveau is not blacklisted")
def nouveau_not_blacklisted(facts: Facts) -> Finding:
    code = "nouveau.not-blacklisted"
    k = facts.kernel
    if not k.modules_available and not k.modprobe_dirs:
        return skipped(code, "no /proc/modules and no modprobe.d configuration to read")
    nvidia_driver = any(k.is_loaded(m) for m in NVIDIA_MODULES) or facts.nvidia_driver.version is not None
    if not nvidia_driver:
        return skipped(code, "the NVIDIA driver is not loaded")
    if k.nouveau_blacklist:
        return ok(code, "nouveau is blacklisted", evidence=k.nouveau_blacklist)
    if not k.modprobe_dirs:
        return skipped(code, f"cannot tell: {k.unknown.get('nouveau_blacklist', 'modprobe.d unreadable')}")
    return Finding(
        code, Severity.WARNING,
        "nouveau is not blacklisted",
        "The NVIDIA driver is loaded, but nothing stops nouveau from loading first after a kernel "
        "or initramfs update, which takes the GPU away from CUDA.",
        per_family(facts.os.distro_family, REBUILD_INITRAMFS),
        (f"searched: {', '.join(k.modprobe_files) or 'no .conf files'} in {', '.join(k.modprobe_dirs)}",
         f"/proc/cmdline: {k.cmdline or '(unreadable)'}"))
