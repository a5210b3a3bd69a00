"""Cloud GPU prices: rows, validation, the GCP host + GPU join, GPU names, anomalies, age.

The packaged table is ``data/cloud_prices.csv`` (values and sources: shared/reference
cloud-prices.md §5). Every row carries ``source`` and ``as_of``. GCP rows are shipped as
*components* (a host row and a GPU row) and joined here, because GCP bills the VM and the
attached GPU separately and a GPU row alone looks deceptively cheap (skypilot-catalog #31:
"a2-highgpu-1g … our catalog puts it at $0.94"). User files and SkyPilot catalogs are read
by :mod:`dlkit.catalog.cloud_sources`; everything here is pure.

Columns of the dlkit layout (packaged and ``--catalog FILE``): ``provider, instance,
region, gpu, gpu_count, vcpus, ram_gib, price_usd_per_h, spot_usd_per_h, part, historical,
note, source, as_of``; ``part`` is ``vm`` (a whole instance), ``host`` (a GCP machine type
without its GPUs, naming the GPUs it takes) or ``gpu`` (the GPUs' price alone).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from importlib.resources import files

from dlkit.catalog import gpu_identity
from dlkit.catalog.names import key as names_key, suggestions
from dlkit.catalog.tables import CatalogError, csv_rows

COLUMNS = ("provider", "instance", "region", "gpu", "gpu_count", "vcpus", "ram_gib", "price_usd_per_h",
           "spot_usd_per_h", "part", "historical", "note", "source", "as_of")
REQUIRED = ("provider", "instance", "gpu", "gpu_count", "price_usd_per_h", "as_of")
PARTS = ("vm", "host", "gpu")
# The brief's rule (issue 7): never call prices current when the newest is older than this.
MAX_AGE_DAYS = 30
# Issue 7: "the same GPU more than 2x apart across regions" is an anomaly to flag.
SPREAD_LIMIT = 2.0


class UnknownGpu(ValueError):
    """``--gpu`` names no GPU in the catalog; the message offers the closest names."""


@dataclass(frozen=True)
class PriceRow:
    """One instance price (or one GCP component). USD per instance-hour; ``None`` = not given."""

    provider: str
    instance: str
    region: str
    gpu: str
    gpu_count: float
    price_usd_per_h: float | None  # on-demand; None: reservation-only or not published
    spot_usd_per_h: float | None
    as_of: str | None  # ISO date; None for files that carry no date (SkyPilot CSVs)
    source: str
    vcpus: float | None = None
    ram_gib: float | None = None
    part: str = "vm"
    historical: bool = False
    note: str = ""
    origin: str = "packaged"  # packaged | file | skypilot
    # for a joined GCP VM: (host $/h, GPU $/h), on-demand
    components: tuple[float | None, float | None] | None = None

    def price(self, spot: bool = False) -> float | None:
        return self.spot_usd_per_h if spot else self.price_usd_per_h

    def per_gpu(self, spot: bool = False) -> float | None:
        p = self.price(spot)
        return None if p is None or not self.gpu_count else p / self.gpu_count

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider.lower(), self.instance.lower(), self.region.lower())


# --------------------------------------------------------------------------- parsing


def _num(text: str, column: str, where: str, *, positive: bool = False) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise CatalogError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise CatalogError(f"{where}: {column} {text!r} must be a {'positive' if positive else 'non-negative'} number")
    return value


def _date(text: str, where: str) -> str:
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise CatalogError(f"{where}: as_of {text.strip()!r} is not a date (YYYY-MM-DD)") from None


def csv_records(text: str, name: str, required: Iterable[str], hint: str = "") -> Iterator[tuple[str, dict[str, str]]]:
    """("NAME line N", {lower-case header: stripped cell}) per non-blank row; a missing column or
    a row with the wrong number of cells is a :class:`CatalogError` naming the line."""
    rows = csv_rows(text, name)
    header = [h.strip().lower() for h in next(rows, (1, []))[1]]
    missing = [c for c in required if c not in header]
    if missing:
        raise CatalogError(f"{name} line 1: missing column(s) {', '.join(missing)} {hint}".rstrip())
    for line, fields in rows:
        where = f"{name} line {line}"
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise CatalogError(f"{where}: expected {len(header)} fields as in the header, found {len(fields)}")
        yield where, {h: v.strip() for h, v in zip(header, fields)}


def parse_dlkit_csv(text: str, name: str, *, origin: str = "file") -> list[PriceRow]:
    """Rows of a price table in dlkit's layout (columns by header name, any order).

    >>> rows = parse_dlkit_csv("provider,instance,gpu,gpu_count,price_usd_per_h,as_of\\n"
    ...                        "lab,box-1,RTX4090,2,0.80,2026-11-01\\n", "mine.csv")
    >>> rows[0].per_gpu(), rows[0].source
    (0.4, 'mine.csv')
    """
    out = []
    for where, r in csv_records(text, name, REQUIRED,
                                f"(dlkit layout: {','.join(COLUMNS)}; or a SkyPilot vms.csv)"):
        part = r.get("part") or "vm"
        if part not in PARTS:
            raise CatalogError(f"{where}: part {part!r} is not one of {', '.join(PARTS)}")
        for col in ("provider", "gpu") + (("instance",) if part != "gpu" else ()):
            if not r.get(col):
                raise CatalogError(f"{where}: {col} is empty")
        if not r.get("as_of"):
            raise CatalogError(f"{where}: as_of is empty (the date these prices were quoted, YYYY-MM-DD)")
        hist = (r.get("historical") or "no").lower()
        if hist not in ("yes", "no", "true", "false", "1", "0"):
            raise CatalogError(f"{where}: historical {hist!r} is not yes/no")
        count = _num(r["gpu_count"], "gpu_count", where, positive=True)
        if count is None:
            raise CatalogError(f"{where}: gpu_count is empty")
        price = _num(r["price_usd_per_h"], "price_usd_per_h", where)
        if price is None and origin == "packaged":
            raise CatalogError(f"{where}: price_usd_per_h is empty")
        if origin != "packaged" and not r.get("source"):
            r["source"] = f"{name}"
        elif not r.get("source"):
            raise CatalogError(f"{where}: source is empty")
        out.append(PriceRow(
            provider=r["provider"], instance=r["instance"], region=r.get("region", ""), gpu=r["gpu"],
            gpu_count=count, price_usd_per_h=price,
            spot_usd_per_h=_num(r.get("spot_usd_per_h", ""), "spot_usd_per_h", where),
            as_of=_date(r["as_of"], where), source=r["source"], vcpus=_num(r.get("vcpus", ""), "vcpus", where),
            ram_gib=_num(r.get("ram_gib", ""), "ram_gib", where), part=part,
            historical=hist in ("yes", "true", "1"), note=r.get("note", ""), origin=origin))
    return out


@functools.lru_cache(maxsize=1)
def _packaged() -> tuple[PriceRow, ...]:
    text = (files("dlkit.catalog") / "data" / "cloud_prices.csv").read_text(encoding="utf-8")
    try:
        return tuple(parse_dlkit_csv(text, "dlkit/catalog/data/cloud_prices.csv", origin="packaged"))
    except CatalogError as exc:  # a bad packaged row is a bug in dlkit, not the user's problem
        raise RuntimeError(f"packaged cloud price table is invalid: {exc}") from None


def packaged_rows() -> list[PriceRow]:
    """The shipped table, components not yet joined, validated on first use."""
    return list(_packaged())


# --------------------------------------------------------------------------- combining


def collapse_zones(rows: list[PriceRow]) -> list[PriceRow]:
    """One row per (provider, instance, region, part, GPU): the lowest price and spot over zones.

    SkyPilot's AWS file has a row per availability zone with the same on-demand price and a
    zone's own spot price; a comparison wants the region.
    """
    best: dict[tuple, PriceRow] = {}
    for r in rows:
        k = (r.key, r.part, r.gpu, r.gpu_count)
        old = best.get(k)
        if old is None:
            best[k] = r
            continue
        best[k] = replace(old, price_usd_per_h=_min(old.price_usd_per_h, r.price_usd_per_h),
                          spot_usd_per_h=_min(old.spot_usd_per_h, r.spot_usd_per_h))
    return list(best.values())


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 6)


def join_components(rows: list[PriceRow]) -> tuple[list[PriceRow], list[PriceRow]]:
    """(priced VMs, components left without a partner). A GCP host row takes the GPU row of
    the same provider, region, GPU and count: a2-highgpu-1g = 0.73948 + 2.93391 = 3.67339 $/h."""
    gpus = {(r.provider.lower(), r.region.lower(), r.gpu, r.gpu_count): r for r in rows if r.part == "gpu"}
    used: set[int] = set()
    vms, left = [], []
    for r in rows:
        if r.part == "vm":
            vms.append(r)
        elif r.part == "host":
            g = gpus.get((r.provider.lower(), r.region.lower(), r.gpu, r.gpu_count))
            if g is None:
                left.append(r)
                continue
            used.add(id(g))
            vms.append(replace(
                r, part="vm", price_usd_per_h=_add(r.price_usd_per_h, g.price_usd_per_h),
                spot_usd_per_h=_add(r.spot_usd_per_h, g.spot_usd_per_h),
                as_of=min(filter(None, (r.as_of, g.as_of)), default=None),
                components=(r.price_usd_per_h, g.price_usd_per_h),
                note="; ".join(filter(None, (f"host {_fmt(r.price_usd_per_h)} + GPU {_fmt(g.price_usd_per_h)} $/h",
                                             r.note)))))
    left += [g for g in gpus.values() if id(g) not in used]
    return vms, left


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def merge(base: list[PriceRow], extra: list[PriceRow]) -> list[PriceRow]:
    """``extra`` (the user's files, SkyPilot) wins over ``base`` for the same provider,
    instance and region: a negotiated rate replaces the list price instead of sitting beside it."""
    taken = {(r.key, r.part, r.gpu) for r in extra}
    return [r for r in base if (r.key, r.part, r.gpu) not in taken] + list(extra)


# --------------------------------------------------------------------------- GPU names


def match_gpus(query: str, names: list[str]) -> list[str]:
    """The accelerator names in ``names`` (as price rows spell them) that ``query`` means,
    by GPU identity (:mod:`dlkit.catalog.gpu_identity`): "A100" is every A100 board, so
    SkyPilot's "A100" and "A100-80GB"; "H100 SXM" only the SXM5 part; "3090" the RTX 3090
    and never the 3090 Ti. An accelerator the GPU catalog lacks matches by its own name.

    >>> match_gpus("a100", ["A100", "A100-80GB", "A10", "H100"])
    ['A100', 'A100-80GB']
    >>> match_gpus("A100 80GB", ["A100", "A100-80GB"])
    ['A100-80GB']
    >>> match_gpus("A1000", ["A100", "A10", "H100"])
    Traceback (most recent call last):
    ...
    dlkit.catalog.cloud.UnknownGpu: unknown GPU 'A1000'; did you mean A100, A10, H100?
    """
    keys = {m.key for m in gpu_identity.family(query)}
    found = {n for n in names if (m := gpu_identity.cloud_gpu(n)) is not None and m.key in keys}
    found |= {n for n in names if names_key(n) == names_key(query)}
    if found:
        return sorted(found)
    if keys:
        boards = ", ".join(sorted(keys)[:4])
        raise UnknownGpu(f"no price for {query!r} ({boards}) in the catalogs read; `dlkit cloud-cost refresh` "
                         f"fetches SkyPilot's current catalogs")
    spellings = [(n, n) for n in names] + [(a, m.name) for m in gpu_identity.models() for a in (m.name, *m.aliases)]
    close = suggestions(query, spellings)
    if close:
        raise UnknownGpu(f"unknown GPU {query!r}; did you mean {', '.join(close)}?")
    raise UnknownGpu(f"unknown GPU {query!r}; the price catalog has {', '.join(sorted(set(names)))}")


def region_matches(region: str, query: str) -> bool:
    """``--region us`` keeps us-east-1, us-central1, Azure's eastus/westus2 and Vast's
    "Texas, US, NA"; ``--region europe-west4`` keeps that region. An unknown region never matches.

    >>> [region_matches(r, "us") for r in ("us-east-1", "eastus", "westus2", "Texas, US, NA", "europe-west4", "")]
    [True, True, True, True, False, False]
    """
    q = query.strip().lower()
    reg = region.strip().lower()
    if not q:
        return True
    if not reg:
        return False
    if reg.startswith(q):
        return True
    for token in re.split(r"[\s,]+", reg):
        if token == q or re.sub(r"\d+$", "", token).endswith(q):
            return True
    return False


# --------------------------------------------------------------------------- anomalies and age


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "spot-above-on-demand" | "regional-spread"
    provider: str
    gpu: str
    gpu_count: float
    message: str


def row_flags(r: PriceRow, anomalies: Iterable[Anomaly]) -> tuple[str, ...]:
    """The anomalies that concern a shown row, for its own cell (issue 13: flags in the row,
    not only in a footnote): its spot above its on-demand price, and its GPU's prices at this
    provider far apart across regions.

    >>> row = PriceRow("GCP", "a2-ultragpu-1g", "us-east5", "A100-80GB", 1, 5.52, 6.0, "2026-11-09", "s")
    >>> row_flags(row, [Anomaly("regional-spread", "GCP", "A100-80GB", 1, "...")])
    ('spot > on-demand', 'regional spread')
    """
    flags = []
    if r.spot_usd_per_h is not None and r.price_usd_per_h is not None and r.spot_usd_per_h > r.price_usd_per_h:
        flags.append("spot > on-demand")
    if any(a.kind == "regional-spread" and a.provider == r.provider and a.gpu == r.gpu and a.gpu_count == r.gpu_count
           for a in anomalies):
        flags.append("regional spread")
    return tuple(flags)


def _label(r: PriceRow) -> str:
    what = r.instance or "GPU part"
    if r.part == "gpu":
        what = "GPU part"
    return f"{r.provider} {what} ({r.gpu_count:g}× {r.gpu})"


def find_anomalies(rows: list[PriceRow]) -> list[Anomaly]:
    """Spot above on-demand (GCP A100-80GB us-central1: 1.964 > 1.8462) and the same offer more
    than :data:`SPREAD_LIMIT`× apart across regions (GCP H100 ×8 GPU part: 33.61 / 78.37 / 101.88).
    Both are real catalog errors or SKU mix-ups (cloud-prices.md §4): verify before trusting."""
    out = []
    for r in rows:
        if r.spot_usd_per_h is not None and r.price_usd_per_h is not None and r.spot_usd_per_h > r.price_usd_per_h:
            out.append(Anomaly("spot-above-on-demand", r.provider, r.gpu, r.gpu_count,
                               f"{_label(r)} in {r.region or 'an unrecorded region'}: spot ${r.spot_usd_per_h:g}/h is above "
                               f"on-demand ${r.price_usd_per_h:g}/h"))
    groups: dict[tuple, dict[str, float]] = {}
    for r in rows:
        if r.region and r.price_usd_per_h:
            k = (r.provider.lower(), r.part, r.instance.lower(), r.gpu, r.gpu_count)
            regions = groups.setdefault(k, {})
            regions[r.region] = min(r.price_usd_per_h, regions.get(r.region, math.inf))
    for k, regions in groups.items():
        if len(regions) < 2:
            continue
        lo, hi = min(regions, key=regions.get), max(regions, key=regions.get)
        ratio = regions[hi] / regions[lo]
        if ratio > SPREAD_LIMIT:
            r = next(x for x in rows if (x.provider.lower(), x.part, x.instance.lower(), x.gpu, x.gpu_count) == k)
            prices = ", ".join(f"${v:g}/h {reg}" for reg, v in sorted(regions.items(), key=lambda kv: kv[1]))
            out.append(Anomaly("regional-spread", r.provider, r.gpu, r.gpu_count,
                               f"{_label(r)}: {ratio:.2f}x apart across regions ({prices}); the cheap one may be "
                               f"another SKU"))
    return out


@dataclass(frozen=True)
class CatalogAge:
    today: str
    newest: str | None  # newest as_of of the current (not historical) rows
    oldest: str | None
    newest_days: int | None
    oldest_days: int | None
    undated: int  # rows without a date (SkyPilot files, unless --catalog-date)
    current: bool  # newest within MAX_AGE_DAYS

    @property
    def message(self) -> str:
        if self.newest is None:
            return "prices have no date (age unknown) — not current"
        text = f"prices as of {self.newest} ({_days(self.newest_days)} old)"
        if not self.current:
            text += " — not current"
        if self.oldest and self.oldest != self.newest:
            text += f"; oldest row {self.oldest} ({_days(self.oldest_days)} old"
            text += ", not current)" if (self.oldest_days or 0) > MAX_AGE_DAYS else ")"
        if self.undated:
            text += f"; {self.undated} row(s) undated"
        return text


def _days(n: int | None) -> str:
    return "age unknown" if n is None else f"{n} day" + ("" if n == 1 else "s")


def age_days(as_of: str | None, today: dt.date) -> int | None:
    return None if as_of is None else (today - dt.date.fromisoformat(as_of)).days


def catalog_age(rows: list[PriceRow], today: dt.date) -> CatalogAge:
    """How old the prices are, from the newest ``as_of`` against ``today`` (passed in, so
    tests are deterministic). Historical rows are old on purpose and are left out."""
    live = [r for r in rows if not r.historical]
    dated = sorted({r.as_of for r in live if r.as_of})
    newest, oldest = (dated[-1], dated[0]) if dated else (None, None)
    nd = age_days(newest, today)
    return CatalogAge(today.isoformat(), newest, oldest, nd, age_days(oldest, today),
                      sum(1 for r in live if not r.as_of), nd is not None and nd <= MAX_AGE_DAYS)
