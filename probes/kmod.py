"""Kernel modules: what is loaded, what is blacklisted, and the kernel command line.

Canonical sources: ``/proc/modules`` (``lsmod``), ``/proc/cmdline``, the modprobe.d
directories (``grep -r nouveau /etc/modprobe.d /lib/modprobe.d /usr/lib/modprobe.d``),
``/proc/driver/nvidia/version`` (``cat /proc/driver/nvidia/version``).
"""

from __future__ import annotations

import re

from dlkit.facts import KernelFacts
from dlkit.host import Host

GPU_MODULES = ("nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia_peermem", "nouveau",
               "amdgpu", "radeon", "i915", "xe", "vfio_pci")
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/usr/local/lib/modprobe.d")


def parse_modules(text: str) -> list[str]:
    """Names of loaded modules; /proc/modules is "name size refcount deps state offset".

    >>> parse_modules("nvidia_drm 49152 0 - Live 0xffffffffc0544000 (POE)\\nnouveau 1495040 0 - Live 0x0\\n")
    ['nvidia_drm', 'nouveau']
    """
    names = []
    for line in text.splitlines():
        parts = line.split()
        # lsmod's header ("Module Size Used by") is not a module
        if len(parts) >= 2 and parts[1].isdecimal():
            names.append(parts[0])
    return names


def nouveau_blacklist_lines(path: str, text: str) -> list[str]:
    """modprobe.d lines that keep nouveau from loading.

    >>> nouveau_blacklist_lines("/etc/modprobe.d/x.conf", "# blacklist nouveau\\nblacklist nouveau\\noptions nouveau modeset=0\\n")
    ['/etc/modprobe.d/x.conf: blacklist nouveau', '/etc/modprobe.d/x.conf: options nouveau modeset=0']
    """
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        words = line.split()
        if len(words) >= 2 and words[1] == "nouveau" and (
            words[0] == "blacklist"
            or (words[0] == "install" and any(w.endswith(("/false", "/true")) for w in words[2:]))
            or (words[0] == "options" and "modeset=0" in words[2:])
        ):
            out.append(f"{path}: {line}")
    return out


def cmdline_blacklist(cmdline: str) -> list[str]:
    """Examples:
    
    >>> cmdline_blacklist("BOOT_IMAGE=/vmlinuz quiet rd.driver.blacklist=nouveau nouveau.modeset=0")
    ['/proc/cmdline: rd.driver.blacklist=nouveau', '/proc/cmdline: nouveau.modeset=0']
    """
    out = []
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key in ("modprobe.blacklist", "rd.driver.blacklist", "module_blacklist") and "nouveau" in value.split(","):
            out.append(f"/proc/cmdline: {word}")
        elif word == "nouveau.modeset=0":
            out.append(f"/proc/cmdline: {word}")
    return out


def collect(host: Host) -> KernelFacts:
    unknown: dict[str, str] = {}
    r = host.read_text("/proc/modules")
    loaded: list[str] = []
    modules_available = r.text is not None
    if r.text is not None:
        names = parse_modules(r.text)
        loaded = [m for m in names if m in GPU_MODULES]
        if not names and r.text.strip():
            # Text but not one "name size ..." line: garbage, not "no module loaded".
            modules_available = False
            unknown["loaded"] = "/proc/modules has no module lines"
    else:
        unknown["loaded"] = f"/proc/modules: {r.error}"
    versions = {}
    for mod in ("nvidia", "nouveau"):
        v = host.read_first_line(f"/sys/module/{mod}/version")
        if v:
            versions[mod] = v

    cmd = host.read_text("/proc/cmdline")
    blacklist = cmdline_blacklist(cmd.text or "")
    files, dirs = [], []
    for d in MODPROBE_DIRS:
        listing = host.list_dir(d)
        if listing.entries is not None:
            dirs.append(d)
        for name in listing.entries or ():
            if not name.endswith(".conf"):
                continue
            f = host.read_text(f"{d}/{name}")
            if f.text is not None:
                files.append(f.path)
                blacklist += nouveau_blacklist_lines(f.path, f.text)
    if not dirs:
        unknown["nouveau_blacklist"] = "no modprobe.d directory could be listed"
    return KernelFacts(
        modules_available=modules_available,
        loaded=tuple(sorted(set(loaded))),
        module_versions=versions,
        cmdline=cmd.text.strip() if cmd.text is not None else None,
        modprobe_dirs=tuple(dirs),
        modprobe_files=tuple(files),
        nouveau_blacklist=tuple(blacklist),
        unknown=unknown,
    )


def parse_driver_version(text: str) -> str | None:
    """The loaded module's version from /proc/driver/nvidia/version.

    >>> parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.59  Wed Jul 19 23:53:34 PDT 2017\\n")
    '384.59'
    >>> parse_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build")
    '550.54.14'
    """
    m = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None
