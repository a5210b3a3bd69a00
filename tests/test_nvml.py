"""The NVML gateway (dlkit/host/nvml.py) and the NVML probe (probes/nvml.py).

Scenarios run against a scripted fake ``pynvml`` put in ``sys.modules``: each fake GPU is
a table of NVML function -> answer (a value, or an NVMLError to raise), and any function
a GPU does not list answers NOT_SUPPORTED, as NVML does for a feature a board lacks.
"""

from __future__ import annotations

import copy
import doctest
import importlib
import json
import sys
import threading
import time
import types
from types import SimpleNamespace as NS

import pytest

from dlkit.facts import GpuFacts, NvidiaReport
from dlkit.host import Capture, LiveHost, RecordingHost, Redactor, ReplayHost, load_capture, write_capture
from dlkit.host import nvml as gateway, nvml_errors
from dlkit.host.base import Host
from dlkit.probes import nvml as probe

MIB = 1024 * 1024

# ------------------------------------------------------------------ the fake binding

ERROR_CLASSES = {  # pynvml's class name -> nvmlReturn_t, as _extractNVMLErrorsAsClasses makes them
    "NVMLError_InvalidArgument": 2,
    "NVMLError_NotSupported": 3,
    "NVMLError_NoPermission": 4,
    "NVMLError_NotFound": 6,
    "NVMLError_InsufficientPower": 8,
    "NVMLError_DriverNotLoaded": 9,
    "NVMLError_LibraryNotFound": 12,
    "NVMLError_FunctionNotFound": 13,
    "NVMLError_CorruptedInforom": 14,
    "NVMLError_GpuIsLost": 15,
    "NVMLError_LibRmVersionMismatch": 18,
    "NVMLError_Unknown": 999,
}
MESSAGES = {  # pynvml's NVMLError._errcode_to_string
    2: "Invalid Argument", 3: "Not Supported", 4: "Insufficient Permissions", 6: "Not Found",
    8: "Insufficient External Power", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found",
    13: "Function Not Found", 14: "Corrupted infoROM", 15: "GPU is lost",
    18: "RM has detected an NVML/RM version mismatch.", 999: "Unknown Error",
}


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return MESSAGES.get(self.value, f"NVML Error with code {self.value}")


ERR = {name: type(name, (NVMLError,), {}) for name in ERROR_CLASSES}


def err(name: str) -> NVMLError:
    """An instance of pynvml's NVMLError_<name> (e.g. err("GpuIsLost"))."""
    full = f"NVMLError_{name}"
    return ERR[full](ERROR_CLASSES[full])


class Handle:
    def __init__(self, index: int) -> None:
        self.index = index


DEVICE_FUNCTIONS = (
    "nvmlDeviceGetPciInfo", "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetGpuMaxPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetMaxPcieLinkWidth", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementDefaultLimit",
    "nvmlDeviceGetPowerManagementLimitConstraints", "nvmlDeviceGetTemperature", "nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperatureThreshold",
    "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetPersistenceMode", "nvmlDeviceGetComputeMode", "nvmlDeviceGetDriverModel",
    "nvmlDeviceGetDriverModel_v1", "nvmlDeviceGetVirtualizationMode", "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetEccMode", "nvmlDeviceGetTotalEccErrors",
    "nvmlDeviceGetRetiredPages", "nvmlDeviceGetRetiredPagesPendingStatus", "nvmlDeviceGetRemappedRows",
    "nvmlDeviceGetPerformanceState", "nvmlDeviceGetUtilizationRates",
)


def fake_pynvml(gpus: list[dict], *, init=None, driver="550.54.14", nvml_version="12.550.54.14",
                cuda=12040, count=None, handles: dict | None = None, omit=(), as_bytes=False) -> types.ModuleType:
    """A pynvml stand-in. ``gpus[i]`` maps NVML function names to answers: a value, an
    exception to raise, or a callable(*args). Names in ``omit`` are absent from the module
    (an older binding). ``as_bytes`` answers strings as bytes, as pynvml < 11 did."""
    mod = types.ModuleType("pynvml")
    mod.NVMLError = NVMLError
    for name, cls in ERR.items():
        setattr(mod, name, cls)
    mod.calls = []

    def answer(value, *args):
        if isinstance(value, BaseException):
            raise value
        if callable(value):
            return value(*args)
        if as_bytes and isinstance(value, str):
            return value.encode()
        if as_bytes and isinstance(value, NS) and isinstance(getattr(value, "busId", None), str):
            return NS(busId=value.busId.encode())
        return value

    def system(name, value):
        def fn(*args):
            mod.calls.append((name,) + args)
            return answer(value, *args)
        return fn

    def device(name):
        def fn(handle, *args):
            mod.calls.append((name, handle.index) + args)
            table = gpus[handle.index]
            if name not in table:
                raise err("NotSupported")
            value = table[name]
            if isinstance(value, dict):  # keyed by the extra arguments
                value = value[args if len(args) != 1 else args[0]]
            return answer(value, *args)
        return fn

    mod.nvmlInit = system("nvmlInit", init)
    mod.nvmlShutdown = system("nvmlShutdown", None)
    mod.nvmlSystemGetDriverVersion = system("nvmlSystemGetDriverVersion", driver)
    mod.nvmlSystemGetNVMLVersion = system("nvmlSystemGetNVMLVersion", nvml_version)
    mod.nvmlSystemGetCudaDriverVersion_v2 = system("nvmlSystemGetCudaDriverVersion_v2", cuda)
    mod.nvmlSystemGetCudaDriverVersion = system("nvmlSystemGetCudaDriverVersion", cuda)
    mod.nvmlDeviceGetCount = system("nvmlDeviceGetCount", len(gpus) if count is None else count)
    mod.nvmlDeviceGetHandleByIndex = system(
        "nvmlDeviceGetHandleByIndex", lambda i: answer((handles or {}).get(i, Handle(i))))
    for name in DEVICE_FUNCTIONS:
        setattr(mod, name, device(name))
    for name in omit:
        delattr(mod, name)
    return mod


@pytest.fixture
def use(monkeypatch):
    """use(fake) installs a fake pynvml for this test and returns it."""
    def install(fake):
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        return fake
    return install


def datacenter_gpu(bus: str, uuid: str, *, power_mw=61234, reasons=0x1) -> dict:
    """An A100-SXM4-80GB at idle: ECC on, MIG off, nothing retired."""
    return {
        "nvmlDeviceGetPciInfo": NS(busId=bus),
        "nvmlDeviceGetName": "NVIDIA A100-SXM4-80GB",
        "nvmlDeviceGetUUID": uuid,
        "nvmlDeviceGetMemoryInfo": NS(total=85899345920, used=4 * MIB, free=85899345920 - 4 * MIB),
        "nvmlDeviceGetCudaComputeCapability": (8, 0),
        "nvmlDeviceGetCurrPcieLinkGeneration": 4,
        "nvmlDeviceGetGpuMaxPcieLinkGeneration": 4,
        "nvmlDeviceGetMaxPcieLinkGeneration": 4,
        "nvmlDeviceGetCurrPcieLinkWidth": 16,
        "nvmlDeviceGetMaxPcieLinkWidth": 16,
        "nvmlDeviceGetPowerUsage": power_mw,
        "nvmlDeviceGetEnforcedPowerLimit": 400000,
        "nvmlDeviceGetPowerManagementDefaultLimit": 400000,
        "nvmlDeviceGetPowerManagementLimitConstraints": (100000, 400000),  # (min, max) mW
        "nvmlDeviceGetTemperature": {0: 31},  # NVML_TEMPERATURE_GPU
        "nvmlDeviceGetTemperatureThreshold": {1: 92},  # NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
        "nvmlDeviceGetCurrentClocksEventReasons": reasons,
        "nvmlDeviceGetPersistenceMode": 1,
        "nvmlDeviceGetComputeMode": 0,
        "nvmlDeviceGetVirtualizationMode": 0,
        "nvmlDeviceGetMigMode": [0, 0],
        "nvmlDeviceGetEccMode": [1, 1],
        # (NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC / NVML_AGGREGATE_ECC)
        "nvmlDeviceGetTotalEccErrors": {(1, 0): 0, (1, 1): 2},
        "nvmlDeviceGetRetiredPages": {1: []},  # NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
        "nvmlDeviceGetRetiredPagesPendingStatus": 0,
        "nvmlDeviceGetRemappedRows": (0, 0, 0, 0),
        "nvmlDeviceGetPerformanceState": 0,
        "nvmlDeviceGetUtilizationRates": NS(gpu=0, memory=0),
    }


def geforce_gpu() -> dict:
    """An RTX 4080 SUPER (exporter-rtx-4080-super-fedora): no ECC, no MIG, no row
    remapper, no page retirement; all of those answer NOT_SUPPORTED."""
    return {
        "nvmlDeviceGetPciInfo": NS(busId="00000000:01:00.0"),
        "nvmlDeviceGetName": "NVIDIA GeForce RTX 4080 SUPER",
        "nvmlDeviceGetUUID": "GPU-5a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b",
        "nvmlDeviceGetMemoryInfo": NS(total=16376 * MIB, used=596 * MIB, free=15780 * MIB),
        "nvmlDeviceGetCudaComputeCapability": (8, 9),
        "nvmlDeviceGetCurrPcieLinkGeneration": 1,
        "nvmlDeviceGetGpuMaxPcieLinkGeneration": 4,
        "nvmlDeviceGetMaxPcieLinkGeneration": 4,
        "nvmlDeviceGetCurrPcieLinkWidth": 16,
        "nvmlDeviceGetMaxPcieLinkWidth": 16,
        "nvmlDeviceGetPowerUsage": 27740,
        "nvmlDeviceGetEnforcedPowerLimit": 320000,
        "nvmlDeviceGetPowerManagementDefaultLimit": 320000,
        # nvidia-smi -q of the same card: "Min Power Limit : 150.00 W"
        "nvmlDeviceGetPowerManagementLimitConstraints": (150000, 352000),
        "nvmlDeviceGetTemperature": {0: 43},
        "nvmlDeviceGetTemperatureThreshold": {1: 96},
        "nvmlDeviceGetCurrentClocksEventReasons": 0x1,
        "nvmlDeviceGetPersistenceMode": 0,
        "nvmlDeviceGetComputeMode": 0,
        "nvmlDeviceGetVirtualizationMode": 0,
        "nvmlDeviceGetPerformanceState": 8,
        "nvmlDeviceGetUtilizationRates": NS(gpu=0, memory=23),
    }


A100_UUIDS = ("GPU-1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718", "GPU-8a9b0c1d-2e3f-4a5b-6c7d-8e9f0a1b2c3d")


def healthy_two_gpus() -> list[dict]:
    return [datacenter_gpu("00000000:07:00.0", A100_UUIDS[0]),
            datacenter_gpu("00000000:0F:00.0", A100_UUIDS[1], power_mw=312456, reasons=0x4)]


def expected_a100(index: int, bus: str, uuid: str, *, power_mw=61234, reasons=0x1, errors=None) -> dict:
    return {
        "index": index, "pci_bus_id": bus, "name": "NVIDIA A100-SXM4-80GB", "uuid": uuid,
        "memory_total_bytes": 85899345920, "memory_used_bytes": 4 * MIB, "compute_capability": [8, 0],
        "pcie_gen_current": 4, "pcie_gen_max": 4, "pcie_width_current": 16, "pcie_width_max": 16,
        "power_usage_mw": power_mw, "power_limit_enforced_mw": 400000, "power_limit_default_mw": 400000,
        "power_limit_min_mw": 100000,
        "temperature_c": 31, "slowdown_temperature_c": 92, "clock_event_reasons_mask": reasons,
        "persistence_mode": True, "compute_mode": 0, "driver_model_current": None, "virtualization_mode": 0,
        "mig_mode_current": False, "mig_instances": None,
        "ecc_mode_current": True, "ecc_uncorrectable_volatile": 0, "ecc_uncorrectable_aggregate": 2,
        "retired_pages_dbe": 0, "retired_pages_pending": False, "remapped_rows_pending": False,
        "remapped_rows_failure": False, "performance_state": 0, "utilization_gpu_pct": 0,
        "errors": errors or {},
    }


def expected_snapshot(gpus: list[dict], *, init=None, errors=None, driver="550.54.14",
                      nvml_version="12.550.54.14", cuda=12040) -> dict:
    return {
        "schema": "dlkit.nvml/1",
        "init": init or {"ok": True, "error": None, "message": None, "code": None},
        "driver_version": driver, "nvml_version": nvml_version, "cuda_driver_version": cuda,
        "errors": errors or {}, "gpus": gpus,
    }


def failed_init(kind: str, message: str, code: int | None) -> dict:
    return {
        "schema": "dlkit.nvml/1", "init": {"ok": False, "error": kind, "message": message, "code": code},
        "driver_version": None, "nvml_version": None, "cuda_driver_version": None, "errors": {}, "gpus": [],
    }


def a100_facts(bus: str, uuid: str, *, power_w=61.23, reasons=("gpu_idle",)) -> GpuFacts:
    return GpuFacts(
        pci_bus_id=bus, name="NVIDIA A100-SXM4-80GB", uuid=uuid, memory_total_mib=81920, memory_used_mib=4,
        compute_capability="8.0", pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=16, pcie_width_max=16,
        power_draw_w=power_w, power_limit_w=400.0, power_default_limit_w=400.0, power_min_limit_w=100.0, temperature_c=31.0,
        slowdown_temperature_c=92.0, performance_state="P0", utilization_gpu_pct=0.0, clock_event_reasons=reasons,
        persistence_mode=True, compute_mode="Default", virtualization_mode="None", mig_mode=False,
        mig_instances=None, ecc_mode=True, ecc_uncorrectable_volatile=0, ecc_uncorrectable_aggregate=2,
        retired_pages=0, retired_pages_pending=False, remapped_rows_pending=False, remapped_rows_failure=False,
        source="nvml",
    )


# ------------------------------------------------------------------ snapshot scenarios


def test_healthy_two_gpu_machine(use):
    fake = use(fake_pynvml(healthy_two_gpus()))
    snap = gateway.snapshot(2.0)
    assert snap == expected_snapshot([
        expected_a100(0, "00000000:07:00.0", A100_UUIDS[0]),
        expected_a100(1, "00000000:0F:00.0", A100_UUIDS[1], power_mw=312456, reasons=0x4),
    ])
    assert json.loads(json.dumps(snap)) == snap  # JSON-able as it is
    # one session: init first, shutdown last, exactly once each
    names = [c[0] for c in fake.calls]
    assert names[0] == "nvmlInit" and names[-1] == "nvmlShutdown"
    assert names.count("nvmlInit") == names.count("nvmlShutdown") == 1
    # the GPU's own PCIe maximum is asked, not the link's (see the gateway's comment)
    assert "nvmlDeviceGetMaxPcieLinkGeneration" not in names

    assert probe.parse_snapshot(snap) == NvidiaReport(
        source="nvml", driver_version="550.54.14", cuda_version="12.4", nvml_version="12.550.54.14",
        gpus=(a100_facts("0000:07:00.0", A100_UUIDS[0]),
              a100_facts("0000:0f:00.0", A100_UUIDS[1], power_w=312.46, reasons=("sw_power_cap",))),
    )


@pytest.mark.parametrize("name, kind, failure, text", [
    ("LibraryNotFound", "library-not-found", "library-not-found",
     "Failed to initialize NVML: NVML Shared Library Not Found"),
    ("DriverNotLoaded", "driver-not-loaded", "driver-not-loaded", "Failed to initialize NVML: Driver Not Loaded"),
    # F03: the words users search, not pynvml's "RM has detected an NVML/RM version mismatch."
    ("LibRmVersionMismatch", "library-mismatch", "library-mismatch",
     "Failed to initialize NVML: Driver/library version mismatch"),
    ("FunctionNotFound", "function-not-found", "function-not-found", "Failed to initialize NVML: Function Not Found"),
    # F24: a container that lost its device cgroup after systemctl daemon-reload
    ("Unknown", "unknown", "unknown-error", "Failed to initialize NVML: Unknown Error"),
    ("NoPermission", "no-permission", "insufficient-permissions", "Failed to initialize NVML: Insufficient Permissions"),
    ("CorruptedInforom", "unknown", "unknown-error", "Failed to initialize NVML: Corrupted infoROM"),
])
def test_init_failure(use, name, kind, failure, text):
    exc = err(name)
    fake = use(fake_pynvml(healthy_two_gpus(), init=exc))
    snap = gateway.snapshot(2.0)
    assert snap == failed_init(kind, str(exc), exc.value)
    assert [c[0] for c in fake.calls] == ["nvmlInit"]  # nothing else asked, no shutdown of a failed init
    assert probe.parse_snapshot(snap) == NvidiaReport(source="nvml", failure=failure, failure_text=text)


def test_init_raising_a_non_nvml_exception_is_unknown(use):
    use(fake_pynvml([], init=OSError("libnvidia-ml.so.1: cannot open shared object file")))
    assert gateway.snapshot(2.0) == failed_init("unknown", "libnvidia-ml.so.1: cannot open shared object file", None)


def test_gpu_lost_midway_stops_that_gpu_only(use):
    # F17, nvbugreport-3x-rtx-4070-xid79-fallen-off-bus: the first GPU falls off the bus
    # while it is being read; the second is read in full.
    lost = datacenter_gpu("00000000:0A:00.0", A100_UUIDS[0])
    lost["nvmlDeviceGetPowerUsage"] = err("GpuIsLost")
    fake = use(fake_pynvml([lost, datacenter_gpu("00000000:0B:00.0", A100_UUIDS[1])]))
    snap = gateway.snapshot(2.0)

    partial = expected_a100(0, "00000000:0A:00.0", A100_UUIDS[0], errors={"power_usage_mw": "gpu-lost"})
    after = list(gateway.GPU_FIELDS)[list(gateway.GPU_FIELDS).index("power_usage_mw"):]
    partial.update({f: None for f in after})
    assert snap == expected_snapshot([partial, expected_a100(1, "00000000:0B:00.0", A100_UUIDS[1])])
    # nothing more was asked of the lost GPU after it was lost
    asked_of_0 = [c[0] for c in fake.calls if len(c) > 1 and c[1] == 0 and c[0].startswith("nvmlDeviceGet")]
    assert asked_of_0[-1] == "nvmlDeviceGetPowerUsage"

    report = probe.parse_snapshot(snap)
    assert report.failure == "gpu-lost"
    assert report.failure_text == "Unable to determine the device handle for GPU0000:0A:00.0: GPU is lost"
    assert report.gpus[0] == GpuFacts(
        pci_bus_id="0000:0a:00.0", name="NVIDIA A100-SXM4-80GB", uuid=A100_UUIDS[0], memory_total_mib=81920,
        memory_used_mib=4, compute_capability="8.0", pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=16,
        pcie_width_max=16, source="nvml")
    assert report.gpus[1] == a100_facts("0000:0b:00.0", A100_UUIDS[1])


def test_gpu_whose_handle_cannot_be_had(use):
    # xid79 sample: nvidia-smi -q aborts with "Unable to determine the device handle for
    # GPU0000:0F:00.0: Unknown Error"; NVML says the same for that index only.
    use(fake_pynvml(healthy_two_gpus(), handles={1: err("Unknown")}))
    snap = gateway.snapshot(2.0)
    missing = {f: None for f in gateway.GPU_FIELDS}
    missing.update(index=1, errors={"handle": "unknown"})
    assert snap == expected_snapshot([expected_a100(0, "00000000:07:00.0", A100_UUIDS[0]), missing])
    report = probe.parse_snapshot(snap)
    assert (report.failure, report.failure_text) == (
        "gpu-lost", "Unable to determine the device handle for GPU at index 1: Unknown Error")
    assert report.gpus[1] == GpuFacts(pci_bus_id=None, source="nvml")


def test_gpu_handle_refused_for_permissions_is_not_a_lost_gpu(use):
    use(fake_pynvml(healthy_two_gpus(), handles={0: err("NoPermission")}))
    report = probe.parse_snapshot(gateway.snapshot(2.0))
    assert (report.failure, report.failure_text) == (
        "insufficient-permissions", "Unable to determine the device handle for GPU at index 0: Insufficient Permissions")


def test_not_supported_fields_are_null_and_listed(use):
    use(fake_pynvml([geforce_gpu()], driver="595.71.05", nvml_version="13.595.71.05", cuda=13020))
    snap = gateway.snapshot(2.0)
    not_supported = ["mig_mode_current", "ecc_mode_current", "ecc_uncorrectable_volatile",
                     "ecc_uncorrectable_aggregate", "retired_pages_dbe", "retired_pages_pending",
                     "remapped_rows_pending", "remapped_rows_failure"]
    assert snap == expected_snapshot([{
        "index": 0, "pci_bus_id": "00000000:01:00.0", "name": "NVIDIA GeForce RTX 4080 SUPER",
        "uuid": "GPU-5a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b",
        "memory_total_bytes": 16376 * MIB, "memory_used_bytes": 596 * MIB, "compute_capability": [8, 9],
        "pcie_gen_current": 1, "pcie_gen_max": 4, "pcie_width_current": 16, "pcie_width_max": 16,
        "power_usage_mw": 27740, "power_limit_enforced_mw": 320000, "power_limit_default_mw": 320000,
        "power_limit_min_mw": 150000,
        "temperature_c": 43, "slowdown_temperature_c": 96, "clock_event_reasons_mask": 1,
        "persistence_mode": False, "compute_mode": 0, "driver_model_current": None, "virtualization_mode": 0,
        "mig_mode_current": None, "mig_instances": None, "ecc_mode_current": None,
        "ecc_uncorrectable_volatile": None, "ecc_uncorrectable_aggregate": None, "retired_pages_dbe": None,
        "retired_pages_pending": None, "remapped_rows_pending": None, "remapped_rows_failure": None,
        "performance_state": 8, "utilization_gpu_pct": 0,
        "errors": {f: "not-supported" for f in not_supported},
    }], driver="595.71.05", nvml_version="13.595.71.05", cuda=13020)

    assert probe.parse_snapshot(snap) == NvidiaReport(
        source="nvml", driver_version="595.71.05", cuda_version="13.2", nvml_version="13.595.71.05",
        gpus=(GpuFacts(
            pci_bus_id="0000:01:00.0", name="NVIDIA GeForce RTX 4080 SUPER",
            uuid="GPU-5a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b", memory_total_mib=16376, memory_used_mib=596,
            compute_capability="8.9", pcie_gen_current=1, pcie_gen_max=4, pcie_width_current=16,
            pcie_width_max=16, power_draw_w=27.74, power_limit_w=320.0, power_default_limit_w=320.0, power_min_limit_w=150.0,
            temperature_c=43.0, slowdown_temperature_c=96.0, performance_state="P8", utilization_gpu_pct=0.0,
            clock_event_reasons=("gpu_idle",), persistence_mode=False, compute_mode="Default",
            virtualization_mode="None", source="nvml"),),
    )


def test_system_fields_that_fail_are_listed(use):
    # Old drivers lack nvmlSystemGetCudaDriverVersion_v2 and the binding falls back to v1;
    # a driver lacking both leaves the CUDA version unknown, and says why.
    fake = fake_pynvml([geforce_gpu()], cuda=err("FunctionNotFound"))
    fake.nvmlSystemGetNVMLVersion = lambda: (_ for _ in ()).throw(err("NoPermission"))
    use(fake)
    snap = gateway.snapshot(2.0)
    assert snap["cuda_driver_version"] is None and snap["nvml_version"] is None
    assert snap["errors"] == {"cuda_driver_version": "function-not-found", "nvml_version": "no-permission"}
    calls = [c[0] for c in fake.calls]
    assert "nvmlSystemGetCudaDriverVersion_v2" in calls and "nvmlSystemGetCudaDriverVersion" in calls
    assert probe.parse_snapshot(snap).cuda_version is None


def test_device_count_failure(use):
    use(fake_pynvml([], count=err("Unknown")))
    snap = gateway.snapshot(2.0)
    assert snap == expected_snapshot([], errors={"device_count": "unknown"})
    report = probe.parse_snapshot(snap)
    assert (report.failure, report.failure_text) == ("unknown-error", "Unable to get the number of GPUs: Unknown Error")


def test_no_devices(use):
    use(fake_pynvml([]))
    snap = gateway.snapshot(2.0)
    assert snap == expected_snapshot([])
    assert probe.parse_snapshot(snap) == NvidiaReport(
        source="nvml", driver_version="550.54.14", cuda_version="12.4", nvml_version="12.550.54.14",
        failure="no-devices", failure_text="No devices were found")


def test_bytes_and_str_give_the_same_snapshot(use):
    # pynvml < 11.0 returns bytes for every string; nvmlPciInfo_t.busId is a char array.
    use(fake_pynvml(healthy_two_gpus()))
    as_str = gateway.snapshot(2.0)
    use(fake_pynvml(healthy_two_gpus(), as_bytes=True))
    as_bytes = gateway.snapshot(2.0)
    assert as_bytes == as_str
    assert isinstance(as_bytes["gpus"][0]["name"], str) and isinstance(as_bytes["driver_version"], str)


def test_old_binding_falls_back_to_older_functions(use):
    # nvidia-ml-py before 11.515 has no GpuMax; before 12.535 no ClocksEvent names.
    gpus = healthy_two_gpus()
    for gpu in gpus:
        gpu["nvmlDeviceGetCurrentClocksThrottleReasons"] = gpu.pop("nvmlDeviceGetCurrentClocksEventReasons")
        gpu["nvmlDeviceGetMaxPcieLinkGeneration"] = 3  # the link's max: a Gen3 slot
    use(fake_pynvml(gpus, omit=(
        "nvmlDeviceGetGpuMaxPcieLinkGeneration", "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlSystemGetCudaDriverVersion_v2")))
    snap = gateway.snapshot(2.0)
    assert [g["pcie_gen_max"] for g in snap["gpus"]] == [3, 3]
    assert [g["clock_event_reasons_mask"] for g in snap["gpus"]] == [0x1, 0x4]
    assert snap["cuda_driver_version"] == 12040
    assert all(g["errors"] == {} for g in snap["gpus"])


def test_driver_without_gpu_max_pcie_falls_back(use):
    # The binding has the function, the driver does not (R470): FUNCTION_NOT_FOUND.
    gpus = healthy_two_gpus()
    for gpu in gpus:
        gpu["nvmlDeviceGetGpuMaxPcieLinkGeneration"] = err("FunctionNotFound")
        gpu["nvmlDeviceGetMaxPcieLinkGeneration"] = 3
    use(fake_pynvml(gpus))
    snap = gateway.snapshot(2.0)
    assert [(g["pcie_gen_max"], g["errors"]) for g in snap["gpus"]] == [(3, {}), (3, {})]


def test_removed_temperature_call_falls_back_to_temperature_v(use):
    gpu = geforce_gpu()
    gpu["nvmlDeviceGetTemperature"] = err("FunctionNotFound")
    gpu["nvmlDeviceGetTemperatureV"] = {0: 44}
    use(fake_pynvml([gpu]))
    g = gateway.snapshot(2.0)["gpus"][0]
    assert (g["temperature_c"], "temperature_c" in g["errors"]) == (44, False)


def test_windows_driver_model(use, monkeypatch):
    # netdata-rtx-2080-windows-wddm; a Tesla/Quadro in TCC answers 1 (NVML_DRIVER_WDM).
    gpus = [geforce_gpu(), geforce_gpu()]
    gpus[0]["nvmlDeviceGetDriverModel"] = [0, 0]
    gpus[1]["nvmlDeviceGetDriverModel"] = err("FunctionNotFound")  # driver without the _v2 symbol
    gpus[1]["nvmlDeviceGetDriverModel_v1"] = [1, 1]
    use(fake_pynvml(gpus))
    with monkeypatch.context() as m:
        m.setattr(sys, "platform", "win32")
        snap = gateway.snapshot(2.0)
    assert [g["driver_model_current"] for g in snap["gpus"]] == [0, 1]
    assert [g.driver_model for g in probe.parse_snapshot(snap).gpus] == ["WDDM", "TCC"]


def test_mig_instances_counted_when_mig_is_on(use):
    # exporter-h100-80gb-mig-vm: 3g.40gb + 2g.20gb + 2x 1g.10gb = 4 MIG devices of 7 slots
    gpu = datacenter_gpu("00000000:00:09.0", A100_UUIDS[0])
    gpu["nvmlDeviceGetMigMode"] = [1, 1]
    gpu["nvmlDeviceGetMaxMigDeviceCount"] = 7
    gpu["nvmlDeviceGetMigDeviceHandleByIndex"] = lambda slot: Handle(100 + slot) if slot < 4 else (_ for _ in ()).throw(err("NotFound"))
    use(fake_pynvml([gpu]))
    snap = gateway.snapshot(2.0)
    assert (snap["gpus"][0]["mig_mode_current"], snap["gpus"][0]["mig_instances"]) == (True, 4)
    facts = probe.parse_snapshot(snap).gpus[0]
    assert (facts.mig_mode, facts.mig_instances) == (True, 4)


def test_mig_count_failure_is_listed(use):
    gpu = datacenter_gpu("00000000:00:09.0", A100_UUIDS[0])
    gpu["nvmlDeviceGetMigMode"] = [1, 0]
    gpu["nvmlDeviceGetMaxMigDeviceCount"] = err("NoPermission")
    use(fake_pynvml([gpu]))
    g = gateway.snapshot(2.0)["gpus"][0]
    assert (g["mig_mode_current"], g["mig_instances"], g["errors"]) == (True, None, {"mig_instances": "no-permission"})


def test_a_field_raising_anything_else_is_unknown(use):
    gpu = geforce_gpu()
    gpu["nvmlDeviceGetMemoryInfo"] = TypeError("a binding that changed its structs")
    gpu["nvmlDeviceGetPowerUsage"] = err("InsufficientPower")
    use(fake_pynvml([gpu]))
    g = gateway.snapshot(2.0)["gpus"][0]
    assert (g["memory_total_bytes"], g["memory_used_bytes"], g["power_usage_mw"]) == (None, None, None)
    assert g["errors"]["memory_total_bytes"] == g["errors"]["memory_used_bytes"] == "unknown"
    assert g["errors"]["power_usage_mw"] == "insufficient-power"
    assert g["name"] == "NVIDIA GeForce RTX 4080 SUPER"  # the rest is still read


def test_every_snapshot_gpu_has_every_field(use):
    use(fake_pynvml([geforce_gpu(), datacenter_gpu("00000000:02:00.0", A100_UUIDS[0])]))
    for g in gateway.snapshot(2.0)["gpus"]:
        assert list(g) == [*gateway.GPU_FIELDS, "errors"]
        assert set(g["errors"].values()) <= set(nvml_errors.KINDS)
        assert all(g[f] is None for f in g["errors"])


# ------------------------------------------------------------------ hangs


def test_init_that_hangs_times_out_within_the_bound(use):
    release = threading.Event()
    use(fake_pynvml(healthy_two_gpus(), init=lambda: release.wait(30)))
    try:
        start = time.monotonic()
        snap = gateway.snapshot(0.3)
        elapsed = time.monotonic() - start
    finally:
        release.set()  # let the abandoned daemon thread finish
    assert 0.25 <= elapsed < 1.5
    assert snap == failed_init("timeout", "NVML did not answer within 0.3 s (stuck in nvmlInit)", None)
    assert probe.parse_snapshot(snap) == NvidiaReport(
        source="nvml", failure="timeout", failure_text="NVML did not answer within 0.3 s (stuck in nvmlInit)")


def test_gpu_that_hangs_keeps_what_was_read_before(use):
    # A GPU falling off the bus can block an NVML call for minutes (F17).
    release = threading.Event()
    gpus = healthy_two_gpus()
    gpus[1]["nvmlDeviceGetTemperature"] = lambda sensor: release.wait(30)
    use(fake_pynvml(gpus))
    try:
        snap = gateway.snapshot(0.5)
    finally:
        release.set()
    assert snap["init"] == {"ok": False, "error": "timeout", "code": None,
                            "message": "NVML did not answer within 0.5 s (stuck in nvmlDeviceGetTemperature (GPU 1))"}
    assert snap["driver_version"] == "550.54.14"
    assert snap["gpus"] == [expected_a100(0, "00000000:07:00.0", A100_UUIDS[0])]
    report = probe.parse_snapshot(snap)
    assert report.failure == "timeout" and len(report.gpus) == 1


# ------------------------------------------------------------------ the host seam


def test_binding_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    snap = gateway.snapshot(2.0)
    assert snap["init"]["ok"] is False and snap["init"]["error"] == "binding-not-installed"
    host = LiveHost()
    assert host.nvml() is None  # NVML was not asked: the probe reads nvidia-smi instead
    assert probe.collect(host) is None


def test_live_host_asks_nvml_once_and_hands_out_copies(use):
    fake = use(fake_pynvml(healthy_two_gpus()))
    host = LiveHost()
    first = host.nvml()
    first["gpus"].clear()  # a caller that mutates its answer harms nobody else
    second = host.nvml()
    assert len(second["gpus"]) == 2
    assert [c[0] for c in fake.calls].count("nvmlInit") == 1
    assert probe.collect(host) == probe.parse_snapshot(second)


def test_live_host_on_this_machine_does_not_crash():
    """No fake: the real binding on the machine running the tests."""
    snap = LiveHost().nvml()
    if snap is None:
        pytest.skip("nvidia-ml-py is not installed here")
    assert snap["schema"] == "dlkit.nvml/1"
    if snap["init"]["ok"]:
        assert isinstance(snap["gpus"], list)  # a machine with a working driver
    else:
        # no GPU driver here: libnvidia-ml is absent, or installed with no module loaded
        assert snap["init"]["error"] in ("library-not-found", "driver-not-loaded")
        assert snap["gpus"] == []
        report = probe.collect(LiveHost())
        assert report.failure == snap["init"]["error"] and report.failure_text.startswith("Failed to initialize NVML: ")


@pytest.mark.parametrize("dest", ["capture", "capture.tar.gz"])
def test_round_trip_live_record_write_load_replay(tmp_path, dest):
    live = LiveHost().nvml()
    recorder = RecordingHost(LiveHost())
    recorded = recorder.nvml()
    assert recorded == live
    cap = recorder.to_capture(None)
    write_capture(cap, str(tmp_path / dest))
    replayed = ReplayHost(load_capture(str(tmp_path / dest))).nvml()
    assert replayed == live
    if live is not None:
        assert (tmp_path / dest).exists()
        assert probe.collect(ReplayHost(load_capture(str(tmp_path / dest)))) == probe.parse_snapshot(live)


def test_round_trip_of_a_two_gpu_machine_with_redaction(use, tmp_path):
    use(fake_pynvml(healthy_two_gpus()))
    recorder = RecordingHost(LiveHost())
    live = recorder.nvml()
    write_capture(recorder.to_capture(None), str(tmp_path / "plain"))
    assert ReplayHost(load_capture(str(tmp_path / "plain"))).nvml() == live
    assert json.loads((tmp_path / "plain" / "nvml.json").read_text()) == live

    write_capture(recorder.to_capture(Redactor([])), str(tmp_path / "redacted"))
    redacted = ReplayHost(load_capture(str(tmp_path / "redacted"))).nvml()
    # UUIDs are replaced consistently; bus ids and versions survive for the checks
    assert [g["uuid"] for g in redacted["gpus"]] == [
        "GPU-00000000-0000-0000-0000-000000000001", "GPU-00000000-0000-0000-0000-000000000002"]
    for g in redacted["gpus"] + live["gpus"]:
        g["uuid"] = None
    assert redacted == live


def test_capture_without_nvml_json_replays_none():
    host = ReplayHost(Capture(manifest={"format": "dlkit-capture", "version": 1, "platform": "linux"}))
    assert host.nvml() is None
    assert probe.collect(host) is None
    assert Host().nvml() is None  # the seam's default: NVML not asked


def test_recording_host_without_nvml_writes_no_nvml_json(tmp_path):
    recorder = RecordingHost(LiveHost())
    write_capture(recorder.to_capture(None), str(tmp_path / "cap"))
    assert not (tmp_path / "cap" / "nvml.json").exists()


# ------------------------------------------------------------------ the pure parser


@pytest.mark.parametrize("snap", [
    None, [], "nvml", 7, {}, {"gpus": "x"}, {"gpus": [None, 3, "a"]}, {"init": "bad"}, {"init": {"ok": "no"}},
    {"init": None, "errors": [], "gpus": None}, {"cuda_driver_version": "12040", "driver_version": 550},
])
def test_parse_snapshot_tolerates_garbage(snap):
    report = probe.parse_snapshot(snap)
    assert report.source == "nvml"
    assert report.driver_version is None and report.cuda_version is None


def test_parse_snapshot_wrong_types_become_none():
    g = probe.parse_snapshot({"init": {"ok": True}, "gpus": [{
        "index": "0", "pci_bus_id": 5, "name": ["x"], "memory_total_bytes": "lots", "compute_capability": "8.6",
        "power_usage_mw": True, "temperature_c": "hot", "clock_event_reasons_mask": -1, "persistence_mode": "yes",
        "compute_mode": 9, "performance_state": 32, "mig_mode_current": 2, "mig_instances": 3,
        "ecc_uncorrectable_volatile": 1.5, "errors": "none"}]}).gpus[0]
    assert g == GpuFacts(pci_bus_id=None, source="nvml")


def test_parse_snapshot_hand_made_without_init():
    # A converter that only knows the GPU list: taken as an answer, not as a failure.
    report = probe.parse_snapshot({"driver_version": "535.104.05", "cuda_driver_version": 12020.0,
                                   "gpus": [{"pci_bus_id": "0000:41:00.0", "name": "NVIDIA RTX A6000",
                                             "memory_total_bytes": 51527024640}]})
    assert report == NvidiaReport(source="nvml", driver_version="535.104.05", cuda_version="12.2",
                                  gpus=(GpuFacts(pci_bus_id="0000:41:00.0", name="NVIDIA RTX A6000",
                                                 memory_total_mib=49140, source="nvml"),))


def _mutations(value, path=()):
    """Every leaf of a snapshot, to be replaced by values of the wrong type."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _mutations(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _mutations(v, path + (i,))
    yield path


def test_parse_snapshot_never_raises_on_any_single_corruption(use):
    use(fake_pynvml(healthy_two_gpus()))
    snap = gateway.snapshot(2.0)
    for path in _mutations(snap):
        for bad in (None, "x", -1, 1.5, True, [], {}, [1, 2, 3], 2**70):
            broken = copy.deepcopy(snap)
            if not path:
                broken = bad
            else:
                parent = broken
                for key in path[:-1]:
                    parent = parent[key]
                parent[path[-1]] = bad
            assert isinstance(probe.parse_snapshot(broken), NvidiaReport), path


def test_clock_event_reason_bits_match_pynvml():
    pynvml = pytest.importorskip("pynvml")
    names = {"gpu_idle": "GpuIdle", "applications_clocks_setting": "ApplicationsClocksSetting",
             "sw_power_cap": "SwPowerCap", "hw_slowdown": "HwSlowdown", "sync_boost": "SyncBoost",
             "sw_thermal_slowdown": "SwThermalSlowdown", "hw_thermal_slowdown": "HwThermalSlowdown",
             "hw_power_brake_slowdown": "HwPowerBrakeSlowdown", "display_clocks_setting": "DisplayClockSetting"}
    for bit, name in probe.CLOCK_EVENT_REASONS:
        for prefix in ("nvmlClocksEventReason", "nvmlClocksThrottleReason"):
            constant = getattr(pynvml, prefix + names[name], None)
            if constant is not None:
                assert constant == bit, (prefix, name)


def test_error_codes_match_pynvml():
    pynvml = pytest.importorskip("pynvml")
    for cls_name, kind in nvml_errors._KIND_BY_CLASS.items():
        cls = getattr(pynvml, cls_name)
        exc = cls()  # pynvml's subclasses take no arguments
        assert nvml_errors.error_kind(exc) == kind, cls_name
        assert nvml_errors._KIND_BY_CODE[exc.value] == kind


def test_the_fake_matches_the_real_binding():
    """Every function the gateway or the fake uses exists in the installed nvidia-ml-py."""
    pynvml = pytest.importorskip("pynvml")
    used = set(DEVICE_FUNCTIONS) | {
        "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion", "nvmlSystemGetNVMLVersion",
        "nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion", "nvmlDeviceGetCount",
        "nvmlDeviceGetHandleByIndex"}
    assert sorted(n for n in used if not hasattr(pynvml, n)) == []
    for name in gateway._CONST:
        assert getattr(pynvml, name) == gateway._CONST[name]


def test_doctests():
    result = doctest.testmod(importlib.import_module("dlkit.probes.nvml"))
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ a real GPU


def _nvml_works() -> bool:
    """pynvml.nvmlInit() succeeds here, asked in a thread so that a hung driver skips."""
    answer: list[bool] = []

    def ask() -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            pynvml.nvmlShutdown()
            answer.append(True)
        except Exception:
            answer.append(False)

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(10.0)
    return answer == [True]


@pytest.mark.gpu
def test_real_gpu_snapshot():
    if not _nvml_works():
        pytest.skip("pynvml.nvmlInit() fails here: no NVIDIA driver")
    snap = gateway.snapshot(gateway.DEFAULT_TIMEOUT_S)
    assert snap["init"] == {"ok": True, "error": None, "message": None, "code": None}
    assert snap["driver_version"] and snap["gpus"]
    report = probe.parse_snapshot(snap)
    for raw, g in zip(snap["gpus"], report.gpus):
        assert list(raw) == [*gateway.GPU_FIELDS, "errors"]
        assert g.name and g.memory_total_mib and g.compute_capability
        assert g.pci_bus_id == probe.normalize_bus_id(raw["pci_bus_id"]) == g.pci_bus_id.lower()
    assert json.loads(json.dumps(snap)) == snap
