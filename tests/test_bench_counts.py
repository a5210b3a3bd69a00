"""dlkit bench (issue 6): FLOP and byte counts, dtype gating, peaks, reference ranges."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from dlkit.benchmarks import kernels as K
from dlkit.benchmarks import peaks as P
from dlkit.benchmarks import reference as R


def test_matmul_flop_is_two_mnk():
    assert K.matmul_flop(4096, 4096, 4096) == 2 * 4096**3 == 137_438_953_472
    assert K.matmul_flop(8192, 8192, 8192) == 1_099_511_627_776
    assert K.matmul_flop(2, 3, 5) == 60


def test_conv_flop_is_two_nkcrspq_not_macs():
    # ResNet-50 conv1 at N=1: 3→64, 7×7/2, out 112×112: 0.236 GFLOP (methodology §2 table)
    conv1 = K.CONV_SHAPES["resnet50.conv1"]
    assert (conv1.p, conv1.q) == (112, 112)
    assert conv1.flop == 2 * 1 * 64 * 3 * 7 * 7 * 112 * 112 == 236_027_904
    assert conv1.macs * 2 == conv1.flop
    l1 = K.CONV_SHAPES["resnet50.layer1.3x3"].with_batch(64)
    assert l1.flop == 2 * 64 * 64 * 64 * 3 * 3 * 56 * 56 == 14_797_504_512  # 14.8 GFLOP @ N=64
    strided = K.CONV_SHAPES["resnet50.layer2.3x3-strided"]
    assert (strided.p, strided.q) == (28, 28) and round(strided.flop / 1e9, 3) == 0.231
    db = K.DEEPBENCH_TRAIN
    assert db.flop == 2 * 16 * 128 * 64 * 3 * 3 * 112 * 112
    assert db.as_list() == [16, 64, 112, 112, 128, 3, 3, 1, 1]


def test_memory_mlp_counts():
    assert K.memory_bytes("copy", 1000) == 8000 and K.memory_bytes("triad", 1000) == 12000
    assert K.memory_flop("triad", 1000) == 2000 and K.memory_flop("copy", 1000) == 0
    assert K.mlp_flop(32) == 32 * 2 * (1024 * 4096 + 4096 * 4096 + 4096 * 1024)


@pytest.mark.parametrize("dtype,cc,run,note", [
    ("fp32", (7, 0), True, None),
    ("tf32", (7, 5), False, "TF32 needs sm80+"),
    ("tf32", (8, 0), True, None),
    ("bf16", (7, 5), True, "fallback: no bf16 tensor cores"),
    ("bf16", (9, 0), True, None),
    ("fp16", (6, 1), True, "fallback: fp16 runs at 1/64"),
    ("fp8", (8, 6), False, "fp8 tensor cores need sm89+"),
    ("fp8", (8, 9), True, None),
    ("fp8", (10, 0), True, None),
])
def test_dtype_gating_on_compute_capability(dtype, cc, run, note):
    g = K.gate_dtype(dtype, "cuda", cc)
    assert g.run is run
    assert (g.note is None) if note is None else g.note.startswith(note)


def test_dtype_gating_fp8_needs_torch_support_and_cpu_paths():
    assert K.gate_dtype("fp8", "cuda", (9, 0), has_fp8=False) == K.Gate(False, "this torch has no float8_e4m3fn / _scaled_mm")
    assert not K.gate_dtype("tf32", "cpu").run and not K.gate_dtype("fp8", "cpu").run
    assert K.gate_dtype("bf16", "cpu", cpu_isa=("amx_bf16",)) == K.Gate(True)
    assert K.gate_dtype("bf16", "cpu").note.startswith("fallback")
    assert [K.parse_dtype(x) for x in ("float32", "TF32", "half", "bfloat16", "torch.float8_e4m3fn")] == \
        ["fp32", "tf32", "fp16", "bf16", "fp8"]
    with pytest.raises(ValueError, match="unknown dtype"):
        K.parse_dtype("int4")


def test_peaks_datasheet_clock_adjusted_and_cpu():
    h100 = NS(name="H100 SXM5", fp32_tflops=67, tf32_tflops=494.7, bf16_tflops=989.4, fp16_tflops=989.4, cc="9.0",
              segment="datacenter", sms=132)
    assert P.datasheet_tflops(h100, "bf16") == 989.4 and P.datasheet_tflops(h100, "fp8") == pytest.approx(1978.8)
    assert P.clock_peak_tflops(132, 1830, P.per_sm_rate("9.0", "bf16")) == pytest.approx(989.4, abs=0.1)
    assert P.clock_peak_tflops(108, 1410, P.per_sm_rate("8.0", "bf16")) == pytest.approx(311.9, abs=0.1)  # A100
    assert P.clock_peak_tflops(128, 2520, P.per_sm_rate("8.9", "bf16", consumer=True)) == pytest.approx(165.2, abs=0.1)
    assert P.per_sm_rate("7.5", "bf16") is None and P.per_sm_rate("9.0", "fp8", consumer=True) is None
    assert P.cpu_peak_tflops(2, 2600, 64) == pytest.approx(0.3328)
    assert P.cpu_flops_per_cycle("bf16", 64, ("avx512_bf16",)) == 128
    assert P.pcie_gbs(5, 16) == 63.01 and P.pcie_gbs(None, 16) is None


def test_reference_ranges_are_data_with_sources():
    rows = R.references()
    assert all(r.source and r.as_of for r in rows)
    h100 = R.find_reference({"kernel": "matmul", "device": "cuda", "dtype": "bfloat16"}, "H100 SXM5")
    assert (h100.low, h100.high, h100.unit) == (750.0, 800.0, "TFLOP/s")
    assert R.judge(700, h100) == "below" and R.judge(780, h100) == "inside"
    tf32 = R.find_reference({"kernel": "matmul", "device": "cuda", "dtype": "float32", "math": "tf32"}, "H100 SXM5")
    assert tf32.low == 390
    assert R.find_reference({"kernel": "matmul", "device": "cpu", "dtype": "float32"}, None) is None
    x8 = R.find_reference({"kernel": "h2d", "device": "cuda", "dtype": "uint8", "pinned": True}, "L4", "gen4x8")
    assert x8.unit == "% of link"  # no x8 row: the generic % of link
    assert R.find_reference({"kernel": "h2d", "device": "cuda", "dtype": "uint8", "pinned": False}, None, "gen4x16") is None


def test_likely_causes_name_the_evidence():
    gpu = {"power_limit_w": 300, "power_default_limit_w": 700, "clock_event_reasons_after": ["sw_power_cap"],
           "temperature_c_after": 86, "slowdown_temperature_c": 90, "sm_clock_mhz_during": [900.0],
           "sm_clock_max_mhz": 1980, "pcie_width_current_after": 8, "pcie_width_max": 16}
    causes = R.likely_causes(gpu, "matmul")
    assert causes[0].startswith("power cap: limit 300 W below the default 700 W")
    assert any("sw_power_cap" in c for c in causes) and any("temperature 86" in c for c in causes)
    assert any("SM clock fell to 900" in c for c in causes)
    assert any("x8 of x16" in c for c in R.likely_causes(gpu, "h2d"))
    assert R.likely_causes({"clock_event_reasons_after": ["gpu_idle"]}, "matmul") == []
