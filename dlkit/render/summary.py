"""One-line summaries of the facts, shared by the console and Markdown renderers."""

from __future__ import annotations

from dlkit.catalog import gpu_identity
from dlkit.facts import Facts, GpuFacts


def _gib(mib: int | None) -> str:
    return f"{mib / 1024:.0f} GiB" if mib is not None else "unknown"


def gpu_line(g: GpuFacts) -> str:
    shown = gpu_identity.display_name(g.name, g.pci_vendor_id, g.pci_device_id, g.pci_name, g.memory_total_mib)
    parts = [shown or g.name or f"{g.vendor.upper()} GPU"]
    if g.memory_total_mib:
        parts.append(_gib(g.memory_total_mib))
    if g.pcie_width_max or g.pcie_gen_max:
        parts.append(f"PCIe Gen{g.pcie_gen_current or '?'} x{g.pcie_width_current or '?'}"
                     f" (max Gen{g.pcie_gen_max or '?'} x{g.pcie_width_max or '?'})")
    if g.kernel_driver:
        parts.append(f"driver {g.kernel_driver}")
    return f"{g.pci_bus_id or 'bus id unknown'}: " + ", ".join(parts)


def machine_lines(f: Facts) -> list[tuple[str, str]]:
    c, m, o = f.cpu, f.memory, f.os
    cpu = c.model or f"unknown ({c.unknown.get('model', 'not probed')})"
    if c.physical_cores or c.logical_cores:
        cpu += f", {c.physical_cores or '?'} cores / {c.logical_cores or '?'} threads"
    if c.fp32_peak_gflops:
        cpu += f", ~{c.fp32_peak_gflops / 1000:.2f} FP32 TFLOP/s peak (est.)"
    if c.isa:
        cpu += f" [{' '.join(c.isa)}]"
    ram = f"{_gib(m.total_mib)} total, {_gib(m.available_mib)} available" if m.total_mib else \
        f"unknown ({m.unknown.get('total_mib', 'not probed')})"
    osl = o.distro_name or o.platform or "unknown"
    if o.kernel:
        osl += f", kernel {o.kernel}"
    extras = [x for x in ("WSL" if o.wsl else None, f"container: {o.container}" if o.container else None,
                          f"VM: {o.virtual_machine}" if o.virtual_machine else None) if x]
    if extras:
        osl += f" ({', '.join(extras)})"
    lines = [("CPU", cpu), ("RAM", ram), ("OS", osl)]
    drv = f.nvidia_driver.version
    lines.append(("NVIDIA driver", drv or f"none loaded ({f.nvidia_driver.unknown.get('version', 'unknown')})"))
    for g in f.gpus + f.other_gpus:
        lines.append(("GPU", gpu_line(g)))
    if not f.gpus and not f.other_gpus:
        lines.append(("GPU", "none found" + (f" ({f.pci.unknown['devices']})" if "devices" in f.pci.unknown else "")))
    return lines
