"""A new build before the driver: an NVIDIA GPU on the bus, nouveau loaded, no NVIDIA driver.
doctor names the GPU from its PCI id, with its architecture and compute capability, and the
fixes name the driver branch and the PyTorch build for that GPU (tests/fixtures/no-driver,
written by tests/fixtures/make_no_driver.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlkit.catalog import gpu_support
from dlkit.engine import doctor
from dlkit.host import ReplayHost, load_capture
from dlkit.render.summary import machine_lines
from dlkit.report import Severity

FIXTURES = Path(__file__).parent / "fixtures" / "no-driver"

# fixture: (the name doctor shows, arch, CC, legacy driver?, current PyTorch has kernels?)
CASES = {
    "kepler-tesla-k80": ("Tesla K80", "Kepler", "3.7", True, False),
    "maxwell-gtx-980-ti": ("GeForce GTX 980 Ti", "Maxwell", "5.2", None, True),
    "ampere-rtx-3090": ("GeForce RTX 3090", "Ampere", "8.6", False, True),
    "ada-rtx-4090": ("GeForce RTX 4090", "Ada", "8.9", False, True),
    "blackwell-rtx-5090": ("GeForce RTX 5090", "Blackwell", "12.0", False, True),
}


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_a_gpu_without_a_driver_is_named_with_what_serves_it(fixture):
    name, arch, cc, legacy, current = CASES[fixture]
    report = doctor(ReplayHost(load_capture(str(FIXTURES / f"{fixture}.tar.gz"))), timeout_s=5)
    by_code = {f.code: f for f in report.findings}
    assert by_code["nouveau.loaded"].severity == Severity.ERROR
    not_loaded = by_code["driver.not-loaded"]
    assert not_loaded.severity == Severity.ERROR
    [gpu] = report.facts.gpus
    assert gpu.name is None and gpu.pci_device_id  # sysfs gave only the id
    [part] = report.facts.build.gpus
    assert (part.catalog_name, part.cc, part.identified_by) == (name, cc, f"PCI id 10de:{gpu.pci_device_id[2:]}")
    assert part.arch.startswith(arch)
    lines = dict((k, v) for k, v in machine_lines(report.facts) if k == "GPU")
    assert lines["GPU"].startswith(f"0000:01:00.0: {name} (PCI id 10de:")
    assert f"0000:01:00.0: {name} ({part.arch}, compute capability {cc}), identified by PCI id" in \
        "\n".join(not_loaded.evidence)
    fix = not_loaded.fix
    branch = gpu_support.driver_branch(cc)
    wheel = gpu_support.wheel_for_cc(cc)
    assert wheel is not None and wheel.install() in fix
    if legacy:
        assert f"the {branch['branch']} legacy driver branch" in fix
    elif legacy is False:
        assert f"the {branch['branch']} branch or newer supports" in fix
    if current:
        assert "# then PyTorch with kernels for it: pip install torch --index-url https://download.pytorch.org/whl/cu" in fix
    else:
        assert "current PyTorch has no kernels for it; the last release that does is torch 2.7 (cu118)" in fix
    if fixture.startswith("kepler"):
        assert by_code["gpu.arch-unsupported"].severity == Severity.WARNING  # from the PCI id alone


def test_ada_gets_a_current_branch_and_a_cuda_12_or_13_wheel():
    wheel = gpu_support.wheel_for_cc("8.9")
    assert wheel.current and wheel.tag in ("cu126", "cu128", "cu129", "cu130")
    assert gpu_support.driver_branch("8.9")["status"] == "current"
    assert gpu_support.driver_branch("3.7")["status"] == "legacy"


def test_the_machines_own_pci_ids_names_a_card_the_catalog_has_no_id_for():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_no_driver", Path(__file__).parent / "fixtures" / "make_no_driver.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    cap = make.capture("0x2685", "16.0 GT/s PCIe", "16")  # an id no catalog row has
    cap.files["/usr/share/hwdata/pci.ids"] = (b"# pci.ids excerpt\n10de  NVIDIA Corporation\n"
                                              b"\t2684  AD102 [GeForce RTX 4090]\n\t2685  AD102 [GeForce RTX 4090 D]\n"
                                              b"\t\t10de 167c  some board\n1002  Advanced Micro Devices, Inc. [AMD/ATI]\n")
    cap.reindex()
    report = doctor(ReplayHost(cap), timeout_s=5)
    [gpu] = report.facts.gpus
    assert gpu.pci_name == "AD102 [GeForce RTX 4090 D]"
    lines = dict(machine_lines(report.facts))
    assert lines["GPU"].startswith("0000:01:00.0: GeForce RTX 4090 D (family rule)")
    evidence = "\n".join(next(f for f in report.findings if f.code == "driver.not-loaded").evidence)
    assert "GeForce RTX 4090 D (compute capability 8.9), identified by family rule" in evidence
