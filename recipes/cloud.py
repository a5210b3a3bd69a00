"""Cloud comparison planner: which instance gives a GPU for the least money, per hour and per
unit of work. Pure: rows and rates in, a :class:`CompareResult` out (nothing printed).

"Work" is 10^18 floating-point operations (an EFLOP) at the GPU's rate for one dtype: the
datasheet dense peak from ``dlkit.catalog.hardware``, or the rate ``dlkit bench`` measured.
A faster GPU does the same work in fewer hours, so $/EFLOP ranks offers the way a training
run pays for them (cloud-prices.md §7, "perf normalization"); peak rates flatter every GPU
alike, measured rates are the honest ones.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Callable

from dlkit.catalog import gpu_identity
from dlkit.catalog.cloud import (Anomaly, CatalogAge, PriceRow, age_days, catalog_age, find_anomalies,
                                 join_components, match_gpus, region_matches, MAX_AGE_DAYS)
from dlkit.catalog.names import MAX_NAME_CHARS

DTYPES = ("bf16", "fp16", "tf32", "fp32")
MAX_HOURS = 100 * 365.25 * 24
# dlkit bench writes torch dtype names; --dtype takes the short ones.
_BENCH_DTYPES = {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "fp16": "fp16", "half": "fp16",
                 "tf32": "tf32", "tensorfloat32": "tf32", "float32": "fp32", "fp32": "fp32", "float": "fp32"}


class CompareError(ValueError):
    """The question has no answer in the catalog (no such count, region, spot price)."""


@dataclass(frozen=True)
class Rate:
    tflops_per_gpu: float
    source: str  # "peak" (catalog datasheet) or "measured" (dlkit bench)


@dataclass(frozen=True)
class Offer:
    row: PriceRow
    price_usd_per_h: float  # the price compared: on-demand, or spot with --spot
    usd_per_gpu_h: float
    cost_usd_for_hours: float | None
    rate: Rate | None
    usd_per_eflop: float | None
    age_days: int | None
    rank_work: int | None = None


@dataclass(frozen=True)
class CompareResult:
    query: dict
    offers: tuple[Offer, ...]  # sorted by $/h
    anomalies: tuple[Anomaly, ...]
    age: CatalogAge
    notes: tuple[str, ...] = ()
    sources_read: tuple[str, ...] = field(default_factory=tuple)

    @property
    def by_work(self) -> list[Offer]:
        return sorted((o for o in self.offers if o.rank_work is not None), key=lambda o: o.rank_work)


def usd_per_eflop(price_usd_per_h: float, tflops_per_gpu: float, gpu_count: float) -> float:
    """Dollars per 10^18 FLOP: an instance doing ``tflops × count`` TFLOP/s for an hour does
    ``tflops × count × 3600 × 1e12`` FLOP = ``tflops × count × 0.0036`` EFLOP.

    >>> round(usd_per_eflop(6.88, 989.0, 1), 3)
    1.932
    """
    return price_usd_per_h / (tflops_per_gpu * gpu_count * 0.0036)


def compare(rows: list[PriceRow], *, gpu: str | None, count: float | None = None, hours: float | None = None,
            spot: bool = False, region: str | None = None, dtype: str = "bf16",
            rate_for: Callable[[str], Rate | None] = lambda g: None, today: dt.date,
            historical: bool = False, rate_note: str | Callable[[], str | None] | None = None,
            sources_read: tuple[str, ...] = ()) -> CompareResult:
    """Filter, price and rank. ``rows`` are all loaded rows (components not yet joined);
    ``rate_for(gpu)`` gives the per-GPU rate for ``dtype`` or ``None``."""
    # A century of instance-hours is past any plan; beyond it a product overflows to "inf USD".
    if hours is not None and not (math.isfinite(hours) and 0 <= hours <= MAX_HOURS):
        raise CompareError(f"--hours must be 0 or more and at most {MAX_HOURS:,.0f} (a century), got {hours:g}")
    if count is not None and count <= 0:
        raise CompareError(f"--count must be 1 or more, got {count:g}")
    if dtype not in DTYPES:
        raise CompareError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    vms, leftover = join_components(rows)
    notes = []
    wanted = set(match_gpus(gpu, [r.gpu for r in vms] + [r.gpu for r in leftover])) if gpu else None
    pick = [r for r in vms if wanted is None or r.gpu in wanted]
    if wanted is not None and not pick:
        raise CompareError(f"the catalog has {gpu} only as GPU-part prices without a host VM; nothing to rent as is")
    if count is not None:
        counts = sorted({r.gpu_count for r in pick})
        pick = [r for r in pick if r.gpu_count == count]
        if not pick:
            raise CompareError(f"no {gpu or 'GPU'} instance with {count:g} GPU(s) in the catalog "
                               f"(counts: {', '.join(f'{c:g}' for c in counts)})")
    if region:
        before = pick
        pick = [r for r in pick if region_matches(r.region, region)]
        if not pick:
            known = sorted({r.region for r in before if r.region})
            raise CompareError(f"no match in region {region!r} (regions: {', '.join(known) or 'none recorded'})")
        if len(before) > len(pick):
            notes.append(f"--region {region}: {len(before) - len(pick)} row(s) elsewhere or with no recorded region left out")
    if not historical and any(not r.historical for r in pick):
        hidden = sum(r.historical for r in pick)
        pick = [r for r in pick if not r.historical]
        if hidden:
            notes.append(f"{hidden} historical row(s) left out (--historical shows them)")
    elif any(r.historical for r in pick):
        notes.append("historical rows are old list prices kept for the record; they are not on offer")
    priced = [r for r in pick if r.price(spot) is not None]
    if len(priced) < len(pick):
        why = "no spot price" if spot else "no on-demand price (reservation-only or unpublished)"
        notes.append(f"{len(pick) - len(priced)} row(s) with {why} left out")
    if not priced:
        raise CompareError(f"no {gpu or 'GPU'} row has a {'spot' if spot else 'on-demand'} price"
                           + (" (try without --spot)" if spot else ""))
    gcp_left = sum(1 for r in leftover if r.part == "gpu" and (wanted is None or r.gpu in wanted))
    if gcp_left:
        notes.append(f"{gcp_left} GCP GPU-part price(s) without a host row not shown: a GPU part is not a VM price "
                     f"(skypilot-catalog #31)")
    offers = []
    for r in priced:
        p = r.price(spot)
        rate = rate_for(r.gpu)
        offers.append(Offer(r, p, p / r.gpu_count, None if hours is None else p * hours, rate,
                            usd_per_eflop(p, rate.tflops_per_gpu, r.gpu_count) if rate else None,
                            age_days(r.as_of, today)))
    offers.sort(key=lambda o: (o.price_usd_per_h, o.row.provider, o.row.instance, o.row.region))
    ranked = sorted((o for o in offers if o.usd_per_eflop is not None), key=lambda o: o.usd_per_eflop)
    rank = {id(o): i + 1 for i, o in enumerate(ranked)}
    offers = [replace(o, rank_work=rank.get(id(o))) for o in offers]
    rate_note = rate_note() if callable(rate_note) else rate_note
    if rate_note:
        notes.append(rate_note)
    unrated = sorted({o.row.gpu for o in offers if o.rate is None})
    if unrated and (rate_note is None or "only from --bench" not in rate_note):
        other = " (another --dtype may have one)" if dtype != "fp32" else ""
        notes.append(f"no {dtype} rate for {', '.join(unrated)}: not ranked by work{other}")
    stale = sum(1 for o in offers if o.age_days is not None and o.age_days > MAX_AGE_DAYS and not o.row.historical)
    if stale:
        notes.append(f"{stale} row(s) older than {MAX_AGE_DAYS} days: not current")
    relevant = {r.gpu for r in priced}
    anomalies = [a for a in find_anomalies(rows) if wanted is None or a.gpu in wanted or a.gpu in relevant]
    query = {"gpu": gpu, "matched": sorted(wanted) if wanted is not None else None, "count": count, "hours": hours,
             "pricing": "spot" if spot else "on-demand", "region": region, "dtype": dtype, "historical": historical}
    # The age of the prices shown, not of the whole catalog.
    return CompareResult(query, tuple(offers), tuple(anomalies), catalog_age(priced, today), tuple(notes),
                         tuple(sources_read))


# --------------------------------------------------------------------------- rates


def bench_rates(doc: object, name: str) -> tuple[str, dict[str, float]]:
    """(GPU name, best cuda matmul TFLOPS per dtype) from a ``dlkit.bench/1`` document.

    >>> bench_rates({"schema": "dlkit.bench/1", "environment": {"gpu": {"name": "NVIDIA H100 80GB HBM3"}},
    ...              "results": [{"kernel": "matmul", "device": "cuda", "dtype": "bfloat16", "tflops": 700.0},
    ...                          {"kernel": "matmul", "device": "cuda", "dtype": "bfloat16", "tflops": 780.1}]}, "b.json")
    ('NVIDIA H100 80GB HBM3', {'bf16': 780.1})
    """
    if not isinstance(doc, dict) or doc.get("schema") != "dlkit.bench/1":
        raise CompareError(f"{name} is not a dlkit bench result (no \"schema\": \"dlkit.bench/1\")")
    env = doc.get("environment")
    block = env.get("gpu") if isinstance(env, dict) else None
    gpu = block.get("name") if isinstance(block, dict) else None
    if not isinstance(gpu, str) or not gpu.strip() or len(gpu) > MAX_NAME_CHARS:
        raise CompareError(f"{name} does not name its GPU (environment.gpu.name)")
    best: dict[str, float] = {}
    results = doc.get("results")
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, dict) or r.get("kernel") != "matmul" or r.get("device") != "cuda":
            continue
        d = _BENCH_DTYPES.get(str(r.get("dtype", "")).lower().replace("torch.", ""))
        if d == "fp32" and r.get("math") == "tf32":  # dlkit.bench/1: TF32 is float32 with "math": "tf32"
            d = "tf32"
        t = r.get("tflops")
        if d and isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0:
            best[d] = max(best.get(d, 0.0), float(t))
    if not best:
        raise CompareError(f"{name} has no cuda matmul result with tflops (run dlkit bench on the GPU)")
    return gpu.strip(), best


def bench_gpu(name: str, catalog_gpus: list[str]) -> list[str]:
    """The price catalog's accelerator names for a bench machine's GPU, by GPU identity:
    "NVIDIA A100-SXM4-80GB" is SkyPilot's "A100-80GB", "NVIDIA H100 80GB HBM3" its "H100".

    >>> gpus = ["A100", "A100-80GB", "A10", "H100", "H100-PCIe", "RTX3090"]
    >>> [bench_gpu(n, gpus) for n in ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe",
    ...                               "NVIDIA GeForce RTX 3090", "NVIDIA A10", "Tesla T4")]
    [['A100-80GB'], ['H100'], ['H100-PCIe'], ['RTX3090'], ['A10'], []]
    """
    model = gpu_identity.find(name)
    return sorted({g for g in catalog_gpus if model is not None and gpu_identity.cloud_gpu(g) == model})


def rate_lookup(dtype: str, bench: tuple[str, dict[str, float]] | None, catalog_gpus: list[str],
                bench_name: str = "") -> tuple[Callable[[str], Rate | None], Callable[[], str | None]]:
    """(rate_for, note): ``note()`` says, after the lookups, where the rates came from. Peaks
    are the GPU catalog's dense datasheet rates for one GPU as a provider rents it (half a
    K80 board); a bench result overrides its own GPU's rate."""
    notes = []
    measured: dict[str, float] = {}
    if bench is not None:
        name, rates = bench
        same = bench_gpu(name, catalog_gpus)
        if not same:
            notes.append(f"--bench GPU {name!r} is not in the price catalog: its rate is not used")
        elif dtype not in rates:
            notes.append(f"--bench {bench_name} has no {dtype} matmul result (it has {', '.join(sorted(rates))})")
        else:
            measured.update({g: rates[dtype] for g in same})
            notes.append(f"{', '.join(same)}: measured {rates[dtype]:g} TFLOPS {dtype} (dlkit bench {bench_name}); "
                         f"other GPUs use datasheet dense peaks, which real kernels reach only in part")
    peaks: set[str] = set()

    def rate_for(gpu: str) -> Rate | None:
        if gpu in measured:
            return Rate(measured[gpu], "measured")
        model = gpu_identity.cloud_gpu(gpu)
        t = model.per_gpu(getattr(model, f"{dtype}_tflops", None)) if model is not None else None
        if not t:
            return None
        peaks.add(gpu)
        return Rate(float(t), "peak")

    def note() -> str | None:
        extra = []
        if peaks and not measured:
            extra.append(f"work = 10^18 FLOP at the datasheet dense {dtype} peak (dlkit GPU catalog); real runs "
                         f"reach a fraction of it")
        return "; ".join(notes + extra) or None

    return rate_for, note
