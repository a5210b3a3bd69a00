"""``dlkit cloud-cost``: compare cloud GPU prices; ``dlkit cloud-cost breakeven``: own vs rent;
``dlkit cloud-cost refresh``: fetch SkyPilot's current catalogs into dlkit's cache.

Parses options, loads the price rows (packaged table, ``--catalog`` files, the refreshed cache
or SkyPilot's ``~/.sky/catalogs``), calls the pure planners in ``dlkit.recipes`` and hands the
result to one renderer. Bad input is one line on stderr and exit code 2 (as ``dlkit doctor``).
Only ``refresh`` uses the network (:mod:`dlkit.catalog.refresh`); comparing stays offline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import math
import sys
import urllib.parse
from typing import List, Optional

import typer
from rich.console import Console

from dlkit.catalog.cloud import CatalogError, PriceRow, UnknownGpu, merge, packaged_rows
from dlkit.catalog.cloud_sources import known_cloud, load_sources
from dlkit.catalog import refresh as sky_refresh
from dlkit.cli import StrictCommand, StrictGroup, app
from dlkit.cli.common import fail as _fail
from dlkit.host.userfiles import UserFileError, check_output, read_user_json, write_user_file
from dlkit.recipes.breakeven import BreakevenError
from dlkit.recipes.breakeven_inputs import BreakevenRequest, resolve as resolve_breakeven
from dlkit.recipes.cloud import DTYPES, CompareError, bench_rates, compare as plan_compare, rate_lookup
from dlkit.render import cloud as render, cloud_refresh as render_refresh
from dlkit.render.cloud_refresh import RefreshProgress

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
                                           help="SkyPilot catalog folder (default: what dlkit cloud-cost refresh "
                                                "fetched, else ~/.sky/catalogs when present)."),
    no_skypilot: bool = typer.Option(False, "--no-skypilot",
                                     help="Only the shipped catalog (and --catalog): no refreshed cache, no ~/.sky/catalogs."),
    catalog_date: Optional[str] = typer.Option(None, "--catalog-date", metavar="YYYY-MM-DD",
                                               help="When the SkyPilot files were fetched (they carry no date)."),
    historical: bool = typer.Option(False, "--historical", help="Also show historical list prices (2017)."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.cloud-cost/1 JSON document."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown."),
    today: Optional[str] = typer.Option(None, "--today", hidden=True),
) -> None:
    """Compare cloud GPU instances by $/h and by $ per unit of work (packaged prices, dated).

    Examples: dlkit cloud-cost --gpu A100 --count 8 --hours 100;
    dlkit cloud-cost breakeven --help; dlkit cloud-cost refresh (current prices, the only network use)"""
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
    no_skypilot: bool = typer.Option(False, "--no-skypilot", help="No refreshed cache, no ~/.sky/catalogs."),
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
    if plot is not None:
        from dlkit.render.cloud_plot import plot_format
        if plot_format(plot) is None:
            _fail(f"--plot {plot}: give a .png or .svg file name")
        try:
            check_output(plot, force)
        except UserFileError as exc:
            _fail(str(exc))
    request = BreakevenRequest(build_price=build_price, currency=currency, fx=fx, build_watts=build_watts,
                               electricity=electricity, utilization=utilization, resale=resale, years=years, vs=vs,
                               vs_price=vs_price, spot=spot, region=region, overhead=overhead, pue=pue,
                               speedup=speedup, from_host=from_host, plan_build=plan_build)
    try:
        res = resolve_breakeven(request, lambda: _rows(catalog, skypilot, no_skypilot, catalog_date)[0], day)
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


# --------------------------------------------------------------------------- refresh


def _clouds(text: Optional[str]) -> list[str]:
    if text is None:
        return list(sky_refresh.DEFAULT_CLOUDS)
    names = [n.strip().lower() for n in text.split(",")]
    if any(not n for n in names):
        _fail(f"--clouds {text!r}: give names separated by commas, e.g. aws,gcp")
    unknown = [n for n in names if not known_cloud(n)]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(sky_refresh.DEFAULT_CLOUDS), n=1)
        _fail(f"--clouds: unknown cloud {unknown[0]!r}" + (f"; did you mean {close[0]}?" if close else "")
              + f" (SkyPilot names: {', '.join(sky_refresh.DEFAULT_CLOUDS)}, …)")
    return list(dict.fromkeys(names))


def _base_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _fail(f"--url {text!r} is not an http:// or https:// address (files are read from BASE/<cloud>/vms.csv)")
    return text.strip().rstrip("/")


@cloud_app.command("refresh", cls=StrictCommand)
def refresh(
    url: str = typer.Option(sky_refresh.DEFAULT_BASE_URL, "--url", metavar="BASE",
                            help="Read BASE/<cloud>/vms.csv (default: SkyPilot's published v8 catalog)."),
    clouds: Optional[str] = typer.Option(None, "--clouds", metavar="LIST",
                                         help=f"Comma-separated clouds (default: {','.join(sky_refresh.DEFAULT_CLOUDS)})."),
    timeout: float = typer.Option(sky_refresh.DEFAULT_TIMEOUT_S, "--timeout", metavar="SECONDS",
                                  help="Give up on a file when the server is silent this long (connecting or sending)."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.cloud-cost/1 JSON document."),
) -> None:
    """Download SkyPilot's current price catalogs into dlkit's cache (the only command that uses the network).

    Each file is checked (SkyPilot columns, at least one GPU price, the whole body) before it replaces the cached one; a file that fails keeps its previous copy.

    Exit 0: all refreshed; 1: some failed (the rest were refreshed); 2: none refreshed. Cache: $DLKIT_CACHE_DIR, else the user cache folder (~/.cache/dlkit on Linux).

    Example: dlkit cloud-cost refresh --clouds aws,gcp"""
    if not (math.isfinite(timeout) and 0 < timeout <= sky_refresh.MAX_TIMEOUT_S):
        _fail(f"--timeout must be more than 0 and at most {sky_refresh.MAX_TIMEOUT_S:g} seconds, got {timeout:g}")
    names, base = _clouds(clouds), _base_url(url)
    err = Console(stderr=True)
    bars = RefreshProgress(err) if err.is_terminal else None
    try:
        with bars if bars is not None else contextlib.nullcontext():
            res = sky_refresh.refresh(names, base_url=base, timeout_s=timeout, progress=bars)
    except sky_refresh.RefreshError as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(render_refresh.refresh_dict(res), indent=2, ensure_ascii=False) + "\n")
    else:
        render_refresh.render_refresh_console(res, Console())
    for o in res.outcomes:  # each failure ends as one line on stderr, after the summary
        if not o.ok:
            typer.echo(f"dlkit: error: {' '.join(o.message.split())}", err=True)
    raise typer.Exit(res.exit_code)
