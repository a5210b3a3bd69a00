"""``--markdown``: a report to paste into a bug report or issue tracker."""

from __future__ import annotations

from typing import Any

from dlkit.render.summary import machine_lines
from dlkit.report import Report


def cell(text: object) -> str:
    """Text that fits in one Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, source: str, redactor: Any = None, *, redactions: bool = False) -> str:
    """The report; with a ``redactor`` (dlkit.host.Redactor) redacted for a public tracker, and
    one line saying what was redacted (with ``redactions`` alone: that nothing was)."""
    f = report.facts
    out = [f"## dlkit doctor: {report.status}", "",
           f"dlkit {f.run.dlkit_version}, {source}, {f.run.created or 'time unknown'}", ""]
    out += [f"- **{label}**: {value}" for label, value in machine_lines(f)]
    problems = [x for x in report.findings if x.severity.is_problem or x.severity.value == "info"]
    if problems:
        out += ["", "### Findings"]
    for x in problems:
        out += ["", f"#### {x.severity.value}: {x.title} (`{x.code}`)", "", x.detail]
        if x.evidence:
            out += ["", "Evidence:", "", "```", *x.evidence, "```"]
        if x.fix and x.severity.is_problem:
            out += ["", "Fix:", "", "```sh", x.fix, "```"]
    out += ["", "### All checks", "", "| code | result | summary |", "|---|---|---|"]
    out += [f"| `{x.code}` | {x.severity.value} | {cell(x.title if x.severity.value != 'skipped' else x.detail)} |"
            for x in report.findings]
    if redactor is not None:
        redactor.reset_tally()
        out = [redactor.text(line) for line in out]
        out[4:4] = [f"Redacted for sharing: {redactor.describe()} (`--no-redact` keeps them).", ""]
    elif redactions:
        out[4:4] = ["Not redacted (`--no-redact`): host names, user names, addresses and secrets are as on the machine.", ""]
    return "\n".join(out) + "\n"
