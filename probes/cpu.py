"""CPU: model, topology, clocks, the ISA flags that matter, and an FP32 peak estimate.

Canonical source: ``/proc/cpuinfo`` (check by hand: ``cat /proc/cpuinfo``, ``lscpu``).
Where there is none (Windows, macOS) py-cpuinfo and psutil answer through the host;
py-cpuinfo starts a child Python (about a second), so Linux never asks it.
"""

from __future__ import annotations

import re

from dlkit.facts import CpuFacts
from dlkit.host import Host

# Flags worth showing: they decide which kernels a framework can use.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16",
             "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile",
             "asimd", "asimdhp", "asimddp", "sve", "sve2", "bf16", "i8mm", "sme")

# Arm /proc/cpuinfo has no "model name": (implementer, part) -> core name.
# From util-linux sys-utils/lscpu-arm.c (the table lscpu prints from).
ARM_PARTS = {
    ("0x41", "0xd03"): "ARM Cortex-A53", ("0x41", "0xd07"): "ARM Cortex-A57",
    ("0x41", "0xd08"): "ARM Cortex-A72", ("0x41", "0xd0b"): "ARM Cortex-A76",
    ("0x41", "0xd0c"): "ARM Neoverse-N1", ("0x41", "0xd40"): "ARM Neoverse-V1",
    ("0x41", "0xd49"): "ARM Neoverse-N2", ("0x41", "0xd4f"): "ARM Neoverse-V2",
    ("0x41", "0xd8e"): "ARM Neoverse-N3", ("0x41", "0xd84"): "ARM Neoverse-V3",
    ("0x4e", "0x004"): "NVIDIA Carmel", ("0xc0", "0xac3"): "Ampere AmpereOne",
    ("0x61", "0x022"): "Apple M1", ("0x48", "0xd01"): "HiSilicon Kunpeng-920",
}
ARM_IMPLEMENTERS = {"0x41": "ARM", "0x4e": "NVIDIA", "0xc0": "Ampere", "0x61": "Apple", "0x48": "HiSilicon"}


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Split /proc/cpuinfo into one dict per block (one per logical CPU on x86).

    >>> blocks = parse_cpuinfo('''processor\\t: 0
    ... vendor_id\\t: AuthenticAMD
    ... model name\\t: AMD EPYC 7451 24-Core Processor
    ... physical id\\t: 0
    ... core id\\t\\t: 0
    ... flags\\t\\t: fpu avx2 fma
    ...
    ... processor\\t: 1
    ... ''')
    >>> blocks[0]["model name"], len(blocks)
    ('AMD EPYC 7451 24-Core Processor', 2)
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip(), 0)
    except (TypeError, ValueError):
        return None


def _ghz_in_name(model: str | None) -> float | None:
    m = re.search(r"@\s*([\d.]+)\s*GHz", model or "")
    try:
        return float(m.group(1)) * 1000 if m else None
    except ValueError:
        return None


def flops_per_cycle(vendor: str | None, model: str | None, family: int | None, flags: set[str],
                    model_number: int | None = None) -> tuple[int | None, str]:
    """FP32 FLOPs per cycle per core, with the rule used (cpu-and-memory.md §1).

    >>> flops_per_cycle("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+", 6, {"avx512f", "amx_bf16", "fma", "avx2"})
    (64, 'AVX-512, 2 FMA units (Xeon Gold 6xxx/Platinum/SPR+)')
    >>> flops_per_cycle("AuthenticAMD", "AMD EPYC 7451 24-Core Processor", 23, {"avx2", "fma"}, 1)[0]
    16
    """
    model = model or ""
    if "asimd" in flags or "sve" in flags:
        return 16, "Arm NEON, 2 x 128-bit FMA (assumed)"
    if "avx512f" in flags:
        if vendor == "AuthenticAMD":
            if family is not None and family >= 0x1A and not re.search(r"Ryzen AI|HX 3|HS", model):
                return 64, "AVX-512, Zen 5 desktop/server 2 x 512-bit FMA"
            return 32, "AVX-512 on 256-bit units (Zen 4 / mobile Zen 5)"
        if "amx_bf16" in flags or re.search(r"Platinum|Gold 6\d{3}|Gold 5122|Xeon\(R\) w[579]-|W-3\d{3}", model):
            return 64, "AVX-512, 2 FMA units (Xeon Gold 6xxx/Platinum/SPR+)"
        return 32, "AVX-512, 1 FMA unit (assumed; Intel ARK lists the count)"
    if "avx2" in flags and "fma" in flags:
        # Zen 1 / Zen+ are family 0x17 models below 0x30 (Zen 2 starts at 0x31).
        if vendor == "AuthenticAMD" and family == 0x17 and model_number is not None and model_number < 0x30:
            return 16, "Zen 1/Zen+ AVX2, 2 x 128-bit FMA"
        return 32, "AVX2 + FMA3, 2 x 256-bit FMA"
    if "avx" in flags:
        return 16, "AVX without FMA (1 add + 1 mul x 256-bit)"
    if "sse2" in flags:
        return 8, "SSE (1 add + 1 mul x 128-bit)"
    return None, "unknown ISA"


def _from_proc(host: Host, text: str) -> CpuFacts:
    blocks = [b for b in parse_cpuinfo(text) if "processor" in b or "model name" in b or "flags" in b or "Features" in b]
    if not blocks:
        return CpuFacts(source="/proc/cpuinfo", unknown={"model": "/proc/cpuinfo has no processor entries"})
    unknown: dict[str, str] = {}
    first = blocks[0]
    flags = set((first.get("flags") or first.get("Features") or "").split())
    vendor = first.get("vendor_id")
    model = first.get("model name") or first.get("cpu model") or first.get("Model Name")
    arch = None
    if "CPU implementer" in first:
        arch = "aarch64"
        impl, part = first.get("CPU implementer", "").lower(), first.get("CPU part", "").lower()
        vendor = vendor or ARM_IMPLEMENTERS.get(impl, f"Arm implementer {impl}")
        model = model or ARM_PARTS.get((impl, part)) or f"{vendor} part {part}"
    elif "flags" in first:
        arch = "x86_64" if "lm" in flags else "x86"
    if not model:
        unknown["model"] = "/proc/cpuinfo has no 'model name'"

    logical = sum(1 for b in blocks if "processor" in b) or None
    ids = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    sockets_set = {b.get("physical id") for b in blocks if "physical id" in b}
    sockets = len(sockets_set) or None
    physical = len(ids) or None
    if physical is None and sockets and _int(first.get("cpu cores")):
        physical = sockets * _int(first.get("cpu cores"))
    if physical is None and arch == "aarch64":
        physical = logical  # Arm server cores have no SMT as a rule
    if physical is None:
        unknown["physical_cores"] = "/proc/cpuinfo has no 'core id' (virtual machine?)"

    max_khz = _int(host.read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
    base_khz = _int(host.read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency"))
    base_mhz = base_khz / 1000 if base_khz else _ghz_in_name(model)
    max_mhz = max_khz / 1000 if max_khz else None
    if max_mhz is None:
        unknown["max_mhz"] = "no cpufreq in sysfs (virtual machine or container)"
    if base_mhz is None:
        # Virtual machines often show no clock but the one the hypervisor reports.
        try:
            base_mhz = float(first["cpu MHz"]) if "cpu MHz" in first else None
        except ValueError:
            base_mhz = None

    return _finish(model, vendor, arch, sockets, physical, logical, base_mhz, max_mhz, flags,
                   _int(first.get("cpu family")), _int(first.get("model")), "/proc/cpuinfo", unknown)


def _finish(model, vendor, arch, sockets, physical, logical, base_mhz, max_mhz, flags, family, model_number,
            source, unknown) -> CpuFacts:
    fpc, rule = flops_per_cycle(vendor, model, family, flags, model_number)
    clock = max_mhz or base_mhz
    peak = basis = None
    if fpc and clock and physical:
        peak = round(physical * clock / 1000 * fpc, 1)
        which = "max clock" if max_mhz else "base clock"
        basis = f"{physical} cores x {clock / 1000:.2f} GHz ({which}) x {fpc} FP32 FLOPs/cycle: {rule}"
    else:
        unknown["fp32_peak_gflops"] = "needs physical cores, a clock and a known ISA"
    return CpuFacts(
        model=model, vendor=vendor, architecture=arch, sockets=sockets, physical_cores=physical,
        logical_cores=logical, base_mhz=base_mhz, max_mhz=max_mhz,
        isa=tuple(f for f in ISA_FLAGS if f in flags),
        hypervisor=("hypervisor" in flags) if arch in ("x86_64", "x86") else None,
        fp32_flops_per_cycle_per_core=fpc, fp32_peak_gflops=peak, fp32_peak_basis=basis,
        source=source, unknown=unknown,
    )


def _from_libraries(host: Host, why: str) -> CpuFacts:
    info = host.library("cpuinfo.get_cpu_info")
    counts = host.library("psutil.cpu_count")
    counts = counts if isinstance(counts, dict) else {}  # a replayed answer may be anything
    if not isinstance(info, dict):
        return CpuFacts(source=None, unknown={"model": f"{why}, and py-cpuinfo gave no answer"})
    raw_flags = info.get("flags")
    flags = {str(f) for f in raw_flags} if isinstance(raw_flags, list) else set()
    hz = info.get("hz_advertised")
    base_mhz = hz[0] / 1e6 if isinstance(hz, list) and hz and isinstance(hz[0], (int, float)) else None
    arch = {"X86_64": "x86_64", "ARM_8": "aarch64"}.get(str(info.get("arch")), info.get("arch"))
    def text(v):
        return v if isinstance(v, str) else None

    def count(v):
        return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

    return _finish(text(info.get("brand_raw")), text(info.get("vendor_id_raw")), text(arch), None,
                   count(counts.get("physical")), count(counts.get("logical")) or count(info.get("count")), base_mhz, None,
                   flags, _int(info.get("family")), _int(info.get("model")), "py-cpuinfo + psutil", {})


def collect(host: Host) -> CpuFacts:
    r = host.read_text("/proc/cpuinfo")
    if r.text is not None and r.text.strip():
        return _from_proc(host, r.text)
    why = f"/proc/cpuinfo {r.error or 'is empty'}"
    if host.platform == "linux" and r.error == "missing":
        # A Linux capture without /proc/cpuinfo simply did not record the CPU.
        return CpuFacts(unknown={"model": why})
    return _from_libraries(host, why)
