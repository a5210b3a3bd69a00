"""Findings and the doctor report (spec §2, ``dlkit.doctor/1``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable

from dlkit.facts import Facts

SCHEMA = "dlkit.doctor/1"


class Severity(str, enum.Enum):
    ERROR = "error"  # deep learning on the GPU is blocked or wrong
    WARNING = "warning"  # works, but degraded or risky
    INFO = "info"
    OK = "ok"  # a check ran and passed
    SKIPPED = "skipped"  # not applicable here; the reason is in detail
    CRASHED = "crashed"  # the check itself failed; the run went on

    @property
    def rank(self) -> int:
        # crashed counts as warning for the report's status (spec §2)
        return {"error": 3, "warning": 2, "crashed": 2, "info": 1, "ok": 0, "skipped": 0}[self.value]

    @property
    def is_problem(self) -> bool:
        return self in (Severity.ERROR, Severity.WARNING, Severity.CRASHED)


@dataclass(frozen=True)
class Finding:
    code: str  # stable: users suppress, search and script by it
    severity: Severity
    title: str
    detail: str = ""
    fix: str = ""  # commands the user can paste
    evidence: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return self.code.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
            "evidence": list(self.evidence),
        }


EXIT_CODES = {"ok": 0, "warning": 1, "error": 2}


def worst_status(findings: "tuple[Finding, ...] | list[Finding]") -> str:
    """"error", "warning" or "ok": the worst severity (``crashed`` counts as warning, spec §2)."""
    worst = max((f.severity.rank for f in findings), default=0)
    return {3: "error", 2: "warning"}.get(worst, "ok")


def sort_findings(findings: "Iterable[Finding]") -> tuple[Finding, ...]:
    """Worst first, then by code: the order every report and plan shows."""
    return tuple(sorted(findings, key=lambda f: (-f.severity.rank, f.code)))


@dataclass(frozen=True)
class Report:
    facts: Facts
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        return worst_status(self.findings)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status,
            "facts": self.facts.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }
