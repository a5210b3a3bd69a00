"""One GPU identity for every command: names, PCI ids, cloud accelerator names → one model.

The key of a GPU model is its row in ``gpus.csv`` (:attr:`GpuModel.key`). Everything else
hangs off that key:

* the names drivers, tools and people print: the row's name and ``aliases`` (nvidia-smi and
  NVML names old and new, collect_env, what people type), matched by :mod:`dlkit.catalog.names`;
* PCI vendor:device ids (``gpu_pci.csv``, from the pci.ids database and NVIDIA's driver
  README): a GPU with no driver is named from sysfs alone, and "Graphics Device" (what an
  old driver prints for a GPU it predates) is resolved the same way;
* cloud providers' and SkyPilot's accelerator names (``gpu_cloud_names.csv``): SkyPilot's
  "A100" is the 40 GB SXM4, its "A100-80GB" the 80 GB SXM4;
* compute-capability families (``gpu_cc.csv``, NVIDIA's list) for names the catalog lacks.

doctor, plan-build, cloud-cost and bench resolve GPUs here and nowhere else, so they agree
about the same card (the K40m that one table knew and another did not).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from dlkit.catalog.hardware import GpuModel, gpus
from dlkit.catalog.names import MAX_NAME_CHARS, UnknownPart, best, candidates, match_part, tokens
from dlkit.catalog.tables import CatalogError, cell, shipped

# Old drivers print this for a GPU they predate (corpus: GTX 1660 Ti on 418.43): it names
# no GPU. Such a card is identified by its PCI device id instead.
PLACEHOLDER_NAMES = frozenset({"graphics device", "nvidia graphics device"})


@dataclass(frozen=True)
class PciId:
    gpu: str
    vendor_id: str = cell(pattern=r"[0-9a-f]{4}")
    device_id: str = cell(pattern=r"[0-9a-f]{4}")
    pci_name: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class CloudName:
    accelerator: str  # as SkyPilot and the providers' catalogs spell it
    gpu: str
    note: str | None
    source: str
    as_of: str = cell(date=True)


@dataclass(frozen=True)
class CcFamily:
    """A compute-capability rule for GPU names the catalog has no row for."""

    pattern: str  # a regex over the name's words joined by spaces (see family_cc)
    cc: str = cell(pattern=r"\d+\.\d+")
    example: str = cell()
    note: str | None = cell()
    source: str = cell()
    as_of: str = cell(date=True)


def models() -> tuple[GpuModel, ...]:
    return gpus()


@functools.lru_cache(maxsize=1)
def _by_key() -> dict[str, GpuModel]:
    return {m.key: m for m in models()}


def by_key(key: str) -> GpuModel | None:
    return _by_key().get(key)


def _keyed(table: str, rows: tuple, column: str = "gpu") -> None:
    for r in rows:
        if getattr(r, column) not in _by_key():
            raise CatalogError(f"dlkit/catalog/data/{table}.csv: {getattr(r, column)!r} is not a GPU in gpus.csv")


@functools.lru_cache(maxsize=1)
def _pci() -> dict[tuple[str, str], tuple[PciId, ...]]:
    rows = shipped(PciId, "gpu_pci")
    _keyed("gpu_pci", rows)
    found: dict[tuple[str, str], list[PciId]] = {}
    for r in rows:
        found.setdefault((r.vendor_id, r.device_id), []).append(r)
    return {k: tuple(v) for k, v in found.items()}


@functools.lru_cache(maxsize=1)
def _cloud() -> dict[str, GpuModel]:
    rows = shipped(CloudName, "gpu_cloud_names")
    _keyed("gpu_cloud_names", rows)
    return {r.accelerator.lower(): _by_key()[r.gpu] for r in rows}


def _hex4(value: str | None) -> str | None:
    m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{4})", (value or "").strip())
    return m.group(1).lower() if m else None


def pci_rows(vendor_id: str | None, device_id: str | None) -> tuple[PciId, ...]:
    """The ``gpu_pci`` rows of a PCI id: one, or one per memory variant that shares the chip's
    id (pci.ids gives 10de:2d04 to the RTX 5060 Ti of 8 GB and of 16 GB)."""
    v, d = _hex4(vendor_id), _hex4(device_id)
    return _pci().get((v, d), ()) if v and d else ()


def by_pci(vendor_id: str | None, device_id: str | None) -> GpuModel | None:
    """The model with this PCI vendor:device id ("0x10de", "0x2684" → GeForce RTX 4090);
    None when the id is unknown or shared by memory variants."""
    rows = pci_rows(vendor_id, device_id)
    return _by_key()[rows[0].gpu] if len(rows) == 1 else None


def is_placeholder(name: str | None) -> bool:
    return not name or " ".join(name.lower().split()) in PLACEHOLDER_NAMES


def resolve(query: str) -> GpuModel:
    """The model a typed or printed name means; :class:`UnknownPart` with "did you mean"
    over every name and alias, or "name one" for "A100". Cloud accelerator names are not
    names here: SkyPilot's "A100" is one board, a person's "A100" may be any of four."""
    return match_part("gpu", query, models())


def find(name: str | None, memory_mib: float | None = None) -> GpuModel | None:
    """The model a probed name means, or None when unknown, ambiguous or a placeholder; a
    name that memory variants share is settled by the memory the GPU reports."""
    top = _named(name)
    return top[0] if len(top) == 1 else _by_memory(top, memory_mib)


def family(query: str) -> list[GpuModel]:
    """Every model a query can mean ("A100" → all four A100 boards, "3090" → the RTX 3090,
    never the 3090 Ti): what a price comparison lists. Empty when nothing matches."""
    return candidates(query, models())


def cloud_gpu(accelerator: str | None) -> GpuModel | None:
    """The model behind a provider's accelerator name (SkyPilot's "A100-80GB", "L40S")."""
    if not accelerator or len(accelerator) > MAX_NAME_CHARS:
        return None
    return _cloud().get(accelerator.strip().lower()) or find(accelerator)


# --------------------------------------------------------------------------- CC families


@functools.lru_cache(maxsize=1)
def _families() -> tuple[tuple[re.Pattern[str], CcFamily], ...]:
    return tuple((re.compile(r.pattern), r) for r in shipped(CcFamily, "gpu_cc"))


def family_rule(name: str | None) -> CcFamily | None:
    """The ``gpu_cc`` rule for a name: its words (:func:`~dlkit.catalog.names.tokens`)
    joined by spaces, tried against the patterns in file order; the first match wins
    ("NVIDIA GeForce RTX 4090" → "rtx 4090" → ``^rtx 40[5-9]0\\b`` → 8.9). Rows are
    ordered so that a specific pattern precedes a broader one it overlaps; tests pin that
    each row's example is claimed by that row."""
    if is_placeholder(name) or len(name or "") > MAX_NAME_CHARS:
        return None
    words = " ".join(tokens(name or ""))
    for pattern, row in _families():
        if pattern.search(words):
            return row
    return None


@dataclass(frozen=True)
class Identity:
    """What dlkit knows about one GPU and how it knows it."""

    model: GpuModel | None
    name: str | None  # the best name: the driver's, else the catalog's, else pci.ids'
    cc: str | None
    arch: str | None
    basis: str  # "name", "PCI id 10de:2684", "pci.ids", "family rule", "unknown"


# NVML reports a little less memory than the board is sold with (the driver keeps some: a
# 16 GB RTX 5060 Ti shows about 16,300 MiB): the nearest catalogued size within a quarter of
# it tells the 8 GB variant from the 16 GB one.
_MEMORY_TOLERANCE = 0.25


def _by_memory(options: list[GpuModel], memory_mib: float | None) -> GpuModel | None:
    if not memory_mib or memory_mib <= 0:
        return None
    sized = [(abs(m.gpu_memory_gib * 1024 - memory_mib), m) for m in options if m.gpu_memory_gib]
    if not sized:
        return None
    gap, model = min(sized, key=lambda t: t[0])
    return model if gap <= _MEMORY_TOLERANCE * model.gpu_memory_gib * 1024 else None


def _named(name: str | None) -> list[GpuModel]:
    return [] if is_placeholder(name) else best(name or "", models())


def identify(name: str | None, vendor_id: str | None = None, device_id: str | None = None,
             pci_name: str | None = None, memory_mib: float | None = None) -> Identity:
    """One GPU from what the machine says: the driver's name first, then the PCI id (a GPU
    with no driver, or "Graphics Device"), then the machine's own pci.ids name. Where a name
    or id covers memory variants, the memory NVML reports (``memory_mib``) picks the row;
    without it the GPU's architecture and CC are still known (the variants share a chip)."""
    options, basis = _named(name), "name"
    ids = pci_rows(vendor_id, device_id)
    if not options and ids:
        options, basis = [_by_key()[r.gpu] for r in ids], f"PCI id {_hex4(vendor_id)}:{_hex4(device_id)}"
    # pci.ids writes "AD102 [GeForce RTX 4090]": the marketing name is in the last brackets,
    # sometimes several joined by "/" ("GP104 [GeForce GTX 1070 / 1070 Ti]"): the first counts
    listed = pci_name or (ids[0].pci_name if ids else None)
    inner = re.findall(r"\[([^\]]+)\]", listed or "")
    marketing = inner[-1].split("/")[0].strip() if inner else listed
    if not options and pci_name:
        options, basis = _named(marketing), "pci.ids"
    model = options[0] if len(options) == 1 else _by_memory(options, memory_mib)
    shown = name if not is_placeholder(name) else None
    if model is not None:
        how = basis if len(options) == 1 else f"{basis} and memory size"
        return Identity(model, shown or model.name, model.cc, model.arch, how)
    if options and len({(m.cc, m.arch) for m in options}) == 1:
        return Identity(None, shown or marketing or options[0].name, options[0].cc, options[0].arch, basis)
    rule = family_rule(shown) or family_rule(marketing)
    if rule is not None:
        return Identity(None, shown or marketing, rule.cc, None, "family rule")
    return Identity(None, shown or pci_name, None, None, "unknown")


def display_name(name: str | None, vendor_id: str | None = None, device_id: str | None = None,
                 pci_name: str | None = None, memory_mib: float | None = None) -> str | None:
    """The name to show for a GPU: the driver's, else what its PCI id says with how it was
    known ("GeForce RTX 4090 (PCI id 10de:2684)"); None when nothing names it."""
    if not is_placeholder(name):
        return name
    found = identify(name, vendor_id, device_id, pci_name, memory_mib)
    return f"{found.name} ({found.basis})" if found.name else None


__all__ = ["display_name", "CloudName", "CcFamily", "Identity", "PciId", "UnknownPart", "by_key", "by_pci", "cloud_gpu", "family",
           "family_rule", "find", "identify", "is_placeholder", "models", "pci_rows", "resolve"]
