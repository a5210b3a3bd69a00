"""Part-1 checks (pcie, nouveau, memory) judged on real machines and on hand-built facts,
plus the registry's conformance and the report's status rules."""

from __future__ import annotations

import dataclasses

import re

import pytest

from dlkit.checks import REGISTRY
from dlkit.checks.fixes import REBUILD_INITRAMFS
from dlkit.checks.pcie import LINK_FIX
from dlkit.engine import SelectionError, doctor, select_checks
from dlkit.facts import Facts, GpuFacts, KernelFacts, MemoryFacts, NvidiaDriverFacts, OsFacts, RunFacts
from dlkit.host import ReplayHost, load_capture
from dlkit.report import Finding, Report, Severity
from test_golden import part1_capture

BIFURCATION = "bifurcation-2x-rtx-4090-x670-x8x8-slow-card"
AWS_K520 = "aws-g2-2xlarge-grid-k520-kepler-xen"
OPENSHIFT = "openshift-2x-tesla-p100-lspci"
NOUVEAU = "nvbugreport-4x-gtx-1080ti-nouveau-loaded"
PART1 = ("memory.ram-below-vram", "nouveau.loaded", "nouveau.not-blacklisted", "pcie.lanes-oversubscribed",
         "pcie.link-degraded")

WIDTH_DETAIL = ("A link width below the maximum halves (or worse) host-to-device bandwidth; unlike the generation, "
                "the width does not drop to save power, so this is a slot, riser or lane-sharing issue.")
GEN_DETAIL = ("Idle GPUs lower their link generation to save power (ASPM); this matters only if it stays low while "
              "the GPU is busy.")
NOUVEAU_DETAIL = ("The open-source nouveau driver claims NVIDIA GPUs before the NVIDIA driver can (\"NVRM: The NVIDIA "
                  "probe routine was not called ... nouveau ... obtained ownership\"); CUDA cannot use a GPU nouveau "
                  "holds, and both loaded together is fragile.")
ALL_FAMILIES_FIX = "\n".join(f"# {label}\n{REBUILD_INITRAMFS[fam]}" for fam, label in (
    ("debian", "Debian/Ubuntu"), ("rhel", "RHEL/Fedora"), ("arch", "Arch"), ("suse", "openSUSE/SLES")))


def run(facts: Facts, code: str) -> list[Finding]:
    return REGISTRY[code].run(facts)


def one(facts: Facts, code: str) -> Finding:
    findings = run(facts, code)
    assert len(findings) == 1
    return findings[0]


def facts(**kw) -> Facts:
    return Facts(run=RunFacts(created=None, dlkit_version="test"), **kw)


def gpu(bdf="0000:01:00.0", vendor="nvidia", source="sysfs", **kw) -> GpuFacts:
    """A GPU whose PCIe link values come from where the GPU does (unless pcie_source says otherwise)."""
    return GpuFacts(pci_bus_id=bdf, vendor=vendor, source=source, **{"pcie_source": source, **kw})


def corpus_report(corpus_capture, sample: str) -> Report:
    return doctor(ReplayHost(load_capture(str(corpus_capture(sample)))))


# ------------------------------------------------------------------ real machines


def test_bifurcation_two_4090s_at_x8_is_a_degraded_link(corpus_capture):
    report = corpus_report(corpus_capture, BIFURCATION)
    [finding] = [f for f in report.findings if f.code == "pcie.link-degraded"]
    assert finding == Finding(
        "pcie.link-degraded", Severity.WARNING,
        "PCIe link narrower than the GPU supports (0000:01:00.0, 0000:03:00.0)", WIDTH_DETAIL,
        LINK_FIX.format(bdf="0000:01:00.0"),
        # the name from nvidia-smi's table, the link from sysfs (the table has no link columns)
        ("0000:01:00.0 NVIDIA GeForce RTX 4090: PCIe x8 of x16, Gen1 of Gen4 (sysfs)",
         "0000:03:00.0 NVIDIA GeForce RTX 4090: PCIe x8 of x16, Gen1 of Gen4 (sysfs)"))
    # "Kernel modules: ... nouveau" in lspci is not nouveau loaded
    [nouveau] = [f for f in report.findings if f.code == "nouveau.loaded"]
    assert nouveau == Finding("nouveau.loaded", Severity.OK, "no NVIDIA GPU is bound to nouveau", "", "", (
        "/sys/bus/pci/devices/0000:01:00.0/driver -> nvidia", "/sys/bus/pci/devices/0000:03:00.0/driver -> nvidia"))


def test_aws_g2_k520_gen1_of_gen3_at_x16_is_info_only(corpus_capture):
    report = corpus_report(corpus_capture, AWS_K520)
    [finding] = [f for f in report.findings if f.code == "pcie.link-degraded"]
    assert finding == Finding(
        "pcie.link-degraded", Severity.INFO, "PCIe link generation below maximum (normal at idle)", GEN_DETAIL,
        LINK_FIX.format(bdf="0000:00:03.0"), ("0000:00:03.0 NVIDIA GPU: PCIe x16 of x16, Gen1 of Gen3 (sysfs)",))
    assert [f.code for f in report.findings if f.severity in (Severity.ERROR, Severity.WARNING, Severity.CRASHED)
            and f.code in PART1] == []


def test_openshift_two_p100_no_nouveau_problem(corpus_capture):
    report = corpus_report(corpus_capture, OPENSHIFT)
    by_code = {f.code: f for f in report.findings}
    assert by_code["nouveau.loaded"] == Finding(
        "nouveau.loaded", Severity.OK, "no NVIDIA GPU is bound to nouveau", "", "",
        ("/sys/bus/pci/devices/0000:04:00.0/driver -> nvidia", "/sys/bus/pci/devices/0000:82:00.0/driver -> nvidia"))
    assert by_code["nouveau.not-blacklisted"] == Finding(
        "nouveau.not-blacklisted", Severity.SKIPPED, "not checked", "no /proc/modules and no modprobe.d configuration to read")
    assert by_code["pcie.link-degraded"] == Finding(
        "pcie.link-degraded", Severity.OK, "every GPU's PCIe link runs at its full width and generation", "", "",
        ("0000:04:00.0 NVIDIA GPU: PCIe x16 of x16, Gen3 of Gen3", "0000:82:00.0 NVIDIA GPU: PCIe x16 of x16, Gen3 of Gen3"))
    assert not [f for f in report.findings if f.area == "nouveau" and f.severity in (Severity.ERROR, Severity.WARNING)]


def test_nvbugreport_nouveau_loaded_next_to_nvidia(corpus_capture):
    report = corpus_report(corpus_capture, NOUVEAU)
    by_code = {f.code: f for f in report.findings}
    assert by_code["nouveau.loaded"] == Finding(
        "nouveau.loaded", Severity.ERROR, "nouveau is loaded", NOUVEAU_DETAIL, ALL_FAMILIES_FIX,
        ("/proc/modules: nouveau (loaded)", "/proc/modules: nvidia (loaded at the same time)"))
    # Gen2/Gen1 of Gen3 at x16 on idle 1080 Tis is power saving
    assert by_code["pcie.link-degraded"].severity == Severity.INFO
    assert report.status == "error" and report.exit_code == 2


def test_cpu_only_dump_has_no_gpu_problem(corpus_capture):
    report = corpus_report(corpus_capture, "cpuinfo-amd-epyc-7451-96-threads")
    assert {f.code: f.severity for f in report.findings if f.code in PART1} == {
        c: Severity.SKIPPED for c in PART1}
    assert report.facts.cpu.logical_cores == 96


# ------------------------------------------------------------------ pcie.link-degraded


def test_pcie_no_link_information_is_skipped():
    assert one(facts(gpus=(gpu(),)), "pcie.link-degraded") == Finding(
        "pcie.link-degraded", Severity.SKIPPED, "not checked",
        "no GPU with PCIe link information (no PCI sysfs, NVML or nvidia-smi answer)")


def test_pcie_full_link_is_ok():
    g = gpu(name="NVIDIA GeForce RTX 4090", pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=16, pcie_width_max=16)
    assert one(facts(gpus=(g,)), "pcie.link-degraded") == Finding(
        "pcie.link-degraded", Severity.OK, "every GPU's PCIe link runs at its full width and generation", "", "",
        ("0000:01:00.0 NVIDIA GeForce RTX 4090: PCIe x16 of x16, Gen4 of Gen4",))


def test_pcie_narrow_and_slow_together():
    narrow = gpu("0000:02:00.0", pcie_gen_current=4, pcie_gen_max=4, pcie_width_current=4, pcie_width_max=16)
    slow = gpu("0000:01:00.0", pcie_gen_current=1, pcie_gen_max=4, pcie_width_current=16, pcie_width_max=16)
    amd = gpu("0000:03:00.0", vendor="amd", pcie_gen_current=None, pcie_gen_max=4, pcie_width_current=8, pcie_width_max=16)
    finding = one(facts(gpus=(slow, narrow), other_gpus=(amd,)), "pcie.link-degraded")
    assert finding == Finding(
        "pcie.link-degraded", Severity.WARNING, "PCIe link narrower than the GPU supports (0000:02:00.0, 0000:03:00.0)",
        WIDTH_DETAIL + " Other GPUs run below their maximum generation, which at idle is power saving.",
        LINK_FIX.format(bdf="0000:02:00.0"),
        ("0000:02:00.0 NVIDIA GPU: PCIe x4 of x16, Gen4 of Gen4 (sysfs)",
         "0000:03:00.0 AMD GPU: PCIe x8 of x16, Gen? of Gen4 (sysfs)",
         "0000:01:00.0 NVIDIA GPU: PCIe x16 of x16, Gen1 of Gen4 (sysfs)"))


def test_pcie_generation_only_is_never_a_warning():
    g = gpu(pcie_gen_current=1, pcie_gen_max=5, pcie_width_current=16, pcie_width_max=16, source="nvidia-smi")
    finding = one(facts(gpus=(g,)), "pcie.link-degraded")
    assert (finding.severity, finding.evidence) == (
        Severity.INFO, ("0000:01:00.0 NVIDIA GPU: PCIe x16 of x16, Gen1 of Gen5 (nvidia-smi)",))


def test_pcie_lanes_oversubscribed_on_a_probed_machine():
    from dlkit.facts import CpuFacts
    from dlkit.recipes.machine import with_build

    assert one(facts(), "pcie.lanes-oversubscribed") == Finding(
        "pcie.lanes-oversubscribed", Severity.SKIPPED, "not checked", "no NVIDIA GPU")
    unknown_cpu = with_build(facts(cpu=CpuFacts(model="Imaginary CPU 9000"), gpus=(gpu(),)))
    assert one(unknown_cpu, "pcie.lanes-oversubscribed").detail == (
        "the CPU's PCIe lane count is unknown: CPU 'Imaginary CPU 9000' is not in the CPU catalog")
    two = (gpu(name="NVIDIA GeForce RTX 4090", pcie_width_max=16),
           gpu("0000:02:00.0", name="NVIDIA GeForce RTX 4090", pcie_width_max=16))
    desktop = with_build(facts(cpu=CpuFacts(model="Intel(R) Core(TM) i9-14900K", sockets=1), gpus=two))
    finding = one(desktop, "pcie.lanes-oversubscribed")
    # LGA1700 wires 16 of the 20 CPU lanes to graphics (x16 or x8/x8; the other 4 are NVMe): x8/x8
    assert (finding.severity, finding.title) == (Severity.INFO, "2 GPUs on LGA1700: x8/x8 from the CPU")
    assert finding.evidence[:3] == ("0000:01:00.0 NVIDIA GeForce RTX 4090: wants x16, gets x8 via the CPU",
                                    "0000:02:00.0 NVIDIA GeForce RTX 4090: wants x16, gets x8 via the CPU",
                                    "Core i9-14900K on LGA1700: 16 CPU lanes for graphics slots, splits x16, x8/x8")
    linked = with_build(facts(cpu=CpuFacts(model="Intel(R) Core(TM) i9-14900K", sockets=1),
                              gpus=tuple(dataclasses.replace(g, pcie_width_current=8) for g in two)))
    assert one(linked, "pcie.lanes-oversubscribed").evidence[:2] == (
        "0000:01:00.0 NVIDIA GeForce RTX 4090: wants x16, gets x8 via the CPU (links at x8 now)",
        "0000:02:00.0 NVIDIA GeForce RTX 4090: wants x16, gets x8 via the CPU (links at x8 now)")
    one_gpu = with_build(facts(cpu=CpuFacts(model="Intel(R) Core(TM) i9-14900K"), gpus=two[:1]))
    assert one(one_gpu, "pcie.lanes-oversubscribed").severity == Severity.OK


# ------------------------------------------------------------------ nouveau


MODULES_NVIDIA = KernelFacts(modules_available=True, loaded=("nvidia", "nvidia_drm"))


def test_nouveau_loaded_skipped_without_nvidia():
    assert one(facts(kernel=KernelFacts(modules_available=True, loaded=("nouveau",))), "nouveau.loaded") == Finding(
        "nouveau.loaded", Severity.SKIPPED, "not checked", "no NVIDIA GPU or driver found")


def test_nouveau_loaded_cannot_tell_without_modules_or_bindings():
    f = facts(gpus=(gpu(),), kernel=KernelFacts(unknown={"loaded": "/proc/modules: permission denied"}))
    assert one(f, "nouveau.loaded") == Finding(
        "nouveau.loaded", Severity.SKIPPED, "not checked",
        "cannot tell: /proc/modules: permission denied and no GPU driver binding known")


def test_nouveau_bound_to_a_gpu_on_fedora():
    f = facts(gpus=(gpu(kernel_driver="nouveau"), gpu("0000:02:00.0", kernel_driver="nvidia")),
              kernel=KernelFacts(modules_available=True, loaded=("nouveau", "nvidia"), module_versions={"nouveau": "1.3.1"}),
              os=OsFacts(distro_family="rhel"))
    assert one(f, "nouveau.loaded") == Finding(
        "nouveau.loaded", Severity.ERROR, "nouveau is loaded and drives an NVIDIA GPU", NOUVEAU_DETAIL,
        REBUILD_INITRAMFS["rhel"],
        ("/sys/bus/pci/devices/0000:01:00.0/driver -> nouveau", "/proc/modules: nouveau 1.3.1",
         "/proc/modules: nvidia (loaded at the same time)"))


def test_nouveau_bound_without_proc_modules():
    f = facts(gpus=(gpu(kernel_driver="nouveau"),))
    assert one(f, "nouveau.loaded").evidence == ("/sys/bus/pci/devices/0000:01:00.0/driver -> nouveau",)
    assert one(f, "nouveau.loaded").severity == Severity.ERROR


def test_nouveau_not_loaded():
    assert one(facts(gpus=(gpu(kernel_driver="nvidia"),), kernel=MODULES_NVIDIA), "nouveau.loaded") == Finding(
        "nouveau.loaded", Severity.OK, "nouveau is not loaded", "", "", ("/proc/modules: no nouveau",))


def test_nouveau_not_blacklisted_warning_on_debian():
    k = KernelFacts(modules_available=True, loaded=("nvidia",), cmdline="quiet splash",
                    modprobe_dirs=("/etc/modprobe.d", "/lib/modprobe.d"),
                    modprobe_files=("/etc/modprobe.d/alsa-base.conf",))
    assert one(facts(kernel=k, os=OsFacts(distro_family="debian")), "nouveau.not-blacklisted") == Finding(
        "nouveau.not-blacklisted", Severity.WARNING, "nouveau is not blacklisted",
        "The NVIDIA driver is loaded, but nothing stops nouveau from loading first after a kernel or initramfs "
        "update, which takes the GPU away from CUDA.",
        REBUILD_INITRAMFS["debian"],
        ("searched: /etc/modprobe.d/alsa-base.conf in /etc/modprobe.d, /lib/modprobe.d", "/proc/cmdline: quiet splash"))


def test_nouveau_blacklisted_is_ok():
    k = KernelFacts(modules_available=True, loaded=("nvidia",), modprobe_dirs=("/etc/modprobe.d",),
                    nouveau_blacklist=("/etc/modprobe.d/b.conf: blacklist nouveau",))
    assert one(facts(kernel=k), "nouveau.not-blacklisted") == Finding(
        "nouveau.not-blacklisted", Severity.OK, "nouveau is blacklisted", "", "", ("/etc/modprobe.d/b.conf: blacklist nouveau",))


@pytest.mark.parametrize("kernel,driver,detail", [
    (KernelFacts(), NvidiaDriverFacts(version="550.54.14"), "no /proc/modules and no modprobe.d configuration to read"),
    (KernelFacts(modules_available=True, loaded=("nouveau",), modprobe_dirs=("/etc/modprobe.d",)), NvidiaDriverFacts(),
     "the NVIDIA driver is not loaded"),
    (KernelFacts(modules_available=True, loaded=("nvidia",), unknown={"nouveau_blacklist": "no modprobe.d directory could be listed"}),
     NvidiaDriverFacts(), "cannot tell: no modprobe.d directory could be listed"),
])
def test_nouveau_not_blacklisted_skips(kernel, driver, detail):
    assert one(facts(kernel=kernel, nvidia_driver=driver), "nouveau.not-blacklisted") == Finding(
        "nouveau.not-blacklisted", Severity.SKIPPED, "not checked", detail)


# ------------------------------------------------------------------ memory.ram-below-vram


def test_ram_below_vram_rounding_does_not_hide_the_gap():
    """24 GB of DIMMs (23.5 GiB usable) under an RTX 4090's 24564 MiB."""
    f = facts(memory=MemoryFacts(total_mib=24105, source="/proc/meminfo"),
              gpus=(gpu(name="NVIDIA GeForce RTX 4090", memory_total_mib=24564),))
    assert one(f, "memory.ram-below-vram") == Finding(
        "memory.ram-below-vram", Severity.WARNING, "RAM (23.5 GiB) is smaller than GPU memory (24.0 GiB)",
        "Loading a checkpoint, pinned-memory data loaders and CPU offload all stage GPU-sized buffers in RAM; "
        "with less RAM than VRAM they swap or get killed by the OOM killer.",
        "# add RAM: at least 24 GiB (the largest GPU's memory), ideally the sum of all GPUs' memory\n"
        "free -g    # check after the upgrade",
        ("RAM: 24105 MiB (/proc/meminfo)", "0000:01:00.0 NVIDIA GeForce RTX 4090: 24564 MiB"))


def test_ram_above_the_largest_gpu_is_ok():
    f = facts(memory=MemoryFacts(total_mib=64323, source="/proc/meminfo"),
              gpus=(gpu(memory_total_mib=11172), gpu("0000:02:00.0", memory_total_mib=24564)))
    assert one(f, "memory.ram-below-vram") == Finding(
        "memory.ram-below-vram", Severity.OK, "RAM (63 GiB) is at least the largest GPU's memory (24 GiB)", "", "",
        ("RAM: 64323 MiB (/proc/meminfo)", "0000:02:00.0 GPU: 24564 MiB"))


def test_ram_below_vram_skips():
    assert one(facts(gpus=(gpu(memory_total_mib=8192),)), "memory.ram-below-vram").detail == "RAM unknown: not probed"
    assert one(facts(memory=MemoryFacts(unknown={"total_mib": "/proc/meminfo: missing"})), "memory.ram-below-vram") == \
        Finding("memory.ram-below-vram", Severity.SKIPPED, "not checked", "RAM unknown: /proc/meminfo: missing")
    assert one(facts(memory=MemoryFacts(total_mib=16000), gpus=(gpu(),)), "memory.ram-below-vram").detail == \
        "no GPU whose memory size is known"


# ------------------------------------------------------------------ the fake desktop, whole findings


def test_fake_desktop_findings():
    report = doctor(ReplayHost(part1_capture()))
    part1 = [f for f in report.findings if f.code in PART1]
    assert [(f.code, f.severity) for f in part1] == [
        ("nouveau.loaded", Severity.ERROR), ("nouveau.not-blacklisted", Severity.WARNING),
        ("pcie.link-degraded", Severity.WARNING), ("memory.ram-below-vram", Severity.SKIPPED),
        ("pcie.lanes-oversubscribed", Severity.SKIPPED)]
    assert part1[0] == Finding("nouveau.loaded", Severity.ERROR, "nouveau is loaded", NOUVEAU_DETAIL,
                               REBUILD_INITRAMFS["debian"],
                               ("/proc/modules: nouveau (loaded)", "/proc/modules: nvidia (loaded at the same time)"))
    assert part1[2].evidence == ("0000:02:00.0 GeForce RTX 4090 (PCI id 10de:2684): PCIe x8 of x16, Gen4 of Gen4 (sysfs)",)
    assert (report.status, report.exit_code) == ("error", 2)


# ------------------------------------------------------------------ registry conformance


def test_part1_checks_are_registered():
    assert set(PART1) <= set(REGISTRY)


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_check_is_well_formed_and_survives_empty_facts(code):
    check = REGISTRY[code]
    assert check.code == code
    assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9]+(-[a-z0-9]+)*)+", code), code
    assert check.description and check.description == check.description.strip() and "\n" not in check.description
    findings = check.run(facts())
    assert findings and all(isinstance(f, Finding) for f in findings)
    for f in findings:
        assert f.code == code
        assert f.severity != Severity.CRASHED
        assert f.title
        if f.severity == Severity.SKIPPED:
            assert f.detail  # the reason


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_problem_carries_evidence_and_a_fix(code):
    """On the fake desktop (which has errors and warnings) and on an empty machine."""
    for f in REGISTRY[code].run(doctor(ReplayHost(part1_capture())).facts) + REGISTRY[code].run(facts()):
        if f.severity in (Severity.ERROR, Severity.WARNING):
            assert f.evidence and all(isinstance(e, str) and e for e in f.evidence), f
            assert f.fix.strip(), f


# ------------------------------------------------------------------ selection, status, exit codes


def test_select_checks():
    assert select_checks() == sorted(REGISTRY)
    assert select_checks(["pcie"]) == ["pcie.lanes-oversubscribed", "pcie.link-degraded"]
    assert select_checks(["nouveau.loaded", "memory"]) == ["memory.ram-below-total-vram", "memory.ram-below-vram", "nouveau.loaded"]
    assert select_checks(["pcie", "nouveau"], ["nouveau.loaded", "pcie.lanes-oversubscribed"]) == \
        ["nouveau.not-blacklisted", "pcie.link-degraded"]
    assert "nouveau.loaded" not in select_checks(skip=["nouveau.loaded"])


@pytest.mark.parametrize("only,skip,message", [
    (["nope"], [], "unknown check 'nope'; see dlkit doctor --list-checks"),
    (["pcie.link"], [], "unknown check 'pcie.link'; did you mean pcie.link-degraded?"),
    ([], ["nouveau.lodaed"], "unknown check 'nouveau.lodaed'; did you mean nouveau.loaded?"),
])
def test_select_checks_unknown(only, skip, message):
    with pytest.raises(SelectionError) as info:
        select_checks(only, skip)
    assert str(info.value) == message


def test_doctor_only_runs_the_selected_checks():
    report = doctor(ReplayHost(part1_capture()), only=["pcie"], skip=["pcie.lanes-oversubscribed"])
    assert [f.code for f in report.findings] == ["pcie.link-degraded"]
    assert (report.status, report.exit_code) == ("warning", 1)


@pytest.mark.parametrize("severities,status,exit_code", [
    ((), "ok", 0),
    ((Severity.OK, Severity.SKIPPED, Severity.INFO), "ok", 0),
    ((Severity.OK, Severity.CRASHED), "warning", 1),
    ((Severity.WARNING, Severity.INFO), "warning", 1),
    ((Severity.CRASHED, Severity.ERROR), "error", 2),
])
def test_status_is_the_worst_severity(severities, status, exit_code):
    report = Report(facts(), tuple(Finding(f"x.c{i}", s, "t") for i, s in enumerate(severities)))
    assert (report.status, report.exit_code) == (status, exit_code)
    assert report.to_json()["status"] == status


def test_findings_are_sorted_worst_first_then_by_code():
    report = doctor(ReplayHost(part1_capture()))
    ranks = [(-f.severity.rank, f.code) for f in report.findings]
    assert ranks == sorted(ranks)
