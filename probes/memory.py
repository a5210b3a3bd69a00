"""Memory: total and available RAM, swap.

Canonical source: ``/proc/meminfo`` (check by hand: ``free -m``). Elsewhere psutil
answers through the host.
"""

from __future__ import annotations

from dlkit.facts import MemoryFacts
from dlkit.host import Host


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo -> {key: kibibytes}.

    >>> parse_meminfo("MemTotal:       32823716 kB\\nMemAvailable:   30123456 kB\\nHugePages_Total:       0\\n")
    {'MemTotal': 32823716, 'MemAvailable': 30123456, 'HugePages_Total': 0}
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts and parts[0].isdecimal():
            out[key.strip()] = int(parts[0])
    return out


def _mib_from_kib(kib: int | None) -> int | None:
    return kib // 1024 if kib is not None else None


def collect(host: Host) -> MemoryFacts:
    r = host.read_text("/proc/meminfo")
    if r.text is not None:
        info = parse_meminfo(r.text)
        if "MemTotal" in info:
            unknown = {} if "MemAvailable" in info else {"available_mib": "/proc/meminfo has no MemAvailable (kernel < 3.14)"}
            return MemoryFacts(
                total_mib=_mib_from_kib(info.get("MemTotal")),
                available_mib=_mib_from_kib(info.get("MemAvailable")),
                swap_total_mib=_mib_from_kib(info.get("SwapTotal")),
                source="/proc/meminfo",
                unknown=unknown,
            )
    why = f"/proc/meminfo: {r.error or 'no MemTotal line'}"
    if host.platform == "linux" and r.error == "missing":
        return MemoryFacts(unknown={"total_mib": why})
    vm = host.library("psutil.virtual_memory")
    swap = host.library("psutil.swap_memory")
    swap = swap if isinstance(swap, dict) else {}  # a replayed answer may be anything
    if not isinstance(vm, dict) or not isinstance(vm.get("total"), int):
        return MemoryFacts(unknown={"total_mib": f"{why}, and psutil gave no answer"})
    mib = 1024 * 1024
    return MemoryFacts(
        total_mib=vm["total"] // mib,
        available_mib=vm["available"] // mib if isinstance(vm.get("available"), int) else None,
        swap_total_mib=swap["total"] // mib if isinstance(swap.get("total"), int) else None,
        source="psutil",
    )
