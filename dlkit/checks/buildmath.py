"""The numbers behind the power, lane and slot checks, shared by doctor and plan-build.

Formulas are the spec's (capture-and-report.md §2 table) and build-rules.md's:

* PSU_min = 1.1 × (Σ GPU power + CPU package power + 100 W); the recommended PSU is PSU_min
  rounded up to the next 50 W (Dettmers' rule: TDPs + 10 % for the rest, then 10 % again; his
  4 × 250 W + 150 W example gives 1,375 W → a 1400 W unit), and for one GPU never below the
  GPU maker's required system power (NVIDIA: RTX 4090 850 W, RTX 5090 1000 W).
* CPU package power is what the CPU sustains under all-core load, not its base TDP: Intel's
  Maximum Turbo Power (PL2), AMD's PPT (1.35 × TDP on AM4/AM5); see
  :meth:`dlkit.catalog.hardware.CpuModel.package_power` and build-rules.md §8 (correction
  2026-12-03: a 14900K draws 253 W, not its 125 W base power).
* Wall draw = (Σ GPU power + CPU package power + 100 W) / 0.92 (a 92 %-efficient PSU; Puget's 4 ×
  RTX 3090 at 300 W measured 1,717 W at the wall for about 1,580 W DC).
* Transients: ATX 3.x PSUs must ride out excursions to 160 % of rated power for 10 ms
  (180 % for 1 ms); ATX 2.x promises nothing, so the ms-scale GPU peaks must fit under
  the rating with the same 10 % margin as the average load (build-rules.md §4, Intel ATX
  3.0 design guide via tomshardware / hothardware). The spec's reference case, one RTX 4090
  on an 850 W ATX 2.x unit, then warns whatever the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlkit.catalog import gpu_identity
from dlkit.facts import Facts, GpuFacts, LaneWiring

OTHER_W = 100.0  # board, drives, fans, RAM: Dettmers' "+100 W"
PSU_MARGIN = 1.1
WALL_EFFICIENCY = 0.92
ATX3_EXCURSION = 1.6  # ATX 3.0: 160 % of rated power for 10 ms
DEFAULT_SLOT_WIDTH = 2.0


def watts(value: float) -> str:
    """A power figure for people, rounded up so a limit never reads as met when it is not.

    >>> watts(676.5), watts(1793.48)
    ('677 W', '1794 W')
    """
    return f"{math.ceil(round(value, 6))} W"


def round_up(watts: float, step: int = 50) -> int:
    """Round ``watts`` up to the next PSU size step.

    >>> round_up(1375.0)
    1400
    >>> round_up(429.0)
    450
    """
    return int(math.ceil(round(watts, 6) / step) * step)


@dataclass(frozen=True)
class GpuPower:
    label: str
    watts: float
    basis: str  # "enforced power limit" | "--power-limit" | "board power (catalog)" | ...
    spike_factor: float | None = None
    min_limit_w: float | None = None  # the lowest power limit the board accepts, where known


@dataclass(frozen=True)
class PowerBudget:
    gpus: tuple[GpuPower, ...]
    cpu_w: float
    cpu_label: str
    cpu_basis: str = ""  # why cpu_w: "Intel Maximum Turbo Power (PL2)", "AMD PPT", "--cpu-watts"
    cpu_tdp_w: float | None = None
    floor_w: float | None = None  # the GPU maker's required system power (one-GPU builds only)
    floor_label: str = ""

    @property
    def gpu_w(self) -> float:
        return sum(g.watts for g in self.gpus)

    @property
    def dc_w(self) -> float:
        return self.gpu_w + self.cpu_w + OTHER_W

    @property
    def psu_min_w(self) -> float:
        return PSU_MARGIN * self.dc_w

    @property
    def psu_required_w(self) -> float:
        """The least PSU this build should have: PSU_min, or the GPU maker's figure when higher."""
        return max(self.psu_min_w, self.floor_w or 0.0)

    @property
    def floor_decides(self) -> bool:
        return self.floor_w is not None and self.floor_w > round_up(self.psu_min_w)

    @property
    def psu_recommended_w(self) -> int:
        return round_up(self.psu_required_w)

    @property
    def wall_w(self) -> float:
        return self.dc_w / WALL_EFFICIENCY

    @property
    def spike_w(self) -> float:
        """Draw while the GPUs spike (ms scale): each GPU's power × its measured spike factor."""
        return sum(g.watts * (g.spike_factor or 1.0) for g in self.gpus) + self.cpu_w + OTHER_W

    def limit_for_dc(self, dc_w: float) -> float | None:
        """Per-GPU power limit that brings the DC estimate down to ``dc_w`` (None: impossible)."""
        per_gpu = (dc_w - self.cpu_w - OTHER_W) / len(self.gpus)
        return math.floor(per_gpu / 5) * 5 if per_gpu > 0 else None

    def evidence(self) -> tuple[str, ...]:
        lines = [f"{g.label}: {g.watts:.0f} W ({g.basis})" for g in self.gpus]
        tdp = f"; TDP {self.cpu_tdp_w:.0f} W" if self.cpu_tdp_w and self.cpu_tdp_w != self.cpu_w else ""
        lines.append(f"CPU {self.cpu_label}: {self.cpu_w:.0f} W ({self.cpu_basis or 'package power'}{tdp})")
        lines.append(f"rest of the system: {OTHER_W:.0f} W")
        lines.append(f"PSU_min = {PSU_MARGIN} × ({self.gpu_w:.0f} + {self.cpu_w:.0f} + {OTHER_W:.0f}) W = {watts(self.psu_min_w)}")
        if self.floor_w is not None:
            lines.append(f"{self.floor_label}: {self.floor_w:.0f} W"
                         + (" (decides the recommended PSU)" if self.floor_decides else ""))
        return tuple(lines)


def gpu_label(g: GpuFacts, i: int | None = None) -> str:
    """How every check names a GPU: "0000:01:00.0 NVIDIA GeForce RTX 3090" when probed,
    "GPU 2 GeForce RTX 3090" when planned (``i``: its place in the list), the vendor when
    there is no name."""
    where = g.pci_bus_id or (f"GPU {i + 1}" if i is not None else "?")
    shown = gpu_identity.display_name(g.name, g.pci_vendor_id, g.pci_device_id, g.pci_name, g.memory_total_mib)
    name = shown or g.name or ((g.vendor or "").upper() + " GPU").strip()
    # A label is for people: a garbled multi-megabyte name (a pasted report gone wrong) is cut,
    # so every finding that names the GPU does not carry another copy of it.
    if len(name) > MAX_LABEL:
        name = f"{name[:MAX_LABEL]}… ({len(name):,} characters)"
    return f"{where} {name}"


MAX_LABEL = 120


def power_budget(facts: Facts) -> PowerBudget | str:
    """The power budget of ``facts``' GPUs and CPU, or why it is unknown."""
    if not facts.gpus:
        return "no NVIDIA GPU"
    parts = facts.build.gpus
    rows = []
    for i, g in enumerate(facts.gpus):
        part = parts[i] if i < len(parts) else None
        if g.power_limit_w:
            watts, basis = g.power_limit_w, ("--power-limit" if facts.build.origin == "plan" else "enforced power limit")
        elif part and part.board_power_w:
            watts, basis = part.board_power_w, f"board power of the {part.catalog_name} (catalog)"
        elif g.power_default_limit_w:
            watts, basis = g.power_default_limit_w, "default power limit"
        elif facts.build.gpu_w_declared:
            watts, basis = facts.build.gpu_w_declared, "--gpu-watts"
        else:
            return (f"the power of {gpu_label(facts.gpus[i], i)} is unknown (not reported, and not in the catalog); "
                    "give it with --gpu-watts W")
        # the board's own minimum where probed (partner boards differ), else the reference board's
        rows.append(GpuPower(gpu_label(facts.gpus[i], i), watts, basis, part.spike_factor if part else None,
                             g.power_min_limit_w or (part.min_power_limit_w if part else None)))
    build = facts.build
    if build.cpu_package_w is None:
        why = (build.unknown.get("cpu_power") or build.unknown.get("cpu")
               or f"CPU {facts.cpu.model or '(model unknown)'} is not in the CPU catalog")
        return f"the CPU's package power is unknown: {why}; give it with --cpu-watts W"
    floor = parts[0].min_system_power_w if len(facts.gpus) == 1 and parts else None
    return PowerBudget(tuple(rows), build.cpu_package_w, build.cpu_catalog_name or facts.cpu.model or "CPU",
                       build.cpu_power_basis or "", build.cpu_tdp_w, floor,
                       f"the GPU maker's required system power for the {parts[0].catalog_name}" if floor else "")


def lane_split(lanes: int, n: int, want: int = 16) -> list[int]:
    """Widths n GPUs get from ``lanes`` CPU lanes, halving the last widest link until they fit.

    >>> lane_split(40, 2)
    [16, 16]
    >>> lane_split(28, 2)
    [16, 8]
    >>> lane_split(20, 4)
    [8, 4, 4, 4]
    """
    widths = [want] * n
    while sum(widths) > lanes and max(widths) > 1:
        i = max(j for j, w in enumerate(widths) if w == max(widths))
        widths[i] //= 2
    return widths


# Per lane and direction after line encoding, GB/s (PCI-SIG rates, shared/reference/pcie.md §1).
PCIE_GBS_PER_LANE = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.97, 5: 3.94, 6: 7.56}


@dataclass(frozen=True)
class Link:
    width: int
    via: str  # "CPU" | "chipset"


def allocate_lanes(wiring: LaneWiring, wants: list[int]) -> list[Link]:
    """The links ``wants`` GPUs get on a platform: the board split with the most CPU-attached
    slots (then the widest narrowest one) that the count allows; GPUs past it sit on chipset
    slots. HEDT platforms (no fixed splits) halve the widest link until the slot lanes suffice.

    >>> am5 = LaneWiring("AM5", 16, ((16,), (8, 8)), 4, 4, 4)
    >>> [f"x{l.width} {l.via}" for l in allocate_lanes(am5, [16, 16, 16])]
    ['x8 CPU', 'x8 CPU', 'x4 chipset']
    >>> [l.width for l in allocate_lanes(LaneWiring("X99", 28), [16, 16, 16])]
    [8, 8, 8]
    """
    if wiring.splits:
        # a platform row without a one-slot split leaves every GPU to the chipset, never a crash
        best = max((s for s in wiring.splits if len(s) <= len(wants)), key=lambda s: (len(s), min(s)), default=())
        chipset = wiring.chipset_slot_width or 4
        return ([Link(min(want, width), "CPU") for want, width in zip(wants, best)]
                + [Link(min(want, chipset), "chipset") for want in wants[len(best):]])
    widths = lane_split(wiring.gpu_slot_lanes or 0, len(wants), max(wants))
    return [Link(min(want, width), "CPU") for want, width in zip(wants, widths)]


def slots_needed(widths: list[float]) -> int:
    """Board slot position of the last card when cards sit back to back from the top slot.

    Each card covers ceil(width) slot positions; the last one only has to plug in (its cooler
    may hang below the board into the case's extra slot).

    >>> slots_needed([3, 3, 3, 3])
    10
    >>> slots_needed([2, 2, 2, 2])
    7
    """
    return 1 + sum(math.ceil(w) for w in widths[:-1]) if widths else 0
