"""Hardware catalog: GPUs, CPUs, PSU tiers, RAM kits and planning regions.

The rows live in ``dlkit/catalog/data/{gpus,cpus,psus,ram,regions}.csv``, each with its
``source`` and ``as_of``; the references behind them are ``shared/reference/gpu-specs.md``
§1/§6, ``cpu-and-memory.md`` §5 and ``build-rules.md``. Rows are validated when loaded: a
cell that does not parse is a packaging bug and raises :class:`CatalogError` naming the
file, line and column. An empty cell means *unknown* (``None``), never zero.

Names match loosely, the way people type them: "3090", "rtx3090", "GeForce RTX 3090" and
nvidia-smi's "NVIDIA GeForce RTX 3090" all find the same row (:func:`find_gpu`). A miss or
an ambiguous name raises :class:`UnknownPart` with close matches for "did you mean".
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import io
import re
import types
import typing
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from dlkit.catalog.compat import MAX_NAME_CHARS

HARDWARE_TABLES = ("gpus", "cpus", "psus", "ram", "regions")
_DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class CatalogError(ValueError):
    """A packaged catalog row is malformed (a bug in dlkit's data, not the user's input)."""


class UnknownPart(ValueError):
    """A part name matched nothing, or several rows equally well."""

    def __init__(self, kind: str, query: str, suggestions: list[str], ambiguous: bool = False):
        self.kind, self.query, self.suggestions, self.ambiguous = kind, query, suggestions, ambiguous
        query = query if len(query) <= 60 else query[:57] + "..."  # a message is one readable line
        if ambiguous:
            msg = f"{kind} {query!r} matches several: {', '.join(suggestions)}; name one"
        elif suggestions:
            msg = f"unknown {kind} {query!r}; did you mean {', '.join(suggestions)}?"
        else:
            msg = f"unknown {kind} {query!r}; see dlkit plan-build --list {kind}s"
        super().__init__(msg)


@dataclass(frozen=True)
class GpuModel:
    name: str
    aliases: tuple[str, ...]
    arch: str
    segment: str  # consumer | workstation | datacenter
    year: int | None
    cc: str | None
    sms: int | None
    memory_gib: float | None
    memory_type: str | None
    bandwidth_gbs: float | None
    fp32_tflops: float | None
    tf32_tflops: float | None  # dense tensor-core TF32; None before Ampere
    bf16_tflops: float | None  # dense, FP32 accumulate; None without BF16
    fp16_tflops: float | None  # dense, FP32 accumulate on tensor cores where there are some
    board_power_w: float | None
    form_factor: str  # pcie | sxm
    slot_width: float | None  # slots of the reference / Founders Edition cooler
    cooler: str | None  # axial | blower | flow-through | passive
    power_connectors: str | None  # "2x8pin", "1x16pin", "none", "sxm", ...
    pcie_gen: int | None
    pcie_width: int | None  # electrical
    spike_factor: float | None  # ms-scale transient peak / board power, where measured
    msrp_usd: float | None
    street_usd: float | None
    street_kind: str | None  # new | used
    street_as_of: str | None
    street_source: str | None
    source: str
    as_of: str

    @property
    def price_usd(self) -> float | None:
        """What it costs to buy one now: the dated street price, else the launch MSRP."""
        return self.street_usd if self.street_usd is not None else self.msrp_usd

    @property
    def price_basis(self) -> str:
        if self.street_usd is not None:
            return f"{self.street_kind or 'street'} price, {self.street_as_of or 'undated'} ({self.street_source or self.source})"
        if self.msrp_usd is not None:
            return f"launch MSRP ({self.year or 'year unknown'}); no dated street price in the catalog"
        return "no price in the catalog"


@dataclass(frozen=True)
class CpuModel:
    name: str
    aliases: tuple[str, ...]
    vendor: str
    segment: str  # desktop | hedt | workstation | server
    year: int | None
    cores: int | None
    threads: int | None
    base_ghz: float | None
    boost_ghz: float | None
    tdp_w: float | None  # Intel base power / AMD TDP: what the PSU formula uses
    max_power_w: float | None  # Intel maximum turbo power / AMD PPT
    socket: str | None
    platform: str | None
    memory_type: str | None
    memory_channels: int | None
    max_memory_gib: float | None
    lanes_total: int | None
    lanes_usable: int | None  # for slots and M.2, excluding the chipset link
    pcie_gen: int | None
    launch_price_usd: float | None
    street_usd: float | None
    street_as_of: str | None
    source: str
    as_of: str

    @property
    def price_usd(self) -> float | None:
        return self.street_usd if self.street_usd is not None else self.launch_price_usd


@dataclass(frozen=True)
class PsuTier:
    tier: str
    watts: int
    atx: int  # 2 | 3 (3 = ATX 3.x: native 12V-2x6 and the excursion tolerance)
    pcie_8pin: int | None
    pcie_16pin: int | None
    efficiency: str | None
    input_v: str | None
    example: str | None
    price_usd: float | None
    price_as_of: str | None
    source: str
    as_of: str


@dataclass(frozen=True)
class RamKit:
    kit: str
    capacity_gib: int
    modules: int | None
    type: str  # DDR4 | DDR5
    speed_mts: int | None
    price_usd: float | None
    price_as_of: str | None
    source: str
    as_of: str


@dataclass(frozen=True)
class Region:
    region: str
    name: str
    volts: float
    amps: float
    continuous_w: float
    price_factor: float
    note: str | None
    source: str
    as_of: str


_MODELS: dict[str, type] = {"gpus": GpuModel, "cpus": CpuModel, "psus": PsuTier, "ram": RamKit, "regions": Region}


def _converter(hint: Any) -> tuple[Any, bool]:
    """(base type, optional?) of a field annotation such as ``int | None``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        base = [a for a in args if a is not type(None)]
        return base[0], True
    return hint, False


def _parse_rows(table: str, text: str, model: type) -> tuple[Any, ...]:
    hints = typing.get_type_hints(model)
    names = [f.name for f in dataclasses.fields(model)]
    reader = csv.DictReader(io.StringIO(text))
    missing = [n for n in names if n not in (reader.fieldnames or [])]
    if missing:
        raise CatalogError(f"{table}.csv: missing columns {', '.join(missing)}")
    out = []
    for row in reader:
        line = reader.line_num
        values: dict[str, Any] = {}
        for name in names:
            cell = (row.get(name) or "").strip()
            base, optional = _converter(hints[name])
            where = f"{table}.csv line {line}, column {name}"
            if cell == "":
                if not optional and base is not tuple:
                    raise CatalogError(f"{where}: empty, but required")
                values[name] = () if base is tuple or typing.get_origin(base) is tuple else None
                continue
            try:
                if typing.get_origin(base) is tuple or base is tuple:
                    values[name] = tuple(a.strip() for a in cell.split(";") if a.strip())
                elif base is int:
                    values[name] = int(cell)
                elif base is float:
                    values[name] = float(cell)
                else:
                    values[name] = cell
            except ValueError:
                raise CatalogError(f"{where}: {cell!r} is not a {base.__name__}") from None
        if not _DATE_RE.match(values["as_of"]):
            raise CatalogError(f"{table}.csv line {line}: as_of {values['as_of']!r} is not YYYY-MM-DD")
        out.append(model(**values))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _load(table: str) -> tuple[Any, ...]:
    if table not in _MODELS:
        raise KeyError(f"unknown hardware table {table!r}; known: {', '.join(HARDWARE_TABLES)}")
    text = (files("dlkit.catalog") / "data" / f"{table}.csv").read_text(encoding="utf-8")
    return _parse_rows(table, text, _MODELS[table])


def gpus() -> tuple[GpuModel, ...]:
    return _load("gpus")


def cpus() -> tuple[CpuModel, ...]:
    return _load("cpus")


def psus() -> tuple[PsuTier, ...]:
    return _load("psus")


def ram_kits() -> tuple[RamKit, ...]:
    return _load("ram")


def regions() -> tuple[Region, ...]:
    return _load("regions")


# --------------------------------------------------------------------------- matching

# Words that vendors, nvidia-smi and /proc/cpuinfo add around the model number.
_NOISE = re.compile(
    r"\(r\)|\(tm\)|\b(nvidia|geforce|intel|amd|processor|cpu|graphics|with radeon graphics)\b"
    r"|@\s*[\d.]+\s*ghz|\b\d+(st|nd|rd|th) gen\b|\b\d+-core\b", re.IGNORECASE)
# "24GB" stays one word: memory size tells variants apart but is not what people type first.
_TOKEN = re.compile(r"\d+gb\b|[a-z]+|\d+")
_MEMORY_WORD = re.compile(r"^\d+gb$")


def tokens(name: str) -> tuple[str, ...]:
    """The words of a part name that identify it.

    >>> tokens("NVIDIA GeForce RTX 3090")
    ('rtx', '3090')
    >>> tokens("rtx3090")
    ('rtx', '3090')
    >>> tokens("A100 80GB PCIe")
    ('a', '100', '80gb', 'pcie')
    >>> tokens("Intel(R) Core(TM) i7-6850K CPU @ 3.60GHz")
    ('core', 'i', '7', '6850', 'k')
    >>> tokens("AMD Ryzen Threadripper 3960X 24-Core Processor")
    ('ryzen', 'threadripper', '3960', 'x')
    """
    return tuple(_TOKEN.findall(_NOISE.sub(" ", name.lower())))


def _names(row: Any) -> tuple[str, ...]:
    return (row.name, *row.aliases)


# Words after the model number that name a different product, not a variant of it:
# "3090" is not the 3090 Ti, "5800X" is not the 5800X3D, "4080" is not the 4080 Super.
_OTHER_MODEL = {"ti", "super", "xt", "d"}
_FORM_WORDS = {"sxm", "hbm"}  # "SXM4", "HBM3": the digit belongs to the word


def _suffix_ok(nt: tuple[str, ...], qt: tuple[str, ...]) -> bool:
    last = max(i for i, t in enumerate(nt) if t in qt)
    for i in range(last + 1, len(nt)):
        t = nt[i]
        if t in _OTHER_MODEL or (t.isdigit() and not (i and nt[i - 1] in _FORM_WORDS)):
            return False
    return True


def _match(kind: str, query: str, rows: tuple[Any, ...]) -> Any:
    """The row ``query`` names: an exact name/alias (case-insensitive), else the row whose
    name holds every word of the query with the fewest extra words ("3090" is the RTX 3090;
    a memory size such as "12GB" is not counted, so "3060" is the RTX 3060 12GB). Words
    after the model number that make another product ("Ti", "Super", "3D") rule a row out.
    Raises :class:`UnknownPart` on a miss or a tie ("A100", "H100")."""
    q = query.strip()
    if not q or len(q) > MAX_NAME_CHARS:
        raise UnknownPart(kind, query, [])
    for row in rows:
        if any(q.lower() == n.lower() for n in _names(row)):
            return row
    qt = tokens(q)
    qkey = "".join(qt)
    best: list[tuple[int, Any]] = []
    for row in rows:
        extras = []
        for n in _names(row):
            nt = tokens(n)
            if qt and set(qt) <= set(nt) and _suffix_ok(nt, qt):
                extras.append(sum(1 for t in set(nt) - set(qt) if not _MEMORY_WORD.match(t)))
            elif qkey and qkey == "".join(nt):
                extras.append(0)
        if extras:
            best.append((min(extras), row))
    if best:
        best.sort(key=lambda pair: pair[0])
        top = [row for extra, row in best if extra == best[0][0]]
        if len(top) == 1:
            return top[0]
        raise UnknownPart(kind, query, [r.name for _, r in best[:6]], ambiguous=True)
    keys = {"".join(tokens(n)): row.name for row in rows for n in _names(row)}
    close = difflib.get_close_matches(qkey, list(keys), n=6, cutoff=0.6)
    suggestions = list(dict.fromkeys(keys[k] for k in close))[:3]
    raise UnknownPart(kind, query, suggestions)


def lookup_gpu(query: str) -> GpuModel:
    return _match("gpu", query, gpus())


def lookup_cpu(query: str) -> CpuModel:
    return _match("cpu", query, cpus())


def find_gpu(query: str | None) -> GpuModel | None:
    """The catalog row for a GPU name (as probed or typed), or None when unknown or ambiguous."""
    try:
        return lookup_gpu(query) if query else None
    except UnknownPart:
        return None


def find_cpu(query: str | None) -> CpuModel | None:
    try:
        return lookup_cpu(query) if query else None
    except UnknownPart:
        return None


def lookup_region(code: str) -> Region:
    table = {r.region: r for r in regions()}
    if code.lower() in table:
        return table[code.lower()]
    raise UnknownPart("region", code, difflib.get_close_matches(code.lower(), list(table), n=3, cutoff=0.3)
                      or sorted(table))


def rows_as_dicts(table: str) -> list[dict[str, Any]]:
    """Every row of a hardware table as a dict (for ``--list`` and JSON)."""
    return [dataclasses.asdict(r) for r in _load(table)]
