"""Hardware catalog: GPUs, CPUs, PSU tiers, RAM kits and planning regions.

The rows live in ``dlkit/catalog/data/{gpus,cpus,psus,ram,regions}.csv``, each with its
``source`` and ``as_of``; the references behind them are ``shared/reference/gpu-specs.md``
§1/§6, ``cpu-and-memory.md`` §5 and ``build-rules.md``. Rows are validated when loaded: a
cell that does not parse is a packaging bug and raises :class:`CatalogError` naming the
file, line and column. An empty cell means *unknown* (``None``), never zero.

Names match loosely, the way people type them: "3090", "rtx3090", "GeForce RTX 3090" and
nvidia-smi's "NVIDIA GeForce RTX 3090" all find the same row (:func:`find_gpu`). A miss or
an ambiguous name raises :class:`UnknownPart` with close matches for "did you mean".
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from dlkit.catalog.names import UnknownPart, match_part
from dlkit.catalog.tables import cell, shipped

HARDWARE_TABLES = ("gpus", "cpus", "psus", "ram", "regions", "platforms", "platform_parts")


@dataclass(frozen=True)
class GpuModel:
    name: str
    aliases: tuple[str, ...]
    arch: str
    segment: str  # consumer | workstation | datacenter
    year: int | None
    cc: str | None
    sms: int | None
    memory_gib: float | None
    memory_type: str | None
    bandwidth_gbs: float | None
    fp32_tflops: float | None
    tf32_tflops: float | None  # dense tensor-core TF32; None before Ampere
    bf16_tflops: float | None  # dense, FP32 accumulate; None without BF16
    fp16_tflops: float | None  # dense, FP32 accumulate on tensor cores where there are some
    board_power_w: float | None
    form_factor: str  # pcie | sxm (SXM and superchip modules) | oam (AMD Instinct) | soc (GB10)
    slot_width: float | None  # slots of the reference / Founders Edition cooler
    cooler: str | None  # axial | blower | flow-through | passive | liquid
    power_connectors: str | None  # "2x8pin", "1x16pin", "none", "sxm" (fed by the baseboard: SXM, OAM), ...
    pcie_gen: int | None
    pcie_width: int | None  # electrical
    spike_factor: float | None  # ms-scale transient peak / board power, where measured
    msrp_usd: float | None
    street_usd: float | None
    street_kind: str | None  # new | used
    street_as_of: str | None = cell(date=True)
    street_source: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)
    vendor: str = cell(default="nvidia", choices=("nvidia", "amd"))
    board_gpus: int = cell(default=1, lo=1, hi=8)  # GPUs on one board: 2 for the K80 and the GRID K520
    # The GPU maker's "Required System Power" for a PC with this one card (NVIDIA's spec pages):
    # a single-GPU PSU recommendation never goes below it (build-rules.md §8 correction).
    min_system_power_w: float | None = cell(default=None, lo=200, hi=3000)
    # The lowest `nvidia-smi -pl` a reference board accepts ("Min Power Limit"); partner boards
    # may differ, so a probed GPU's own figure wins.
    min_power_limit_w: float | None = cell(default=None, lo=1, hi=2000)

    @property
    def key(self) -> str:
        """The model's one identity (its catalog name), shared by every command and table."""
        return self.name

    @property
    def gpu_memory_gib(self) -> float | None:
        """Memory of one GPU as nvidia-smi lists it (a K80 board is two 12 GiB GPUs)."""
        return None if self.memory_gib is None else self.memory_gib / self.board_gpus

    @property
    def gpu_sms(self) -> int | None:
        return None if self.sms is None else self.sms // self.board_gpus

    def per_gpu(self, value: float | None) -> float | None:
        """A board figure (TFLOPS, bandwidth) for one of its GPUs."""
        return None if value is None else value / self.board_gpus

    @property
    def price_usd(self) -> float | None:
        """What it costs to buy one now: the dated street price, else the launch MSRP."""
        return self.street_usd if self.street_usd is not None else self.msrp_usd

    @property
    def price_basis(self) -> str:
        if self.street_usd is not None:
            return f"{self.street_kind or 'street'} price, {self.street_as_of or 'undated'} ({self.street_source or self.source})"
        if self.msrp_usd is not None:
            return f"launch MSRP ({self.year or 'year unknown'}); no dated street price in the catalog"
        return "no price in the catalog"


@dataclass(frozen=True)
class CpuModel:
    name: str
    aliases: tuple[str, ...]
    vendor: str
    segment: str  # desktop | hedt | workstation | server
    year: int | None
    cores: int | None
    threads: int | None
    base_ghz: float | None
    boost_ghz: float | None
    tdp_w: float | None  # Intel Processor Base Power / AMD default TDP (a fact; the PSU uses package_power)
    max_power_w: float | None  # Intel Maximum Turbo Power (PL2) / AMD PPT, where the vendor publishes it
    socket: str | None
    platform: str | None
    memory_type: str | None
    memory_channels: int | None
    max_memory_gib: float | None
    lanes_total: int | None
    lanes_usable: int | None  # for slots and M.2, excluding the chipset link
    pcie_gen: int | None
    launch_price_usd: float | None
    street_usd: float | None
    street_as_of: str | None = cell(date=True)
    source: str = cell()
    as_of: str = cell(date=True)

    @property
    def price_usd(self) -> float | None:
        return self.street_usd if self.street_usd is not None else self.launch_price_usd

    def package_power(self) -> tuple[float, str] | None:
        """What the CPU draws under sustained all-core load, and why: the PSU formula's CPU term
        (spec capture-and-report.md ``power.budget-exceeded``). None when the catalog has no TDP.

        >>> from dataclasses import replace
        >>> c = lookup_cpu("7950X")
        >>> c.package_power()
        (230.0, 'AMD PPT')
        >>> replace(c, max_power_w=None).package_power()
        (229.5, 'AMD PPT = 1.35 × TDP 170 W on AM5')
        """
        if self.max_power_w is not None:
            return self.max_power_w, ("Intel Maximum Turbo Power (PL2)" if self.vendor == "intel" else "AMD PPT")
        if self.tdp_w is None:
            return None
        if self.vendor == "amd" and self.socket in AMD_PPT_SOCKETS:
            return round(PPT_PER_TDP * self.tdp_w, 2), f"AMD PPT = {PPT_PER_TDP} × TDP {self.tdp_w:.0f} W on {self.socket}"
        if self.vendor == "amd":
            return self.tdp_w, f"TDP {self.tdp_w:.0f} W (Threadripper and EPYC hold package power at TDP)"
        return (round(INTEL_DEFAULT_PL2 * self.tdp_w, 2),
                f"Intel's default PL2 = {INTEL_DEFAULT_PL2} × TDP {self.tdp_w:.0f} W (ARK lists no Maximum Turbo Power "
                "for this CPU; boards often raise it: --cpu-watts)")


# AMD's socket power limit (PPT) on AM4/AM5 is 1.35 × TDP: 230 W for a 170 W 7950X, 142 W for
# 105 W, 88 W for 65 W (spec capture-and-report.md power.budget-exceeded; hardwareluxx.de).
# Threadripper and EPYC run at TDP (same spec row).
AMD_PPT_SOCKETS = ("AM4", "AM5")
PPT_PER_TDP = 1.35
# Intel's hardware default for PL2 when ARK gives no Maximum Turbo Power (pre-12th-gen parts):
# "The default for this limit is 1.25 x TDP" (Intel Xeon E3-1200 v3 datasheet vol. 1, Table 21,
# POWER_LIMIT_2; the same note in later desktop datasheets: "hardware default setting").
INTEL_DEFAULT_PL2 = 1.25


@dataclass(frozen=True)
class PsuTier:
    tier: str
    watts: int
    atx: int  # 2 | 3 (3 = ATX 3.x: native 12V-2x6 and the excursion tolerance)
    pcie_8pin: int | None
    pcie_16pin: int | None
    efficiency: str | None
    input_v: str | None
    example: str | None
    price_usd: float | None
    price_as_of: str | None = cell(date=True)
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class RamKit:
    kit: str
    capacity_gib: int
    modules: int | None
    type: str  # DDR4 | DDR5
    speed_mts: int | None
    registered: bool  # RDIMM (registered ECC): what TRX50, WRX90, W790 and servers take
    price_usd: float | None
    price_as_of: str | None = cell(date=True)
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class Region:
    region: str
    name: str
    volts: float
    amps: float
    continuous_w: float
    price_factor: float
    note: str | None
    source: str
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class Platform:
    """How a platform wires its PCIe lanes (issue 13): CPU lanes to graphics slots and the
    splits boards make of them, CPU lanes for NVMe, and the chipset uplink its slots share."""

    platform: str  # the chipset (X570, W790) or, for desktop sockets, the socket (AM5, LGA1700)
    socket: str
    gpu_slot_lanes: int | None  # None: every usable CPU lane goes to slots (HEDT, workstation, server)
    gpu_splits: tuple[str, ...]  # "16", "8+8", "8+4+4"; empty: any split of the slot lanes
    cpu_nvme_lanes: int | None
    chipset_uplink_gen: int | None = cell(lo=1, hi=6)
    chipset_uplink_width: int | None = cell(lo=1, hi=16)
    chipset_slot_width: int | None = cell(lo=1, hi=16)  # a GPU in a chipset slot gets at most this
    dimm: str = cell(choices=("udimm", "rdimm"))  # UDIMM | RDIMM: the memory modules the platform takes
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)

    def splits(self) -> tuple[tuple[int, ...], ...]:
        """The splits as widths.

        >>> lookup_platform_for(lookup_cpu("7950X")).splits()
        ((16,), (8, 8))
        """
        return tuple(tuple(int(w) for w in s.split("+")) for s in self.gpu_splits)


def lookup_platform_for(cpu: CpuModel) -> Platform | None:
    """The wiring of ``cpu``'s platform: by its chipset, else by its socket."""
    rows = _load("platforms")
    for key, attr in ((cpu.platform, "platform"), (cpu.socket, "platform"), (cpu.socket, "socket")):
        hit = [p for p in rows if key and getattr(p, attr) == key]
        if hit:
            return hit[0]
    return None


@dataclass(frozen=True)
class PlatformPart:
    """A dated price estimate for a part the GPU/CPU/PSU/RAM list does not name (board, case,
    storage, CPU cooler), by platform class and GPU count."""

    part: str = cell(choices=("board", "case", "storage", "cooler"))
    platforms: tuple[str, ...] = cell()  # platform keys or sockets; empty: any platform
    min_gpus: int = cell(lo=1, hi=16)
    max_gpus: int = cell(lo=1, hi=16)
    max_cpu_w: float | None = cell(lo=1)  # coolers: the package power it is chosen up to
    example: str = cell()
    price_usd: float | None = cell(lo=0)
    price_as_of: str | None = cell(date=True)
    source: str = cell()
    as_of: str = cell(date=True)


def platform_part(part: str, cpu: CpuModel, n_gpus: int, cpu_w: float | None) -> PlatformPart | None:
    """The estimate for ``part`` in a build on ``cpu``'s platform with ``n_gpus`` GPUs."""
    wiring = lookup_platform_for(cpu)
    keys = {k for k in (cpu.socket, wiring.platform if wiring else None, wiring.socket if wiring else None) if k}
    rows = [r for r in _load("platform_parts") if r.part == part and r.min_gpus <= n_gpus <= r.max_gpus
            and (not r.platforms or keys & set(r.platforms))
            and (r.max_cpu_w is None or (cpu_w is not None and cpu_w <= r.max_cpu_w))]
    return min(rows, key=lambda r: r.price_usd if r.price_usd is not None else float("inf"), default=None)


_MODELS: dict[str, type] = {"gpus": GpuModel, "cpus": CpuModel, "psus": PsuTier, "ram": RamKit, "regions": Region,
                            "platforms": Platform, "platform_parts": PlatformPart}


def _load(table: str) -> tuple[Any, ...]:
    if table not in _MODELS:
        raise KeyError(f"unknown hardware table {table!r}; known: {', '.join(HARDWARE_TABLES)}")
    return shipped(_MODELS[table], table)


def gpus() -> tuple[GpuModel, ...]:
    return _load("gpus")


def cpus() -> tuple[CpuModel, ...]:
    return _load("cpus")


def psus() -> tuple[PsuTier, ...]:
    return _load("psus")


def ram_kits() -> tuple[RamKit, ...]:
    return _load("ram")


def regions() -> tuple[Region, ...]:
    return _load("regions")


def lookup_cpu(query: str) -> CpuModel:
    return match_part("cpu", query, cpus())


def find_cpu(query: str | None) -> CpuModel | None:
    """The catalog row for a CPU name (as /proc/cpuinfo prints it or as typed), or None."""
    try:
        return lookup_cpu(query) if query else None
    except UnknownPart:
        return None


def lookup_region(code: str) -> Region:
    table = {r.region: r for r in regions()}
    if code.lower() in table:
        return table[code.lower()]
    raise UnknownPart("region", code, difflib.get_close_matches(code.lower(), list(table), n=3, cutoff=0.3)
                      or sorted(table))


def rows_as_dicts(table: str) -> list[dict[str, Any]]:
    """Every row of a hardware table as a dict (for ``--list`` and JSON)."""
    return [dataclasses.asdict(r) for r in _load(table)]
