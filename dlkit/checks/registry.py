"""The check registry: small pure functions from Facts to Findings, with stable codes.

A check declares its code, its area and a one-line description (``dlkit doctor
--list-checks`` prints them) and returns one Finding or a list. It never prints,
raises on purpose or exits (Homebrew's ``check_*``; insights-core's rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from dlkit.facts import Facts
from dlkit.report import Finding, Severity

CheckFn = Callable[[Facts], "Finding | Iterable[Finding]"]


@dataclass(frozen=True)
class Check:
    code: str
    description: str
    fn: CheckFn

    def run(self, facts: Facts) -> list[Finding]:
        out = self.fn(facts)
        return [out] if isinstance(out, Finding) else list(out)


REGISTRY: dict[str, Check] = {}


def check(code: str, description: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if code in REGISTRY:
            raise ValueError(f"duplicate check code {code}")
        REGISTRY[code] = Check(code, description, fn)
        return fn

    return register


def ok(code: str, title: str, detail: str = "", evidence: Iterable[str] = ()) -> Finding:
    return Finding(code, Severity.OK, title, detail, "", tuple(evidence))


def skipped(code: str, why: str) -> Finding:
    return Finding(code, Severity.SKIPPED, "not checked", why)
