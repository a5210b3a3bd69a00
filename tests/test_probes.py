"""Probes on real samples: the corpus (read at run time, never copied here) and
scripted fakes. Each test names the machine or the issue it pins."""

from __future__ import annotations

import re

import pytest
from conftest import fake_host

from dlkit.facts import CpuFacts, KernelFacts, MemoryFacts, OsFacts, PciDevice, PciFacts
from dlkit.host import ReplayHost, load_capture
from dlkit.probes import cpu, kmod, memory, osinfo, pci
from test_golden import CMDLINE, part1_capture

EPYC = "cpuinfo-amd-epyc-7451-96-threads"
NOUVEAU = "nvbugreport-4x-gtx-1080ti-nouveau-loaded"
BIFURCATION = "bifurcation-2x-rtx-4090-x670-x8x8-slow-card"
AWS_K520 = "aws-g2-2xlarge-grid-k520-kepler-xen"
OPENSHIFT = "openshift-2x-tesla-p100-lspci"


def _topology(text: str) -> tuple[int, int, int]:
    """(sockets, physical cores, logical cores) counted straight from the file, independently of the probe."""
    sockets, cores, logical = set(), set(), 0
    phys = None
    for line in text.splitlines():
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "processor":
            logical += 1
        elif key == "physical id":
            phys = value
            sockets.add(value)
        elif key == "core id":
            cores.add((phys, value))
    return len(sockets), len(cores), logical


# ------------------------------------------------------------------ cpu


def test_parse_cpuinfo_epyc_7451(corpus_file):
    blocks = cpu.parse_cpuinfo(corpus_file(EPYC, "proc_cpuinfo"))
    assert len(blocks) == 96
    assert blocks[0]["model name"] == "AMD EPYC 7451 24-Core Processor"
    assert blocks[0]["processor"] == "0" and blocks[95]["processor"] == "95"
    assert {b["physical id"] for b in blocks} == {"0", "1"}
    assert blocks[0]["cpu cores"] == "24" and blocks[0]["siblings"] == "48"


def test_cpu_collect_epyc_7451_two_sockets(corpus_file):
    text = corpus_file(EPYC, "proc_cpuinfo")
    assert _topology(text) == (2, 48, 96)  # what the file says: 2 x 24 cores, SMT on
    facts = cpu.collect(fake_host(files={"/proc/cpuinfo": text}))
    assert facts == CpuFacts(
        model="AMD EPYC 7451 24-Core Processor", vendor="AuthenticAMD", architecture="x86_64",
        sockets=2, physical_cores=48, logical_cores=96,
        base_mhz=2894.214,  # no cpufreq and no "@ GHz" in the name: the first CPU's "cpu MHz"
        max_mhz=None, isa=("sse4_2", "avx", "avx2", "fma", "f16c"), hypervisor=False,
        fp32_flops_per_cycle_per_core=16,  # Zen 1 (family 0x17, model 1): 2 x 128-bit FMA
        fp32_peak_gflops=2222.8,
        fp32_peak_basis="48 cores x 2.89 GHz (base clock) x 16 FP32 FLOPs/cycle: Zen 1/Zen+ AVX2, 2 x 128-bit FMA",
        source="/proc/cpuinfo", unknown={"max_mhz": "no cpufreq in sysfs (virtual machine or container)"})


def test_cpu_collect_xeon_e5_2637_v4(corpus_file):
    text = corpus_file(NOUVEAU, "proc_cpuinfo")
    assert _topology(text) == (1, 4, 8)
    facts = cpu.collect(fake_host(files={"/proc/cpuinfo": text}))
    assert (facts.model, facts.vendor, facts.sockets, facts.physical_cores, facts.logical_cores) == \
        ("Intel(R) Xeon(R) CPU E5-2637 v4 @ 3.50GHz", "GenuineIntel", 1, 4, 8)
    assert facts.base_mhz == 3500.0  # from "@ 3.50GHz" in the name
    assert (facts.fp32_flops_per_cycle_per_core, facts.fp32_peak_gflops) == (32, 448.0)


ARM_N1 = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 243.75\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
    for n in range(4))


def test_cpu_collect_arm_neoverse_n1_has_no_model_name():
    """Graviton2 / Ampere Altra: Arm's /proc/cpuinfo names no model; lscpu's table does."""
    assert "model name" not in ARM_N1
    facts = cpu.collect(fake_host(files={
        "/proc/cpuinfo": ARM_N1, "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3000000\n"}))
    assert facts == CpuFacts(
        model="ARM Neoverse-N1", vendor="ARM", architecture="aarch64", sockets=None, physical_cores=4,
        logical_cores=4, base_mhz=None, max_mhz=3000.0, isa=("asimd", "asimdhp", "asimddp"), hypervisor=None,
        fp32_flops_per_cycle_per_core=16, fp32_peak_gflops=192.0,
        fp32_peak_basis="4 cores x 3.00 GHz (max clock) x 16 FP32 FLOPs/cycle: Arm NEON, 2 x 128-bit FMA (assumed)",
        source="/proc/cpuinfo", unknown={})


def test_cpu_collect_arm_unknown_part_is_named_by_implementer():
    text = ARM_N1.replace("0xd0c", "0xfff")
    assert cpu.collect(fake_host(files={"/proc/cpuinfo": text})).model == "ARM part 0xfff"
    text = ARM_N1.replace("0x41", "0x99")
    facts = cpu.collect(fake_host(files={"/proc/cpuinfo": text}))
    assert (facts.vendor, facts.model) == ("Arm implementer 0x99", "Arm implementer 0x99 part 0xd0c")


def test_cpu_collect_vm_without_core_ids():
    """Some hypervisors show neither "physical id" nor "core id": no made-up core count."""
    text = "".join(f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
                   "model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz\n"
                   "flags\t\t: fpu sse2 lm avx avx2 fma avx512f hypervisor\n\n" for n in range(2))
    facts = cpu.collect(fake_host(files={"/proc/cpuinfo": text}))
    assert (facts.logical_cores, facts.physical_cores, facts.sockets, facts.hypervisor) == (2, None, None, True)
    assert facts.unknown == {
        "physical_cores": "/proc/cpuinfo has no 'core id' (virtual machine?)",
        "max_mhz": "no cpufreq in sysfs (virtual machine or container)",
        "fp32_peak_gflops": "needs physical cores, a clock and a known ISA"}
    assert facts.fp32_peak_gflops is None and facts.base_mhz == 2500.0


def test_cpu_collect_non_utf8_model_name():
    text = "processor\t: 0\nmodel name\t: Intel\xae Xeon\xae\nflags\t\t: lm sse2\n"
    host = fake_host()
    host.capture.files["/proc/cpuinfo"] = text.encode("latin-1")
    facts = cpu.collect(host)
    assert facts.model == "Intel\ufffd Xeon\ufffd"
    assert facts.logical_cores == 1


def test_cpu_collect_windows_uses_py_cpuinfo_from_the_capture():
    facts = cpu.collect(fake_host(platform="windows", live={
        "cpuinfo.get_cpu_info": {"brand_raw": "AMD Ryzen 9 7950X 16-Core Processor", "vendor_id_raw": "AuthenticAMD",
                                 "arch": "X86_64", "count": 32, "hz_advertised": [4501000000, 0],
                                 "flags": ["avx", "avx2", "fma", "avx512f", "sse4_2"], "family": 25, "model": 97},
        "psutil.cpu_count": {"logical": 32, "physical": 16}}))
    assert facts == CpuFacts(
        model="AMD Ryzen 9 7950X 16-Core Processor", vendor="AuthenticAMD", architecture="x86_64", sockets=None,
        physical_cores=16, logical_cores=32, base_mhz=4501.0, max_mhz=None,
        isa=("sse4_2", "avx", "avx2", "fma", "avx512f"), hypervisor=False, fp32_flops_per_cycle_per_core=32,
        fp32_peak_gflops=2304.5,
        fp32_peak_basis="16 cores x 4.50 GHz (base clock) x 32 FP32 FLOPs/cycle: AVX-512 on 256-bit units (Zen 4 / mobile Zen 5)",
        source="py-cpuinfo + psutil", unknown={})


def test_cpu_collect_windows_without_py_cpuinfo():
    assert cpu.collect(fake_host(platform="windows")) == CpuFacts(
        unknown={"model": "/proc/cpuinfo missing, and py-cpuinfo gave no answer"})


@pytest.mark.parametrize("vendor,model,family,flags,model_number,expected", [
    ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8480+", 6, {"avx512f", "amx_bf16"}, 143, 64),
    ("GenuineIntel", "Intel(R) Core(TM) i9-11900K", 6, {"avx512f", "avx2", "fma"}, 167, 32),
    ("AuthenticAMD", "AMD EPYC 9654 96-Core Processor", 0x19, {"avx512f", "avx2", "fma"}, 17, 32),
    ("AuthenticAMD", "AMD EPYC 9755 128-Core Processor", 0x1A, {"avx512f", "avx2", "fma"}, 2, 64),
    ("AuthenticAMD", "AMD Ryzen AI 9 HX 370", 0x1A, {"avx512f"}, 36, 32),
    ("AuthenticAMD", "AMD EPYC 7451 24-Core Processor", 0x17, {"avx2", "fma"}, 1, 16),
    ("AuthenticAMD", "AMD EPYC 7742 64-Core Processor", 0x17, {"avx2", "fma"}, 49, 32),
    ("GenuineIntel", "Intel(R) Xeon(R) CPU E5-2670 0", 6, {"avx", "sse2"}, 45, 16),
    ("GenuineIntel", "Intel(R) Core(TM)2 Duo", 6, {"sse2"}, 23, 8),
    (None, None, None, set(), None, None),
])
def test_flops_per_cycle(vendor, model, family, flags, model_number, expected):
    assert cpu.flops_per_cycle(vendor, model, family, flags, model_number)[0] == expected


# ------------------------------------------------------------------ memory


def test_parse_and_collect_meminfo_nvbugreport(corpus_file):
    text = corpus_file(NOUVEAU, "proc_meminfo")
    info = memory.parse_meminfo(text)
    assert (info["MemTotal"], info["MemAvailable"], info["SwapTotal"]) == (65867128, 65052052, 66998268)
    assert memory.collect(fake_host(files={"/proc/meminfo": text})) == MemoryFacts(
        total_mib=64323, available_mib=63527, swap_total_mib=65427, source="/proc/meminfo", unknown={})


def test_collect_meminfo_old_kernel_without_memavailable():
    facts = memory.collect(fake_host(files={"/proc/meminfo": "MemTotal:        8000000 kB\nMemFree: 100 kB\n"}))
    assert facts == MemoryFacts(total_mib=7812, available_mib=None, swap_total_mib=None, source="/proc/meminfo",
                                unknown={"available_mib": "/proc/meminfo has no MemAvailable (kernel < 3.14)"})


def test_collect_memory_windows_from_psutil_in_the_capture():
    facts = memory.collect(fake_host(platform="windows", live={
        "psutil.virtual_memory": {"total": 34359738368, "available": 17179869184},
        "psutil.swap_memory": {"total": 2147483648, "free": 0}}))
    assert facts == MemoryFacts(total_mib=32768, available_mib=16384, swap_total_mib=2048, source="psutil")


# ------------------------------------------------------------------ os


def test_os_collect_the_fake_ubuntu_desktop():
    facts = osinfo.collect(ReplayHost(part1_capture()))
    assert facts == OsFacts(platform="linux", distro_id="ubuntu", distro_name="Ubuntu 22.04.4 LTS",
                            distro_version="22.04", distro_family="debian", kernel="6.5.0-35-generic", wsl=False,
                            container=None, virtual_machine=None, unknown={})


@pytest.mark.parametrize("files,expected", [
    ({"/proc/version": "Linux version 5.15.146.1-microsoft-standard-WSL2 (root@65c757a075e2) (gcc) #1 SMP\n",
      "/.dockerenv": ""},
     {"kernel": "5.15.146.1-microsoft-standard-WSL2", "wsl": True, "container": "docker"}),
    ({"/run/.containerenv": "engine=\"podman-4.9\"\n"}, {"container": "podman"}),
    ({"/proc/1/cgroup": "12:pids:/kubepods/burstable/pod1234/abcd\n"}, {"container": "kubernetes"}),
    ({"/sys/class/dmi/id/sys_vendor": "QEMU\n", "/sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n"},
     {"virtual_machine": "kvm"}),
    ({"/sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "/sys/class/dmi/id/product_name": "Virtual Machine\n"},
     {"virtual_machine": "hyperv"}),
    ({"/sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "/sys/class/dmi/id/product_name": "Surface Laptop 5\n"},
     {"virtual_machine": None}),
    ({"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n"}, {"virtual_machine": "amazon"}),
])
def test_os_collect_wsl_containers_and_vms(files, expected):
    facts = osinfo.collect(fake_host(files={"/etc/os-release": "ID=fedora\nVERSION_ID=40\nNAME=\"Fedora Linux\"\n",
                                            "/proc/version": "Linux version 6.8.5-301.fc40.x86_64 (mockbuild@x) #1\n",
                                            **files}))
    base = {"platform": "linux", "distro_id": "fedora", "distro_name": "Fedora Linux", "distro_version": "40",
            "distro_family": "rhel", "kernel": "6.8.5-301.fc40.x86_64", "wsl": False, "container": None,
            "virtual_machine": None, "unknown": {}}
    assert facts == OsFacts(**(base | expected))


def test_os_release_fallback_to_usr_lib():
    facts = osinfo.collect(fake_host(files={"/usr/lib/os-release": "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n",
                                            "/proc/version": "Linux version 6.9.1-arch1-1 (linux@archlinux) #1\n"}))
    assert (facts.distro_id, facts.distro_name, facts.distro_family, facts.unknown) == ("arch", "Arch Linux", "arch", {})


def test_parse_os_release_quoting():
    assert osinfo.parse_os_release('NAME="Pop!_OS"\nID=pop\nID_LIKE="ubuntu debian"\n# ID=x\nBROKEN="unclosed\n') == {
        "NAME": "Pop!_OS", "ID": "pop", "ID_LIKE": "ubuntu debian", "BROKEN": "unclosed"}
    assert osinfo.distro_family({"ID": "pop", "ID_LIKE": "ubuntu debian"}) == "debian"
    assert osinfo.distro_family({"ID": "nixos"}) is None


# ------------------------------------------------------------------ kernel modules, driver


def test_parse_modules_nvbugreport_nouveau_loaded_with_nvidia(corpus_file):
    names = kmod.parse_modules(corpus_file(NOUVEAU, "proc_modules"))
    assert len(names) == 89
    assert {"nouveau", "nvidia", "nvidia_drm", "nvidia_modeset"} <= set(names)
    assert "nvidia_uvm" not in names


def test_kmod_collect_nvbugreport(corpus_capture):
    host = ReplayHost(load_capture(str(corpus_capture(NOUVEAU))))
    assert kmod.collect(host) == KernelFacts(
        modules_available=True, loaded=("nouveau", "nvidia", "nvidia_drm", "nvidia_modeset"), module_versions={},
        cmdline="BOOT_IMAGE=/boot/vmlinuz-4.4.0-87-generic.efi.signed root=/dev/sde2 ro",
        modprobe_dirs=(), modprobe_files=(), nouveau_blacklist=(),
        unknown={"nouveau_blacklist": "no modprobe.d directory could be listed"})
    from dlkit.probes import nvidia
    assert nvidia.collect(host).driver.module_version == "384.59"


def test_parse_modules_ignores_the_lsmod_header():
    text = "Module                  Size  Used by\nnvidia_uvm           1753088  0\nnouveau  2412544  1\n"
    assert kmod.parse_modules(text) == ["nvidia_uvm", "nouveau"]


def test_kmod_collect_the_fake_desktop():
    assert kmod.collect(ReplayHost(part1_capture())) == KernelFacts(
        modules_available=True, loaded=("i915", "nouveau", "nvidia", "nvidia_drm", "nvidia_modeset", "nvidia_uvm"),
        module_versions={"nvidia": "550.54.14"}, cmdline=CMDLINE, modprobe_dirs=("/etc/modprobe.d",),
        modprobe_files=("/etc/modprobe.d/alsa-base.conf", "/etc/modprobe.d/nvidia-graphics-drivers-kms.conf"),
        nouveau_blacklist=(), unknown={})


def test_kmod_blacklist_from_modprobe_d_and_cmdline():
    host = fake_host(files={
        "/proc/modules": "nvidia 54255616 65 - Live 0x0 (POE)\n",
        "/proc/cmdline": "quiet rd.driver.blacklist=nouveau,radeon\n",
        "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf": "# generated by nvidia-installer\nblacklist nouveau\noptions nouveau modeset=0\n",
        "/etc/modprobe.d/disable.conf": "install nouveau /bin/false\n",
        "/etc/modprobe.d/README": "blacklist nouveau (not a .conf file: modprobe ignores it)\n",
        "/etc/modprobe.d/commented.conf": "#blacklist nouveau\nblacklist  nouveau_fb\n",
    })
    facts = kmod.collect(host)
    assert facts.nouveau_blacklist == (
        "/proc/cmdline: rd.driver.blacklist=nouveau,radeon",
        "/etc/modprobe.d/disable.conf: install nouveau /bin/false",
        "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf: blacklist nouveau",
        "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf: options nouveau modeset=0")
    assert facts.modprobe_dirs == ("/etc/modprobe.d", "/usr/lib/modprobe.d")
    assert facts.modprobe_files == ("/etc/modprobe.d/commented.conf", "/etc/modprobe.d/disable.conf",
                                    "/usr/lib/modprobe.d/nvidia-installer-disable-nouveau.conf")


@pytest.mark.parametrize("text,expected", [
    ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.59  Wed Jul 19 23:53:34 PDT 2017\n", "384.59"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16)\n", "550.54.14"),
    ("NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.104.05  Sat Aug 19 01:13:15 UTC 2023\n", "535.104.05"),
    ("garbage\n", None),
])
def test_parse_driver_version(text, expected):
    assert kmod.parse_driver_version(text) == expected


def test_parse_driver_version_corpus(corpus_file):
    assert kmod.parse_driver_version(corpus_file(NOUVEAU, "proc_driver_nvidia_version")) == "384.59"


# ------------------------------------------------------------------ pci


@pytest.mark.parametrize("speed,gen", [("2.5 GT/s PCIe", 1), ("5.0 GT/s PCIe", 2), ("8.0 GT/s PCIe", 3),
                                       ("16.0 GT/s PCIe", 4), ("32.0 GT/s PCIe", 5), ("64.0 GT/s PCIe", 6),
                                       ("2.5 GT/s", 1), ("Unknown", None), ("", None), (None, None)])
def test_pcie_gen(speed, gen):
    assert pci.pcie_gen(speed) == gen


def _nvidia(bdf, gen_cur, gen_max, width_cur, width_max, cls="0x030000", device_id=None):
    return PciDevice(bus_id=bdf, vendor_id="0x10de", device_id=device_id, class_code=cls, driver="nvidia",
                     pcie_gen_current=gen_cur, pcie_gen_max=gen_max, pcie_width_current=width_cur,
                     pcie_width_max=width_max)


def test_pci_bifurcation_two_4090s_at_x8(corpus_capture):
    facts = pci.collect(ReplayHost(load_capture(str(corpus_capture(BIFURCATION)))))
    assert facts == PciFacts(devices=(_nvidia("0000:01:00.0", 1, 4, 8, 16), _nvidia("0000:03:00.0", 1, 4, 8, 16)),
                             devices_seen=2, unknown={})


def test_pci_aws_g2_k520_gen1_at_idle_and_a_cirrus_vga(corpus_capture):
    facts = pci.collect(ReplayHost(load_capture(str(corpus_capture(AWS_K520)))))
    assert facts == PciFacts(devices=(
        PciDevice(bus_id="0000:00:02.0", vendor_id="0x1013", class_code="0x030000", driver="cirrus"),
        _nvidia("0000:00:03.0", 1, 3, 16, 16)), devices_seen=2, unknown={})


def test_pci_openshift_two_p100_3d_controllers(corpus_capture):
    facts = pci.collect(ReplayHost(load_capture(str(corpus_capture(OPENSHIFT)))))
    assert facts == PciFacts(devices=(
        _nvidia("0000:04:00.0", 3, 3, 16, 16, cls="0x030200"),
        PciDevice(bus_id="0000:0a:00.0", vendor_id="0x102b", class_code="0x030000", driver="mgag200"),
        _nvidia("0000:82:00.0", 3, 3, 16, 16, cls="0x030200")), devices_seen=3, unknown={})


def test_pci_nvbugreport_four_1080ti(corpus_capture):
    facts = pci.collect(ReplayHost(load_capture(str(corpus_capture(NOUVEAU)))))
    assert facts.devices == (
        _nvidia("0000:04:00.0", 3, 3, 16, 16, device_id="0x1b06"), _nvidia("0000:05:00.0", 2, 3, 16, 16, device_id="0x1b06"),
        _nvidia("0000:08:00.0", 1, 3, 16, 16, device_id="0x1b06"), _nvidia("0000:09:00.0", 1, 3, 16, 16, device_id="0x1b06"),
        PciDevice(bus_id="0000:0c:00.0", vendor_id="0x1a03", device_id="0x2000", class_code="0x030000"))
    assert (facts.devices_seen, facts.unknown) == (5, {})


def test_pci_fake_desktop_sorted_gpus_only():
    facts = pci.collect(ReplayHost(part1_capture()))
    assert [d.bus_id for d in facts.devices] == ["0000:00:02.0", "0000:01:00.0", "0000:02:00.0"]  # not the audio device
    assert facts.devices[1] == PciDevice(bus_id="0000:01:00.0", vendor_id="0x10de", device_id="0x2684",
                                         class_code="0x030000", driver="nvidia", pcie_gen_current=4, pcie_gen_max=4,
                                         pcie_width_current=16, pcie_width_max=16, numa_node=0)
    assert (facts.devices_seen, facts.unknown) == (4, {})


def test_pci_ignores_entries_that_are_not_bus_ids():
    host = fake_host(files={"/sys/bus/pci/devices/README/class": "0x030000\n",
                            "/sys/bus/pci/devices/0000:65:00.0/class": "0x120000\n",
                            "/sys/bus/pci/devices/0000:65:00.0/vendor": "0x10DE\n"})
    facts = pci.collect(host)
    assert facts.devices == (PciDevice(bus_id="0000:65:00.0", vendor_id="0x10de", class_code="0x120000"),)
    assert facts.devices_seen == 2
    assert re.fullmatch(r"0x1200\d\d", facts.devices[0].class_code) and facts.devices[0].is_gpu


@pytest.mark.parametrize("info, counts", [
    ({"brand_raw": 5, "flags": 5, "count": "8", "arch": ["x"]}, [1, 2]),
    ({"brand_raw": "Some CPU", "flags": None}, {"physical": "8", "logical": True}),
])
def test_cpu_and_memory_take_garbage_library_answers_as_unknown(info, counts):
    facts = cpu.collect(fake_host(platform="windows", live={"cpuinfo.get_cpu_info": info, "psutil.cpu_count": counts}))
    assert facts.physical_cores is None and facts.logical_cores is None and facts.isa == ()
    assert facts.model in (None, "Some CPU")
    mem = memory.collect(fake_host(platform="windows", live={
        "psutil.virtual_memory": {"total": 1024 * 1024 * 8}, "psutil.swap_memory": [1, 2]}))
    assert (mem.total_mib, mem.swap_total_mib) == (8, None)


def test_odd_sysfs_link_speed_is_unknown_not_a_crash():
    assert pci.pcie_gen("8.0.0 GT/s") is None and pci.pcie_gen("16.0 GT/s PCIe") == 4
