"""Build-vs-cloud break-even (dlkit.recipes.breakeven), on the cases the issue and the
reference (shared/reference/cloud-prices.md §7) work out by hand."""

from __future__ import annotations

import pytest

from dlkit.recipes.breakeven import BreakevenError, Cloud, breakeven


def dettmers(price_per_h: float, **kw):
    # $2,200 RTX 3090 desktop, 350 W GPU + 100 W CPU, $0.12/kWh, 15 % utilization (Dettmers 2020)
    args = dict(build_price=2200, build_watts=450, electricity=0.12, utilization=0.15, cloud=Cloud("x", price_per_h))
    return breakeven(**{**args, **kw})


def test_the_articles_build_vs_p2_8xlarge():
    # ¥16,904 at 6.9 CNY/USD = $2,449.86; a p2.8xlarge at $7.20/h; electricity left at 0
    r = breakeven(build_price=16904, currency="CNY", fx=6.9, build_watts=0, electricity=0, utilization=1,
                  cloud=Cloud("AWS p2.8xlarge", 7.20))
    assert 330 <= r.breakeven_hours <= 360
    assert round(r.breakeven_hours, 2) == 340.26
    assert round(r.build_price_usd, 2) == 2449.86
    assert round(r.breakeven_days, 2) == 14.18


def test_dettmers_vs_v100_on_demand_is_about_300_days():
    r = dettmers(2.14)
    assert 280 <= r.breakeven_days <= 310
    assert round(r.breakeven_days, 2) == 292.96
    assert round(r.breakeven_hours, 2) == 1054.65  # reference table: 1,055
    assert round(r.own_usd_per_h, 4) == 0.054


def test_dettmers_vs_spot_is_about_2600_hours():
    r = dettmers(0.90)
    assert 2550 <= r.breakeven_hours <= 2650
    assert round(r.breakeven_hours, 2) == 2600.47
    assert round(r.breakeven_days, 2) == 722.35  # reference: 722 (Dettmers: about 20 months)


@pytest.mark.parametrize("resale,rate,hours", [(0.0, 0.48, 10242.9), (0.4, 0.48, 6145.74), (0.0, 1.006, 4033.65),
                                               (0.4, 3.06, 718.76), (0.0, 2.69, 1371.63)])
def test_reference_rtx_5090_box_cases(resale, rate, hours):
    # cloud-prices.md §7: $3,500 box, 0.75 kW at $0.1844/kWh (EIA May 2026); the table rounds to
    # 10,243 / 6,146 / 4,034 / 719 / 1,372 hours
    r = breakeven(build_price=3500, build_watts=750, electricity=0.1844, utilization=1, resale=resale,
                  cloud=Cloud("x", rate))
    assert round(r.breakeven_hours, 2) == hours


def test_overhead_speedup_and_pue_enter_the_formula():
    r = dettmers(2.14, overhead=0.3, speedup=2.0, pue=1.5)
    cloud_eff = 2.14 * 1.3 / 2.0
    own = 0.45 * 0.12 * 1.5
    assert r.cloud_usd_per_h_effective == pytest.approx(cloud_eff)
    assert r.breakeven_hours == pytest.approx(2200 / (cloud_eff - own))
    assert round(r.breakeven_hours, 2) == 1679.39


def test_currency_converts_price_and_electricity_with_the_users_rate():
    r = breakeven(build_price=15180, currency="cny", fx=6.9, build_watts=450, electricity=0.828, utilization=0.15,
                  cloud=Cloud("x", 2.14))
    assert r.currency == "CNY"
    assert round(r.build_price_usd, 2) == 2200.0 and round(r.electricity_usd_per_kwh, 4) == 0.12
    assert round(r.breakeven_days, 2) == 292.96


def test_never_breaks_even_when_the_cloud_costs_less_than_electricity():
    r = breakeven(build_price=1000, build_watts=1000, electricity=0.5, utilization=0.5, cloud=Cloud("x", 0.4))
    assert r.breakeven_hours is None and r.breakeven_days is None
    assert r.verdict.startswith("never")


def test_cumulative_costs_cross_at_break_even():
    r = dettmers(2.14, resale=0.3)
    p = r.cost_at(r.breakeven_days)
    assert p.own_usd == pytest.approx(p.cloud_usd)
    assert p.hours_used == pytest.approx(r.breakeven_hours)
    assert r.series[0].day == 0 and r.series[0].own_usd == pytest.approx(2200 * 0.7)
    assert r.series[-1].day == pytest.approx(3 * 365.25)  # the 3-year horizon is past break-even
    assert all(b.day > a.day for a, b in zip(r.series, r.series[1:]))
    assert any("resale" in n for n in r.notes)


def test_the_horizon_stretches_past_a_late_break_even():
    r = dettmers(0.90, years=1)
    assert r.series[-1].day == pytest.approx(r.breakeven_days * 1.25)
    assert "past the 1-year horizon" in r.verdict and r.verdict.endswith("rent")


def test_every_input_is_reported_with_its_origin():
    r = breakeven(build_price=2200, build_watts=450, electricity=0.12, utilization=0.15, cloud=Cloud("x", 2.14),
                  origins={"--resale": "default", "--pue": "default"})
    names = [i.name for i in r.inputs]
    assert names == ["--build-price", "--currency", "--fx", "--build-watts", "--electricity", "--pue", "--utilization",
                     "--resale", "--years", "--vs-price", "--overhead", "--speedup"]
    by = {i.name: i for i in r.inputs}
    assert (by["--resale"].value, by["--resale"].origin) == (0.0, "default")
    assert (by["--pue"].value, by["--speedup"].value, by["--overhead"].value) == (1.0, 1.0, 0.0)
    assert (by["--build-price"].unit, by["--electricity"].unit) == ("USD", "USD/kWh")


@pytest.mark.parametrize("kw,message", [
    ({"utilization": 0}, "--utilization must be in (0, 1]"),
    ({"utilization": 1.5}, "--utilization must be in (0, 1]"),
    ({"utilization": 15}, "(0.15 for 15 %)"),
    ({"build_price": -1}, "--build-price must be 0 or more"),
    ({"build_watts": -1}, "--build-watts must be 0 or more"),
    ({"electricity": -0.1}, "--electricity must be 0 or more"),
    ({"resale": 1.2}, "--resale must be a fraction"),
    ({"years": 0}, "--years must be more than 0"),
    ({"pue": 0.9}, "--pue must be 1 or more"),
    ({"speedup": 0}, "--speedup must be more than 0"),
    ({"overhead": -0.1}, "--overhead must be 0 or more"),
    ({"currency": "CNY"}, "--currency CNY needs --fx"),
    ({"currency": "CNY", "fx": 0}, "--fx must be more than 0"),
    ({"fx": 7.0}, "--fx is for a --currency other than USD"),
    ({"currency": "yuan", "fx": 7.0}, "--currency must be a 3-letter code"),
    ({"cloud": Cloud("x", 0)}, "the cloud price must be more than 0"),
])
def test_bad_inputs_are_one_line_errors(kw, message):
    with pytest.raises(BreakevenError) as exc:
        dettmers(2.14, **kw)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_zero_watts_and_zero_electricity_are_valid():
    r = dettmers(2.14, build_watts=0, electricity=0)
    assert r.own_usd_per_h == 0 and round(r.breakeven_hours, 2) == 1028.04
