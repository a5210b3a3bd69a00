"""What ``dlkit bench`` runs (``--quick`` / default / ``--device`` / ``--dtype`` / ``--size``),
and running it: OOM back-off, Ctrl-C keeping what was measured, one result dict per case.

The plan is a pure function of the options and what the machine has, so "no CUDA → GPU
kernels skipped, CPU part runs" is testable without torch. Measuring lives in
:func:`run`; percentages of peak and reference ranges are added by ``dlkit.benchmarks.report``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from dlkit.benchmarks import kernels as K
from dlkit.benchmarks.timing import StopRule, Summary, cpu_settings, l2_flush_bytes, time_cpu, time_cuda

MiB = 2**20
INSTALL_HINT = "dlkit bench needs PyTorch: pip install 'dlkit[bench]' (the CUDA wheel on a GPU machine)"


class BenchUnavailable(RuntimeError):
    """Nothing can run (no torch; --device cuda without CUDA); one line for the user."""


def load_torch() -> Any:
    try:
        import torch  # noqa: PLC0415 - optional extra, imported only when a bench runs
    except ImportError:
        raise BenchUnavailable(INSTALL_HINT) from None
    return torch


@dataclass(frozen=True)
class Options:
    devices: tuple[str, ...] = ("cpu", "cuda")
    quick: bool = False
    dtypes: tuple[str, ...] | None = None  # short names; None = the suite's choice
    sizes: tuple[int, ...] | None = None  # square matmul sizes; None = the suite's choice
    threads: int | None = None
    budget_scale: float = 1.0  # tests shrink every time budget


@dataclass(frozen=True)
class Case:
    kernel: str  # matmul | conv2d | copy | triad | h2d | d2h | bidir | mlp
    device: str  # cpu | cuda
    dtype: str = "fp32"  # short name (kernels.TORCH_NAMES)
    shape: tuple[int, ...] = ()  # matmul (M, N, K); conv [N,C,H,W,K,R,S,stride,pad]; memory (elements,); transfer (bytes,); mlp (batch, widths…)
    name: str | None = None  # conv layer name
    layout: str | None = None  # conv: nchw | channels_last
    cudnn_benchmark: bool | None = None
    pinned: bool | None = None
    variant: str | None = None  # "search" for the MAMF-style shape search
    budget_s: float = 2.0
    note: str | None = None  # a dtype fallback label

    def label(self) -> str:
        dt = "tf32" if self.dtype == "tf32" else K.TORCH_NAMES[self.dtype][0] if self.dtype in K.TORCH_NAMES else self.dtype
        bits = [self.kernel, self.device, dt]
        if self.kernel == "matmul":
            bits.append("×".join(map(str, self.shape)))
        elif self.kernel == "conv2d":
            bits += [str(self.name), str(self.layout), "autotune" if self.cudnn_benchmark else ""]
        elif self.kernel in ("h2d", "d2h", "bidir"):
            bits += [f"{self.shape[0] // MiB} MiB", "pinned" if self.pinned else "pageable"]
        elif self.kernel in ("copy", "triad"):
            bits.append(f"{self.shape[0] * 4 // MiB} MiB/array")
        elif self.kernel == "mlp":
            bits.append(f"batch {self.shape[0]}")
        return " ".join(b for b in bits if b)


@dataclass(frozen=True)
class Machine:
    """What the plan needs to know about the machine (no torch objects)."""
    cuda: bool
    cuda_reason: str | None = None  # why there is no CUDA
    cc: tuple[int, int] | None = None
    consumer: bool = False
    has_fp8: bool = False
    l2_bytes: int | None = None
    cpu_isa: tuple[str, ...] = ()
    llc_bytes: int | None = None
    ram_available_mib: int | None = None


@dataclass
class Plan:
    cases: list[Case]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# MAMF-style mini-search (methodology §4.3; stas00 mamf-finder): multiples of 256 around 8192.
SEARCH_SHAPES = ((8192, 8192, 8192), (8448, 8448, 8448), (7936, 7936, 7936), (8192, 8192, 16384),
                 (16384, 8192, 8192), (12288, 12288, 4096), (6144, 6144, 12288), (4096, 16384, 8192))


def _dtypes(opts: Options, device: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return opts.dtypes if opts.dtypes is not None else default


def _cpu_triad_elements(m: Machine, quick: bool, notes: list[str]) -> int:
    want = 4 * (m.llc_bytes or 32 * MiB)  # each array ≥ 4× the LLCs (STREAM rule)
    cap = (64 if quick else 512) * MiB
    why = "--quick" if quick else "the 512 MiB per-array limit"
    if m.ram_available_mib and m.ram_available_mib * MiB // 12 < cap:
        cap, why = m.ram_available_mib * MiB // 12, "free RAM"  # 3 arrays ≤ a quarter of free RAM
    if want > cap:
        notes.append(f"cpu triad: arrays of {cap // MiB} MiB, below 4× the reported last-level cache "
                     f"({(m.llc_bytes or 0) // MiB} MiB; a VM often reports the host's L3), capped by {why}")
        want = cap
    return max(want // 4, 1 << 20)


def plan(opts: Options, m: Machine) -> Plan:
    p = Plan([])
    s = opts.budget_scale
    q = opts.quick
    if "cpu" in opts.devices:
        sizes = opts.sizes or ((2048,) if q else (2048, 4096, 8192))
        for d in _dtypes(opts, "cpu", ("fp32",) if q else ("fp32", "bf16")):
            g = K.gate_dtype(d, "cpu", cpu_isa=m.cpu_isa)
            if not g.run:
                p.skipped.append(f"matmul cpu {d}: {g.note}")
                continue
            for n in sizes:
                need = 3 * n * n * (2 if d in ("bf16", "fp16") else 4)  # A, B and C
                if m.ram_available_mib and need > m.ram_available_mib * MiB // 2:
                    # Never let a benchmark wake the OOM killer: half of the free RAM at most.
                    p.skipped.append(f"matmul cpu {d} {n}×{n}×{n}: needs {need / 2**30:.1f} GiB, more than half of "
                                     f"the {m.ram_available_mib / 1024:.1f} GiB free")
                    continue
                p.cases.append(Case("matmul", "cpu", d, (n, n, n), budget_s=(3 if q else 4) * s, note=g.note))
        conv_shapes = ([K.CONV_SHAPES["resnet50.layer3.3x3"].with_batch(8)] if q else
                       [K.CONV_SHAPES[n].with_batch(32) for n in ("resnet50.conv1", "resnet50.layer1.3x3",
                                                                   "resnet50.layer3.1x1-reduce")] + [K.DEEPBENCH_TRAIN])
        for d in [d for d in _dtypes(opts, "cpu", ("fp32",)) if d in ("fp32", "bf16", "fp16")]:
            for shape in conv_shapes:
                for layout in ("nchw", "channels_last"):
                    p.cases.append(Case("conv2d", "cpu", d, tuple(shape.as_list()), shape.name, layout,
                                        budget_s=1.5 * s))
        p.cases.append(Case("triad", "cpu", "fp32", (_cpu_triad_elements(m, q, p.notes),), budget_s=2 * s))
        for b in (1, 32):
            p.cases.append(Case("mlp", "cpu", "fp32", (b,) + K.MLP_WIDTHS, budget_s=1.5 * s))
    if "cuda" in opts.devices:
        if not m.cuda:
            p.skipped.append(f"all cuda kernels: {m.cuda_reason or 'no CUDA device'}")
            return p
        b1 = (1.0 if q else 2.0) * s
        sizes = opts.sizes or ((8192,) if q else (4096, 8192))
        default = ("bf16", "fp32", "tf32") if q else ("fp32", "tf32", "fp16", "bf16", "fp8")
        tensor_dtype = None
        for d in _dtypes(opts, "cuda", default):
            g = K.gate_dtype(d, "cuda", m.cc, consumer=m.consumer, has_fp8=m.has_fp8)
            if not g.run:
                p.skipped.append(f"matmul cuda {d}: {g.note}")
                continue
            if tensor_dtype is None and d in ("bf16", "fp16") and g.note is None:
                tensor_dtype = d
            for n in sizes:
                p.cases.append(Case("matmul", "cuda", d, (n, n, n), budget_s=b1, note=g.note))
        if not q and opts.sizes is None and tensor_dtype:
            for shape in SEARCH_SHAPES:
                if shape[0] == shape[1] == shape[2] and shape[0] in sizes:
                    continue
                p.cases.append(Case("matmul", "cuda", tensor_dtype, shape, variant="search", budget_s=0.6 * s))
        conv_dtypes = [d for d in _dtypes(opts, "cuda", ("bf16", "fp32")) if d in ("fp32", "bf16", "fp16")]
        for d in conv_dtypes:
            g = K.gate_dtype(d, "cuda", m.cc, consumer=m.consumer)
            if q:
                shapes = [K.CONV_SHAPES["resnet50.layer1.3x3"].with_batch(32)]
            elif d == "fp32":  # the CPU's shapes, for the GPU/CPU speedup
                shapes = [K.CONV_SHAPES[n].with_batch(32) for n in ("resnet50.conv1", "resnet50.layer1.3x3",
                                                                    "resnet50.layer3.1x1-reduce")] + [K.DEEPBENCH_TRAIN]
            else:
                shapes = [x.with_batch(32) for x in K.RESNET50] + [K.DEEPBENCH_TRAIN]
            for shape in shapes:
                for layout in ("nchw", "channels_last"):
                    modes = (True,) if q else ((True, False) if shape.name in ("resnet50.layer1.3x3", K.DEEPBENCH_TRAIN.name)
                                               and d != "fp32" else (True,))
                    for bench in modes:
                        p.cases.append(Case("conv2d", "cuda", d, tuple(shape.as_list()), shape.name, layout, bench,
                                            budget_s=(0.8 if q else 1.0) * s, note=g.note))
        nbytes = max(4 * (m.l2_bytes or 64 * MiB), (256 if q else 1024) * MiB)
        for kern in (("copy",) if q else ("copy", "triad")):
            p.cases.append(Case(kern, "cuda", "fp32", (nbytes // 4,), budget_s=b1))
        for size in ((256 * MiB,) if q else (256 * MiB, 1024 * MiB)):
            for kern in (("h2d", "d2h") if q else ("h2d", "d2h", "bidir")):
                p.cases.append(Case(kern, "cuda", "uint8", (size,), pinned=True, budget_s=b1))
        if not q:
            for kern in ("h2d", "d2h"):
                p.cases.append(Case(kern, "cuda", "uint8", (256 * MiB,), pinned=False, budget_s=b1))
        for b in (1, 32):
            p.cases.append(Case("mlp", "cuda", "fp32", (b,) + K.MLP_WIDTHS, budget_s=b1))
    return p


# --------------------------------------------------------------------------- OOM back-off

def is_oom(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError, the RuntimeError older torch raised ("CUDA out of memory"),
    or the CPU allocator's "DefaultCPUAllocator: can't allocate memory"."""
    text = str(exc).lower()
    return (type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text
            or "can't allocate memory" in text)


def shrink(case: Case) -> Case | None:
    """The next smaller case after an out-of-memory error, None below a useful size.

    >>> shrink(Case("matmul", "cuda", "bf16", (8192, 8192, 8192))).shape
    (4096, 4096, 4096)
    >>> shrink(Case("matmul", "cuda", "bf16", (256, 256, 256))) is None
    True
    """
    sh = case.shape
    if case.kernel == "matmul":
        new = tuple(x // 2 for x in sh)
        return None if min(new) < 256 else replace(case, shape=new)
    if case.kernel == "conv2d":
        return None if sh[0] <= 1 else replace(case, shape=(sh[0] // 2,) + sh[1:])
    if case.kernel == "mlp":
        return None if sh[0] <= 1 else replace(case, shape=(sh[0] // 2,) + sh[1:])
    new_n = sh[0] // 2
    floor = 16 * MiB if case.kernel in ("h2d", "d2h", "bidir") else MiB
    return None if new_n < floor else replace(case, shape=(new_n,))


def with_backoff(case: Case, attempt: Callable[[Case], dict[str, Any]],
                 cleanup: Callable[[], None] = lambda: None) -> tuple[dict[str, Any] | None, list[str]]:
    """Run ``attempt``; on out-of-memory retry smaller (spec §6: "smaller sizes, never a crash")."""
    notes: list[str] = []
    current: Case | None = case
    while current is not None:
        try:
            return attempt(current), notes
        except Exception as exc:
            if not is_oom(exc):
                raise
            cleanup()
            smaller = shrink(current)
            notes.append(f"{current.label()}: out of memory" + (f"; retried as {smaller.label()}" if smaller else "; gave up"))
            current = smaller
    return None, notes


# --------------------------------------------------------------------------- running

def build(torch: Any, case: Case) -> K.Built:
    if case.kernel == "matmul":
        return K.build_matmul(torch, case.device, case.dtype, *case.shape)
    if case.kernel == "conv2d":
        n, c, h, w, k, r, s_, stride, pad = case.shape
        shape = K.ConvShape(case.name or "conv", n, c, h, w, k, r, s_, stride, pad)
        return K.build_conv(torch, case.device, case.dtype, shape, case.layout == "channels_last")
    if case.kernel in ("copy", "triad"):
        return K.build_memory(torch, case.device, case.kernel, case.shape[0])
    if case.kernel in ("h2d", "d2h", "bidir"):
        return K.build_transfer(torch, case.kernel, case.shape[0], bool(case.pinned))
    if case.kernel == "mlp":
        return K.build_mlp(torch, case.device, case.shape[0])
    raise ValueError(f"unknown kernel {case.kernel}")


def _math(torch: Any, case: Case, cc: tuple[int, int] | None) -> str | None:
    if case.dtype == "tf32":
        return "tf32"
    if case.dtype != "fp32" or case.kernel not in ("matmul", "conv2d", "mlp"):
        return None
    if case.device == "cuda" and case.kernel == "conv2d" and cc and cc >= (8, 0) and torch.backends.cudnn.allow_tf32:
        return "tf32"  # cuDNN's default (methodology §2): stated, not hidden
    return "ieee"


def measure(torch: Any, case: Case, threads: int, cc: tuple[int, int] | None, l2_bytes: int | None,
            sm_clock: Callable[[], float | None] | None) -> dict[str, Any]:
    """Build, time and describe one case (one result entry, before peaks are added)."""
    rule = StopRule(budget_s=case.budget_s, min_time_s=min(0.5, case.budget_s / 2))
    math = _math(torch, case, cc)
    built = None
    with K.matmul_math(torch, "tf32" if case.dtype == "tf32" else "ieee"):
        cudnn = torch.backends.cudnn
        bench_before = cudnn.benchmark
        if case.cudnn_benchmark is not None:
            cudnn.benchmark = case.cudnn_benchmark
        try:
            built = build(torch, case)
            if case.device == "cpu":
                with cpu_settings(torch, threads):
                    summary = time_cpu(built.fn, rule)
            else:
                # Memory and transfer working sets are ≥ 4× L2 already; the MLP is timed hot and
                # with its launches, as a serving loop sees it (a latency, not a kernel rate).
                cold = case.kernel in ("matmul", "conv2d")
                summary = time_cuda(built.fn, torch, rule, flush_bytes=l2_flush_bytes(l2_bytes) if cold else 0,
                                    hide_launch=case.kernel != "mlp" and bool(case.pinned is not False),
                                    sm_clock=sm_clock)
        finally:
            cudnn.benchmark = bench_before
    return describe(case, summary, built, threads, math)


def describe(case: Case, summary: Summary, built: Any, threads: int, math: str | None) -> dict[str, Any]:
    torch_name = K.TORCH_NAMES.get(case.dtype, (case.dtype, None))[0]
    shape: list[int] = list(case.shape)
    flop, nbytes = built.flop, built.bytes
    r: dict[str, Any] = {
        "kernel": case.kernel, "device": case.device, "dtype": torch_name, "math": math, "shape": shape,
        "threads": threads if case.device == "cpu" else None,
        "median_s": summary.median_s, "iqr_s": summary.iqr_s, "min_s": summary.min_s, "n": summary.n,
        "flop": flop or None, "bytes": nbytes or None,
        "tflops": flop / summary.median_s / 1e12 if flop and summary.median_s > 0 else None,
        "gbps": nbytes / summary.median_s / 1e9 if nbytes and summary.median_s > 0 else None,
        "stop": summary.stop, "calls_per_sample": summary.calls_per_sample,
        "samples": list(summary.samples),
    }
    for f in ("name", "layout", "cudnn_benchmark", "pinned", "variant", "note"):
        v = getattr(case, f)
        if v is not None:
            r[f] = v
    if case.kernel == "mlp":
        r["batch"] = case.shape[0]
    if summary.extra.get("clock_mhz"):
        r["sm_clock_mhz"] = summary.extra["clock_mhz"]
    return r


@dataclass
class RunOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    cpu_mhz_samples: list[float] = field(default_factory=list)


def run(torch: Any, cases: list[Case], threads: int, cc: tuple[int, int] | None = None, l2_bytes: int | None = None,
        progress: Callable[[int, int, str], None] = lambda i, n, label: None,
        sm_clock: Callable[[], float | None] | None = None,
        cpu_clock: Callable[[], float | None] | None = None) -> RunOutcome:
    """Measure every case in order; Ctrl-C stops and keeps what was measured (spec §6)."""
    out = RunOutcome()
    cleanup = (lambda: (gc.collect(), torch.cuda.empty_cache())) if torch.cuda.is_available() else gc.collect
    for i, case in enumerate(cases):
        progress(i, len(cases), case.label())
        try:
            res, notes = with_backoff(case, lambda c: measure(torch, c, threads, cc, l2_bytes, sm_clock), cleanup)
        except KeyboardInterrupt:
            out.interrupted = True
            out.notes.append(f"interrupted (Ctrl-C or SIGTERM) during {case.label()}: {len(out.results)} of {len(cases)} cases measured")
            break
        except Exception as exc:  # a kernel torch cannot run here is a skip, not a crash
            out.skipped.append(f"{case.label()}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            continue
        finally:
            gc.collect()
        out.notes.extend(notes)
        if res is None:
            out.skipped.append(f"{case.label()}: out of memory at every size tried")
            continue
        if case.device == "cpu" and case.kernel == "matmul" and cpu_clock is not None:
            mhz = cpu_clock()
            if mhz:
                out.cpu_mhz_samples.append(mhz)
                res["cpu_clock_mhz"] = mhz
        out.results.append(res)
        if case.device == "cpu" and case.kernel == "matmul":
            drop_slow_cpu_sizes(case, res, cases, out)
    progress(len(cases), len(cases), "done")
    return out


def drop_slow_cpu_sizes(case: Case, res: dict[str, Any], cases: list[Case], out: RunOutcome) -> bool:
    """Drop a larger CPU matmul whose one call would outlast its budget (8192³ fp32 is ~10 s on
    two cores): predicted from this size's time × (size ratio)³; said in the skipped list."""
    dropped = False
    for later in list(cases[cases.index(case) + 1:]):
        if later.kernel == "matmul" and later.device == "cpu" and later.dtype == case.dtype and later.shape[0] > case.shape[0]:
            predicted = res["median_s"] * (later.shape[0] / case.shape[0]) ** 3
            if predicted * 3 > later.budget_s * 2:
                cases.remove(later)
                out.skipped.append(f"{later.label()}: one call would take ~{predicted:.1f} s on this CPU (budget {later.budget_s:g} s)")
                dropped = True
    return dropped
