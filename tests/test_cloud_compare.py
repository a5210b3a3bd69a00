"""The comparison planner (dlkit.recipes.cloud): filters, $/h and $/GPU-h, $ per unit of work
from datasheet peaks or a dlkit bench result, and what it says when it cannot answer."""

from __future__ import annotations

import datetime as dt

import pytest

from dlkit.catalog.cloud import UnknownGpu, packaged_rows, parse_dlkit_csv
from dlkit.recipes.cloud import (CompareError, Rate, bench_gpu, bench_rates, compare, rate_lookup,
                                 usd_per_eflop)

TODAY = dt.date(2026, 11, 23)


def run(**kw):
    kw.setdefault("today", TODAY)
    return compare(packaged_rows(), **kw)


def keys(res):
    return [(o.row.provider, o.row.instance) for o in res.offers]


def test_a100_family_every_count_sorted_by_price_per_hour():
    res = run(gpu="A100", hours=100)
    assert res.query["matched"] == ["A100", "A100-80GB"]
    prices = [o.price_usd_per_h for o in res.offers]
    assert prices == sorted(prices)
    assert keys(res)[:4] == [("Vast", "1x-A100_SXM4-median"), ("RunPod", "1x_A100-80GB_COMMUNITY"),
                             ("RunPod", "1x_A100-80GB_SECURE"), ("Lambda", "gpu_1x_a100_sxm4")]
    assert {o.row.gpu_count for o in res.offers} == {1, 8}
    p4d = next(o for o in res.offers if o.row.instance == "p4d.24xlarge")
    assert (round(p4d.usd_per_gpu_h, 6), round(p4d.cost_usd_for_hours, 4)) == (2.744705, 2195.7642)
    a2 = next(o for o in res.offers if o.row.instance == "a2-highgpu-1g")
    assert round(a2.price_usd_per_h, 3) == 3.673


def test_count_filter_and_spot_pricing():
    res = run(gpu="A100", count=8, spot=True)
    assert keys(res) == [("AWS", "p4d.24xlarge"), ("AWS", "p4de.24xlarge"), ("GCP", "a2-ultragpu-8g"),
                         ("GCP", "a2-highgpu-8g")]
    assert [o.price_usd_per_h for o in res.offers] == [2.4655, 8.65, 13.18024, 14.4308]
    assert res.query["pricing"] == "spot"
    assert "2 row(s) with no spot price left out" in res.notes


def test_region_filter():
    res = run(gpu="H100", region="us")
    assert {o.row.region for o in res.offers} <= {"us-east-1", "us-central1", "us-south-3", "eastus"}
    assert ("AWS", "p5.4xlarge") in keys(res) and ("Lambda", "gpu_8x_h100_sxm5") in keys(res)
    assert any("no recorded region left out" in n for n in res.notes)


def test_historical_rows_are_hidden_unless_they_are_all_there_is():
    assert not [o for o in run(gpu="V100").offers if o.row.historical]
    k80 = run(gpu="K80")
    assert keys(k80) == [("Crestle", "gpu-notebook"), ("AWS", "p2.xlarge"), ("AWS", "p2.8xlarge"), ("AWS", "p2.16xlarge")]
    assert any("not on offer" in n for n in k80.notes)


def test_unanswerable_questions():
    with pytest.raises(CompareError, match=r"--hours must be 0 or more and at most 876,600 \(a century\), got -1"):
        run(gpu="A100", hours=-1)
    with pytest.raises(CompareError, match=r"no A100 instance with 3 GPU\(s\) in the catalog \(counts: 1, 8\)"):
        run(gpu="A100", count=3)
    with pytest.raises(CompareError, match=r"no match in region 'eu'"):
        run(gpu="A100", region="eu")
    with pytest.raises(UnknownGpu, match="did you mean"):
        run(gpu="H1000")
    with pytest.raises(CompareError, match="no RTX3090 row has a spot price"):
        run(gpu="RTX3090", spot=True)


def test_gcp_gpu_parts_without_a_host_are_not_offers():
    res = run(gpu="H100", count=8)
    assert {("GCP", "a3-highgpu-8g"), ("GCP", "a3-megagpu-8g")} <= set(keys(res))
    assert not [o for o in res.offers if o.row.instance == ""]
    # the us-east4 and europe-west4 H100 parts: no host row recorded for those regions
    assert any("2 GCP GPU-part price(s) without a host row" in n for n in res.notes)


def test_anomalies_follow_the_query():
    a100 = run(gpu="A100")
    # the GCP A100-80GB part: spot above on-demand in us-central1, and 2.4x apart from us-east5
    assert [a.kind for a in a100.anomalies] == ["spot-above-on-demand", "regional-spread"]
    h100 = run(gpu="H100")
    assert [a.kind for a in h100.anomalies] == ["regional-spread"]
    assert "3.03x apart" in h100.anomalies[0].message


def test_usd_per_eflop():
    # 8 x 312 TFLOPS for an hour = 8.9856 EFLOP; 21.957642 $/h / 8.9856 = 2.4436 $/EFLOP
    assert round(usd_per_eflop(21.957642, 312.0, 8), 4) == 2.4436


def test_work_ranking_differs_from_price_ranking():
    rate_for, note = rate_lookup("bf16", None, [])
    res = run(gpu="H100", rate_for=rate_for, rate_note=note)
    by_work = [(o.row.provider, o.row.instance) for o in res.by_work]
    assert by_work[0] == ("Vast", "1x-H100_SXM-median")  # 1.87 / (989.4 x 0.0036) = 0.525 $/EFLOP
    assert round(res.by_work[0].usd_per_eflop, 4) == 0.525
    # Lambda: the H100 PCIe is cheaper per hour (3.29 < 4.29) but dearer per unit of work
    # (3.29 / 756 > 4.29 / 989.4): the faster GPU does the same work in fewer hours
    pcie = next(o for o in res.offers if o.row.instance == "gpu_1x_h100_pcie")
    sxm = next(o for o in res.offers if o.row.instance == "gpu_1x_h100_sxm5")
    assert pcie.price_usd_per_h < sxm.price_usd_per_h and pcie.rank_work > sxm.rank_work
    assert (round(pcie.usd_per_eflop, 4), round(sxm.usd_per_eflop, 4)) == (1.2088, 1.2044)
    assert (pcie.rate, sxm.rate) == (Rate(756.0, "peak"), Rate(989.4, "peak"))
    assert any("datasheet dense bf16 peak" in n for n in res.notes)
    assert len(res.by_work) == len(res.offers)


def test_rates_come_from_the_one_gpu_identity():
    rate_for, _ = rate_lookup("bf16", None, [])
    assert rate_for("A10") == Rate(125.0, "peak")  # the A10, never the A100 the name is a prefix of
    assert rate_for("A100") == Rate(312.0, "peak")
    assert rate_for("V100") is None  # no bf16 on Volta
    assert rate_lookup("fp16", None, [])[0]("V100") == Rate(125.0, "peak")
    # a p2.xlarge rents one of the K80 board's two GPUs: half the board's 8.7 TFLOPS
    assert rate_lookup("fp32", None, [])[0]("K80") == Rate(4.35, "peak")
    assert rate_for("no-such-accelerator") is None


def test_a_bench_result_overrides_its_own_gpu():
    bench = ("NVIDIA A100-SXM4-80GB", {"bf16": 250.0})
    rate_for, note = rate_lookup("bf16", bench, [r.gpu for r in packaged_rows()], "b.json")
    res = run(gpu="A100", rate_for=rate_for, rate_note=note)
    measured = {o.row.gpu for o in res.by_work if o.rate.source == "measured"}
    assert measured == {"A100-80GB"}
    assert all(o.rate == Rate(250.0, "measured") for o in res.by_work if o.row.gpu == "A100-80GB")
    assert any("A100-80GB: measured 250 TFLOPS bf16 (dlkit bench b.json)" in n for n in res.notes)


def test_bench_rates_best_cuda_matmul_per_dtype():
    doc = {"schema": "dlkit.bench/1", "environment": {"gpu": {"name": "NVIDIA H100 80GB HBM3"}},
           "results": [{"kernel": "matmul", "device": "cuda", "dtype": "bfloat16", "tflops": 780.1},
                       {"kernel": "matmul", "device": "cuda", "dtype": "bfloat16", "tflops": 612.0},
                       {"kernel": "matmul", "device": "cpu", "dtype": "float32", "tflops": 2.0},
                       {"kernel": "conv", "device": "cuda", "dtype": "float16", "tflops": 900.0},
                       {"kernel": "matmul", "device": "cuda", "dtype": "float32", "tflops": 51.2}]}
    assert bench_rates(doc, "b.json") == ("NVIDIA H100 80GB HBM3", {"bf16": 780.1, "fp32": 51.2})
    with pytest.raises(CompareError, match="not a dlkit bench result"):
        bench_rates({"schema": "dlkit.doctor/1"}, "b.json")
    with pytest.raises(CompareError, match="no cuda matmul result"):
        bench_rates({**doc, "results": []}, "b.json")
    with pytest.raises(CompareError, match=r"does not name its GPU"):
        bench_rates({**doc, "environment": {}}, "b.json")


def test_bench_gpu_names():
    gpus = sorted({r.gpu for r in packaged_rows()})
    assert bench_gpu("NVIDIA H100 PCIe", gpus) == ["H100-PCIe"]
    assert bench_gpu("NVIDIA H100 NVL", gpus) == ["H100-NVL"]
    assert bench_gpu("NVIDIA A100-SXM4-40GB", gpus) == ["A100"]
    assert bench_gpu("Tesla V100-SXM2-32GB", gpus) == ["V100-32GB"]
    assert bench_gpu("NVIDIA GeForce RTX 4090", gpus) == ["RTX4090"]
    assert bench_gpu("NVIDIA A10G", gpus) == ["A10G"]
    assert bench_gpu("NVIDIA GeForce GTX 1080", gpus) == []


def test_user_rows_compare_beside_packaged_ones():
    mine = parse_dlkit_csv("provider,instance,gpu,gpu_count,price_usd_per_h,as_of\n"
                           "lab,box-4x4090,RTX4090,4,0.80,2026-11-20\n", "mine.csv")
    res = compare(packaged_rows() + mine, gpu="4090", today=TODAY)
    assert keys(res) == [("Vast", "1x-RTX_4090-median"), ("RunPod", "1x_RTX4090_SECURE"), ("lab", "box-4x4090")]
    assert [round(o.usd_per_gpu_h, 4) for o in res.offers] == [0.4, 0.74, 0.2]


def test_bench_rates_file_tf32_under_tf32_not_fp32():
    from dlkit.recipes.cloud import bench_rates
    doc = {"schema": "dlkit.bench/1", "environment": {"gpu": {"name": "NVIDIA A100-SXM4-80GB"}},
           "results": [{"kernel": "matmul", "device": "cuda", "dtype": "float32", "math": "tf32", "tflops": 140.0},
                       {"kernel": "matmul", "device": "cuda", "dtype": "float32", "math": "ieee", "tflops": 19.1}]}
    assert bench_rates(doc, "b.json") == ("NVIDIA A100-SXM4-80GB", {"tf32": 140.0, "fp32": 19.1})
