"""Recommend a workstation for a budget by searching whole builds, not parts (issue 13).

Every candidate is a build: 1 to 4 of one GPU model on the cheapest platform that gives each
GPU at least x8 from the CPU, with the PSU, RAM and platform parts (board, case, storage,
cooler) it needs, judged by doctor's own checks. Builds that fail a hard check (slots, PSU,
circuit) are out. Of the builds within the budget the one with the most of the workload's
metric wins (ties: the cheaper), so a larger budget never buys a worse build; when a better
build was left out by a check, the result says which check stopped it.

Metrics (the metric and the number appear in the output):
* ``train``: dense tensor BF16 TFLOPS (FP16 where there is no BF16), summed over the GPUs;
  GPUs without tensor cores (before Volta, CC < 7.0) count their FP32 rate, never the 1/64-rate
  FP16 path of Pascal.
* ``infer``: dense tensor FP16 TFLOPS (FP32 before tensor cores), summed.
* ``llm``: first total VRAM (the largest model whose weights fit: GiB / 2 bytes per parameter
  at 16 bits, / 1 at 8, / 0.5 at 4), then summed memory bandwidth.
Pure functions over catalog rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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

MAX_GPUS = 4  # past 4 GPUs a workstation needs a server chassis (d2l.ai, "Selecting Servers and GPUs")
GIB_PER_BILLION_PARAMS_16BIT = 2 * 1e9 / 2**30  # 2 bytes per parameter


def _has_tensor_cores(g: GpuModel) -> bool:
    return g.cc is not None and float(g.cc) >= 7.0


def _tensor_or_fp32(g: GpuModel, tensor: float | None) -> float | None:
    return tensor if _has_tensor_cores(g) and tensor else g.fp32_tflops


@dataclass(frozen=True)
class Workload:
    name: str
    metric: str  # what "performance" means, for the user
    unit: str
    min_vram_gib: float
    per_gpu: Callable[[GpuModel], float | None]  # the summed metric, per GPU
    why: str
    by_vram: bool = False  # llm: total VRAM first, the metric second


WORKLOADS = {
    "train": Workload("train", "dense tensor BF16 TFLOPS (FP16 without BF16; FP32 before tensor cores), summed over the GPUs",
                      "BF16 TFLOPS", 12, lambda g: _tensor_or_fp32(g, g.bf16_tflops or g.fp16_tflops),
                      "mixed-precision training is bound by tensor-core math; 12 GB is the floor for image models "
                      "(Dettmers 2023)"),
    "infer": Workload("infer", "dense tensor FP16 TFLOPS (FP32 before tensor cores), summed over the GPUs",
                      "FP16 TFLOPS", 8, lambda g: _tensor_or_fp32(g, g.fp16_tflops),
                      "batched inference runs FP16 kernels; small models fit 8 GB"),
    "llm": Workload("llm", "total VRAM (the largest model that fits), then summed memory bandwidth", "GB/s", 24,
                    lambda g: g.bandwidth_gbs,
                    "the model must fit in VRAM first; token generation then reads every weight once per token, so "
                    "it is bound by memory bandwidth; LLMs want 24 GB or more per GPU (Dettmers 2023)", by_vram=True),
}


@dataclass(frozen=True)
class Candidate:
    gpu: GpuModel
    n: int
    plan: Plan
    perf: float  # the workload metric, summed over the GPUs

    @property
    def vram_gib(self) -> float:
        return (self.gpu.memory_gib or 0) * self.n

    @property
    def total(self) -> float:
        return self.plan.total_price_usd or 0.0

    def rank(self, w: Workload) -> tuple[float, ...]:
        return (self.vram_gib, self.perf) if w.by_vram else (self.perf,)

    def describe(self, w: Workload) -> str:
        """"2× GeForce RTX 3090: 48 GiB, 142 BF16 TFLOPS for $3,050"."""
        fits = (f" (weights of ~{self.vram_gib / GIB_PER_BILLION_PARAMS_16BIT:.0f} B parameters at 16 bits, "
                f"~{2 * self.vram_gib / GIB_PER_BILLION_PARAMS_16BIT:.0f} B at 8, "
                f"~{4 * self.vram_gib / GIB_PER_BILLION_PARAMS_16BIT:.0f} B at 4)") if w.by_vram else ""
        return (f"{self.n}× {self.gpu.name}: {self.vram_gib:g} GiB{fits}, {self.perf:,.0f} {w.unit} "
                f"for ${self.total:,.0f}")

    def summary(self, w: Workload, direction: str, chosen: "Candidate") -> dict[str, Any]:
        delta = self.total - chosen.total
        return {
            "direction": direction, "gpu": self.gpu.name, "gpus": self.n, "total_price_usd": self.total,
            "vram_gib": self.vram_gib, "performance": round(self.perf, 1), "unit": w.unit,
            "why": f"{self.describe(w)}; {'+' if delta >= 0 else '−'}${abs(delta):,.0f} for "
                   f"{self.perf / chosen.perf:.2f}× the {w.unit} and {self.vram_gib / chosen.vram_gib:.2f}× the VRAM",
        }


# Checks whose "skipped" means missing data about the part, not "not applicable".
_MUST_RUN = ("power.budget-exceeded", "power.transient-risk", "build.slots-insufficient", "build.cooling")


def _blocker(plan: Plan) -> str | None:
    """Why a build is not recommendable: its first warning or error, or a hard check that could not run."""
    for f in plan.findings:
        if f.severity in (Severity.ERROR, Severity.WARNING):
            return f"{f.code}: {f.title}"
        if f.code in _MUST_RUN and f.severity == Severity.SKIPPED:
            return f"{f.code} could not run ({f.detail})"
    return None


def _candidate(gpu: GpuModel, n: int, w: Workload, region: Region, inputs: dict[str, Any]) -> Candidate | None:
    per_gpu = w.per_gpu(gpu)
    if per_gpu is None or gpu.price_usd is None:
        return None
    try:
        cpu, cpu_why = typical_cpu(n, gpu.pcie_gen)
    except PlanError:
        return None
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
    return Candidate(gpu, n, plan, per_gpu * n)


def _pool(vram: float) -> list[GpuModel]:
    # NVIDIA only: what dlkit then checks and benches is the CUDA stack (driver, toolkit, the
    # torch CUDA wheels). AMD cards are in the catalog for doctor and for `--gpu` checks.
    return [g for g in gpus() if g.vendor == "nvidia" and g.form_factor == "pcie" and g.cooler != "passive"
            and (g.memory_gib or 0) >= vram and g.price_usd is not None]


def recommend(budget_usd: float, n: int | None, workload: str, region: Region, min_vram_gib: float | None = None) -> Plan:
    """The build with the most of the workload's metric within ``budget_usd`` (USD, after the
    region's taxes); ``n`` fixes the GPU count, None searches 1 to 4."""
    w = WORKLOADS[workload]
    vram = w.min_vram_gib if min_vram_gib is None else min_vram_gib
    counts = (n,) if n else tuple(range(1, MAX_GPUS + 1))
    inputs = {"budget_usd": budget_usd, "gpus": n, "gpus_searched": list(counts), "workload": workload,
              "region": region.region, "min_vram_gib": vram}
    pool = _pool(vram)
    if not pool:
        raise PlanError(f"no GPU in the catalog with {vram:g} GiB or more has a price")
    built = [c for c in (_candidate(g, k, w, region, inputs) for g in pool for k in counts) if c is not None]
    # every part priced (else an unpriced part would make a build look cheap) and no check against it
    sound = [c for c in built if _blocker(c.plan) is None and not c.plan.not_priced]
    if not sound:
        raise PlanError(f"no {'/'.join(map(str, counts))}-GPU build with {vram:g}+ GiB GPUs passes the checks (slots, "
                        "power, circuit) on a 7-slot workstation board"
                        + ("; 5-8 GPUs need a server chassis with redundant PSUs (d2l.ai)" if n and n > 4 else ""))
    fitting = [c for c in sound if c.total <= budget_usd]
    if not fitting:
        cheapest = min(sound, key=lambda c: c.total)
        raise PlanError(f"a budget of ${budget_usd:,.0f} does not cover the cheapest viable build with {vram:g}+ GiB GPUs: "
                        f"${cheapest.total:,.0f} ({cheapest.n}× {cheapest.gpu.name}); raise --budget or lower --min-vram")
    best = max(fitting, key=lambda c: (*c.rank(w), -c.total))
    notes = _stopped(best, built, budget_usd, w)
    alternatives = _alternatives(best, sound, fitting, budget_usd, w)
    p = best.plan
    most = "the most VRAM (then GB/s)" if w.by_vram else f"the most {w.unit}"
    gpu_reason = (f"{most} within ${budget_usd:,.0f}: {best.describe(w)}; "
                  f"{best.gpu.memory_gib:g} ≥ {vram:g} GiB per GPU")
    parts = tuple(replace(part, reason=gpu_reason) if part.kind == "gpu" else part for part in p.parts)
    choice = (f"Ranked by {w.metric}. Searched {len(built)} builds ({len(pool)} GPUs × {'/'.join(map(str, counts))} "
              f"of them, PCIe, not passive, ≥ {vram:g} GiB, priced); {len(sound)} pass the checks, {len(fitting)} fit "
              f"the budget. Chosen: {best.describe(w)}. Workload {workload}: {w.why}.")
    assumptions = tuple(a for a in p.assumptions if not a.startswith("GPU power"))
    tax = (f" incl. {region.name} taxes (× {region.price_factor:g})" if region.price_factor != 1 else "")
    return Plan("recommend", inputs, p.facts, parts, p.findings, assumptions, tuple(alternatives), choice,
                (f"prices in USD{tax}; platform parts are dated estimates by platform class", *notes))


def _stopped(best: Candidate, built: list[Candidate], budget: float, w: Workload) -> list[str]:
    """Why the budget bought no more: a better build within it that a check ruled out, or one
    the catalog cannot price whole."""
    notes = []
    better = [c for c in built if c.total <= budget and c.rank(w) > best.rank(w) and _blocker(c.plan)]
    if better:
        top = max(better, key=lambda c: c.rank(w))
        notes.append(f"stopped here: {top.n}× {top.gpu.name} fits the budget but fails {_blocker(top.plan)}")
    unpriced = [c for c in built if c.total <= budget and c.rank(w) > best.rank(w) and not _blocker(c.plan)
                and c.plan.not_priced]
    if unpriced:
        top = max(unpriced, key=lambda c: c.rank(w))
        notes.append(f"not ranked: {top.n}× {top.gpu.name} on {top.plan.facts.build.cpu_catalog_name} would rank higher, "
                     f"but the catalog has no price for its {', '.join(top.plan.not_priced)}")
    return notes


def _alternatives(best: Candidate, sound: list[Candidate], fitting: list[Candidate], budget: float,
                  w: Workload) -> list[dict[str, Any]]:
    """One cheaper build and one better one, each a different GPU model or count."""
    other = [c for c in sound if (c.gpu.name, c.n) != (best.gpu.name, best.n)]
    out = []
    down = [c for c in other if c in fitting and c.total <= 0.8 * best.total]
    if down:
        alt = max(down, key=lambda c: (*c.rank(w), -c.total))
        out.append(alt.summary(w, "down", best) | {"over_budget": False})
    up = [c for c in other if c.rank(w) > best.rank(w)]
    if up:
        alt = min(up, key=lambda c: (c.total, [-x for x in c.rank(w)]))
        out.append(alt.summary(w, "up", best) | {"over_budget": alt.total > budget})
    return out
