"""nvidia-smi as a source of GPU facts, when NVML's answers are not at hand (spec §1).

Runs the canonical commands in the spec's order, with the spec's exact argv lists so that
captures made by other tools (nvidia-bug-report, exporters) replay: ``nvidia-smi -q -x``,
``nvidia-smi -q``, the default table ``nvidia-smi``, then ``nvidia-smi -L``. The first
answer that lists GPUs wins (completed with the driver version of an earlier answer that
named only the driver); otherwise the most telling failure is returned. Check by hand:
run the same commands.

Parsers (pure, each with a sample): ``parse_xml`` (probes/nvsmi_xml.py), ``parse_query``,
``parse_table``, ``parse_list`` (probes/nvsmi_text.py), ``classify_failure``
(probes/nvsmi_common.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dlkit.facts import NvidiaReport
from dlkit.host import Host
from dlkit.probes.nvsmi_common import classify_failure
from dlkit.probes.nvsmi_text import parse_list, parse_query, parse_table
from dlkit.probes.nvsmi_xml import parse_xml

__all__ = ["COMMANDS", "TIMEOUT_S", "classify_failure", "collect", "parse_list",
           "parse_query", "parse_table", "parse_xml"]

COMMANDS: tuple[tuple[list[str], Callable[[str], NvidiaReport]], ...] = (
    (["nvidia-smi", "-q", "-x"], parse_xml),
    (["nvidia-smi", "-q"], parse_query),
    (["nvidia-smi"], parse_table),
    (["nvidia-smi", "-L"], parse_list),
)
# nvidia-smi answers in well under a second with persistence mode on and in a few seconds
# without it, but can hang for minutes on a GPU that fell off the bus (failure-modes.md
# F17). 8 s leaves room for a slow first NVML init; after one timeout the other commands
# are not tried, since they would hang on the same GPU.
TIMEOUT_S = 8.0

# Which failure says most, best first: a named cause, then a hang, then an answer that
# could not be read, then "nvidia-smi is not there".
_RANK = ("driver-not-loaded", "library-mismatch", "library-not-found", "gpu-lost", "insufficient-permissions",
         "no-devices", "timeout", "unknown-error", "not-found")


def _rank(report: NvidiaReport) -> int:
    return _RANK.index(report.failure) if report.failure in _RANK else len(_RANK)


def _first_line(text: str) -> str | None:
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


def collect(host: Host) -> NvidiaReport:
    """The first nvidia-smi answer with GPUs, else the best failure.

    An answer that names the driver but no GPU (the bare "Driver Version: 430.26" an
    importer keeps from a collect_env report, or a -q whose GPU list failed) is kept, and
    the later commands are still asked for the GPUs: the driver comes from the first, the
    GPUs (each with its own ``source``) from the one that lists them.
    """
    driver_only: NvidiaReport | None = None
    failures: list[NvidiaReport] = []
    for argv, parse in COMMANDS:
        source = " ".join(argv)
        result = host.run(argv, timeout_s=TIMEOUT_S)
        if result.status in ("timeout", "not-found"):
            failures.append(NvidiaReport(source=source, failure=result.status, failure_text=result.why()))
            if result.status == "timeout":
                break
            continue
        # Failure messages go to stdout on some drivers and stderr on others.
        output = result.stdout + ("\n" + result.stderr if result.stderr else "")
        report = parse(output)
        if report.gpus:
            if driver_only is None:
                return report
            return replace(driver_only, gpus=report.gpus, cuda_version=driver_only.cuda_version or report.cuda_version)
        if report.driver_version:
            driver_only = driver_only or report
            continue
        if report.failure is None:
            # It ran but said nothing this parser understands: not "no GPUs", unknown.
            line = _first_line(output)
            report = replace(report, failure="unknown-error",
                             failure_text=f"`{source}`: {line[:200]}" if line else f"{result.why()}, no output")
        failures.append(report)
    if driver_only is not None:
        return driver_only
    # min() keeps the first of equals: the canonical order breaks ties.
    return min(failures, key=_rank)
