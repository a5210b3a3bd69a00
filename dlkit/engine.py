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
    CudaFacts,
    DkmsFacts,
    EnvFacts,
    Facts,
    KernelFacts,
    KernelLogFacts,
    MemoryFacts,
    NvidiaDriverFacts,
    OsFacts,
    PciFacts,
    PlatformSecurityFacts,
    PythonFacts,
    RunFacts,
)
from dlkit.host import Host
from dlkit.probes import cpu, cuda, frameworks, kernlog, kmod, memory, nvidia, osinfo, pci, platform
from dlkit.recipes.machine import with_build
from dlkit.report import Finding, Report, Severity, sort_findings

DEFAULT_TIMEOUT_S = 5.0
# Importing torch and initialising CUDA takes 1-5 s on a GPU machine (more on a cold
# driver without persistence mode): the framework child gets this much at least.
FRAMEWORK_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Probe:
    name: str
    collect: Callable[[Host], Any]
    empty: Any  # the facts when the probe crashed or hung
    min_timeout_s: float = 0.0


def nvidia_hint(host: Host) -> bool:
    """Cheap: is an NVIDIA driver or GPU here, so that importing torch can tell us more?"""
    if host.read_text("/proc/driver/nvidia/version").ok:
        return True
    dev = host.list_dir("/dev").entries or ()
    # /dev/dxg: the WSL2 GPU paravirtualisation device
    return "nvidiactl" in dev or "dxg" in dev or (host.platform == "windows" and host.which("nvidia-smi") is not None)


def _python_probe(python: str | None, timeout_s: float) -> Callable[[Host], PythonFacts]:
    def collect(host: Host) -> PythonFacts:
        return frameworks.collect(host, python, nvidia_hint(host), max(timeout_s, FRAMEWORK_TIMEOUT_S) - 1.0)

    return collect


def make_probes(python: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Probe, ...]:
    return (
        Probe("cpu", cpu.collect, CpuFacts()),
        Probe("memory", memory.collect, MemoryFacts()),
        Probe("os", osinfo.collect, OsFacts()),
        Probe("pci", pci.collect, PciFacts()),
        Probe("kernel", kmod.collect, KernelFacts()),
        # NVML (4 s) then nvidia-smi (8 s: it may take seconds to start the driver when
        # persistence mode is off, and hangs on a GPU that fell off the bus)
        Probe("nvidia", nvidia.collect, nvidia.NvidiaState(NvidiaDriverFacts(), None, {}), 13.0),
        Probe("cuda", cuda.collect, CudaFacts()),
        Probe("kernel_log", kernlog.collect, KernelLogFacts()),
        Probe("security", platform.collect_secure_boot, PlatformSecurityFacts()),
        Probe("dkms", platform.collect_dkms, DkmsFacts()),
        Probe("env", platform.collect_env, EnvFacts()),
        Probe("python", _python_probe(python, timeout_s), PythonFacts(), FRAMEWORK_TIMEOUT_S),
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


def _run_probes(host: Host, timeout_s: float, probes: tuple[Probe, ...]) -> tuple[dict[str, Any], list[Finding]]:
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def work(probe: Probe) -> None:
        try:
            results[probe.name] = probe.collect(host)
        except Exception as exc:  # a probe bug must not take the report down
            errors[probe.name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()

    # Daemon threads: a probe stuck past its timeout cannot keep dlkit from exiting.
    threads = {p.name: threading.Thread(target=work, args=(p,), daemon=True, name=f"probe-{p.name}") for p in probes}
    for t in threads.values():
        t.start()
    start = time.monotonic()
    for p in probes:
        limit = max(timeout_s, p.min_timeout_s)
        threads[p.name].join(max(0.0, start + limit - time.monotonic()))

    facts: dict[str, Any] = {}
    crashes: list[Finding] = []
    for probe in probes:
        if probe.name in results:
            facts[probe.name] = results[probe.name]
            continue
        why = errors.get(probe.name) or f"did not finish within {max(timeout_s, probe.min_timeout_s):g} s"
        facts[probe.name] = probe.empty
        crashes.append(Finding(
            f"probe.{probe.name}", Severity.CRASHED, f"the {probe.name} probe failed",
            f"{why}. The facts it gathers are unknown; every other check still ran.",
            "# please report this with a capture of the machine:\ndlkit doctor --capture dlkit-capture.tar.gz",
            (why,)))
    return facts, crashes


def gather(host: Host, timeout_s: float = DEFAULT_TIMEOUT_S, python: str | None = None) -> tuple[Facts, list[Finding]]:
    parts, crashes = _run_probes(host, timeout_s, make_probes(python, timeout_s))
    gpus, other = nvidia.assemble_gpus(parts["pci"], parts["nvidia"])
    facts = Facts(
        run=RunFacts(created=host.created(), dlkit_version=__version__),
        cpu=parts["cpu"], memory=parts["memory"], os=parts["os"], pci=parts["pci"],
        kernel=parts["kernel"], nvidia_driver=parts["nvidia"].driver, gpus=gpus, other_gpus=other,
        cuda=parts["cuda"], kernel_log=parts["kernel_log"], security=parts["security"], dkms=parts["dkms"],
        env=parts["env"],
        python=parts["python"],
    )
    # Catalog data for the probed CPU and GPUs (TDP, lanes, board power), so the power and
    # lane checks judge this machine the way plan-build judges a planned one.
    return with_build(facts), crashes


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


def doctor(host: Host, timeout_s: float = DEFAULT_TIMEOUT_S, only: Iterable[str] = (), skip: Iterable[str] = (),
           python: str | None = None) -> Report:
    codes = select_checks(only, skip)
    facts, crashes = gather(host, timeout_s, python)
    return Report(facts=facts, findings=sort_findings(crashes + run_checks(facts, codes)))
