"""Compatibility catalog: driver ↔ CUDA ↔ compute capability ↔ wheels ↔ cuDNN ↔ gcc.

The facts live in ``dlkit/catalog/data/*.csv`` (one table per file, every row with its
``source`` and ``as_of``); this module only loads them and answers questions. Every answer
is pure and returns ``None`` (or ``"unknown"``) when the tables do not cover the question:
the catalog never guesses silently. The reference behind every table is
``shared/reference/compatibility.md`` (§ numbers below refer to it).

Versions are compared with :func:`vtuple` only (no other version parsing in dlkit). GPU
names and their compute capability are :mod:`dlkit.catalog.gpu_identity`'s.

Tables (``rows(name)`` lists them for ``--list`` style output):

``cuda_driver``
    ``kind=toolkit``: NVIDIA's "Table 3" minimum driver per toolkit release (``update`` 0 =
    GA), Linux and Windows (§1); empty = N/A (Windows 13.x). ``kind=family``: the
    minor-version-compatibility floor per CUDA major (§2); ``family_upper`` is where the
    minor-compat range ends (informational: newer drivers are backward compatible).
``cuda_cc``
    one row per compute capability: the first and last CUDA toolkit that can build for it
    (§3). ``first_cuda_exact=no`` means the doc only says "≤ first_cuda"; an empty
    ``last_cuda`` means still supported by the newest toolkit the catalog covers.
``torch_arch``
    ``torch.cuda.get_arch_list()`` per torch minor range × CUDA tag × channel (§5), for
    captures that lack the live list. ``ptx_platforms=linux``: the ``compute_*`` (PTX)
    entries exist only in Linux wheels.
``cudnn``
    cuDNN package ↔ CUDA toolkits ↔ driver ↔ CC (§6), plus the runtime rule per cuDNN major.
``gcc``
    highest host gcc major per CUDA range (§7).

Xid meanings are :mod:`dlkit.catalog.xid`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


from dlkit.catalog.compat_tables import TABLES, load, rows


# --------------------------------------------------------------------------- versions

_VERSION_RE = re.compile(r"\s*[vV]?(\d+(?:\.\d+)*)")


def vtuple(s: object) -> tuple[int, ...] | None:
    """The leading dotted number of ``s`` as a tuple of ints; ``None`` if there is none.

    >>> vtuple("550.54.14")
    (550, 54, 14)
    >>> vtuple("2.8.0+cu128")
    (2, 8, 0)
    >>> vtuple("N/A") is None
    True

    A tuple or list of ints (PyTorch prints cuDNN versions as ``(8, 9, 2)``) is passed through.
    """
    if s is None or isinstance(s, bool):
        return None
    if isinstance(s, (tuple, list)):
        if s and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in s):
            return tuple(s)
        return None
    m = _VERSION_RE.match(str(s))
    if m is None:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def _key(t: tuple[int, ...]) -> tuple[int, ...]:
    # "570.26" and "570.26.0" are the same driver: pad before comparing.
    return t + (0,) * (4 - len(t)) if len(t) < 4 else t


def _ge(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return _key(a) >= _key(b)


def _mm(s: object) -> tuple[int, int] | None:
    """major.minor of a CUDA / CC / torch version; None without at least two parts."""
    t = vtuple(s)
    if t is None or len(t) < 2:
        return None
    return (t[0], t[1])


def _fmt(mm: tuple[int, int]) -> str:
    return f"{mm[0]}.{mm[1]}"


def _platform(platform: str | None) -> str | None:
    """'linux' or 'windows' (column prefix in cuda_driver); None for anything else.

    WSL2 runs the Windows driver: callers pass "windows" for the driver there.
    """
    p = (platform or "").strip().lower()
    if p.startswith("linux"):
        return "linux"
    if p.startswith("win") or p in ("nt", "cygwin", "msys"):
        return "windows"
    return None


# --------------------------------------------------------------------------- driver ↔ CUDA


def _toolkit_rows() -> list[dict[str, str]]:
    return [r for r in load("cuda_driver") if r["kind"] == "toolkit"]


def _newest_toolkit() -> tuple[int, int]:
    return max(_mm(r["cuda"]) for r in _toolkit_rows())  # type: ignore[type-var]


def min_driver_for_cuda(cuda: str, platform: str) -> str | None:
    """The driver NVIDIA requires for toolkit ``cuda`` (Table 3, "fully supported").

    Keyed on major.minor and answered with the GA release's minimum (the lowest driver for
    any release of that minor; later updates may need more, see ``rows("cuda_driver")``).
    None when the toolkit or platform is not in the table or the value is N/A (Windows 13.x).
    """
    mm, plat = _mm(cuda), _platform(platform)
    if mm is None or plat is None:
        return None
    for r in _toolkit_rows():
        if _mm(r["cuda"]) == mm and r["update"] == "0":
            return r[f"{plat}_min"] or None
    return None


def family_min_driver(cuda: str, platform: str) -> str | None:
    """Minor-version-compatibility floor for ``cuda``'s major (§2): the driver on which a
    runtime of that major initialises. None before CUDA 11 (no family) or when N/A."""
    t, plat = vtuple(cuda), _platform(platform)
    if t is None or plat is None:
        return None
    for r in load("cuda_driver"):
        if r["kind"] == "family" and vtuple(r["cuda"]) == (t[0],):
            return r[f"{plat}_min"] or None
    return None


def driver_supports_cuda(driver: str, cuda: str, platform: str) -> str:
    """Can a driver run CUDA runtime ``cuda``? (F04/F05)

    ``"yes"``: driver ≥ the toolkit's Table 3 minimum. ``"minor-compat"``: below that but ≥ the
    family floor, so the runtime loads through minor-version compatibility and PTX JIT /
    newer APIs may fail (F05). ``"no"``: below the family floor, or below the toolkit minimum
    where no family exists (before 11.x). ``"unknown"``: a version does not parse or the
    tables have neither number (e.g. Windows 13.x).
    """
    d = vtuple(driver)
    if d is None or _mm(cuda) is None or _platform(platform) is None:
        return "unknown"
    toolkit_min = min_driver_for_cuda(cuda, platform)
    family_min = family_min_driver(cuda, platform)
    if toolkit_min is not None and _ge(d, vtuple(toolkit_min)):  # type: ignore[arg-type]
        return "yes"
    if family_min is not None:
        return "minor-compat" if _ge(d, vtuple(family_min)) else "no"  # type: ignore[arg-type]
    if toolkit_min is not None:
        return "no"
    return "unknown"


def max_cuda_for_driver(driver: str, platform: str) -> str | None:
    """Newest toolkit (major.minor) in the table whose GA minimum the driver meets.

    A lower bound for drivers newer than the table covers. None when the driver is older
    than every row or a version does not parse.
    """
    d, plat = vtuple(driver), _platform(platform)
    if d is None or plat is None:
        return None
    best: tuple[int, int] | None = None
    for r in _toolkit_rows():
        need = vtuple(r[f"{plat}_min"])
        mm = _mm(r["cuda"])
        if r["update"] == "0" and need is not None and mm is not None and _ge(d, need):
            best = mm if best is None or mm > best else best
    return _fmt(best) if best else None


# --------------------------------------------------------------------------- compute capability


def cc_supported_by_cuda(cc: str, cuda: str) -> bool | None:
    """Can toolkit ``cuda`` build for compute capability ``cc`` (§3)?

    None when the CC is not in the table, the toolkit is newer than the newest one the
    catalog covers, or older than a "≤" first-support bound.
    """
    c, k = _mm(cc), _mm(cuda)
    if c is None or k is None or k > _newest_toolkit():
        return None
    for r in load("cuda_cc"):
        if _mm(r["cc"]) != c:
            continue
        first = _mm(r["first_cuda"])
        if first is not None and k < first:
            return False if r["first_cuda_exact"] == "yes" else None
        last = _mm(r["last_cuda"])
        return not (last is not None and k > last)
    return None


def cc_range_for_cuda(cuda: str) -> tuple[str, str] | None:
    """(lowest, highest) compute capability toolkit ``cuda`` builds for, derived from the
    per-CC rows; None when no row answers True."""
    supported = [_mm(r["cc"]) for r in load("cuda_cc") if cc_supported_by_cuda(r["cc"], cuda)]
    if not supported:
        return None
    return _fmt(min(supported)), _fmt(max(supported))  # type: ignore[type-var,arg-type]


_ARCH_RE = re.compile(r"^(sm|compute)_(\d{2,3})([a-z]?)$")


def _arch_entry(entry: str) -> tuple[str, tuple[int, int], str] | None:
    m = _ARCH_RE.match(entry.strip().lower())
    if m is None:
        return None
    kind, digits, suffix = m.groups()
    # sm_86 → 8.6, sm_100 → 10.0, sm_120 → 12.0: the last digit is the minor.
    return kind, (int(digits[:-1]), int(digits[-1])), suffix


def arch_supported(cc: str, arch_list: Iterable[str] | str | None) -> bool | None:
    """Does a build with ``arch_list`` (``torch.cuda.get_arch_list()``) run on a GPU of ``cc``?

    The rule of §4 (F06/F07): True iff the list holds an ``sm_{M}{m'}`` cubin with the GPU's
    major M and m' ≤ m, or a ``compute_XY`` PTX entry with X.Y ≤ CC. ``…a``/``…f``
    arch-specific variants are not forward compatible and are ignored. PTX still needs a
    driver that supports its ISA (F05); that is the driver check's business.
    None when the CC does not parse or the list has no recognisable entry (CPU builds).
    """
    c = _mm(cc)
    if c is None or arch_list is None:
        return None
    if isinstance(arch_list, str):
        arch_list = arch_list.replace(",", " ").split()
    entries = [e for e in (_arch_entry(str(a)) for a in arch_list) if e is not None]
    if not entries:
        return None
    for kind, (major, minor), suffix in entries:
        if suffix:
            continue
        if kind == "sm" and major == c[0] and minor <= c[1]:
            return True
        if kind == "compute" and (major, minor) <= c:
            return True
    return False


def _cuda_tag(cuda: str) -> str | None:
    """'12.8' / '12.8.1' / 'cu128' → 'cu128'."""
    s = str(cuda).strip().lower()
    if re.fullmatch(r"cu\d{2,3}", s):
        return s
    mm = _mm(s)
    return f"cu{mm[0]}{mm[1]}" if mm else None


def _in_torch_range(row: dict[str, str], tv: tuple[int, int]) -> bool:
    lo, hi = _mm(row["torch_from"]), _mm(row["torch_to"])
    return lo is not None and lo <= tv and (hi is None or tv <= hi)


def arch_list_for_torch(
    torch_version: str,
    cuda: str | None,
    *,
    channel: str | None = None,
    platform: str | None = None,
) -> tuple[str, ...] | None:
    """``torch.cuda.get_arch_list()`` of the official build (§5), for captures without it.

    ``cuda`` is ``torch.version.cuda`` ("12.8") or a wheel tag ("cu128"); ``None`` means a
    CPU-only build, whose arch list is empty. ``channel`` ("pip"/"conda") restricts the
    rows; by default pip rows win and a conda row answers only when no pip row exists.
    With ``platform`` not Linux, PTX entries of Linux-only-PTX rows are dropped.
    None when the table has no row for that torch × CUDA pair.
    """
    if cuda is None:
        return ()
    tv, tag = _mm(torch_version), _cuda_tag(cuda)
    if tv is None or tag is None:
        return None
    found = [
        r
        for r in load("torch_arch")
        if r["cuda"] == tag and _in_torch_range(r, tv) and (channel is None or r["channel"] == channel)
    ]
    if not found:
        return None
    row = sorted(found, key=lambda r: r["channel"] != "pip")[0]
    entries = row["arch_list"].split()
    if platform is not None and row["ptx_platforms"] == "linux" and _platform(platform) != "linux":
        entries = [e for e in entries if not e.startswith("compute_")]
    return tuple(entries)


def oldest_cc_in_current_wheels() -> str:
    """Lowest compute capability any pip wheel of the newest covered torch release builds for.

    "Newest covered" = the highest ``torch_to`` among bounded rows; open-ended rows
    ("2.9+") that include it count too. Derived from ``torch_arch`` (F07: Maxwell, Pascal and
    Volta live on in the cu126 line; Kepler is in no current wheel).
    """
    pip = [r for r in load("torch_arch") if r["channel"] == "pip"]
    newest = max(_mm(r["torch_to"]) for r in pip if r["torch_to"])  # type: ignore[type-var]
    lowest: tuple[int, int] | None = None
    for r in pip:
        if not _in_torch_range(r, newest):  # type: ignore[arg-type]
            continue
        for entry in r["arch_list"].split():
            parsed = _arch_entry(entry)
            if parsed is not None and not parsed[2]:
                lowest = parsed[1] if lowest is None or parsed[1] < lowest else lowest
    assert lowest is not None, "torch_arch.csv has no pip row for its newest torch"
    return _fmt(lowest)


# --------------------------------------------------------------------------- cuDNN, gcc


def cudnn_compatible(runtime: str, built_with: str) -> bool | None:
    """Is the loaded cuDNN ``runtime`` usable by a framework compiled against ``built_with``?

    §6 rule (PyTorch PR #80877, XLA cuda_dnn.cc): same major, runtime minor ≥ compile minor;
    otherwise F11. Takes dotted versions or tuples; convert torch's integer form
    (``torch.backends.cudnn.version()``) before calling. None when a version does not parse
    or the compile-time major has no rule in ``cudnn.csv``.
    """
    r, b = vtuple(runtime), vtuple(built_with)
    if r is None or b is None or len(r) < 2 or len(b) < 2:
        return None
    rules = {row["cudnn_major"]: row["runtime_rule"] for row in load("cudnn")}
    rule = rules.get(str(b[0]))
    if rule == "same-major-minor-ge":
        return r[0] == b[0] and r[1] >= b[1]
    return None


def gcc_max_for_cuda(cuda: str) -> int | None:
    """Highest host gcc major nvcc of toolkit ``cuda`` accepts (F15, §7); None if unknown."""
    k = _mm(cuda)
    if k is None:
        return None
    for r in load("gcc"):
        lo, hi = _mm(r["cuda_from"]), vtuple(r["cuda_to"])
        if lo is None or hi is None:
            continue
        within_hi = k[0] <= hi[0] if len(hi) == 1 else k <= hi[:2]
        if lo <= k and within_hi:
            return int(r["gcc_max"])
    return None


__all__: Sequence[str] = (
    "TABLES",
    "arch_list_for_torch",
    "arch_supported",
    "cc_range_for_cuda",
    "cc_supported_by_cuda",
    "cudnn_compatible",
    "driver_supports_cuda",
    "family_min_driver",
    "gcc_max_for_cuda",
    "max_cuda_for_driver",
    "min_driver_for_cuda",
    "oldest_cc_in_current_wheels",
    "rows",
    "vtuple",
)
