"""The compatibility tables' schemas (one dataclass per ``data/*.csv``) and their loading.

Every cell is checked by the one typed loader (:mod:`dlkit.catalog.tables`) when a table is
first used; :mod:`dlkit.catalog.compat` answers questions from the rows. Cells stay text
(versions are compared with ``compat.vtuple``); an empty cell is ``""``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from dlkit.catalog.tables import cell, shipped

V = r"\d+(\.\d+)*"  # a version cell: "12.8", "550.54.14"


@dataclass(frozen=True)
class CudaDriverRow:
    kind: str = cell(choices=("toolkit", "family"))
    cuda: str = cell(pattern=V)
    update: str | None = cell(pattern=r"\d+")
    label: str = cell()
    linux_min: str = cell(pattern=V)
    windows_min: str | None = cell(pattern=V)
    family_upper: str | None = cell(pattern=V)
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class CudaCcRow:
    cc: str = cell(pattern=V)
    family: str = cell()
    first_cuda: str = cell(pattern=V)
    first_cuda_exact: str = cell(choices=("yes", "no"))
    last_cuda: str | None = cell(pattern=V)
    dropped_in: str | None = cell(pattern=V)
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class TorchArchRow:
    torch_from: str = cell(pattern=V)
    torch_to: str | None = cell(pattern=V)
    cuda: str = cell(pattern=r"cu\d{2,3}")
    channel: str = cell(choices=("pip", "conda"))
    arch_list: str = cell(pattern=r"((sm|compute)_\d+[af]?)( (sm|compute)_\d+[af]?)*")
    ptx_platforms: str | None = cell(choices=("all", "linux"))
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class CudnnRow:
    cudnn: str = cell()  # "9.17.0", or a range such as "9.10.2 / 9.5.x"
    cudnn_major: str = cell(pattern=r"\d+")
    cuda_major: str = cell(pattern=r"\d+")
    cuda_toolkits: str = cell()
    linux_driver_min: str | None = cell(pattern=V)
    windows_driver_min: str | None = cell(pattern=V)
    cc_min: str | None = cell(pattern=V)
    cc_max: str | None = cell(pattern=V)
    runtime_rule: str = cell()
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class GccRow:
    cuda_from: str = cell(pattern=V)
    cuda_to: str = cell(pattern=V)
    gcc_max: str = cell(pattern=r"\d+")
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class XidRow:
    xid: str = cell(pattern=r"\d+")
    mnemonic: str = cell()
    name: str = cell()
    meaning: str = cell()
    immediate_action: str = cell()
    investigatory_action: str | None = cell()
    action: str = cell()
    severity: str = cell(choices=("error", "warning", "info"))
    failure_mode: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class BranchRow:
    """Which Linux driver branch supports a GPU architecture (NVIDIA's legacy-GPU list)."""

    arch: str = cell()
    first_cc: str = cell(pattern=V)
    last_cc: str = cell(pattern=V)
    branch: str = cell(pattern=r"\d+")
    status: str = cell(choices=("current", "legacy"))
    last_version: str | None = cell(pattern=V)
    source: str = cell()
    as_of: str = cell(date=True)


_SCHEMAS: dict[str, type] = {"cuda_driver": CudaDriverRow, "cuda_cc": CudaCcRow, "torch_arch": TorchArchRow,
                             "cudnn": CudnnRow, "gcc": GccRow, "xid": XidRow, "nvidia_branches": BranchRow}
TABLES = tuple(_SCHEMAS)

# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=None)
def load(table_name: str) -> tuple[dict[str, str], ...]:
    """A table's rows as column → text ("" for an empty cell), after the typed loader has
    checked every cell (:mod:`dlkit.catalog.tables`)."""
    if table_name not in _SCHEMAS:
        raise KeyError(f"unknown catalog table {table_name!r}; known: {', '.join(TABLES)}")
    return tuple({k: "" if v is None else v for k, v in dataclasses.asdict(r).items()}
                 for r in shipped(_SCHEMAS[table_name], table_name))


def rows(table_name: str) -> list[dict[str, str]]:
    """Every row of one table as fresh dicts (column → text), in file order."""
    return [dict(row) for row in load(table_name)]


