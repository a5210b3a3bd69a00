"""NVIDIA GPUs and driver as NVML reports them.

Canonical source: the ``dlkit.nvml/1`` snapshot that ``dlkit.host.nvml.snapshot`` takes
(``nvml.json`` in a capture; shape in that module's docstring). Check by hand:
``nvidia-smi -q``; every fact names its ``nvidia-smi --query-gpu=`` field below.

``parse_snapshot`` is pure and total: ``nvml.json`` may be hand-edited or come from an
older dlkit, so a missing key or a value of the wrong type is ``None``, never an
exception. When a capture has no ``nvml.json`` (``host.nvml()`` is ``None``),
:func:`collect` returns ``None`` and the NVIDIA probe reads nvidia-smi instead.
"""

from __future__ import annotations

from typing import Any

from dlkit.facts import GpuFacts, NvidiaReport
from dlkit.host import Host
from dlkit.probes.busid import normalize_bus_id

SOURCE = "nvml"
MIB = 1024 * 1024

# nvmlClocksEventReason* bits (nvml.h; pynvml's nvmlClocksEventReason*, formerly
# nvmlClocksThrottleReason*, same values), named as nvidia-smi's XML tags
# (<clocks_event_reasons><clocks_event_reason_sw_power_cap>) and --query-gpu fields
# (clocks_event_reasons.sw_power_cap), so that NVML and nvidia-smi facts compare equal.
CLOCK_EVENT_REASONS = (
    (0x001, "gpu_idle"),
    (0x002, "applications_clocks_setting"),
    (0x004, "sw_power_cap"),
    (0x008, "hw_slowdown"),
    (0x010, "sync_boost"),
    (0x020, "sw_thermal_slowdown"),
    (0x040, "hw_thermal_slowdown"),
    (0x080, "hw_power_brake_slowdown"),
    (0x100, "display_clocks_setting"),
)

# nvmlComputeMode_t -> nvidia-smi's spelling (--query-gpu=compute_mode)
COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}
# nvmlDriverModel_t (Windows) -> nvidia-smi's "Driver Model"; WDM is what it calls TCC
DRIVER_MODELS = {0: "WDDM", 1: "TCC", 2: "MCDM"}
# nvmlGpuVirtualizationMode_t -> nvidia-smi's "GPU Virtualization Mode"
VIRTUALIZATION_MODES = {0: "None", 1: "Pass-Through", 2: "VGPU", 3: "Host VGPU", 4: "Host VSGA"}

# Snapshot error kinds -> NvidiaReport.failure kinds (dlkit/facts.py), where they differ.
FAILURE_KINDS = {"no-permission": "insufficient-permissions", "unknown": "unknown-error"}
# What NVML's users read for each failure (nvidia-smi prints "Failed to initialize NVML:
# <nvmlErrorString>"; F03 and F24 users search these exact lines).
NVML_ERROR_TEXT = {
    "library-not-found": "NVML Shared Library Not Found",
    "driver-not-loaded": "Driver Not Loaded",
    "library-mismatch": "Driver/library version mismatch",
    "function-not-found": "Function Not Found",
    "gpu-lost": "GPU is lost",
    "not-supported": "Not Supported",
    "no-permission": "Insufficient Permissions",
    "insufficient-power": "Insufficient External Power",
    "unknown": "Unknown Error",
}

# ------------------------------------------------------------------ typed reads


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ conversions


def cuda_version(value: Any) -> str | None:
    """nvmlSystemGetCudaDriverVersion's integer as nvidia-smi prints it.

    >>> cuda_version(12040), cuda_version(13020), cuda_version(11000), cuda_version("12.4")
    ('12.4', '13.2', '11.0', None)
    """
    v = _int(value)
    if v is None or v <= 0:
        return None
    return f"{v // 1000}.{v % 1000 // 10}"


def clock_event_reasons(mask: Any) -> tuple[str, ...] | None:
    """Active reasons of an nvmlClocksEventReason bit mask, in bit order.

    Bits NVML defines without an nvidia-smi tag (board limit 0x200, reliability 0x400)
    are not named; nvidia-smi does not show them either.

    >>> clock_event_reasons(0x1), clock_event_reasons(0x44), clock_event_reasons(0)
    (('gpu_idle',), ('sw_power_cap', 'hw_thermal_slowdown'), ())
    """
    m = _int(mask)
    if m is None or m < 0:
        return None
    return tuple(name for bit, name in CLOCK_EVENT_REASONS if m & bit)


def _mib(value: Any) -> int | None:
    b = _int(value)
    return b // MIB if b is not None and b >= 0 else None


def _watts(value: Any) -> float | None:
    mw = _num(value)
    return round(mw / 1000.0, 2) if mw is not None else None


def _compute_capability(value: Any) -> str | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        major, minor = _int(value[0]), _int(value[1])
        if major is not None and minor is not None and major >= 0 and minor >= 0:
            return f"{major}.{minor}"
    return None


def _pstate(value: Any) -> str | None:
    p = _int(value)
    return f"P{p}" if p is not None and 0 <= p <= 15 else None  # 32 = NVML_PSTATE_UNKNOWN


def _enum(table: dict[int, str], value: Any) -> str | None:
    v = _int(value)
    return table.get(v) if v is not None else None


# ------------------------------------------------------------------ parsing


def parse_gpu(raw: Any) -> GpuFacts:
    """One entry of the snapshot's ``gpus`` list as facts."""
    g = _dict(raw)
    mig = _bool(g.get("mig_mode_current"))
    return GpuFacts(
        pci_bus_id=normalize_bus_id(g.get("pci_bus_id")),  # --query-gpu=pci.bus_id
        name=_str(g.get("name")),  # name
        uuid=_str(g.get("uuid")),  # uuid
        memory_total_mib=_mib(g.get("memory_total_bytes")),  # memory.total
        memory_used_mib=_mib(g.get("memory_used_bytes")),  # memory.used
        compute_capability=_compute_capability(g.get("compute_capability")),  # compute_cap
        pcie_gen_current=_int(g.get("pcie_gen_current")),  # pcie.link.gen.current
        pcie_gen_max=_int(g.get("pcie_gen_max")),  # pcie.link.gen.gpumax (GPU's own max)
        pcie_width_current=_int(g.get("pcie_width_current")),  # pcie.link.width.current
        pcie_width_max=_int(g.get("pcie_width_max")),  # pcie.link.width.max
        power_draw_w=_watts(g.get("power_usage_mw")),  # power.draw
        power_limit_w=_watts(g.get("power_limit_enforced_mw")),  # enforced.power.limit
        power_default_limit_w=_watts(g.get("power_limit_default_mw")),  # power.default_limit
        power_min_limit_w=_watts(g.get("power_limit_min_mw")),  # power.min_limit
        temperature_c=_num(g.get("temperature_c")),  # temperature.gpu
        slowdown_temperature_c=_num(g.get("slowdown_temperature_c")),  # -q -d TEMPERATURE
        performance_state=_pstate(g.get("performance_state")),  # pstate
        utilization_gpu_pct=_num(g.get("utilization_gpu_pct")),  # utilization.gpu
        clock_event_reasons=clock_event_reasons(g.get("clock_event_reasons_mask")),  # clocks_event_reasons.active
        persistence_mode=_bool(g.get("persistence_mode")),  # persistence_mode
        compute_mode=_enum(COMPUTE_MODES, g.get("compute_mode")),  # compute_mode
        driver_model=_enum(DRIVER_MODELS, g.get("driver_model_current")),  # driver_model.current
        virtualization_mode=_enum(VIRTUALIZATION_MODES, g.get("virtualization_mode")),  # virtualization_mode
        mig_mode=mig,  # mig.mode.current
        mig_instances=_int(g.get("mig_instances")) if mig else None,  # nvidia-smi -L
        ecc_mode=_bool(g.get("ecc_mode_current")),  # ecc.mode.current
        ecc_uncorrectable_volatile=_int(g.get("ecc_uncorrectable_volatile")),  # ecc.errors.uncorrected.volatile.total
        ecc_uncorrectable_aggregate=_int(g.get("ecc_uncorrectable_aggregate")),  # ecc.errors.uncorrected.aggregate.total
        retired_pages=_int(g.get("retired_pages_dbe")),  # retired_pages.dbe
        retired_pages_pending=_bool(g.get("retired_pages_pending")),  # retired_pages.pending
        remapped_rows_pending=_bool(g.get("remapped_rows_pending")),  # remapped_rows.pending
        remapped_rows_failure=_bool(g.get("remapped_rows_failure")),  # remapped_rows.failure
        source=SOURCE,
    )


def _failure_kind(kind: Any) -> str:
    k = _str(kind) or "unknown"
    return FAILURE_KINDS.get(k, k)


def _init_failure(init: dict[str, Any]) -> tuple[str, str] | None:
    """(failure kind, text) when NVML did not start; None when it did (or says nothing)."""
    if init.get("ok") is not False:
        return None  # a hand-made nvml.json without "init" is taken as an answer
    kind = _str(init.get("error")) or "unknown"
    message = _str(init.get("message"))
    if kind == "timeout":
        return "timeout", message or "NVML did not answer in time"
    text = NVML_ERROR_TEXT.get(kind) if kind != "unknown" else None
    return _failure_kind(kind), f"Failed to initialize NVML: {text or message or 'Unknown Error'}"


def _device_failure(raw_gpus: list[Any]) -> tuple[str, str] | None:
    """A lost GPU, or a GPU NVML could not open, in nvidia-smi's words (F17)."""
    found: tuple[str, str] | None = None
    for raw in raw_gpus:
        g = _dict(raw)
        errors = _dict(g.get("errors"))
        bus = normalize_bus_id(g.get("pci_bus_id"))
        where = f"GPU{bus.upper()}" if bus else f"GPU at index {_int(g.get('index'))}"
        if "gpu-lost" in errors.values():
            return "gpu-lost", f"Unable to determine the device handle for {where}: GPU is lost"
        handle = _str(errors.get("handle"))
        if handle and found is None:
            text = NVML_ERROR_TEXT.get(handle, "Unknown Error")
            # A GPU NVML cannot open with "Unknown Error" is one that fell off the bus (the
            # xid79 sample; probes/nvsmi_common.py reads nvidia-smi's line the same way).
            kind = "gpu-lost" if handle in ("unknown", "gpu-lost") else _failure_kind(handle)
            found = kind, f"Unable to determine the device handle for {where}: {text}"
    return found


def _count_failure(errors: dict[str, Any]) -> tuple[str, str] | None:
    """nvmlDeviceGetCount failed: NVML started but cannot list the GPUs."""
    kind = _str(errors.get("device_count"))
    if kind is None:
        return None
    return _failure_kind(kind), f"Unable to get the number of GPUs: {NVML_ERROR_TEXT.get(kind, 'Unknown Error')}"


def parse_snapshot(snap: Any) -> NvidiaReport:
    """A ``dlkit.nvml/1`` snapshot as the NVML source's report. Pure; never raises.

    The sample is the RTX 4080 SUPER of ``exporter-rtx-4080-super-fedora`` (driver
    595.71.05, CUDA 13.2; its ``nvidia-smi -q`` values) as NVML reports them:

    >>> snap = {"schema": "dlkit.nvml/1",
    ...     "init": {"ok": True, "error": None, "message": None, "code": None},
    ...     "driver_version": "595.71.05", "nvml_version": "13.595.71.05",
    ...     "cuda_driver_version": 13020, "errors": {},
    ...     "gpus": [{"index": 0, "pci_bus_id": "00000000:01:00.0",
    ...               "name": "NVIDIA GeForce RTX 4080 SUPER",
    ...               "memory_total_bytes": 17171480576, "memory_used_bytes": 624951296,
    ...               "compute_capability": [8, 9], "pcie_gen_current": 1, "pcie_gen_max": 4,
    ...               "pcie_width_current": 16, "pcie_width_max": 16, "power_usage_mw": 27740,
    ...               "power_limit_enforced_mw": 320000, "power_limit_default_mw": 320000,
    ...               "temperature_c": 43, "slowdown_temperature_c": 96,
    ...               "clock_event_reasons_mask": 1, "persistence_mode": False, "compute_mode": 0,
    ...               "performance_state": 8, "utilization_gpu_pct": 0,
    ...               "errors": {"ecc_mode_current": "not-supported"}}]}
    >>> r = parse_snapshot(snap)
    >>> r.driver_version, r.cuda_version, r.failure
    ('595.71.05', '13.2', None)
    >>> g = r.gpus[0]
    >>> g.pci_bus_id, g.memory_total_mib, g.compute_capability, g.power_limit_w, g.clock_event_reasons
    ('0000:01:00.0', 16376, '8.9', 320.0, ('gpu_idle',))
    >>> parse_snapshot({"init": {"ok": False, "error": "library-mismatch"}}).failure_text
    'Failed to initialize NVML: Driver/library version mismatch'
    """
    s = _dict(snap)
    raw_gpus = s.get("gpus") if isinstance(s.get("gpus"), list) else []
    gpus = tuple(parse_gpu(g) for g in raw_gpus if isinstance(g, dict))
    failure = _init_failure(_dict(s.get("init"))) or _count_failure(_dict(s.get("errors"))) or _device_failure(raw_gpus)
    if failure is None and not gpus and isinstance(s.get("gpus"), list):
        failure = "no-devices", "No devices were found"  # nvidia-smi's words (exit code 6)
    return NvidiaReport(
        source=SOURCE,
        driver_version=_str(s.get("driver_version")),  # --query-gpu=driver_version
        cuda_version=cuda_version(s.get("cuda_driver_version")),  # nvidia-smi's "CUDA Version"
        nvml_version=_str(s.get("nvml_version")),  # nvidia-smi -q "NVML Version" (newer drivers)
        gpus=gpus,
        failure=failure[0] if failure else None,
        failure_text=failure[1] if failure else None,
    )


def collect(host: Host) -> NvidiaReport | None:
    """NVML's report, or None when NVML was not asked (no binding, or no nvml.json)."""
    snap = host.nvml()
    return None if snap is None else parse_snapshot(snap)
