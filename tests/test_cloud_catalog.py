"""Cloud price catalog (issue 7): the packaged table's hygiene, the GCP host + GPU join, the
SkyPilot parser (header order, per-cloud quirks), user CSV errors with line numbers,
anomaly flags on the reference samples, GPU names and catalog age.

The SkyPilot sample rows live in ../shared/reference/data (fixture material, never copied
into the product); those tests skip when it is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import io
from pathlib import Path

import pytest

from dlkit.catalog.cloud import (CatalogError, MAX_AGE_DAYS, PriceRow, UnknownGpu, catalog_age, find_anomalies,
                                 join_components, match_gpus, merge, packaged_rows, parse_dlkit_csv, region_matches)
from dlkit.catalog.cloud_sources import (gcp_host_gpus, load_sources, parse_price_file, parse_skypilot_csv,
                                         provider_from_path)
from dlkit.host.userfiles import UserFileError

REFDATA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data"
TODAY = dt.date(2026, 11, 23)


def sample(name: str) -> str:
    path = REFDATA / f"skypilot_v8_{name}_sample.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared reference data)")
    return path.read_text(encoding="utf-8")


def one(rows, **want) -> PriceRow:
    hits = [r for r in rows if all(getattr(r, k) == v for k, v in want.items())]
    assert len(hits) == 1, (want, hits)
    return hits[0]


# --------------------------------------------------------------------------- packaged table


def test_every_packaged_row_has_source_and_iso_as_of():
    rows = packaged_rows()
    assert len(rows) >= 45
    for r in rows:
        # a reference section, or a site/repository the reader can open
        assert "§" in r.source or "issue 7" in r.source or re.search(r"\b[\w-]+\.(com|org|io|net|ai)\b", r.source), r
        assert dt.date.fromisoformat(r.as_of) <= TODAY, r
        assert r.price_usd_per_h is not None and r.price_usd_per_h > 0, r
        assert r.part in ("vm", "host", "gpu")


def test_packaged_table_covers_the_issue_providers():
    assert {r.provider for r in packaged_rows()} >= {"AWS", "GCP", "Azure", "Lambda", "RunPod", "Vast", "Crestle"}


def test_the_articles_historical_rows():
    rows = packaged_rows()
    assert one(rows, instance="p2.xlarge").price_usd_per_h == 0.90
    assert one(rows, instance="p2.8xlarge").price_usd_per_h == 7.20
    assert one(rows, provider="Crestle").price_usd_per_h == 0.59
    assert {r.instance for r in rows if r.historical} == {"p2.xlarge", "p2.8xlarge", "p2.16xlarge", "gpu-notebook"}
    assert all(r.as_of.startswith("2017") for r in rows if r.historical)


def test_gcp_a2_highgpu_1g_is_host_plus_gpu_in_the_packaged_table():
    vms, _ = join_components(packaged_rows())
    a2 = one(vms, instance="a2-highgpu-1g")
    assert a2.price_usd_per_h == pytest.approx(0.73948 + 2.93391)
    assert round(a2.price_usd_per_h, 3) == 3.673
    assert a2.spot_usd_per_h == pytest.approx(0.36975 + 1.4341)
    assert a2.components == (0.73948, 2.93391)
    assert "host 0.73948 + GPU 2.93391" in a2.note


def test_packaged_anomalies_are_flagged():
    kinds = {(a.kind, a.gpu) for a in find_anomalies(packaged_rows())}
    assert ("spot-above-on-demand", "A100-80GB") in kinds
    assert ("regional-spread", "H100") in kinds


def test_bad_packaged_row_is_a_bug_not_a_user_error():
    with pytest.raises(CatalogError, match="line 2: source is empty"):
        parse_dlkit_csv("provider,instance,gpu,gpu_count,price_usd_per_h,as_of,source\n"
                        "AWS,x,T4,1,0.5,2026-11-01,\n", "cloud_prices.csv", origin="packaged")


# --------------------------------------------------------------------------- SkyPilot samples


def test_gcp_sample_join_gives_3_673():
    rows = parse_skypilot_csv(sample("gcp"), "skypilot_v8_gcp_sample.csv", "GCP")
    vms, left = join_components(rows)
    a2 = one(vms, instance="a2-highgpu-1g")
    assert (a2.gpu, a2.gpu_count) == ("A100", 1)
    assert round(a2.price_usd_per_h, 5) == 3.67339
    assert round(a2.price_usd_per_h, 3) == 3.673
    # a3-highgpu-1g takes one H100, the sample only prices H100 x8: no join, nothing invented
    assert not [r for r in vms if r.instance == "a3-highgpu-1g"]
    assert {(r.part, r.gpu) for r in left} >= {("host", "H100"), ("gpu", "A100-80GB"), ("gpu", "T4")}


def test_anomaly_flags_fire_on_the_reference_samples():
    rows = parse_skypilot_csv(sample("gcp"), "gcp.csv", "GCP") + parse_skypilot_csv(sample("aws"), "aws.csv", "AWS")
    found = find_anomalies(rows)
    spot = [a for a in found if a.kind == "spot-above-on-demand"]
    assert [(a.provider, a.gpu) for a in spot] == [("GCP", "A100-80GB")]
    assert "spot $1.964/h is above on-demand $1.8462/h" in spot[0].message and "us-central1" in spot[0].message
    spread = [a for a in found if a.kind == "regional-spread"]
    assert [(a.provider, a.gpu, a.gpu_count) for a in spread] == [("GCP", "H100", 8.0)]
    assert "2.33x apart" in spread[0].message
    assert "$33.6061/h us-central1" in spread[0].message and "$78.3724/h us-east4" in spread[0].message


def test_no_anomaly_on_clean_rows():
    rows = parse_skypilot_csv(sample("lambda"), "lambda.csv", "Lambda")
    assert find_anomalies(rows) == []


def _reorder(text: str, order) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for r in rows:
        w.writerow([r[i] for i in order])
    return out.getvalue()


@pytest.mark.parametrize("cloud", ["aws", "gcp", "lambda", "runpod", "vast"])
def test_skypilot_columns_are_found_by_header_not_position(cloud):
    text = sample(cloud)
    n = len(next(csv.reader(io.StringIO(text))))
    plain = parse_skypilot_csv(text, "a.csv", "X")
    reversed_ = parse_skypilot_csv(_reorder(text, list(reversed(range(n)))), "a.csv", "X")
    rotated = parse_skypilot_csv(_reorder(text, [(i + 3) % n for i in range(n)]), "a.csv", "X")
    assert plain == reversed_ == rotated
    assert plain


def test_skypilot_quirks():
    aws = parse_skypilot_csv(sample("aws"), "aws.csv", "AWS")
    assert one(aws, instance="p5.4xlarge").spot_usd_per_h is None  # empty SpotPrice
    assert one(aws, instance="p4d.24xlarge").price_usd_per_h == 21.957642
    assert one(aws, instance="g6.xlarge").region == "ca-central-1"
    runpod = parse_skypilot_csv(sample("runpod"), "runpod.csv", "RunPod")  # SpotPrice before Price
    assert (runpod[0].price_usd_per_h, runpod[0].spot_usd_per_h, runpod[0].gpu) == (1.39, 1.39, "A100-80GB")
    vast = parse_skypilot_csv(sample("vast"), "vast.csv", "Vast")
    r3090 = one(vast, gpu="RTX3090")
    assert (r3090.spot_usd_per_h, r3090.per_gpu()) == (None, 0.165)  # 0.00 = not populated
    assert "not populated" in r3090.note
    lam = parse_skypilot_csv(sample("lambda"), "lambda.csv", "Lambda")  # no AvailabilityZone column
    assert one(lam, instance="gpu_8x_h100_sxm5").gpu_count == 8


def test_provider_from_path():
    assert provider_from_path("/x/skypilot_v8_gcp_sample.csv") == "GCP"
    assert provider_from_path("/home/u/.sky/catalogs/v8/lambda/vms.csv") == "Lambda"
    assert provider_from_path("/tmp/prices.csv") == "SkyPilot"


def test_gcp_host_table():
    assert gcp_host_gpus("a2-ultragpu-8g") == ("A100-80GB", 8)
    assert gcp_host_gpus("a3-highgpu-8g") == ("H100", 8)
    assert gcp_host_gpus("e2-standard-4") is None


def test_skypilot_zones_collapse_to_the_region_minimum():
    text = ("InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region,AvailabilityZone\n"
            "p3.2xlarge,V100,1,3.06,0.43,us-east-1,use1-az1\np3.2xlarge,V100,1,3.06,0.3707,us-east-1,use1-az2\n"
            "p3.2xlarge,V100,1,0,,us-west-2,usw2-az1\n")
    rows = parse_skypilot_csv(text, "aws.csv", "AWS")
    assert len(rows) == 2
    east = one(rows, region="us-east-1")
    assert (east.price_usd_per_h, east.spot_usd_per_h) == (3.06, 0.3707)
    west = one(rows, region="us-west-2")
    assert west.price_usd_per_h is None and "reservation-only" in west.note  # skypilot #4657


# --------------------------------------------------------------------------- user files


HEADER = "provider,instance,region,gpu,gpu_count,price_usd_per_h,spot_usd_per_h,as_of\n"


@pytest.mark.parametrize("body,message", [
    ("lab,a,us,A100,1,1.0,,2026-11-01\nlab,b,us,A100,1,abc,,2026-11-01\n",
     "mine.csv line 3: price_usd_per_h 'abc' is not a number"),
    ("lab,a,us,A100,1,1.0,,2026-11-01\n\nlab,b,us,A100,1,1.0,2026-11-01\n",
     "mine.csv line 4: expected 8 fields as in the header, found 7"),
    ('lab,"multi\nline",us,A100,1,1.0,,2026-11-01\nlab,b,us,A100,1,-2,,2026-11-01\n',
     "mine.csv line 4: price_usd_per_h '-2' must be a non-negative number"),
    ("lab,a,us,A100,0,1.0,,2026-11-01\n", "mine.csv line 2: gpu_count '0' must be a positive number"),
    ("lab,a,us,A100,1,1.0,,11/01/2026\n", "mine.csv line 2: as_of '11/01/2026' is not a date"),
    ("lab,a,us,,1,1.0,,2026-11-01\n", "mine.csv line 2: gpu is empty"),
    ("lab,a,us,A100,1,1.0,,\n", "mine.csv line 2: as_of is empty"),
])
def test_malformed_user_csv_names_file_and_line(body, message):
    with pytest.raises(CatalogError) as exc:
        parse_price_file(HEADER + body, "mine.csv")
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_user_csv_missing_columns_is_line_1():
    with pytest.raises(CatalogError, match=r"^mine.csv line 1: missing column\(s\) gpu_count, as_of"):
        parse_price_file("provider,instance,gpu,price_usd_per_h\nlab,a,A100,1\n", "mine.csv")


def test_malformed_skypilot_csv_names_the_line():
    with pytest.raises(CatalogError, match="^vms.csv line 3: Price 'n/a' is not a number"):
        parse_price_file("InstanceType,AcceleratorName,AcceleratorCount,Price,Region\n"
                         "a,T4,1,0.5,us\nb,T4,1,n/a,us\n", "vms.csv")


def test_user_rows_replace_packaged_rows_with_the_same_key():
    mine = parse_price_file("provider,instance,region,gpu,gpu_count,price_usd_per_h,as_of,source\n"
                            "AWS,p4d.24xlarge,us-east-1,A100,8,15.00,2026-11-20,our EDP rate\n"
                            "lab,box,,RTX4090,4,1.20,2026-11-20,\n", "mine.csv")
    rows = merge(packaged_rows(), mine)
    p4d = [r for r in rows if r.instance == "p4d.24xlarge"]
    assert [(r.price_usd_per_h, r.source, r.origin) for r in p4d] == [(15.0, "our EDP rate", "file")]
    assert one(rows, provider="lab").source == "mine.csv"


def test_skypilot_folder_discovery(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    root = tmp_path / ".sky" / "catalogs"
    for ver in ("v7", "v8"):
        (root / ver / "gcp").mkdir(parents=True)
        price = "9.99" if ver == "v7" else "2.93391"
        (root / ver / "gcp" / "vms.csv").write_text(
            "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region\n"
            f",A100,1,{price},1.4341,us-central1\na2-highgpu-1g,,,0.73948,0.36975,us-central1\n")
    (root / "v8" / "common").mkdir()  # no vms.csv: skipped
    got = load_sources([], None, "2026-11-20")
    assert [Path(p.split(" ")[0]).parts[-3:] for p in got.read] == [("v8", "gcp", "vms.csv")]
    vms, _ = join_components(got.rows)
    a2 = one(vms, instance="a2-highgpu-1g")
    assert (a2.provider, round(a2.price_usd_per_h, 5), a2.as_of) == ("GCP", 3.67339, "2026-11-20")
    assert load_sources([], "", None).rows == []  # --no-skypilot
    (root / "v8").rename(root / "v5")
    (root / "v7").rename(root / "v4")
    with pytest.raises(UserFileError, match="dlkit reads v7 and v8"):
        load_sources([], str(root), None)
    assert load_sources([], None, None).rows == []  # an old default cache is ignored, not an error


# --------------------------------------------------------------------------- names and age


def test_gpu_family_matches_memory_variants_and_did_you_mean():
    names = [r.gpu for r in packaged_rows()]
    assert match_gpus("A100", names) == ["A100", "A100-80GB"]
    assert match_gpus("a100-80gb", names) == ["A100-80GB"]
    assert match_gpus("H100", names) == ["H100", "H100-MEGA", "H100-NVL", "H100-PCIe"]
    assert match_gpus("H100 SXM", names) == ["H100", "H100-MEGA"]
    assert match_gpus("L40S", names) == ["L40S"]  # was "unknown GPU 'L40S'; did you mean L4?"
    assert match_gpus("3090", names) == ["RTX3090"]
    assert match_gpus("NVIDIA GeForce RTX 4090", names) == ["RTX4090"]
    assert match_gpus("A10", names) == ["A10"]
    with pytest.raises(UnknownGpu, match=r"^unknown GPU 'A1000'; did you mean A100"):
        match_gpus("A1000", names)
    with pytest.raises(UnknownGpu, match="unknown GPU 'zzz'; the price catalog has A10, A100, "):
        match_gpus("zzz", names)
    # a GPU the GPU catalog knows but no price row rents is not "unknown" (it was "did you mean L4?")
    with pytest.raises(UnknownGpu, match=r"^no price for 'Tesla P4' \(Tesla P4\) in the catalogs read; "
                                         r"`dlkit cloud-cost refresh`"):
        match_gpus("Tesla P4", names)
    # an accelerator the GPU catalog lacks still matches by its own name
    assert match_gpus("tpu-v5e", names + ["TPU-V5E"]) == ["TPU-V5E"]


def test_region_matching():
    assert region_matches("us-east-1", "us") and region_matches("eastus", "us")
    assert not region_matches("europe-west4", "us") and region_matches("europe-west4", "eu")
    assert not region_matches("", "us") and region_matches("", "")


def test_catalog_age_within_and_past_30_days():
    rows = packaged_rows()
    age = catalog_age(rows, TODAY)
    assert (age.newest, age.newest_days, age.current) == ("2026-11-16", 7, True)
    assert (age.oldest, age.oldest_days) == ("2026-02-01", 295)  # the CoreWeave rows (February 2026)
    assert age.message == ("prices as of 2026-11-16 (7 days old); oldest row 2026-02-01 (295 days old, not current)")
    later = catalog_age(rows, dt.date(2027, 1, 1))
    assert later.current is False and later.newest_days == 46 > MAX_AGE_DAYS
    assert later.message.startswith("prices as of 2026-11-16 (46 days old) — not current")


def test_undated_rows_are_never_current():
    rows = parse_skypilot_csv("InstanceType,AcceleratorName,AcceleratorCount,Price,Region\na,T4,1,0.5,us\n",
                              "vms.csv", "AWS")
    age = catalog_age(rows, TODAY)
    assert (age.current, age.undated) == (False, 1)
    assert age.message == "prices have no date (age unknown) — not current"


@pytest.mark.parametrize("name", ["dlkit.catalog.cloud", "dlkit.catalog.cloud_sources", "dlkit.recipes.cloud"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
