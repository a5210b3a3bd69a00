"""Price files the user brings: ``--catalog FILE.csv`` and SkyPilot catalogs.

SkyPilot (github.com/skypilot-org/skypilot-catalog) caches ``~/.sky/catalogs/<ver>/<cloud>/vms.csv``.
Only layouts v7 and v8 are still refreshed, and the column ORDER differs per cloud (GCP puts
``Region,AvailabilityZone`` before ``Price,SpotPrice``, RunPod ``SpotPrice`` before ``Price``,
Lambda has no zone): columns are found by header name, never by position
(shared/reference/cloud-prices.md §1, reference/data/README.md). Files are read through the
host seam (:mod:`dlkit.host.userfiles`); parsing is pure.

Which SkyPilot prices a comparison reads, when neither ``--skypilot DIR`` nor ``--no-skypilot``
is given: dlkit's own cache (``dlkit cloud-cost refresh``, :mod:`dlkit.catalog.refresh`), whose
rows are dated by the manifest's fetch date; else SkyPilot's ``~/.sky/catalogs`` (undated);
else none, and the shipped table stands alone. ``--catalog`` files win over all of them for
the same instance and region.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

from dlkit.catalog.cloud import (CatalogError, PriceRow, _num, collapse_zones, csv_records, csv_rows, merge,
                                 parse_dlkit_csv)
from dlkit.host.sky_cache import cached_catalogs
from dlkit.host.userfiles import UserFileError, list_user_dir, read_user_text

SKY_DEFAULT = "~/.sky/catalogs"
SKY_VERSIONS = (7, 8)
_SKY_REQUIRED = ("instancetype", "acceleratorname", "acceleratorcount", "price", "region")
_PROVIDERS = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "lambda": "Lambda", "runpod": "RunPod", "vast": "Vast",
              "oci": "OCI", "ibm": "IBM", "nebius": "Nebius", "paperspace": "Paperspace", "fluidstack": "Fluidstack",
              "cudo": "Cudo", "do": "DigitalOcean", "scp": "SCP", "hyperbolic": "Hyperbolic", "vsphere": "vSphere"}

# GCP machine types that come with fixed GPUs, so a host row (AcceleratorName empty) can be
# joined with the GPU row (InstanceType empty): cloud.google.com/compute/docs/accelerator-optimized-machines [K].
# n1 hosts take any GPU and are not joined (the catalog cannot say which one you attach).
_GCP_HOSTS = (
    (re.compile(r"a2-highgpu-(\d+)g$"), "A100", None),
    (re.compile(r"a2-megagpu-(16)g$"), "A100", None),
    (re.compile(r"a2-ultragpu-(\d+)g$"), "A100-80GB", None),
    (re.compile(r"a3-(?:highgpu|edgegpu)-(\d+)g$"), "H100", None),
    (re.compile(r"a3-megagpu-(8)g$"), "H100-MEGA", None),
    (re.compile(r"a3-ultragpu-(8)g$"), "H200", None),
    (re.compile(r"a4-highgpu-(8)g$"), "B200", None),
    (re.compile(r"g2-standard-(\d+)$"), "L4", {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}),
)


def known_cloud(name: str) -> bool:
    """A SkyPilot cloud folder name dlkit knows (``aws``, ``gcp``, ``lambda``…)."""
    return name in _PROVIDERS


def provider_name(cloud: str) -> str:
    """The provider as price rows spell it: ``lambda`` → Lambda."""
    return _PROVIDERS.get(cloud, "SkyPilot")


def gcp_host_gpus(instance: str) -> tuple[str, int] | None:
    """The GPUs a GCP machine type comes with: ``("A100", 1)`` for a2-highgpu-1g.

    >>> gcp_host_gpus("a2-highgpu-1g"), gcp_host_gpus("g2-standard-24"), gcp_host_gpus("n1-standard-4")
    (('A100', 1), ('L4', 2), None)
    """
    for pattern, gpu, table in _GCP_HOSTS:
        m = pattern.match(instance)
        if m:
            n = int(m.group(1))
            return (gpu, table[n]) if table else (gpu, n)
    return None


def provider_from_path(path: str) -> str:
    """The cloud a SkyPilot file belongs to, from its folder or name: ``…/v8/gcp/vms.csv`` → GCP,
    ``skypilot_v8_aws_sample.csv`` → AWS; "SkyPilot" when neither says."""
    parent = os.path.basename(os.path.dirname(os.path.abspath(path))).lower()
    if parent in _PROVIDERS:
        return _PROVIDERS[parent]
    for token in re.split(r"[_\-.]", os.path.basename(path).lower()):
        if token in _PROVIDERS:
            return _PROVIDERS[token]
    return "SkyPilot"


def is_skypilot(header: list[str]) -> bool:
    low = {h.strip().lower() for h in header}
    return "instancetype" in low and "acceleratorname" in low


def parse_skypilot_csv(text: str, name: str, provider: str, as_of: str | None = None) -> list[PriceRow]:
    """Rows of a SkyPilot ``vms.csv`` (v7 or v8), columns by header name.

    Price 0 or empty = reservation-only or unpublished (skypilot #4657): kept with no price.
    SpotPrice 0.00 = not populated (Vast): no spot price. CPU-only instances are dropped.

    >>> rows = parse_skypilot_csv("Region,SpotPrice,Price,InstanceType,AcceleratorName,AcceleratorCount\\n"
    ...                           "US,0.00,1.39,1x_A100,A100-80GB,1.0\\n", "vms.csv", "RunPod")
    >>> rows[0].price_usd_per_h, rows[0].spot_usd_per_h, rows[0].gpu_count
    (1.39, None, 1.0)
    """
    source = f"SkyPilot catalog {name}"
    out = []
    for where, r in csv_records(text, name, _SKY_REQUIRED, "(a SkyPilot vms.csv)"):
        inst, acc = r["instancetype"], r["acceleratorname"]
        notes = []
        if inst and acc:
            part, gpu = "vm", acc
            count = _num(r["acceleratorcount"], "AcceleratorCount", where, positive=True)
        elif acc:  # GCP: the GPUs' own price row
            part, gpu = "gpu", acc
            count = _num(r["acceleratorcount"], "AcceleratorCount", where, positive=True)
        elif inst and gcp_host_gpus(inst):
            part, (gpu, n) = "host", gcp_host_gpus(inst)
            count = float(n)
        else:
            continue  # a CPU-only machine, or an n1 host that takes any GPU
        if count is None:
            raise CatalogError(f"{where}: AcceleratorCount is empty")
        price = _num(r["price"], "Price", where)
        if not price:
            notes.append("price 0 or empty in the catalog: reservation-only or unpublished (skypilot #4657)")
            price = None
        spot = _num(r.get("spotprice", ""), "SpotPrice", where)
        if spot == 0:
            notes.append("SpotPrice 0.00 = not populated")
            spot = None
        out.append(PriceRow(provider=provider, instance=inst, region=r["region"], gpu=gpu, gpu_count=count,
                            price_usd_per_h=price, spot_usd_per_h=spot, as_of=as_of, source=source,
                            vcpus=_num(r.get("vcpus", ""), "vCPUs", where),
                            ram_gib=_num(r.get("memorygib", ""), "MemoryGiB", where),
                            part=part, note="; ".join(notes), origin="skypilot"))
    return collapse_zones(out)


def parse_price_file(text: str, name: str, catalog_date: str | None = None) -> list[PriceRow]:
    """A ``--catalog`` file: dlkit's layout, or a SkyPilot vms.csv (recognised by its header)."""
    first = next(csv_rows(text, name), (1, []))[1]
    if is_skypilot(first):
        return parse_skypilot_csv(text, name, provider_from_path(name), catalog_date)
    return collapse_zones(parse_dlkit_csv(text, name, origin="file"))


@dataclass
class Loaded:
    rows: list[PriceRow] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # what was read, for the report


def _sky_files(path: str) -> list[str]:
    """vms.csv files under a SkyPilot catalog root (``~/.sky/catalogs``), a version folder
    (``…/v8``) or a cloud folder (``…/v8/aws``); the newest supported version wins."""
    names = list_user_dir(path)
    if names is None:
        raise UserFileError(f"SkyPilot catalog {path} is not a readable folder")
    if "vms.csv" in names:
        return [os.path.join(path, "vms.csv")]
    versions = sorted(int(n[1:]) for n in names if re.fullmatch(r"v\d+", n))
    if versions:
        usable = [v for v in versions if v in SKY_VERSIONS]
        if not usable:
            raise UserFileError(f"SkyPilot catalog {path} has layout(s) {', '.join(f'v{v}' for v in versions)}; "
                                f"dlkit reads v7 and v8")
        path = os.path.join(path, f"v{usable[-1]}")
        names = list_user_dir(path) or []
    return [os.path.join(path, n, "vms.csv") for n in names if "vms.csv" in (list_user_dir(os.path.join(path, n)) or [])]


def load_cache(root: str | None = None) -> Loaded:
    """dlkit's SkyPilot cache (``dlkit cloud-cost refresh``): rows dated by their fetch date and
    named by their URL. A file that changed since it was fetched, or that this dlkit no longer
    parses, is left out and said in ``read``. Offline."""
    out = Loaded()
    files, notes = cached_catalogs(root)
    for f in files:
        e = f.entry
        try:
            rows = parse_skypilot_csv(f.text, f.path, provider_name(e.cloud), e.fetched_date)
        except CatalogError as exc:
            notes.append(f"skipped {' '.join(str(exc).split())}; run dlkit cloud-cost refresh")
            continue
        source = f"SkyPilot catalog {e.url}, fetched {e.fetched_date}"
        out.rows += [replace(r, source=source) for r in rows]
        out.read.append(f"SkyPilot catalog fetched {e.fetched_date} from {e.url} ({f.path}, {len(rows)} rows)")
    out.read += notes
    return out


def load_sources(catalogs: list[str], sky: str | None, catalog_date: str | None, cache_root: str | None = None
                 ) -> Loaded:
    """Read the user's price files and SkyPilot prices. ``sky=None``: dlkit's refreshed cache
    when it holds files (``cache_root``, default :func:`dlkit.host.sky_cache.cache_root`), else
    ~/.sky/catalogs when present; ``sky=""``: neither; a folder: that SkyPilot catalog. A folder
    in ``catalogs`` is read as a SkyPilot catalog. The user's files win over SkyPilot rows for
    the same instance and region. Nothing here goes to the network."""
    mine, sky_side = Loaded(), Loaded()
    paths: list[str] = []
    for c in catalogs:
        if list_user_dir(c) is None:
            paths.append(c)
            continue
        found = _sky_files(c)
        if not found:  # a folder named on purpose that holds no price file is a mistake, not "no prices"
            raise UserFileError(f"--catalog {c} is a folder with no SkyPilot vms.csv in it")
        paths += found
    sky_paths: list[str] = []
    if sky is None:
        sky_side = load_cache(cache_root)
        if not sky_side.rows and list_user_dir(SKY_DEFAULT) is not None:
            try:
                sky_paths = _sky_files(SKY_DEFAULT)
            except UserFileError:
                pass  # an old SkyPilot cache is not the user's problem unless they asked for it
    elif sky:
        sky_paths = _sky_files(sky)
        if not sky_paths:  # as for --catalog: a folder named on purpose must hold prices
            raise UserFileError(f"--skypilot {sky} holds no SkyPilot vms.csv (expected v7/ or v8/<cloud>/vms.csv)")
    for side, group in ((mine, paths), (sky_side, sky_paths)):
        for p in group:
            rows = parse_price_file(read_user_text(p, "price file"), p, catalog_date)
            side.rows += rows
            side.read.append(f"{p} ({len(rows)} rows)")
    return Loaded(merge(sky_side.rows, mine.rows), mine.read + sky_side.read)
