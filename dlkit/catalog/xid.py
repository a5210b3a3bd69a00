"""NVIDIA Xid catalog entries used by the kernel-log checks (``data/xid.csv``).

``severity`` is dlkit's hint,
derived from NVIDIA's immediate resolution: RESTART_BM / RESET_GPU / WORKFLOW_XID_48 /
WORKFLOW_NVLINK_ERR → error; RESTART_APP → warning; IGNORE and the rest → info, raised
to warning where failure-modes.md F18/F19 names the Xid (43, 63, 92).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from dlkit.catalog.compat_tables import load


@dataclass(frozen=True)
class XidInfo:
    xid: int
    mnemonic: str
    name: str
    meaning: str
    immediate_action: str  # NVIDIA's resolution code, verbatim (RESET_GPU, RESTART_APP, …)
    investigatory_action: str
    action: str  # what dlkit tells the user to do
    severity: str  # "error" | "warning" | "info" (a hint; see the module docstring)
    failure_modes: tuple[str, ...]  # ids in failure-modes.md (F17, F18, F19)
    source: str
    as_of: str


@functools.lru_cache(maxsize=None)
def _xids() -> dict[int, XidInfo]:
    out: dict[int, XidInfo] = {}
    for r in load("xid"):
        out[int(r["xid"])] = XidInfo(
            xid=int(r["xid"]),
            mnemonic=r["mnemonic"],
            name=r["name"],
            meaning=r["meaning"],
            immediate_action=r["immediate_action"],
            investigatory_action=r["investigatory_action"],
            action=r["action"],
            severity=r["severity"],
            failure_modes=tuple(f for f in r["failure_mode"].split(";") if f),
            source=r["source"],
            as_of=r["as_of"],
        )
    return out


def xid_info(n: int) -> XidInfo | None:
    """What Xid ``n`` means and what to do; None for an Xid the catalog does not carry."""
    if isinstance(n, bool):
        return None
    try:
        key = int(n)
    except (TypeError, ValueError):
        return None
    return _xids().get(key)
