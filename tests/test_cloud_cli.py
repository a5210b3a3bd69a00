"""``dlkit cloud-cost`` and ``dlkit cloud-cost breakeven`` on the command line: the JSON
documents (golden files), the bad-input matrix through a real subprocess, user catalogs,
SkyPilot's cache, --plan-build / --from-host / --bench, and --plot.

Regenerate the golden files (then review the diff) with:
    DLKIT_REGEN_GOLDEN=1 python -m pytest -q tests/test_cloud_cli.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlkit.cli import app

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
REGEN = os.environ.get("DLKIT_REGEN_GOLDEN") == "1"
REFDATA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data"
TODAY = "2026-11-23"
ARTICLES = ["cloud-cost", "breakeven", "--build-price", "16904", "--currency", "CNY", "--fx", "6.9",
            "--build-watts", "0", "--electricity", "0", "--utilization", "1", "--vs", "p2.8xlarge"]
DETTMERS = ["cloud-cost", "breakeven", "--build-price", "2200", "--build-watts", "450", "--electricity", "0.12",
            "--utilization", "0.15"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home without ~/.sky, so the user's own SkyPilot cache never leaks into a test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def sub(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "dlkit", *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=60)


def check_golden(name: str, doc: dict) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run DLKIT_REGEN_GOLDEN=1 python -m pytest tests/test_cloud_cli.py"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (DLKIT_REGEN_GOLDEN=1)"


def ok_json(*args: str) -> dict:
    result = invoke(*args, "--json", "--today", TODAY)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- whole documents


def test_compare_json_matches_golden():
    doc = ok_json("cloud-cost", "--gpu", "A100", "--count", "8", "--hours", "100")
    check_golden("cloud_compare_a100x8.json", doc)


def test_compare_golden_says_what_it_should():
    """Reads the golden file itself, so a careless regeneration cannot pin wrong numbers."""
    doc = json.loads((GOLDEN / "cloud_compare_a100x8.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "dlkit.cloud-cost/1" and doc["kind"] == "compare"
    assert doc["catalog"]["as_of_newest"] == "2026-11-16" and doc["catalog"]["age_days"] == 7
    assert [(r["provider"], r["instance"], r["price_usd_per_h"], r["usd_per_gpu_h"], r["cost_usd_for_hours"])
            for r in doc["rows"]] == [
        ("AWS", "p4d.24xlarge", 21.957642, 2.744705, 2195.7642), ("Lambda", "gpu_8x_a100_80gb_sxm4", 22.32, 2.79, 2232),
        ("Azure", "ND96asr_A100_v4", 27.197, 3.399625, 2719.7), ("AWS", "p4de.24xlarge", 27.44705, 3.430881, 2744.705),
        # GCP host + GPU part: 5.91582 + 23.47126 (8 x the 1g's 3.673385) and 8.79698 + 35.39358 (us-east5)
        ("GCP", "a2-highgpu-8g", 29.38708, 3.673385, 2938.708), ("GCP", "a2-ultragpu-8g", 44.19056, 5.52382, 4419.056)]
    for r in doc["rows"]:
        assert {"provider", "instance", "region", "gpu", "gpu_count", "price_usd_per_h", "spot_usd_per_h",
                "usd_per_gpu_h", "as_of", "source"} <= set(r)
        assert r["gpu_count"] == 8 and r["tflops_per_gpu"] == 312 and r["tflops_source"] == "peak"
    assert [r["rank_by_work"] for r in doc["rows"]] == [1, 2, 3, 4, 5, 6]
    assert doc["rows"][0]["usd_per_eflop"] == round(21.957642 / (312 * 8 * 0.0036), 6)
    assert [a["kind"] for a in doc["anomalies"]] == ["spot-above-on-demand", "regional-spread"]


def test_breakeven_json_matches_golden():
    doc = ok_json(*ARTICLES)
    check_golden("cloud_breakeven_articles.json", doc)
    assert doc["schema"] == "dlkit.cloud-cost/1" and doc["kind"] == "breakeven"
    assert doc["breakeven_hours"] == 340.26 and doc["breakeven_days"] == 14.18
    assert doc["cloud"]["instance"] == "p2.8xlarge" and doc["cloud"]["price_usd_per_h"] == 7.2
    assert doc["cloud"]["historical"] is True and doc["build_price_usd"] == 2449.8551
    inputs = {i["option"]: i for i in doc["inputs"]}
    assert inputs["--fx"]["value"] == 6.9 and inputs["--fx"]["unit"] == "CNY/USD"
    assert inputs["--resale"]["origin"] == "default" and inputs["--speedup"]["origin"] == "default"
    assert any("historical price" in n for n in doc["notes"])


def test_dettmers_through_the_cli():
    doc = ok_json(*DETTMERS, "--vs-price", "2.14")
    assert 280 <= doc["breakeven_days"] <= 310 and doc["breakeven_days"] == 292.96
    spot = ok_json(*DETTMERS, "--vs-price", "0.90")
    assert spot["breakeven_hours"] == 2600.47
    marks = {m["label"]: m for m in doc["milestones"]}
    assert marks["break-even"]["own_usd"] == marks["break-even"]["cloud_usd"]
    assert marks["1 year"]["hours_used"] == 1314.9  # 365.25 d x 24 h x 0.15


# --------------------------------------------------------------------------- bad input, real process

BAD = [
    (["cloud-cost", "--gpu", "A100", "--hours", "-5"], "--hours must be 0 or more"),
    (["cloud-cost", "--gpu", "A1000"], "did you mean A100"),
    (["cloud-cost", "--gpu", "A100", "--count", "3"], "counts: 1, 8"),
    (["cloud-cost", "--gpu", "A100", "--json", "--markdown"], "cannot be combined"),
    ([*DETTMERS[:-2], "--utilization", "0", "--vs-price", "2"], "--utilization must be in (0, 1]"),
    ([*DETTMERS[:-2], "--utilization", "1.5", "--vs-price", "2"], "--utilization must be in (0, 1]"),
    ([*DETTMERS, "--vs", "p3.2xl"], "did you mean p3.2xlarge"),
    ([*DETTMERS], "--vs INSTANCE or --vs-price"),
    ([*DETTMERS, "--vs-price", "2", "--currency", "CNY"], "needs --fx"),
    (["cloud-cost", "breakeven", "--build-price", "2200", "--build-watts", "450", "--utilization", "0.2",
      "--vs-price", "2"], "missing --electricity"),
    ([*DETTMERS, "--vs", "p5.4xlarge", "--spot"], "has no spot price"),
    (["cloud-cost", "--gpu", "A100", "--catalog", "/nonexistent/prices.csv"], "does not exist"),
    (["cloud-cost", "--frobnicate"], "No such option"),
]


@pytest.mark.parametrize("args,contains", BAD, ids=[" ".join(a[1:4]) + f"-{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_is_one_line_exit_2(args, contains, home):
    p = sub(*args, home=home)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr.startswith("dlkit: error: ") and p.stderr.count("\n") == 1, p.stderr
    assert contains in p.stderr and "Traceback" not in p.stderr


def test_malformed_csv_reports_its_line(tmp_path, home):
    bad = tmp_path / "mine.csv"
    bad.write_text("provider,instance,gpu,gpu_count,price_usd_per_h,as_of\nlab,a,A100,1,1.0,2026-11-01\n"
                   "lab,b,A100,1,cheap,2026-11-01\n")
    p = sub("cloud-cost", "--gpu", "A100", "--catalog", str(bad), home=home)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == f"dlkit: error: {bad} line 3: price_usd_per_h 'cheap' is not a number\n"


def test_help_pages(home):
    top = sub("cloud-cost", "--help", home=home)
    assert top.returncode == 0 and "--gpu" in top.stdout and "breakeven" in top.stdout
    be = sub("cloud-cost", "breakeven", "--help", home=home)
    assert be.returncode == 0 and "--build-price" in be.stdout and "--vs-price" in be.stdout
    assert "--today" not in be.stdout


def test_console_output_names_units_and_age():
    result = invoke("cloud-cost", "--gpu", "A100", "--hours", "100", "--today", "2027-01-15")
    assert result.exit_code == 0 and result.stderr == ""
    out = result.stdout
    assert "prices as of 2026-11-16 (60 days old) — not current" in out
    assert "USD/h" in out and "USD/GPU-h" in out and "USD for" in out and "100 h" in out
    assert "2,195.76" in out and "21.9576" in out  # numbers are never cut to fit 80 columns
    assert "88 d old" in out  # RunPod rows, 2026-10-19
    assert "anomaly (spot-above-on-demand)" in out


def test_markdown_outputs():
    md = invoke("cloud-cost", "--gpu", "H100", "--markdown", "--today", TODAY)
    assert md.exit_code == 0 and md.stdout.startswith("## Cloud prices: H100 (H100, H100-MEGA, H100-NVL, H100-PCIe), on-demand")
    assert "| # | provider | instance |" in md.stdout and "**regional-spread**" in md.stdout
    be = invoke(*DETTMERS, "--vs-price", "2.14", "--markdown")
    assert be.exit_code == 0
    assert "**Break-even: 1,054.65 hours of use = 292.96 days at 15% utilization**" in be.stdout
    assert "| `--pue` | 1 | × | default |" in be.stdout


# --------------------------------------------------------------------------- other price sources


def test_user_catalog_and_negotiated_rate(tmp_path):
    mine = tmp_path / "rates.csv"
    mine.write_text("provider,instance,region,gpu,gpu_count,price_usd_per_h,as_of,source\n"
                    "AWS,p4d.24xlarge,us-east-1,A100,8,14.00,2026-11-20,our EDP contract\n"
                    "lab,dgx-1,,A100,8,9.50,2026-11-20,\n")
    doc = ok_json("cloud-cost", "--gpu", "A100", "--count", "8", "--catalog", str(mine))
    rows = [(r["provider"], r["instance"], r["price_usd_per_h"], r["source"]) for r in doc["rows"]]
    assert rows[:2] == [("lab", "dgx-1", 9.5, str(mine)), ("AWS", "p4d.24xlarge", 14, "our EDP contract")]
    assert len([r for r in rows if r[1] == "p4d.24xlarge"]) == 1
    assert doc["catalog"]["files_read"] == [f"{mine} (2 rows)"]
    be = ok_json(*DETTMERS, "--vs", "dgx-1", "--catalog", str(mine))
    assert be["cloud"]["price_usd_per_h"] == 9.5


def test_skypilot_csv_as_catalog_and_undated():
    gcp = REFDATA / "skypilot_v8_gcp_sample.csv"
    if not gcp.is_file():
        pytest.skip("shared reference data absent")
    doc = ok_json("cloud-cost", "--gpu", "T4", "--catalog", str(gcp))
    assert doc["catalog"]["undated_rows"] >= 0
    be = ok_json(*DETTMERS, "--vs", "a2-highgpu-1g", "--catalog", str(gcp), "--catalog-date", "2026-11-20")
    assert be["cloud"]["price_usd_per_h"] == 3.67339 and be["cloud"]["as_of"] == "2026-11-20"
    assert be["cloud"]["source"] == f"SkyPilot catalog {gcp}"


def test_default_skypilot_cache_is_read_and_can_be_skipped(home):
    vms = home / ".sky" / "catalogs" / "v8" / "lambda" / "vms.csv"
    vms.parent.mkdir(parents=True)
    vms.write_text("InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,SpotPrice\n"
                   "gpu_1x_a100_sxm4,A100,1.0,30.0,200.0,1.29,us-west-1,\n")
    doc = ok_json("cloud-cost", "--gpu", "A100", "--count", "1")
    lam = [r for r in doc["rows"] if r["provider"] == "Lambda"]
    assert [(r["region"], r["price_usd_per_h"], r["as_of"]) for r in lam] == [("us-west-1", 1.29, None),
                                                                              ("us-east-1", 1.99, "2026-11-16")]
    assert doc["catalog"]["undated_rows"] == 1 and "1 row(s) undated" in doc["catalog"]["message"]
    skipped = ok_json("cloud-cost", "--gpu", "A100", "--count", "1", "--no-skypilot")
    assert [r["region"] for r in skipped["rows"] if r["provider"] == "Lambda"] == ["us-east-1"]


def test_bench_result_normalises_its_gpu(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"schema": "dlkit.bench/1", "environment": {"gpu": {"name": "NVIDIA H100 80GB HBM3"}},
                                 "results": [{"kernel": "matmul", "device": "cuda", "dtype": "bfloat16",
                                              "tflops": 780.1}]}))
    doc = ok_json("cloud-cost", "--gpu", "H100", "--count", "1", "--bench", str(bench))
    p5 = next(r for r in doc["rows"] if r["instance"] == "p5.4xlarge")
    assert (p5["tflops_per_gpu"], p5["tflops_source"]) == (780.1, "measured")
    assert p5["usd_per_eflop"] == round(6.88 / (780.1 * 0.0036), 6)
    pcie = next(r for r in doc["rows"] if r["gpu"] == "H100-PCIe")
    assert (pcie["tflops_per_gpu"], pcie["tflops_source"]) == (756, "peak")
    bench.write_text("{not json")
    bad = invoke("cloud-cost", "--gpu", "H100", "--bench", str(bench))
    assert bad.exit_code == 2 and bad.stdout == "" and "is not JSON" in bad.stderr


# --------------------------------------------------------------------------- build side from a plan / this host


def test_plan_build_gives_price_and_power(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"schema": "dlkit.plan-build/1", "total_price_usd": 2200,
                                "psu_watts_recommended": 1000, "power": {"dc_watts_estimated": 450}}))
    doc = ok_json("cloud-cost", "breakeven", "--plan-build", str(plan), "--electricity", "0.12", "--utilization",
                  "0.15", "--vs-price", "2.14")
    assert doc["breakeven_days"] == 292.96
    inputs = {i["option"]: i for i in doc["inputs"]}
    assert inputs["--build-price"]["origin"] == f"from plan {plan}"
    assert "dc_watts_estimated" in inputs["--build-watts"]["origin"]
    plan.write_text(json.dumps({"schema": "dlkit.plan-build/1", "total_price_usd": 2200,
                                "psu_watts_recommended": 495}))
    doc = ok_json("cloud-cost", "breakeven", "--plan-build", str(plan), "--electricity", "0.12", "--utilization",
                  "0.15", "--vs-price", "2.14")
    assert {i["option"]: i["value"] for i in doc["inputs"]}["--build-watts"] == pytest.approx(450.0)
    plan.write_text(json.dumps({"schema": "dlkit.plan-build/1", "psu_watts_recommended": 495}))
    bad = invoke("cloud-cost", "breakeven", "--plan-build", str(plan), "--electricity", "0.12", "--utilization",
                 "0.15", "--vs-price", "2.14")
    assert bad.exit_code == 2 and bad.stdout == "" and "has no total_price_usd" in bad.stderr


def test_from_host_takes_power_from_doctor_facts(monkeypatch):
    from dlkit import engine
    from dlkit.facts import CpuFacts, Facts, GpuFacts, RunFacts

    facts = Facts(run=RunFacts(created=None, dlkit_version="test"), cpu=CpuFacts(model="AMD Ryzen 9 5950X"),
                  gpus=(GpuFacts(pci_bus_id="0000:01:00.0", name="NVIDIA GeForce RTX 3090", power_limit_w=350.0),))
    monkeypatch.setattr(engine, "gather", lambda host, *a, **k: (facts, []))
    doc = ok_json(*DETTMERS[:2], "--from-host", "--build-price", "2200", "--electricity", "0.12",
                  "--utilization", "0.15", "--vs-price", "2.14")
    inputs = {i["option"]: i for i in doc["inputs"]}
    assert inputs["--build-watts"]["value"] == 450.0
    assert "RTX 3090 350 W" in inputs["--build-watts"]["origin"] and "5950X" in inputs["--build-watts"]["origin"]
    assert doc["breakeven_days"] == 292.96
    bad = invoke(*DETTMERS[:2], "--from-host", "--electricity", "0.12", "--utilization", "0.15", "--vs-price", "2")
    assert bad.exit_code == 2 and "add --build-price" in bad.stderr


# --------------------------------------------------------------------------- --plot


def test_plot_png_and_svg_and_no_overwrite(tmp_path):
    png = tmp_path / "cost.png"
    r = invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(png), "--json")
    assert r.exit_code == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and json.loads(r.stdout)["breakeven_days"] == 292.96
    again = invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(png))
    assert again.exit_code == 2 and again.stdout == "" and "already exists" in again.stderr
    assert invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(png), "--force").exit_code == 0
    svg = tmp_path / "cost.svg"
    assert invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(svg)).exit_code == 0
    assert b"<svg" in svg.read_bytes()[:400]
    wrong = invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(tmp_path / "cost.pdf"))
    assert wrong.exit_code == 2 and "give a .png or .svg" in wrong.stderr


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    r = invoke(*DETTMERS, "--vs-price", "2.14", "--plot", str(tmp_path / "c.png"))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "dlkit: error: --plot needs matplotlib: pip install 'dlkit[plot]'\n"
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("args, contains", [
    (["--gpu", "A100", "--hours", "nan"], "--hours must be 0 or more"),
    (["breakeven", "--build-price", "1000", "--build-watts", "0", "--electricity", "0", "--utilization", "1",
      "--vs-price", "1", "--years", "1e7"], "--years must be more than 0 and at most 100"),
])
def test_out_of_range_numbers_are_usage_errors(args, contains):
    r = subprocess.run([sys.executable, "-m", "dlkit", "cloud-cost", *args], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "" and contains in r.stderr and "Traceback" not in r.stderr


def test_an_empty_catalog_folder_is_an_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "dlkit", "cloud-cost", "--gpu", "A100", "--catalog", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no SkyPilot vms.csv" in r.stderr
