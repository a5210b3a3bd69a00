"""nvidia-smi's text outputs: ``-q`` (what nvidia-bug-report logs hold), the default
table, and ``-L``.

Check by hand: ``nvidia-smi -q``, ``nvidia-smi``, ``nvidia-smi -L``. Labels drift between
drivers ("Ecc Mode"/"ECC Mode", "Gpu"/"GPU", "Clocks Throttle Reasons"/"Clocks Event
Reasons", "Power Readings"/"GPU Power Readings"), so keys match case-insensitively and each
fact lists the labels that have carried it. A known failure message instead of the output
becomes the report's ``failure``; other text yields an empty report and raises nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from dlkit.facts import GpuFacts, NvidiaReport
from dlkit.probes.nvsmi_common import (BUS_ID_RE, any_flag, classify_failure, clean, compute_capability, flag,
                                       integer, find_bus_id, number, pci_ids, snake, sum_counts, version)

QUERY_SOURCE = "nvidia-smi -q"
TABLE_SOURCE = "nvidia-smi"
LIST_SOURCE = "nvidia-smi -L"

# "Key      : value"; the key is padded, so the first " :" after it ends it (a value may
# hold colons: "Name : C:\\Windows\\explorer.exe"). Section headers have no " :".
# Found with a search for the first " :" (linear: a regex with a lazy key and \s+ before the
# colon backtracks quadratically on a line of spaces).
_KV_SEP = re.compile(r"\s:(?=\s|$)")
# nvidia-bug-report puts the next command's output right after ``nvidia-smi -q``'s, behind
# its command line ("/usr/bin/nvidia-smi --query --unit"); what follows is not this GPU list.
_NEXT_COMMAND = re.compile(r"^/\S*nvidia-smi(\s|$)")
_BANNER = re.compile(r"=+\s*NVSMI LOG\s*=+")

# -q labels of clock-event reasons -> the XML tag names (GpuFacts.clock_event_reasons).
_REASONS = {
    "idle": "gpu_idle", "applications clocks setting": "applications_clocks_setting",
    "sw power cap": "sw_power_cap", "hw slowdown": "hw_slowdown", "hw thermal slowdown": "hw_thermal_slowdown",
    "hw power brake slowdown": "hw_power_brake_slowdown", "sync boost": "sync_boost",
    "sw thermal slowdown": "sw_thermal_slowdown", "display clock setting": "display_clocks_setting",
}


def _report(source: str, failure: tuple[str, str] | None, **kwargs) -> NvidiaReport:
    return NvidiaReport(source=source, failure=failure[0] if failure else None,
                        failure_text=failure[1] if failure else None, **kwargs)


# --------------------------------------------------------------------------- nvidia-smi -q

@dataclass
class _Node:
    key: str
    value: str | None = None
    indent: int = -1
    children: list[_Node] = field(default_factory=list)

    def find(self, *path: str) -> _Node | None:
        node: _Node | None = self
        for key in path:
            node = next((c for c in node.children if c.key.lower() == key.lower()), None)
            if node is None:
                return None
        return node

    def get(self, *path: str) -> str | None:
        node = self.find(*path)
        return node.value if node is not None else None

    def first(self, *keys: str, skip_na: bool = False) -> str | None:
        """The first of ``keys`` present anywhere below (depth first: 610 nests the ceiling
        limit); with ``skip_na`` the first that holds a value (see nvsmi_xml._first)."""
        for key in keys:
            stack = list(reversed(self.children))
            while stack:
                node = stack.pop()
                if node.key.lower() == key.lower() and (not skip_na or clean(node.value) is not None):
                    return node.value
                stack.extend(reversed(node.children))
        return None


def _tree(text: str) -> tuple[_Node, list[str]]:
    """Indented ``-q`` text -> a tree of (key, value) nodes, and the lines that are neither."""
    root = _Node("")
    stack = [root]
    loose: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r").expandtabs(4)
        if _NEXT_COMMAND.match(line):
            break
        body = line.strip()
        if not body or _BANNER.fullmatch(body):
            continue
        indent = len(line) - len(line.lstrip(" "))
        m = _KV_SEP.search(body)
        if m and body[:m.start()].strip():
            node = _Node(body[:m.start()].strip(), body[m.end():].strip(), indent)
        else:  # a section header, or a line that is not -q output (a failure message)
            node = _Node(body, None, indent)
            loose.append(body)
        while stack[-1] is not root and stack[-1].indent >= indent:
            stack.pop()
        stack[-1].children.append(node)
        stack.append(node)
    return root, loose


def _query_reasons(gpu: _Node) -> tuple[str, ...] | None:
    block = gpu.find("Clocks Event Reasons") or gpu.find("Clocks Throttle Reasons")
    if block is None or not block.children:  # absent, or "N/A" on a vGPU guest
        return None
    states: dict[str, bool | None] = {}
    stack = list(reversed(block.children))  # "HW Thermal Slowdown" sits under "HW Slowdown"
    while stack:
        node = stack.pop()
        states[_REASONS.get(node.key.lower(), snake(node.key))] = flag(node.value)
        stack.extend(reversed(node.children))
    if all(v is None for v in states.values()):
        return None
    return tuple(name for name, active in states.items() if active)


def _query_ecc(block: _Node | None) -> int | None:
    if block is None:
        return None
    old = integer(block.get("Double Bit", "Total"))
    if old is not None:
        return old
    return sum_counts([integer(block.get(k)) for k in (
        "DRAM Uncorrectable", "SRAM Uncorrectable", "SRAM Uncorrectable Parity", "SRAM Uncorrectable SEC-DED")])


def _query_gpu(gpu: _Node, header_bus: str) -> GpuFacts:
    none = _Node("")  # a section the driver did not print answers None for every key
    link = gpu.find("PCI", "GPU Link Info") or none
    power = gpu.find("GPU Power Readings") or gpu.find("Power Readings") or none
    mig_mode = flag(gpu.get("MIG Mode", "Current"))
    instances = None
    if mig_mode:
        devices = [c for c in gpu.children if c.key.lower() == "mig device"]
        ids = {d.get("GPU Instance ID") for d in devices}
        instances = len(ids) if None not in ids else len(devices)
    retired = gpu.find("Retired Pages") or none
    remap = gpu.find("Remapped Rows") or none
    vendor_id, device_id = pci_ids(gpu.get("PCI", "Device Id"))
    return GpuFacts(
        pci_vendor_id=vendor_id, pci_device_id=device_id,
        pci_bus_id=find_bus_id(gpu.get("PCI", "Bus Id") or header_bus),
        name=clean(gpu.get("Product Name")),
        uuid=clean(gpu.get("GPU UUID")),
        memory_total_mib=integer(gpu.get("FB Memory Usage", "Total")),
        memory_used_mib=integer(gpu.get("FB Memory Usage", "Used")),
        compute_capability=compute_capability(gpu.get("CUDA Compute Capability") or gpu.get("Compute Capability")),
        pcie_gen_current=integer(link.get("PCIe Generation", "Current")),
        pcie_gen_max=integer(link.get("PCIe Generation", "Max")),
        pcie_width_current=integer(link.get("Link Width", "Current")),
        pcie_width_max=integer(link.get("Link Width", "Max")),
        power_draw_w=number(power.first("Power Draw", "Instantaneous Power Draw", "Average Power Draw", skip_na=True)),
        # Enforced limit: "Enforced Power Limit" (<= 530), "Current Power Limit" (535+, under
        # "GPU Ceiling Power Limit" in 610), the oldest drivers only "Power Limit".
        power_limit_w=number(power.first("Enforced Power Limit", "Current Power Limit", "Power Limit")),
        power_default_limit_w=number(power.first("Default Power Limit")),
        power_min_limit_w=number(power.first("Min Power Limit", skip_na=True)),
        temperature_c=number(gpu.get("Temperature", "GPU Current Temp")),
        slowdown_temperature_c=number(gpu.get("Temperature", "GPU Slowdown Temp")),
        performance_state=clean(gpu.get("Performance State")),
        utilization_gpu_pct=number(gpu.get("Utilization", "GPU")),
        clock_event_reasons=_query_reasons(gpu),
        persistence_mode=flag(gpu.get("Persistence Mode")),
        compute_mode=clean(gpu.get("Compute Mode")),
        driver_model=clean(gpu.get("Driver Model", "Current")),
        virtualization_mode=clean(gpu.get("GPU Virtualization Mode", "Virtualization Mode")),
        mig_mode=mig_mode,
        mig_instances=instances,
        ecc_mode=flag(gpu.get("ECC Mode", "Current")),
        ecc_uncorrectable_volatile=_query_ecc(gpu.find("ECC Errors", "Volatile")),
        ecc_uncorrectable_aggregate=_query_ecc(gpu.find("ECC Errors", "Aggregate")),
        retired_pages=sum_counts([integer(retired.get("Single Bit ECC")), integer(retired.get("Double Bit ECC"))]),
        retired_pages_pending=any_flag([flag(retired.get("Pending")), flag(retired.get("Pending Page Blacklist"))]),
        remapped_rows_pending=flag(remap.get("Pending")),
        remapped_rows_failure=flag(remap.get("Remapping Failure Occurred")),
        source=QUERY_SOURCE,
    )


def parse_query(text: str | None) -> NvidiaReport:
    """``nvidia-smi -q`` text -> the driver and its GPUs.

    >>> sample = '''
    ... ==============NVSMI LOG==============
    ...
    ... Timestamp                                 : Tue Mar  5 10:12:31 2024
    ... Driver Version                            : 550.54.14
    ... CUDA Version                              : 12.4
    ...
    ... Attached GPUs                             : 1
    ... GPU 00000000:0A:00.0
    ...     Product Name                          : NVIDIA GeForce RTX 3090
    ...     Persistence Mode                      : Disabled
    ...     PCI
    ...         Bus Id                            : 00000000:0A:00.0
    ...         GPU Link Info
    ...             PCIe Generation
    ...                 Max                       : 4
    ...                 Current                   : 1
    ...             Link Width
    ...                 Max                       : 16x
    ...                 Current                   : 8x
    ...     Clocks Event Reasons
    ...         Idle                              : Active
    ...         HW Slowdown                       : Not Active
    ...             HW Thermal Slowdown           : Not Active
    ...     FB Memory Usage
    ...         Total                             : 24576 MiB
    ...     GPU Power Readings
    ...         Power Draw                        : 31.07 W
    ...         Current Power Limit               : 350.00 W
    ...         Default Power Limit               : 350.00 W
    ... '''
    >>> r = parse_query(sample)
    >>> r.driver_version, r.cuda_version, r.failure
    ('550.54.14', '12.4', None)
    >>> g = r.gpus[0]
    >>> g.pci_bus_id, g.pcie_gen_max, g.pcie_width_current, g.memory_total_mib, g.power_limit_w
    ('0000:0a:00.0', 4, 8, 24576, 350.0)
    >>> g.clock_event_reasons, g.persistence_mode
    (('gpu_idle',), False)
    >>> parse_query("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system.").failure
    'library-not-found'
    """
    root, loose = _tree(text or "")
    gpus = []
    for node in root.children:
        m = re.fullmatch(r"GPU\s+(" + BUS_ID_RE.pattern + r")", node.key)
        if m:
            gpus.append(_query_gpu(node, m.group(1)))
    return _report(
        QUERY_SOURCE, classify_failure("\n".join(loose)),
        # 610 marks "Driver Version"/"CUDA Version" deprecated in favour of these two.
        driver_version=version(root.get("KMD Version")) or version(root.get("Driver Version")),
        cuda_version=version(root.get("CUDA UMD Version")) or version(root.get("CUDA Version")),
        gpus=tuple(gpus),
    )


# --------------------------------------------------------------------------- nvidia-smi

_COMPUTE_MODES = {"default": "Default", "e. process": "Exclusive_Process", "e. thread": "Exclusive_Thread",
                  "prohibited": "Prohibited"}


def _table_row(cells: list[str]) -> GpuFacts | None:
    """First line of a GPU's block: "   0  NVIDIA L40S   On  |   00000000:8D:00.0 Off |   0 |"."""
    if len(cells) < 2:
        return None
    m = re.fullmatch(r"\s*(\d+)\s+(.*?)\s+(On|Off|WDDM|TCC|N/A)\s*", cells[0])
    bus = re.fullmatch(r"\s*(" + BUS_ID_RE.pattern + r")\s*(?:On|Off|N/A)?\s*", cells[1])
    if not m or not bus:
        return None
    mode = m.group(3)
    ecc = cells[2].strip() if len(cells) > 2 else ""
    return GpuFacts(
        pci_bus_id=find_bus_id(bus.group(1)),
        name=clean(m.group(2)),  # as printed: long names are cut to "NVIDIA GeForce RTX 2080 ..."
        persistence_mode=flag(mode),
        driver_model=mode if mode in ("WDDM", "TCC") else None,
        # "Volatile Uncorr. ECC": a count, "Off" when ECC is disabled, N/A without ECC.
        ecc_mode=True if ecc.isdecimal() else flag(ecc),
        ecc_uncorrectable_volatile=int(ecc) if ecc.isdecimal() else None,
        source=TABLE_SOURCE,
    )


def _table_stats(gpu: GpuFacts, cells: list[str]) -> GpuFacts:
    """Second line: "| N/A   39C    P0   104W /  325W |   803MiB /  46068MiB |   0%   Default |"."""
    first = cells[0] if cells else ""
    temp = re.search(r"(\d+)C\b", first)
    perf = re.search(r"\b(P\d{1,2})\b", first)
    power = re.search(r"(\d+(?:\.\d+)?W|N/A|ERR!)\s*/\s*(\d+(?:\.\d+)?W|N/A|ERR!)", first)
    memory = re.search(r"(\d+)MiB\s*/\s*(\d+)MiB", cells[1]) if len(cells) > 1 else None
    util = re.search(r"(\d+)%", cells[2]) if len(cells) > 2 else None
    mode = re.search(r"(Default|E\. Process|E\. Thread|Prohibited)\s*$", cells[2].strip()) if len(cells) > 2 else None
    return replace(
        gpu,
        temperature_c=float(temp.group(1)) if temp else None,
        performance_state=perf.group(1) if perf else None,
        power_draw_w=number(power.group(1)) if power else None,
        power_limit_w=number(power.group(2)) if power else None,  # "Cap": the enforced limit
        memory_used_mib=int(memory.group(1)) if memory else None,
        memory_total_mib=int(memory.group(2)) if memory else None,
        utilization_gpu_pct=float(util.group(1)) if util else None,
        compute_mode=_COMPUTE_MODES.get(mode.group(1).lower()) if mode else None,
    )


def parse_table(text: str | None) -> NvidiaReport:
    """The default ``nvidia-smi`` table -> driver, CUDA and one GPU per block.

    Also reads a bare "Driver Version: 430.26" line (what an importer keeps from a
    collect_env text) and the 610 header ("KMD Version: ... CUDA UMD Version: ...").

    >>> sample = '''
    ... +-----------------------------------------------------------------------------------------+
    ... | NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
    ... |-----------------------------------------+------------------------+----------------------+
    ... | GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
    ... | Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
    ... |                                         |                        |               MIG M. |
    ... |=========================================+========================+======================|
    ... |   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0 Off |                  Off |
    ... |  0%   35C    P8             33W /  450W |       1MiB /  24564MiB |      0%      Default |
    ... |                                         |                        |                  N/A |
    ... +-----------------------------------------+------------------------+----------------------+
    ... '''
    >>> r = parse_table(sample)
    >>> r.driver_version, r.cuda_version, r.gpus[0].name, r.gpus[0].pci_bus_id
    ('550.54.14', '12.4', 'NVIDIA GeForce RTX 4090', '0000:01:00.0')
    >>> g = r.gpus[0]
    >>> g.memory_total_mib, g.power_draw_w, g.power_limit_w, g.performance_state, g.persistence_mode, g.mig_mode
    (24564, 33.0, 450.0, 'P8', False, None)
    >>> parse_table("Driver Version: 430.26").driver_version
    '430.26'
    """
    text = text or ""
    drv = re.search(r"(?:KMD|Driver) Version\s*:\s*(\S+)", text, re.IGNORECASE)
    cuda = re.search(r"CUDA (?:UMD )?Version\s*:\s*(\S+)", text, re.IGNORECASE)
    gpus: list[GpuFacts] = []
    loose: list[str] = []
    current: GpuFacts | None = None
    row = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith(("|", "+")):
            loose.append(line)
            continue
        if line.startswith("+") or line.startswith("|=") or line.startswith("|-"):
            current = None  # a rule ends a GPU's block
            continue
        cells = line.strip("|").split("|")
        new = _table_row(cells)
        if new is not None:
            current, row = new, 0
            gpus.append(new)
        elif current is not None:
            row += 1
            if row == 1:
                current = _table_stats(current, cells)
            elif row == 2 and len(cells) > 2:  # 450+: "MIG M." under the compute mode
                current = replace(current, mig_mode=flag(cells[2]))
            gpus[-1] = current
    return _report(TABLE_SOURCE, classify_failure("\n".join(loose)),
                   driver_version=version(drv.group(1)) if drv else None,
                   cuda_version=version(cuda.group(1)) if cuda else None, gpus=tuple(gpus))


# --------------------------------------------------------------------------- nvidia-smi -L

_LIST_GPU = re.compile(r"GPU\s+(\d+):\s*(.*?)\s*(?:\((UUID|S/N):\s*([^)]*)\))?\s*")
_LIST_MIG = re.compile(r"MIG\s+\S+\s+Device\s+\d+:.*")


def parse_list(text: str | None) -> NvidiaReport:
    """``nvidia-smi -L`` -> GPU names and UUIDs, in nvidia-smi's (PCI) order; no bus ids.

    MIG lines below a GPU count toward its ``mig_instances`` (one per MIG device listed).

    >>> r = parse_list('''GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-3c1f0a52-0000-0000-0000-5a8e2e1f9b11)
    ...   MIG 3g.40gb     Device  0: (UUID: MIG-0e1d2c3b-0000-0000-0000-4a5b6c7d8e9f)
    ...   MIG 3g.40gb     Device  1: (UUID: MIG-7f6e5d4c-0000-0000-0000-3b2a19081726)
    ... GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-9b8a7c6d-0000-0000-0000-1f2e3d4c5b6a)''')
    >>> [(g.name, g.mig_mode, g.mig_instances) for g in r.gpus]
    [('NVIDIA A100-SXM4-80GB', True, 2), ('NVIDIA A100-SXM4-80GB', None, None)]
    >>> parse_list("No devices were found").failure
    'no-devices'
    """
    gpus: list[GpuFacts] = []
    loose: list[str] = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        gpu = _LIST_GPU.fullmatch(line)
        if gpu:
            uuid = gpu.group(4) if gpu.group(3) == "UUID" else None
            gpus.append(GpuFacts(pci_bus_id=None, name=clean(gpu.group(2)), uuid=clean(uuid), source=LIST_SOURCE))
        elif _LIST_MIG.fullmatch(line) and gpus:
            gpus[-1] = replace(gpus[-1], mig_mode=True, mig_instances=(gpus[-1].mig_instances or 0) + 1)
        elif line:
            loose.append(line)
    return _report(LIST_SOURCE, classify_failure("\n".join(loose)), gpus=tuple(gpus))
