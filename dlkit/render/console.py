"""Rich console output for people: the machine in a few lines, then findings grouped by
area with problems first. ``-v`` adds the checks that passed, were skipped or are info."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dlkit.render.summary import machine_lines
from dlkit.report import Finding, Report, Severity

STYLE = {
    Severity.ERROR: ("✖", "bold red"), Severity.WARNING: ("!", "bold yellow"),
    Severity.CRASHED: ("?", "bold magenta"), Severity.INFO: ("i", "cyan"),
    Severity.OK: ("✓", "green"), Severity.SKIPPED: ("-", "dim"),
}


def finding_block(f: Finding, verbose: bool) -> Group:
    mark, style = STYLE[f.severity]
    head = Text.assemble((f"{mark} ", style), (f.title, "bold" if f.severity.is_problem else ""),
                         ("  " + f.code, "dim"))
    parts: list = [head]
    show_body = f.severity.is_problem or f.severity == Severity.INFO or (verbose and f.detail)
    if show_body and f.detail:
        parts.append(Padding(Text(f.detail), (0, 0, 0, 4)))
    if show_body and f.evidence:
        ev = Text("\n".join(f"• {e}" for e in f.evidence), style="dim")
        parts.append(Padding(ev, (0, 0, 0, 4)))
    if f.fix and f.severity.is_problem:
        parts.append(Padding(Panel(Text(f.fix), title="fix", title_align="left", border_style=style, expand=False),
                             (0, 0, 0, 4)))
    return Group(*parts)


def render_console(report: Report, console: Console, source: str, verbose: bool = False) -> None:
    facts = report.facts
    console.print(Text.assemble(("dlkit doctor", "bold"), f"  {source}", (f"  {facts.run.created or ''}", "dim")))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in machine_lines(facts):
        table.add_row(label, Text(value))  # Text: '[avx2 ...]' is not rich markup
    console.print(Padding(table, (1, 0, 1, 2)))

    shown = [f for f in report.findings if verbose or f.severity.is_problem or f.severity == Severity.INFO]
    areas: dict[str, list[Finding]] = {}
    for f in shown:
        areas.setdefault(f.area, []).append(f)
    for area, findings in areas.items():
        console.print(Text(area, style="bold underline"))
        for f in findings:
            console.print(Padding(finding_block(f, verbose), (0, 0, 0, 2)))
        console.print()

    counts = Counter(f.severity for f in report.findings)
    order = (Severity.ERROR, Severity.WARNING, Severity.CRASHED, Severity.INFO, Severity.OK, Severity.SKIPPED)
    summary = ", ".join(f"{counts[s]} {s.value}" for s in order if counts[s])
    hidden = len(report.findings) - len(shown)
    tail = f" ({hidden} more with -v)" if hidden else ""
    _, style = STYLE.get(Severity(report.status), ("", "green"))
    console.print(Text.assemble(("status: ", "bold"), (report.status, style), f"  {summary}{tail}"))
