"""Recommend a workstation for a budget: the GPU with the best performance per dollar of the
whole build, a CPU with the lanes for it, a PSU tier, RAM — each with its reason, plus one
alternative up and one down.

Performance per dollar is counted over the build (GPUs + CPU + PSU + RAM), not the GPU alone:
the platform's fixed cost is what makes a cheap slow card a poor buy, and what Dettmers'
per-GPU ranking leaves the reader to add. Pure functions over catalog rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dlkit.catalog.hardware import GpuModel, Region, gpus
from dlkit.checks.buildmath import power_budget
from dlkit.recipes.build import (
    Plan,
    PlanError,
    check_build,
    choose_psu,
    choose_ram,
    ram_need_gib,
    typical_cpu,
)
from dlkit.recipes.machine import Declared, planned_facts
from dlkit.report import Severity


@dataclass(frozen=True)
class Workload:
    name: str
    metric: str  # what "performance" means, for the user
    short: str
    unit: str
    min_vram_gib: float
    perf: Callable[[GpuModel], float | None]
    why: str


WORKLOADS = {
    "train": Workload("train", "dense BF16 tensor TFLOPS (FP16, then FP32 where there is no BF16)", "BF16 TFLOPS", "TFLOPS", 12,
                      lambda g: g.bf16_tflops or g.fp16_tflops or g.fp32_tflops,
                      "mixed-precision training is bound by tensor-core math; 12 GB is the floor for image models "
                      "(Dettmers 2023)"),
    "infer": Workload("infer", "dense FP16 tensor TFLOPS (FP32 where there is none)", "FP16 TFLOPS", "TFLOPS", 8,
                      lambda g: g.fp16_tflops or g.fp32_tflops,
                      "batched inference runs FP16 kernels; small models fit 8 GB"),
    "llm": Workload("llm", "memory bandwidth", "bandwidth", "GB/s", 24,
                    lambda g: g.bandwidth_gbs,
                    "token generation reads every weight once per token, so it is bound by memory bandwidth; "
                    "transformers/LLMs want 24 GB or more (Dettmers 2023)"),
}


@dataclass(frozen=True)
class Candidate:
    gpu: GpuModel
    plan: Plan
    perf: float

    @property
    def total(self) -> float:
        return self.plan.total_price_usd or 0.0

    @property
    def per_dollar(self) -> float:
        return self.perf / self.total if self.total else 0.0

    def summary(self, w: Workload, direction: str, chosen: "Candidate") -> dict[str, Any]:
        delta = self.total - chosen.total
        return {
            "direction": direction, "gpu": self.gpu.name, "gpus": len(self.plan.facts.gpus),
            "total_price_usd": self.total, "performance": round(self.perf, 1), "unit": w.unit,
            "per_1000_usd": round(1000 * self.per_dollar, 2),
            "why": f"{'+' if delta >= 0 else '−'}${abs(delta):,.0f} for {self.perf / chosen.perf:.2f}× the {w.unit}",
        }


# Checks whose "skipped" means missing data about the part, not "not applicable".
_MUST_RUN = ("power.budget-exceeded", "power.transient-risk", "build.slots-insufficient", "build.cooling")


def _clean(plan: Plan) -> bool:
    """No warning, and no hard check skipped for want of data (a 3-GPU build whose cooler is unknown)."""
    return plan.status == "ok" and not any(f.code in _MUST_RUN and f.severity == Severity.SKIPPED for f in plan.findings)


def _candidate(gpu: GpuModel, n: int, w: Workload, region: Region, inputs: dict[str, Any]) -> Candidate | None:
    perf = w.perf(gpu)
    if perf is None or gpu.price_usd is None:
        return None
    cpu, cpu_why = typical_cpu(n, gpu.pcie_gen)
    ram, ram_why = choose_ram(ram_need_gib(gpu, n), cpu)
    probe = planned_facts(gpu, n, cpu, ram.capacity_gib if ram else None, Declared(region=region, slots=7))
    budget = power_budget(probe)
    if isinstance(budget, str):
        return None
    psu, psu_why = choose_psu(budget, region)
    if psu is None:
        return None
    plan = check_build(gpu, n, cpu, psu_tier=psu, ram_kit=ram, region=region, inputs=inputs,
                       reasons_given={"cpu": cpu_why, "psu": psu_why, "ram": ram_why})
    return Candidate(gpu, plan, perf * n)


def recommend(budget_usd: float, n: int, workload: str, region: Region, min_vram_gib: float | None = None) -> Plan:
    """The best-performance-per-dollar build within ``budget_usd`` (USD, after the region's taxes)."""
    w = WORKLOADS[workload]
    vram = w.min_vram_gib if min_vram_gib is None else min_vram_gib
    inputs = {"budget_usd": budget_usd, "gpus": n, "workload": workload, "region": region.region, "min_vram_gib": vram}
    # NVIDIA only: what dlkit then checks and benches is the CUDA stack (driver, toolkit, the
    # torch CUDA wheels). AMD cards are in the catalog for doctor and for `--gpu` checks.
    pool = [g for g in gpus() if g.vendor == "nvidia" and g.form_factor == "pcie" and g.cooler != "passive"
            and (g.memory_gib or 0) >= vram and g.price_usd is not None]
    if not pool:
        raise PlanError(f"no GPU in the catalog with {vram:g} GiB or more has a price")
    candidates = [c for c in (_candidate(g, n, w, region, inputs) for g in pool) if c is not None]
    # A recommendation must pass its own hard checks (slots, PSU); warnings are allowed only
    # when every build that fits has one (e.g. 4 GPUs on a 1440 W circuit), and are shown.
    candidates = [c for c in candidates if c.plan.status != "error"]
    if not candidates:
        raise PlanError(f"no {n}-GPU build with {vram:g}+ GiB GPUs passes the checks (slots, power) on a 7-slot "
                        "workstation board" + ("; 5-8 GPUs need a server chassis with redundant PSUs (d2l.ai, "
                                               "'Selecting Servers and GPUs')" if n > 4 else ""))
    fitting = [c for c in candidates if c.total <= budget_usd]
    fitting = [c for c in fitting if _clean(c.plan)] or fitting
    if not fitting:
        cheapest = min(candidates, key=lambda c: c.total)
        raise PlanError(f"a budget of ${budget_usd:,.0f} does not cover the cheapest {n}-GPU build with {vram:g}+ GiB "
                        f"GPUs: ${cheapest.total:,.0f} ({n}× {cheapest.gpu.name}); raise --budget or lower --min-vram/--gpus")
    best = max(fitting, key=lambda c: (c.per_dollar, c.perf))
    up = [c for c in candidates if c.perf > best.perf]
    down = [c for c in fitting if c.total < best.total and c is not best]
    alternatives = []
    if up:
        alt = min(up, key=lambda c: (c.total, -c.perf))
        alternatives.append(alt.summary(w, "up", best) | {"over_budget": alt.total > budget_usd})
    if down:
        alt = max(down, key=lambda c: (c.per_dollar, c.perf))
        alternatives.append(alt.summary(w, "down", best) | {"over_budget": False})
    p = best.plan
    gpu_reason = (f"best {w.short} per $ of the build within ${budget_usd:,.0f}: {best.perf:,.1f} {w.unit} for "
                  f"${best.total:,.0f} = {1000 * best.per_dollar:.1f} per $1k; {best.gpu.memory_gib:g} ≥ {vram:g} GiB")
    parts = tuple(part if part.kind != "gpu" else type(part)(**{**part.__dict__, "reason": gpu_reason}) for part in p.parts)
    choice = (f"Ranked by {w.metric} per dollar of the whole build. Compared {len(candidates)} GPUs (PCIe, not passive, ≥ {vram:g} GiB, priced) as {n}-GPU builds; "
              f"{len(fitting)} fit the budget. Workload {workload}: {w.why}.")
    assumptions = tuple(a for a in p.assumptions if not a.startswith("GPU power"))
    return Plan("recommend", inputs, p.facts, parts, p.findings, assumptions, tuple(alternatives), choice,
                (f"prices in USD{' incl. ' + region.name + ' taxes (× ' + format(region.price_factor, 'g') + ')' if region.price_factor != 1 else ''}; "
                 "the board, case, storage and CPU cooler are not included",))
