"""Renderers for ``dlkit plan-build``: a parts table, the power budget, findings (console,
Markdown, JSON), and the catalog listings of ``--list``."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dlkit.checks.buildmath import watts
from dlkit.recipes.build import Plan
from dlkit.render.console import STYLE, finding_block
from dlkit.report import Severity

LIST_COLUMNS = {
    "gpus": (("name", "GPU"), ("memory_gib", "GiB"), ("bandwidth_gbs", "GB/s"), ("bf16_tflops", "BF16 TF"),
             ("fp32_tflops", "FP32 TF"), ("board_power_w", "W"), ("slot_width", "slots"), ("cooler", "cooler"),
             ("pcie_width", "PCIe x"), ("msrp_usd", "MSRP $"), ("street_usd", "street $"), ("as_of", "as of")),
    "cpus": (("name", "CPU"), ("cores", "cores"), ("threads", "thr"), ("tdp_w", "TDP W"), ("max_power_w", "PL2/PPT W"),
             ("platform", "platform"),
             ("lanes_usable", "lanes"), ("pcie_gen", "gen"), ("memory_channels", "mem ch"),
             ("launch_price_usd", "launch $"), ("as_of", "as of")),
    "psus": (("tier", "tier"), ("watts", "W"), ("atx", "ATX"), ("pcie_8pin", "8-pin"), ("pcie_16pin", "12V-2x6"),
             ("efficiency", "efficiency"), ("example", "example"), ("price_usd", "$"), ("as_of", "as of")),
    "ram": (("kit", "kit"), ("capacity_gib", "GiB"), ("type", "type"), ("speed_mts", "MT/s"), ("price_usd", "$"),
            ("price_as_of", "price as of")),
    "platforms": (("platform", "platform"), ("socket", "socket"), ("gpu_slot_lanes", "GPU lanes"),
                  ("gpu_splits", "splits"), ("cpu_nvme_lanes", "NVMe"), ("chipset_uplink_gen", "uplink gen"),
                  ("chipset_uplink_width", "uplink x"), ("note", "note")),
    "platform_parts": (("part", "part"), ("platforms", "platforms"), ("min_gpus", "GPUs from"), ("max_gpus", "to"),
                       ("example", "example"), ("price_usd", "$"), ("price_as_of", "price as of")),
    "regions": (("region", "code"), ("name", "region"), ("volts", "V"), ("amps", "A"), ("continuous_w", "continuous W"),
                ("price_factor", "price ×"), ("as_of", "as of")),
}


def _money(v: float | None) -> str:
    return "—" if v is None else f"${v:,.0f}"


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (tuple, list)):
        return ", ".join(_cell(x) for x in v) or "—"
    return str(v)


def render_list(table: str, rows: list[dict[str, Any]], console: Console) -> None:
    t = Table(title=f"dlkit catalog: {table} ({len(rows)} rows; sources: --list {table} --json)", title_justify="left")
    for i, (_, head) in enumerate(LIST_COLUMNS[table]):
        t.add_column(head, overflow="fold", no_wrap=i == 0)  # the name stays on one line
    for row in rows:
        t.add_row(*(_cell(row.get(k)) for k, _ in LIST_COLUMNS[table]))
    console.print(t)


def list_json(table: str, rows: list[dict[str, Any]]) -> str:
    return json.dumps({"schema": "dlkit.plan-build/1", "mode": "list", "list": table, "rows": rows}, indent=2)


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2)


def _parts_table(plan: Plan) -> Table:
    t = Table(title="Parts", title_justify="left", show_footer=True)
    t.add_column("kind", footer="total")
    t.add_column("part")
    t.add_column("n", justify="right")
    t.add_column("price", justify="right", footer=_money(plan.total_price_usd))
    t.add_column("why / price basis", overflow="fold")
    for p in plan.parts:
        t.add_row(p.kind, p.name, str(p.count), _money(p.price_usd),
                  Text(f"{p.reason}\n{p.price_basis}".strip(), style=""))
    return t


def _power_lines(plan: Plan) -> list[str]:
    pw = plan.power_json()
    if pw is None:
        return []
    cpu_why = f" ({pw['cpu_power_basis']})" if pw["cpu_power_basis"] else ""
    floor = (f" ({pw['psu_floor_basis']}: {pw['psu_floor_watts']:.0f} W, above PSU_min)" if pw["psu_floor_decides"] else "")
    lines = [f"GPUs {sum(pw['gpu_watts']):.0f} W + CPU {pw['cpu_watts']:.0f} W{cpu_why} + rest 100 W = {pw['dc_watts_estimated']:.0f} W DC",
             # rounded up like the findings (buildmath.watts): a limit never reads as met when it is not
             f"PSU minimum 1.1 × {pw['dc_watts_estimated']:.0f} W = {watts(pw['psu_min_watts'])} → recommended "
             f"{plan.psu_watts_recommended} W{floor}" + (f"; PSU {pw['psu_watts']:.0f} W ATX {pw['psu_atx'] or '?'}.x" if pw["psu_watts"] else ""),
             f"wall draw ≈ {watts(pw['wall_watts_estimated'])} at 92 % efficiency"
             + (f" (circuit: {pw['circuit']}, {pw['circuit_continuous_watts']:.0f} W continuous)" if pw["circuit"] else "")]
    if pw["spike_watts_estimated"] > pw["dc_watts_estimated"]:
        lines.append(f"during GPU millisecond spikes ≈ {watts(pw['spike_watts_estimated'])}")
    return lines


def render_plan(plan: Plan, console: Console, verbose: bool = False) -> None:
    console.print(Text.assemble(("dlkit plan-build", "bold"), f"  {plan.mode}"))
    if plan.choice:
        console.print(Padding(Text(plan.choice), (0, 0, 0, 2)))
    if plan.parts:
        console.print(_parts_table(plan))
    for note in plan.notes:
        console.print(Text(note, style="dim"))
    if plan.parts and plan.not_priced:
        console.print(Text(f"not in the total: {', '.join(plan.not_priced)}", style="dim"))
    if plan.parts and plan.estimated:
        console.print(Text(f"in the total as dated estimates for the platform: {', '.join(plan.estimated)}", style="dim"))
    power = _power_lines(plan)
    if power:
        console.print(Text("power", style="bold underline"))
        for line in power:
            console.print(Padding(Text(line), (0, 0, 0, 2)))
    if plan.alternatives:
        console.print(Text("alternatives", style="bold underline"))
        for a in plan.alternatives:
            console.print(Padding(Text(
                f"{a['direction']:>4}: {a['gpus']}× {a['gpu']}, {_money(a['total_price_usd'])} total, "
                f"{a['performance']:,} {a['unit']} ({a['why']})" + (", over budget" if a.get("over_budget") else "")),
                (0, 0, 0, 2)))
    if plan.assumptions:
        console.print(Text("assumed", style="bold underline"))
        for a in plan.assumptions:
            console.print(Padding(Text(f"• {a}", style="dim"), (0, 0, 0, 2)))
    shown = [f for f in plan.findings if verbose or f.severity.is_problem or f.severity == Severity.INFO]
    console.print(Text("checks", style="bold underline"))
    for f in shown:
        console.print(Padding(finding_block(f, verbose), (0, 0, 0, 2)))
    hidden = len(plan.findings) - len(shown)
    _, style = STYLE.get(Severity(plan.status), ("", "green"))
    console.print(Text.assemble(("status: ", "bold"), (plan.status, style),
                                f"  ({hidden} passed or skipped checks; -v shows them)" if hidden else ""))


def plan_markdown(plan: Plan) -> str:
    out = [f"## dlkit plan-build ({plan.mode}): {plan.status}", ""]
    if plan.choice:
        out += [plan.choice, ""]
    if plan.parts:
        out += ["| kind | part | n | price (USD) | why |", "|---|---|---|---|---|"]
        out += [f"| {p.kind} | {p.name} | {p.count} | {_money(p.price_usd)} | {(p.reason or p.price_basis).replace('|', '/')} |"
                for p in plan.parts]
        out += [f"| | **total** | | **{_money(plan.total_price_usd)}** | {('not included: ' + ', '.join(plan.not_priced) + '; ') if plan.not_priced else ''}{('estimates: ' + ', '.join(plan.estimated)) if plan.estimated else ''} |", ""]
    out += [f"- {line}" for line in _power_lines(plan)]
    out += [f"- alternative {a['direction']}: {a['gpus']}× {a['gpu']}, {_money(a['total_price_usd'])} ({a['why']})"
            + (", over budget" if a.get("over_budget") else "") for a in plan.alternatives]
    if plan.assumptions:
        out += ["", "Assumed:", ""] + [f"- {a}" for a in plan.assumptions]
    out += ["", "| code | result | summary |", "|---|---|---|"]
    out += [f"| `{f.code}` | {f.severity.value} | {(f.title if f.severity.value != 'skipped' else f.detail).replace('|', '/')} |"
            for f in plan.findings]
    for f in plan.findings:
        if f.severity.is_problem:
            out += ["", f"#### {f.severity.value}: {f.title} (`{f.code}`)", "", f.detail]
            if f.fix:
                out += ["", "```sh", f.fix, "```"]
    return "\n".join(out) + "\n"
