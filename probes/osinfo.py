"""Operating system: distribution, kernel, WSL, container, virtual machine.

Canonical sources: ``/etc/os-release``, ``/proc/version`` (check by hand:
``cat /etc/os-release /proc/version``). A container shows ``/.dockerenv`` (Docker),
``/run/.containerenv`` (Podman) or a cgroup path naming its runtime; a virtual machine
shows in the DMI product strings (``cat /sys/class/dmi/id/sys_vendor``).
"""

from __future__ import annotations

import re
import shlex

from dlkit.facts import OsFacts
from dlkit.host import Host

FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "linuxmint": "debian", "pop": "debian", "raspbian": "debian",
    "rhel": "rhel", "centos": "rhel", "fedora": "rhel", "rocky": "rhel", "almalinux": "rhel", "amzn": "rhel", "ol": "rhel",
    "arch": "arch", "manjaro": "arch", "endeavouros": "arch", "cachyos": "arch",
    "suse": "suse", "opensuse": "suse", "sles": "suse", "opensuse-leap": "suse", "opensuse-tumbleweed": "suse",
}
# DMI sys_vendor / product_name substrings -> hypervisor (systemd-detect-virt's table, abridged).
VM_MARKERS = (("QEMU", "kvm"), ("KVM", "kvm"), ("VMware", "vmware"), ("VirtualBox", "virtualbox"),
              ("Xen", "xen"), ("Microsoft Corporation", "hyperv"), ("Amazon EC2", "amazon"),
              ("Google Compute Engine", "google"), ("OpenStack", "openstack"), ("Bochs", "bochs"))


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): KEY=value lines, values shell-quoted.

    >>> parse_os_release('NAME="Ubuntu"\\nID=ubuntu\\nID_LIKE=debian\\nVERSION_ID="22.04"\\n')["VERSION_ID"]
    '22.04'
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key] = parts[0] if parts else ""
    return out


def distro_family(release: dict[str, str]) -> str | None:
    for ident in [release.get("ID", "")] + release.get("ID_LIKE", "").split():
        if ident.lower() in FAMILIES:
            return FAMILIES[ident.lower()]
    return None


def kernel_from_proc_version(text: str) -> str | None:
    """Examples:
    
    >>> kernel_from_proc_version("Linux version 5.15.0-91-generic (buildd@lcy02) (gcc ...) #101-Ubuntu")
    '5.15.0-91-generic'
    """
    m = re.search(r"Linux version (\S+)", text)
    return m.group(1) if m else None


def container_from_cgroup(text: str) -> str | None:
    for marker, name in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"),
                         ("containerd", "containerd"), ("lxc", "lxc")):
        if marker in text:
            return name
    return None


def collect(host: Host) -> OsFacts:
    unknown: dict[str, str] = {}
    release: dict[str, str] = {}
    r = host.read_text("/etc/os-release")
    first_error = r.error
    if r.text is None:
        r = host.read_text("/usr/lib/os-release")
    if r.text is not None:
        release = parse_os_release(r.text)
        if "ID" not in release and host.platform == "linux":
            unknown["distro_id"] = f"{r.path} has no ID line"
    elif host.platform == "linux":
        # Say why the first file failed: "permission denied" must not read as "missing".
        unknown["distro_id"] = f"/etc/os-release: {first_error}; /usr/lib/os-release: {r.error}"

    kernel = wsl = None
    v = host.read_text("/proc/version")
    if v.text is not None:
        kernel = kernel_from_proc_version(v.text)
        # WSL kernels say "microsoft" ("-microsoft-standard-WSL2", WSL1 "-Microsoft").
        wsl = "microsoft" in v.text.lower()
        if kernel is None:
            unknown["kernel"] = "/proc/version has no 'Linux version' line"
    elif host.platform == "linux":
        unknown["kernel"] = f"/proc/version: {v.error}"

    container = None
    if host.platform == "linux":
        if host.read_text("/.dockerenv").ok:
            container = "docker"
        elif host.read_text("/run/.containerenv").ok:
            container = "podman"
        else:
            cg = host.read_text("/proc/1/cgroup")
            container = container_from_cgroup(cg.text or "")

    vm = None
    dmi = " ".join(filter(None, (host.read_first_line("/sys/class/dmi/id/sys_vendor"),
                                 host.read_first_line("/sys/class/dmi/id/product_name"))))
    for marker, name in VM_MARKERS:
        if marker in dmi:
            # Hyper-V's vendor string is also Microsoft's on Surface hardware; the product
            # name says "Virtual Machine" only on the hypervisor.
            if name == "hyperv" and "Virtual Machine" not in dmi:
                continue
            vm = name
            break
    return OsFacts(
        platform=host.platform,
        distro_id=release.get("ID"),
        distro_name=release.get("PRETTY_NAME") or release.get("NAME"),
        distro_version=release.get("VERSION_ID"),
        distro_family=distro_family(release),
        kernel=kernel,
        wsl=wsl,
        container=container,
        virtual_machine=vm,
        unknown=unknown,
    )
