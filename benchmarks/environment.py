"""The environment block every ``dlkit bench`` result carries (spec §4; methodology §4.2):
GPU name, CC, SMs, L2, clocks before/after, power limit, throttle reasons, temperature, PCIe
link, driver / CUDA / cuDNN / torch versions, TF32 flags, CPU model, threads, BLAS backend.

System facts come from the doctor's probes through ``dlkit.host`` (never NVML, files or
subprocesses directly); torch facts from torch itself.
"""

from __future__ import annotations

import datetime as dt
import platform
import re
from typing import Any

from dlkit import __version__


def host() -> Any:
    from dlkit.host import LiveHost
    return LiveHost()


def cpu_facts(h: Any) -> Any:
    from dlkit.probes import cpu
    return cpu.collect(h)


def memory_available_mib(h: Any) -> int | None:
    from dlkit.probes import memory
    return memory.collect(h).available_mib


def gpu_facts(h: Any) -> tuple[Any, Any]:
    """(NVIDIA GPU facts, driver facts) from PCI sysfs + NVML / nvidia-smi, as doctor merges them."""
    from dlkit.probes import nvidia, pci
    state = nvidia.collect(h)
    gpus, _ = nvidia.assemble_gpus(pci.collect(h), state)
    return gpus, state.driver


def sampled_cpu_mhz(h: Any) -> float | None:
    """Mean of the "cpu MHz" lines of /proc/cpuinfo, read right after a busy kernel: the
    sustained clock, not the label (cpu-and-memory.md §1, license frequencies)."""
    r = h.read_text("/proc/cpuinfo")
    if r.text is None:
        return None
    vals = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", r.text, re.M)]
    return round(sum(vals) / len(vals), 1) if vals else None


def last_level_cache_bytes(h: Any, logical_cpus: int | None) -> int | None:
    """Sum of last-level caches: cpu0's highest-level cache × the number of groups sharing one
    (STREAM: arrays ≥ 4× the sum of LLCs; cpu-and-memory.md §4). Check by hand: ``lscpu -C``."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    listing = h.list_dir(base)
    names = [n for n in (listing.entries or ()) if n.startswith("index")]
    best: tuple[int, int, int] | None = None
    for n in names:
        level = h.read_first_line(f"{base}/{n}/level")
        size = h.read_first_line(f"{base}/{n}/size")
        shared = h.read_first_line(f"{base}/{n}/shared_cpu_list") or ""
        m = re.match(r"(\d+)\s*([KMG]?)", size or "")
        if not level or not m:
            continue
        nbytes = int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]
        width = sum((int(b) - int(a) + 1) if b else 1 for a, b in re.findall(r"(\d+)(?:-(\d+))?", shared)) or 1
        if best is None or int(level) > best[0]:
            best = (int(level), nbytes, width)
    if best is None:
        return None
    groups = max(1, -(-(logical_cpus or best[2]) // best[2]))
    return best[1] * groups


def blas_backend(config: str) -> str:
    """From ``torch.__config__.show()``.

    >>> blas_backend("  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release")
    'mkl'
    """
    m = re.search(r"BLAS_INFO=([\w.+-]+)", config)
    name = m.group(1) if m else ("mkl" if "Math Kernel Library" in config else "unknown")
    v = re.search(r"Math Kernel Library Version ([\d.]+)", config)
    if name == "mkl" and v:
        name += f" {v.group(1)}"
    d = re.search(r"MKL-DNN v([\d.]+)", config)
    return name + (f", oneDNN {d.group(1)}" if d else "")


def bus_id(props: Any) -> str | None:
    """torch's PCI ids as sysfs spells them ("0000:01:00.0"), to match doctor's GPU facts."""
    try:
        return f"{int(props.pci_domain_id):04x}:{int(props.pci_bus_id):02x}:{int(props.pci_device_id):02x}.0"
    except (AttributeError, TypeError, ValueError):
        return None


def gpu_block(torch: Any, index: int, facts: Any) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(index)
    bus = bus_id(props)
    match = next((g for g in facts if g.pci_bus_id == bus), None)
    if match is None and len(facts) == 1:
        match = facts[0]
    clock_khz = getattr(props, "clock_rate", None)
    out: dict[str, Any] = {
        "index": index, "name": props.name, "cc": f"{props.major}.{props.minor}",
        "sms": props.multi_processor_count, "memory_gib": round(props.total_memory / 2**30, 2),
        "l2_cache_bytes": getattr(props, "L2_cache_size", None), "pci_bus_id": bus,
        "sm_clock_max_mhz": round(clock_khz / 1000) if clock_khz else None,
    }
    for f in ("uuid", "power_limit_w", "power_default_limit_w", "slowdown_temperature_c", "pcie_gen_max",
              "pcie_width_max", "persistence_mode", "numa_node"):
        out[f] = getattr(match, f, None) if match is not None else None
    out["uuid"] = str(out["uuid"]) if out["uuid"] else None
    out.update(gpu_sample(torch, index, match, "before"))
    return out


def gpu_sample(torch: Any, index: int, fact: Any, when: str) -> dict[str, Any]:
    """Clock, temperature, power draw, throttle reasons and PCIe link at one moment."""
    out: dict[str, Any] = {f"sm_clock_mhz_{when}": sm_clock(torch, index)}
    for f in ("temperature_c", "power_draw_w", "clock_event_reasons", "pcie_gen_current", "pcie_width_current"):
        v = getattr(fact, f, None) if fact is not None else None
        out[f"{f}_{when}"] = list(v) if isinstance(v, tuple) else v
    return out


def sm_clock(torch: Any, index: int) -> float | None:
    """Current SM clock in MHz (torch.cuda.clock_rate reads NVML's SM clock;
    check by hand: ``nvidia-smi --query-gpu=clocks.sm --format=csv``)."""
    try:
        v = torch.cuda.clock_rate(index)
        return float(v) if v else None
    except Exception:
        return None


def torch_block(torch: Any) -> dict[str, Any]:
    cuda_ok = bool(torch.cuda.is_available())
    out: dict[str, Any] = {
        "torch": torch.__version__, "cuda_runtime": torch.version.cuda, "cuda_available": cuda_ok,
        "blas": blas_backend(torch.__config__.show()),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "tf32_matmul_default": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn_default": bool(torch.backends.cudnn.allow_tf32),
    }
    try:
        out["cudnn"] = torch.backends.cudnn.version() if cuda_ok else None
    except Exception:
        out["cudnn"] = None
    return out


def base_environment(torch: Any, cpu: Any, threads: int) -> dict[str, Any]:
    return {
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "dlkit_version": __version__, "python": platform.python_version(), "platform": platform.platform(),
        **torch_block(torch),
        "cpu": {"model": cpu.model, "vendor": cpu.vendor, "physical_cores": cpu.physical_cores,
                "logical_cores": cpu.logical_cores, "sockets": cpu.sockets, "max_mhz": cpu.max_mhz,
                "base_mhz": cpu.base_mhz, "isa": list(cpu.isa),
                "fp32_flops_per_cycle_per_core": cpu.fp32_flops_per_cycle_per_core,
                "fp32_flops_basis": cpu.fp32_peak_basis, "hypervisor": cpu.hypervisor},
        "threads": threads,
        "threads_basis": "physical cores (SMT adds no FMA units; cpu-and-memory.md §4)",
        "gpu": None, "driver": None,
    }
