"""The doctor engine: probes (concurrently, each under a timeout) -> Facts -> checks -> Report.

A probe or check that raises or hangs becomes a ``crashed`` finding and the run goes on
(flutter doctor's ``asyncGuard`` + timeout -> ``ValidationResult.crash``).
"""

from __future__ import annotations

import difflib
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from dlkit import __version__
from dlkit.checks import REGISTRY
from dlkit.facts import (
    CpuFacts,
    Facts,
    GpuFacts,
    KernelFacts,
    MemoryFacts,
    NvidiaDriverFacts,
    OsFacts,
    PciFacts,
    RunFacts,
)
from dlkit.host import Host
from dlkit.probes import cpu, kmod, memory, osinfo, pci
from dlkit.report import Finding, Report, Severity

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Probe:
    name: str
    collect: Callable[[Host], Any]
    empty: Any  # the facts when the probe crashed or hung


PROBES = (
    Probe("cpu", cpu.collect, CpuFacts()),
    Probe("memory", memory.collect, MemoryFacts()),
    Probe("os", osinfo.collect, OsFacts()),
    Probe("pci", pci.collect, PciFacts()),
    Probe("kernel", kmod.collect, KernelFacts()),
    Probe("nvidia_driver", kmod.collect_driver, NvidiaDriverFacts()),
)


class SelectionError(ValueError):
    """--only/--skip named a check that does not exist."""


def select_checks(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[str]:
    """Check codes to run. A name may be a code or an area ("pcie" = every pcie.* check)."""
    codes = sorted(REGISTRY)
    areas = {c.split(".", 1)[0] for c in codes}

    def expand(names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            if name in REGISTRY:
                out.add(name)
            elif name in areas:
                out |= {c for c in codes if c.startswith(name + ".")}
            else:
                close = difflib.get_close_matches(name, codes + sorted(areas), n=1)
                hint = f"; did you mean {close[0]}?" if close else "; see dlkit doctor --list-checks"
                raise SelectionError(f"unknown check {name!r}{hint}")
        return out

    chosen = expand(only) if only else set(codes)
    return [c for c in codes if c in chosen - expand(skip)]


def _run_probes(host: Host, timeout_s: float) -> tuple[dict[str, Any], list[Finding]]:
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def work(probe: Probe) -> None:
        try:
            results[probe.name] = probe.collect(host)
        except Exception as exc:  # a probe bug must not take the report down
            errors[probe.name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()

    # Daemon threads: a probe stuck past its timeout cannot keep dlkit from exiting.
    threads = {p.name: threading.Thread(target=work, args=(p,), daemon=True, name=f"probe-{p.name}") for p in PROBES}
    for t in threads.values():
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads.values():
        t.join(max(0.0, deadline - time.monotonic()))

    facts: dict[str, Any] = {}
    crashes: list[Finding] = []
    for probe in PROBES:
        if probe.name in results:
            facts[probe.name] = results[probe.name]
            continue
        why = errors.get(probe.name) or f"did not finish within {timeout_s:g} s"
        facts[probe.name] = probe.empty
        crashes.append(Finding(
            f"probe.{probe.name}", Severity.CRASHED, f"the {probe.name} probe failed",
            f"{why}. The facts it gathers are unknown; every other check still ran.",
            "# please report this with a capture of the machine:\ndlkit doctor --capture dlkit-capture.tar.gz",
            (why,)))
    return facts, crashes


def assemble_gpus(pci_facts: PciFacts) -> tuple[tuple[GpuFacts, ...], tuple[GpuFacts, ...]]:
    """GPUs from PCI: NVIDIA ones in ``gpus``, other vendors in ``other_gpus``."""
    nvidia, other = [], []
    for d in pci_facts.devices:
        gpu = GpuFacts(
            pci_bus_id=d.bus_id, vendor=d.vendor or d.vendor_id or "unknown",
            pcie_gen_current=d.pcie_gen_current, pcie_gen_max=d.pcie_gen_max,
            pcie_width_current=d.pcie_width_current, pcie_width_max=d.pcie_width_max,
            kernel_driver=d.driver, numa_node=d.numa_node, source="sysfs",
        )
        (nvidia if d.vendor == "nvidia" else other).append(gpu)
    return tuple(nvidia), tuple(other)


def gather(host: Host, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Facts, list[Finding]]:
    parts, crashes = _run_probes(host, timeout_s)
    gpus, other = assemble_gpus(parts["pci"])
    facts = Facts(
        run=RunFacts(created=host.created(), dlkit_version=__version__),
        cpu=parts["cpu"], memory=parts["memory"], os=parts["os"], pci=parts["pci"],
        kernel=parts["kernel"], nvidia_driver=parts["nvidia_driver"], gpus=gpus, other_gpus=other,
    )
    return facts, crashes


def run_checks(facts: Facts, codes: Iterable[str]) -> list[Finding]:
    findings = []
    for code in codes:
        try:
            findings.extend(REGISTRY[code].run(facts))
        except Exception as exc:
            why = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            findings.append(Finding(code, Severity.CRASHED, f"the {code} check failed", why,
                                    "# please report this with: dlkit doctor --capture dlkit-capture.tar.gz", (why,)))
    return findings


def doctor(host: Host, timeout_s: float = DEFAULT_TIMEOUT_S, only: Iterable[str] = (), skip: Iterable[str] = ()) -> Report:
    codes = select_checks(only, skip)
    facts, crashes = gather(host, timeout_s)
    findings = crashes + run_checks(facts, codes)
    findings.sort(key=lambda f: (-f.severity.rank, f.code))
    return Report(facts=facts, findings=tuple(findings))
