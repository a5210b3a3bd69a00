"""Does ``dlkit bench`` measure matmul the way a trusted reference does?

Runs, in one process, on the same tensors' shape and the same thread count, alternating:

* the exact code path of ``dlkit bench`` (``dlkit.benchmarks.suite.measure`` on a matmul case);
* ``torch.utils.benchmark.Timer(...).blocked_autorange()`` (CPU; threads set explicitly, as its
  default is 1 — cpu-and-memory.md §4), and on a GPU ``triton.testing.do_bench`` when triton
  is installed, else the torch Timer with CUDA synchronisation.

Reports GFLOP/s of each and the ratio dlkit / reference per round and its median. Target:
within 3 %. Exit 0 on PASS, 1 on FAIL, 2 when torch is missing.

    python -m dlkit.benchmarks.timer_vs_torch --size 2048 --rounds 5 --json benchmarks/results/timer-vs-torch-cpu.json
    python -m dlkit.benchmarks.timer_vs_torch --device cuda --dtype bf16 --size 8192
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from typing import Any

from dlkit.benchmarks import kernels as K
from dlkit.benchmarks.suite import Case, measure


def reference_seconds(torch: Any, device: str, dtype: str, n: int, threads: int, min_run_time: float) -> tuple[float, str]:
    built = K.build_matmul(torch, device, dtype, n, n, n)
    if device == "cuda":
        try:
            from triton.testing import do_bench  # noqa: PLC0415
            return do_bench(built.fn, warmup=25, rep=max(100, int(min_run_time * 1000)), return_mode="median") / 1e3, \
                "triton.testing.do_bench (median)"
        except ImportError:
            pass
    from torch.utils import benchmark  # noqa: PLC0415
    t = benchmark.Timer("fn()", globals={"fn": built.fn}, num_threads=threads).blocked_autorange(min_run_time=min_run_time)
    return t.median, f"torch.utils.benchmark.Timer.blocked_autorange(min_run_time={min_run_time:g}, num_threads={threads})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--dtype", default=None, help="fp32 (CPU default) or bf16 (CUDA default), …")
    ap.add_argument("--size", type=int, default=None, help="N for an N×N×N matmul (CPU 2048, CUDA 8192)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per measurement, each side")
    ap.add_argument("--json", default=None, help="write the result here")
    a = ap.parse_args(argv)
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        print("timer_vs_torch needs PyTorch: pip install 'dlkit[bench]'", file=sys.stderr)
        return 2
    from dlkit.benchmarks import environment as E  # noqa: PLC0415
    cpu = E.cpu_facts(E.host())
    threads = a.threads or cpu.physical_cores or torch.get_num_threads()
    dtype = K.parse_dtype(a.dtype or ("fp32" if a.device == "cpu" else "bf16"))
    n = a.size or (2048 if a.device == "cpu" else 8192)
    flop = K.matmul_flop(n, n, n)
    l2 = None
    cc = None
    if a.device == "cuda":
        p = torch.cuda.get_device_properties(0)
        l2, cc = getattr(p, "L2_cache_size", None), (p.major, p.minor)
    case = Case("matmul", a.device, dtype, (n, n, n), budget_s=a.budget)
    rounds = []
    label = ""
    for i in range(a.rounds):
        ours = measure(torch, case, threads, cc, l2, None)
        with K.matmul_math(torch, "tf32" if dtype == "tf32" else "ieee"):
            ref_s, label = reference_seconds(torch, a.device, dtype, n, threads, a.budget)
        rounds.append({"dlkit_gflops": flop / ours["median_s"] / 1e9, "reference_gflops": flop / ref_s / 1e9,
                       "ratio": ref_s / ours["median_s"], "dlkit_n": ours["n"], "dlkit_iqr_rel": ours["iqr_s"] / ours["median_s"]})
        r = rounds[-1]
        print(f"round {i + 1}: dlkit {r['dlkit_gflops']:.1f} GFLOP/s  reference {r['reference_gflops']:.1f} GFLOP/s  "
              f"ratio {r['ratio']:.4f}", file=sys.stderr)
    ratio = statistics.median(r["ratio"] for r in rounds)
    verdict = "PASS" if abs(ratio - 1) <= 0.03 else "FAIL"
    doc = {"schema": "dlkit.bench-timer-check/1", "device": a.device, "dtype": K.TORCH_NAMES[dtype][0],
           "math": K.TORCH_NAMES[dtype][1], "shape": [n, n, n], "threads": threads if a.device == "cpu" else None,
           "reference": label, "rounds": rounds, "median_ratio": ratio, "target": "|ratio - 1| <= 0.03",
           "verdict": verdict,
           "machine": {"cpu": cpu.model, "physical_cores": cpu.physical_cores, "logical_cores": cpu.logical_cores,
                       "torch": torch.__version__, "blas": E.blas_backend(torch.__config__.show()),
                       "python": platform.python_version(),
                       "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else None}}
    print(f"median ratio dlkit/reference (GFLOP/s) = {ratio:.4f}: {verdict}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:  # a developer script, not a dlkit command
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
