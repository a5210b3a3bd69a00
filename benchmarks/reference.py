"""Healthy ranges ("what number should I get?", methodology §3) and the likely cause when a
result falls below one.

The ranges are data: ``dlkit/catalog/data/bench_reference.csv``, every row with its source
and date ("catalogs are data"). A row names a catalog GPU (or ``*``), the kernel, torch's
dtype name, the math mode or pinned-ness, the PCIe link (``gen4x16``, ``*``) and a range in
TFLOP/s, GB/s, "% of spec" (memory bandwidth) or "% of link" (host↔device).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from dlkit.catalog import gpu_identity
from dlkit.catalog.tables import cell, shipped


@dataclass(frozen=True)
class Reference:
    gpu: str  # a GPU key (gpus.csv name, checked on load) or "*"
    kernel: str
    dtype: str
    math: str | None = cell()  # tf32 | ieee | pinned | pageable; empty: any
    link: str | None = cell()  # gen4x16 | *; empty: any
    low: float = cell(lo=0)
    high: float = cell(lo=0)
    unit: str = cell()
    source: str = cell()
    as_of: str = cell(date=True)

    def __post_init__(self) -> None:
        if self.gpu != "*" and gpu_identity.by_key(self.gpu) is None:
            raise ValueError(f"gpu {self.gpu!r} is not a GPU in gpus.csv")
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} > high {self.high:g}")


@lru_cache(maxsize=1)
def references() -> tuple[Reference, ...]:
    return shipped(Reference, "bench_reference")


def link_name(gen: int | None, width: int | None) -> str | None:
    """
    >>> link_name(4, 16)
    'gen4x16'
    """
    return f"gen{gen}x{width}" if gen and width else None


def find_reference(result: dict[str, Any], gpu: str | None, link: str | None = None,
                   rows: tuple[Reference, ...] | None = None) -> Reference | None:
    """The most specific row for a result: this GPU before ``*``, this link before ``*``.

    >>> find_reference({"kernel": "matmul", "device": "cuda", "dtype": "bfloat16"}, "H100 SXM5").high
    800.0
    >>> find_reference({"kernel": "h2d", "device": "cuda", "dtype": "uint8", "pinned": True}, None, "gen4x16").low
    24.0
    """
    if result.get("device") != "cuda":
        return None
    math = result.get("math") or ""
    if result.get("kernel") in ("h2d", "d2h", "bidir"):
        math = "pinned" if result.get("pinned") else "pageable"
    best: tuple[int, Reference] | None = None
    for ref in rows if rows is not None else references():
        if ref.kernel != result.get("kernel") or ref.dtype != result.get("dtype") or ref.math not in (None, math):
            continue
        if ref.gpu not in ("*", gpu or ""):
            continue
        if ref.link and ref.link not in ("*", link or ""):
            continue
        score = (ref.gpu != "*") * 4 + (ref.link not in (None, "*")) * 2 + (ref.math is not None)
        if best is None or score > best[0]:
            best = (score, ref)
    return best[1] if best else None


def judge(value: float | None, ref: Reference | None) -> str | None:
    """"below" | "inside" | "above" | None (nothing to judge).

    >>> r = Reference("*", "h2d", "uint8", "pinned", "gen4x16", 24, 27, "GB/s", "", "")
    >>> judge(20, r), judge(25, r), judge(30, r), judge(None, r)
    ('below', 'inside', 'above', None)
    """
    if value is None or ref is None:
        return None
    if value < ref.low:
        return "below"
    return "above" if value > ref.high else "inside"


def likely_causes(gpu_env: dict[str, Any], kernel: str) -> list[str]:
    """Why a healthy GPU would measure low, from the environment block (power cap, clock-event
    reasons, PCIe width, temperature, a low sampled clock). Evidence only; never guesses
    without a fact behind it."""
    causes: list[str] = []
    limit, default = gpu_env.get("power_limit_w"), gpu_env.get("power_default_limit_w")
    if limit and default and limit < 0.95 * default:
        causes.append(f"power cap: limit {limit:g} W below the default {default:g} W (nvidia-smi -pl)")
    reasons = set(gpu_env.get("clock_event_reasons_after") or ()) | set(gpu_env.get("clock_event_reasons_before") or ())
    reasons -= {"gpu_idle", "applications_clocks_setting"}
    if reasons:
        causes.append(f"clock-event (throttle) reasons active: {', '.join(sorted(reasons))}")
    temp, slow = gpu_env.get("temperature_c_after"), gpu_env.get("slowdown_temperature_c")
    if temp is not None and slow and temp >= slow - 5:
        causes.append(f"temperature {temp:g} °C near the slowdown threshold {slow:g} °C")
    clocks = gpu_env.get("sm_clock_mhz_during") or []
    max_clock = gpu_env.get("sm_clock_max_mhz")
    if clocks and max_clock and min(clocks) < 0.75 * max_clock:
        causes.append(f"SM clock fell to {min(clocks):g} MHz (< 75 % of max {max_clock:g}; nvbench discards such samples)")
    if kernel in ("h2d", "d2h", "bidir"):
        # read after the copies: an idle link down-shifts its generation (pcie.md §3)
        w = gpu_env.get("pcie_width_current_after") or gpu_env.get("pcie_width_current_before")
        g = gpu_env.get("pcie_gen_current_after") or gpu_env.get("pcie_gen_current_before")
        wmax, gmax = gpu_env.get("pcie_width_max"), gpu_env.get("pcie_gen_max")
        if w and wmax and w < wmax:
            causes.append(f"PCIe link x{w} of x{wmax}: riser, wrong slot or lane sharing (pcie.md §4)")
        if g and gmax and g < gmax:
            causes.append(f"PCIe Gen{g} of Gen{gmax} (read after the copies; BIOS setting or slot)")
        causes.append("NUMA: bind to the GPU's node (nvidia-smi topo -m); a remote node costs 3-5× (pcie.md §2)")
    return causes
