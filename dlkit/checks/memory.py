"""RAM versus GPU memory (build-rules.md: RAM >= the largest GPU's VRAM, a hard rule)."""

from __future__ import annotations

from dlkit.checks.registry import check, ok, skipped
from dlkit.facts import Facts
from dlkit.report import Finding, Severity


@check("memory.ram-below-vram", "system RAM is smaller than the largest GPU's memory")
def ram_below_vram(facts: Facts) -> Finding:
    code = "memory.ram-below-vram"
    ram = facts.memory.total_mib
    sized = [g for g in facts.gpus + facts.other_gpus if g.memory_total_mib]
    if not ram:
        return skipped(code, f"RAM unknown: {facts.memory.unknown.get('total_mib', 'not probed')}")
    if not sized:
        return skipped(code, "no GPU whose memory size is known")
    largest = max(sized, key=lambda g: g.memory_total_mib or 0)
    vram = largest.memory_total_mib or 0
    evidence = (f"RAM: {ram} MiB ({facts.memory.source})",
                f"{largest.pci_bus_id or 'planned'} {largest.name or 'GPU'}: {vram} MiB")
    if ram < vram:
        return Finding(
            code, Severity.WARNING,
            # one decimal: 23.5 GiB of RAM under a 24 GiB GPU must not read "24 GiB < 24 GiB"
            f"RAM ({ram / 1024:.1f} GiB) is smaller than GPU memory ({vram / 1024:.1f} GiB)",
            "Loading a checkpoint, pinned-memory data loaders and CPU offload all stage GPU-sized "
            "buffers in RAM; with less RAM than VRAM they swap or get killed by the OOM killer.",
            f"# add RAM: at least {vram / 1024:.0f} GiB (the largest GPU's memory), ideally the sum of all GPUs' memory\n"
            "free -g    # check after the upgrade", evidence)
    return ok(code, f"RAM ({ram / 1024:.0f} GiB) is at least the largest GPU's memory ({vram / 1024:.0f} GiB)",
              evidence=evidence)


@check("memory.ram-below-total-vram", "system RAM is smaller than all GPUs' memory together")
def ram_below_total_vram(facts: Facts) -> Finding:
    code = "memory.ram-below-total-vram"
    ram = facts.memory.total_mib
    sized = [g for g in facts.gpus + facts.other_gpus if g.memory_total_mib]
    if not ram or len(sized) < 2:
        return skipped(code, "needs the RAM size and two or more GPUs of known memory")
    total = sum(g.memory_total_mib or 0 for g in sized)
    evidence = (f"RAM: {ram} MiB", f"GPU memory, {len(sized)} GPUs: {total} MiB")
    if ram < total:
        return Finding(
            code, Severity.INFO,
            f"RAM ({ram / 1024:.0f} GiB) is less than all GPU memory together ({total / 1024:.0f} GiB)",
            "A soft rule: with one process per GPU, each stages its own batches, checkpoints and pinned "
            "buffers in RAM; matching the GPUs' total memory leaves room for all of them.",
            f"# for comfort: {total / 1024:.0f} GiB of RAM or more", evidence)
    return ok(code, f"RAM ({ram / 1024:.0f} GiB) covers all GPU memory ({total / 1024:.0f} GiB)", evidence=evidence)
