"""``nvidia-smi -q -x``: the XML report, every driver generation the corpus holds.

Check by hand: ``nvidia-smi -q -x | less``. Tag names move between drivers, so each fact
lists the tags that have carried it, newest first:

* power: ``power_readings`` (≤ 530: ``power_limit``, ``enforced_power_limit``) became
  ``gpu_power_readings`` (535+: ``current_power_limit`` is the enforced one);
* clock reasons: ``clocks_throttle_reasons`` became ``clocks_event_reasons`` (535+);
* ECC: ``double_bit/total`` became ``dram_uncorrectable`` + ``sram_uncorrectable``
  (or its ``_parity`` + ``_secded`` halves);
* driver 610 deprecates ``driver_version``/``cuda_version`` for the KMD / CUDA UMD pair
  (seen in its text output; the XML tags are taken by analogy, unverified);
* 418 and older print no ``mig_mode``; a vGPU guest prints N/A for most values.

Parsed with the standard library's ElementTree: no dependency, and its expat parser
never fetches the ``<!DOCTYPE ... SYSTEM "nvsmi_device_v12.dtd">`` nvidia-smi names.
nvidia-smi never declares entities, so text that does is refused outright (no
entity-expansion bombs from a pasted file).

Text that is not nvidia-smi XML raises nothing: a known failure message becomes the
report's ``failure``; anything else (garbage, an empty answer) is a report with no GPUs
and ``failure=None``: it is not the driver that failed, and ``collect`` decides what an
unreadable answer means.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dlkit.facts import GpuFacts, NvidiaReport
from dlkit.probes.nvsmi_common import (any_flag, classify_failure, clean, compute_capability, flag, integer,
                                       find_bus_id, number, pci_ids, sum_counts, version)

SOURCE = "nvidia-smi -q -x"

SAMPLE = """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
    <driver_version>550.54.14</driver_version>
    <cuda_version>12.4</cuda_version>
    <attached_gpus>1</attached_gpus>
    <gpu id="00000000:01:00.0">
        <product_name>NVIDIA GeForce RTX 4090</product_name>
        <persistence_mode>Enabled</persistence_mode>
        <mig_mode><current_mig>N/A</current_mig><pending_mig>N/A</pending_mig></mig_mode>
        <pci>
            <pci_bus_id>00000000:01:00.0</pci_bus_id>
            <pci_gpu_link_info>
                <pcie_gen><max_link_gen>4</max_link_gen><current_link_gen>1</current_link_gen></pcie_gen>
                <link_widths>
                    <max_link_width>16x</max_link_width>
                    <current_link_width>16x</current_link_width>
                </link_widths>
            </pci_gpu_link_info>
        </pci>
        <performance_state>P8</performance_state>
        <clocks_event_reasons>
            <clocks_event_reason_gpu_idle>Active</clocks_event_reason_gpu_idle>
            <clocks_event_reason_sw_power_cap>Not Active</clocks_event_reason_sw_power_cap>
        </clocks_event_reasons>
        <fb_memory_usage><total>24564 MiB</total><used>1 MiB</used></fb_memory_usage>
        <gpu_power_readings>
            <power_draw>21.37 W</power_draw>
            <current_power_limit>450.00 W</current_power_limit>
            <default_power_limit>450.00 W</default_power_limit>
        </gpu_power_readings>
    </gpu>
</nvidia_smi_log>
"""

_ROOT = "nvidia_smi_log"


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text.strip() if found is not None and found.text is not None else None


def _first(el: ET.Element | None, *tags: str, skip_na: bool = False) -> str | None:
    """The first of ``tags`` present anywhere under ``el`` (610 nests the ceiling limit).

    A limit the driver prints as N/A stays N/A (``skip_na=False``): the requested limit is
    not the enforced one. A draw may come from the next tag (``skip_na=True``).
    """
    if el is None:
        return None
    for tag in tags:
        for found in el.iter(tag):
            if not skip_na or clean(found.text) is not None:
                return (found.text or "").strip()
    return None


def _reasons(gpu: ET.Element) -> tuple[str, ...] | None:
    """Active clock-event reasons, named as the tags name them (``..._reason_<name>``)."""
    block = gpu.find("clocks_event_reasons")
    if block is None:
        block = gpu.find("clocks_throttle_reasons")
    if block is None or len(block) == 0:  # absent, or "N/A" on a vGPU guest
        return None
    states = {child.tag.split("reason_", 1)[-1]: flag(child.text) for child in block}
    if all(v is None for v in states.values()):
        return None
    return tuple(name for name, active in states.items() if active)


def _ecc_uncorrectable(errors: ET.Element | None) -> int | None:
    if errors is None:
        return None
    old = integer(_text(errors, "double_bit/total"))
    if old is not None:
        return old
    return sum_counts([integer(_text(errors, tag)) for tag in (
        "dram_uncorrectable", "sram_uncorrectable", "sram_uncorrectable_parity", "sram_uncorrectable_secded")])


def _mig_instances(gpu: ET.Element, mig_mode: bool | None) -> int | None:
    if not mig_mode:
        return None  # MIG off or not reported: "instances" does not apply
    devices = gpu.findall("mig_devices/mig_device")
    # One device per (GPU instance, compute instance): count the GPU instances.
    ids = {_text(d, "gpu_instance_id") for d in devices}
    return len(ids) if None not in ids else len(devices)


def _gpu(gpu: ET.Element) -> GpuFacts:
    link = gpu.find("pci/pci_gpu_link_info")
    power = gpu.find("gpu_power_readings")
    if power is None:
        power = gpu.find("power_readings")
    mig_mode = flag(_text(gpu, "mig_mode/current_mig"))
    retired = gpu.find("retired_pages")
    remap = gpu.find("remapped_rows")
    vendor_id, device_id = pci_ids(_text(gpu, "pci/pci_device_id"))
    return GpuFacts(
        pci_vendor_id=vendor_id, pci_device_id=device_id,
        pci_bus_id=find_bus_id(gpu.get("id") or _text(gpu, "pci/pci_bus_id")),
        name=clean(_text(gpu, "product_name")),
        uuid=clean(_text(gpu, "uuid")),
        memory_total_mib=integer(_text(gpu, "fb_memory_usage/total")),
        memory_used_mib=integer(_text(gpu, "fb_memory_usage/used")),
        compute_capability=compute_capability(_first(gpu, "compute_cap", "cuda_compute_capability")),
        pcie_gen_current=integer(_text(link, "pcie_gen/current_link_gen")),
        pcie_gen_max=integer(_text(link, "pcie_gen/max_link_gen")),
        pcie_width_current=integer(_text(link, "link_widths/current_link_width")),
        pcie_width_max=integer(_text(link, "link_widths/max_link_width")),
        power_draw_w=number(_first(power, "power_draw", "instant_power_draw", "average_power_draw", skip_na=True)),
        # The enforced limit: older drivers print it beside the requested "power_limit";
        # 535+ call it current_power_limit; the oldest have only power_limit.
        power_limit_w=number(_first(power, "enforced_power_limit", "current_power_limit", "power_limit")),
        power_default_limit_w=number(_first(power, "default_power_limit")),
        power_min_limit_w=number(_first(power, "min_power_limit", skip_na=True)),
        temperature_c=number(_text(gpu, "temperature/gpu_temp")),
        slowdown_temperature_c=number(_text(gpu, "temperature/gpu_temp_slow_threshold")),
        performance_state=clean(_text(gpu, "performance_state")),
        utilization_gpu_pct=number(_text(gpu, "utilization/gpu_util")),
        clock_event_reasons=_reasons(gpu),
        persistence_mode=flag(_text(gpu, "persistence_mode")),
        compute_mode=clean(_text(gpu, "compute_mode")),
        driver_model=clean(_text(gpu, "driver_model/current_dm")),
        virtualization_mode=clean(_text(gpu, "gpu_virtualization_mode/virtualization_mode")),
        mig_mode=mig_mode,
        mig_instances=_mig_instances(gpu, mig_mode),
        ecc_mode=flag(_text(gpu, "ecc_mode/current_ecc")),
        ecc_uncorrectable_volatile=_ecc_uncorrectable(gpu.find("ecc_errors/volatile")),
        ecc_uncorrectable_aggregate=_ecc_uncorrectable(gpu.find("ecc_errors/aggregate")),
        retired_pages=sum_counts([integer(_text(retired, "multiple_single_bit_retirement/retired_count")),
                                  integer(_text(retired, "double_bit_retirement/retired_count"))]),
        retired_pages_pending=any_flag([flag(_text(retired, "pending_retirement")),
                                        flag(_text(retired, "pending_blacklist"))]),
        remapped_rows_pending=flag(_text(remap, "remapped_row_pending")),
        remapped_rows_failure=flag(_text(remap, "remapped_row_failure")),
        source=SOURCE,
    )


def _split(text: str) -> tuple[str | None, str]:
    """(the XML document, the text around it): stderr or a failure line may surround it."""
    starts = [i for i in (text.find("<?xml"), text.find("<" + _ROOT)) if i >= 0]
    end = text.rfind("</" + _ROOT + ">")
    if not starts or end < 0:
        return None, text
    start, end = min(starts), end + len(_ROOT) + 3
    return text[start:end], text[:start] + "\n" + text[end:]


def parse_xml(text: str | None) -> NvidiaReport:
    """``nvidia-smi -q -x`` -> the driver and its GPUs (sample: ``SAMPLE`` above).

    >>> r = parse_xml(SAMPLE)
    >>> r.driver_version, r.cuda_version, len(r.gpus), r.failure
    ('550.54.14', '12.4', 1, None)
    >>> g = r.gpus[0]
    >>> g.pci_bus_id, g.memory_total_mib, g.pcie_gen_current, g.pcie_width_max, g.power_limit_w
    ('0000:01:00.0', 24564, 1, 16, 450.0)
    >>> g.clock_event_reasons, g.persistence_mode, g.mig_mode
    (('gpu_idle',), True, None)
    >>> parse_xml("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.").failure
    'driver-not-loaded'
    >>> garbage = parse_xml("<html>not nvidia-smi</html>")
    >>> garbage.gpus, garbage.driver_version, garbage.failure
    ((), None, None)
    """
    text = (text or "").lstrip("\ufeff")
    document, around = _split(text)
    root = None
    if document is not None and "<!ENTITY" not in document:
        try:
            root = ET.fromstring(document)
        except ET.ParseError:
            root = None
    if root is None or root.tag != _ROOT:
        failure = classify_failure(text)
        return NvidiaReport(source=SOURCE, failure=failure[0] if failure else None,
                            failure_text=failure[1] if failure else None)
    # A lost GPU's error line can precede the XML of the GPUs that still answer.
    failure = classify_failure(around)
    return NvidiaReport(
        source=SOURCE,
        driver_version=version(_text(root, "kmd_version")) or version(_text(root, "driver_version")),
        cuda_version=version(_text(root, "cuda_umd_version")) or version(_text(root, "cuda_version")),
        gpus=tuple(_gpu(gpu) for gpu in root.findall("gpu")),
        failure=failure[0] if failure else None,
        failure_text=failure[1] if failure else None,
    )
