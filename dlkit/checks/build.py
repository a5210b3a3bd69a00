"""Build checks: slot spacing, cooling of stacked cards, CPU cores per GPU (build-rules.md §1, §2)."""

from __future__ import annotations

from dlkit.checks.buildmath import DEFAULT_SLOT_WIDTH, gpu_label, slots_needed
from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.report import Finding, Severity

BLOWER_EXAMPLES = "RTX A6000, RTX 6000 Ada, RTX PRO 6000 Blackwell Max-Q"


@check("build.slots-insufficient", "the GPUs are too thick for the board's expansion slots")
def slots_insufficient(facts: Facts) -> Finding:
    code = "build.slots-insufficient"
    slots = facts.build.board_slots
    if not facts.gpus:
        return skipped(code, "no GPU")
    if not slots:  # None, or a 0 that can only mean "unknown"
        return skipped(code, "the board's slot count is not known (doctor cannot see it; plan-build --slots N)")
    parts = facts.build.gpus
    widths = [(parts[i].slot_width if i < len(parts) and parts[i].slot_width else DEFAULT_SLOT_WIDTH)
              for i in range(len(facts.gpus))]
    need = slots_needed(widths)
    evidence = tuple(f"{gpu_label(facts.gpus[i], i)}: {w:g} slots" for i, w in enumerate(widths)) + (
        f"board: {slots} expansion slots; back to back from the top slot the last card plugs into slot {need}",)
    if need > slots:
        n = len(widths)
        return Finding(
            code, Severity.ERROR,
            f"{n} GPUs {max(widths):g} slots thick need {need} slot positions; the board has {slots}",
            "Cards this thick cover the neighbouring slots, so they cannot all plug in. The planner assumes x16 "
            "slots wherever a card can go; real boards place them at fixed positions, so check the manual too.",
            f"# use 2-slot blower cards ({BLOWER_EXAMPLES}) so {n} fit in {1 + 2 * (n - 1)} slots,\n"
            "# or PCIe riser cables and an open frame / a case with vertical mounts, or fewer GPUs",
            evidence)
    return ok(code, f"{len(widths)} GPU(s) fit the board's {slots} slots", evidence=evidence)


@check("build.cooling", "three or more open-air (axial) GPUs stacked together overheat")
def cooling(facts: Facts) -> Finding:
    code = "build.cooling"
    n = len(facts.gpus)
    if n == 0:
        return skipped(code, "no NVIDIA GPU")
    passive = [i for i, p in enumerate(facts.build.gpus) if p.cooler == "passive"]
    if passive and facts.build.origin == "plan":
        return Finding(
            code, Severity.WARNING,
            f"{len(passive)} passive (fanless) datacenter GPU(s) in a workstation",
            "Passive cards have no fan: they rely on a server chassis pushing air through them and overheat "
            "in a desktop case within minutes of load.",
            "# a server chassis certified for the card, a fan shroud kit, or an actively cooled workstation card",
            tuple(f"{gpu_label(facts.gpus[i], i)}: passive cooler" for i in passive))
    if n < 3:
        return ok(code, f"{n} GPU(s): air cooling is fine with a gap between cards")
    coolers = [p.cooler for p in facts.build.gpus]
    if len(coolers) < n or any(c is None for c in coolers):
        return skipped(code, "the GPUs' cooler designs are unknown (not in the catalog)")
    open_air = [i for i, c in enumerate(coolers) if c in ("axial", "flow-through")]
    # A probed card is matched by name; its maker's cooler may differ from the reference design.
    design = "reference-design " if facts.build.origin == "probed" else ""
    evidence = tuple(f"{gpu_label(facts.gpus[i], i)}: {design}{c} cooler" for i, c in enumerate(coolers))
    if open_air:
        return Finding(
            code, Severity.WARNING,
            f"{len(open_air)} of {n} GPUs have open-air coolers; stacked, they recirculate each other's heat",
            "With 3-4 GPUs, avoid non-blower fans (Dettmers): stacked open-air cards run about 30 % slower "
            "from thermal throttling and age faster. Blower cards exhaust out of the case."
            + (" (Coolers as in each model's reference design; check your cards.)" if design else ""),
            f"# choose blower cards ({BLOWER_EXAMPLES}), space the cards with risers,\n"
            "# or cap their power:  sudo nvidia-smi -pl WATTS", evidence)
    return ok(code, "every GPU has a blower or passive cooler", evidence=evidence)


@check("cpu.cores-per-gpu", "too few CPU threads or cores to feed each GPU")
def cores_per_gpu(facts: Facts) -> Finding:
    code = "cpu.cores-per-gpu"
    n = len(facts.gpus)
    if n == 0:
        return skipped(code, "no NVIDIA GPU")
    threads, cores = facts.cpu.logical_cores, facts.cpu.physical_cores
    if not threads:
        return skipped(code, "unknown, because the CPU thread count was not probed")
    evidence = (f"CPU: {facts.cpu.model or 'model unknown'}, {cores or '?'} cores / {threads} threads",
                f"GPUs: {n}")
    if threads / n < 2:
        return Finding(
            code, Severity.WARNING,
            f"{threads} CPU threads for {n} GPUs: fewer than 2 per GPU",
            "Each training process needs a thread for the GPU and data-loader workers beside it; below 2 "
            "threads per GPU the GPUs wait on the CPU (Dettmers: at least 2 threads per GPU even with "
            "preprocessing done beforehand).",
            f"# a CPU with at least {2 * n} threads, ideally {4 * n} cores", evidence)
    if cores is not None and cores / n < 4:
        return Finding(
            code, Severity.INFO,
            f"{cores} CPU cores for {n} GPUs: fewer than 4 per GPU",
            "Puget recommends at least 4 cores per GPU for on-the-fly preprocessing (augmentation, "
            "tokenisation); fine when data is preprocessed beforehand.",
            f"# for heavy data loading: a CPU with {4 * n} or more cores", evidence)
    return ok(code, f"{threads} threads for {n} GPU(s) (at least 2 per GPU)", evidence=evidence)
