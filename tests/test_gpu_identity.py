"""One GPU identity: every name in every shipped table, and every alias, lands on the same
gpus.csv row with the same compute capability through each command's resolution path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dlkit.benchmarks.peaks import find_model as bench_model
from dlkit.benchmarks.reference import references
from dlkit.catalog import gpu_identity
from dlkit.catalog.cloud import match_gpus, packaged_rows
from dlkit.catalog.gpu_identity import CcFamily, CloudName, PciId
from dlkit.catalog.names import UnknownPart
from dlkit.catalog.tables import shipped
from dlkit.checks.framework import gpu_cc
from dlkit.facts import GpuFacts
from dlkit.recipes.cloud import bench_gpu, rate_lookup
from dlkit.recipes.machine import identify as doctor_identify

MODELS = gpu_identity.models()
SPELLINGS = [(m, n) for m in MODELS for n in dict.fromkeys((m.name, *m.aliases))]
ACCELERATORS = sorted({r.gpu for r in packaged_rows()})


def _shared(name: str) -> list:
    """The rows that carry ``name``: several only for memory variants of one card."""
    return [m for m in MODELS if name.lower() in (n.lower() for n in (m.name, *m.aliases))]


def _reported_mib(model) -> float:
    return model.gpu_memory_gib * 1024 * 0.98  # NVML shows a little less than the size sold


def test_keys_are_unique_and_an_alias_names_two_rows_only_for_memory_variants():
    assert len({m.key for m in MODELS}) == len(MODELS)
    for m, n in SPELLINGS:
        rows = _shared(n)
        assert len({(r.arch, r.cc, r.vendor) for r in rows}) == 1, f"{n!r} names {[r.key for r in rows]}"
        assert len({r.memory_gib for r in rows}) == len(rows), f"{n!r} names rows of the same memory size"
    assert [m.key for m in _shared("NVIDIA GeForce RTX 4060 Ti")] == ["GeForce RTX 4060 Ti 8GB", "GeForce RTX 4060 Ti 16GB"]


@pytest.mark.parametrize("model,name", SPELLINGS, ids=[f"{m.key}|{n}" for m, n in SPELLINGS])
def test_every_name_and_alias_resolves_to_its_row_on_every_path(model, name):
    # plan-build (typed), doctor (probed name), bench (its GPU's catalog row), cloud-cost (an accelerator)
    memory = _reported_mib(model) if len(_shared(name)) > 1 else None
    if memory is None:
        assert gpu_identity.resolve(name) is model
        assert gpu_identity.cloud_gpu(name) is model
    else:  # a name memory variants share: typed, it asks which one; probed, the memory says
        with pytest.raises(UnknownPart, match="name one"):
            gpu_identity.resolve(name)
    found = doctor_identify(GpuFacts(pci_bus_id=None, name=name, memory_total_mib=memory))
    assert (found.model, found.cc) == (model, model.cc)
    assert bench_model(name, None if memory is None else memory / 1024) is model
    assert model in gpu_identity.family(name)
    if model.vendor == "nvidia":
        assert gpu_cc(GpuFacts(pci_bus_id=None, name=name))[0] == model.cc


def test_memory_variants_without_a_memory_reading_keep_their_architecture_and_cc():
    found = doctor_identify(GpuFacts(pci_bus_id=None, name="NVIDIA GeForce RTX 4060 Ti"))
    assert (found.model, found.name, found.arch, found.cc, found.basis) == (
        None, "NVIDIA GeForce RTX 4060 Ti", "Ada", "8.9", "name")
    nameless = doctor_identify(GpuFacts(pci_bus_id="0000:01:00.0", pci_vendor_id="0x10de", pci_device_id="0x2803"))
    assert (nameless.model, nameless.name, nameless.cc, nameless.basis) == (None, "GeForce RTX 4060 Ti", "8.9",
                                                                           "PCI id 10de:2803")
    sized = doctor_identify(GpuFacts(pci_bus_id="0000:01:00.0", pci_vendor_id="0x10de", pci_device_id="0x2803",
                                     memory_total_mib=16380))
    assert (sized.model.key, sized.basis) == ("GeForce RTX 4060 Ti 16GB", "PCI id 10de:2803 and memory size")
    # a reading no catalogued size is near (a 12 GB board) settles nothing
    assert gpu_identity.find("NVIDIA GeForce RTX 4060 Ti", 12 * 1024) is None
    assert gpu_identity.find("NVIDIA GeForce RTX 4060 Ti", 8 * 1024 * 0.97).key == "GeForce RTX 4060 Ti 8GB"


def test_nvidia_rows_have_a_compute_capability_that_agrees_with_nvidias_family_list():
    for m in MODELS:
        if m.vendor != "nvidia":
            continue
        assert m.cc, f"{m.key} has no compute capability"
        rule = gpu_identity.family_rule(m.name)
        if rule is not None:
            assert rule.cc == m.cc, f"{m.key}: gpus.csv says {m.cc}, gpu_cc.csv rule {rule.pattern!r} says {rule.cc}"


def test_family_examples_that_name_a_catalog_row_agree_with_it():
    for rule in shipped(CcFamily, "gpu_cc"):
        model = gpu_identity.find(rule.example)
        if model is not None:
            assert model.cc == rule.cc, (rule.example, model.key)


def test_every_pci_id_names_a_row_and_shared_ids_are_memory_variants():
    rows = shipped(PciId, "gpu_pci")
    assert len({(r.vendor_id, r.device_id, r.gpu) for r in rows}) == len(rows)
    for r in rows:
        model = gpu_identity.by_key(r.gpu)
        variants = {x.gpu for x in gpu_identity.pci_rows(r.vendor_id, r.device_id)}
        assert (model.vendor == "nvidia") == (r.vendor_id == "10de")
        facts = dict(pci_bus_id="0000:01:00.0", pci_vendor_id=f"0x{r.vendor_id}", pci_device_id=f"0x{r.device_id}")
        if len(variants) == 1:
            assert gpu_identity.by_pci(f"0x{r.vendor_id}", f"0x{r.device_id}") is model
            found = doctor_identify(GpuFacts(**facts))
            assert (found.model, found.cc, found.basis) == (model, model.cc, f"PCI id {r.vendor_id}:{r.device_id}")
        else:
            assert len({(gpu_identity.by_key(v).arch, gpu_identity.by_key(v).cc) for v in variants}) == 1
            found = doctor_identify(GpuFacts(**facts, memory_total_mib=_reported_mib(model)))
            assert (found.model, found.cc) == (model, model.cc)


def test_every_cloud_accelerator_in_the_shipped_prices_is_a_catalog_row():
    for accelerator in ACCELERATORS:
        model = gpu_identity.cloud_gpu(accelerator)
        assert model is not None, f"cloud_prices.csv GPU {accelerator!r} is no gpus.csv row"
        # cloud-cost --gpu with the model's own name finds this accelerator's rows
        assert accelerator in match_gpus(model.name, ACCELERATORS)
        # a bench result of that GPU normalises this accelerator's price
        assert accelerator in bench_gpu(model.name, ACCELERATORS)


def test_cloud_names_table_and_bench_references_refer_to_keys():
    for r in shipped(CloudName, "gpu_cloud_names"):
        assert gpu_identity.by_key(r.gpu) is not None
        assert gpu_identity.cloud_gpu(r.accelerator).key == r.gpu
    for ref in references():
        assert ref.gpu == "*" or gpu_identity.by_key(ref.gpu) is not None


def test_dual_gpu_boards_carry_per_gpu_figures():
    k80 = gpu_identity.resolve("Tesla K80")
    assert (k80.board_gpus, k80.memory_gib, k80.gpu_memory_gib, k80.sms, k80.gpu_sms) == (2, 24, 12, 26, 13)
    assert rate_lookup("fp32", None, [])[0]("K80").tflops_per_gpu == pytest.approx(k80.fp32_tflops / 2)


# --------------------------------------------------------------------------- the cases of the issue


@pytest.mark.parametrize("name,key,cc", [
    ("Tesla K40m", "Tesla K40", "3.5"),
    ("GeForce GTX 780 Ti", "GeForce GTX 780 Ti", "3.5"),
    ("NVIDIA GeForce GT 1030", "GeForce GT 1030", "6.1"),
    ("Tesla V100S-PCIE-32GB", "Tesla V100S PCIe 32GB", "7.0"),
    ("NVIDIA RTX A4500", "RTX A4500", "8.6"),
])
def test_names_one_table_knew_and_the_other_did_not(name, key, cc):
    found = doctor_identify(GpuFacts(pci_bus_id=None, name=name))
    assert (found.model.key, found.cc) == (key, cc)


def test_ambiguous_and_unknown_names():
    with pytest.raises(UnknownPart, match=r"^gpu 'A100' matches several: A100 40GB PCIe, A100 80GB PCIe, "
                                          r"A100 40GB SXM4, A100 80GB SXM4; name one$"):
        gpu_identity.resolve("A100")
    with pytest.raises(UnknownPart, match=r"^unknown gpu 'RTX 4009'; did you mean GeForce RTX 4090"):
        gpu_identity.resolve("RTX 4009")
    assert gpu_identity.find("A100") is None  # a probed name that is ambiguous names nothing
    assert gpu_identity.find("Graphics Device") is None
    # "Graphics Device" with its PCI id is the card the id says
    found = gpu_identity.identify("Graphics Device", "0x10de", "0x2684")
    assert (found.name, found.basis) == ("GeForce RTX 4090", "PCI id 10de:2684")


def test_a_machines_own_pci_ids_names_a_card_the_catalog_lacks_an_id_for():
    found = gpu_identity.identify(None, "0x10de", "0xffff", "AD102 [GeForce RTX 4090 D]")
    assert found.basis in ("pci.ids", "family rule")
    assert found.cc == "8.9"


def test_k40m_collect_env_report_gets_gpu_arch_unsupported(tmp_path):
    report = tmp_path / "collect_env.txt"
    report.write_text(K40M_COLLECT_ENV)
    proc = subprocess.run([sys.executable, "-m", "dlkit", "doctor", "--from", str(report), "--json", "--no-redact"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    import json
    doc = json.loads(proc.stdout)
    finding = next(f for f in doc["findings"] if f["code"] == "gpu.arch-unsupported")
    assert finding["severity"] == "warning"
    assert finding["evidence"] == ["GPU 0 Tesla K40m: compute capability 3.5"] or \
        any("Tesla K40m: compute capability 3.5" in e for e in finding["evidence"])
    assert "torch 1.12" in finding["fix"]


K40M_COLLECT_ENV = """\
Collecting environment information...
PyTorch version: 1.12.1+cu102
Is debug build: False
CUDA used to build PyTorch: 10.2
ROCM used to build PyTorch: N/A

OS: Ubuntu 18.04.6 LTS (x86_64)
GCC version: (Ubuntu 7.5.0-3ubuntu1~18.04) 7.5.0
Clang version: Could not collect
CMake version: Could not collect
Libc version: glibc-2.27

Python version: 3.8.10 (default, Jun  4 2021, 15:09:15)  [GCC 7.5.0] (64-bit runtime)
Python platform: Linux-4.15.0-213-generic-x86_64-with-glibc2.27
Is CUDA available: True
CUDA runtime version: Could not collect
GPU models and configuration: GPU 0: Tesla K40m
Nvidia driver version: 470.223.02
cuDNN version: Could not collect
HIP runtime version: N/A
MIOpen runtime version: N/A
Is XNNPACK available: True

Versions of relevant libraries:
[pip3] numpy==1.21.6
[pip3] torch==1.12.1+cu102
"""
