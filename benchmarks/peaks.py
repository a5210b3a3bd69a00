"""Peaks to measure against: the datasheet dense peak (``dlkit.catalog.hardware``), a
clock-adjusted GPU peak (SMs × sampled SM clock × FLOPs/clock/SM) and a CPU peak
(physical cores × sustained clock × FLOPs/cycle/core).

Why both GPU peaks: GeForce cards run above the rated boost clock (a 4090 reaches 97–105 %
of its datasheet bf16), while power-capped parts sit far below it; only the clock-adjusted
peak says how well the kernel used the clock it got (gpu-specs.md §3). No torch here.
"""

from __future__ import annotations

import math

from typing import Any

from dlkit.catalog import gpu_identity

# FLOPs per clock per SM by compute capability (gpu-specs.md §2). Tensor rates are FP16/BF16
# with FP32 accumulate; "consumer" = the GeForce half rate. fp8 = 2× fp16 where it exists.
#            cc        fp32  tf32(pro, geforce)  fp16/bf16 (pro, geforce)   fp8 (pro)   bf16 TC?
_PER_SM: dict[str, dict[str, Any]] = {
    "3.7": {"fp32": 384},
    "6.0": {"fp32": 128, "fp16": (256, 256)},
    "6.1": {"fp32": 256, "fp16": (4, 4)},
    "7.0": {"fp32": 128, "fp16": (1024, 1024)},
    "7.5": {"fp32": 128, "fp16": (1024, 512)},
    "8.0": {"fp32": 128, "tf32": (1024, 1024), "fp16": (2048, 2048), "bf16": True},
    "8.6": {"fp32": 256, "tf32": (512, 256), "fp16": (1024, 512), "bf16": True},
    "8.9": {"fp32": 256, "tf32": (512, 256), "fp16": (1024, 512), "fp8": 2048, "bf16": True},
    "9.0": {"fp32": 256, "tf32": (2048, 2048), "fp16": (4096, 4096), "fp8": 8192, "bf16": True},
    "10.0": {"fp32": 256, "tf32": (4096, 4096), "fp16": (8192, 8192), "fp8": 16384, "bf16": True},
    "12.0": {"fp32": 256, "tf32": (256, 256), "fp16": (512, 512), "bf16": True},
}


def per_sm_rate(cc: str | None, dtype: str, consumer: bool = False) -> int | None:
    """FLOPs/clock/SM for a short dtype name (fp32, tf32, fp16, bf16, fp8), None when the
    datapath does not exist (bf16 before sm80 falls back to CUDA cores: no tensor peak).

    >>> per_sm_rate("9.0", "bf16"), per_sm_rate("8.9", "bf16", consumer=True), per_sm_rate("7.5", "bf16")
    (4096, 512, None)
    """
    row = _PER_SM.get(cc or "")
    if row is None:
        return None
    if dtype == "fp32":
        return row["fp32"]
    if dtype == "fp8":
        return None if consumer else row.get("fp8")
    if dtype == "bf16" and not row.get("bf16"):
        return None
    key = "fp16" if dtype in ("fp16", "bf16") else dtype
    pair = row.get(key)
    if pair is None:
        return None
    return pair[1] if consumer else pair[0]


def clock_peak_tflops(sms: int | None, clock_mhz: float | None, rate: int | None) -> float | None:
    """
    >>> round(clock_peak_tflops(132, 1830, 4096), 1)  # H100 SXM bf16 (gpu-specs §2)
    989.4
    """
    if not sms or not clock_mhz or not rate:
        return None
    return sms * clock_mhz * 1e6 * rate / 1e12


def datasheet_tflops(model: Any, dtype: str) -> float | None:
    """Dense datasheet peak from a catalog ``GpuModel``; fp8 = 2× bf16 on data-centre and
    pro parts (gpu-specs §1: "FP8: 2× the FP16 column"), unknown on GeForce.

    >>> from types import SimpleNamespace as NS
    >>> datasheet_tflops(NS(fp32_tflops=67, tf32_tflops=494.7, bf16_tflops=989.4, fp16_tflops=989.4,
    ...                     cc="9.0", segment="datacenter"), "fp8")
    1978.8
    """
    if model is None:
        return None
    if dtype == "fp8":
        try:
            ok = float(model.cc or 0) >= 8.9 and model.segment != "consumer"
        except ValueError:
            ok = False
        return 2 * model.bf16_tflops if ok and model.bf16_tflops else None
    return {"fp32": model.fp32_tflops, "tf32": model.tf32_tflops, "bf16": model.bf16_tflops,
            "fp16": model.fp16_tflops}.get(dtype)


def catalog_rate(model: Any, dtype: str) -> int | None:
    """FLOPs/clock/SM implied by the catalog: the datasheet peak over SMs × the rated boost clock,
    where the clock itself comes from the FP32 peak (whose per-SM rate is fixed per arch). This
    tells full-rate from half-rate tensor parts by the numbers, not by market segment (A10G and
    L40 are data-centre parts at the GeForce rate; RTX PRO Blackwell is sm_120 at the pro rate).

    >>> from types import SimpleNamespace as NS
    >>> a10g = NS(cc="8.6", sms=80, fp32_tflops=35.0, tf32_tflops=35.0, bf16_tflops=70.0, fp16_tflops=70.0, segment="datacenter")
    >>> catalog_rate(a10g, "bf16"), catalog_rate(a10g, "fp32")
    (512, 256)
    >>> h100 = NS(cc="9.0", sms=132, fp32_tflops=67, tf32_tflops=494.7, bf16_tflops=989.4, fp16_tflops=989.4, segment="datacenter")
    >>> catalog_rate(h100, "bf16")
    4096
    """
    fp32_rate = per_sm_rate(getattr(model, "cc", None), "fp32")
    if model is None or not model.sms or not model.fp32_tflops or not fp32_rate:
        return None
    ds = datasheet_tflops(model, dtype)
    if not ds:
        return None
    raw = ds / model.fp32_tflops * fp32_rate
    return 2 ** round(math.log2(raw))


def is_consumer(model: Any, name: str | None) -> bool:
    """GeForce tensor rates are half the pro rate with FP32 accumulate (gpu-specs §1)."""
    if model is not None and getattr(model, "segment", None):
        return model.segment == "consumer"
    return "geforce" in (name or "").lower()


def find_model(name: str | None, memory_gib: float | None = None) -> Any:
    """The catalog row for a GPU name (dlkit.catalog.gpu_identity), or None; the memory
    torch reports settles a name that memory variants share."""
    return gpu_identity.find(name, None if memory_gib is None else memory_gib * 1024)


def cpu_flops_per_cycle(dtype: str, fp32_per_cycle: int | None, isa: tuple[str, ...] = ()) -> int | None:
    """FLOPs/cycle/core (cpu-and-memory.md §1): fp32 from the doctor's ISA rule; bf16 is 2×
    fp32 with AVX512-BF16 and 1024 with AMX-BF16; otherwise no separate bf16 peak.

    >>> cpu_flops_per_cycle("fp32", 64), cpu_flops_per_cycle("bf16", 64, ("amx_bf16",)), cpu_flops_per_cycle("bf16", 32)
    (64, 1024, None)
    """
    if not fp32_per_cycle:
        return None
    if dtype == "fp32":
        return fp32_per_cycle
    if dtype == "bf16":
        if "amx_bf16" in isa:
            return 1024
        if "avx512_bf16" in isa:
            return 2 * fp32_per_cycle
    return None


def cpu_peak_tflops(physical_cores: int | None, clock_mhz: float | None, flops_per_cycle: int | None) -> float | None:
    """
    >>> cpu_peak_tflops(16, 2500, 64)  # Xeon Gold 6242 fp32 (cpu-and-memory.md §2: 1280 GF fp64 ×2)
    2.56
    """
    if not physical_cores or not clock_mhz or not flops_per_cycle:
        return None
    return round(physical_cores * clock_mhz * 1e6 * flops_per_cycle / 1e12, 6)


# Per-direction PCIe bandwidth after line encoding, GB/s per lane (pcie.md §1).
_PCIE_LANE_GBS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.56}


def pcie_gbs(gen: int | None, width: int | None) -> float | None:
    """
    >>> pcie_gbs(4, 16), pcie_gbs(3, 8)
    (31.5, 7.88)
    """
    if not gen or not width or gen not in _PCIE_LANE_GBS:
        return None
    return round(_PCIE_LANE_GBS[gen] * width, 2)
