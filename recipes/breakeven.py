"""Build-vs-cloud break-even. Pure: numbers in, a :class:`BreakevenResult` with every input out.

The formula (shared/reference/cloud-prices.md §7; Dettmers 2020 generalised, with the resale
and speed terms his version leaves out)::

    hours of use  H = (price − resale) / (cloud $/h × (1 + overhead) ÷ speedup − kW × $/kWh × PUE)
    calendar days   = H / (24 × utilization)

``speedup`` is how much faster the cloud GPU does the same work than the build: a cloud
hour then replaces ``speedup`` build-hours, so the cloud price per *build-hour of work* is
divided by it. Resale counts in full (as the reference formula does), although it is only
realised when the box is sold after ``years``.

Checks against the cited cases: Dettmers' $2,200 RTX 3090 desktop, 450 W at $0.12/kWh vs
AWS V100 at $2.14/h → 1,054.65 h, 292.96 days at 15 % (he says about 300); vs $0.90/h spot →
2,600.47 h. The 2017 articles: ¥16,904 at 6.9 CNY/USD vs a $7.20/h p2.8xlarge → 340.26 h.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# The series for the plot and the JSON: this many points from day 0 to the horizon.
SERIES_POINTS = 49


class BreakevenError(ValueError):
    """An input is out of range; the message is one line naming the option."""


@dataclass(frozen=True)
class Input:
    name: str  # the option that sets it, e.g. "--build-price"
    value: float | str | None
    unit: str
    origin: str = "given"  # given | default | from plan FILE | from this machine | catalog
    note: str = ""


@dataclass(frozen=True)
class Cloud:
    label: str  # "AWS p2.8xlarge us-east-1 (on-demand)" or "--vs-price"
    price_usd_per_h: float
    provider: str | None = None
    instance: str | None = None
    region: str | None = None
    pricing: str = "on-demand"
    as_of: str | None = None
    source: str | None = None
    historical: bool = False


@dataclass(frozen=True)
class Point:
    day: float
    hours_used: float
    own_usd: float
    cloud_usd: float


@dataclass(frozen=True)
class BreakevenResult:
    inputs: tuple[Input, ...]
    cloud: Cloud
    currency: str
    fx_per_usd: float
    build_price_usd: float
    resale_usd: float
    build_kw: float
    electricity_usd_per_kwh: float
    own_usd_per_h: float  # electricity per hour of use, PUE included
    cloud_usd_per_h_effective: float  # per build-hour of work, overhead and speedup included
    utilization: float
    years: float
    breakeven_hours: float | None  # None: never (the cloud costs less than the electricity)
    breakeven_days: float | None
    series: tuple[Point, ...]
    verdict: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def net_capex_usd(self) -> float:
        return self.build_price_usd - self.resale_usd

    def cost_at(self, day: float) -> Point:
        """Cumulative cost of both after ``day`` calendar days at the given utilization."""
        h = 24.0 * self.utilization * day
        return Point(day, h, self.net_capex_usd + self.own_usd_per_h * h, self.cloud_usd_per_h_effective * h)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BreakevenError(message)


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def breakeven(*, build_price: float, build_watts: float, electricity: float, utilization: float,
              cloud: Cloud, currency: str = "USD", fx: float | None = None, resale: float = 0.0,
              years: float = 3.0, overhead: float = 0.0, pue: float = 1.0, speedup: float = 1.0,
              origins: dict[str, str] | None = None, notes: tuple[str, ...] = ()) -> BreakevenResult:
    """``build_price`` and ``electricity`` (per kWh) are in ``currency``; ``fx`` is units of
    ``currency`` per 1 USD (required unless USD: dlkit has no exchange rates of its own)."""
    origins = origins or {}
    cur = currency.strip().upper()
    _check(bool(re.fullmatch(r"[A-Z]{3}", cur)), f"--currency must be a 3-letter code such as USD, EUR, CNY; got {currency!r}")
    if cur == "USD":
        _check(fx is None or fx == 1, "--fx is for a --currency other than USD (prices in USD need no rate)")
        fx = 1.0
    else:
        _check(fx is not None, f"--currency {cur} needs --fx: how many {cur} one US dollar buys "
                               f"(dlkit keeps no exchange rates; cloud prices are in USD)")
    for name, v, lo in (("--build-price", build_price, 0), ("--build-watts", build_watts, 0),
                        ("--electricity", electricity, 0), ("--overhead", overhead, 0)):
        _check(_finite(v) and v >= lo, f"{name} must be 0 or more, got {v:g}")
    _check(_finite(fx) and fx > 0, f"--fx must be more than 0, got {fx:g}")
    _check(_finite(utilization) and 0 < utilization <= 1,
           f"--utilization must be in (0, 1], a fraction of the day in use (0.15 for 15 %), got {utilization:g}")
    _check(_finite(resale) and 0 <= resale <= 1, f"--resale must be a fraction of the build price in [0, 1], got {resale:g}")
    # 100 years: past any hardware's life, and the bound of the cumulative-cost table.
    _check(_finite(years) and 0 < years <= 100, f"--years must be more than 0 and at most 100, got {years:g}")
    _check(_finite(pue) and pue >= 1, f"--pue must be 1 or more (wall energy over IT energy), got {pue:g}")
    _check(_finite(speedup) and speedup > 0, f"--speedup must be more than 0, got {speedup:g}")
    _check(_finite(cloud.price_usd_per_h) and cloud.price_usd_per_h > 0,
           f"the cloud price must be more than 0 $/h, got {cloud.price_usd_per_h:g}")

    price_usd = build_price / fx
    resale_usd = price_usd * resale
    kw = build_watts / 1000.0
    kwh_usd = electricity / fx
    own_h = kw * kwh_usd * pue
    cloud_eff = cloud.price_usd_per_h * (1 + overhead) / speedup
    margin = cloud_eff - own_h
    hours = (price_usd - resale_usd) / margin if margin > 0 else None
    days = hours / (24 * utilization) if hours is not None else None
    # Each input can be finite and the result still overflow (--build-price 1e308 --fx 1e-308):
    # a result is a finite number or an error, never "inf USD".
    for name, v in (("the build price in USD", price_usd), ("the electricity price in USD", kwh_usd),
                    ("the build's cost per hour", own_h), ("the cloud's cost per hour", cloud_eff),
                    ("the break-even hours", hours), ("the break-even days", days)):
        _check(v is None or _finite(v), f"{name} is not a finite number with these inputs; check the magnitudes "
                                        f"of --build-price, --fx, --electricity and the cloud price")

    def o(name: str) -> str:
        return origins.get(name, "given")

    money = "" if cur == "USD" else f" = {price_usd:,.2f} USD"
    inputs = (
        Input("--build-price", build_price, cur, o("--build-price"), money.strip(" =")),
        Input("--currency", cur, "", o("--currency")),
        Input("--fx", fx, f"{cur}/USD" if cur != "USD" else "", o("--fx"), "" if cur != "USD" else "none needed: all in USD"),
        Input("--build-watts", build_watts, "W", o("--build-watts"), "at the wall, while in use"),
        Input("--electricity", electricity, f"{cur}/kWh", o("--electricity"),
              "" if cur == "USD" else f"{kwh_usd:.4f} USD/kWh"),
        Input("--pue", pue, "×", o("--pue"), "cooling overhead; 1 = none"),
        Input("--utilization", utilization, "fraction", o("--utilization"), f"{utilization:.0%} of calendar time"),
        Input("--resale", resale, "fraction", o("--resale"), f"{resale_usd:,.2f} USD back"),
        Input("--years", years, "years", o("--years"), "horizon: when it is sold"),
        Input("--vs" if cloud.instance else "--vs-price", cloud.instance or cloud.price_usd_per_h,
              "" if cloud.instance else "USD/h", o("--vs"), "" if not cloud.instance else cloud.label),
        Input("--overhead", overhead, "fraction", o("--overhead"), "cloud extras; 0.3-0.5 typical"),
        Input("--speedup", speedup, "×", o("--speedup"), "cloud GPU vs the build"),
    )
    if resale:
        notes = tuple(notes) + (f"resale ({resale_usd:,.2f} USD) counts in full at break-even, as in the reference "
                                f"formula; you only get it when you sell, after {years:g} years",)
    horizon = years * 365.25
    if days is not None:
        horizon = max(horizon, days * 1.25)
    horizon = min(horizon, 36500.0)  # a century is enough for any plot
    tmp = BreakevenResult(inputs, cloud, cur, fx, price_usd, resale_usd, kw, kwh_usd, own_h, cloud_eff,
                          utilization, years, hours, days, (), "", tuple(notes))
    series = tuple(tmp.cost_at(horizon * i / (SERIES_POINTS - 1)) for i in range(SERIES_POINTS))
    _check(all(_finite(p.own_usd) and _finite(p.cloud_usd) for p in series),
           "the cumulative cost overflows with these inputs; check the magnitudes of --build-price, --electricity "
           "and the cloud price")
    return BreakevenResult(inputs, cloud, cur, fx, price_usd, resale_usd, kw, kwh_usd, own_h, cloud_eff,
                           utilization, years, hours, days, series, _verdict(tmp), tuple(notes))


def percent(fraction: float) -> str:
    """A utilization for people: whole percent, or two significant digits below 1 %.

    >>> percent(0.15), percent(0.0001)
    ('15%', '0.01%')
    """
    return f"{fraction:.0%}" if fraction >= 0.01 else f"{fraction * 100:.2g}%"


def _verdict(r: BreakevenResult) -> str:
    if r.breakeven_hours is None:
        return (f"never: the cloud at {r.cloud_usd_per_h_effective:.4f} USD/h (effective) costs no more than the "
                f"build's electricity at {r.own_usd_per_h:.4f} USD/h; rent")
    days = r.breakeven_days
    span = f"about {days / 365.25:.1f} years" if days > 730 else f"about {days / 30.44:.1f} months"
    text = (f"the build pays for itself after {r.breakeven_hours:,.0f} hours of use, {days:,.0f} days "
            f"({span}) at {percent(r.utilization)} utilization")
    if days > r.years * 365.25:
        return text + f"; that is past the {r.years:g}-year horizon (--years): at this utilization, rent"
    return text + "; for less use than that, rent; for more, build"
