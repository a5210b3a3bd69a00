"""The NVIDIA driver: loaded module, user-space library, and the GPUs they see.

Sources, best first (spec §1): NVML (``nvml.json`` on replay), then nvidia-smi
(``-q -x``, ``-q``, the default table, ``-L``: probes/nvsmi.py). The loaded kernel
module's own version comes from ``/proc/driver/nvidia/version`` and the GPUs it probed
from ``/proc/driver/nvidia/gpus/<bdf>/information`` (check by hand:
``cat /proc/driver/nvidia/version; nvidia-smi -q``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dlkit.facts import GpuFacts, NvidiaDriverFacts, NvidiaReport, PciFacts
from dlkit.host import Host
from dlkit.probes import kmod, nvml, nvsmi
from dlkit.probes.busid import normalize_bus_id

NVIDIA_MODULES = ("nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset")


@dataclass(frozen=True)
class NvidiaState:
    driver: NvidiaDriverFacts
    report: NvidiaReport | None  # the source the GPUs came from
    probed_names: dict[str, str]  # bus id -> "Model:" from /proc/driver/nvidia/gpus


def parse_gpu_information(text: str) -> dict[str, str]:
    """/proc/driver/nvidia/gpus/<bdf>/information -> {key: value}.

    >>> parse_gpu_information("Model: \\t\\t GeForce GTX 1080 Ti\\nIRQ:   \\t\\t 130\\nBus Location: \\t 0000:04:00.0\\n")["Model"]
    'GeForce GTX 1080 Ti'
    """
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _best_report(host: Host) -> NvidiaReport | None:
    from_nvml = nvml.collect(host)
    if from_nvml is not None and from_nvml.gpus:
        return from_nvml
    from_smi = nvsmi.collect(host)
    if from_smi.gpus or from_smi.driver_version:
        return from_smi
    # Neither listed a GPU: keep the most telling failure (NVML's names the cause exactly).
    for r in (from_nvml, from_smi):
        if r is not None and r.failure and r.failure != "not-found":
            return r
    return from_nvml or from_smi


def collect(host: Host) -> NvidiaState:
    unknown: dict[str, str] = {}
    module_version = None
    r = host.read_text("/proc/driver/nvidia/version")
    if r.text is not None:
        module_version = kmod.parse_driver_version(r.text)
        if module_version is None:
            unknown["module_version"] = "/proc/driver/nvidia/version has no 'Kernel Module' line"
    else:
        unknown["module_version"] = f"/proc/driver/nvidia/version: {r.error}"
    module_versions = {}
    for mod in NVIDIA_MODULES:
        v = host.read_first_line(f"/sys/module/{mod}/version")
        if v:
            module_versions[mod] = v

    probed: dict[str, str] = {}
    listing = host.list_dir("/proc/driver/nvidia/gpus")
    if listing.entries is None and listing.error not in (None, "missing"):
        unknown["probed_gpus"] = f"/proc/driver/nvidia/gpus: {listing.error}"
    for entry in listing.entries or ():
        info = host.read_text(f"/proc/driver/nvidia/gpus/{entry}/information")
        fields = parse_gpu_information(info.text or "")
        bus = normalize_bus_id(fields.get("Bus Location") or entry)
        if bus:
            probed[bus] = fields.get("Model") or ""

    report = _best_report(host)
    userspace = report.driver_version if report else None
    version = userspace or module_version
    if version is None:
        unknown["version"] = "; ".join(x for x in (unknown.get("module_version"),
                                                   report.failure_text if report and report.failure_text else None,
                                                   "nvidia-smi not found" if report is None or report.failure == "not-found" else None) if x)
    cuda = report.cuda_version if report else None
    if cuda is None:
        unknown["cuda_version"] = "no NVML or nvidia-smi answer that states it"
    driver = NvidiaDriverFacts(
        version=version, cuda_version=cuda, nvml_version=report.nvml_version if report else None,
        module_version=module_version, userspace_version=userspace, module_versions=module_versions,
        probed_gpus=tuple(sorted(probed)), failure=report.failure if report else None,
        failure_text=report.failure_text if report else None,
        source=report.source if report and userspace else ("/proc/driver/nvidia/version" if module_version else None),
        unknown=unknown,
    )
    return NvidiaState(driver=driver, report=report, probed_names=probed)


def _merge(gpu: GpuFacts, pci: GpuFacts) -> GpuFacts:
    """A GPU as NVML/nvidia-smi sees it, completed from sysfs where it said nothing."""
    link = ("pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max")
    fill = {k: getattr(pci, k) for k in link if getattr(gpu, k) is None}
    own = any(getattr(gpu, k) is not None for k in link)
    source = gpu.source if own else ("sysfs" if any(fill.values()) else None)
    return replace(gpu, pci_bus_id=pci.pci_bus_id, kernel_driver=pci.kernel_driver, numa_node=pci.numa_node,
                   pcie_source=source, pci_vendor_id=pci.pci_vendor_id or gpu.pci_vendor_id,
                   pci_device_id=pci.pci_device_id or gpu.pci_device_id, pci_name=pci.pci_name, **fill)


def assemble_gpus(pci: PciFacts, state: NvidiaState) -> tuple[tuple[GpuFacts, ...], tuple[GpuFacts, ...]]:
    """NVIDIA GPUs (merged from PCI sysfs and the driver's report) and other vendors' GPUs."""
    from_pci: dict[str, GpuFacts] = {}
    other = []
    for d in pci.devices:
        g = GpuFacts(pci_bus_id=d.bus_id.lower(), vendor=d.vendor or d.vendor_id or "unknown",
                     pcie_gen_current=d.pcie_gen_current, pcie_gen_max=d.pcie_gen_max,
                     pcie_width_current=d.pcie_width_current, pcie_width_max=d.pcie_width_max,
                     kernel_driver=d.driver, numa_node=d.numa_node, source="sysfs",
                     pci_vendor_id=d.vendor_id, pci_device_id=d.device_id, pci_name=d.pci_name,
                     pcie_source="sysfs" if d.pcie_width_max or d.pcie_gen_max else None)
        if d.vendor == "nvidia":
            from_pci[g.pci_bus_id] = g
        else:
            other.append(g)

    reported = [replace(g, pci_bus_id=normalize_bus_id(g.pci_bus_id)) for g in (state.report.gpus if state.report else ())]
    # `nvidia-smi -L` gives no bus ids; it lists GPUs in PCI order, so pair them by order
    # when the counts agree.
    if reported and all(g.pci_bus_id is None for g in reported) and len(reported) == len(from_pci):
        reported = [replace(g, pci_bus_id=bus) for g, bus in zip(reported, sorted(from_pci))]
    merged: dict[str, GpuFacts] = {}
    loose = []
    for g in reported:
        if g.pci_bus_id and g.pci_bus_id in from_pci:
            merged[g.pci_bus_id] = _merge(g, from_pci.pop(g.pci_bus_id))
        elif g.pci_bus_id:
            merged[g.pci_bus_id] = replace(g, pcie_source=g.source if g.pcie_width_max or g.pcie_gen_max else None)
        else:
            loose.append(g)
    for bus, g in from_pci.items():  # seen on the bus, not by the driver (lost, unbound, nouveau)
        merged[bus] = replace(g, name=state.probed_names.get(bus) or None)
    gpus = [merged[k] for k in sorted(merged)] + loose
    return tuple(gpus), tuple(sorted(other, key=lambda g: g.pci_bus_id or ""))
