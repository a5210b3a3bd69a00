"""``dlkit plan-build``: recommend a workstation for a budget, or check a parts list (or this
machine plus more GPUs) with doctor's power, lane, slot, cooling and RAM checks."""

from __future__ import annotations

import math
import sys
from typing import Optional

import typer
from rich.console import Console

from dlkit.catalog.gpu_identity import resolve as lookup_gpu
from dlkit.catalog.hardware import HARDWARE_TABLES, lookup_cpu, lookup_region, rows_as_dicts
from dlkit.catalog.names import UnknownPart
from dlkit.catalog.tables import CatalogError
from dlkit.cli import StrictCommand, app
from dlkit.cli.common import fail as _fail
from dlkit.engine import gather
from dlkit.host import CaptureError, LiveHost, ReplayHost
from dlkit.host.importers import load_input
from dlkit.recipes.build import PlanError, check_build, plan_host
from dlkit.recipes.machine import Declared
from dlkit.recipes.recommend import WORKLOADS, recommend
from dlkit.render.plan import list_json, plan_json, plan_markdown, render_list, render_plan

LIST_NAMES = {"gpus": "gpus", "gpu": "gpus", "cpus": "cpus", "cpu": "cpus", "psus": "psus", "psu": "psus",
              "ram": "ram", "regions": "regions", "region": "regions", "platforms": "platforms", "platform": "platforms",
              "platform_parts": "platform_parts", "parts": "platform_parts"}


# Far past any workstation, so arithmetic on the inputs stays in range.
_MAXIMUM = 1e9


def _positive(name: str, value: float | None, unit: str) -> None:
    if value is not None and (not math.isfinite(value) or not 0 < value <= _MAXIMUM):
        _fail(f"{name} must be a positive number of {unit} (at most {_MAXIMUM:g}), not {value:g}")


def _check_power_limit(limit: float | None, gpu) -> None:
    """A power limit the driver would refuse is a typo, not a what-if (NVIDIA's minimum limits
    are roughly a third of board power or more; `nvidia-smi -q -d POWER`, "Min Power Limit")."""
    if limit is None or gpu is None or not gpu.board_power_w:
        return
    if gpu.min_power_limit_w and limit < gpu.min_power_limit_w:
        _fail(f"--power-limit {limit:g} W is below the {gpu.min_power_limit_w:g} W minimum a {gpu.name} accepts")
    if limit < 0.3 * gpu.board_power_w or limit > 1.5 * gpu.board_power_w:
        _fail(f"--power-limit {limit:g} W is outside what a {gpu.name} ({gpu.board_power_w:g} W board power) accepts")


def _circuit(value: str | None):
    """--circuit: a region code (us, eu, cn, ...) or continuous watts."""
    if value is None:
        return None, None
    try:
        watts = float(value)
    except ValueError:
        return lookup_region(value), None
    _positive("--circuit", watts, "watts")
    return None, watts


@app.command("plan-build", cls=StrictCommand)
def plan_build(
    budget: Optional[float] = typer.Option(None, "--budget", metavar="USD", help="Recommend a build for this budget (US dollars)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", metavar="N", help="Number of GPUs (default: 1; with --budget: the best of 1-4; with --from/--from-host: GPUs to add)."),
    min_vram: Optional[float] = typer.Option(None, "--min-vram", metavar="GiB", help="Smallest GPU memory to consider (default by workload: train 12, infer 8, llm 24)."),
    workload: str = typer.Option("train", "--workload", metavar="train|infer|llm", help="What 'performance' means when ranking GPUs."),
    region: str = typer.Option("us", "--region", metavar="us|eu|cn|uk|jp", help="Prices (taxes) and the default wall circuit."),
    gpu: Optional[str] = typer.Option(None, "--gpu", metavar="NAME", help="Check a build with this GPU ('3090', 'RTX 4090', 'A100 80GB PCIe')."),
    cpu: Optional[str] = typer.Option(None, "--cpu", metavar="NAME", help="The build's CPU (default: a typical CPU for the GPU count, said)."),
    psu: Optional[float] = typer.Option(None, "--psu", metavar="WATTS", help="The PSU's rated watts."),
    psu_atx: Optional[int] = typer.Option(None, "--psu-atx", metavar="2|3", help="The PSU's ATX version (3 = ATX 3.x with 12V-2x6)."),
    power_limit: Optional[float] = typer.Option(None, "--power-limit", metavar="WATTS", help="Per-GPU power limit (nvidia-smi -pl)."),
    cpu_watts: Optional[float] = typer.Option(None, "--cpu-watts", metavar="WATTS", help="The CPU's sustained package power (Intel PL2, AMD PPT), replacing the catalog's."),
    gpu_watts: Optional[float] = typer.Option(None, "--gpu-watts", metavar="WATTS", help="Per-GPU power for a probed GPU that reports none and is not in the catalog."),
    slots: Optional[int] = typer.Option(None, "--slots", metavar="N", help="The board's expansion slots (default: 7, ATX)."),
    ram: Optional[float] = typer.Option(None, "--ram", metavar="GiB", help="System RAM (default: recommended for the GPUs)."),
    circuit: Optional[str] = typer.Option(None, "--circuit", metavar="REGION|WATTS", help="Wall circuit: a region code or continuous watts (default: the region's, US 15 A/120 V = 1440 W)."),
    from_host: bool = typer.Option(False, "--from-host", help="Start from this machine's probed parts."),
    from_: Optional[str] = typer.Option(None, "--from", metavar="CAPTURE", help="Start from a doctor capture (or collect_env / nvidia-smi file)."),
    list_: Optional[str] = typer.Option(None, "--list", metavar="gpus|cpus|psus|ram|regions|platforms|platform_parts", help="Show catalog rows and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.plan-build/1 JSON document."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Also show checks that passed or were skipped."),
) -> None:
    """Recommend a deep-learning workstation for a budget, or check a build's PSU, PCIe lanes, slots,
    cooling, CPU and RAM with the same checks doctor runs.

    Exit code: 0 ok, 1 warnings, 2 errors (and usage errors)."""
    if as_json and as_markdown:
        _fail("--json and --markdown cannot be combined")
    try:
        if list_ is not None:
            table = LIST_NAMES.get(list_.lower())
            if table is None:
                _fail(f"--list takes one of {', '.join(HARDWARE_TABLES)}, not {list_!r}")
            rows = rows_as_dicts(table)
            if as_json:
                sys.stdout.write(list_json(table, rows) + "\n")
            else:
                render_list(table, rows, Console())
            raise typer.Exit(0)
        plan = _plan(budget, gpus, min_vram, workload, region, gpu, cpu, psu, psu_atx, power_limit, slots, ram,
                     circuit, from_host, from_, cpu_watts, gpu_watts)
    except (UnknownPart, PlanError, CaptureError) as exc:
        _fail(str(exc))
    except CatalogError as exc:  # dlkit's own data is broken: say so, no traceback
        _fail(f"dlkit's hardware catalog is damaged ({exc}); please report it")

    if as_json:
        sys.stdout.write(plan_json(plan) + "\n")
    elif as_markdown:
        sys.stdout.write(plan_markdown(plan))
    else:
        render_plan(plan, Console(), verbose)
    raise typer.Exit(plan.exit_code)


def _plan(budget, gpus, min_vram, workload, region, gpu, cpu, psu, psu_atx, power_limit, slots, ram, circuit,
          from_host, from_, cpu_watts=None, gpu_watts=None):
    for name, value, unit in (("--budget", budget, "US dollars"), ("--psu", psu, "watts"), ("--power-limit", power_limit, "watts"),
                              ("--ram", ram, "GiB"), ("--min-vram", min_vram, "GiB"), ("--cpu-watts", cpu_watts, "watts"),
                              ("--gpu-watts", gpu_watts, "watts")):
        _positive(name, value, unit)
    if gpus is not None and not 1 <= gpus <= 16:
        _fail(f"--gpus must be between 1 and 16, not {gpus}")
    count = gpus or 1
    if slots is not None and not 1 <= slots <= 20:
        _fail(f"--slots must be between 1 and 20, not {slots}")
    if psu_atx is not None and psu_atx not in (2, 3):
        _fail(f"--psu-atx is 2 (ATX 2.x) or 3 (ATX 3.x), not {psu_atx}")
    if workload not in WORKLOADS:
        _fail(f"--workload is one of {', '.join(WORKLOADS)}, not {workload!r}")
    where = lookup_region(region)
    circuit_region, circuit_w = _circuit(circuit)
    declared = Declared(psu_w=psu, psu_atx=psu_atx, region=circuit_region or where, circuit_w=circuit_w, slots=slots,
                        cpu_w=cpu_watts, gpu_w=gpu_watts)
    inputs = {k: v for k, v in dict(budget_usd=budget, gpus=gpus, min_vram_gib=min_vram, workload=workload, region=region,
                                    gpu=gpu, cpu=cpu, psu_w=psu, psu_atx=psu_atx, power_limit_w=power_limit, slots=slots,
                                    ram_gib=ram, circuit=circuit, from_host=from_host or None, from_=from_,
                                    cpu_watts=cpu_watts, gpu_watts=gpu_watts).items()
              if v is not None}
    if from_host and from_:
        _fail("--from-host and --from cannot be combined")
    if from_host or from_:
        if budget is not None:
            _fail("--budget recommends a new build; it cannot be combined with --from/--from-host")
        if gpus not in (None, 1) and not gpu:
            _fail("--gpus counts the GPUs to add: give --gpu NAME too")
        add = lookup_gpu(gpu) if gpu else None
        _check_power_limit(power_limit, add)
        host = LiveHost() if from_host else ReplayHost(load_input(from_))
        facts, _ = gather(host)
        return plan_host(facts, declared, add, count if add else 0, power_limit, inputs, lookup_cpu(cpu) if cpu else None)
    if budget is not None:
        if gpu or cpu or psu or power_limit or cpu_watts or gpu_watts:
            _fail("--budget recommends parts; to check given parts use --gpu/--cpu/--psu without --budget")
        return recommend(budget, gpus, workload, where, min_vram)
    if gpu is None:
        _fail("give --budget USD for a recommendation, --gpu NAME to check a build, or --from-host; see --help")
    model = lookup_gpu(gpu)
    _check_power_limit(power_limit, model)
    return check_build(model, count, lookup_cpu(cpu) if cpu else None, psu_w=psu, psu_atx=psu_atx,
                       power_limit_w=power_limit, slots=slots, ram_gib=ram, region=circuit_region or where,
                       circuit_w=circuit_w, inputs=inputs, cpu_w=cpu_watts, gpu_w=gpu_watts)
