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

from dlkit.catalog.cloud import CatalogError, PriceRow, UnknownGpu, join_components, merge, packaged_rows
from dlkit.catalog.cloud_sources import known_cloud, load_sources
from dlkit.catalog import refresh as sky_refresh
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


# --------------------------------------------------------------------------- refresh
# The result renderers sit here until dlkit/render/cloud.py takes them (one renderer per result).


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


class _Bars:
    """A rich progress bar per file, on stderr, only when stderr is a terminal."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.bars = Progress(TextColumn("{task.description:<8}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             console=console)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "_Bars":
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def start(self, cloud: str, total_bytes: Optional[int]) -> None:
        self.tasks[cloud] = self.bars.add_task(cloud, total=total_bytes)

    def advance(self, cloud: str, n_bytes: int) -> None:
        self.bars.advance(self.tasks[cloud], n_bytes)

    def finish(self, cloud: str, ok: bool) -> None:
        if cloud in self.tasks:
            task = self.tasks[cloud]
            self.bars.update(task, description=f"{cloud} {'ok' if ok else 'failed'}")
            if ok:
                self.bars.update(task, total=self.bars.tasks[task].completed)


def _entry_dict(e: Optional[sky_refresh.Entry]) -> Optional[dict]:
    return None if e is None else {"fetched_at": e.fetched_at, "size_bytes": e.size_bytes, "sha256": e.sha256,
                                   "rows": e.rows, "url": e.url}


def refresh_dict(res: sky_refresh.RefreshResult) -> dict:
    return {
        "schema": render.SCHEMA, "kind": "refresh", "cache_dir": res.cache_dir, "base_url": res.base_url,
        "layout": sky_refresh.SKY_LAYOUT, "timeout_s": res.timeout_s, "exit_code": res.exit_code,
        "refreshed": sum(o.ok for o in res.outcomes), "failed": sum(not o.ok for o in res.outcomes),
        "clouds": [{"cloud": o.cloud, "status": "refreshed" if o.ok else "failed", "url": o.url, "path": o.path,
                    **({k: v for k, v in _entry_dict(o.entry).items() if k != "url"} if o.ok else
                       {"fetched_at": None, "size_bytes": None, "sha256": None, "rows": None}),
                    "error": o.error, "kept": _entry_dict(o.kept)} for o in res.outcomes],
    }


def render_refresh_console(res: sky_refresh.RefreshResult, console: Console) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from dlkit.host.safefile import size_text

    console.print(Text(f"SkyPilot catalogs (layout {sky_refresh.SKY_LAYOUT}) from {res.base_url}", style="bold"))
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name, justify in (("cloud", "left"), ("status", "left"), ("GPU rows", "right"), ("size", "right"),
                          ("sha256", "left"), ("fetched (UTC)", "left")):
        t.add_column(name, justify=justify, no_wrap=True)
    for o in res.outcomes:
        if o.ok:
            e = o.entry
            t.add_row(o.cloud, "refreshed", f"{e.rows:,}", size_text(e.size_bytes), e.sha256[:12] + "…",
                      e.fetched_at[:16].replace("T", " "))
        else:
            kept = f"kept {o.kept.fetched_date}" if o.kept else "none cached"
            t.add_row(o.cloud, "failed", "—", "—", "—", kept, style="yellow")
    console.print(t)
    good = sum(o.ok for o in res.outcomes)
    console.print(Text(f"{good} of {len(res.outcomes)} refreshed into {res.cache_dir}; "
                       "dlkit cloud-cost reads them from now on, offline (--no-skypilot: the shipped catalog only)",
                       style="dim"))


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
    bars = _Bars(err) if err.is_terminal else None
    try:
        with bars if bars is not None else contextlib.nullcontext():
            res = sky_refresh.refresh(names, base_url=base, timeout_s=timeout, progress=bars)
    except sky_refresh.RefreshError as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(refresh_dict(res), indent=2, ensure_ascii=False) + "\n")
    else:
        render_refresh_console(res, Console())
    for o in res.outcomes:  # each failure ends as one line on stderr, after the summary
        if not o.ok:
            typer.echo(f"dlkit: error: {' '.join(o.message.split())}", err=True)
    raise typer.Exit(res.exit_code)
