"""Facts for a machine from a parts list, or catalog data added to a probed machine.

This is the planner's half of "one model, two sources" (architecture.md): a planned build
becomes the same :class:`~dlkit.facts.Facts` that doctor probes, so the same checks judge
both. Pure functions over catalog rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dlkit import __version__
from dlkit.catalog import gpu_identity
from dlkit.catalog.hardware import CpuModel, GpuModel, PsuTier, Region, find_cpu, lookup_platform_for
from dlkit.facts import BuildFacts, CpuFacts, Facts, GpuFacts, GpuPart, LaneWiring, MemoryFacts, RunFacts

GIB = 1024  # MiB per GiB


def gpu_part(model: GpuModel | None, identity: gpu_identity.Identity | None = None) -> GpuPart:
    if model is None:
        if identity is None or identity.cc is None:
            return GpuPart()
        return GpuPart(cc=identity.cc, identified_by=identity.basis)
    return GpuPart(catalog_name=model.name, board_power_w=model.board_power_w, slot_width=model.slot_width,
                   cooler=model.cooler, power_connectors=model.power_connectors, pcie_width=model.pcie_width,
                   spike_factor=model.spike_factor, min_system_power_w=model.min_system_power_w,
                   min_power_limit_w=model.min_power_limit_w,
                   arch=model.arch, cc=model.cc,
                   identified_by=identity.basis if identity else "plan")


def identify(g: GpuFacts) -> gpu_identity.Identity:
    """What the catalog knows about a probed GPU: by its name, else its PCI id."""
    return gpu_identity.identify(g.name, g.pci_vendor_id, g.pci_device_id, g.pci_name, g.memory_total_mib)


@dataclass(frozen=True)
class Declared:
    """What the user says about parts no probe sees."""

    psu_w: float | None = None
    psu_atx: int | None = None
    psu_tier: PsuTier | None = None
    region: Region | None = None
    circuit_w: float | None = None  # --circuit WATTS overrides the region's circuit
    slots: int | None = None
    cpu_w: float | None = None  # --cpu-watts: the CPU's sustained package power, overriding the catalog
    gpu_w: float | None = None  # --gpu-watts: per-GPU power where neither the probe nor the catalog knows it

    def circuit(self) -> tuple[str | None, float | None]:
        if self.circuit_w is not None:
            return f"a {self.circuit_w:.0f} W circuit (--circuit)", self.circuit_w
        if self.region is not None:
            r = self.region
            return f"{r.region.upper()} {r.volts:g} V household circuit", r.continuous_w
        return None, None


def lane_wiring(cpu: CpuModel | None) -> LaneWiring | None:
    """The CPU's platform wiring; HEDT rows give every usable lane (less CPU NVMe) to slots."""
    p = lookup_platform_for(cpu) if cpu else None
    if p is None:
        return None
    lanes = p.gpu_slot_lanes
    if lanes is None and cpu.lanes_usable is not None:
        lanes = cpu.lanes_usable - (p.cpu_nvme_lanes or 0)
    return LaneWiring(p.platform, lanes, p.splits(), p.chipset_uplink_gen, p.chipset_uplink_width,
                      p.chipset_slot_width, p.source)


def _build(origin: str, declared: Declared, cpu: CpuModel | None, parts: tuple[GpuPart, ...],
           assumptions: tuple[str, ...], unknown: dict[str, str]) -> BuildFacts:
    circuit, circuit_w = declared.circuit()
    tier = declared.psu_tier
    package = (declared.cpu_w, "--cpu-watts") if declared.cpu_w else cpu.package_power() if cpu else None
    if package is None and cpu is not None:
        unknown = {**unknown, "cpu_power": f"the catalog has no TDP for {cpu.name}"}
    return BuildFacts(
        origin=origin, psu_w=declared.psu_w, psu_atx=declared.psu_atx,
        psu_8pin=tier.pcie_8pin if tier else None, psu_16pin=tier.pcie_16pin if tier else None,
        circuit=circuit, circuit_continuous_w=circuit_w, board_slots=declared.slots,
        cpu_catalog_name=cpu.name if cpu else None, cpu_tdp_w=cpu.tdp_w if cpu else None,
        cpu_package_w=package[0] if package else None, cpu_power_basis=package[1] if package else None,
        gpu_w_declared=declared.gpu_w,
        cpu_lanes_usable=cpu.lanes_usable if cpu else None, lane_wiring=lane_wiring(cpu),
        gpus=parts, assumptions=assumptions, unknown=unknown)


def probed_build(facts: Facts, declared: Declared = Declared(), cpu: CpuModel | None = None) -> BuildFacts:
    """Catalog data for a probed machine's CPU and GPUs (doctor, ``plan-build --from-host``);
    ``cpu`` names the CPU when the probed model is not in the catalog."""
    unknown: dict[str, str] = {}
    cpu = cpu or find_cpu(facts.cpu.model)
    if cpu is None:
        unknown["cpu"] = (f"CPU {facts.cpu.model!r} is not in the CPU catalog" if facts.cpu.model
                          else "the CPU model was not probed")
    ids = [identify(g) for g in facts.gpus]
    parts = tuple(gpu_part(i.model, i) for i in ids)
    missing = [g.name or g.pci_bus_id or "?" for g, p in zip(facts.gpus, parts) if p.catalog_name is None]
    if missing:
        unknown["gpus"] = f"not in the GPU catalog: {', '.join(missing)}"
    return _build("probed", declared, cpu, parts, (), unknown)


def with_build(facts: Facts, declared: Declared = Declared(), cpu: CpuModel | None = None) -> Facts:
    return dataclasses.replace(facts, build=probed_build(facts, declared, cpu))


def add_gpus(facts: Facts, gpu: GpuModel, count: int, power_limit_w: float | None = None) -> Facts:
    """``facts`` with ``count`` more GPUs of ``gpu`` ("what do I need to add a second GPU?")."""
    extra = tuple(_planned_gpu(gpu, power_limit_w) for _ in range(count))
    return dataclasses.replace(facts, gpus=facts.gpus + extra,
                               build=dataclasses.replace(facts.build, gpus=facts.build.gpus + (gpu_part(gpu),) * count))


def _planned_gpu(gpu: GpuModel, power_limit_w: float | None) -> GpuFacts:
    return GpuFacts(pci_bus_id=None, name=gpu.name,
                    memory_total_mib=int(gpu.memory_gib * GIB) if gpu.memory_gib else None,
                    compute_capability=gpu.cc, pcie_gen_max=gpu.pcie_gen, pcie_width_max=gpu.pcie_width,
                    power_limit_w=power_limit_w, power_default_limit_w=gpu.board_power_w, source="plan")


def planned_facts(gpu: GpuModel, count: int, cpu: CpuModel, ram_gib: float | None, declared: Declared,
                  power_limit_w: float | None = None, assumptions: tuple[str, ...] = ()) -> Facts:
    """The facts of a machine that exists only as a parts list."""
    gpus = tuple(_planned_gpu(gpu, power_limit_w) for _ in range(count))
    return Facts(
        run=RunFacts(created=None, dlkit_version=__version__),
        cpu=CpuFacts(model=cpu.name, vendor=cpu.vendor, sockets=1, physical_cores=cpu.cores,
                     logical_cores=cpu.threads, source="catalog"),
        memory=MemoryFacts(total_mib=int(ram_gib * GIB) if ram_gib else None, source="plan"),
        gpus=gpus,
        build=_build("plan", declared, cpu, (gpu_part(gpu),) * count, assumptions, {}),
    )
