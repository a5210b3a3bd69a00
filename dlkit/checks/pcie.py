"""PCIe link checks (pcie.md §4: width below max is a fault; a lower generation at idle
is power saving)."""

from __future__ import annotations

from dataclasses import replace

from dlkit.checks.buildmath import PCIE_GBS_PER_LANE, allocate_lanes, gpu_label
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts, GpuFacts, LaneWiring
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


@check("pcie.lanes-oversubscribed", "the GPUs get fewer CPU PCIe lanes than they can use, or sit behind the chipset")
def lanes_oversubscribed(facts: Facts) -> Finding:
    code = "pcie.lanes-oversubscribed"
    if not facts.gpus:
        return skipped(code, "no NVIDIA GPU")
    build = facts.build
    wiring = build.lane_wiring
    if wiring is None or wiring.gpu_slot_lanes is None:
        if build.cpu_lanes_usable is None:
            why = build.unknown.get("cpu") or f"CPU {facts.cpu.model or '(model unknown)'} is not in the CPU catalog"
            return skipped(code, f"the CPU's PCIe lane count is unknown: {why}")
        # no platform row: every usable lane to slots, the HEDT rule
        wiring = LaneWiring(wiring.platform if wiring else "its platform", build.cpu_lanes_usable)
    sockets = facts.cpu.sockets or 1
    if sockets > 1 and not wiring.splits:
        wiring = replace(wiring, gpu_slot_lanes=wiring.gpu_slot_lanes * sockets)
    parts = build.gpus
    wants = [(parts[i].pcie_width if i < len(parts) and parts[i].pcie_width else g.pcie_width_max or 16)
             for i, g in enumerate(facts.gpus)]
    links = allocate_lanes(wiring, wants)
    cpu = build.cpu_catalog_name or facts.cpu.model or "the CPU"
    split = "/".join(f"x{link.width}" for link in links if link.via == "CPU")
    on_chipset = [link for link in links if link.via == "chipset"]
    shape = f"{split} from the CPU" + (f" + {len(on_chipset)}× x{on_chipset[0].width} via the chipset" if on_chipset else "")
    # A probed GPU also shows the width it negotiated: the split the board actually made.
    evidence = tuple(f"{gpu_label(facts.gpus[i], i)}: wants x{w}, gets x{link.width} via the {link.via}"
                     + (f" (links at x{g.pcie_width_current} now)" if g.pcie_width_current else "")
                     for i, (w, link, g) in enumerate(zip(wants, links, facts.gpus))) + (
        f"{cpu} on {wiring.platform}: {wiring.gpu_slot_lanes} CPU lanes for graphics slots"
        + (f", splits {', '.join('/'.join(f'x{w}' for w in s) for s in wiring.splits)}" if wiring.splits else "")
        + (f" ({sockets} sockets)" if sockets > 1 else ""),) + ((f"wiring: {wiring.source}",) if wiring.source else ())
    fix = ("# more CPU lanes for slots (Threadripper 7960X: 88, Xeon w7-2495X: 64; desktop sockets wire 16 to graphics),\n"
           "# or accept the narrower links; check what each slot gets under load:\n"
           "nvidia-smi --query-gpu=pci.bus_id,pcie.link.width.current,pcie.link.width.max --format=csv")
    if on_chipset or any(link.width < min(want, MIN_GOOD_WIDTH) for link, want in zip(links, wants)):
        uplink = _uplink(wiring)
        return Finding(
            code, Severity.WARNING, f"{len(links)} GPUs on {wiring.platform}: at best {shape}",
            (f"{len(on_chipset)} GPU(s) sit on chipset slots at x{on_chipset[0].width} and share the chipset's "
             f"{uplink} with NVMe drives, USB and the network, so every transfer competes. " if on_chipset else "")
            + "Links narrower than x8 cut host-to-device bandwidth enough to slow data loading and "
            "multi-GPU gradient exchange without NVLink.", fix, evidence)
    if any(link.width < want for link, want in zip(links, wants)):
        return Finding(
            code, Severity.INFO, f"{len(links)} GPUs on {wiring.platform}: {shape}",
            "Each GPU gets fewer lanes than it can use. At x8 per GPU the training cost is small "
            "(Dettmers 2020: \"PCIe 4.0 and PCIe lanes do not matter in 2x GPU setups\"; consumer cards at x8 "
            "each are acceptable, io.net); offloading and data-parallel training without NVLink feel it most.",
            fix, evidence)
    return ok(code, f"the GPUs get {shape}", evidence=evidence)


# Below x8 (or on the chipset) the link is a bottleneck worth a warning (Dettmers: x8 per GPU
# costs little; x4 roughly doubles transfer time again).
MIN_GOOD_WIDTH = 8


def _uplink(w: LaneWiring) -> str:
    if not (w.chipset_uplink_gen and w.chipset_uplink_width):
        return "uplink (its width is not in the catalog)"
    gbs = PCIE_GBS_PER_LANE[w.chipset_uplink_gen] * w.chipset_uplink_width
    return f"PCIe {w.chipset_uplink_gen}.0 x{w.chipset_uplink_width} uplink ({gbs:.1f} GB/s per direction)"
