"""The build planner: judge a parts list (check mode) with doctor's checks, and price it.

Pure functions over catalog rows (``dlkit.catalog.hardware``) returning a :class:`Plan`;
the recommender (recipes/recommend.py) and ``dlkit plan-build`` build on them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dlkit.catalog.hardware import (
    CpuModel,
    GpuModel,
    PsuTier,
    RamKit,
    Region,
    cpus,
    lookup_platform_for,
    platform_part,
    psus,
    ram_kits,
)
from dlkit.checks.buildmath import ATX3_EXCURSION, PSU_MARGIN, PowerBudget, allocate_lanes, power_budget, watts
from dlkit.engine import run_checks
from dlkit.facts import Facts
from dlkit.report import EXIT_CODES, Finding, sort_findings, worst_status
from dlkit.recipes.machine import Declared, add_gpus, lane_wiring, planned_facts, with_build

SCHEMA = "dlkit.plan-build/1"
PLAN_CHECKS = (
    "power.budget-exceeded", "power.transient-risk", "power.circuit-exceeded", "power.connectors",
    "pcie.lanes-oversubscribed", "build.slots-insufficient", "build.cooling", "cpu.cores-per-gpu",
    "memory.ram-below-vram", "memory.ram-below-total-vram",
)
DEFAULT_SLOTS = 7  # an ATX board (ATX 2.2 spec: seven expansion slots)
RECENT_YEARS = 4  # "typical" parts: launched within this many years of the newest in the catalog
KIND_ORDER = ("gpu", "cpu", "psu", "ram", "board", "case", "storage", "cooler")
# The parts priced by platform class as dated estimates (platform_parts.csv), with their names.
ESTIMATED = (("board", "motherboard"), ("case", "case"), ("storage", "storage"), ("cooler", "CPU cooler"))


class PlanError(ValueError):
    """The request cannot be planned (budget too small, nothing fits); one line for the user."""


@dataclass(frozen=True)
class Part:
    kind: str  # gpu | cpu | psu | ram
    name: str
    count: int
    unit_price_usd: float | None
    price_basis: str
    source: str
    as_of: str
    reason: str = ""
    estimate: bool = False  # priced by platform class (a typical part), not a named one

    @property
    def price_usd(self) -> float | None:
        return None if self.unit_price_usd is None else round(self.unit_price_usd * self.count, 2)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "count": self.count, "unit_price_usd": self.unit_price_usd,
                "price_usd": self.price_usd, "price_basis": self.price_basis, "source": self.source,
                "as_of": self.as_of, "reason": self.reason, "estimate": self.estimate}


@dataclass(frozen=True)
class Plan:
    mode: str  # recommend | check | host
    inputs: dict[str, Any]
    facts: Facts
    parts: tuple[Part, ...]
    findings: tuple[Finding, ...]
    assumptions: tuple[str, ...] = ()
    alternatives: tuple[dict[str, Any], ...] = ()
    choice: str = ""  # how the recommender chose, in one sentence
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def budget(self) -> PowerBudget | None:
        b = power_budget(self.facts)
        return None if isinstance(b, str) else b

    @property
    def psu_watts_recommended(self) -> int | None:
        return self.budget.psu_recommended_w if self.budget else None

    @property
    def total_price_usd(self) -> float | None:
        priced = [p.price_usd for p in self.parts if p.price_usd is not None]
        return round(sum(priced), 2) if priced else None

    @property
    def not_priced(self) -> list[str]:
        return [p.name for p in self.parts if p.price_usd is None]

    @property
    def estimated(self) -> list[str]:
        """Parts whose price is a platform-class estimate, not the part the user named."""
        return [p.name for p in self.parts if p.estimate and p.price_usd is not None]

    @property
    def status(self) -> str:
        return worst_status(self.findings)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def power_json(self) -> dict[str, Any] | None:
        b = self.budget
        if b is None:
            return None
        build = self.facts.build
        return {
            "gpu_watts": [round(g.watts, 1) for g in b.gpus], "cpu_watts": b.cpu_w, "cpu_power_basis": b.cpu_basis,
            "cpu_tdp_watts": b.cpu_tdp_w, "other_watts": 100.0,
            "psu_floor_watts": b.floor_w, "psu_floor_basis": b.floor_label or None, "psu_floor_decides": b.floor_decides,
            "dc_watts_estimated": round(b.dc_w, 1), "psu_min_watts": round(b.psu_min_w, 1),
            "wall_watts_estimated": round(b.wall_w, 1), "spike_watts_estimated": round(b.spike_w, 1),
            "psu_watts": build.psu_w, "psu_atx": build.psu_atx,
            "circuit": build.circuit, "circuit_continuous_watts": build.circuit_continuous_w,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "mode": self.mode, "status": self.status, "inputs": self.inputs,
            "choice": self.choice, "assumptions": list(self.assumptions),
            "parts": [p.to_json() for p in self.parts], "total_price_usd": self.total_price_usd,
            "not_priced": self.not_priced, "estimated": self.estimated, "psu_watts_recommended": self.psu_watts_recommended,
            "power": self.power_json(), "alternatives": list(self.alternatives), "notes": list(self.notes),
            "findings": [f.to_json() for f in self.findings],
        }


# --------------------------------------------------------------------------- part choices


def _newest_year(rows: tuple[Any, ...]) -> int:
    return max((r.year for r in rows if r.year), default=0)


def typical_cpu(n_gpus: int, pcie_gen: int | None = None) -> tuple[CpuModel, str]:
    """The cheapest recent desktop/workstation CPU whose platform gives every GPU at least x8 from
    the CPU (x8 per GPU costs little: cpu-and-memory.md §5, Dettmers, io.net) and 4 cores per GPU
    (build-rules.md §2, Puget) and, where the GPU's PCIe generation is known, a CPU link at least
    that fast; and why. Server parts only when nothing else fits (they need a server board)."""
    cores = max(4, 4 * n_gpus)
    newest = _newest_year(cpus())
    fits = [c for c in cpus() if c.price_usd and c.cores and c.year and _x8_each(c, n_gpus)
            and c.cores >= cores and c.year >= newest - RECENT_YEARS]
    if not fits:
        raise PlanError(f"no CPU in the catalog gives {n_gpus} GPUs x8 each from the CPU with {cores} cores")
    fast = [c for c in fits if pcie_gen is None or (c.pcie_gen or 0) >= pcie_gen] or fits
    pool = [c for c in fast if c.segment != "server"] or fast
    # the platform's cost, not the CPU's alone: a cheap CPU on a dear board (or one the catalog
    # cannot price a cooler for) is not the cheap choice
    best = min(pool, key=lambda c: (_platform_cost(c, n_gpus), -(c.lanes_usable or 0)))
    gen = f", PCIe Gen{best.pcie_gen}" if best.pcie_gen else ""
    split = "/".join(f"x{link.width}" for link in allocate_lanes(lane_wiring(best), [16] * n_gpus))
    return best, (f"cheapest recent {best.segment} platform (CPU, board, cooler) that gives {n_gpus} GPU(s) ≥ x8 each "
                  f"from the CPU ({split}) and ≥ {cores} cores (4 per GPU): {best.cores}C/{best.threads}T{gen}")


def _platform_cost(cpu: CpuModel, n_gpus: int) -> float:
    package = cpu.package_power()
    parts = [platform_part(kind, cpu, n_gpus, package[0] if package else None) for kind in ("board", "cooler")]
    prices = [cpu.price_usd] + [p.price_usd if p else None for p in parts]
    return math.inf if any(x is None for x in prices) else sum(prices)


def _x8_each(cpu: CpuModel, n_gpus: int) -> bool:
    wiring = lane_wiring(cpu)
    if wiring is None or wiring.gpu_slot_lanes is None:
        return False
    return all(link.via == "CPU" and link.width >= 8 for link in allocate_lanes(wiring, [16] * n_gpus))


def choose_psu(b: PowerBudget, region: Region | None) -> tuple[PsuTier | None, str]:
    """The smallest ATX 3.x tier that covers PSU_min (and, for one GPU, the GPU maker's required
    system power) and rides out the GPUs' spikes; on a
    230 V circuit also the 230 V-only units above 1600 W (ATX 2.x: spikes within the rating
    less 10 %, the rule of power.transient-risk)."""
    high_voltage = region is not None and region.volts >= 200
    usable = [t for t in psus() if high_voltage or (t.input_v or "").strip() != "230"]
    need = b.psu_required_w
    fits = [t for t in usable if t.watts >= need and t.atx >= 3 and b.spike_w <= ATX3_EXCURSION * t.watts]
    if not fits and high_voltage:
        fits = [t for t in usable if t.watts >= need and b.spike_w * PSU_MARGIN <= t.watts]
    if not fits:
        return None, (f"no single PSU in the catalog covers {watts(b.psu_min_w)}"
                      + ("" if high_voltage else " on a 120 V circuit: two PSUs or a 230 V circuit"))
    # a priced tier first, so a build is never cheaper for want of a price
    best = min(fits, key=lambda t: (t.price_usd is None, t.watts, t.atx < 3, t.price_usd or math.inf))
    floor = (f" and ≥ the {b.floor_w:.0f} W {b.floor_label}" if b.floor_decides else "")
    return best, (f"smallest ATX {best.atx}.x tier ≥ PSU_min {watts(b.psu_min_w)}{floor} that rides out "
                  f"~{watts(b.spike_w)} GPU spikes")


def ram_need_gib(gpu: GpuModel, n: int) -> float:
    """RAM ≥ Σ VRAM (the soft rule, which implies the hard one: ≥ the largest GPU), at least 32 GiB
    (d2l.ai: a 1-GPU box wants ≥ 32 GB)."""
    return max(32.0, (gpu.memory_gib or 0) * n)


def choose_ram(need_gib: float, cpu: CpuModel) -> tuple[RamKit | None, str]:
    """The smallest kit of the CPU's memory type and module kind (RDIMM on TRX50, WRX90, W790)."""
    platform = lookup_platform_for(cpu)
    registered = platform is not None and platform.dimm.upper() == "RDIMM"
    kinds = "registered ECC " if registered else ""
    kits = [k for k in ram_kits() if k.capacity_gib >= need_gib and (not cpu.memory_type or k.type == cpu.memory_type)
            and k.registered == registered]
    if not kits:
        return None, f"no {cpu.memory_type or ''} {kinds}kit of {need_gib:.0f} GiB or more in the catalog"
    best = min(kits, key=lambda k: (k.price_usd is None, k.capacity_gib, k.price_usd or math.inf))
    return best, (f"smallest {best.type} {kinds}kit ≥ {need_gib:.0f} GiB (≥ all GPUs' memory, ≥ 32 GiB)"
                  + (f"; {platform.platform} takes registered DIMMs" if registered else ""))


def _price(value: float | None, region: Region | None) -> float | None:
    return None if value is None else round(value * (region.price_factor if region else 1.0), 2)


def estimated_parts(cpu: CpuModel, n: int, cpu_w: float | None, region: Region | None) -> list[Part]:
    """Board, case, storage and cooler as dated estimates for the platform class (issue 13):
    a total never silently leaves them out."""
    factor = f" × {region.price_factor:g} ({region.region.upper()} VAT)" if region and region.price_factor != 1 else ""
    out = []
    where = lookup_platform_for(cpu)
    for kind, label in ESTIMATED:
        row = platform_part(kind, cpu, n, cpu_w)
        if row is None or row.price_usd is None:
            out.append(Part(kind, f"{label} (no estimate for this platform in the catalog)", 1, None, "not priced",
                            "", "", "buy one that fits the platform", estimate=True))
            continue
        out.append(Part(kind, row.example, 1, _price(row.price_usd, region), f"price {row.price_as_of}{factor}",
                        row.source, row.as_of,
                        f"estimate: typical for {where.platform if where else cpu.socket} with {n} GPU(s)", estimate=True))
    return out


def parts_list(gpu: GpuModel, n: int, cpu: CpuModel, psu: PsuTier | None, ram: RamKit | None,
               region: Region | None, reasons: dict[str, str]) -> tuple[Part, ...]:
    factor = f" × {region.price_factor:g} ({region.region.upper()} VAT)" if region and region.price_factor != 1 else ""
    parts = [
        Part("gpu", gpu.name, n, _price(gpu.price_usd, region), gpu.price_basis + factor, gpu.source, gpu.as_of,
             reasons.get("gpu", "")),
        Part("cpu", cpu.name, 1, _price(cpu.price_usd, region),
             ("street price " + (cpu.street_as_of or "") if cpu.street_usd else "launch price") + factor,
             cpu.source, cpu.as_of, reasons.get("cpu", "")),
    ]
    if psu is not None:
        parts.append(Part("psu", f"{psu.tier} (e.g. {psu.example})" if psu.example else psu.tier, 1,
                          _price(psu.price_usd, region),
                          (f"price {psu.price_as_of or 'undated'}" + factor) if psu.price_usd is not None else "not priced",
                          psu.source, psu.as_of, reasons.get("psu", "")))
    if ram is not None:
        parts.append(Part("ram", ram.kit, 1, _price(ram.price_usd, region),
                          f"price {ram.price_as_of or 'undated'}" + factor if ram.price_usd else "not priced",
                          ram.source, ram.as_of, reasons.get("ram", "")))
    return tuple(parts)


def tier_for(psu_w: float, atx: int | None) -> PsuTier | None:
    """The catalog tier of a declared PSU (for its connectors): only when every tier of that
    size and ATX version agrees on the connectors, since the user named no model."""
    same = [t for t in psus() if t.watts == psu_w and (atx is None or t.atx == atx)]
    if same and len({(t.atx, t.pcie_8pin, t.pcie_16pin) for t in same}) == 1:
        return same[0]
    return None


def judge(facts: Facts) -> tuple[Finding, ...]:
    """The plan checks on ``facts``, worst first."""
    return sort_findings(run_checks(facts, PLAN_CHECKS))


# --------------------------------------------------------------------------- check mode


def check_build(gpu: GpuModel, n: int, cpu: CpuModel | None, *, psu_w: float | None = None, psu_atx: int | None = None,
                power_limit_w: float | None = None, slots: int | None = None, ram_gib: float | None = None,
                region: Region | None = None, circuit_w: float | None = None,
                inputs: dict[str, Any] | None = None, reasons_given: dict[str, str] | None = None,
                psu_tier: PsuTier | None = None, ram_kit: RamKit | None = None,
                cpu_w: float | None = None, gpu_w: float | None = None) -> Plan:
    """Judge a given build with doctor's checks; assume (and say) what was not given.
    ``cpu_w`` (--cpu-watts) replaces the catalog's CPU package power; ``gpu_w`` (--gpu-watts) is the
    GPU's power where the catalog has none.

    ``psu_tier`` / ``ram_kit``: catalog parts chosen by the recommender (priced), instead of
    the user's declared ``psu_w`` / ``ram_gib``."""
    if psu_tier is not None:
        psu_w, psu_atx = psu_tier.watts, psu_tier.atx
    if ram_kit is not None:
        ram_gib = ram_kit.capacity_gib
    assumptions: list[str] = []
    reasons: dict[str, str] = {"gpu": "given (--gpu)"}
    if cpu is None:
        cpu, why = typical_cpu(n, gpu.pcie_gen)
        assumptions.append(f"CPU not given: assumed {cpu.name}, {why}")
        reasons["cpu"] = "assumed: " + why
    else:
        reasons["cpu"] = "given (--cpu)"
    if slots is None:
        slots = DEFAULT_SLOTS
        assumptions.append(f"board slots not given: assumed an ATX board with {DEFAULT_SLOTS} expansion slots (--slots)")
    ram = ram_kit
    if ram_gib is None:
        ram, why = choose_ram(ram_need_gib(gpu, n), cpu)
        ram_gib = ram.capacity_gib if ram else ram_need_gib(gpu, n)
        assumptions.append(f"RAM not given: assumed {ram_gib:g} GiB, {why} (--ram)")
        reasons["ram"] = "assumed: " + why
    if power_limit_w is None:
        assumptions.append(f"GPU power: board power of the {gpu.name}, {gpu.board_power_w or '?'} W (--power-limit to cap it)")
    declared = Declared(psu_w=psu_w, psu_atx=psu_atx, psu_tier=psu_tier or (tier_for(psu_w, psu_atx) if psu_w else None),
                        region=region, circuit_w=circuit_w, slots=slots, cpu_w=cpu_w, gpu_w=gpu_w)
    facts = planned_facts(gpu, n, cpu, ram_gib, declared, power_limit_w, tuple(assumptions))
    psu: PsuTier | None = declared.psu_tier
    b = power_budget(facts)
    if psu_w is None and not isinstance(b, str):
        psu, why = choose_psu(b, region)
        if psu is not None:
            assumptions.append(f"PSU not given: assumed {psu.tier}, {why} (--psu, --psu-atx)")
            declared = Declared(psu_w=psu.watts, psu_atx=psu.atx, psu_tier=psu, region=region,
                                circuit_w=circuit_w, slots=slots, cpu_w=cpu_w, gpu_w=gpu_w)
            facts = planned_facts(gpu, n, cpu, ram_gib, declared, power_limit_w, tuple(assumptions))
            reasons["psu"] = "assumed: " + why
        else:
            assumptions.append(why)
            facts = dataclasses.replace(facts, build=dataclasses.replace(facts.build, psu_unavailable=why))
    elif psu_w is not None:
        reasons["psu"] = "given (--psu)"
    reasons.update(reasons_given or {})
    findings = judge(facts)
    parts = parts_list(gpu, n, cpu, psu, ram, region, reasons) + tuple(
        estimated_parts(cpu, n, facts.build.cpu_package_w, region))
    if psu is None and psu_w is not None:
        parts += (Part("psu", f"{psu_w:.0f} W ATX {psu_atx or '?'}.x (declared)", 1, None, "yours", "--psu", ""),)
    elif psu is None:
        need = "" if isinstance(b, str) else f" covers {watts(b.psu_min_w)}"
        parts += (Part("psu", f"PSU (no single unit in the catalog{need})", 1, None, "not priced", "", "",
                       "two PSUs, or fewer or capped GPUs"),)
    if ram is None:
        parts += (Part("ram", f"{ram_gib:g} GiB (declared)", 1, None, "yours", "--ram", ""),)
    parts = tuple(sorted(parts, key=lambda p: KIND_ORDER.index(p.kind)))
    return Plan("check", inputs or {}, facts, parts, findings, tuple(assumptions))


# --------------------------------------------------------------------------- from a probed machine


def plan_host(facts: Facts, declared: Declared, add: GpuModel | None = None, n_add: int = 0,
              power_limit_w: float | None = None, inputs: dict[str, Any] | None = None,
              cpu: CpuModel | None = None) -> Plan:
    """Judge a probed machine (live or a capture), optionally with ``n_add`` more GPUs of ``add``;
    ``cpu`` stands in for a probed CPU the catalog does not know."""
    facts = with_build(facts, declared, cpu)
    assumptions = [f"{k}: {v}" + (" (name it with --cpu)" if k == "cpu" else "")
                   for k, v in sorted(facts.build.unknown.items())]
    if cpu is not None:
        assumptions.append(f"CPU: {cpu.name} (--cpu; its package power, lanes, cores and threads), probed as "
                           f"{facts.cpu.model or 'unknown'}")
        facts = dataclasses.replace(facts, cpu=dataclasses.replace(
            facts.cpu, physical_cores=cpu.cores or facts.cpu.physical_cores,
            logical_cores=cpu.threads or facts.cpu.logical_cores))
    parts: tuple[Part, ...] = ()
    if add is not None and n_add:
        facts = add_gpus(facts, add, n_add, power_limit_w)
        parts = (Part("gpu", add.name, n_add, add.price_usd, add.price_basis, add.source, add.as_of,
                      "to add (--gpu, --gpus)"),)
        assumptions.append(f"the machine as probed, plus {n_add}× {add.name}")
    if declared.slots is None:
        assumptions.append("board slots not given: the slot check is skipped (--slots)")
    budget = power_budget(facts)
    if isinstance(budget, str):
        assumptions.append(f"power budget unknown: {budget}")
    findings = judge(facts)
    return Plan("host", inputs or {}, facts, parts, findings, tuple(assumptions))
