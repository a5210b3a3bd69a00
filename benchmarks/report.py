"""One ``dlkit bench`` run end to end: detect the machine, plan, measure, then add peaks,
% of peak, reference ranges, warnings and GPU/CPU speedups. Returns a :class:`BenchResult`
that the renderers print (``dlkit/render/bench.py``) and ``--json`` serialises as
``dlkit.bench/1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from dlkit.benchmarks import environment as E
from dlkit.benchmarks import peaks as P
from dlkit.benchmarks import reference as R
from dlkit.benchmarks.suite import BenchUnavailable, Machine, Options, RunOutcome, load_torch, plan, run

SCHEMA = "dlkit.bench/1"
_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float8_e4m3fn": "fp8"}


@dataclass
class BenchResult:
    options: Options
    environment: dict[str, Any]
    results: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    speedups: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    comparison: Any = None  # compare.Comparison, set by the CLI with --compare

    def to_json(self) -> dict[str, Any]:
        o = self.options
        doc = {
            "schema": SCHEMA,
            "options": {"devices": list(o.devices), "quick": o.quick, "dtypes": list(o.dtypes) if o.dtypes else None,
                        "sizes": list(o.sizes) if o.sizes else None, "threads": o.threads},
            "units": {"tflops": "FLOP / median_s / 1e12 (FLOP, not MAC)", "gbps": "bytes read + written / median_s / 1e9",
                      "median_s": "seconds per call"},
            "environment": self.environment, "peaks": self.peaks, "results": self.results,
            "speedups": self.speedups, "warnings": self.warnings, "notes": self.notes, "skipped": self.skipped,
            "interrupted": self.interrupted,
        }
        if self.comparison is not None:
            doc["compare"] = self.comparison.to_json()
        return doc


def _machine(torch: Any, opts: Options, h: Any, cpu: Any, env: dict[str, Any]) -> tuple[Machine, Any]:
    """What the plan needs, plus the doctor's facts of the benchmarked GPU."""
    llc = E.last_level_cache_bytes(h, cpu.logical_cores)
    ram = E.memory_available_mib(h)
    base = dict(cpu_isa=tuple(cpu.isa), llc_bytes=llc, ram_available_mib=ram)
    env["cpu"]["last_level_cache_bytes"] = llc
    if "cuda" not in opts.devices:
        return Machine(cuda=False, cuda_reason="not asked (--device cpu)", **base), None
    if not torch.cuda.is_available():
        why = (f"torch {torch.__version__} is a CPU-only build" if not torch.version.cuda
               else "torch sees no CUDA device (driver not loaded, CUDA_VISIBLE_DEVICES, or no GPU)")
        return Machine(cuda=False, cuda_reason=why, **base), None
    facts, driver = E.gpu_facts(h)
    gpu = E.gpu_block(torch, 0, facts)
    env["gpu"] = gpu
    env["driver"] = getattr(driver, "version", None)
    model = P.find_model(gpu["name"], gpu.get("memory_gib"))
    gpu["catalog_name"] = getattr(model, "name", None)
    major, minor = (int(x) for x in gpu["cc"].split("."))
    has_fp8 = hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")
    return Machine(cuda=True, cc=(major, minor), consumer=P.is_consumer(model, gpu["name"]), has_fp8=has_fp8,
                   l2_bytes=gpu.get("l2_cache_bytes"), **base), model


def bench(opts: Options, progress: Callable[[int, int, str], None] = lambda i, n, s: None,
          torch: Any = None) -> BenchResult:
    torch = torch or load_torch()
    h = E.host()
    cpu = E.cpu_facts(h)
    threads = opts.threads or cpu.physical_cores or torch.get_num_threads()
    env = E.base_environment(torch, cpu, threads)
    machine, model = _machine(torch, opts, h, cpu, env)
    if opts.devices == ("cuda",) and not machine.cuda:
        raise BenchUnavailable(f"--device cuda: {machine.cuda_reason}; run dlkit bench --device cpu")
    p = plan(opts, machine)
    sm_clock = (lambda: E.sm_clock(torch, 0)) if machine.cuda else None
    outcome = run(torch, p.cases, threads, machine.cc, machine.l2_bytes, progress, sm_clock,
                  cpu_clock=lambda: E.sampled_cpu_mhz(h))
    if machine.cuda:
        facts, _ = E.gpu_facts(E.host())  # a fresh NVML snapshot: clocks, throttle reasons after the run
        fact = next((g for g in facts if g.pci_bus_id == env["gpu"].get("pci_bus_id")), facts[0] if len(facts) == 1 else None)
        env["gpu"].update(E.gpu_sample(torch, 0, fact, "after"))
        env["gpu"]["sm_clock_mhz_during"] = sorted({c for r in outcome.results for c in r.get("sm_clock_mhz", [])})
    res = BenchResult(opts, env, outcome.results, p.skipped + outcome.skipped, p.notes + outcome.notes,
                      interrupted=outcome.interrupted)
    finish(res, cpu, model, outcome)
    return res


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return None if not xs else xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def finish(res: BenchResult, cpu: Any, model: Any, outcome: RunOutcome) -> None:
    """Peaks, % of peak, reference ranges, warnings, speedups (spec §3, §5)."""
    env = res.environment
    gpu = env.get("gpu") or {}
    cpu_mhz = _median(outcome.cpu_mhz_samples) or cpu.max_mhz or cpu.base_mhz
    cores = min(env["threads"], cpu.physical_cores or env["threads"])
    res.peaks = {"cpu": {"cores": cores, "clock_mhz": cpu_mhz,
                         "clock_basis": "sampled from /proc/cpuinfo after each matmul" if outcome.cpu_mhz_samples
                         else "max/base clock label (no sample)"},
                 "gpu": None}
    link = R.link_name(max(filter(None, [gpu.get("pcie_gen_current_before"), gpu.get("pcie_gen_current_after")]), default=None),
                       max(filter(None, [gpu.get("pcie_width_current_before"), gpu.get("pcie_width_current_after")]), default=None))
    if gpu:
        clocks = gpu.get("sm_clock_mhz_during") or []
        res.peaks["gpu"] = {"catalog": gpu.get("catalog_name"), "sms": gpu.get("sms"),
                            "clock_mhz": _median(clocks) or gpu.get("sm_clock_mhz_after"),
                            "memory_bandwidth_gbs": getattr(model, "bandwidth_gbs", None),
                            "pcie_link": link, "pcie_gbs_per_direction": P.pcie_gbs(*_gen_width(link))}
    causes_said: set[str] = set()
    for r in res.results:
        short = "tf32" if r.get("math") == "tf32" and r["kernel"] == "matmul" else _SHORT.get(r["dtype"], r["dtype"])
        if r["kernel"] in ("matmul", "conv2d") and r.get("tflops"):
            if r["device"] == "cpu":
                fpc = P.cpu_flops_per_cycle(short, cpu.fp32_flops_per_cycle_per_core, tuple(cpu.isa))
                peak = P.cpu_peak_tflops(cores, r.get("cpu_clock_mhz") or cpu_mhz, fpc)
                r["peak_tflops"] = peak
                r["peak_basis"] = f"{cores} cores × {(r.get('cpu_clock_mhz') or cpu_mhz or 0):g} MHz × {fpc} FLOP/cycle" if peak else None
                r["pct_of_peak"] = round(100 * r["tflops"] / peak, 1) if peak else None
            else:
                rate_dtype = short if r["kernel"] == "matmul" else ("tf32" if r.get("math") == "tf32" else short)
                ds = P.datasheet_tflops(model, rate_dtype)
                clk = _median(r.get("sm_clock_mhz") or []) or res.peaks["gpu"]["clock_mhz"]
                rate = P.catalog_rate(model, rate_dtype) or P.per_sm_rate(
                    gpu.get("cc"), rate_dtype, P.is_consumer(model, gpu.get("name")))
                cp = P.clock_peak_tflops(gpu.get("sms"), clk, rate)
                r["peak_datasheet_tflops"], r["peak_clock_tflops"] = ds, round(cp, 2) if cp else None
                r["pct_of_datasheet"] = round(100 * r["tflops"] / ds, 1) if ds else None
                r["pct_of_clock_peak"] = round(100 * r["tflops"] / cp, 1) if cp else None
        if r["device"] == "cuda" and r["kernel"] in ("copy", "triad") and getattr(model, "bandwidth_gbs", None):
            r["pct_of_spec"] = round(100 * r["gbps"] / model.bandwidth_gbs, 1)
            if r["pct_of_spec"] > 100:
                res.warnings.append(f"{r['kernel']} reads {r['gbps']:.0f} GB/s, above the {model.bandwidth_gbs:g} GB/s spec: "
                                    "the working set is probably cache-resident (methodology §1.3)")
        if r["device"] == "cuda" and r["kernel"] in ("h2d", "d2h", "bidir") and res.peaks["gpu"]["pcie_gbs_per_direction"]:
            per_dir = r["gbps"] / (2 if r["kernel"] == "bidir" else 1)
            r["pct_of_link"] = round(100 * per_dir / res.peaks["gpu"]["pcie_gbs_per_direction"], 1)
        _judge(res, r, gpu, link, causes_said)
    over = [r for r in res.results if r["device"] == "cpu" and (r.get("pct_of_peak") or 0) > 100]
    if over:
        res.notes.append(f"CPU results above 100 % of peak: the cores ran faster than the {cpu_mhz:g} MHz dlkit could read "
                         "(in a VM /proc/cpuinfo shows the nominal clock and turbo is invisible); the peak is a floor")
    res.speedups = speedups(res.results)
    if res.interrupted:
        res.warnings.append("interrupted: the results are what was measured before Ctrl-C (or SIGTERM)")


def _gen_width(link: str | None) -> tuple[int | None, int | None]:
    if not link:
        return None, None
    g, w = link[3:].split("x")
    return int(g), int(w)


def _judge(res: BenchResult, r: dict[str, Any], gpu: dict[str, Any], link: str | None, said: set[str]) -> None:
    ref = R.find_reference(r, gpu.get("catalog_name"), link)
    if ref is None:
        return
    value = {"TFLOP/s": r.get("tflops"), "GB/s": r.get("gbps"), "% of spec": r.get("pct_of_spec"),
             "% of link": r.get("pct_of_link")}.get(ref.unit)
    if r.get("variant") == "search" or (r["kernel"] == "matmul" and r["shape"][0] < 8192):
        # the published ranges are for 8192³-class shapes (gpu-specs §4); smaller ones only inform
        r["reference"] = {"low": ref.low, "high": ref.high, "unit": ref.unit, "source": ref.source, "status": "not judged (shape)"}
        return
    status = R.judge(value, ref)
    r["reference"] = {"low": ref.low, "high": ref.high, "unit": ref.unit, "source": ref.source, "status": status}
    if status == "below":
        causes = R.likely_causes(gpu, r["kernel"])
        what = f"{r['kernel']} {r['dtype']}{' tf32' if r.get('math') == 'tf32' else ''}"
        res.warnings.append(f"{what}: {value:.4g} {ref.unit} is below the healthy {ref.low:g}–{ref.high:g} {ref.unit} "
                            f"for {gpu.get('catalog_name') or link}; likely: " + ("; ".join(causes) if causes else
                            "no cause visible in the environment (other processes on the GPU? check nvidia-smi)"))


def speedups(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GPU/CPU speedup per kernel and dtype: best GPU rate over best CPU rate (FLOP/s), and for
    the MLP the latency ratio at the same batch. fp32 GPU (IEEE or TF32) is set against CPU fp32."""
    out = []
    best: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in results:
        if r["kernel"] == "mlp":
            key: tuple = ("mlp", r["dtype"], r.get("batch"))
            cur = best.setdefault(key, {}).get(r["device"])
            if cur is None or r["median_s"] < cur["median_s"]:
                best[key][r["device"]] = r
        elif r["kernel"] in ("matmul", "conv2d") and r.get("tflops"):
            key = (r["kernel"], r["dtype"], None)
            cur = best.setdefault(key, {}).get(r["device"])
            if cur is None or r["tflops"] > cur["tflops"]:
                best[key][r["device"]] = r
    for (kernel, dtype, batch), by in best.items():
        if "cpu" in by and "cuda" in by:
            c, g = by["cpu"], by["cuda"]
            if kernel == "mlp":
                out.append({"kernel": kernel, "dtype": dtype, "batch": batch, "cpu_median_s": c["median_s"],
                            "cuda_median_s": g["median_s"], "speedup": round(c["median_s"] / g["median_s"], 2),
                            "basis": "latency at the same batch"})
            else:
                out.append({"kernel": kernel, "dtype": dtype, "cpu_tflops": c["tflops"], "cuda_tflops": g["tflops"],
                            "cuda_math": g.get("math"), "speedup": round(g["tflops"] / c["tflops"], 1),
                            "basis": "best TFLOP/s on each device"})
    return out


__all__ = ["BenchResult", "BenchUnavailable", "Options", "SCHEMA", "bench", "finish", "speedups"]
