"""README's catalog counts are the shipped tables' row counts (a claim README makes must be true)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from dlkit.catalog.tables import csv_rows

README = Path(__file__).resolve().parents[1] / "README.md"


def _rows(table: str) -> int:
    text = (files("dlkit.catalog") / "data" / f"{table}.csv").read_text(encoding="utf-8")
    rows = [cells for _, cells in csv_rows(text, f"{table}.csv") if any(cells)][1:]  # less the header
    if table == "gpu_pci":  # an id shared by memory variants has a row per variant: count ids
        return len({(cells[1], cells[2]) for cells in rows})
    return len(rows)


def test_readme_counts_match_the_shipped_tables():
    text = " ".join(README.read_text(encoding="utf-8").split())
    claims = {"gpus": r"(\d+) GPUs \(NVIDIA Kepler", "gpu_pci": r"(\d+) PCI ids\)", "cpus": r"(\d+) CPUs, PSU tiers",
              "cloud_prices": r"holds (\d+) rows: AWS"}
    for table, pattern in claims.items():
        m = re.search(pattern, text)
        assert m, f"README no longer states the {table} count ({pattern})"
        assert int(m.group(1)) == _rows(table), table
