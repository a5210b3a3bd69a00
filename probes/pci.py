"""PCI devices from sysfs: GPUs by vendor and class, bound driver, PCIe link, NUMA node.

Canonical source: ``/sys/bus/pci/devices/<bdf>/{vendor,device,class,current_link_speed,
current_link_width,max_link_speed,max_link_width,numa_node}`` and the ``driver`` symlink
(check by hand: ``lspci -nnk -vv -s <bdf>``, lines ``LnkCap``/``LnkSta``).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from dlkit.facts import PciDevice, PciFacts
from dlkit.host import Host

DEVICES = "/sys/bus/pci/devices"
# The PCI id database as distributions install it (pciutils: /usr/share/misc; hwdata on
# Fedora/RHEL/Arch: /usr/share/hwdata); the first one present is read, recorded in a capture.
PCI_IDS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
# Transfer rate per lane -> PCIe generation (pcie.md §1).
GEN_BY_GTS = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


def pcie_gen(speed: str | None) -> int | None:
    """The generation a sysfs link speed names.

    >>> pcie_gen("8.0 GT/s PCIe"), pcie_gen("2.5 GT/s"), pcie_gen("Unknown")
    (3, 1, None)
    """
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*GT/s", speed or "")
    return GEN_BY_GTS.get(float(m.group(1))) if m else None


def link_width(text: str | None) -> int | None:
    """Examples:
    
    >>> link_width("16"), link_width("0"), link_width("x8"), link_width(None)
    (16, None, 8, None)
    """
    m = re.match(r"\s*x?(\d+)\s*$", text or "")
    return int(m.group(1)) or None if m else None


def _hex(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip().lower()
    return text if re.fullmatch(r"0x[0-9a-f]+", text) else None


def pci_ids_names(text: str, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    r"""Device names from a pci.ids text for (vendor, device) pairs ("10de", "2684").

    The format (https://pci-ids.ucw.cz/): a vendor line at column 0 ("10de  NVIDIA
    Corporation"), its devices indented by one tab ("\t2684  AD102 [GeForce RTX 4090]"),
    subsystems by two; "#" starts a comment.

    >>> pci_ids_names("10de  NVIDIA Corporation\n\t2684  AD102 [GeForce RTX 4090]\n\t\t10de 167c  RTX 4090 FE\n",
    ...               {("10de", "2684")})
    {('10de', '2684'): 'AD102 [GeForce RTX 4090]'}
    """
    vendors = {v for v, _ in wanted}
    found: dict[tuple[str, str], str] = {}
    vendor = None
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("\t\t"):
            continue
        if not line.startswith("\t"):
            if line.startswith("C "):  # the device-class list follows the vendors
                break
            vendor = line[:4].lower() if line[:4].lower() in vendors else None
            continue
        if vendor is not None:
            device, _, name = line[1:].partition("  ")
            if (vendor, device.lower()) in wanted and name.strip():
                found[(vendor, device.lower())] = name.strip()
    return found


def _with_pci_names(host: Host, devices: list[PciDevice]) -> list[PciDevice]:
    wanted = {(d.vendor_id[2:], d.device_id[2:]) for d in devices if d.vendor_id and d.device_id}
    if not wanted:
        return devices
    for path in PCI_IDS:
        read = host.read_text(path)
        if read.text is not None:
            names = pci_ids_names(read.text, wanted)
            return [replace(d, pci_name=names.get(((d.vendor_id or "")[2:], (d.device_id or "")[2:]))) for d in devices]
    return devices


def read_device(host: Host, bdf: str, cls: str | None, vendor: str | None) -> PciDevice:
    base = f"{DEVICES}/{bdf}"
    link = host.readlink(f"{base}/driver")
    numa = host.read_first_line(f"{base}/numa_node")
    try:
        numa_node = int(numa) if numa is not None and int(numa) >= 0 else None
    except ValueError:
        numa_node = None
    return PciDevice(
        bus_id=bdf,
        vendor_id=vendor,
        device_id=_hex(host.read_first_line(f"{base}/device")),
        class_code=cls,
        driver=posixpath.basename(link.rstrip("/")) if link else None,
        pcie_gen_current=pcie_gen(host.read_first_line(f"{base}/current_link_speed")),
        pcie_gen_max=pcie_gen(host.read_first_line(f"{base}/max_link_speed")),
        pcie_width_current=link_width(host.read_first_line(f"{base}/current_link_width")),
        pcie_width_max=link_width(host.read_first_line(f"{base}/max_link_width")),
        numa_node=numa_node,
    )


def collect(host: Host) -> PciFacts:
    listing = host.list_dir(DEVICES)
    if listing.entries is None:
        why = f"{DEVICES}: {listing.error}" + (" (no PCI sysfs: container, VM or not Linux)" if listing.error == "missing" else "")
        return PciFacts(unknown={"devices": why})
    devices = []
    unread = []
    for bdf in listing.entries:
        if not re.fullmatch(r"[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]", bdf):
            continue
        cls = _hex(host.read_first_line(f"{DEVICES}/{bdf}/class"))
        vendor = _hex(host.read_first_line(f"{DEVICES}/{bdf}/vendor"))
        dev = PciDevice(bus_id=bdf, vendor_id=vendor, class_code=cls)
        if dev.is_gpu:
            devices.append(read_device(host, bdf, cls, vendor))
        elif cls is None or vendor is None:
            unread.append(bdf)  # could be a GPU: say so rather than drop it silently
    unknown = {"devices": f"class or vendor unreadable for {', '.join(unread)}"} if unread else {}
    devices = _with_pci_names(host, devices)
    return PciFacts(devices=tuple(sorted(devices, key=lambda d: d.bus_id.lower())), devices_seen=len(listing.entries),
                    unknown=unknown)
