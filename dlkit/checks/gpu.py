"""GPU health from NVML / nvidia-smi and the kernel log: power caps, throttling, ECC,
Xid errors, persistence mode, MIG (failure-modes.md; nvidia-smi(1) clocks_event_reasons)."""

from __future__ import annotations

import re

from dlkit.catalog.xid import xid_info
from dlkit.checks.buildmath import gpu_label
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.probes.kernlog import message_boot
from dlkit.report import Finding, Severity

# Active reasons that mean the GPU is being slowed down, not idling (nvidia-smi -q
# "Clocks Event Reasons"); sw_power_cap counts only near the limit.
SLOWDOWN = ("hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "sw_thermal_slowdown")
DATACENTER = re.compile(r"\b(Tesla|A100|A800|H100|H800|H200|GH200|B100|B200|GB200|A10G?|A16|A2|A30|A40|"
                        r"L4|L20|L40S?|T4|V100|P100|P40|P4|K80|M60)\b")


@check("gpu.power-capped", "a GPU's enforced power limit is below its default")
def power_capped(facts: Facts) -> Finding:
    code = "gpu.power-capped"
    known = [g for g in facts.gpus if g.power_limit_w and g.power_default_limit_w]
    if not known:
        return skipped(code, "no GPU reports both its enforced and default power limit")
    capped = [g for g in known if g.power_limit_w < g.power_default_limit_w - 1.0]
    if capped:
        return Finding(code, Severity.WARNING, "GPU power limit set below the default",
                       "Someone (or a VM/cloud policy) lowered the power limit; the GPU clocks down under load "
                       "and trains slower. That can be deliberate (quieter, cooler, a small PSU).",
                       "nvidia-smi -q -d POWER          # see the limits\n"
                       + "\n".join(f"sudo nvidia-smi -i {g.pci_bus_id} -pl {g.power_default_limit_w:g}   # restore the default" for g in capped),
                       tuple(f"{gpu_label(g)}: enforced {g.power_limit_w:g} W, default {g.power_default_limit_w:g} W" for g in capped))
    return ok(code, "every GPU runs at its default power limit or above")


@check("gpu.throttled", "a GPU is being slowed by heat, power brake or the power cap under load")
def throttled(facts: Facts) -> Finding:
    code = "gpu.throttled"
    known = [g for g in facts.gpus if g.clock_event_reasons is not None]
    if not known:
        return skipped(code, "no GPU reports its clock-event (throttle) reasons")
    hits = []
    for g in known:
        active = [r for r in g.clock_event_reasons if r in SLOWDOWN]
        if "sw_power_cap" in g.clock_event_reasons and g.power_draw_w and g.power_limit_w \
                and g.power_draw_w >= 0.95 * g.power_limit_w:
            active.append(f"sw_power_cap at {g.power_draw_w:g} of {g.power_limit_w:g} W")
        if active:
            temp = f", {g.temperature_c:g} C" if g.temperature_c is not None else ""
            hits.append(f"{gpu_label(g)}: {', '.join(active)}{temp}")
    if hits:
        return Finding(code, Severity.WARNING, "GPU clocks are being held down",
                       "The GPU is slowing itself: thermal slowdown means cooling is short (airflow, fan "
                       "curve, dust, cards too close); hardware slowdown / power brake often means the PSU or "
                       "its cables cannot deliver; the power cap means it runs at its power limit.",
                       "nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER     # which reason, how hot, how much power\n"
                       "nvidia-smi dmon -s pct     # watch power, temperature, clocks under load",
                       tuple(hits))
    return ok(code, "no GPU is being slowed down")


@check("gpu.ecc-errors", "uncorrectable ECC errors, pending row remaps or retired pages")
def ecc_errors(facts: Facts) -> Finding:
    code = "gpu.ecc-errors"
    rows = []
    severity = Severity.OK
    for g in facts.gpus:
        bad = []
        if g.ecc_uncorrectable_volatile:
            bad.append(f"{g.ecc_uncorrectable_volatile} uncorrectable ECC errors since boot")
        if g.ecc_uncorrectable_aggregate:
            bad.append(f"{g.ecc_uncorrectable_aggregate} uncorrectable ECC errors in its lifetime")
        if g.remapped_rows_pending:
            bad.append("a row remap is pending (needs a GPU reset)")
        if g.remapped_rows_failure:
            bad.append("row remapping failed")
        if g.retired_pages_pending:
            bad.append("a page retirement is pending (needs a reboot)")
        if bad:
            severity = Severity.ERROR
        elif g.retired_pages:
            bad.append(f"{g.retired_pages} retired pages (memory already taken out of use)")
            severity = max(severity, Severity.WARNING, key=lambda s: s.rank)
        rows += [f"{gpu_label(g)}: {b}" for b in bad]
    if not rows and not any(g.ecc_mode is not None or g.retired_pages is not None
                            or g.remapped_rows_pending is not None for g in facts.gpus):
        return skipped(code, "no GPU reports ECC, page retirement or row remapping")
    if rows:
        return Finding(code, severity, "GPU memory errors",
                       "Uncorrectable memory errors crash jobs (Xid 48/63/64) and can corrupt results; pending "
                       "remaps and retirements take effect only after a GPU reset or reboot. Repeated errors mean "
                       "the GPU needs replacing (RMA).",
                       "nvidia-smi -q -d ECC,PAGE_RETIREMENT,ROW_REMAPPER\n"
                       "sudo nvidia-smi -r -i <bus id>     # reset the GPU when idle, or reboot", tuple(rows))
    return ok(code, "no uncorrectable memory errors")


@check("gpu.xid", "NVRM Xid errors in the kernel log")
def xid(facts: Facts) -> Finding:
    code = "gpu.xid"
    events = [e for e in facts.kernel_log.xids if e.xid != 79]
    if not facts.kernel_log.sources:
        why = facts.kernel_log.unknown.get("current_boot") or next(iter(facts.kernel_log.unknown.values()), "not probed")
        return skipped(code, f"no kernel log could be read: {why}")
    if not events:
        return ok(code, "no Xid errors in the kernel log", evidence=[f"read: {', '.join(facts.kernel_log.sources)}"])
    current = [e for e in events if e.boot == "current"]

    def describe(e) -> str:
        info = xid_info(e.xid)
        return f"[{e.boot} boot] Xid {e.xid}" + (f" ({info.name})" if info else "") + f": {e.line.strip()}"

    return Finding(code, Severity.WARNING if current else Severity.INFO,
                   f"{len(events)} Xid error(s) in the kernel log" + ("" if current else " (earlier boots only)"),
                   "Xid errors are the driver's record of GPU faults: application errors (13, 31, 43), memory "
                   "(48, 63, 64, 94, 95), bus and power problems (61, 62, 79, 119). The numbers say which.",
                   "sudo dmesg -T | grep -i xid\n# look the numbers up: https://docs.nvidia.com/deploy/xid-errors/",
                   tuple(describe(e) for e in events[-10:]))


@check("gpu.fallen-off-bus", "a GPU fell off the bus (Xid 79)")
def fallen_off_bus(facts: Facts) -> Finding:
    code = "gpu.fallen-off-bus"
    if not facts.kernel_log.sources:
        return skipped(code, "no kernel log could be read")
    events = [e for e in facts.kernel_log.xids if e.xid == 79]
    # Drivers that print no Xid still say "GPU ... has fallen off the bus".
    lines = [m for m in facts.kernel_log.nvrm_messages if "fallen off the bus" in m]
    if not events and not lines:
        return ok(code, "no GPU fell off the bus")
    current = any(e.boot == "current" for e in events) or any(message_boot(m) == "current" for m in lines)
    return Finding(code, Severity.ERROR if current else Severity.WARNING,
                   "a GPU fell off the PCIe bus" + ("" if current else " in an earlier boot"),
                   "The GPU stopped answering on PCIe (Xid 79): power delivery (PSU, cables, risers), "
                   "overheating or a bad slot/riser. Until a reboot the GPU is gone (nvidia-smi: \"Unknown Error\").",
                   "sudo reboot\n# then: check PSU capacity and cables, remove risers, reseat the card,\n"
                   "# and cap power to test: sudo nvidia-smi -pl <lower watts>",
                   tuple(f"[{e.boot} boot] {e.line.strip()}" for e in events[-5:]) + tuple(lines[:3]))


@check("gpu.persistence-off", "persistence mode is off on a Linux datacenter GPU")
def persistence_off(facts: Facts) -> Finding:
    code = "gpu.persistence-off"
    if facts.os.wsl or facts.os.platform == "windows" or any(g.driver_model in ("WDDM", "TCC") for g in facts.gpus):
        return skipped(code, "persistence mode is a Linux setting")
    dc = [g for g in facts.gpus if g.name and DATACENTER.search(g.name) and not re.search(r"\bRTX\b|Quadro", g.name)]
    off = [g for g in dc if g.persistence_mode is False]
    if off:
        return Finding(code, Severity.INFO, "persistence mode is off",
                       "Without persistence mode the driver tears the GPU down when the last process exits, so each "
                       "job pays a second or more of initialisation; NVIDIA recommends the persistence daemon.",
                       "sudo systemctl enable --now nvidia-persistenced   # or: sudo nvidia-smi -pm 1",
                       tuple(f"{gpu_label(g)}: persistence mode disabled" for g in off))
    if not dc:
        return skipped(code, "no datacenter GPU")
    return ok(code, "persistence mode is on")


@check("gpu.mig-no-instances", "MIG is enabled on a GPU that has no GPU instances")
def mig_no_instances(facts: Facts) -> Finding:
    code = "gpu.mig-no-instances"
    mig = [g for g in facts.gpus if g.mig_mode]
    if not mig:
        return skipped(code, "no GPU has MIG enabled")
    empty = [g for g in mig if g.mig_instances == 0]
    if empty:
        return Finding(code, Severity.WARNING, "MIG is on but no GPU instance exists",
                       "With MIG enabled, CUDA sees only MIG devices; with none created, the GPU is unusable.",
                       "sudo nvidia-smi mig -lgip     # profiles\nsudo nvidia-smi mig -cgi 1g.10gb -C   # create an instance\n"
                       "# or turn MIG off: sudo nvidia-smi -mig 0 && sudo reboot",
                       tuple(f"{gpu_label(g)}: MIG enabled, 0 instances" for g in empty))
    return ok(code, "every MIG GPU has instances")
