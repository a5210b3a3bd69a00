"""PCI devices from sysfs: GPUs by vendor and class, bound driver, PCIe link, NUMA node.

Canonical source: ``/sys/bus/pci/devices/<bdf>/{vendor,device,class,current_link_speed,
current_link_width,max_link_speed,max_link_width,numa_node}`` and the ``driver`` symlink
(check by hand: ``lspci -nnk -vv -s <bdf>``, lines ``LnkCap``/``LnkSta``).
"""

from __future__ import annotations

import posixpath
import re

from dlkit.facts import PciDevice, PciFacts
from dlkit.host import Host

DEVICES = "/sys/bus/pci/devices"
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
    return PciFacts(devices=tuple(sorted(devices, key=lambda d: d.bus_id.lower())), devices_seen=len(listing.entries),
                    unknown=unknown)
