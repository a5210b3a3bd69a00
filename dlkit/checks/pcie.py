"""PCIe link checks (pcie.md §4: width below max is a fault; a lower generation at idle
is power saving)."""

from __future__ import annotations

from dlkit.checks.buildmath import gpu_label, lane_split
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts, GpuFacts
from dlkit.report import Finding, Severity

LINK_FIX = """# see the link under load (idle links drop their generation to save power):
nvidia-smi --query-gpu=pci.bus_id,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max --format=csv
sudo lspci -vv -s {bdf} | grep -E 'LnkCap|LnkSta'
# a width below max is physical: reseat the card, use a CPU-attached x16 slot, remove risers,
# and check the BIOS for bifurcation (x8/x8) and M.2 slots that share the GPU's lanes"""


def _link(gpu: GpuFacts) -> str:
    def gen(v):
        return f"Gen{v}" if v else "Gen?"

    def width(v):
        return f"x{v}" if v else "x?"

    return (f"PCIe {width(gpu.pcie_width_current)} of {width(gpu.pcie_width_max)}, "
            f"{gen(gpu.pcie_gen_current)} of {gen(gpu.pcie_gen_max)}")


@check("pcie.link-degraded", "a GPU's PCIe link runs narrower (or, at idle, slower) than it can")
def link_degraded(facts: Facts) -> Finding:
    code = "pcie.link-degraded"
    gpus = [g for g in facts.gpus + facts.other_gpus if g.pcie_width_max or g.pcie_gen_max]
    if not gpus:
        return skipped(code, "no GPU with PCIe link information (no PCI sysfs, NVML or nvidia-smi answer)")
    narrow = [g for g in gpus if g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max]
    slow = [g for g in gpus if g not in narrow and g.pcie_gen_current and g.pcie_gen_max
            and g.pcie_gen_current < g.pcie_gen_max]
    evidence = [f"{gpu_label(g)}: {_link(g)} ({g.pcie_source or 'source unknown'})" for g in narrow + slow]
    first = (narrow + slow)[0].pci_bus_id if narrow + slow else ""
    if narrow:
        names = ", ".join(g.pci_bus_id or "?" for g in narrow)
        return Finding(
            code, Severity.WARNING,
            f"PCIe link narrower than the GPU supports ({names})",
            "A link width below the maximum halves (or worse) host-to-device bandwidth; unlike the "
            "generation, the width does not drop to save power, so this is a slot, riser or lane-sharing issue."
            + (" Other GPUs run below their maximum generation, which at idle is power saving." if slow else ""),
            LINK_FIX.format(bdf=first), tuple(evidence))
    if slow:
        return Finding(
            code, Severity.INFO,
            "PCIe link generation below maximum (normal at idle)",
            "Idle GPUs lower their link generation to save power (ASPM); this matters only if it "
            "stays low while the GPU is busy.",
            LINK_FIX.format(bdf=first), tuple(evidence))
    return ok(code, "every GPU's PCIe link runs at its full width and generation",
              evidence=[f"{gpu_label(g)}: {_link(g)}" for g in gpus])


@check("pcie.lanes-oversubscribed", "the GPUs want more PCIe lanes than the CPU provides")
def lanes_oversubscribed(facts: Facts) -> Finding:
    code = "pcie.lanes-oversubscribed"
    if not facts.gpus:
        return skipped(code, "no NVIDIA GPU")
    lanes = facts.build.cpu_lanes_usable
    if lanes is None:
        why = facts.build.unknown.get("cpu") or f"CPU {facts.cpu.model or '(model unknown)'} is not in the CPU catalog"
        return skipped(code, f"the CPU's PCIe lane count is unknown: {why}")
    sockets = facts.cpu.sockets or 1
    lanes *= sockets
    parts = facts.build.gpus
    wants = [(parts[i].pcie_width if i < len(parts) and parts[i].pcie_width else g.pcie_width_max or 16)
             for i, g in enumerate(facts.gpus)]
    want = sum(wants)
    cpu = facts.build.cpu_catalog_name or facts.cpu.model or "the CPU"
    # A probed GPU also shows the width it negotiated: the split the board actually made.
    evidence = tuple(f"{gpu_label(facts.gpus[i], i)}: x{w}" + (f" (links at x{g.pcie_width_current} now)" if g.pcie_width_current else "")
                     for i, (w, g) in enumerate(zip(wants, facts.gpus))) + (
        f"{cpu}: {lanes} usable PCIe lanes" + (f" ({sockets} sockets)" if sockets > 1 else ""),)
    if want > lanes:
        split = lane_split(lanes, len(wants), max(wants))
        return Finding(
            code, Severity.WARNING,
            f"the GPUs want {want} PCIe lanes; {cpu} has {lanes}: at best {'/'.join(f'x{w}' for w in split)}",
            "Each GPU gets fewer lanes than it can use, which halves host-to-device bandwidth per step down. "
            "For one or two GPUs at x8 the training cost is small (Dettmers); multi-GPU data-parallel "
            "training without NVLink and offloading suffer most. Boards wire the split their own way: "
            "extra slots often hang off the chipset's shared link.",
            f"# a CPU with at least {want} usable lanes (Threadripper 7960X: 88, Xeon w7-2495X: 64),\n"
            "# or accept the narrower links; check what each slot gets under load:\n"
            "nvidia-smi --query-gpu=pci.bus_id,pcie.link.width.current,pcie.link.width.max --format=csv",
            evidence)
    return ok(code, f"the GPUs' {want} lanes fit the {lanes} lanes of {cpu} "
                    f"({'/'.join(f'x{w}' for w in wants)})", evidence=evidence)
