"""``dlkit cloud-cost`` output: console (rich), Markdown, and the ``dlkit.cloud-cost/1`` JSON.

Every money amount names its unit (USD unless the user's currency is written). Only these
functions print; the planners in ``dlkit.recipes.cloud`` / ``.breakeven`` return values.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlkit.catalog.cloud import row_flags
from dlkit.recipes.breakeven import BreakevenResult, Point, percent
from dlkit.recipes.cloud import CompareResult, Offer
from dlkit.render.markdown import cell as _cell

SCHEMA = "dlkit.cloud-cost/1"


def _n(x: float | None, digits: int = 6) -> float | int | None:
    if x is None or not math.isfinite(x):  # JSON has no inf/NaN: out of range reads as null
        return None
    r = round(x, digits)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _usd(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _gpus(o_row) -> str:
    return f"{o_row.gpu_count:g}× {o_row.gpu}"


# --------------------------------------------------------------------------- compare


def _row_dict(o: Offer, rank: int, res: CompareResult) -> dict:
    r = o.row
    return {
        "provider": r.provider, "instance": r.instance, "region": r.region or None, "gpu": r.gpu,
        "gpu_count": _n(r.gpu_count), "vcpus": _n(r.vcpus), "ram_gib": _n(r.ram_gib),
        "price_usd_per_h": _n(r.price_usd_per_h), "spot_usd_per_h": _n(r.spot_usd_per_h),
        "usd_per_gpu_h": _n(o.usd_per_gpu_h), "cost_usd_for_hours": _n(o.cost_usd_for_hours, 4),
        "tflops_per_gpu": _n(o.rate.tflops_per_gpu, 3) if o.rate else None,
        "tflops_source": o.rate.source if o.rate else None,
        "usd_per_eflop": _n(o.usd_per_eflop), "rank_by_price": rank, "rank_by_work": o.rank_work,
        "historical": r.historical,
        "components": ({"host_usd_per_h": _n(r.components[0]), "gpu_usd_per_h": _n(r.components[1])}
                       if r.components else None),
        "as_of": r.as_of, "age_days": o.age_days, "source": r.source, "note": r.note or None,
        "flags": list(row_flags(r, res.anomalies)),
    }


def compare_dict(res: CompareResult) -> dict:
    a = res.age
    return {
        "schema": SCHEMA, "kind": "compare", "query": res.query,
        "catalog": {"today": a.today, "as_of_newest": a.newest, "as_of_oldest": a.oldest, "age_days": a.newest_days,
                    "oldest_age_days": a.oldest_days, "undated_rows": a.undated, "current": a.current,
                    "message": a.message, "files_read": list(res.sources_read)},
        "rows": [_row_dict(o, i + 1, res) for i, o in enumerate(res.offers)],
        "anomalies": [{"kind": x.kind, "provider": x.provider, "gpu": x.gpu, "gpu_count": _n(x.gpu_count),
                       "message": x.message} for x in res.anomalies],
        "notes": list(res.notes),
    }


def _sources(offers: list[Offer]) -> dict[str, int]:
    return {s: i + 1 for i, s in enumerate(dict.fromkeys(o.row.source for o in offers))}


def _age(o: Offer) -> str:
    if o.row.as_of is None:
        return "undated"
    if o.row.historical:
        return f"{o.row.as_of[:4]} (historical)"
    return f"{o.row.as_of} ({o.age_days} d{', old' if (o.age_days or 0) > 30 else ''})"


def _title(res: CompareResult) -> str:
    q = res.query
    what = q["gpu"] or "every GPU"
    if q["matched"] and q["matched"] != [q["gpu"]]:
        what += f" ({', '.join(q['matched'])})"
    bits = [what, q["pricing"]]
    if q["count"]:
        bits.append(f"{q['count']:g} GPU(s)")
    if q["region"]:
        bits.append(f"region {q['region']}")
    return "Cloud prices: " + ", ".join(bits) + " — USD"


@dataclass
class _Col:
    header: str  # "\n" splits it over two lines
    cells: list[str]
    justify: str = "right"


def _table(title: str, cols: list[_Col], styles: list[str | None]) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in cols:
        # numbers keep their full width (never cut to "2.7…"); a cell may hold two lines
        t.add_column(c.header, justify=c.justify, no_wrap=True,
                     min_width=max(len(x) for x in (c.cells or [""]) for x in x.split("\n")) or None)
    for i, style in enumerate(styles):
        t.add_row(*(c.cells[i] for c in cols), style=style)
    return t


def _width(cols: list[_Col]) -> int:
    return sum(max(len(x) for x in c.cells + c.header.split("\n") for x in x.split("\n")) + 2 for c in cols)


def render_compare_console(res: CompareResult, console: Console) -> None:
    q = res.query
    src = _sources(list(res.offers))
    offers = list(res.offers)
    styles = ["dim" if o.row.historical else None for o in offers]
    hours = [_Col(f"USD for\n{q['hours']:g} h", [_usd(o.cost_usd_for_hours, 2) for o in offers])] \
        if q["hours"] is not None else []
    console.print(Text(_title(res), style="bold"))
    console.print(Text(res.age.message, style="yellow" if not res.age.current else "dim"))
    wide = [_Col("#", [str(i + 1) for i in range(len(offers))]),
            _Col("provider", [o.row.provider for o in offers], "left"),
            _Col("instance", [o.row.instance for o in offers], "left"),
            _Col("region", [o.row.region or "—" for o in offers], "left"),
            _Col("GPUs", [_gpus(o.row) for o in offers], "left"),
            _Col("vCPU/\nRAM GiB", [f"{o.row.vcpus:g}/{o.row.ram_gib:g}" if o.row.vcpus and o.row.ram_gib else "—"
                                    for o in offers]),
            _Col("on-demand\nUSD/h", [_usd(o.row.price_usd_per_h) for o in offers]),
            _Col("spot\nUSD/h", [_usd(o.row.spot_usd_per_h) for o in offers]),
            _Col(f"{q['pricing']}\nUSD/GPU-h", [_usd(o.usd_per_gpu_h) for o in offers]), *hours,
            _Col("as of", [_age(o) for o in offers], "left"),
            _Col("src", [str(src[o.row.source]) for o in offers]),
            _Col("flags", [", ".join(row_flags(o.row, res.anomalies)) or "" for o in offers], "left")]
    title = f"by {q['pricing']} price per hour"
    numbered = _width(wide) <= console.width
    if numbered:
        console.print(_table(title, wide, styles))
    else:  # a narrow terminal: fewer columns (--json and --markdown keep them all)
        narrow = [_Col("provider\ninstance", [f"{o.row.provider}\n{o.row.instance}" for o in offers], "left"),
                  _Col("GPUs", [_gpus(o.row) for o in offers], "left"),
                  _Col(f"{q['pricing']}\nUSD/h", [_usd(o.price_usd_per_h) for o in offers]),
                  _Col("USD/GPU-h", [_usd(o.usd_per_gpu_h) for o in offers]), *hours,
                  # the flags under the age: the row says it, not only the footnote
                  _Col("age", ["\n".join((_short_age(o),) + tuple(SHORT_FLAG[f] for f in row_flags(o.row, res.anomalies)))
                               for o in offers])]
        console.print(_table(title + " (all columns: --markdown, --json, or a wider terminal)", narrow, styles))
    work = res.by_work
    if work:
        measured = any(o.rate.source == "measured" for o in work)
        wcols = [_Col("#", [str(o.rank_work) for o in work]),
                 _Col("provider\ninstance", [f"{o.row.provider}\n{o.row.instance}" for o in work], "left"),
                 _Col("GPUs", [_gpus(o.row) for o in work], "left"),
                 _Col(f"{q['dtype']}\nTFLOPS/GPU", [f"{o.rate.tflops_per_gpu:g}" + ("*" if o.rate.source == "measured"
                                                                                     else "") for o in work]),
                 _Col("USD per\nEFLOP", [_usd(o.usd_per_eflop) for o in work]),
                 _Col(f"{q['pricing']}\nUSD/h", [_usd(o.price_usd_per_h) for o in work])]
        if _width(wcols) + 2 * max(len(o.row.instance) for o in work) <= console.width:
            wcols[1] = _Col("provider instance", [f"{o.row.provider} {o.row.instance}" for o in work], "left")
        console.print(_table(f"by price per unit of work (1 EFLOP = 10^18 {q['dtype']} FLOP at the datasheet peak"
                             + ("; * measured by dlkit bench" if measured else "") + ")", wcols, [None] * len(work)))
    else:
        console.print(Text(f"not ranked by work: no {q['dtype']} TFLOPS for these GPUs (see notes)", style="dim"))
    for a in res.anomalies:
        console.print(Text(f"anomaly ({a.kind}): {a.message}", style="yellow"))
    for n in res.notes:
        console.print(Text(f"note: {n}", style="dim"))
    for s, i in src.items():
        console.print(Text(f"[{i}] {s}" if numbered else f"source: {s}", style="dim"))
    for f in res.sources_read:
        console.print(Text(f"read: {f}", style="dim"))


SHORT_FLAG = {"spot > on-demand": "spot>OD!", "regional spread": "spread!"}


def _short_age(o: Offer) -> str:
    if o.row.as_of is None:
        return "undated"
    if o.row.historical:
        return o.row.as_of[:4]
    return f"{o.age_days} d" + (" old" if (o.age_days or 0) > 30 else "")


def render_compare_markdown(res: CompareResult) -> str:
    q = res.query
    out = [f"## {_title(res)}", "", f"_{res.age.message}_", "", "### By price per hour", ""]
    head = ["#", "provider", "instance", "region", "GPUs", "vCPUs", "RAM GiB", "on-demand USD/h", "spot USD/h",
            f"{q['pricing']} USD/GPU-h"] + ([f"USD for {q['hours']:g} h"] if q["hours"] is not None else []) + \
           ["as of", "flags", "source", "note"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, o in enumerate(res.offers):
        r = o.row
        cells = [i + 1, r.provider, r.instance, r.region or "—", _gpus(r), f"{r.vcpus:g}" if r.vcpus else "—",
                 f"{r.ram_gib:g}" if r.ram_gib else "—", _usd(r.price_usd_per_h), _usd(r.spot_usd_per_h),
                 _usd(o.usd_per_gpu_h)] + ([_usd(o.cost_usd_for_hours, 2)] if q["hours"] is not None else []) + \
                [_age(o), ", ".join(row_flags(r, res.anomalies)), r.source, r.note or ""]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if res.by_work:
        out += ["", f"### By price per unit of work (1 EFLOP = 10^18 {q['dtype']} FLOP)", "",
                f"| # | provider | instance | GPUs | {q['dtype']} TFLOPS/GPU | rate | USD/EFLOP |", "|---|---|---|---|---|---|---|"]
        out += [f"| {o.rank_work} | {_cell(o.row.provider)} | {_cell(o.row.instance)} | {_gpus(o.row)} | "
                f"{o.rate.tflops_per_gpu:g} | {o.rate.source} | {_usd(o.usd_per_eflop)} |" for o in res.by_work]
    if res.anomalies:
        out += ["", "### Anomalies", ""] + [f"- **{a.kind}**: {_cell(a.message)}" for a in res.anomalies]
    if res.notes or res.sources_read:
        out += ["", "### Notes", ""] + [f"- {_cell(n)}" for n in res.notes] + [f"- read {_cell(f)}" for f in res.sources_read]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- break-even


def milestones(res: BreakevenResult) -> list[tuple[str, Point]]:
    """Cumulative cost at round dates up to the horizon, and at break-even."""
    marks = [("1 month", 30.44), ("3 months", 91.31), ("6 months", 182.62)]
    marks += [(f"{y} year{'s' if y > 1 else ''}", 365.25 * y) for y in range(1, int(res.years) + 1)]
    if res.years != int(res.years):
        marks.append((f"{res.years:g} years", 365.25 * res.years))
    if res.breakeven_days is not None:
        marks.append(("break-even", res.breakeven_days))
    return [(label, res.cost_at(day)) for label, day in sorted(marks, key=lambda m: m[1])]


def _point(p: Point) -> dict:
    return {"day": _n(p.day, 2), "hours_used": _n(p.hours_used, 2), "own_usd": _n(p.own_usd, 2),
            "cloud_usd": _n(p.cloud_usd, 2)}


def breakeven_dict(res: BreakevenResult) -> dict:
    c = res.cloud
    return {
        "schema": SCHEMA, "kind": "breakeven",
        "inputs": [{"option": i.name, "value": i.value, "unit": i.unit or None, "origin": i.origin, "note": i.note or None}
                   for i in res.inputs],
        "cloud": {"label": c.label, "provider": c.provider, "instance": c.instance, "region": c.region or None,
                  "pricing": c.pricing, "price_usd_per_h": c.price_usd_per_h, "as_of": c.as_of, "source": c.source,
                  "historical": c.historical},
        "currency": res.currency, "fx_per_usd": res.fx_per_usd,
        "build_price_usd": _n(res.build_price_usd, 4), "resale_usd": _n(res.resale_usd, 4),
        "net_capex_usd": _n(res.net_capex_usd, 4), "build_kw": _n(res.build_kw),
        "electricity_usd_per_kwh": _n(res.electricity_usd_per_kwh), "own_usd_per_h": _n(res.own_usd_per_h),
        "cloud_usd_per_h_effective": _n(res.cloud_usd_per_h_effective),
        "utilization": res.utilization, "years": res.years,
        "formula": "hours = (price - resale) / (cloud_usd_per_h * (1 + overhead) / speedup - kW * usd_per_kwh * pue); "
                   "days = hours / (24 * utilization)",
        "breakeven_hours": _n(res.breakeven_hours, 2), "breakeven_days": _n(res.breakeven_days, 2),
        "verdict": res.verdict, "notes": list(res.notes),
        "milestones": [{"label": label, **_point(p)} for label, p in milestones(res)],
        "series": [_point(p) for p in res.series],
    }


def _value(v: object) -> str:
    return f"{v:,.6g}" if isinstance(v, float) else str(v)


def _mechanics(res: BreakevenResult) -> list[str]:
    c = res.cloud
    inp = {i.name: i.value for i in res.inputs}
    return [
        f"cloud: {c.price_usd_per_h:g} USD/h × (1 + {inp['--overhead']:g} overhead) ÷ {inp['--speedup']:g} speedup "
        f"= {res.cloud_usd_per_h_effective:.4f} USD per build-hour of work",
        f"build: {res.build_kw:g} kW × {res.electricity_usd_per_kwh:.4f} USD/kWh × PUE {inp['--pue']:g} "
        f"= {res.own_usd_per_h:.4f} USD per hour of use; capex {res.build_price_usd:,.2f} − resale "
        f"{res.resale_usd:,.2f} = {res.net_capex_usd:,.2f} USD",
    ]


def _headline(res: BreakevenResult) -> str:
    if res.breakeven_hours is None:
        return "Break-even: never"
    return (f"Break-even: {res.breakeven_hours:,.2f} hours of use = {res.breakeven_days:,.2f} days "
            f"at {percent(res.utilization)} utilization")


def render_breakeven_console(res: BreakevenResult, console: Console) -> None:
    console.print(Text(f"Own build vs {res.cloud.label}", style="bold"))
    t = Table(title="inputs (every one; 'default' = not given)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("option", "value", "unit", "origin", "note"):
        t.add_column(col)
    for i in res.inputs:
        t.add_row(i.name, _value(i.value), i.unit, i.origin, i.note, style="dim" if i.origin == "default" else None)
    console.print(t)
    for line in _mechanics(res):
        console.print(Text(line, style="dim"))
    console.print(Text(_headline(res), style="bold green" if res.breakeven_hours is not None else "bold yellow"))
    m = Table(title="cumulative cost, USD (own build = price − resale, credited from day one, + electricity)",
              title_justify="left",
              box=box.SIMPLE_HEAD)
    for col, just in (("after", "left"), ("hours used", "right"), ("own build USD", "right"), ("cloud USD", "right"),
                      ("cheaper", "left")):
        m.add_column(col, justify=just)
    for label, p in milestones(res):
        gap = p.cloud_usd - p.own_usd
        cheaper = "equal" if abs(gap) < 0.005 else "build" if gap > 0 else "cloud"
        m.add_row(label, f"{p.hours_used:,.0f}", f"{p.own_usd:,.2f}", f"{p.cloud_usd:,.2f}", cheaper,
                  style="bold" if label == "break-even" else None)
    console.print(m)
    console.print(Text(f"verdict: {res.verdict}"))
    for n in res.notes:
        console.print(Text(f"note: {n}", style="dim"))


def render_breakeven_markdown(res: BreakevenResult) -> str:
    out = [f"## Own build vs {_cell(res.cloud.label)}", "", f"**{_headline(res)}**", "", f"Verdict: {_cell(res.verdict)}", "",
           "### Inputs", "", "| option | value | unit | origin | note |", "|---|---|---|---|---|"]
    out += [f"| `{i.name}` | {_cell(_value(i.value))} | {_cell(i.unit)} | {i.origin} | {_cell(i.note)} |" for i in res.inputs]
    out += ["", *[f"- {_cell(line)}" for line in _mechanics(res)], "", "### Cumulative cost (USD)", "",
            "| after | hours used | own build USD | cloud USD |", "|---|---|---|---|"]
    out += [f"| {label} | {p.hours_used:,.0f} | {p.own_usd:,.2f} | {p.cloud_usd:,.2f} |" for label, p in milestones(res)]
    if res.notes:
        out += ["", "### Notes", ""] + [f"- {_cell(n)}" for n in res.notes]
    return "\n".join(out) + "\n"
