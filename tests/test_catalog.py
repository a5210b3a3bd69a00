"""Compatibility catalog: data hygiene, spot checks against shared/reference, query rules.

Line references ("compat.md:45") point into shared/reference/compatibility.md,
"failure.md" into failure-modes.md and "specs.md" into gpu-specs.md.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dlkit.catalog import gpu_identity
from dlkit.catalog.gpu_identity import CcFamily
from dlkit.catalog.tables import shipped
from dlkit.catalog.xid import XidInfo, xid_info
from dlkit.catalog import (
    TABLES,
    arch_list_for_torch,
    arch_supported,
    cc_range_for_cuda,
    cc_supported_by_cuda,
    cudnn_compatible,
    driver_supports_cuda,
    family_min_driver,
    gcc_max_for_cuda,
    max_cuda_for_driver,
    min_driver_for_cuda,
    oldest_cc_in_current_wheels,
    rows,
    vtuple,
)

# --------------------------------------------------------------------------- data hygiene


@pytest.mark.parametrize("table", TABLES)
def test_every_row_has_source_and_iso_as_of(table):
    data = rows(table)
    assert data, f"{table} is empty"
    for row in data:
        assert row["source"].strip(), (table, row)
        assert dt.date.fromisoformat(row["as_of"]) <= dt.date(2026, 12, 31), (table, row)
        assert None not in row and None not in row.values(), f"{table}: ragged row {row}"


def test_rows_returns_copies():
    rows("xid")[0]["xid"] = "mutated"
    assert rows("xid")[0]["xid"] != "mutated"


def test_unknown_table_is_an_error():
    with pytest.raises(KeyError):
        rows("no_such_table")


@pytest.mark.parametrize(
    "table,columns",
    [
        ("cuda_driver", ("linux_min", "windows_min")),
        ("cudnn", ("linux_driver_min", "windows_driver_min")),
    ],
)
def test_driver_values_are_full_dotted_versions(table, columns):
    # compat.md:97 Windows pitfall: store full dotted versions per OS, never bare majors.
    for row in rows(table):
        for col in columns:
            if row[col]:
                assert re.fullmatch(r"\d{3}\.\d{2,3}(\.\d{2})?", row[col]), (table, col, row[col])


def test_version_like_columns_parse():
    for row in rows("cuda_driver"):
        assert vtuple(row["cuda"]) is not None
    for row in rows("cuda_cc"):
        assert len(vtuple(row["cc"])) == 2 and vtuple(row["first_cuda"]) is not None
    for row in rows("torch_arch"):
        assert len(vtuple(row["torch_from"])) == 2
        assert all(re.fullmatch(r"(sm|compute)_\d{2,3}[af]?", e) for e in row["arch_list"].split())
    for row in shipped(CcFamily, "gpu_cc"):
        assert len(vtuple(row.cc)) == 2


def test_one_ga_row_per_toolkit_minor():
    keys = [(r["cuda"], r["update"]) for r in rows("cuda_driver") if r["kind"] == "toolkit"]
    assert len(keys) == len(set(keys))
    minors = {r["cuda"] for r in rows("cuda_driver") if r["kind"] == "toolkit"}
    assert minors == {c for c, u in keys if u == "0"}


def test_xid_numbers_unique_and_severities_known():
    numbers = [r["xid"] for r in rows("xid")]
    assert len(numbers) == len(set(numbers))
    assert {r["severity"] for r in rows("xid")} <= {"error", "warning", "info"}


# --------------------------------------------------------------------------- vtuple


@pytest.mark.parametrize(
    "text,expected",
    [
        ("550.54.14", (550, 54, 14)),
        ("527.41", (527, 41)),
        ("12.4", (12, 4)),
        ("2.8.0+cu128", (2, 8, 0)),
        ("  V12.4.131", (12, 4, 131)),
        ((8, 9, 2), (8, 9, 2)),
        ("N/A", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_vtuple(text, expected):
    assert vtuple(text) == expected


# --------------------------------------------------------------------------- driver ↔ CUDA


def test_min_driver_spot_checks():
    assert min_driver_for_cuda("12.4", "linux") == "550.54.14"  # compat.md:45
    assert min_driver_for_cuda("12.4", "windows") == "551.61"  # compat.md:45
    assert min_driver_for_cuda("10.2", "Linux") == "440.33"  # compat.md:71
    assert min_driver_for_cuda("12.0", "win32") == "527.41"  # compat.md:53
    assert min_driver_for_cuda("12.8.1", "linux") == "570.26"  # GA floor of the minor (compat.md:38)
    assert min_driver_for_cuda("13.0", "linux") == "580.65.06"  # compat.md:34
    assert min_driver_for_cuda("13.0", "windows") is None  # N/A, compat.md:34
    assert min_driver_for_cuda("12.7", "linux") is None  # no such toolkit
    assert min_driver_for_cuda("12.4", "darwin") is None


def test_update_rows_kept():
    upd = [r for r in rows("cuda_driver") if r["cuda"] == "12.8" and r["update"] == "1"]
    assert upd[0]["linux_min"] == "570.124.06" and upd[0]["windows_min"] == "572.61"  # compat.md:37


def test_family_floors():
    assert family_min_driver("12.4", "linux") == "525.60.13"  # compat.md:88
    assert family_min_driver("12.1", "windows") == "527.41"  # compat.md:88
    assert family_min_driver("11.8", "linux") == "450.80.02"  # compat.md:89
    assert family_min_driver("11.3", "windows") == "452.39"  # compat.md:89
    assert family_min_driver("13.1", "linux") == "580.65.06"  # compat.md:87
    assert family_min_driver("13.1", "windows") is None  # N/A
    assert family_min_driver("10.2", "linux") is None  # no minor-version compat before 11.x


@pytest.mark.parametrize(
    "driver,cuda,platform,expected",
    [
        ("430.26", "10.2", "linux", "no"),  # below 440.33 (compat.md:71), no 10.x family
        ("525.147.05", "12.4", "linux", "minor-compat"),  # ≥525.60.13 but <550.54.14
        ("550.54.14", "12.4", "linux", "yes"),  # exactly the Table 3 minimum
        ("535.104.05", "11.8", "linux", "yes"),  # newer drivers are backward compatible
        ("470.82.01", "12.1", "linux", "no"),  # below the 12.x floor (F04)
        ("575.57.08", "13.0", "linux", "no"),  # 13.x needs ≥580 (compat.md:87)
        ("580.65.06", "13.2", "linux", "minor-compat"),  # 13.2 GA needs 595.45.04
        ("526.98", "12.0", "windows", "no"),  # compat.md:97: 525–527.40 is below 527.41
        ("527.41", "12.4", "windows", "minor-compat"),
        ("600.10", "13.0", "windows", "unknown"),  # Windows 13.x: N/A in both tables
        ("garbage", "12.4", "linux", "unknown"),
        ("550.54.14", "12.4", "freebsd", "unknown"),
    ],
)
def test_driver_supports_cuda(driver, cuda, platform, expected):
    assert driver_supports_cuda(driver, cuda, platform) == expected


def test_max_cuda_for_driver():
    assert max_cuda_for_driver("525.147.05", "linux") == "12.0"
    assert max_cuda_for_driver("550.54.14", "linux") == "12.4"
    assert max_cuda_for_driver("550.54.13", "linux") == "12.3"
    assert max_cuda_for_driver("570.26", "linux") == "12.8"
    assert max_cuda_for_driver("595.71.05", "linux") == "13.2"
    assert max_cuda_for_driver("430.26", "linux") == "10.1"
    assert max_cuda_for_driver("380.10", "linux") is None
    assert max_cuda_for_driver("576.02", "windows") == "12.9"  # no Windows numbers for 13.x


# --------------------------------------------------------------------------- compute capability


def test_cc_supported_by_cuda():
    assert cc_supported_by_cuda("3.5", "11.8") is True  # compat.md:117
    assert cc_supported_by_cuda("3.7", "12.0") is False  # dropped in 12.0
    assert cc_supported_by_cuda("6.1", "12.9") is True  # compat.md:118-119
    assert cc_supported_by_cuda("6.1", "13.0") is False
    assert cc_supported_by_cuda("12.0", "12.6") is False  # compat.md:129
    assert cc_supported_by_cuda("12.0", "12.8") is True
    assert cc_supported_by_cuda("8.8", "12.9") is False  # compat.md:126
    assert cc_supported_by_cuda("10.1", "13.0") is False  # renamed 11.0
    assert cc_supported_by_cuda("5.0", "6.5") is None  # doc only says "≤7.0"
    assert cc_supported_by_cuda("9.0", "14.0") is None  # beyond the catalog
    assert cc_supported_by_cuda("8.5", "12.4") is None  # no such CC


def test_cc_range_for_cuda():
    assert cc_range_for_cuda("13.0") == ("7.5", "12.1")  # 13.0 drops < 7.5
    assert cc_range_for_cuda("12.8") == ("5.0", "12.0")  # 12.8 adds sm_100/sm_120
    assert cc_range_for_cuda("12.4") == ("5.0", "9.0")
    assert cc_range_for_cuda("11.8") == ("3.5", "9.0")
    assert cc_range_for_cuda("10.2") == ("3.0", "7.5")


SM50_TO_SM90 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]  # compat.md:177


@pytest.mark.parametrize(
    "cc,arch_list,expected",
    [
        ("8.6", SM50_TO_SM90, True),
        ("8.9", SM50_TO_SM90, True),  # sm_86 cubin runs on 8.9 (same major, 6 ≤ 9)
        ("12.0", SM50_TO_SM90, False),  # F06: RTX 5090 on a pre-cu128 wheel, no PTX listed
        ("6.1", ["sm_60", "sm_70"], True),
        ("6.0", ["sm_61", "sm_70"], False),  # sm_61 does not run on 6.0
        ("12.0", ["sm_80", "compute_90"], True),  # PTX JIT-compiles forward
        ("8.0", ["sm_75", "compute_90"], False),  # PTX never runs backward
        ("9.0", ["sm_80", "sm_90a"], False),  # …a variants ignored
        ("10.0", "sm_75 sm_80 sm_100", True),  # a space-separated string works too
        ("12.0", [], None),
        ("12.0", None, None),
        ("bogus", SM50_TO_SM90, None),
    ],
)
def test_arch_supported_rule(cc, arch_list, expected):
    # compat.md:146-149 and failure.md F06.
    assert arch_supported(cc, arch_list) is expected


def test_arch_rule_on_catalog_wheels():
    cu124 = arch_list_for_torch("2.5.1", "12.4")  # compat.md:161, no PTX entry
    assert cu124 is not None and not any(e.startswith("compute_") for e in cu124)
    assert arch_supported("12.0", cu124) is False  # F06
    assert arch_supported("3.5", arch_list_for_torch("2.8.0", "12.6")) is False  # Kepler
    assert arch_supported("6.1", arch_list_for_torch("2.8.0+cu128", "12.8")) is False  # F07
    assert arch_supported("7.0", arch_list_for_torch("2.8.0+cu128", "12.8")) is True  # compat.md:165
    assert arch_supported("12.0", arch_list_for_torch("2.8.0", "cu128")) is True


def test_arch_list_for_torch():
    assert arch_list_for_torch("2.8.0+cu128", "12.8") == (
        "sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120",
    )  # compat.md:165
    assert arch_list_for_torch("2.6.0", "12.6") == tuple(SM50_TO_SM90)  # compat.md:162
    assert "compute_120" in arch_list_for_torch("2.9.1", "13.0")  # compat.md:167
    assert "compute_120" not in arch_list_for_torch("2.9.1", "13.0", platform="windows")
    assert "compute_120" in arch_list_for_torch("2.9.1", "13.0", platform="linux")
    assert arch_list_for_torch("2.10.0", "cu128")[0] == "sm_75"  # Volta dropped
    assert arch_list_for_torch("2.8.0+cpu", None) == ()  # CPU-only build
    assert arch_list_for_torch("2.6.0", "12.4") is None  # not in the doc
    assert arch_list_for_torch("2.5.1", "12.4", channel="pip") is None  # doc gives conda only
    assert arch_list_for_torch("not-a-version", "12.4") is None


def test_oldest_cc_in_current_wheels():
    # compat.md:162-169: cu126 still carries Maxwell (sm_50); Kepler is in no wheel.
    assert oldest_cc_in_current_wheels() == "5.0"


# --------------------------------------------------------------------------- GPU names


@pytest.mark.parametrize(
    "name,cc",
    [
        ("GeForce GTX 1080 Ti", "6.1"),  # specs.md:35
        ("NVIDIA GeForce RTX 4090", "8.9"),  # specs.md:41
        ("Tesla P100-PCIE-16GB", "6.0"),  # specs.md:32
        ("NVIDIA A100-SXM4-80GB", "8.0"),  # specs.md:51
        ("A100-SXM4-40GB", "8.0"),
        ("NVIDIA H100 80GB HBM3", "9.0"),  # specs.md:53
        ("NVIDIA H100 PCIe", "9.0"),
        ("NVIDIA GH200 480GB", "9.0"),
        ("NVIDIA H200", "9.0"),
        ("GRID K520", "3.0"),
        ("Tesla K80", "3.7"),  # specs.md:31
        ("GeForce GTX TITAN Black", "3.5"),
        ("Quadro K2200", "5.0"),
        ("GeForce GTX 980 Ti", "5.2"),
        ("GeForce GTX TITAN X", "5.2"),  # Maxwell
        ("TITAN X (Pascal)", "6.1"),
        ("NVIDIA TITAN Xp", "6.1"),
        ("TITAN V", "7.0"),
        ("Quadro P2000", "6.1"),
        ("Quadro P3200", "6.1"),
        ("Tesla P4", "6.1"),
        ("Tesla P40", "6.1"),
        ("GRID P4-1Q", "6.1"),
        ("Tesla V100-SXM2-32GB", "7.0"),
        ("Tesla T4", "7.5"),
        ("NVIDIA GeForce RTX 2080 SUPER", "7.5"),
        ("Quadro RTX 6000", "7.5"),
        ("NVIDIA GeForce GTX 1660 Ti", "7.5"),
        ("NVIDIA A10G", "8.6"),
        ("NVIDIA A10", "8.6"),
        ("NVIDIA A40", "8.6"),
        ("NVIDIA RTX A5000", "8.6"),
        ("NVIDIA GeForce RTX 3060 Laptop GPU", "8.6"),
        ("NVIDIA L4", "8.9"),
        ("NVIDIA L40S", "8.9"),
        ("NVIDIA RTX 4000 SFF Ada Generation", "8.9"),
        ("NVIDIA RTX 6000 Ada Generation", "8.9"),
        ("NVIDIA GeForce RTX 4080 SUPER", "8.9"),
        ("NVIDIA B200", "10.0"),
        ("NVIDIA GeForce RTX 5090", "12.0"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "12.0"),
        ("nvidia geforce rtx 4090", "8.9"),  # case-insensitive
    ],
)
def test_cc_for_gpu_name(name, cc):
    assert gpu_identity.identify(name).cc == cc


@pytest.mark.parametrize(
    "name",
    [
        "Graphics Device",  # what old drivers print for a GPU they predate
        "NVIDIA Graphics Device",
        "",
        None,
        "NVIDIA GeForce RTX 2050",  # an Ampere part despite the 20xx name: not in the table
        "AMD Radeon VII",
    ],
)
def test_unknown_gpu_names(name):
    assert gpu_identity.identify(name).cc is None


def test_gpu_row_order_each_example_claimed_by_its_own_row():
    """The first-match-wins rule: every row's example must be matched first by that row,
    so a broad pattern placed too early shows up here."""
    for row in shipped(CcFamily, "gpu_cc"):
        assert re.compile(row.pattern)  # valid regex
        match = gpu_identity.family_rule(row.example)
        assert match is not None, row
        assert match.pattern == row.pattern, (row.example, match.pattern)


def test_secondary_gpu_rows_say_so():
    # Rows whose value is not in the reference docs or NVIDIA's own list are marked.
    for row in shipped(CcFamily, "gpu_cc"):
        src = row.source
        assert "SECONDARY" in src or "nvidia.com/cuda" in src or "gpu-specs.md" in src, row


# --------------------------------------------------------------------------- cuDNN, gcc


@pytest.mark.parametrize(
    "runtime,built,expected",
    [
        ("8.8.1", "8.9.2", False),  # failure.md F11 PyTorch text
        ("9.10.1", "9.13.1", False),  # F11 JAX text (compat.md:207)
        ("8.6.0", "8.9.6", False),  # F11 "Found cuDNN version 8600, … built against 8906"
        ("9.13.0", "9.10.2", True),  # newer minor at run time is fine
        ("9.1.0", "8.9.7", False),  # different major
        ((8, 9, 2), (8, 9, 2), True),
        ("9.1", "10.0", None),  # no rule for a cuDNN major the catalog does not know
        ("garbage", "9.1.0", None),
    ],
)
def test_cudnn_compatible(runtime, built, expected):
    assert cudnn_compatible(runtime, built) is expected


def test_cudnn_matrix_spot_checks():
    r = [x for x in rows("cudnn") if x["cudnn"] == "9.17.0" and x["cuda_major"] == "13"][0]
    assert (r["linux_driver_min"], r["cc_min"], r["cc_max"]) == ("580.65.06", "7.5", "12.0")
    assert {x["runtime_rule"] for x in rows("cudnn")} == {"same-major-minor-ge"}  # compat.md:204


@pytest.mark.parametrize(
    "cuda,gcc",
    [
        ("11.0", 9),  # compat.md:220
        ("11.3", 10),
        ("11.8", 11),
        ("12.2", 12),
        ("12.4", 13),
        ("12.8", 14),  # compat.md:225
        ("12.9.1", 14),
        ("13.0", 15),
        ("13.2", 15),
        ("10.2", None),  # not in the doc
        ("14.0", None),
        ("x", None),
    ],
)
def test_gcc_max_for_cuda(cuda, gcc):
    assert gcc_max_for_cuda(cuda) == gcc


# --------------------------------------------------------------------------- Xid


def test_xid_79_fallen_off_the_bus():
    info = xid_info(79)  # failure.md F17
    assert isinstance(info, XidInfo)
    assert info.name == "GPU has fallen off the bus"
    assert info.severity == "error" and info.failure_modes == ("F17",)
    assert "PSU" in info.action and "nvidia-smi -lgc" in info.action
    with pytest.raises(AttributeError):
        info.severity = "info"  # frozen


@pytest.mark.parametrize(
    "n,mnemonic,severity",
    [
        (13, "ROBUST_CHANNEL_GR_EXCEPTION", "warning"),
        (31, "ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT", "warning"),
        (43, "ROBUST_CHANNEL_RESETCHANNEL_VERIF_ERROR", "warning"),
        (45, "ROBUST_CHANNEL_PREEMPTIVE_REMOVAL", "info"),
        (48, "ROBUST_CHANNEL_GPU_ECC_DBE", "error"),
        (61, "PMU_BREAKPOINT", "info"),
        (62, "PMU_HALT_ERROR", "error"),
        (63, "INFOROM_DRAM_RETIREMENT_EVENT", "warning"),
        (64, "INFOROM_DRAM_RETIREMENT_FAILURE", "error"),
        (74, "NVLINK_ERROR", "error"),
        (92, "EXCESSIVE_SBE_INTERRUPTS", "warning"),
        (94, "ROBUST_CHANNEL_CONTAINED_ERROR", "warning"),
        (95, "ROBUST_CHANNEL_UNCONTAINED_ERROR", "error"),
        (119, "GSP_RPC_TIMEOUT", "error"),
        (120, "GSP_ERROR", "error"),
    ],
)
def test_xid_catalog_entries(n, mnemonic, severity):
    info = xid_info(n)
    assert info is not None and info.mnemonic == mnemonic and info.severity == severity
    assert info.meaning and info.action and info.source


def test_every_f18_xid_is_catalogued():
    # failure.md F18 lists 13, 31, 43, 48, 63/64, 74, 92/94/95, 119/120.
    for n in (13, 31, 43, 48, 63, 64, 74, 92, 94, 95, 119, 120):
        assert "F18" in xid_info(n).failure_modes


def test_unknown_xid():
    assert xid_info(9999) is None
    assert xid_info("79").xid == 79
    assert xid_info("x") is None
    assert xid_info(True) is None
