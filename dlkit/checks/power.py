"""Power checks: PSU budget, transients on ATX 2.x, the wall circuit, PSU connectors.

Doctor cannot see the PSU or the circuit; these checks run when the user declares them
(``dlkit plan-build --from-host --psu W``) and say what the machine needs otherwise.
Formulas: buildmath.py.
"""

from __future__ import annotations

import math
import re

from dlkit.checks.buildmath import (
    ATX3_EXCURSION,
    OTHER_W,
    PSU_MARGIN,
    WALL_EFFICIENCY,
    PowerBudget,
    power_budget,
    round_up,
    watts,
)
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.report import Finding, Severity

DECLARE_PSU = "dlkit plan-build --from-host --psu WATTS --psu-atx 2|3"
SET_LIMIT = ("sudo nvidia-smi -pm 1              # keep the setting while no process runs\n"
             "sudo nvidia-smi -pl {w}            # every GPU; add -i N for one GPU (resets at reboot: put it in a systemd unit)")


# A circuit carries 80 % of its breaker rating continuously (NEC 210.20(A), build-rules.md §5):
# above the rating itself the breaker trips, which is an error, not a warning.
CONTINUOUS_SHARE = 0.8


def _unknown(code: str, facts: Facts, why: str, declared: bool) -> Finding:
    """A power check that cannot run: a warning where the user asked for it (a plan, or a
    declared PSU or circuit), so no build passes on a check that never ran; else skipped."""
    if facts.gpus and (declared or facts.build.origin == "plan"):  # no GPU: nothing to budget
        return Finding(code, Severity.WARNING, "power check could not run: " + why.split(";")[0],
                       f"{why}. Until then nothing says this PSU and circuit suffice.",
                       "dlkit plan-build ... --cpu-watts WATTS   # the CPU's PL2 / PPT\n"
                       "dlkit plan-build ... --gpu-watts WATTS   # per GPU, where unknown")
    return skipped(code, f"power budget unknown: {why}")


# Below this a power limit is no longer a what-if: NVIDIA's minimum limits for desktop and
# workstation cards sit around 100-150 W (nvidia-smi -q -d POWER, "Min Power Limit").
LOWEST_USEFUL_LIMIT_W = 100


def lowest_limit(b: PowerBudget) -> float:
    """The lowest per-GPU limit a what-if may name: the highest of the boards' own minimum
    power limits where the GPUs report them (nvidia-smi "Min Power Limit"), else 100 W."""
    return max([LOWEST_USEFUL_LIMIT_W] + [g.min_limit_w for g in b.gpus if g.min_limit_w])


def _what_if(b: PowerBudget, psu_w: float | None, circuit_w: float | None) -> list[str]:
    """What a lower GPU power limit would change (Puget: RTX 3090 at 280 W keeps >95 % of
    its performance; CMU: 270-280 W costs about 5 %); never below the boards' minimum limit."""
    lines = []
    fixed = b.cpu_w + OTHER_W
    floor = lowest_limit(b)
    for target, dc, what, over in ((psu_w, (psu_w or 0) / PSU_MARGIN, "PSU", psu_w and b.psu_min_w > psu_w),
                                   (circuit_w, (circuit_w or 0) * WALL_EFFICIENCY, "circuit", circuit_w and b.wall_w > circuit_w)):
        if not target or not over:  # only what does not fit yet needs a what-if
            continue
        limit = b.limit_for_dc(dc)
        if limit and limit >= min(g.watts for g in b.gpus):
            continue
        if limit and limit >= floor:
            shown = (f"the PSU minimum drops to {watts(PSU_MARGIN * (limit * len(b.gpus) + fixed))}" if what == "PSU"
                     else f"the wall draw drops to {watts((limit * len(b.gpus) + fixed) / WALL_EFFICIENCY)}")
            lines.append(f"at {limit:.0f} W per GPU {shown} (fits the {watts(target)} {what})")
        elif floor > LOWEST_USEFUL_LIMIT_W:
            lines.append(f"no power limit makes it fit the {watts(target)} {what}: the GPUs accept no less than "
                         f"{floor:.0f} W each")
    return lines


def _bigger_psu(b: PowerBudget, facts: Facts) -> str:
    # Consumer PSUs stop at 1600 W on 120 V (build-rules.md §2, Wallner; d2l.ai): past that
    # the honest advice is two PSUs or a 230 V circuit.
    if b.psu_recommended_w > 1600 and (facts.build.circuit_continuous_w or 0) < 2000:
        return (f"# {b.psu_recommended_w} W is more than one 120 V PSU delivers: two PSUs (an add2psu adapter) "
                "or a 230 V circuit,")
    return f"# a PSU of at least {b.psu_recommended_w} W,"


@check("power.budget-exceeded", "the PSU is smaller than 1.1 × (GPU power + CPU package power + 100 W)")
def budget_exceeded(facts: Facts) -> Finding:
    code = "power.budget-exceeded"
    b = power_budget(facts)
    if isinstance(b, str):
        return _unknown(code, facts, b, bool(facts.build.psu_w))
    psu = facts.build.psu_w
    if not psu and facts.build.psu_unavailable:  # a planner looked for one and none is big enough
        return Finding(
            code, Severity.ERROR, f"no single PSU covers {watts(b.psu_min_w)}",
            f"{facts.build.psu_unavailable}. Past about 1600 W one consumer PSU is not enough"
            + (" on a 120 V circuit." if (facts.build.circuit_continuous_w or 0) < 2000 else "."),
            "# two PSUs (one for the GPUs, an add2psu adapter), a 230 V circuit, or cap the GPUs:\n"
            "sudo nvidia-smi -pl WATTS", b.evidence())
    if not psu:  # None, or a 0 that can only mean "unknown"
        return skipped(code, f"no PSU declared; this machine needs at least {watts(b.psu_min_w)} "
                             f"(recommended {b.psu_recommended_w} W). To check yours: {DECLARE_PSU}")
    evidence = b.evidence() + (f"PSU: {watts(psu)}",)
    if psu < b.psu_min_w:
        what_if = _what_if(b, psu, None)
        limit = b.limit_for_dc(psu / PSU_MARGIN)
        limit = limit if limit and limit >= lowest_limit(b) else None
        return Finding(
            code, Severity.ERROR,
            f"PSU too small: {watts(psu)} < {watts(b.psu_min_w)} needed (recommended {b.psu_recommended_w} W)",
            "Under full load the GPUs, CPU and the rest draw more than the PSU can deliver with the 10 % "
            "margin, so the machine shuts down or reboots mid-training. "
            + ("What a power limit changes: " + "; ".join(what_if) + "." if what_if else ""),
            f"{_bigger_psu(b, facts)} or cap the GPUs:\n"
            + SET_LIMIT.format(w=limit or "WATTS"),
            evidence)
    if b.floor_w is not None and psu < b.floor_w:
        return Finding(
            code, Severity.WARNING,
            f"PSU {watts(psu)} is below the {b.floor_w:.0f} W {b.floor_label}",
            f"The formula's {watts(b.psu_min_w)} fits, but the GPU maker sizes its figure for a whole PC with "
            "headroom for the card's transients and the PSU's ageing; below it the maker does not support the build.",
            f"# a PSU of at least {b.psu_recommended_w} W (a lower GPU power limit does not change the maker's figure)",
            evidence)
    return ok(code, f"PSU {watts(psu)} covers the {watts(b.psu_min_w)} minimum (recommended {b.psu_recommended_w} W)",
              evidence=evidence)


@check("power.transient-risk", "GPU millisecond power spikes can trip an ATX 2.x PSU without headroom")
def transient_risk(facts: Facts) -> Finding:
    code = "power.transient-risk"
    b = power_budget(facts)
    if isinstance(b, str):
        return _unknown(code, facts, b, bool(facts.build.psu_w))
    spiky = [g for g in b.gpus if g.spike_factor and g.spike_factor > 1.0]
    if not spiky:
        return ok(code, "no GPU here is known for large millisecond power spikes")
    psu = facts.build.psu_w
    if not psu:  # None, or a 0 that can only mean "unknown"
        return skipped(code, f"no PSU declared. To check: {DECLARE_PSU}")
    atx = facts.build.psu_atx
    assumed = atx is None
    atx = 2 if assumed else atx
    # ATX 3.x: the excursion rating; ATX 2.x: the rating less the usual 10 % margin.
    capacity = psu * ATX3_EXCURSION if atx >= 3 else psu / PSU_MARGIN
    evidence = tuple(f"{g.label}: {g.watts:.0f} W × {g.spike_factor:.2f} = {g.watts * g.spike_factor:.0f} W peaks"
                     for g in spiky) + (
        f"system during GPU spikes: {b.spike_w:.0f} W",
        f"PSU: {psu:.0f} W ATX {atx}.x" + (" (version not declared: assumed 2.x; add --psu-atx)" if assumed else "")
        + (f", rides out {ATX3_EXCURSION:.0%} = {watts(capacity)} for 10 ms" if atx >= 3
           else f", no excursion rating: spikes must fit {watts(capacity)} (the rating less a 10 % margin)"))
    if b.spike_w > capacity:
        atx2_size = round_up(b.spike_w * PSU_MARGIN)
        atx3_size = max(b.psu_recommended_w, round_up(b.spike_w / ATX3_EXCURSION))
        why = ("an ATX 2.x PSU's over-current protection can trip on them and power the machine off under load, "
               "although the average draw fits. ATX 3.x units are specified for these excursions." if atx < 3 else
               f"even an ATX 3.x unit is specified only up to {ATX3_EXCURSION:.0%} of its rating for 10 ms.")
        return Finding(
            code, Severity.WARNING,
            f"GPU power spikes (~{watts(b.spike_w)}) exceed what a {watts(psu)} ATX {atx}.x PSU is rated to ride out",
            "RTX 30/40/50-class cards draw well above their board power for milliseconds; " + why,
            f"# an ATX 3.x PSU of at least {atx3_size} W (native 12V-2x6), or an ATX 2.x unit of at least {atx2_size} W,\n"
            "# or lower the GPU power limit (spikes scale with it):\n" + SET_LIMIT.format(w="WATTS"),
            evidence)
    return ok(code, f"the PSU rides out the GPUs' millisecond spikes (~{watts(b.spike_w)})", evidence=evidence)


@check("power.circuit-exceeded", "estimated wall draw exceeds the circuit's continuous limit")
def circuit_exceeded(facts: Facts) -> Finding:
    code = "power.circuit-exceeded"
    b = power_budget(facts)
    if isinstance(b, str):
        return _unknown(code, facts, b, False)  # the region's default circuit is not a declaration
    limit = facts.build.circuit_continuous_w
    if not limit:
        return skipped(code, f"no wall circuit declared; estimated wall draw {watts(b.wall_w)}. "
                             "To check: dlkit plan-build --from-host --circuit us|eu|cn|WATTS")
    evidence = (f"wall draw = ({b.gpu_w:.0f} + {b.cpu_w:.0f} + {OTHER_W:.0f}) W / {WALL_EFFICIENCY} = {watts(b.wall_w)}",
                f"circuit: {facts.build.circuit or 'declared'}, {watts(limit)} continuous")
    if b.wall_w > limit:
        what_if = _what_if(b, facts.build.psu_w, limit)
        per_gpu = b.limit_for_dc(limit * WALL_EFFICIENCY)
        per_gpu = per_gpu if per_gpu and per_gpu >= lowest_limit(b) else None
        breaker_w = limit / CONTINUOUS_SHARE
        return Finding(
            code, Severity.ERROR if b.wall_w > breaker_w else Severity.WARNING,
            f"estimated wall draw {watts(b.wall_w)} exceeds the {watts(limit)} continuous limit of {facts.build.circuit or 'the circuit'}",
            "A circuit may carry 80 % of its breaker rating continuously; hours of training above that trip "
            "the breaker or heat the wiring"
            + (f", and this is above the breaker's {watts(breaker_w)} rating itself, so it trips under load. "
               if b.wall_w > breaker_w else ". ") + ("What a power limit changes: " + "; ".join(what_if) + "." if what_if else ""),
            "# put the machine on its own 20 A / 120 V or 230 V circuit, or cap the GPUs:\n"
            + SET_LIMIT.format(w=per_gpu or "WATTS"),
            evidence)
    return ok(code, f"estimated wall draw {watts(b.wall_w)} fits the {watts(limit)} circuit", evidence=evidence)


_CONNECTOR = re.compile(r"(\d+)x(6pin|8pin|16pin)")


def _connectors_needed(spec: str) -> tuple[int, int] | None:
    """(8-pin, 16-pin) a card's power connectors need; a 6-pin is fed by a 6+2-pin cable.

    >>> _connectors_needed("1x6pin+1x8pin")
    (2, 0)
    >>> _connectors_needed("1x16pin")
    (0, 1)
    """
    found = _CONNECTOR.findall(spec)
    if not found and spec not in ("none", "sxm"):
        return None
    eight = sum(int(n) for n, kind in found if kind in ("6pin", "8pin"))
    return eight, sum(int(n) for n, kind in found if kind == "16pin")


def adapter_8pins(board_power_w: float | None) -> int:
    """PCIe 8-pin cables a 12V-2x6 adapter needs for a card of this board power (unknown: 600 W).

    >>> adapter_8pins(130), adapter_8pins(300), adapter_8pins(320), adapter_8pins(450), adapter_8pins(575)
    (1, 2, 3, 3, 4)
    """
    return max(1, math.ceil((board_power_w or 600) / 150))


@check("power.connectors", "the PSU lacks PCIe power connectors for the GPUs")
def connectors(facts: Facts) -> Finding:
    code = "power.connectors"
    have8, have16 = facts.build.psu_8pin, facts.build.psu_16pin
    if not facts.build.psu_w:
        return skipped(code, f"no PSU declared (a PSU cannot be probed). To check: {DECLARE_PSU}")
    if have8 is None or have16 is None:
        return skipped(code, f"the catalog lists no connector counts for a {facts.build.psu_w:.0f} W "
                             f"ATX {facts.build.psu_atx or '?'}.x PSU")
    needs = [(p.catalog_name, _connectors_needed(p.power_connectors or "")) for p in facts.build.gpus]
    if not needs or any(n is None for _, n in needs):
        return skipped(code, "a GPU's power connectors are unknown or EPS (CPU 8-pin) cables: check the PSU's spare EPS cables")
    need8_total = sum(n[0] for _, n in needs)  # type: ignore[index]
    spare16 = have16 or 0
    for part, (_, n) in zip(facts.build.gpus, needs):
        for _ in range(n[1]):  # type: ignore[index]
            if spare16:
                spare16 -= 1
            else:
                # No native plug: the bundled adapter takes one 150 W PCIe 8-pin per 150 W of
                # board power. NVIDIA's spec pages: "2x PCIe 8-pin (adapter)" for the 300 W
                # RTX 5070 Ti, 3 for the 320 W RTX 4080 and the 450 W RTX 4090, 4 for the 575 W
                # RTX 5090 (HF perf_hardware.md: one cable per socket).
                need8_total += adapter_8pins(part.board_power_w)
    evidence = tuple(f"{name}: {spec}" for name, spec in
                     ((p.catalog_name, p.power_connectors) for p in facts.build.gpus)) + (
        f"PSU: {have8 or 0}× PCIe 8-pin, {have16 or 0}× 12V-2x6",)
    if need8_total > (have8 or 0):
        return Finding(
            code, Severity.WARNING,
            f"the GPUs need {need8_total} PCIe 8-pin connectors, the PSU has {have8 or 0}",
            "Daisy-chained (pigtail) cables or splitters overload one cable; every 8-pin socket needs its own "
            "cable, and a 12V-2x6 card without a native plug needs an adapter fed by 3-4 of them.",
            "# choose a PSU with enough native connectors (ATX 3.x units have 12V-2x6 plugs)", evidence)
    return ok(code, "the PSU has a native connector for every GPU power socket", evidence=evidence)
