"""The hardware catalog (issue 5): every row sourced and dated, validated on load, names
matched the way people type them and the way nvidia-smi and /proc/cpuinfo print them."""

from __future__ import annotations

import csv
import doctest
import io
import re
from importlib.resources import files

import pytest

from dlkit.catalog import hardware
from dlkit.catalog.gpu_identity import resolve as lookup_gpu
from dlkit.catalog.hardware import GpuModel, lookup_cpu, lookup_region
from dlkit.catalog.names import UnknownPart
from dlkit.catalog.tables import CatalogError, parse_table

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def raw_rows(table: str) -> list[dict[str, str]]:
    text = (files("dlkit.catalog") / "data" / f"{table}.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("table", hardware.HARDWARE_TABLES)
def test_every_row_has_a_source_and_an_as_of_date(table):
    rows = raw_rows(table)
    assert rows
    for i, row in enumerate(rows, start=2):
        assert row["source"].strip(), f"{table}.csv line {i}: no source"
        assert DATE.match(row["as_of"].strip()), f"{table}.csv line {i}: as_of {row['as_of']!r}"
    assert len(hardware._load(table)) == len(rows)  # and every row parses


def test_catalog_sizes_the_issue_asks_for():
    gpus, cpus = hardware.gpus(), hardware.cpus()
    assert len(gpus) >= 40 and len(cpus) >= 30
    assert {"Kepler", "Pascal", "Volta", "Turing", "Ampere", "Ada", "Hopper", "Blackwell"} <= {g.arch for g in gpus}
    assert {"consumer", "datacenter"} <= {g.segment for g in gpus}
    assert {2, 3} <= {p.atx for p in hardware.psus()}
    assert {"us", "eu", "cn"} <= {r.region for r in hardware.regions()}


def test_names_and_aliases_are_unique():
    # GPU aliases may be shared by memory variants only (the driver prints one name for the
    # 8 GB and the 16 GB RTX 4060 Ti): tests/test_gpu_identity.py holds that rule
    names = [row.name.lower() for row in hardware.gpus()]
    assert len(set(names)) == len(names)
    seen: dict[str, str] = {}
    for row in hardware.cpus():
        for name in (row.name, *row.aliases):
            assert seen.setdefault(name.lower(), row.name) == row.name, f"{name!r} names two rows"


@pytest.mark.parametrize("query", ["3090", "rtx3090", "RTX 3090", "GeForce RTX 3090", "NVIDIA GeForce RTX 3090"])
def test_gpu_names_match_loosely(query):
    assert lookup_gpu(query).name == "GeForce RTX 3090"


@pytest.mark.parametrize("query, name", [
    ("3090 Ti", "GeForce RTX 3090 Ti"), ("gtx1070", "GeForce GTX 1070"), ("4090", "GeForce RTX 4090"),
    ("2080 ti", "GeForce RTX 2080 Ti"), ("NVIDIA H100 80GB HBM3", "H100 SXM5"),
])
def test_gpu_variants_are_told_apart(query, name):
    assert lookup_gpu(query).name == name


@pytest.mark.parametrize("query, name", [
    ("i7-6850K", "Core i7-6850K"), ("6800k", "Core i7-6800K"), ("Intel(R) Core(TM) i7-6850K CPU @ 3.60GHz", "Core i7-6850K"),
    ("AMD Ryzen Threadripper 3960X 24-Core Processor", "Threadripper 3960X"), ("14900K", "Core i9-14900K"),
    ("threadripper 7960x", "Threadripper 7960X"), ("i9-10980XE", "Core i9-10980XE"),
])
def test_cpu_names_match_loosely(query, name):
    assert lookup_cpu(query).name == name


def test_a_miss_suggests_close_names():
    with pytest.raises(UnknownPart) as exc:
        lookup_gpu("RTX 3900")
    assert "did you mean" in str(exc.value) and "GeForce RTX 3090" in exc.value.suggestions
    with pytest.raises(UnknownPart) as exc:
        lookup_cpu("i7-6805K")
    assert "Core i7-6850K" in exc.value.suggestions or "Core i7-6800K" in exc.value.suggestions


def test_a_family_name_is_ambiguous_not_a_guess():
    with pytest.raises(UnknownPart) as exc:
        lookup_gpu("A100")
    assert exc.value.ambiguous and len(exc.value.suggestions) >= 2
    assert all(s.startswith("A100") for s in exc.value.suggestions)


def test_region_lookup_and_suggestion():
    assert lookup_region("US").continuous_w == 1440
    with pytest.raises(UnknownPart, match="region 'mars'"):
        lookup_region("mars")


def test_a_malformed_row_names_file_line_and_column():
    header = ",".join(f.name for f in hardware.dataclasses.fields(GpuModel))
    good = raw_rows("gpus")[0]
    row = dict(good, board_power_w="lots")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header.split(","))
    w.writeheader()
    w.writerow({k: row.get(k, "") for k in header.split(",")})
    col = header.split(",").index("board_power_w") + 1
    with pytest.raises(CatalogError, match=rf"^gpus.csv:2:{col} \(board_power_w\): 'lots' is not a number$"):
        parse_table(GpuModel, buf.getvalue(), "gpus.csv")
    with pytest.raises(CatalogError, match=r"^gpus.csv:1: missing column\(s\) aliases, arch"):
        parse_table(GpuModel, "name,source,as_of\nx,y,2026-01-01\n", "gpus.csv")


def test_reference_values_the_planner_depends_on():
    assert lookup_gpu("GTX 1070").board_power_w == 150
    assert lookup_gpu("RTX 4090").board_power_w == 450 and lookup_gpu("RTX 4090").slot_width == 3
    assert lookup_gpu("RTX 3090").board_power_w == 350
    assert lookup_cpu("i7-6850K").lanes_usable == 40 and lookup_cpu("i7-6800K").lanes_usable == 28
    assert lookup_cpu("i9-14900K").lanes_usable == 20 and lookup_cpu("i9-14900K").tdp_w == 125
    assert lookup_cpu("Threadripper 3960X").tdp_w == 280
    assert lookup_cpu("Threadripper 7960X").lanes_usable >= 64


def test_doctests():
    assert doctest.testmod(hardware).failed == 0


@pytest.mark.parametrize("street_as_of, ok", [("2026", True), ("2026-05", True), ("2026-05-31", True),
                                              ("2026-13", False), ("2026-02-30", False), ("26", False),
                                              ("May 2026", False)])
def test_a_date_cell_takes_the_precision_its_source_gives(street_as_of, ok):
    # local-llm.net dates the RTX 3090's used price only to "2026": a year is a date, a bad month is not
    header = ",".join(f.name for f in hardware.dataclasses.fields(GpuModel))
    row = dict(raw_rows("gpus")[0], street_as_of=street_as_of)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header.split(","))
    w.writeheader()
    w.writerow({k: row.get(k, "") for k in header.split(",")})
    col = header.split(",").index("street_as_of") + 1
    if ok:
        assert parse_table(GpuModel, buf.getvalue(), "gpus.csv")[0].street_as_of == street_as_of
    else:
        with pytest.raises(CatalogError, match=rf"^gpus.csv:2:{col} \(street_as_of\): '{street_as_of}' is not a (real )?date"):
            parse_table(GpuModel, buf.getvalue(), "gpus.csv")


def test_street_prices_lie_inside_the_ranges_their_rows_cite():
    # gpu-specs.md §6: RTX 4090 new $1,400-1,700 (May 2026); local-llm.net 2026: RTX 3090 used $500-800
    assert 1400 <= lookup_gpu("RTX 4090").street_usd <= 1700 and lookup_gpu("RTX 4090").street_kind == "new"
    assert 500 <= lookup_gpu("RTX 3090").street_usd <= 800 and lookup_gpu("RTX 3090").street_kind == "used"
    assert "local-llm.net" in lookup_gpu("RTX 3090").street_source


def test_did_you_mean_finds_a_typo_in_the_model_number():
    with pytest.raises(UnknownPart) as e:
        lookup_cpu("7950Y")
    assert "Ryzen 9 7950X" in e.value.suggestions
