"""README's table of recommended builds is what `dlkit plan-build --budget B --workload W` says today.

Regenerate the rows with ``python tests/test_readme_builds.py`` and paste them into README.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlkit.catalog.gpu_identity import resolve as lookup_gpu
from dlkit.catalog.hardware import lookup_region
from dlkit.recipes.build import PlanError
from dlkit.recipes.recommend import WORKLOADS, recommend

README = Path(__file__).resolve().parent.parent / "README.md"
BUDGETS = (800, 1500, 2500, 4000, 8000, 15000)


def row(budget: int, workload: str) -> str:
    try:
        p = recommend(budget, None, workload, lookup_region("us"))
    except PlanError as exc:
        cheapest = re.search(r"cheapest viable build .*?: (\$[\d,]+) \((.*?)\)", str(exc))
        return (f"| ${budget:,} | {workload} | none fits | — | — | the cheapest build that passes every check is "
                f"{cheapest.group(1)} ({cheapest.group(2)}) |")
    gpu = next(x for x in p.parts if x.kind == "gpu")
    cpu = next(x for x in p.parts if x.kind == "cpu")
    w = WORKLOADS[workload]
    model = lookup_gpu(gpu.name)
    vram, perf = model.memory_gib * gpu.count, w.per_gpu(model) * gpu.count
    up = next((a for a in p.alternatives if a["direction"] == "up"), None)
    why = "; ".join(n.replace("stopped here: ", "stops here: ") for n in p.notes[1:]) or (
        f"next up: {up['gpus']}× {up['gpu']} at ${up['total_price_usd']:,.0f}, over the budget" if up else "the top of the catalog")
    return (f"| ${budget:,} | {workload} | {gpu.count}× {gpu.name} on {cpu.name} | ${p.total_price_usd:,.0f} | "
            f"{vram:g} GiB, {perf:,.0f} {w.unit} | {why} |")


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("workload", ["train", "infer", "llm"])
def test_readme_table_row_is_current(budget, workload):
    assert row(budget, workload) in README.read_text(encoding="utf-8").splitlines()


if __name__ == "__main__":
    print("| budget | workload | build | total (all parts) | VRAM, metric | why it stops there |")
    print("|---|---|---|---|---|---|")
    for b in BUDGETS:
        for w in ("train", "infer", "llm"):
            print(row(b, w))
