"""nvidia-smi parsers (probes/nvsmi*.py): every corpus file they can read, then scenarios.

The corpus is read at run time from ../shared/corpus (never copied here); the hand-written
samples below are short, made-up outputs in nvidia-smi's formats.
"""

from __future__ import annotations

import dataclasses
import doctest
import json

import pytest
from conftest import CORPUS, fake_host

from dlkit.host import CommandResult, Host, ReplayHost, load_capture
from dlkit.probes import nvsmi, nvsmi_common, nvsmi_text, nvsmi_xml
from dlkit.probes.nvsmi import classify_failure, parse_list, parse_query, parse_table, parse_xml


# --------------------------------------------------------------------------- corpus

def _files(*patterns: str) -> list[tuple[str, str]]:
    """(sample, file name) for raw files matching ``patterns`` in samples with expected.json."""
    if not CORPUS.is_dir():
        return []
    found = {(p.parent.name, p.name) for pattern in patterns for p in CORPUS.glob(f"*/{pattern}")
             if (p.parent / "expected.json").is_file()}
    return sorted(found)


XML_FILES = _files("nvidia-smi_-q_-x.xml", "nvidia-smi_-q_-x.*.xml")
QUERY_FILES = _files("nvidia-smi_-q.txt", "nvidia-smi_-q.*.txt")
TABLE_FILES = _files("nvidia-smi.txt", "nvidia-smi.*.txt")
LIST_FILES = _files("nvidia-smi_-L.txt", "nvidia-smi_-L.*.txt")

# Keys a source does not print. The capture's value for them comes from another file
# (lspci / sysfs for PCIe links, /proc/driver/nvidia/version for the driver, nvidia-smi -q
# for what -L omits), so they are not this parser's to reproduce.
NOT_PRINTED = {
    "nvidia-smi": ("pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max"),
    "nvidia-smi -L": ("memory_total_mib", "pcie_gen_current", "pcie_gen_max", "pcie_width_current",
                      "pcie_width_max", "power_limit_w", "nvidia_driver.version", "nvidia_driver.cuda_version"),
}
# Facts that change with load. expected.json describes the variant raw2capture keeps (the
# idle one, or the file without a variant); a ".load" capture of the same machine is held
# to everything else. (Idle GPUs drop their link generation to save power: pcie.md.)
LOAD_DEPENDENT = ("pcie_gen_current",)


def _facts(report) -> dict:
    gpus = [dataclasses.asdict(g) for g in report.gpus]
    if gpus and all(g["pci_bus_id"] for g in gpus):
        gpus.sort(key=lambda g: g["pci_bus_id"])  # facts.gpus is sorted by bus id (spec §2)
    return {"gpus": gpus, "nvidia_driver": {"version": report.driver_version, "cuda_version": report.cuda_version}}


def _lookup(tree, path: str):
    node = tree
    for part in path.split("."):
        if isinstance(node, list):
            if part == "count":
                node = len(node)
            elif part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False, None
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def _matches(expected, found: bool, actual) -> bool:
    """eval_corpus.py's rule: numbers exactly, strings case-insensitively after trimming."""
    if expected is None:
        return actual is None
    if not found:
        return False
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and actual == expected
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return False
        want, got = expected.strip().lower(), actual.strip().lower()
        # The table cuts long names: "NVIDIA GeForce RTX 2080 ..." stands for "... SUPER".
        return want == got or (got.endswith("...") and want.startswith(got[:-3].rstrip()))
    return actual == expected


def _expected(sample: str) -> dict:
    return json.loads((CORPUS / sample / "expected.json").read_text())["facts"]


def _check(report, sample: str, variant_is_load: bool = False) -> list[str]:
    """Mismatches between ``report`` and the sample's gpus.* / nvidia_driver.* facts."""
    skip = NOT_PRINTED.get(report.source, ()) + (LOAD_DEPENDENT if variant_is_load else ())
    facts, wrong = _facts(report), []
    for path, want in _expected(sample).items():
        if not path.startswith(("gpus.", "nvidia_driver.")) or any(path.endswith("." + k) or path == k for k in skip):
            continue
        found, got = _lookup(facts, path)
        if not _matches(want, found, got):
            wrong.append(f"{path}: expected {want!r}, got {got!r}")
    return wrong


def _parse_corpus(parse, sample: str, name: str):
    text = (CORPUS / sample / name).read_text(encoding="utf-8", errors="replace")
    report = parse(text)
    if report.failure and not report.gpus:
        # nvidia-smi printed its failure line instead of a GPU list (Xid 79 risers, missing
        # libnvidia-ml.so): the sample's GPU and driver facts come from lspci and /proc.
        assert report.failure in ("gpu-lost", "library-not-found"), report
        pytest.skip(f"{name} is nvidia-smi's {report.failure} message; facts come from other files")
    return report


@pytest.mark.parametrize("sample,name", XML_FILES, ids=[f"{s}/{n}" for s, n in XML_FILES])
def test_xml_corpus(sample, name):
    report = _parse_corpus(parse_xml, sample, name)
    assert report.source == "nvidia-smi -q -x" and report.gpus
    assert _check(report, sample, ".load." in name) == []


@pytest.mark.parametrize("sample,name", QUERY_FILES, ids=[f"{s}/{n}" for s, n in QUERY_FILES])
def test_query_corpus(sample, name):
    report = _parse_corpus(parse_query, sample, name)
    assert report.source == "nvidia-smi -q" and report.gpus
    assert _check(report, sample, ".load." in name) == []


@pytest.mark.parametrize("sample,name", TABLE_FILES, ids=[f"{s}/{n}" for s, n in TABLE_FILES])
def test_table_corpus(sample, name):
    report = _parse_corpus(parse_table, sample, name)
    assert report.source == "nvidia-smi" and report.gpus
    assert _check(report, sample, ".load." in name) == []


@pytest.mark.parametrize("sample,name", LIST_FILES, ids=[f"{s}/{n}" for s, n in LIST_FILES])
def test_list_corpus(sample, name):
    report = _parse_corpus(parse_list, sample, name)
    assert report.source == "nvidia-smi -L" and report.gpus
    assert all(g.pci_bus_id is None for g in report.gpus)  # -L prints none; probes/nvidia pairs by order
    assert _check(report, sample) == []


CAPTURE_SAMPLES = sorted({s for s, _ in XML_FILES + QUERY_FILES + TABLE_FILES + LIST_FILES
                          if json.loads((CORPUS / s / "expected.json").read_text()).get("input") == "capture"})


@pytest.mark.parametrize("sample", CAPTURE_SAMPLES)
def test_collect_on_corpus_capture(sample, corpus_capture):
    """Replayed through raw2capture: collect picks the spec's first source and its facts hold."""
    report = nvsmi.collect(ReplayHost(load_capture(str(corpus_capture(sample)))))
    files = {n for s, n in XML_FILES + QUERY_FILES + TABLE_FILES + LIST_FILES if s == sample}
    if report.failure and not report.gpus:
        assert report.failure in ("gpu-lost", "library-not-found"), report
        assert report.failure_text and report.source == "nvidia-smi -q"
        return
    first = next(src for src, pat in (("nvidia-smi -q -x", "nvidia-smi_-q_-x"), ("nvidia-smi -q", "nvidia-smi_-q."),
                                      ("nvidia-smi", "nvidia-smi."), ("nvidia-smi -L", "nvidia-smi_-L"))
                 if any(n.startswith(pat) for n in files))
    assert report.source == first
    assert _check(report, sample) == []


# The two samples where nvidia-smi itself failed: the exact line users search for.

def test_xid79_risers_nvidia_smi_unknown_error_is_gpu_lost(corpus_file):
    report = parse_query(corpus_file("nvbugreport-3x-rtx-4070-xid79-fallen-off-bus", "nvidia-smi_-q.txt"))
    assert (report.failure, report.failure_text) == (
        "gpu-lost", "Unable to determine the device handle for GPU0000:0F:00.0: Unknown Error")
    # The driver version further down belongs to `nvidia-smi --query --unit`, not to -q.
    assert report.gpus == () and report.driver_version is None


def test_laptop_without_libnvidia_ml_is_library_not_found(corpus_file):
    report = parse_query(corpus_file("nvbugreport-quadro-p3200-laptop-nvml-lib-missing", "nvidia-smi_-q.txt"))
    assert report.failure == "library-not-found"
    assert report.failure_text.startswith("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system.")


def test_corpus_mig_instances_agree_across_sources(corpus_file):
    xml = parse_xml(corpus_file("telegraf-a100-sxm4-80gb-mig-4-instances", "nvidia-smi_-q_-x.xml")).gpus[0]
    assert (xml.mig_mode, xml.mig_instances) == (True, 4)
    sample = "exporter-h100-80gb-mig-vm"
    for report in (parse_query(corpus_file(sample, "nvidia-smi_-q.idle.txt")),
                   parse_list(corpus_file(sample, "nvidia-smi_-L.txt"))):
        assert (report.gpus[0].mig_mode, report.gpus[0].mig_instances) == (True, 4), report.source
    assert parse_table(corpus_file(sample, "nvidia-smi.idle.txt")).gpus[0].mig_mode is True


def test_corpus_power_capped_vm_keeps_enforced_and_default_apart(corpus_file):
    gpu = parse_xml(corpus_file("telegraf-rtx-3090-vm-power-capped-200w", "nvidia-smi_-q_-x.xml")).gpus[0]
    assert (gpu.power_limit_w, gpu.power_default_limit_w) == (200.0, 350.0)


def test_corpus_vgpu_guest_reports_na_as_none(corpus_file):
    gpu = parse_xml(corpus_file("telegraf-grid-p4-1q-vgpu-windows", "nvidia-smi_-q_-x.xml")).gpus[0]
    assert (gpu.virtualization_mode, gpu.driver_model) == ("VGPU", "WDDM")
    assert gpu.power_limit_w is gpu.pcie_width_current is gpu.persistence_mode is gpu.clock_event_reasons is None


def test_corpus_driver_610_header(corpus_file):
    sample = "exporter-rtx-2080-super-windows-610-new-header"
    for report in (parse_query(corpus_file(sample, "nvidia-smi_-q.idle.txt")),
                   parse_table(corpus_file(sample, "nvidia-smi.idle.txt"))):
        assert (report.driver_version, report.cuda_version) == ("610.62", "13.3"), report.source
    gpu = parse_query(corpus_file(sample, "nvidia-smi_-q.idle.txt")).gpus[0]
    # 610 nests the limits under "GPU Ceiling Power Limit"; Windows prints N/A persistence.
    assert (gpu.power_limit_w, gpu.power_default_limit_w, gpu.persistence_mode) == (250.0, 250.0, None)


def test_corpus_driver_418_graphics_device_name_and_no_mig_tags(corpus_file):
    gpu = parse_xml(corpus_file("telegraf-gtx-1660-ti-driver-418-unknown-name", "nvidia-smi_-q_-x.xml")).gpus[0]
    assert gpu.name == "Graphics Device" and gpu.mig_mode is None and gpu.mig_instances is None


def test_corpus_throttle_reasons_old_and_new_names(corpus_file):
    old = parse_query(corpus_file("nvbugreport-2x-rtx-a6000-hot-under-load", "nvidia-smi_-q.txt"))
    assert [g.clock_event_reasons for g in old.gpus] == [("sw_power_cap",), ("sw_power_cap",)]
    new = parse_xml(corpus_file("telegraf-rtx-3090-driver-590", "nvidia-smi_-q_-x.xml"))
    assert new.gpus[0].clock_event_reasons == ("sw_power_cap",)


# --------------------------------------------------------------------------- failure texts

FAILURE_TEXTS = [
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
     "latest NVIDIA driver is installed and running.", "driver-not-loaded"),
    ("Failed to initialize NVML: Driver/library version mismatch", "library-mismatch"),
    ("Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 570.124", "library-mismatch"),
    ("NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA "
     "Display Driver is properly installed and present in your system.", "library-not-found"),
    ("NVML library not found", "library-not-found"),
    ("No devices were found", "no-devices"),
    ("Unable to determine the device handle for GPU 0000:41:00.0: Unknown Error", "gpu-lost"),
    ("Unable to determine the device handle for gpu 0000:02:00.0: GPU is lost.  Reboot the system to recover "
     "this GPU", "gpu-lost"),
    ("Failed to initialize NVML: Insufficient Permissions", "insufficient-permissions"),
    ("Unable to determine the device handle for GPU 0000:01:00.0: Insufficient Permissions",
     "insufficient-permissions"),
    ("Failed to initialize NVML: Unknown Error", "unknown-error"),
]


@pytest.mark.parametrize("text,kind", FAILURE_TEXTS, ids=[k + "-" + str(i) for i, (_, k) in enumerate(FAILURE_TEXTS)])
def test_failure_text_is_classified_by_every_parser(text, kind):
    assert classify_failure(text) == (kind, text.splitlines()[0].strip())
    for parse in (parse_xml, parse_query, parse_table, parse_list):
        report = parse(text + "\n")
        assert (report.failure, report.failure_text, report.gpus) == (kind, text.splitlines()[0].strip(), ()), parse


def test_failure_classification_ignores_ordinary_output():
    assert classify_failure("") is None and classify_failure(None) is None
    # A lost fan reads "Unknown Error" inside a healthy -q answer: a value, not a failure.
    report = parse_query(QUERY_SAMPLE.replace("Fan Speed                             : 30 %",
                                              "Fan Speed                             : Unknown Error"))
    assert report.failure is None and len(report.gpus) == 1


# --------------------------------------------------------------------------- hand samples

QUERY_SAMPLE = """
==============NVSMI LOG==============

Timestamp                                 : Mon Jan 13 09:41:02 2025
Driver Version                            : 550.120
CUDA Version                              : 12.4

Attached GPUs                             : 1
GPU 00000000:41:00.0
    Product Name                          : NVIDIA A40
    Persistence Mode                      : N/A
    MIG Mode
        Current                           : Disabled
        Pending                           : Disabled
    Driver Model
        Current                           : TCC
        Pending                           : TCC
    GPU UUID                              : GPU-5d0c44a1-0000-0000-0000-1c2b3a4d5e6f
    GPU Virtualization Mode
        Virtualization Mode               : None
    PCI
        Bus Id                            : 00000000:41:00.0
        GPU Link Info
            PCIe Generation
                Max                       : 4
                Current                   : 4
            Link Width
                Max                       : 16x
                Current                   : 16x
    Fan Speed                             : 30 %
    Performance State                     : P0
    Clocks Event Reasons
        Idle                              : Not Active
        SW Power Cap                      : Active
        HW Slowdown                       : Not Active
            HW Thermal Slowdown           : Active
            HW Power Brake Slowdown       : Not Active
    FB Memory Usage
        Total                             : 46068 MiB
        Used                              : 40110 MiB
    Compute Mode                          : Exclusive_Process
    Utilization
        Gpu                               : 99 %
    ECC Mode
        Current                           : Enabled
        Pending                           : Enabled
    ECC Errors
        Volatile
            SRAM Correctable              : 0
            SRAM Uncorrectable            : 1
            DRAM Correctable              : 12
            DRAM Uncorrectable            : 2
        Aggregate
            SRAM Correctable              : 0
            SRAM Uncorrectable            : 1
            DRAM Correctable              : 40
            DRAM Uncorrectable            : 5
    Retired Pages
        Single Bit ECC                    : N/A
        Double Bit ECC                    : N/A
        Pending Page Blacklist            : N/A
    Remapped Rows
        Correctable Error                 : 3
        Uncorrectable Error               : 2
        Pending                           : Yes
        Remapping Failure Occurred        : No
    Temperature
        GPU Current Temp                  : 86 C
        GPU Slowdown Temp                 : 92 C
    GPU Power Readings
        Power Draw                        : 296.41 W
        Current Power Limit               : 300.00 W
        Requested Power Limit             : 300.00 W
        Default Power Limit               : 300.00 W
    Processes
        GPU instance ID                   : N/A
        Compute instance ID               : N/A
        Process ID                        : 4242
            Type                          : C
            Name                          : C:\\Python311\\python.exe
            Used GPU Memory               : 40000 MiB
"""


def test_query_reads_every_field():
    report = parse_query(QUERY_SAMPLE)
    assert (report.source, report.driver_version, report.cuda_version, report.failure) == (
        "nvidia-smi -q", "550.120", "12.4", None)
    (g,) = report.gpus
    assert (g.pci_bus_id, g.name, g.uuid) == ("0000:41:00.0", "NVIDIA A40", "GPU-5d0c44a1-0000-0000-0000-1c2b3a4d5e6f")
    assert (g.pcie_gen_current, g.pcie_gen_max, g.pcie_width_current, g.pcie_width_max) == (4, 4, 16, 16)
    assert (g.memory_total_mib, g.memory_used_mib, g.utilization_gpu_pct) == (46068, 40110, 99.0)
    assert (g.power_draw_w, g.power_limit_w, g.power_default_limit_w) == (296.41, 300.0, 300.0)
    assert (g.temperature_c, g.slowdown_temperature_c, g.performance_state) == (86.0, 92.0, "P0")
    assert g.clock_event_reasons == ("sw_power_cap", "hw_thermal_slowdown")
    assert (g.persistence_mode, g.driver_model, g.compute_mode, g.virtualization_mode) == (
        None, "TCC", "Exclusive_Process", "None")
    assert (g.mig_mode, g.mig_instances) == (False, None)
    # Uncorrectable = DRAM + SRAM; retired pages N/A (the A40 remaps rows instead).
    assert (g.ecc_mode, g.ecc_uncorrectable_volatile, g.ecc_uncorrectable_aggregate) == (True, 3, 6)
    assert (g.retired_pages, g.retired_pages_pending) == (None, None)
    assert (g.remapped_rows_pending, g.remapped_rows_failure) == (True, False)
    assert g.compute_capability is None and g.source == "nvidia-smi -q"


OLD_QUERY = """==============NVSMI LOG==============

Timestamp                           : Thu Jun  1 08:00:00 2017
Driver Version                      : 375.66

Attached GPUs                       : 1
GPU 0000:02:00.0
    Product Name                    : Tesla K80
    Persistence Mode                : Enabled
    PCI
        Bus Id                      : 0000:02:00.0
        GPU Link Info
            PCIe Generation
                Max                 : 3
                Current             : 3
            Link Width
                Max                 : 16x
                Current             : 16x
    Clocks Throttle Reasons
        Idle                        : Active
        Applications Clocks Setting : Not Active
        SW Power Cap                : Not Active
        HW Slowdown                 : Not Active
        Unknown                     : Not Active
    FB Memory Usage
        Total                       : 11439 MiB
    Ecc Mode
        Current                     : Enabled
        Pending                     : Enabled
    ECC Errors
        Volatile
            Double Bit            
                Device Memory       : 0
                Total               : 1
        Aggregate
            Double Bit            
                Device Memory       : 4
                Total               : 4
    Retired Pages
        Single Bit ECC              : 2
        Double Bit ECC              : 1
        Pending                     : Yes
    Power Readings
        Power Management            : Supported
        Power Draw                  : 57.81 W
        Power Limit                 : 149.00 W
        Default Power Limit         : 149.00 W
        Enforced Power Limit        : 120.00 W
"""


def test_query_old_driver_labels():
    report = parse_query(OLD_QUERY)
    assert (report.driver_version, report.cuda_version) == ("375.66", None)  # no "CUDA Version" line before 410
    (g,) = report.gpus
    assert g.pci_bus_id == "0000:02:00.0" and g.clock_event_reasons == ("gpu_idle",)
    assert (g.power_limit_w, g.power_default_limit_w) == (120.0, 149.0)  # enforced, not requested
    assert (g.ecc_mode, g.ecc_uncorrectable_volatile, g.ecc_uncorrectable_aggregate) == (True, 1, 4)
    assert (g.retired_pages, g.retired_pages_pending, g.remapped_rows_pending) == (3, True, None)
    assert g.mig_mode is None and g.driver_model is None


def test_query_crlf_and_windows_na():
    text = QUERY_SAMPLE.replace("\n", "\r\n")
    assert parse_query(text) == parse_query(QUERY_SAMPLE)


def test_query_stops_at_the_next_bug_report_command():
    text = ("Failed to initialize NVML: Unknown Error\n\n/usr/bin/nvidia-smi --query --unit\n\n"
            "==============NVSMI LOG==============\n\nDriver Version                      : 535.183.01\n")
    report = parse_query(text)
    assert (report.failure, report.driver_version) == ("unknown-error", None)


XML_NA = """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v11.dtd">
<nvidia_smi_log>
    <driver_version>471.11</driver_version>
    <cuda_version>N/A</cuda_version>
    <gpu id="00000000:0B:00.0">
        <product_name>GRID T4-2Q</product_name>
        <persistence_mode>N/A</persistence_mode>
        <driver_model><current_dm>WDDM</current_dm><pending_dm>WDDM</pending_dm></driver_model>
        <gpu_virtualization_mode><virtualization_mode>VGPU</virtualization_mode></gpu_virtualization_mode>
        <pci>
            <pci_bus_id>00000000:0B:00.0</pci_bus_id>
            <pci_gpu_link_info>
                <pcie_gen><max_link_gen>N/A</max_link_gen><current_link_gen>N/A</current_link_gen></pcie_gen>
                <link_widths>
                    <max_link_width>N/A</max_link_width><current_link_width>N/A</current_link_width>
                </link_widths>
            </pci_gpu_link_info>
        </pci>
        <performance_state>N/A</performance_state>
        <clocks_throttle_reasons>N/A</clocks_throttle_reasons>
        <fb_memory_usage><total>2048 MiB</total><used>N/A</used></fb_memory_usage>
        <compute_mode>Default</compute_mode>
        <ecc_mode><current_ecc>N/A</current_ecc></ecc_mode>
        <ecc_errors>
            <volatile><double_bit><total>N/A</total></double_bit></volatile>
            <aggregate><double_bit><total>N/A</total></double_bit></aggregate>
        </ecc_errors>
        <retired_pages>
            <multiple_single_bit_retirement><retired_count>N/A</retired_count></multiple_single_bit_retirement>
            <double_bit_retirement><retired_count>N/A</retired_count></double_bit_retirement>
            <pending_retirement>N/A</pending_retirement>
        </retired_pages>
        <remapped_rows>N/A</remapped_rows>
        <temperature><gpu_temp>N/A</gpu_temp></temperature>
        <power_readings>
            <power_draw>N/A</power_draw>
            <power_limit>N/A</power_limit>
            <default_power_limit>N/A</default_power_limit>
            <enforced_power_limit>N/A</enforced_power_limit>
        </power_readings>
    </gpu>
</nvidia_smi_log>
"""


def test_xml_na_values_are_none_never_defaults():
    report = parse_xml(XML_NA)
    assert (report.driver_version, report.cuda_version) == ("471.11", None)
    (g,) = report.gpus
    assert (g.name, g.memory_total_mib, g.driver_model, g.virtualization_mode, g.compute_mode) == (
        "GRID T4-2Q", 2048, "WDDM", "VGPU", "Default")
    unknown = {k: v for k, v in dataclasses.asdict(g).items()
               if k not in ("pci_bus_id", "vendor", "name", "memory_total_mib", "driver_model", "virtualization_mode",
                            "compute_mode", "source")}
    assert all(v is None for v in unknown.values()), unknown


def test_xml_enforced_limit_wins_over_requested_and_old_power_limit_is_the_fallback():
    def limits(readings: str):
        g = parse_xml(f"<nvidia_smi_log><gpu id='00000000:01:00.0'>{readings}</gpu></nvidia_smi_log>").gpus[0]
        return g.power_limit_w, g.power_default_limit_w

    assert limits("<power_readings><power_limit>250.00 W</power_limit><default_power_limit>250.00 W"
                  "</default_power_limit><enforced_power_limit>180.00 W</enforced_power_limit></power_readings>") \
        == (180.0, 250.0)
    assert limits("<power_readings><power_limit>39.50 W</power_limit></power_readings>") == (39.5, None)
    assert limits("<gpu_power_readings><current_power_limit>450.00 W</current_power_limit><requested_power_limit>"
                  "400.00 W</requested_power_limit></gpu_power_readings>") == (450.0, None)


def test_xml_with_a_lost_gpu_line_before_the_document_keeps_the_others():
    text = "Unable to determine the device handle for GPU 0000:0F:00.0: Unknown Error\n" + nvsmi_xml.SAMPLE
    report = parse_xml(text)
    assert report.failure == "gpu-lost" and len(report.gpus) == 1


def test_xml_mig_devices_count_gpu_instances():
    doc = ("<nvidia_smi_log><gpu id='00000000:07:00.0'><mig_mode><current_mig>Enabled</current_mig></mig_mode>"
           "<mig_devices>" + "".join(f"<mig_device><gpu_instance_id>{gi}</gpu_instance_id>"
                                     f"<compute_instance_id>{ci}</compute_instance_id></mig_device>"
                                     for gi, ci in ((1, 0), (1, 1), (2, 0))) + "</mig_devices></gpu></nvidia_smi_log>")
    g = parse_xml(doc).gpus[0]
    assert (g.mig_mode, g.mig_instances) == (True, 2)
    start, end = doc.index("<mig_devices>"), doc.index("</mig_devices>")
    empty = parse_xml(doc[:start] + "<mig_devices>None" + doc[end:])
    assert empty.gpus[0].mig_instances == 0  # MIG on, no instance created yet (F31)


@pytest.mark.parametrize("text", [
    None, "", "   \n", "garbage\x00\x01", "<html><body>502 Bad Gateway</body></html>",
    "<?xml version='1.0'?><nvidia_smi_log><gpu id='00000000:01:00.0'><product_name>cut",  # truncated
    "<?xml version='1.0'?><!DOCTYPE nvidia_smi_log [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
    "<nvidia_smi_log><driver_version>&b;</driver_version></nvidia_smi_log>",  # entities: refused
    "{\"driver_version\": \"550.54.14\"}",
], ids=["none", "empty", "blank", "binary", "html", "truncated", "entities", "json"])
def test_garbage_raises_nothing_and_invents_nothing(text):
    for parse in (parse_xml, parse_query, parse_table, parse_list):
        report = parse(text)
        assert (report.gpus, report.driver_version, report.cuda_version, report.failure) == ((), None, None, None), \
            (parse, report)


OLD_TABLE = """Fri Oct  1 12:00:00 2021
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|                               |                      |               MIG M. |
|===============================+======================+======================|
|   0  NVIDIA GeForce ...  Off  | 00000000:01:00.0  On |                  N/A |
| 30%   38C    P8    17W / 170W |    302MiB / 12045MiB |      3%      Default |
|                               |                      |                  N/A |
+-------------------------------+----------------------+----------------------+
|   1  Tesla V100-PCIE...  On   | 00000000:02:00.0 Off |                    0 |
| N/A   33C    P0    N/A /  N/A |      0MiB / 16160MiB |      0%   E. Process |
|                               |                      |             Disabled |
+-------------------------------+----------------------+----------------------+

+-----------------------------------------------------------------------------+
| Processes:                                                                  |
|  GPU   GI   CI        PID   Type   Process name                  GPU Memory |
|        ID   ID                                                   Usage      |
|=============================================================================|
|    0   N/A  N/A      1517      G   /usr/lib/xorg/Xorg                299MiB |
+-----------------------------------------------------------------------------+
"""


def test_table_old_layout_two_gpus():
    report = parse_table(OLD_TABLE)
    assert (report.driver_version, report.cuda_version, report.failure) == ("470.57.02", "11.4", None)
    a, b = report.gpus
    assert (a.pci_bus_id, a.name, a.persistence_mode, a.memory_total_mib, a.memory_used_mib) == (
        "0000:01:00.0", "NVIDIA GeForce ...", False, 12045, 302)
    assert (a.power_draw_w, a.power_limit_w, a.temperature_c, a.utilization_gpu_pct, a.ecc_mode) == (
        17.0, 170.0, 38.0, 3.0, None)
    assert (b.persistence_mode, b.power_draw_w, b.power_limit_w, b.compute_mode, b.mig_mode) == (
        True, None, None, "Exclusive_Process", False)
    assert (b.ecc_mode, b.ecc_uncorrectable_volatile) == (True, 0)


def test_table_oldest_layout_without_cuda_and_windows_tcc():
    text = """+------------------------------------------------------+
| NVIDIA-SMI 352.99     Driver Version: 352.99         |
|-------------------------------+----------------------+----------------------+
| GPU  Name            TCC/WDDM | Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|===============================+======================+======================|
|   0  Tesla K40c          TCC  | 0000:03:00.0     Off |                    0 |
| 23%   35C    P8    21W / 235W |     15MiB / 11520MiB |      0%      Default |
+-------------------------------+----------------------+----------------------+
"""
    report = parse_table(text)
    assert (report.driver_version, report.cuda_version) == ("352.99", None)
    (g,) = report.gpus
    assert (g.pci_bus_id, g.name, g.driver_model, g.persistence_mode, g.memory_total_mib) == (
        "0000:03:00.0", "Tesla K40c", "TCC", None, 11520)


NEW_TABLE_MIG = """+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.133.20             Driver Version: 570.133.20     CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
|   0  NVIDIA A100-SXM4-40GB          On  |   00000000:07:00.0 Off |                   On |
| N/A   31C    P0             44W /  400W |      38MiB /  40960MiB |     N/A      Default |
|                                         |                        |              Enabled |
+-----------------------------------------+------------------------+----------------------+

+-----------------------------------------------------------------------------------------+
| MIG devices:                                                                            |
+------------------+----------------------------------+-----------+-----------------------+
| GPU  GI  CI  MIG |                     Memory-Usage |        Vol|        Shared         |
|      ID  ID  Dev |                       BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |
|==================+==================================+===========+=======================|
|  0    1   0   0  |              38MiB / 40192MiB    | 98      0 |  7   0    5    1    1 |
|                  |                 0MiB / 65535MiB  |           |                       |
+------------------+----------------------------------+-----------+-----------------------+
"""


def test_table_new_layout_with_mig_devices_block():
    report = parse_table(NEW_TABLE_MIG)
    assert (report.driver_version, report.cuda_version) == ("570.133.20", "12.8")
    (g,) = report.gpus  # the MIG block's rows are not GPUs
    assert (g.pci_bus_id, g.memory_total_mib, g.power_limit_w, g.mig_mode, g.utilization_gpu_pct) == (
        "0000:07:00.0", 40960, 400.0, True, None)


@pytest.mark.parametrize("text,drv,cuda", [
    ("Driver Version: 430.26", "430.26", None),  # what an importer keeps from collect_env
    ("Nvidia driver version: 430.26\n", "430.26", None),
    ("| NVIDIA-SMI 610.62                 KMD Version: 610.62        CUDA UMD Version: 13.3     |", "610.62", "13.3"),
    ("| NVIDIA-SMI 530.47                 Driver Version: 531.68       CUDA Version: 12.1     |", "531.68", "12.1"),
    ("| NVIDIA-SMI 525.60.11    Driver Version: 528.02       CUDA Version: ERR!     |", "528.02", None),  # WSL (F25)
])
def test_table_header_only(text, drv, cuda):
    report = parse_table(text)
    assert (report.driver_version, report.cuda_version, report.gpus, report.failure) == (drv, cuda, (), None)


def test_list_old_and_mig_formats():
    report = parse_list("GPU 0: Tesla K20m (S/N: 0324512345678)\n"
                        "GPU 1: NVIDIA A100-PCIE-40GB (UUID: GPU-0a1b2c3d-0000-0000-0000-aabbccddeeff)\n"
                        "  MIG 1g.5gb Device 0: (UUID: MIG-GPU-0a1b2c3d-0000-0000-0000-aabbccddeeff/7/0)\n"
                        "  MIG 1g.5gb Device 1: (UUID: MIG-GPU-0a1b2c3d-0000-0000-0000-aabbccddeeff/8/0)\n"
                        "GPU 2: NVIDIA GeForce RTX 3060 (UUID: GPU-9f8e7d6c-0000-0000-0000-112233445566)\r\n")
    assert [(g.name, g.uuid, g.mig_mode, g.mig_instances) for g in report.gpus] == [
        ("Tesla K20m", None, None, None),
        ("NVIDIA A100-PCIE-40GB", "GPU-0a1b2c3d-0000-0000-0000-aabbccddeeff", True, 2),
        ("NVIDIA GeForce RTX 3060", "GPU-9f8e7d6c-0000-0000-0000-112233445566", None, None),
    ]
    assert (report.source, report.driver_version, report.failure) == ("nvidia-smi -L", None, None)


@pytest.mark.parametrize("raw,sysfs", [
    ("00000000:0A:00.0", "0000:0a:00.0"), ("0000:06:00.0", "0000:06:00.0"), ("00000001:C1:00.1", "0001:c1:00.1"),
    ("0000C0DE:00:00.0", "c0de:00:00.0"), ("00010000:02:00.0", "10000:02:00.0"),
    ("GPU 00000000:41:00.0", "0000:41:00.0"),
    ("N/A", None), ("", None), (None, None),
])
def test_bus_id_normalised_to_sysfs_form(raw, sysfs):
    assert nvsmi_common.find_bus_id(raw) == sysfs


@pytest.mark.parametrize("module", [nvsmi_common, nvsmi_xml, nvsmi_text, nvsmi])
def test_docstring_samples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and (result.attempted > 0 or module is nvsmi)


# --------------------------------------------------------------------------- collect

class _Recording(Host):
    """A host that remembers what was run and with which timeout."""

    def __init__(self, inner: Host) -> None:
        self.inner, self.calls = inner, []

    def run(self, argv, timeout_s: float = 4.0) -> CommandResult:
        self.calls.append((tuple(argv), timeout_s))
        return self.inner.run(argv, timeout_s)


def _host(commands: dict) -> _Recording:
    return _Recording(fake_host(commands=commands))


XML, Q, TABLE, LIST = ("nvidia-smi", "-q", "-x"), ("nvidia-smi", "-q"), ("nvidia-smi",), ("nvidia-smi", "-L")


def test_collect_prefers_xml_and_runs_nothing_else():
    host = _host({XML: nvsmi_xml.SAMPLE, Q: QUERY_SAMPLE, LIST: "GPU 0: x (UUID: GPU-1)"})
    report = nvsmi.collect(host)
    assert report.source == "nvidia-smi -q -x" and report.gpus[0].name == "NVIDIA GeForce RTX 4090"
    assert host.calls == [(XML, 8.0)]


@pytest.mark.parametrize("present,source", [
    ({Q: QUERY_SAMPLE}, "nvidia-smi -q"),
    ({TABLE: OLD_TABLE, LIST: "GPU 0: NVIDIA GeForce RTX 3060 (UUID: GPU-1)"}, "nvidia-smi"),
    ({LIST: "GPU 0: NVIDIA GeForce RTX 3060 (UUID: GPU-1)"}, "nvidia-smi -L"),
])
def test_collect_falls_back_in_spec_order(present, source):
    host = _host(present)
    report = nvsmi.collect(host)
    assert report.source == source and report.failure is None
    order = [XML, Q, TABLE, LIST]
    assert [argv for argv, _ in host.calls] == order[:order.index(tuple(source.split())) + 1]


def test_collect_collect_env_import_driver_line_then_gpu_names():
    """An imported collect_env text holds only "Driver Version: X" and -L's GPU lines."""
    host = _host({TABLE: "Driver Version: 430.26\n", LIST: "GPU 0: GeForce GTX 1080\nGPU 1: GeForce GTX 1080\n"})
    report = nvsmi.collect(host)
    assert (report.source, report.driver_version, report.cuda_version, report.failure) == (
        "nvidia-smi", "430.26", None, None)
    assert [(g.name, g.uuid, g.source) for g in report.gpus] == [("GeForce GTX 1080", None, "nvidia-smi -L")] * 2
    assert [argv for argv, _ in host.calls] == [XML, Q, TABLE, LIST]


def test_collect_driver_line_alone_is_the_answer():
    report = nvsmi.collect(_host({TABLE: "Driver Version: 430.26\n"}))
    assert (report.source, report.driver_version, report.gpus, report.failure) == ("nvidia-smi", "430.26", (), None)


def test_collect_keeps_the_failure_of_a_partial_answer():
    """-q names the driver, then loses the GPU; -L still lists the ones that answer."""
    partial = ("Driver Version                            : 535.230.02\n"
               "Unable to determine the device handle for GPU0000:0F:00.0: Unknown Error\n")
    report = nvsmi.collect(_host({Q: partial, LIST: "GPU 0: NVIDIA GeForce RTX 4070 (UUID: GPU-1)\n"}))
    assert (report.driver_version, len(report.gpus), report.failure) == ("535.230.02", 1, "gpu-lost")


def test_collect_hung_nvidia_smi_stops_after_the_timeout():
    hung = CommandResult(XML, None, "", "", "timeout")
    host = _host({XML: hung, Q: QUERY_SAMPLE})
    report = nvsmi.collect(host)
    assert (report.source, report.failure, report.gpus) == ("nvidia-smi -q -x", "timeout", ())
    assert "timed out" in report.failure_text
    assert host.calls == [(XML, 8.0)]  # -q would hang on the same GPU


def test_collect_nothing_installed_is_not_found():
    host = _host({})
    report = nvsmi.collect(host)
    assert (report.failure, report.source, report.gpus) == ("not-found", "nvidia-smi -q -x", ())
    assert [argv for argv, _ in host.calls] == [XML, Q, TABLE, LIST]


def test_collect_keeps_the_classified_failure_over_not_found():
    text = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the " \
           "latest NVIDIA driver is installed and running.\n"
    failed = {argv: CommandResult(argv, 9, text, "", "error") for argv in (Q, TABLE)}
    report = nvsmi.collect(_host(failed))
    assert (report.failure, report.source) == ("driver-not-loaded", "nvidia-smi -q")
    assert report.failure_text == text.strip()


def test_collect_reads_failures_printed_on_stderr():
    mismatch = CommandResult(XML, 18, "", "Failed to initialize NVML: Driver/library version mismatch\n", "error")
    report = nvsmi.collect(_host({XML: mismatch}))
    assert report.failure == "library-mismatch"


def test_collect_unreadable_answer_is_unknown_error_not_no_gpus():
    report = nvsmi.collect(_host({XML: "Segmentation fault (core dumped)\n"}))
    assert (report.failure, report.gpus) == ("unknown-error", ())
    assert report.failure_text == "`nvidia-smi -q -x`: Segmentation fault (core dumped)"
