"""The NVML gateway: the only module that calls NVML (through ``pynvml``, the binding that
the ``nvidia-ml-py`` distribution installs).

:func:`snapshot` asks NVML everything the probes need, once, and returns plain JSON-able
data (schema ``dlkit.nvml/1``). A capture stores that dict as ``nvml.json`` and replay hands
it back unchanged, so a probe never knows whether NVML answered now or a year ago.

Why a thread: NVML can block for a long time when a GPU fell off the bus (Xid 79,
failure-modes.md F17) or while an init without persistence mode wakes every GPU (F21).
The whole session runs in a daemon thread joined with a timeout; a hang becomes
``init.error == "timeout"`` and the thread is abandoned (a daemon thread does not keep
the process alive).

Nothing here raises. Every failure is a stable kind (:data:`dlkit.host.nvml_errors.KINDS`): an ``init`` failure
means NVML gave no answer at all; a per-field failure leaves that field ``null`` and lists
it in the device's ``errors`` (``NOT_SUPPORTED`` is normal: ECC on GeForce, most counters
under vGPU). ``GPU_IS_LOST`` on one device stops reading that device only.

Shape (every key always present; ``null`` when unknown)::

    {"schema": "dlkit.nvml/1",
     "init": {"ok": true, "error": null, "message": null, "code": null},
     "driver_version": "550.54.14",          # nvidia-smi --query-gpu=driver_version
     "nvml_version": "12.550.54.14",         # nvidia-smi -q | grep "NVML Version"
     "cuda_driver_version": 12040,           # nvidia-smi's "CUDA Version: 12.4"
     "errors": {},                           # system-level fields that raised
     "gpus": [{"index": 0, "pci_bus_id": "00000000:01:00.0", "name": "...", ...,
               "errors": {"ecc_mode_current": "not-supported"}}]}

The per-device keys are listed in :data:`GPU_FIELDS` with their NVML calls. Values are
NVML's own units (bytes, milliwatts, degrees C, percent); enable-states are booleans;
enums (``compute_mode``, ``performance_state``, ``driver_model_current``,
``virtualization_mode``) are NVML's integers. ``probes/nvml.py`` turns this into facts.
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any, Callable

from dlkit.host.nvml_errors import (NVML_ERROR_INVALID_ARGUMENT, NVML_ERROR_NOT_FOUND, FunctionMissing,
                                    error_code as _error_code, error_kind, message as _message)

SCHEMA = "dlkit.nvml/1"
# Below the engine's per-probe timeout (5 s) so that the probe reports "NVML timed out"
# itself instead of being killed as a hung probe.
DEFAULT_TIMEOUT_S = 4.0

# nvml.h enum values, used when the binding lacks the named constant (old pynvml).
_CONST = {
    "NVML_TEMPERATURE_GPU": 0,
    "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN": 1,
    "NVML_MEMORY_ERROR_TYPE_UNCORRECTED": 1,
    "NVML_VOLATILE_ECC": 0,
    "NVML_AGGREGATE_ECC": 1,
    "NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR": 1,
}

# Per-device keys in snapshot order (the ``errors`` map comes last).
GPU_FIELDS = (
    "index", "pci_bus_id", "name", "uuid",
    "memory_total_bytes", "memory_used_bytes", "compute_capability",
    "pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max",
    "power_usage_mw", "power_limit_enforced_mw", "power_limit_default_mw", "power_limit_min_mw",
    "temperature_c", "slowdown_temperature_c", "clock_event_reasons_mask",
    "persistence_mode", "compute_mode", "driver_model_current", "virtualization_mode",
    "mig_mode_current", "mig_instances",
    "ecc_mode_current", "ecc_uncorrectable_volatile", "ecc_uncorrectable_aggregate",
    "retired_pages_dbe", "retired_pages_pending", "remapped_rows_pending", "remapped_rows_failure",
    "performance_state", "utilization_gpu_pct",
)


def _text(value: Any) -> str | None:
    """pynvml < 11.0 returns ``bytes`` for strings; newer versions return ``str``."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).rstrip("\x00").strip() or None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _call(nv: Any, names: tuple[str, ...], *args: Any) -> Any:
    """Call the first of ``names`` that the binding and the driver both have.

    A function missing from the binding (``AttributeError``) or from the driver
    (``FUNCTION_NOT_FOUND``) moves on to the next name; the last failure is raised.
    """
    last: BaseException | None = None
    for name in names:
        fn = getattr(nv, name, None)
        if fn is None:
            continue
        try:
            return fn(*args)
        except Exception as exc:
            if error_kind(exc) != "function-not-found":
                raise
            last = exc
    raise last if last is not None else FunctionMissing(" / ".join(names))


def _const(nv: Any, name: str) -> int:
    value = getattr(nv, name, None)
    return value if isinstance(value, int) else _CONST[name]


class _Progress:
    """What the worker has read so far; the caller copies it if the worker hangs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snap: dict[str, Any] = _empty()
        self.where = "nvmlInit"

    def set(self, key: str, value: Any) -> None:
        with self.lock:
            self.snap[key] = value

    def at(self, where: str) -> None:
        with self.lock:
            self.where = where

    def copy(self) -> tuple[dict[str, Any], str]:
        with self.lock:
            return copy.deepcopy(self.snap), self.where


def _empty() -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "init": {"ok": False, "error": None, "message": None, "code": None},
        "driver_version": None,
        "nvml_version": None,
        "cuda_driver_version": None,
        "errors": {},
        "gpus": [],
    }


class _Device:
    """Reads one device field by field; a lost GPU stops the reading of that GPU."""

    def __init__(self, nv: Any, progress: _Progress, index: int) -> None:
        self.nv = nv
        self.progress = progress
        self.index = index
        self.handle: Any = None
        self.lost = False
        self.out: dict[str, Any] = {f: None for f in GPU_FIELDS}
        self.out["index"] = index
        self.out["errors"] = {}

    def fail(self, fields: tuple[str, ...], exc: BaseException) -> None:
        kind = error_kind(exc)
        for f in fields:
            self.out[f] = None
            self.out["errors"][f] = kind
        if kind == "gpu-lost":
            self.lost = True

    def read(self, fields: str | tuple[str, ...], names: str | tuple[str, ...], *args: Any,
             convert: Callable[[Any], Any] = lambda v: v) -> None:
        """Set ``fields`` from ``convert(first available of names(handle, *args))``.

        With several fields, ``convert`` returns one value per field (one NVML call
        answering several facts, like nvmlDeviceGetRemappedRows).
        """
        fields = (fields,) if isinstance(fields, str) else fields
        names = (names,) if isinstance(names, str) else names
        if self.lost:
            return
        self.progress.at(f"{names[0]} (GPU {self.index})")
        try:
            value = convert(_call(self.nv, names, self.handle, *args))
        except Exception as exc:
            self.fail(fields, exc)
            return
        values = (value,) if len(fields) == 1 else tuple(value)
        for f, v in zip(fields, values):
            self.out[f] = v


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(int(value))


def _pci_bus_id(info: Any) -> str | None:
    # nvmlPciInfo_t.busId since NVML 9.0; busIdLegacy (the old 16-byte field) before.
    return _text(getattr(info, "busId", None)) or _text(getattr(info, "busIdLegacy", None))


def _count_mig_devices(nv: Any, handle: Any) -> int:
    """MIG devices that exist on a MIG-enabled GPU.

    NVML has slots 0..max-1; an empty slot answers NOT_FOUND (or INVALID_ARGUMENT on some
    drivers). With the usual one compute instance per GPU instance this equals the GPU
    instances nvidia-smi -L lists under the GPU.
    """
    count = nv.nvmlDeviceGetMaxMigDeviceCount(handle)
    found = 0
    for slot in range(int(count)):
        try:
            nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except Exception as exc:
            if _error_code(exc) in (NVML_ERROR_NOT_FOUND, NVML_ERROR_INVALID_ARGUMENT) or type(exc).__name__ in (
                    "NVMLError_NotFound", "NVMLError_InvalidArgument"):
                continue
            raise
        found += 1
    return found


def _read_device(nv: Any, progress: _Progress, index: int) -> dict[str, Any]:
    d = _Device(nv, progress, index)
    progress.at(f"nvmlDeviceGetHandleByIndex (GPU {index})")
    try:
        d.handle = nv.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:
        # nvidia-smi: "Unable to determine the device handle for GPU0000:0F:00.0: ..."
        d.out["errors"]["handle"] = error_kind(exc)
        return d.out

    d.read("pci_bus_id", "nvmlDeviceGetPciInfo", convert=_pci_bus_id)
    d.read("name", "nvmlDeviceGetName", convert=_text)  # nvidia-smi --query-gpu=name
    d.read("uuid", "nvmlDeviceGetUUID", convert=_text)
    d.read(("memory_total_bytes", "memory_used_bytes"), "nvmlDeviceGetMemoryInfo",
           convert=lambda m: (_int(m.total), _int(m.used)))  # --query-gpu=memory.total,memory.used
    d.read("compute_capability", "nvmlDeviceGetCudaComputeCapability",
           convert=lambda cc: [int(cc[0]), int(cc[1])])  # --query-gpu=compute_cap
    # --query-gpu=pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max
    d.read("pcie_gen_current", "nvmlDeviceGetCurrPcieLinkGeneration", convert=_int)
    # The GPU's own maximum (nvidia-smi "Device Max"), like sysfs max_link_speed of the
    # endpoint, so NVML and sysfs agree. nvmlDeviceGetMaxPcieLinkGeneration is the link's
    # maximum, min(GPU, slot): a Gen4 card in a Gen3 slot would look "at max" and hide the
    # slot limit (pcie.md, F16). GpuMax exists from driver R510 / nvidia-ml-py 11.515; on
    # older stacks fall back to the link maximum, the best NVML can say there.
    d.read("pcie_gen_max", ("nvmlDeviceGetGpuMaxPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration"),
           convert=_int)
    d.read("pcie_width_current", "nvmlDeviceGetCurrPcieLinkWidth", convert=_int)
    d.read("pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth", convert=_int)
    # --query-gpu=power.draw,enforced.power.limit,power.default_limit (NVML: milliwatts)
    d.read("power_usage_mw", "nvmlDeviceGetPowerUsage", convert=_int)
    d.read("power_limit_enforced_mw", "nvmlDeviceGetEnforcedPowerLimit", convert=_int)
    d.read("power_limit_default_mw", "nvmlDeviceGetPowerManagementDefaultLimit", convert=_int)
    # nvidia-smi -q -d POWER "Min Power Limit": the lowest `nvidia-smi -pl` the board accepts
    d.read("power_limit_min_mw", "nvmlDeviceGetPowerManagementLimitConstraints", convert=lambda c: _int(c[0]))
    # --query-gpu=temperature.gpu; nvidia-smi -q -d TEMPERATURE "GPU Slowdown Temp"
    # nvmlDeviceGetTemperature is deprecated (to go in CUDA 14) but is what every driver
    # in the field has; TemperatureV (R550+) takes over once the old symbol is gone.
    d.read("temperature_c", ("nvmlDeviceGetTemperature", "nvmlDeviceGetTemperatureV"),
           _const(nv, "NVML_TEMPERATURE_GPU"), convert=_int)
    d.read("slowdown_temperature_c", "nvmlDeviceGetTemperatureThreshold",
           _const(nv, "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN"), convert=_int)
    # --query-gpu=clocks_event_reasons.active. "Throttle" was renamed "ClocksEvent" in
    # driver R535 / nvidia-ml-py 12.535; the bits are the same.
    d.read("clock_event_reasons_mask",
           ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"), convert=_int)
    d.read("persistence_mode", "nvmlDeviceGetPersistenceMode", convert=_bool)  # --query-gpu=persistence_mode
    d.read("compute_mode", "nvmlDeviceGetComputeMode", convert=_int)  # --query-gpu=compute_mode
    if sys.platform.startswith("win"):
        # WDDM / TCC exists only on Windows; elsewhere NVML answers NOT_SUPPORTED for
        # every GPU, which says nothing. --query-gpu=driver_model.current
        # Newer nvidia-ml-py calls the _v2 symbol, which older drivers lack.
        d.read("driver_model_current", ("nvmlDeviceGetDriverModel", "nvmlDeviceGetDriverModel_v1"),
               convert=lambda m: _int(m[0]))
    d.read("virtualization_mode", "nvmlDeviceGetVirtualizationMode", convert=_int)  # --query-gpu=virtualization_mode
    d.read("mig_mode_current", "nvmlDeviceGetMigMode", convert=lambda m: _bool(m[0]))  # --query-gpu=mig.mode.current
    if d.out["mig_mode_current"]:
        d.progress.at(f"nvmlDeviceGetMigDeviceHandleByIndex (GPU {index})")
        try:
            d.out["mig_instances"] = _count_mig_devices(nv, d.handle)  # nvidia-smi -L
        except Exception as exc:
            d.fail(("mig_instances",), exc)
    # nvidia-smi -q -d ECC,PAGE_RETIREMENT,ROW_REMAPPER
    d.read("ecc_mode_current", "nvmlDeviceGetEccMode", convert=lambda m: _bool(m[0]))
    uncorrected = _const(nv, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED")
    d.read("ecc_uncorrectable_volatile", "nvmlDeviceGetTotalEccErrors", uncorrected,
           _const(nv, "NVML_VOLATILE_ECC"), convert=_int)
    d.read("ecc_uncorrectable_aggregate", "nvmlDeviceGetTotalEccErrors", uncorrected,
           _const(nv, "NVML_AGGREGATE_ECC"), convert=_int)
    d.read("retired_pages_dbe", "nvmlDeviceGetRetiredPages",
           _const(nv, "NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR"), convert=len)
    d.read("retired_pages_pending", "nvmlDeviceGetRetiredPagesPendingStatus", convert=_bool)
    # (correctable rows, uncorrectable rows, remap pending, remap failure)
    d.read(("remapped_rows_pending", "remapped_rows_failure"), "nvmlDeviceGetRemappedRows",
           convert=lambda r: (_bool(r[2]), _bool(r[3])))
    d.read("performance_state", "nvmlDeviceGetPerformanceState", convert=_int)  # --query-gpu=pstate
    d.read("utilization_gpu_pct", "nvmlDeviceGetUtilizationRates", convert=lambda u: _int(u.gpu))
    return d.out


def _read_system(nv: Any, progress: _Progress, key: str, names: tuple[str, ...], convert: Callable[[Any], Any]) -> None:
    progress.at(names[0])
    try:
        progress.set(key, convert(_call(nv, names)))
    except Exception as exc:
        with progress.lock:
            progress.snap["errors"][key] = error_kind(exc)


def _session(progress: _Progress) -> None:
    """One NVML session: init, read everything, shut down. Runs in the worker thread."""
    try:
        import pynvml as nv
    except Exception as exc:  # ImportError, or a broken binding
        progress.set("init", {"ok": False, "error": "binding-not-installed", "message": _message(exc), "code": None})
        return
    try:
        nv.nvmlInit()
    except Exception as exc:
        progress.set("init", {"ok": False, "error": error_kind(exc), "message": _message(exc), "code": _error_code(exc)})
        return
    progress.set("init", {"ok": True, "error": None, "message": None, "code": None})
    try:
        _read_system(nv, progress, "driver_version", ("nvmlSystemGetDriverVersion",), _text)
        _read_system(nv, progress, "nvml_version", ("nvmlSystemGetNVMLVersion",), _text)
        # nvidia-smi's "CUDA Version": the highest CUDA the driver supports (12040 = 12.4)
        _read_system(nv, progress, "cuda_driver_version",
                     ("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"), _int)
        progress.at("nvmlDeviceGetCount")
        try:
            count = int(nv.nvmlDeviceGetCount())
        except Exception as exc:
            with progress.lock:
                progress.snap["errors"]["device_count"] = error_kind(exc)
            count = 0
        for index in range(count):
            device = _read_device(nv, progress, index)
            with progress.lock:
                progress.snap["gpus"].append(device)
    finally:
        progress.at("nvmlShutdown")
        try:
            nv.nvmlShutdown()
        except Exception:
            pass


def snapshot(timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Everything NVML says about this machine, as JSON-able data. Never raises.

    Check by hand: ``nvidia-smi -q``. When NVML has not finished within ``timeout_s``
    the answer is what had been read so far, with ``init`` set to
    ``{"ok": false, "error": "timeout", "message": "... stuck in <call> ..."}``.
    """
    progress = _Progress()
    done = threading.Event()

    def work() -> None:
        try:
            _session(progress)
        except BaseException as exc:  # a bug here must not kill the thread silently
            progress.set("init", {"ok": False, "error": "unknown", "message": _message(exc), "code": None})
        finally:
            done.set()

    worker = threading.Thread(target=work, name="dlkit-nvml", daemon=True)
    worker.start()
    if done.wait(max(0.0, timeout_s)):
        snap, _ = progress.copy()
        return snap
    snap, where = progress.copy()
    snap["init"] = {
        "ok": False,
        "error": "timeout",
        "message": f"NVML did not answer within {timeout_s:g} s (stuck in {where})",
        "code": None,
    }
    return snap


class SnapshotOnce:
    """One NVML session per host, however many probes ask (probes run concurrently).

    An NVML init can take seconds without persistence mode (F21) and a hang costs the
    whole timeout, so the answer, failure or not, is kept. :meth:`get` hands each caller
    its own copy, and ``None`` where the binding is missing (NVML was not asked).
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._snap: dict[str, Any] | None = None

    def get(self) -> dict[str, Any] | None:
        with self._lock:
            if self._snap is None:
                self._snap = snapshot(self.timeout_s)
            snap = self._snap
        if snap["init"].get("error") == "binding-not-installed":
            return None
        return copy.deepcopy(snap)
