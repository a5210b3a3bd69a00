"""Platform security and environment: Secure Boot, DKMS, the GPU-related variables.

Canonical source (spec §1): command ``["mokutil", "--sb-state"]`` for Secure Boot; when
mokutil is absent, the EFI variable
``/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c`` (4 attribute
bytes, then one data byte: 1 = enabled). A machine without ``/sys/firmware/efi`` booted
by BIOS has no Secure Boot. ``["dkms", "status"]`` says whether DKMS built the NVIDIA
module for the running kernel (``/proc/version``).

Check by hand: ``mokutil --sb-state``; ``od -An -tx1 /sys/firmware/efi/efivars/SecureBoot-*``;
``dkms status``; ``uname -r``; ``echo $CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import re

from dlkit.facts import DkmsFacts, EnvFacts, PlatformSecurityFacts
from dlkit.host import Host

MOKUTIL = ("mokutil", "--sb-state")
EFI = "/sys/firmware/efi"
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
DKMS = ("dkms", "status")
# DKMS modules named nvidia* that are not the driver (GPUDirect Storage, RDMA peer memory)
NOT_THE_DRIVER = frozenset({"nvidia-fs", "nvidia-peermem", "nvidia-peer-memory", "nv_peer_mem"})


# ---------------------------------------------------------------- pure parsers


def parse_sb_state(text: str) -> bool | None:
    """Secure Boot from ``mokutil --sb-state`` (stdout and stderr together).

    >>> parse_sb_state("SecureBoot enabled\\n"), parse_sb_state("SecureBoot disabled\\n")
    (True, False)
    >>> parse_sb_state("EFI variables are not supported on this system\\n")
    False
    >>> parse_sb_state("This system doesn't support Secure Boot\\n")
    False
    >>> parse_sb_state("SecureBoot enabled\\nSecureBoot validation is disabled in shim\\n")
    False
    >>> parse_sb_state("Failed to read SecureBoot\\n"), parse_sb_state("")
    (None, None)
    """
    text = (text or "").lower()
    # shim with validation disabled (mokutil --disable-validation) loads unsigned modules
    if "validation is disabled" in text:
        return False
    if re.search(r"secureboot\s+enabled", text):
        return True
    if re.search(r"secureboot\s+disabled", text):
        return False
    if "efi variables are not supported" in text or "doesn't support secure boot" in text \
            or "does not support secure boot" in text:
        return False
    return None


def parse_secure_boot_var(text: str) -> bool | None:
    """The SecureBoot EFI variable as the host decodes it: attributes then the data byte.

    >>> parse_secure_boot_var("\\x06\\x00\\x00\\x00\\x01"), parse_secure_boot_var("\\x06\\x00\\x00\\x00\\x00")
    (True, False)
    >>> parse_secure_boot_var(""), parse_secure_boot_var("\\x06\\x00\\x00\\x00\\ufffd")
    (None, None)
    """
    if not text:
        return None
    last = text[-1]
    if last == "\x01":
        return True
    if last == "\x00":
        return False
    return None


def parse_dkms_status(text: str) -> list[dict[str, str | None]]:
    """``dkms status`` lines, old (2.x, commas) and new (3.x, ``name/version``) forms.

    >>> parse_dkms_status("nvidia/550.54.14, 6.5.0-21-generic, x86_64: installed\\n")
    [{'module': 'nvidia', 'version': '550.54.14', 'kernel': '6.5.0-21-generic', 'arch': 'x86_64', 'state': 'installed', 'line': 'nvidia/550.54.14, 6.5.0-21-generic, x86_64: installed'}]
    >>> [d["kernel"] for d in parse_dkms_status("nvidia, 470.82.00, 5.4.0-91-generic, x86_64: installed (WARNING! Diff between built and installed module!)")]
    ['5.4.0-91-generic']
    >>> [(d["kernel"], d["state"]) for d in parse_dkms_status("nvidia/535.183.01: added")]
    [(None, 'added')]
    """
    out: list[dict[str, str | None]] = []
    for line in (text or "").splitlines():
        line = line.strip()
        head, sep, state = line.rpartition(":")
        if not sep or not head:
            continue
        parts = [p.strip() for p in head.split(",")]
        if "/" in parts[0]:
            module, _, version = parts[0].partition("/")
            rest = parts[1:]
        else:
            module, version, rest = parts[0], parts[1] if len(parts) > 1 else None, parts[2:]
        out.append({
            "module": module,
            "version": version or None,
            "kernel": rest[0] if len(rest) > 0 else None,
            "arch": rest[1] if len(rest) > 1 else None,
            "state": state.strip().split(" ", 1)[0] if state.strip() else None,
            "line": line,
        })
    return out


def is_driver_module(name: str | None) -> bool:
    """Whether a DKMS module name is the NVIDIA kernel driver.

    >>> is_driver_module("nvidia"), is_driver_module("nvidia-current"), is_driver_module("nvidia-fs")
    (True, True, False)
    """
    name = (name or "").lower()
    return name.startswith("nvidia") and name not in NOT_THE_DRIVER


def running_kernel(proc_version: str) -> str | None:
    """The running kernel's release (``uname -r``) from ``/proc/version``.

    >>> running_kernel("Linux version 6.5.0-21-generic (buildd@lcy02-amd64-091) (x86_64-linux-gnu-gcc-12) #21~22.04.1-Ubuntu")
    '6.5.0-21-generic'
    """
    m = re.search(r"Linux version (\S+)", proc_version or "")
    return m.group(1) if m else None


# ---------------------------------------------------------------- probes


def collect_secure_boot(host: Host) -> PlatformSecurityFacts:
    if host.platform != "linux":
        return PlatformSecurityFacts(unknown={"secure_boot": f"not checked on {host.platform}"})
    reasons = []
    r = host.run(list(MOKUTIL))
    if r.status in ("ok", "error"):
        # mokutil writes "EFI variables are not supported ..." to stderr and exits 1
        state = parse_sb_state(r.stdout + "\n" + r.stderr)
        if state is not None:
            source = "mokutil --sb-state"
            if "validation is disabled" in (r.stdout + r.stderr).lower():
                source += " (SecureBoot validation is disabled in shim)"
            return PlatformSecurityFacts(secure_boot=state, secure_boot_source=source)
    reasons.append(r.why())

    var = host.read_text(SECURE_BOOT_VAR)
    if var.text is not None:
        state = parse_secure_boot_var(var.text)
        if state is not None:
            return PlatformSecurityFacts(secure_boot=state, secure_boot_source=SECURE_BOOT_VAR)
        reasons.append(f"{SECURE_BOOT_VAR}: unexpected content")
    else:
        reasons.append(f"{SECURE_BOOT_VAR}: {var.error}")

    firmware = host.list_dir("/sys/firmware")
    efi = host.list_dir(EFI)
    if efi.entries is None and firmware.entries:
        # /sys/firmware is there (acpi, dmi, ...) but has no efi: booted by BIOS
        return PlatformSecurityFacts(secure_boot=False, secure_boot_source="no EFI")
    if efi.entries is None:
        # containers mask /sys/firmware: absence there says nothing about the host
        reasons.append("/sys/firmware: " + (firmware.error or "empty") + " (container?)")
    return PlatformSecurityFacts(unknown={"secure_boot": "; ".join(reasons)})


def collect_env(host: Host) -> EnvFacts:
    return EnvFacts(
        cuda_visible_devices=host.env("CUDA_VISIBLE_DEVICES"),
        nvidia_visible_devices=host.env("NVIDIA_VISIBLE_DEVICES"),
        ld_library_path=host.env("LD_LIBRARY_PATH"),
    )


def collect_dkms(host: Host) -> DkmsFacts:
    """True: DKMS shows an nvidia module "installed" for the running kernel. False: DKMS
    manages an nvidia module but not installed for this kernel (kernel upgraded, build
    failed: failure-modes.md F10). None: unknown, or DKMS does not manage nvidia at all
    (distribution-built modules, runfile without DKMS), which is no fault.
    """
    kernel = running_kernel(host.read_text("/proc/version").text or "")
    r = host.run(list(DKMS))
    if not r.ok:
        return DkmsFacts(None, kernel, (), r.why())
    rows = [d for d in parse_dkms_status(r.stdout) if is_driver_module(d["module"])]
    lines = tuple(d["line"] for d in rows)
    if not rows:
        return DkmsFacts(None, kernel, lines, "dkms manages no nvidia module")
    if kernel is None:
        return DkmsFacts(None, None, lines, "/proc/version: running kernel unknown")
    ok = any(d["kernel"] == kernel and d["state"] == "installed" for d in rows)
    return DkmsFacts(ok, kernel, lines, None if ok else f"no nvidia module installed by DKMS for {kernel}")
