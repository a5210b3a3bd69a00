"""Facts: what the probes found, immutable, with units in the names.

A value that could not be found is ``None``, never a made-up default, and the group's
``unknown`` map says why ("unknown, because ..."). ``Facts.to_json`` is the ``facts``
object of the doctor report (spec §2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CpuFacts:
    model: str | None = None
    vendor: str | None = None
    architecture: str | None = None  # x86_64 | aarch64 | ...
    sockets: int | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    base_mhz: float | None = None
    max_mhz: float | None = None
    isa: tuple[str, ...] = ()  # the flags that matter for deep learning, as the kernel names them
    hypervisor: bool | None = None
    fp32_flops_per_cycle_per_core: int | None = None
    fp32_peak_gflops: float | None = None  # estimate: physical cores x max clock x FLOPs/cycle
    fp32_peak_basis: str | None = None
    source: str | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryFacts:
    total_mib: int | None = None
    available_mib: int | None = None
    swap_total_mib: int | None = None
    source: str | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OsFacts:
    platform: str | None = None  # linux | windows | darwin
    distro_id: str | None = None
    distro_name: str | None = None
    distro_version: str | None = None
    distro_family: str | None = None  # debian | rhel | arch | suse | None
    kernel: str | None = None
    wsl: bool | None = None
    container: str | None = None  # docker | podman | kubernetes | lxc | containerd | None
    virtual_machine: str | None = None  # hypervisor or VM product, None on bare metal
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PciDevice:
    bus_id: str  # 0000:01:00.0, as sysfs names it
    vendor_id: str | None = None  # 0x10de
    device_id: str | None = None
    class_code: str | None = None  # 0x030000
    driver: str | None = None  # bound kernel driver (the `driver` symlink's name)
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    numa_node: int | None = None
    pci_name: str | None = None  # the device's name in this machine's pci.ids ("AD102 [GeForce RTX 4090]")

    @property
    def vendor(self) -> str | None:
        return {"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel"}.get(self.vendor_id or "")

    @property
    def is_gpu(self) -> bool:
        # 0x03xxxx display controllers; 0x1200 processing accelerators (some datacenter parts)
        cls = self.class_code or ""
        return cls.startswith("0x03") or cls.startswith("0x1200")


@dataclass(frozen=True)
class PciFacts:
    devices: tuple[PciDevice, ...] = ()  # GPU-class devices only
    devices_seen: int | None = None  # all PCI functions listed
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KernelFacts:
    modules_available: bool = False  # /proc/modules could be read
    loaded: tuple[str, ...] = ()  # GPU-related modules that are loaded
    module_versions: dict[str, str] = field(default_factory=dict)
    cmdline: str | None = None
    modprobe_dirs: tuple[str, ...] = ()  # modprobe.d directories that could be listed
    modprobe_files: tuple[str, ...] = ()  # modprobe.d files that were read
    nouveau_blacklist: tuple[str, ...] = ()  # "file: line" that keep nouveau away
    unknown: dict[str, str] = field(default_factory=dict)

    def is_loaded(self, name: str) -> bool:
        return name in self.loaded


@dataclass(frozen=True)
class NvidiaDriverFacts:
    version: str | None = None  # the driver ("550.54.14"): user space when it answered, else the module
    cuda_version: str | None = None  # highest CUDA the driver supports ("12.4")
    nvml_version: str | None = None  # user-space NVML library ("12.550.54.14")
    module_version: str | None = None  # loaded kernel module (/proc/driver/nvidia/version)
    userspace_version: str | None = None  # what NVML / nvidia-smi report
    module_versions: dict[str, str] = field(default_factory=dict)  # /sys/module/nvidia*/version
    probed_gpus: tuple[str, ...] = ()  # bus ids in /proc/driver/nvidia/gpus
    failure: str | None = None  # NvidiaReport.failure of the best source
    failure_text: str | None = None
    source: str | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuFacts:
    """One GPU. PCI facts come from sysfs; the rest from NVML or nvidia-smi.

    Check by hand: ``nvidia-smi -q -i <bus id>``.
    """

    pci_bus_id: str | None  # sysfs form, lower case: "0000:01:00.0"
    vendor: str = "nvidia"
    name: str | None = None
    uuid: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    compute_capability: str | None = None  # "8.6"
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    pcie_source: str | None = None  # where the link values came from: "sysfs", "nvml", "nvidia-smi -q", ...
    power_draw_w: float | None = None
    power_limit_w: float | None = None  # the enforced limit
    power_default_limit_w: float | None = None
    power_min_limit_w: float | None = None  # the lowest power limit the board accepts
    temperature_c: float | None = None
    slowdown_temperature_c: float | None = None
    performance_state: str | None = None  # "P0".."P12"
    utilization_gpu_pct: float | None = None
    # active clock-event (throttle) reasons, snake_case as in nvidia-smi's XML:
    # sw_power_cap, hw_slowdown, hw_thermal_slowdown, hw_power_brake_slowdown, sw_thermal_slowdown, ...
    clock_event_reasons: tuple[str, ...] | None = None
    persistence_mode: bool | None = None
    compute_mode: str | None = None  # "Default", "Exclusive_Process", "Prohibited"
    driver_model: str | None = None  # Windows: "WDDM" | "TCC"
    virtualization_mode: str | None = None  # "None", "VGPU", "Pass-Through", ...
    mig_mode: bool | None = None  # current MIG mode enabled
    mig_instances: int | None = None  # GPU instances configured (None when not reported)
    ecc_mode: bool | None = None
    ecc_uncorrectable_volatile: int | None = None
    ecc_uncorrectable_aggregate: int | None = None
    retired_pages: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    kernel_driver: str | None = None
    numa_node: int | None = None
    source: str | None = None
    # The PCI identity ("0x10de", "0x2684"), from sysfs or nvidia-smi's "Device Id": with no
    # driver (or a driver that prints "Graphics Device") it is what names the GPU.
    pci_vendor_id: str | None = None
    pci_device_id: str | None = None
    pci_name: str | None = None  # this machine's pci.ids name for that id


@dataclass(frozen=True)
class NvidiaReport:
    """What one source (NVML, ``nvidia-smi -q -x``, ``-q``, the default table, ``-L``) says.

    ``failure`` is a stable kind when the source answered with a known failure:
    driver-not-loaded | library-mismatch | library-not-found | no-devices | gpu-lost |
    insufficient-permissions | unknown-error | timeout | not-found; ``failure_text`` is
    the exact message the user would search for.
    """

    source: str  # "nvml" | "nvidia-smi -q -x" | "nvidia-smi -q" | "nvidia-smi" | "nvidia-smi -L"
    driver_version: str | None = None
    cuda_version: str | None = None
    nvml_version: str | None = None
    gpus: tuple[GpuFacts, ...] = ()
    failure: str | None = None
    failure_text: str | None = None


@dataclass(frozen=True)
class CudaToolkit:
    version: str | None  # "12.8" (major.minor; full_version keeps the patch)
    full_version: str | None = None
    path: str | None = None  # /usr/local/cuda-12.8
    source: str | None = None  # "nvcc --version" | "/usr/local/cuda-12.8/version.json" | ...
    on_path: bool = False  # this is the nvcc that PATH finds


@dataclass(frozen=True)
class CudnnInstall:
    version: str | None  # "9.1.0"
    source: str  # header path, library path or "pip nvidia-cudnn-cu12"


@dataclass(frozen=True)
class CudaFacts:
    toolkits: tuple[CudaToolkit, ...] = ()
    cuda_home: str | None = None  # CUDA_HOME / CUDA_PATH
    gcc_version: str | None = None  # host compiler that nvcc would use
    cudnn: tuple[CudnnInstall, ...] = ()
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class XidEvent:
    xid: int
    pci_bus_id: str | None
    line: str  # the kernel log line, as printed
    boot: str  # "current" | "previous"


@dataclass(frozen=True)
class KernelLogFacts:
    xids: tuple[XidEvent, ...] = ()
    nvrm_messages: tuple[str, ...] = ()  # NVRM lines worth showing (API mismatch, probe not called, ...)
    nouveau_messages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # what was read: "dmesg", "journalctl -b -1", "/var/log/kern.log"
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformSecurityFacts:
    secure_boot: bool | None = None
    secure_boot_source: str | None = None  # "mokutil --sb-state" | EFI variable path
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DkmsFacts:
    """``dkms status`` for the NVIDIA module (failure-modes.md F10)."""

    nvidia_for_running_kernel: bool | None = None  # None: unknown, or DKMS does not manage nvidia
    kernel: str | None = None
    lines: tuple[str, ...] = ()
    why: str | None = None


@dataclass(frozen=True)
class TorchFacts:
    version: str | None = None  # "2.5.1+cu124"
    cuda: str | None = None  # torch.version.cuda, None for CPU/ROCm builds
    hip: str | None = None  # torch.version.hip
    cuda_available: bool | None = None
    device_count: int | None = None
    arch_list: tuple[str, ...] | None = None  # torch.cuda.get_arch_list()
    cudnn_version: int | None = None  # torch.backends.cudnn.version(), e.g. 90100
    error: str | None = None  # exception or warning text at CUDA init
    libraries: tuple[str, ...] = ()  # libcudnn / libcudart actually mapped (/proc/self/maps)


@dataclass(frozen=True)
class PythonFacts:
    executable: str | None = None
    chosen_by: str | None = None  # "--python" | "VIRTUAL_ENV" | "CONDA_PREFIX" | "PATH" | "import"
    python_version: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    torch: TorchFacts | None = None  # None when torch is not installed (or unknown: see unknown)
    tensorflow: dict[str, Any] | None = None
    jax: dict[str, Any] | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvFacts:
    cuda_visible_devices: str | None = None
    nvidia_visible_devices: str | None = None
    ld_library_path: str | None = None


@dataclass(frozen=True)
class GpuPart:
    """Catalog data for one GPU (planned, or probed and found in the catalog), in facts.gpus order."""

    catalog_name: str | None = None  # None: not in the catalog
    board_power_w: float | None = None
    slot_width: float | None = None
    cooler: str | None = None  # axial | blower | flow-through | passive
    power_connectors: str | None = None  # "2x8pin", "1x16pin", ...
    pcie_width: int | None = None  # electrical width the card wants
    spike_factor: float | None = None  # ms-scale transient peak / board power, where measured
    min_system_power_w: float | None = None  # the GPU maker's required system power (one-GPU PC)
    min_power_limit_w: float | None = None  # the reference board's lowest power limit (catalog)
    arch: str | None = None  # "Ada Lovelace"
    cc: str | None = None  # compute capability from the catalog or NVIDIA's family list
    identified_by: str | None = None  # "name", "PCI id 10de:2684", "pci.ids", "family rule"


@dataclass(frozen=True)
class LaneWiring:
    """The CPU platform's PCIe wiring (from the catalog's platforms table)."""

    platform: str
    gpu_slot_lanes: int | None  # CPU lanes wired to graphics slots; None: unknown
    splits: tuple[tuple[int, ...], ...] = ()  # the splits boards make; (): any split of gpu_slot_lanes
    chipset_uplink_gen: int | None = None
    chipset_uplink_width: int | None = None
    chipset_slot_width: int | None = None
    source: str = ""


@dataclass(frozen=True)
class BuildFacts:
    """What no probe can see (the PSU, the wall circuit, the board's slots) and catalog data
    for the parts, so the power, lane, slot and cooling checks judge a planned machine and a
    probed one alike (architecture.md, "one model, two sources")."""

    origin: str | None = None  # "plan" | "probed"
    psu_w: float | None = None
    psu_atx: int | None = None  # 2 | 3; None: not declared
    psu_8pin: int | None = None  # connectors of the declared or chosen PSU tier
    psu_16pin: int | None = None
    psu_unavailable: str | None = None  # a planner found no PSU big enough: why (shown by power.budget-exceeded)
    circuit: str | None = None  # "US 15 A / 120 V"
    circuit_continuous_w: float | None = None
    board_slots: int | None = None
    cpu_catalog_name: str | None = None
    cpu_tdp_w: float | None = None  # Intel base power / AMD TDP (a fact beside the package power)
    cpu_package_w: float | None = None  # sustained package power: the PSU formula's CPU term
    cpu_power_basis: str | None = None  # "Intel Maximum Turbo Power (PL2)", "AMD PPT", "--cpu-watts", ...
    gpu_w_declared: float | None = None  # --gpu-watts: power of a GPU neither probed nor in the catalog
    cpu_lanes_usable: int | None = None  # per socket
    lane_wiring: LaneWiring | None = None  # how the platform wires those lanes to slots
    gpus: tuple[GpuPart, ...] = ()
    assumptions: tuple[str, ...] = ()  # what was assumed, said to the user
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    created: str | None  # when the facts were taken (ISO-8601 UTC)
    dlkit_version: str


@dataclass(frozen=True)
class Facts:
    run: RunFacts
    cpu: CpuFacts = CpuFacts()
    memory: MemoryFacts = MemoryFacts()
    os: OsFacts = OsFacts()
    pci: PciFacts = PciFacts()
    kernel: KernelFacts = KernelFacts()
    nvidia_driver: NvidiaDriverFacts = NvidiaDriverFacts()
    gpus: tuple[GpuFacts, ...] = ()  # NVIDIA only, sorted by PCI bus id
    other_gpus: tuple[GpuFacts, ...] = ()
    cuda: CudaFacts = CudaFacts()
    kernel_log: KernelLogFacts = KernelLogFacts()
    security: PlatformSecurityFacts = PlatformSecurityFacts()
    dkms: DkmsFacts = DkmsFacts()
    env: EnvFacts = EnvFacts()
    python: PythonFacts = PythonFacts()
    build: BuildFacts = BuildFacts()

    def to_json(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
