"""Golden test: the whole ``dlkit doctor --json`` envelope of a hand-built machine.

The machine (``part1_machine``) is a scripted fake, built here and shared with the fault
matrix (test_faults.py) and the probe tests: a desktop with two NVIDIA GPUs (one at x8 of
its x16 link), an Intel iGPU, nouveau loaded next to nvidia 550.54.14 and not blacklisted,
16 GiB of RAM, Ubuntu 22.04. Its manifest fixes ``created``, so the document is
deterministic.

Regenerate after a deliberate change of the report (review the diff!):

    DLKIT_REGEN_GOLDEN=1 python -m pytest -q tests/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from dlkit import __version__
from dlkit.cli import app
from dlkit.host import Capture, write_capture

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("DLKIT_REGEN_GOLDEN") == "1"
CREATED = "2026-01-01T00:00:00Z"
# The version is checked against dlkit.__version__ and stored as this placeholder, so a
# release does not rewrite the golden files.
VERSION_PLACEHOLDER = "<dlkit.__version__>"

GPU0, GPU1, IGPU, AUDIO = "0000:01:00.0", "0000:02:00.0", "0000:00:02.0", "0000:00:1f.3"
DEV = "/sys/bus/pci/devices"
NVIDIA_LINK = "../../../../bus/pci/drivers/nvidia"


def _cpu_block(n: int) -> str:
    return (
        f"processor\t: {n}\n"
        "vendor_id\t: GenuineIntel\n"
        "cpu family\t: 6\n"
        "model\t\t: 158\n"
        "model name\t: Intel(R) Core(TM) i7-7700K CPU @ 4.20GHz\n"
        "stepping\t: 9\n"
        "cpu MHz\t\t: 800.012\n"
        "physical id\t: 0\n"
        "siblings\t: 8\n"
        f"core id\t\t: {n % 4}\n"
        "cpu cores\t: 4\n"
        "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
        "sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 fma cx16 sse4_1 "
        "sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch avx2 bmi2 erms\n"
        "bogomips\t: 8399.81\n"
        "\n"
    )


def _pci(bdf: str, vendor: str, device: str, cls: str, link: tuple[str, str, str, str] | None = None,
         numa: str = "-1") -> dict[str, str]:
    files = {f"{DEV}/{bdf}/vendor": f"{vendor}\n", f"{DEV}/{bdf}/device": f"{device}\n",
             f"{DEV}/{bdf}/class": f"{cls}\n", f"{DEV}/{bdf}/numa_node": f"{numa}\n"}
    if link:
        cur_speed, cur_width, max_speed, max_width = link
        files |= {f"{DEV}/{bdf}/current_link_speed": f"{cur_speed}\n",
                  f"{DEV}/{bdf}/current_link_width": f"{cur_width}\n",
                  f"{DEV}/{bdf}/max_link_speed": f"{max_speed}\n",
                  f"{DEV}/{bdf}/max_link_width": f"{max_width}\n"}
    return files


OS_RELEASE = (
    'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
    'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n'
    'HOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n'
)
PROC_VERSION = ("Linux version 6.5.0-35-generic (buildd@lcy02-amd64-079) (x86_64-linux-gnu-gcc-12 (Ubuntu "
                "12.3.0-1ubuntu1~22.04) 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #35~22.04.1-Ubuntu SMP "
                "PREEMPT_DYNAMIC Tue May  7 09:00:52 UTC 2\n")
CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-6.5.0-35-generic root=UUID=3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f ro quiet splash"
MODULES = (
    "nvidia_uvm 1753088 0 - Live 0x0000000000000000 (POE)\n"
    "nvidia_drm 90112 4 - Live 0x0000000000000000 (POE)\n"
    "nvidia_modeset 1355776 5 nvidia_drm, Live 0x0000000000000000 (POE)\n"
    "nvidia 54255616 65 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)\n"
    "nouveau 2412544 0 - Live 0x0000000000000000\n"
    "i915 3735552 12 - Live 0x0000000000000000\n"
    "snd_hda_intel 57344 4 - Live 0x0000000000000000\n"
)
NVIDIA_VERSION = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
                  "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n")


def part1_machine() -> tuple[dict[str, str], dict[str, str]]:
    """(files, links) of the fake machine, at their absolute paths on the machine."""
    files = {
        "/proc/cpuinfo": "".join(_cpu_block(n) for n in range(8)),
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "4500000\n",
        "/proc/meminfo": ("MemTotal:       16318480 kB\nMemFree:         9630740 kB\n"
                          "MemAvailable:   14002312 kB\nBuffers:          412044 kB\n"
                          "SwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n"),
        "/etc/os-release": OS_RELEASE,
        "/proc/version": PROC_VERSION,
        "/proc/1/cgroup": "0::/init.scope\n",
        "/sys/class/dmi/id/sys_vendor": "Micro-Star International Co., Ltd.\n",
        "/sys/class/dmi/id/product_name": "MS-7B98\n",
        "/proc/cmdline": CMDLINE + "\n",
        "/proc/modules": MODULES,
        "/sys/module/nvidia/version": "550.54.14\n",
        "/etc/modprobe.d/alsa-base.conf": "options snd-hda-intel model=auto\n",
        "/etc/modprobe.d/nvidia-graphics-drivers-kms.conf": "# nvidia-drm KMS\noptions nvidia-drm modeset=1\n",
        "/proc/driver/nvidia/version": NVIDIA_VERSION,
    }
    files |= _pci(GPU0, "0x10de", "0x2684", "0x030000", ("16.0 GT/s PCIe", "16", "16.0 GT/s PCIe", "16"), numa="0")
    files |= _pci(GPU1, "0x10de", "0x2684", "0x030000", ("16.0 GT/s PCIe", "8", "16.0 GT/s PCIe", "16"))
    files |= _pci(IGPU, "0x8086", "0x5912", "0x030000")
    files |= _pci(AUDIO, "0x8086", "0xa2f0", "0x040300")
    links = {f"{DEV}/{GPU0}/driver": NVIDIA_LINK, f"{DEV}/{GPU1}/driver": NVIDIA_LINK,
             f"{DEV}/{IGPU}/driver": "../../../../bus/pci/drivers/i915",
             f"{DEV}/{AUDIO}/driver": "../../../../bus/pci/drivers/snd_hda_intel"}
    return files, links


def part1_capture(files: dict[str, str | bytes] | None = None, links: dict[str, str] | None = None,
                  unreadable: dict[str, str] | None = None) -> Capture:
    """The machine as an in-memory capture (or a variant of it: other files, links, unreadable paths)."""
    if files is None or links is None:
        base_files, base_links = part1_machine()
        files = base_files if files is None else files
        links = base_links if links is None else links
    manifest = {"format": "dlkit-capture", "version": 1, "created": CREATED, "dlkit_version": "test",
                "platform": "linux", "redacted": False, "notes": "hand-built fake (tests/test_golden.py)"}
    if unreadable:
        manifest["unreadable"] = dict(unreadable)
    return Capture(manifest=manifest,
                   files={p: d if isinstance(d, bytes) else d.encode() for p, d in files.items()},
                   links=dict(links))


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run DLKIT_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file (DLKIT_REGEN_GOLDEN=1 regenerates it; review the diff)"


def _doctor_cli(tmp_path, *args: str):
    cap = tmp_path / "part1-fake"
    write_capture(part1_capture(), str(cap))
    return CliRunner().invoke(app, ["doctor", "--from", str(cap), *args]), str(cap)


def test_json_envelope_matches_golden(tmp_path):
    result, _ = _doctor_cli(tmp_path, "--json")
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    # the whole stdout is this one document, pretty-printed, newline-terminated
    assert result.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert doc["schema"] == "dlkit.doctor/1"
    assert doc["facts"]["run"] == {"created": CREATED, "dlkit_version": __version__}
    assert result.exit_code == {"ok": 0, "warning": 1, "error": 2}[doc["status"]]
    doc["facts"]["run"]["dlkit_version"] = VERSION_PLACEHOLDER
    _check_golden("part1_fake.json", json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def test_golden_json_says_what_part1_diagnoses():
    """Reads the golden file itself, so that a careless regeneration cannot pin a wrong diagnosis."""
    doc = json.loads((GOLDEN / "part1_fake.json").read_text(encoding="utf-8"))
    assert doc["status"] == "error"
    by_code = {f["code"]: f for f in doc["findings"]}
    assert by_code["nouveau.loaded"]["severity"] == "error"
    assert by_code["nouveau.not-blacklisted"]["severity"] == "warning"
    assert by_code["pcie.link-degraded"]["severity"] == "warning"
    assert by_code["pcie.link-degraded"]["title"] == f"PCIe link narrower than the GPU supports ({GPU1})"
    assert [g["pci_bus_id"] for g in doc["facts"]["gpus"]] == [GPU0, GPU1]
    assert [g["pci_bus_id"] for g in doc["facts"]["other_gpus"]] == [IGPU]
    assert doc["facts"]["memory"]["total_mib"] == 15936
    assert doc["facts"]["os"]["distro_id"] == "ubuntu"
    assert doc["facts"]["cpu"]["model"] == "Intel(R) Core(TM) i7-7700K CPU @ 4.20GHz"
    assert doc["facts"]["nvidia_driver"]["version"] == "550.54.14"
    # the keys spec §2 requires at least
    for g in doc["facts"]["gpus"]:
        assert {"name", "memory_total_mib", "pci_bus_id", "compute_capability", "pcie_gen_current", "pcie_gen_max",
                "pcie_width_current", "pcie_width_max", "power_limit_w", "power_default_limit_w"} <= set(g)
    assert {"version", "cuda_version"} <= set(doc["facts"]["nvidia_driver"])
    assert {"model", "logical_cores"} <= set(doc["facts"]["cpu"])
    assert {"schema", "status", "facts", "findings"} == set(doc)
    for f in doc["findings"]:
        assert set(f) == {"code", "severity", "title", "detail", "fix", "evidence"}


def test_markdown_matches_golden(tmp_path):
    result, cap = _doctor_cli(tmp_path, "--markdown")
    assert result.stderr == ""
    assert result.exit_code == 2
    head = f"dlkit {__version__}, replayed from {cap}, {CREATED}"
    assert head in result.stdout
    text = result.stdout.replace(head, f"dlkit {VERSION_PLACEHOLDER}, replayed from <capture>, {CREATED}", 1)
    _check_golden("part1_fake.md", text)
