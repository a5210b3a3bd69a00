"""What ``dlkit bench`` runs: case descriptions, their FLOP and byte counts, dtype gating, and
the torch callables that build them.

FLOP counts are FLOP, never MAC (methodology §2: torchvision's "GFLOPS" are MACs; gpu-fryer
issue #2 asked "what kind of FLOPS?"). Inputs are ``randn`` (methodology §1.3: zeros make an
A100 look 15 % faster). torch is passed in, never imported here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

# --dtype accepts the short names people type; results carry torch's names (spec §5).
DTYPE_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "ieee": "fp32",
    "tf32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp8": "fp8", "float8": "fp8", "float8_e4m3fn": "fp8", "e4m3": "fp8",
}
# short name -> (torch dtype name, math mode)
TORCH_NAMES = {"fp32": ("float32", "ieee"), "tf32": ("float32", "tf32"), "fp16": ("float16", None),
               "bf16": ("bfloat16", None), "fp8": ("float8_e4m3fn", "no-fast-accum")}
ALL_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8")


def parse_dtype(text: str) -> str:
    """
    >>> parse_dtype("bfloat16"), parse_dtype("TF32")
    ('bf16', 'tf32')
    """
    key = text.strip().lower().replace("torch.", "")
    if key not in DTYPE_ALIASES:
        raise ValueError(f"unknown dtype {text!r}; use one of {', '.join(ALL_DTYPES)}")
    return DTYPE_ALIASES[key]


# --------------------------------------------------------------------------- counts

def matmul_flop(m: int, n: int, k: int) -> int:
    """An M×K by K×N product: M·N·K multiply-adds = 2·M·N·K FLOP.

    >>> matmul_flop(4096, 4096, 4096) == 2 * 4096**3
    True
    """
    return 2 * m * n * k


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """
    >>> conv_out(224, 7, 2, 3), conv_out(56, 3, 1, 1)
    (112, 56)
    """
    return (size + 2 * pad - kernel) // stride + 1


@dataclass(frozen=True)
class ConvShape:
    name: str
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    stride: int = 1
    pad: int = 0
    groups: int = 1

    @property
    def p(self) -> int:
        return conv_out(self.h, self.r, self.stride, self.pad)

    @property
    def q(self) -> int:
        return conv_out(self.w, self.s, self.stride, self.pad)

    def with_batch(self, n: int) -> "ConvShape":
        return ConvShape(self.name, n, self.c, self.h, self.w, self.k, self.r, self.s, self.stride, self.pad, self.groups)

    @property
    def macs(self) -> int:
        return self.n * self.k * (self.c // self.groups) * self.r * self.s * self.p * self.q

    @property
    def flop(self) -> int:
        """Forward FLOP = 2·N·K·C·R·S·P·Q (implicit GEMM: M = N·P·Q, N = K, K = C·R·S; CUTLASS docs)."""
        return 2 * self.macs

    def as_list(self) -> list[int]:
        """[N, C, H, W, K, R, S, stride, pad] as it appears in results."""
        return [self.n, self.c, self.h, self.w, self.k, self.r, self.s, self.stride, self.pad]


# ResNet-50 v1.5 layers (methodology §2 table; torchvision: stride in the 3×3) at batch 1;
# the suite sets the batch. Plus one DeepBench training shape (baidu-research/DeepBench
# code/kernels/conv_problems.h: w=112 h=112 c=64 n=16 k=128 3×3 pad 1 stride 1).
RESNET50 = (
    ConvShape("resnet50.conv1", 1, 3, 224, 224, 64, 7, 7, 2, 3),
    ConvShape("resnet50.layer1.3x3", 1, 64, 56, 56, 64, 3, 3, 1, 1),
    ConvShape("resnet50.layer1.1x1-expand", 1, 64, 56, 56, 256, 1, 1, 1, 0),
    ConvShape("resnet50.layer2.3x3-strided", 1, 128, 56, 56, 128, 3, 3, 2, 1),
    ConvShape("resnet50.layer3.3x3", 1, 256, 14, 14, 256, 3, 3, 1, 1),
    ConvShape("resnet50.layer3.1x1-reduce", 1, 1024, 14, 14, 256, 1, 1, 1, 0),
    ConvShape("resnet50.layer4.3x3", 1, 512, 7, 7, 512, 3, 3, 1, 1),
    ConvShape("resnet50.layer4.1x1-expand", 1, 512, 7, 7, 2048, 1, 1, 1, 0),
)
DEEPBENCH_TRAIN = ConvShape("deepbench.train.112x112-64to128", 16, 64, 112, 112, 128, 3, 3, 1, 1)
CONV_SHAPES = {s.name: s for s in RESNET50 + (DEEPBENCH_TRAIN,)}

# A small MLP for the CPU-vs-GPU inference point (the articles: production inference often
# runs on CPUs): 1024 -> 4096 -> 4096 -> 1024, GELU between.
MLP_WIDTHS = (1024, 4096, 4096, 1024)


def mlp_flop(batch: int, widths: tuple[int, ...] = MLP_WIDTHS) -> int:
    """2·B·Σ(in·out) for the linear layers (bias and GELU not counted).

    >>> mlp_flop(1) == 2 * (1024*4096 + 4096*4096 + 4096*1024)
    True
    """
    return 2 * batch * sum(a * b for a, b in zip(widths, widths[1:]))


def memory_bytes(kernel: str, elements: int, elem_size: int = 4) -> int:
    """Bytes moved, read + write, write-allocate not credited (STREAM rules, cpu-and-memory.md §4).

    >>> memory_bytes("copy", 10), memory_bytes("triad", 10)
    (80, 120)
    """
    return {"copy": 2, "triad": 3}[kernel] * elements * elem_size


def memory_flop(kernel: str, elements: int) -> int:
    """triad a = b + s·c does one multiply and one add per element; copy none."""
    return {"copy": 0, "triad": 2}[kernel] * elements


# --------------------------------------------------------------------------- gating

@dataclass(frozen=True)
class Gate:
    run: bool
    note: str | None = None  # why skipped, or the fallback label when it runs


def gate_dtype(dtype: str, device: str, cc: tuple[int, int] | None = None, *, consumer: bool = False,
               has_fp8: bool = True, cpu_isa: tuple[str, ...] = ()) -> Gate:
    """Which dtypes make sense where (methodology §1.3 "missing hardware path"; gpu-specs §3).

    >>> gate_dtype("bf16", "cuda", (7, 5))
    Gate(run=True, note='fallback: no bf16 tensor cores before sm80 (T4 ≈ 2 TF/s vs 42 fp16)')
    >>> gate_dtype("tf32", "cuda", (7, 0)).run, gate_dtype("fp8", "cuda", (9, 0)).run
    (False, True)
    """
    if device == "cpu":
        if dtype in ("tf32", "fp8"):
            return Gate(False, f"{dtype} matmul has no CPU path in torch")
        if dtype == "bf16" and not ({"amx_bf16", "avx512_bf16"} & set(cpu_isa)):
            return Gate(True, "fallback: no AVX512-BF16/AMX on this CPU (converted to fp32 internally)")
        if dtype == "fp16" and "amx_fp16" not in cpu_isa and "avx512_fp16" not in cpu_isa:
            return Gate(True, "fallback: no native fp16 arithmetic on this CPU")
        return Gate(True)
    if cc is None:
        return Gate(False, "compute capability unknown")
    if dtype == "fp32":
        return Gate(True)
    if dtype == "tf32":
        return Gate(True) if cc >= (8, 0) else Gate(False, "TF32 needs sm80+ (it would run as fp32 IEEE)")
    if dtype == "fp16":
        if cc == (6, 1):
            return Gate(True, "fallback: fp16 runs at 1/64 rate on GP102/GP104")
        return Gate(True) if cc >= (6, 0) else Gate(True, "fallback: no fast fp16 before sm60")
    if dtype == "bf16":
        return Gate(True) if cc >= (8, 0) else Gate(True, "fallback: no bf16 tensor cores before sm80 (T4 ≈ 2 TF/s vs 42 fp16)")
    if dtype == "fp8":
        if cc < (8, 9):
            return Gate(False, "fp8 tensor cores need sm89+ (Ada, Hopper, Blackwell)")
        if not has_fp8:
            return Gate(False, "this torch has no float8_e4m3fn / _scaled_mm")
        if consumer:
            return Gate(True, "GeForce fp8 with fp32 accumulate; datasheet rate unknown")
        return Gate(True)
    return Gate(False, f"unknown dtype {dtype}")


# --------------------------------------------------------------------------- builders

@dataclass
class Built:
    fn: Callable[[], Any]
    flop: int
    bytes: int = 0
    note: str | None = None


@contextlib.contextmanager
def matmul_math(torch: Any, math: str | None) -> Iterator[None]:
    """TF32 on or off for fp32 matmuls, restored after (methodology §1.3: PyTorch ≥ 1.12
    defaults matmul TF32 off and cuDNN conv TF32 on; report the mode actually used)."""
    before = torch.get_float32_matmul_precision()
    if math == "tf32":
        torch.set_float32_matmul_precision("high")
    elif math == "ieee":
        torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def torch_dtype(torch: Any, short: str) -> Any:
    return getattr(torch, TORCH_NAMES[short][0])


def build_matmul(torch: Any, device: str, dtype: str, m: int, n: int, k: int) -> Built:
    if dtype == "fp8":
        # fp8 matmul is torch._scaled_mm: A row-major, B column-major, per-tensor scales,
        # bf16 output (as mamf-finder does). Fast accumulation is off, and said in the result's
        # "math" ("no-fast-accum"): Hopper's fp8 speed depends on it, so a number must say which.
        f8 = torch.float8_e4m3fn
        a = torch.randn(m, k, device=device).to(f8)
        b = torch.randn(n, k, device=device).to(f8).t()
        one = torch.tensor(1.0, device=device)

        def fn() -> Any:
            return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=False)
        return Built(fn, matmul_flop(m, n, k))
    dt = torch_dtype(torch, dtype)
    a = torch.randn(m, k, device=device, dtype=dt)
    b = torch.randn(k, n, device=device, dtype=dt)
    c = torch.empty(m, n, device=device, dtype=dt)

    def fn() -> Any:
        return torch.mm(a, b, out=c)
    return Built(fn, matmul_flop(m, n, k))


def build_conv(torch: Any, device: str, dtype: str, shape: ConvShape, channels_last: bool) -> Built:
    dt = torch_dtype(torch, dtype)
    x = torch.randn(shape.n, shape.c, shape.h, shape.w, device=device, dtype=dt)
    w = torch.randn(shape.k, shape.c // shape.groups, shape.r, shape.s, device=device, dtype=dt)
    if channels_last:  # NHWC: native layout of tensor-core convs (methodology §2)
        x = x.contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
    conv = torch.nn.functional.conv2d

    def fn() -> Any:
        return conv(x, w, None, shape.stride, shape.pad, 1, shape.groups)
    return Built(fn, shape.flop)


def build_memory(torch: Any, device: str, kernel: str, elements: int) -> Built:
    a = torch.empty(elements, device=device, dtype=torch.float32)
    b = torch.randn(elements, device=device, dtype=torch.float32)
    c = torch.randn(elements, device=device, dtype=torch.float32)
    if kernel == "copy":
        def fn() -> Any:
            return a.copy_(b)
    else:
        def fn() -> Any:  # STREAM triad a = b + 3·c
            return torch.add(b, c, alpha=3.0, out=a)
    return Built(fn, memory_flop(kernel, elements), memory_bytes(kernel, elements))


def build_transfer(torch: Any, kernel: str, nbytes: int, pinned: bool) -> Built:
    """H2D / D2H / bidirectional copies (pcie.md §3: pinned via ``pin_memory=True`` and
    ``non_blocking=True``, plus a pageable variant; 256 MiB–1 GiB)."""
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)
    host.fill_(1)
    dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    if kernel == "h2d":
        def fn() -> Any:
            return dev.copy_(host, non_blocking=pinned)
        return Built(fn, 0, nbytes)
    if kernel == "d2h":
        def fn() -> Any:
            return host.copy_(dev, non_blocking=pinned)
        return Built(fn, 0, nbytes)
    # bidirectional: D2H on a second stream that starts when the timed stream does, H2D on
    # the timed stream, which then waits for the D2H (nvbandwidth's interfering stream).
    host2 = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)
    dev2 = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    other = torch.cuda.Stream()

    def fn() -> Any:
        main = torch.cuda.current_stream()
        go = torch.cuda.Event()
        go.record(main)
        other.wait_event(go)
        with torch.cuda.stream(other):
            host2.copy_(dev2, non_blocking=pinned)
        dev.copy_(host, non_blocking=pinned)
        done = torch.cuda.Event()
        done.record(other)
        main.wait_event(done)
    return Built(fn, 0, 2 * nbytes)


def build_mlp(torch: Any, device: str, batch: int) -> Built:
    nn = torch.nn
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(MLP_WIDTHS, MLP_WIDTHS[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(MLP_WIDTHS) - 2:
            layers.append(nn.GELU())
    model = nn.Sequential(*layers).to(device).eval()
    x = torch.randn(batch, MLP_WIDTHS[0], device=device)

    def fn() -> Any:
        with torch.inference_mode():
            return model(x)
    return Built(fn, mlp_flop(batch))
