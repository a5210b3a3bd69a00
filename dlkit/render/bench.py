"""``dlkit bench`` output: a rich console report for people and the ``dlkit.bench/1`` JSON.

Only this module prints a bench result (architecture.md, style 11). Units are stated in the
headers: TFLOP/s counts FLOP, not MAC.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Console
from rich.table import Table

_VERDICT_STYLE = {"FASTER": "green", "SLOWER": "red", "SAME": "", "UNCLEAR": "yellow"}


def _finite(v: Any) -> Any:
    """JSON has no inf/NaN (an "infinite" speedup of a 0-second sample): they become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def render_json(res: Any) -> str:
    return json.dumps(_finite(res.to_json()), indent=2, sort_keys=False, default=str, allow_nan=False)


def _what(r: dict[str, Any]) -> str:
    k, sh = r["kernel"], r.get("shape") or []
    if k == "matmul":
        return "×".join(map(str, sh)) + (" (search)" if r.get("variant") == "search" else "")
    if k == "conv2d":
        bits = [str(r.get("name", "")).replace("resnet50.", "rn50 "), f"N={sh[0]}", r.get("layout", "")]
        if r.get("cudnn_benchmark") is not None and r["device"] == "cuda":
            bits.append("autotune" if r["cudnn_benchmark"] else "no-autotune")
        return " ".join(b for b in bits if b)
    if k in ("copy", "triad"):
        return f"{sh[0] * 4 / 2**20:,.0f} MiB/array"
    if k in ("h2d", "d2h", "bidir"):
        return f"{sh[0] / 2**20:,.0f} MiB {'pinned' if r.get('pinned') else 'pageable'}"
    if k == "mlp":
        return f"batch {r.get('batch')}"
    return str(sh)


def _time(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"


def _dtype(r: dict[str, Any]) -> str:
    return "tf32" if r.get("math") == "tf32" else r["dtype"]


def _short(r: dict[str, Any]) -> str:
    d = _dtype(r)
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float8_e4m3fn": "fp8", "uint8": ""}.get(d, d)


def _rate(r: dict[str, Any]) -> str:
    if r["kernel"] in ("copy", "triad", "h2d", "d2h", "bidir"):
        return f"{r['gbps']:.1f} GB/s" if r.get("gbps") else "–"
    return f"{r['tflops']:.3g} TFLOP/s" if r.get("tflops") else "–"


def _peak(r: dict[str, Any]) -> str:
    parts = []
    if r.get("pct_of_peak") is not None:
        parts.append(f"{r['pct_of_peak']:.0f}% of {r['peak_tflops']:.3g}")
    if r.get("pct_of_datasheet") is not None:
        parts.append(f"{r['pct_of_datasheet']:.0f}% sheet")
    if r.get("pct_of_clock_peak") is not None:
        parts.append(f"{r['pct_of_clock_peak']:.0f}% clock")
    if r.get("pct_of_spec") is not None:
        parts.append(f"{r['pct_of_spec']:.0f}% of spec")
    if r.get("pct_of_link") is not None:
        parts.append(f"{r['pct_of_link']:.0f}% of link")
    return ", ".join(parts) or "–"


def _ref(r: dict[str, Any]) -> str:
    ref = r.get("reference")
    if not ref:
        return ""
    style = {"below": "red", "inside": "green", "above": "cyan"}.get(ref.get("status") or "", "dim")
    return f"[{style}]{ref['low']:g}–{ref['high']:g} {ref['unit']} {ref.get('status') or ''}[/{style}]"


def render_console(res: Any, console: Console) -> None:
    env = res.environment
    cpu = env.get("cpu") or {}
    console.print(f"[bold]dlkit bench[/bold]  torch {env.get('torch')}  BLAS {env.get('blas')}  "
                  f"CPU {cpu.get('model')} ({cpu.get('physical_cores')} cores, {env.get('threads')} threads: "
                  f"{env.get('threads_basis')})")
    gpu = env.get("gpu")
    if gpu:
        console.print(f"GPU {gpu.get('name')} (sm_{gpu.get('cc', '').replace('.', '')}, {gpu.get('sms')} SMs), driver "
                      f"{env.get('driver')}, CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}, power limit "
                      f"{gpu.get('power_limit_w')} W, PCIe {(res.peaks.get('gpu') or {}).get('pcie_link') or 'unknown'}, "
                      f"SM clock {gpu.get('sm_clock_mhz_before')} → {gpu.get('sm_clock_mhz_after')} MHz")
    table = Table(title="Results (median per call; TFLOP/s counts FLOP, not MAC)", title_justify="left")
    for col, just in (("kernel", "left"), ("case", "left"), ("median", "right"), ("IQR", "right"), ("n", "right"),
                      ("rate", "right"), ("% of peak", "left"), ("healthy range", "left"), ("GPU/CPU", "right")):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    speed = {(s["kernel"], s["dtype"], s.get("batch")): s["speedup"] for s in res.speedups}
    for r in res.results:
        sp = speed.get((r["kernel"], r["dtype"], r.get("batch") if r["kernel"] == "mlp" else None)) if r["device"] == "cuda" else None
        table.add_row(f"{r['kernel']} {r['device']} {_short(r)}" + (" *" if r.get("note") else ""), _what(r),
                      _time(r["median_s"]), f"{100 * r['iqr_s'] / r['median_s']:.1f}%" if r["median_s"] else "–",
                      str(r["n"]), _rate(r), _peak(r), _ref(r), f"{sp:g}×" if sp else "")
    console.print(table)
    fallbacks = sorted({f"{_dtype(r)} on {r['device']}: {r['note']}" for r in res.results if r.get("note")})
    for f in fallbacks:
        console.print(f"  * {f}")
    if res.speedups:
        console.print("[bold]GPU/CPU speedup[/bold]: " + "; ".join(
            f"{s['kernel']} {s['dtype']}{' batch ' + str(s['batch']) if s.get('batch') else ''} {s['speedup']:g}×"
            for s in res.speedups))
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    for s in res.skipped:
        console.print(f"[dim]skipped: {s}[/dim]")
    for n in res.notes:
        console.print(f"[dim]note: {n}[/dim]")
    if res.comparison is not None:
        render_comparison(res.comparison, console)


def render_comparison(cmp: Any, console: Console) -> None:
    t = Table(title=f"Compared with {cmp.old_name} (95 % median intervals; speedup = old/new time)", title_justify="left")
    for col in ("case", "old", "new", "speedup", "verdict"):
        t.add_column(col)
    for r in cmp.rows:
        style = _VERDICT_STYLE[r.verdict]
        t.add_row(r.label, _time(r.old_median_s), _time(r.new_median_s), f"{r.ratio:.3f}×",
                  f"[{style}]{r.verdict}[/{style}]" if style else r.verdict)
    console.print(t)
    c = cmp.counts()
    console.print(", ".join(f"{k} {v}" for k, v in c.items())
                  + (f"; only in the old run: {len(cmp.only_old)}" if cmp.only_old else "")
                  + (f"; only in this run: {len(cmp.only_new)}" if cmp.only_new else "")
                  + (f"; timings unreadable: {', '.join(cmp.unreadable)}" if cmp.unreadable else ""))
