"""``dlkit cloud-cost``: compare cloud GPU prices; ``dlkit cloud-cost breakeven``: own vs rent.

Parses options, loads the price rows (packaged table, ``--catalog`` files, SkyPilot's cache),
calls the pure planners in ``dlkit.recipes`` and hands the result to one renderer. Bad input
is one line on stderr and exit code 2 (as ``dlkit doctor``). Nothing here uses the network.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import sys
from typing import List, Optional

import typer
from rich.console import Console

from dlkit.catalog.cloud import CatalogError, PriceRow, UnknownGpu, join_components, merge, packaged_rows
from dlkit.catalog.cloud_sources import load_sources
from dlkit.cli import StrictCommand, StrictGroup, app
from dlkit.cli.common import fail as _fail
from dlkit.host.userfiles import UserFileError, check_output, read_user_json, write_user_file
from dlkit.recipes.breakeven import BreakevenError, Cloud, breakeven as plan_breakeven
from dlkit.recipes.cloud import DTYPES, CompareError, bench_rates, compare as plan_compare, rate_lookup
from dlkit.render import cloud as render

# Dettmers' 2020 desktop counts 100 W for the CPU beside the GPU (cloud-prices.md §7); doctor
# reads GPU power limits but no CPU power, so --from-host adds this and says so.
HOST_REST_W = 100.0
# dlkit's plan-build sizes the PSU as the load plus a final 10 % (Dettmers, build-rules.md §1);
# without a DC estimate in the plan, undo that margin.
PSU_MARGIN = 1.1

cloud_app = typer.Typer(cls=StrictGroup, help="Compare cloud GPU prices by $/h and by $ per unit of work, from a dated catalog.\n\n"
                             "Example: dlkit cloud-cost --gpu A100 --count 8 --hours 100. "
                             "The breakeven command says when owning a build beats renting.",
                        context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(cloud_app, name="cloud-cost")

_ERRORS = (CatalogError, UnknownGpu, CompareError, BreakevenError, UserFileError)


def _today(text: Optional[str]) -> dt.date:
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"--today {text!r} is not a date (YYYY-MM-DD)")


def _rows(catalog: List[str], skypilot: Optional[str], no_skypilot: bool, catalog_date: Optional[str]
          ) -> tuple[list[PriceRow], list[str]]:
    if catalog_date is not None:
        try:
            catalog_date = dt.date.fromisoformat(catalog_date).isoformat()
        except ValueError:
            _fail(f"--catalog-date {catalog_date!r} is not a date (YYYY-MM-DD)")
    if skypilot and no_skypilot:
        _fail("--skypilot and --no-skypilot cannot be combined")
    loaded = load_sources(catalog, "" if no_skypilot else skypilot, catalog_date)
    return merge(packaged_rows(), loaded.rows), loaded.read


def _formats(as_json: bool, as_markdown: bool) -> None:
    if as_json and as_markdown:
        _fail("--json and --markdown cannot be combined")


_CATALOG_HELP = "Your own prices (dlkit CSV layout or a SkyPilot vms.csv), or a SkyPilot catalog folder; repeatable."


@cloud_app.callback(invoke_without_command=True)
def compare(
    ctx: typer.Context,
    gpu: Optional[str] = typer.Option(None, "--gpu", metavar="NAME",
                                      help="GPU model; a family (A100) matches its variants (A100-80GB)."),
    count: Optional[int] = typer.Option(None, "--count", metavar="N", help="Only instances with N GPUs (default: any)."),
    hours: Optional[float] = typer.Option(None, "--hours", metavar="H", help="Also show the cost of H instance-hours."),
    spot: bool = typer.Option(False, "--spot", help="Compare spot (interruptible) prices."),
    region: Optional[str] = typer.Option(None, "--region", metavar="R", help="Region prefix or area: us, eu, us-east-1…"),
    dtype: str = typer.Option("bf16", "--dtype", metavar="DTYPE", help=f"Rate for $ per unit of work: {', '.join(DTYPES)}."),
    bench: Optional[str] = typer.Option(None, "--bench", metavar="RESULT.json",
                                        help="A dlkit bench result: its measured matmul rate replaces the datasheet peak."),
    catalog: List[str] = typer.Option([], "--catalog", metavar="FILE", help=_CATALOG_HELP),
    skypilot: Optional[str] = typer.Option(None, "--skypilot", metavar="DIR",
                                           help="SkyPilot catalog folder (default: ~/.sky/catalogs when present)."),
    no_skypilot: bool = typer.Option(False, "--no-skypilot", help="Do not read ~/.sky/catalogs."),
    catalog_date: Optional[str] = typer.Option(None, "--catalog-date", metavar="YYYY-MM-DD",
                                               help="When the SkyPilot files were fetched (they carry no date)."),
    historical: bool = typer.Option(False, "--historical", help="Also show historical list prices (2017)."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.cloud-cost/1 JSON document."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown."),
    today: Optional[str] = typer.Option(None, "--today", hidden=True),
) -> None:
    """Compare cloud GPU instances by $/h and by $ per unit of work (packaged prices, dated).

    Examples: dlkit cloud-cost --gpu A100 --count 8 --hours 100;
    dlkit cloud-cost breakeven --help"""
    if ctx.invoked_subcommand is not None:
        return
    _formats(as_json, as_markdown)
    day = _today(today)
    try:
        rows, read = _rows(catalog, skypilot, no_skypilot, catalog_date)
        parsed_bench = bench_rates(read_user_json(bench, "bench result"), bench) if bench else None
        rate_for, rate_note = rate_lookup(dtype, parsed_bench, [r.gpu for r in rows], bench or "") \
            if dtype in DTYPES else (lambda g: None, None)
        res = plan_compare(rows, gpu=gpu, count=count, hours=hours, spot=spot, region=region, dtype=dtype,
                           rate_for=rate_for, today=day, historical=historical, rate_note=rate_note,
                           sources_read=tuple(read))
    except _ERRORS as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(render.compare_dict(res), indent=2, ensure_ascii=False) + "\n")
    elif as_markdown:
        sys.stdout.write(render.render_compare_markdown(res))
    else:
        render.render_compare_console(res, Console())


def _cloud_side(rows: list[PriceRow], vs: str, region: Optional[str], spot: bool) -> tuple[Cloud, float]:
    """The --vs instance's price, and its GPU count."""
    vms, _ = join_components(rows)
    found = [r for r in vms if r.instance.lower() == vs.strip().lower()]
    if not found:
        names = sorted({r.instance for r in vms})
        close = difflib.get_close_matches(vs, names, n=3, cutoff=0.5)
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


def _from_host() -> tuple[float, str]:
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


def _from_plan(path: str) -> tuple[float, float, str]:
    doc = read_user_json(path, "plan")
    if not isinstance(doc, dict) or doc.get("schema") != "dlkit.plan-build/1":
        _fail(f"plan {path} is not a dlkit plan-build result (no \"schema\": \"dlkit.plan-build/1\")")
    price = doc.get("total_price_usd")
    if not isinstance(price, (int, float)) or isinstance(price, bool):
        _fail(f"plan {path} has no total_price_usd (a plan with every part priced is needed)")
    power = doc.get("power") if isinstance(doc.get("power"), dict) else {}
    # Wall draw first: --build-watts is what the meter sees (the plan's DC estimate / 0.92).
    for key in ("wall_watts_estimated", "dc_watts_estimated"):
        watts = power.get(key)
        if isinstance(watts, (int, float)) and not isinstance(watts, bool):
            return float(price), float(watts), f"plan {path}: power.{key}"
    psu = doc.get("psu_watts_recommended")
    if not isinstance(psu, (int, float)) or isinstance(psu, bool):
        _fail(f"plan {path} has neither power.dc_watts_estimated nor psu_watts_recommended")
    return float(price), psu / PSU_MARGIN, f"plan {path}: psu_watts_recommended {psu:g} W ÷ {PSU_MARGIN} (the final PSU margin)"


@cloud_app.command("breakeven", cls=StrictCommand)
def breakeven(
    build_price: Optional[float] = typer.Option(None, "--build-price", metavar="AMOUNT",
                                                help="What the build costs, in --currency."),
    currency: Optional[str] = typer.Option(None, "--currency", metavar="CODE", help="Currency of --build-price and --electricity (default USD)."),
    fx: Optional[float] = typer.Option(None, "--fx", metavar="RATE", help="Units of --currency per 1 USD (required unless USD)."),
    build_watts: Optional[float] = typer.Option(None, "--build-watts", metavar="W", help="Average wall power while in use (0 is valid)."),
    electricity: Optional[float] = typer.Option(None, "--electricity", metavar="PRICE", help="Price per kWh in --currency (0 is valid)."),
    utilization: Optional[float] = typer.Option(None, "--utilization", metavar="U", help="Fraction of calendar time in use, in (0, 1]."),
    resale: Optional[float] = typer.Option(None, "--resale", metavar="FRACTION", help="Fraction of the price you get back when selling (default 0)."),
    years: Optional[float] = typer.Option(None, "--years", metavar="Y", help="When you sell it: the horizon (default 3)."),
    vs: Optional[str] = typer.Option(None, "--vs", metavar="INSTANCE", help="A catalog instance, e.g. p3.2xlarge."),
    vs_price: Optional[float] = typer.Option(None, "--vs-price", metavar="USD_PER_H", help="A cloud price in USD per hour."),
    spot: bool = typer.Option(False, "--spot", help="With --vs: use its spot price."),
    region: Optional[str] = typer.Option(None, "--region", metavar="R", help="With --vs: the region whose price to use."),
    overhead: Optional[float] = typer.Option(None, "--overhead", metavar="FRACTION", help="Cloud extras (storage, egress, idle) on top of the price (default 0)."),
    pue: Optional[float] = typer.Option(None, "--pue", metavar="PUE", help="Cooling overhead on the build's energy (default 1)."),
    speedup: Optional[float] = typer.Option(None, "--speedup", metavar="S", help="How much faster the cloud GPU does the same work (default 1)."),
    from_host: bool = typer.Option(False, "--from-host", help="The build's power from this machine's GPUs (price still from --build-price)."),
    plan_build: Optional[str] = typer.Option(None, "--plan-build", metavar="PLAN.json", help="Price and power from a dlkit plan-build JSON."),
    catalog: List[str] = typer.Option([], "--catalog", metavar="FILE", help=_CATALOG_HELP),
    skypilot: Optional[str] = typer.Option(None, "--skypilot", metavar="DIR", help="SkyPilot catalog folder."),
    no_skypilot: bool = typer.Option(False, "--no-skypilot", help="Do not read ~/.sky/catalogs."),
    catalog_date: Optional[str] = typer.Option(None, "--catalog-date", metavar="YYYY-MM-DD", help="When the SkyPilot files were fetched."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE", help="Also draw cumulative cost to FILE (.png or .svg)."),
    force: bool = typer.Option(False, "--force", help="With --plot: replace FILE if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.cloud-cost/1 JSON document."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown."),
    today: Optional[str] = typer.Option(None, "--today", hidden=True),
) -> None:
    """Hours and days of use after which owning a build beats renting (every input printed).

    hours = (price − resale) / (cloud $/h × (1 + overhead) ÷ speedup − kW × $/kWh × PUE)

    days = hours / (24 × utilization)

    Example: dlkit cloud-cost breakeven --build-price 2200 --build-watts 450 --electricity 0.12 --utilization 0.15 --vs p3.2xlarge"""
    _formats(as_json, as_markdown)
    day = _today(today)
    origins: dict[str, str] = {}
    notes: list[str] = []
    if (vs is None) == (vs_price is None):
        _fail("give the cloud side: --vs INSTANCE or --vs-price USD_PER_H (one of them)")
    if from_host and plan_build:
        _fail("--from-host and --plan-build cannot be combined")
    if plan_build:
        if build_price is not None or build_watts is not None:
            _fail("--plan-build gives the price and power; drop --build-price / --build-watts")
        if currency and currency.upper() != "USD":
            _fail("--plan-build prices are in USD: give --electricity in USD/kWh and no --currency")
        try:
            build_price, build_watts, why = _from_plan(plan_build)
        except UserFileError as exc:
            _fail(str(exc))
        origins.update({"--build-price": f"from plan {plan_build}", "--build-watts": why})
        if "wall_watts" not in why:
            notes.append("plan watts are DC power; wall draw is higher by the PSU's loss (about 10 % for 80 Plus Gold): "
                         "--pue 1.1 counts it")
    if from_host:
        if build_price is None:
            _fail("--from-host gives the build's power, not its price: add --build-price")
        if build_watts is not None:
            _fail("--from-host measures --build-watts; give one or the other")
        build_watts, why = _from_host()
        origins["--build-watts"] = why
    for name, value in (("--build-price", build_price), ("--build-watts", build_watts),
                        ("--electricity", electricity), ("--utilization", utilization)):
        if value is None:
            _fail(f"missing {name}" + (" (0 is valid)" if name in ("--build-watts", "--electricity") else ""))
    if plot is not None:
        from dlkit.render.cloud_plot import plot_format
        if plot_format(plot) is None:
            _fail(f"--plot {plot}: give a .png or .svg file name")
        try:
            check_output(plot, force)
        except UserFileError as exc:
            _fail(str(exc))
    defaults = {"--currency": "USD", "--resale": 0.0, "--years": 3.0, "--overhead": 0.0, "--pue": 1.0, "--speedup": 1.0}
    given = {"--currency": currency, "--resale": resale, "--years": years, "--overhead": overhead, "--pue": pue,
             "--speedup": speedup}
    for k, v in given.items():
        if v is None:
            origins.setdefault(k, "default")
    if fx is None:
        origins["--fx"] = "default"
    try:
        if vs is not None:
            rows, _ = _rows(catalog, skypilot, no_skypilot, catalog_date)
            cloud, n_gpus = _cloud_side(rows, vs, region, spot)
            origins["--vs"] = "catalog"
            if n_gpus > 1:
                notes.append(f"{vs} has {n_gpus:g} GPUs and is compared with your whole build; for a build with fewer "
                             f"GPUs use --vs-price (per GPU: {cloud.price_usd_per_h / n_gpus:.4g} USD/h) × your GPU count")
            old = (day - dt.date.fromisoformat(cloud.as_of)).days if cloud.as_of else None
            if cloud.historical:
                notes.append(f"{vs} is a historical price (as of {cloud.as_of[:4]}), not one on offer today")
            elif old is None or old > 30:
                notes.append(f"the {vs} price is {'undated' if old is None else f'{old} days old'}: not current")
        else:
            if spot or region:
                _fail("--spot and --region pick a catalog price: use them with --vs")
            cloud = Cloud(f"--vs-price {vs_price:g} USD/h", vs_price)
        val = {k: (given[k] if given[k] is not None else defaults[k]) for k in defaults}
        res = plan_breakeven(build_price=build_price, build_watts=build_watts, electricity=electricity,
                             utilization=utilization, cloud=cloud, currency=val["--currency"], fx=fx,
                             resale=val["--resale"], years=val["--years"], overhead=val["--overhead"],
                             pue=val["--pue"], speedup=val["--speedup"], origins=origins, notes=tuple(notes))
    except _ERRORS as exc:
        _fail(str(exc))
    if plot is not None:
        from dlkit.render.cloud_plot import PlotUnavailable, plot_format, render_breakeven_plot
        try:
            write_user_file(plot, render_breakeven_plot(res, plot_format(plot)), force)
        except (PlotUnavailable, UserFileError) as exc:
            _fail(str(exc))
        typer.echo(f"plot written to {plot}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(render.breakeven_dict(res), indent=2, ensure_ascii=False) + "\n")
    elif as_markdown:
        sys.stdout.write(render.render_breakeven_markdown(res))
    else:
        render.render_breakeven_console(res, Console())
