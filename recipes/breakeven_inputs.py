"""Where breakeven's numbers come from: the options, a plan-build JSON, this machine, a catalog instance.

``dlkit cloud-cost breakeven`` hands its options here as one :class:`BreakevenRequest`;
:func:`resolve` checks how they combine, fills the build and cloud sides, records where each
value came from and calls the pure :func:`dlkit.recipes.breakeven.breakeven`. Every problem is
a :class:`BreakevenError` (one line naming the option), which the command prints with exit 2.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Callable, Optional

from dlkit.catalog.cloud import PriceRow, join_components
from dlkit.checks.buildmath import PSU_MARGIN
from dlkit.host.userfiles import UserFileError, read_user_json
from dlkit.recipes.breakeven import BreakevenError, BreakevenResult, Cloud, breakeven

# Dettmers' 2020 desktop counts 100 W for the CPU beside the GPU (cloud-prices.md §7); doctor
# reads GPU power limits but no CPU power, so --from-host adds this and says so.
HOST_REST_W = 100.0
DEFAULTS = {"--currency": "USD", "--resale": 0.0, "--years": 3.0, "--overhead": 0.0, "--pue": 1.0, "--speedup": 1.0}


@dataclass(frozen=True)
class BreakevenRequest:
    """The options as given (None: not given)."""

    build_price: Optional[float] = None
    currency: Optional[str] = None
    fx: Optional[float] = None
    build_watts: Optional[float] = None
    electricity: Optional[float] = None
    utilization: Optional[float] = None
    resale: Optional[float] = None
    years: Optional[float] = None
    vs: Optional[str] = None
    vs_price: Optional[float] = None
    spot: bool = False
    region: Optional[str] = None
    overhead: Optional[float] = None
    pue: Optional[float] = None
    speedup: Optional[float] = None
    from_host: bool = False
    plan_build: Optional[str] = None


def _fail(message: str) -> None:
    raise BreakevenError(message)


def cloud_side(rows: list[PriceRow], vs: str, region: Optional[str], spot: bool) -> tuple[Cloud, float]:
    """The --vs instance's price, and its GPU count."""
    vms, _ = join_components(rows)
    found = [r for r in vms if r.instance.lower() == vs.strip().lower()]
    if not found:
        close = difflib.get_close_matches(vs, sorted({r.instance for r in vms}), n=3, cutoff=0.5)
        _fail(f"unknown instance {vs!r}" + (f"; did you mean {', '.join(close)}?" if close else
                                           "; dlkit cloud-cost --gpu NAME lists instances"))
    if region:
        here = [r for r in found if r.region.lower() == region.lower()]
        if not here:
            _fail(f"{vs} has no price in region {region!r} (regions: {', '.join(r.region or '?' for r in found)})")
        found = here
    prices = {r.price(spot) for r in found}
    if len(prices) > 1:
        _fail(f"{vs} has {len(found)} prices ({', '.join(f'{r.region or chr(63)} {r.price(spot)}' for r in found)}); "
              f"choose one with --region")
    r = found[0]
    if r.price(spot) is None:
        _fail(f"{r.provider} {r.instance} has no {'spot' if spot else 'on-demand'} price in the catalog")
    pricing = "spot" if spot else "on-demand"
    label = f"{r.provider} {r.instance} ({', '.join(filter(None, (r.region, pricing, 'historical' if r.historical else '')))}" \
            f": {r.price(spot):g} USD/h, as of {(r.as_of or 'undated')[:4 if r.historical else 10]})"
    return Cloud(label, r.price(spot), r.provider, r.instance, r.region, pricing, r.as_of, r.source, r.historical), \
        r.gpu_count


def power_from_host() -> tuple[float, str]:
    """This machine's GPU power limits (doctor's facts) plus the rest of the host."""
    from dlkit.engine import gather  # heavy (probes): only when asked
    from dlkit.host import LiveHost

    got = gather(LiveHost())
    facts = got[0] if isinstance(got, tuple) else got
    gpus = [g for g in facts.gpus if g.power_limit_w]
    if not gpus:
        _fail("--from-host found no NVIDIA GPU with a power limit on this machine (dlkit doctor shows why); "
              "give --build-watts instead")
    watts = sum(g.power_limit_w for g in gpus) + HOST_REST_W
    names = ", ".join(f"{g.name or 'GPU'} {g.power_limit_w:g} W" for g in gpus)
    return watts, f"this machine: GPU power limits ({names}) + {HOST_REST_W:g} W for CPU and the rest " \
                  f"(Dettmers' figure; CPU {facts.cpu.model or 'unknown'})"


def price_and_power_from_plan(path: str) -> tuple[float, float, str]:
    """A plan-build result's total price and its power: wall draw, else DC, else the PSU without its margin."""
    try:
        doc = read_user_json(path, "plan")
    except UserFileError as exc:
        raise BreakevenError(str(exc)) from None
    if not isinstance(doc, dict) or doc.get("schema") != "dlkit.plan-build/1":
        _fail(f"plan {path} is not a dlkit plan-build result (no \"schema\": \"dlkit.plan-build/1\")")
    price = doc.get("total_price_usd")
    if not isinstance(price, (int, float)) or isinstance(price, bool):
        _fail(f"plan {path} has no total_price_usd (a plan with every part priced is needed)")
    # A total that leaves parts out is not a build price: refuse it rather than pass it on
    # unmarked (issue 13); the user can add them with --build-price instead.
    listed = doc.get("not_priced")
    missing = [str(p) for p in listed if p] if isinstance(listed, list) else []
    if missing:
        _fail(f"plan {path}'s total leaves out {', '.join(missing)}: give the whole build's price with --build-price")
    power = doc.get("power") if isinstance(doc.get("power"), dict) else {}
    # Wall draw first: --build-watts is what the meter sees (the plan's DC estimate / 0.92).
    for key in ("wall_watts_estimated", "dc_watts_estimated"):
        watts = power.get(key)
        if isinstance(watts, (int, float)) and not isinstance(watts, bool):
            return float(price), float(watts), f"plan {path}: power.{key}"
    psu = doc.get("psu_watts_recommended")
    if not isinstance(psu, (int, float)) or isinstance(psu, bool):
        _fail(f"plan {path} has neither power.dc_watts_estimated nor psu_watts_recommended")
    # plan-build sizes the PSU as the load plus a final margin (build-rules.md §1): undo it.
    return float(price), psu / PSU_MARGIN, f"plan {path}: psu_watts_recommended {psu:g} W ÷ {PSU_MARGIN} (the final PSU margin)"


def _catalog_cloud(q: BreakevenRequest, rows: list[PriceRow], today: dt.date, notes: list[str]) -> Cloud:
    cloud, n_gpus = cloud_side(rows, q.vs, q.region, q.spot)
    if n_gpus > 1:
        notes.append(f"{q.vs} has {n_gpus:g} GPUs and is compared with your whole build; for a build with fewer "
                     f"GPUs use --vs-price (per GPU: {cloud.price_usd_per_h / n_gpus:.4g} USD/h) × your GPU count")
    old = (today - dt.date.fromisoformat(cloud.as_of)).days if cloud.as_of else None
    if cloud.historical:
        notes.append(f"{q.vs} is a historical price (as of {cloud.as_of[:4]}), not one on offer today")
    elif old is None or old > 30:
        notes.append(f"the {q.vs} price is {'undated' if old is None else f'{old} days old'}: not current")
    return cloud


def resolve(q: BreakevenRequest, rows: Callable[[], list[PriceRow]], today: dt.date) -> BreakevenResult:
    """The break-even for ``q``; ``rows`` loads the price catalog (only called for --vs)."""
    origins: dict[str, str] = {}
    notes: list[str] = []
    build_price, build_watts = q.build_price, q.build_watts
    if (q.vs is None) == (q.vs_price is None):
        _fail("give the cloud side: --vs INSTANCE or --vs-price USD_PER_H (one of them)")
    if q.from_host and q.plan_build:
        _fail("--from-host and --plan-build cannot be combined")
    if q.vs is None and (q.spot or q.region):
        _fail("--spot and --region pick a catalog price: use them with --vs")
    if q.plan_build:
        if build_price is not None or build_watts is not None:
            _fail("--plan-build gives the price and power; drop --build-price / --build-watts")
        if q.currency and q.currency.upper() != "USD":
            _fail("--plan-build prices are in USD: give --electricity in USD/kWh and no --currency")
        build_price, build_watts, why = price_and_power_from_plan(q.plan_build)
        origins.update({"--build-price": f"from plan {q.plan_build}", "--build-watts": why})
        if "wall_watts" not in why:
            notes.append("plan watts are DC power; wall draw is higher by the PSU's loss (about 10 % for 80 Plus Gold): "
                         "--pue 1.1 counts it")
    if q.from_host:
        if build_price is None:
            _fail("--from-host gives the build's power, not its price: add --build-price")
        if build_watts is not None:
            _fail("--from-host measures --build-watts; give one or the other")
        build_watts, origins["--build-watts"] = power_from_host()
    for name, value in (("--build-price", build_price), ("--build-watts", build_watts),
                        ("--electricity", q.electricity), ("--utilization", q.utilization)):
        if value is None:
            _fail(f"missing {name}" + (" (0 is valid)" if name in ("--build-watts", "--electricity") else ""))
    given = {"--currency": q.currency, "--resale": q.resale, "--years": q.years, "--overhead": q.overhead,
             "--pue": q.pue, "--speedup": q.speedup}
    for k, v in given.items():
        if v is None:
            origins.setdefault(k, "default")
    if q.fx is None:
        origins["--fx"] = "default"
    if q.vs is not None:
        cloud = _catalog_cloud(q, rows(), today, notes)
        origins["--vs"] = "catalog"
    else:
        cloud = Cloud(f"--vs-price {q.vs_price:g} USD/h", q.vs_price)
    val = {k: (given[k] if given[k] is not None else DEFAULTS[k]) for k in DEFAULTS}
    return breakeven(build_price=build_price, build_watts=build_watts, electricity=q.electricity,
                     utilization=q.utilization, cloud=cloud, currency=val["--currency"], fx=q.fx,
                     resale=val["--resale"], years=val["--years"], overhead=val["--overhead"],
                     pue=val["--pue"], speedup=val["--speedup"], origins=origins, notes=tuple(notes))
