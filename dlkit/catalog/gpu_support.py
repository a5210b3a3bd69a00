"""What serves a GPU of a given compute capability: the NVIDIA driver branch (legacy
branches for Kepler and older, ``nvidia_branches.csv`` from NVIDIA's legacy-GPU list) and
the newest PyTorch build with kernels for it (``torch_arch.csv``, compatibility.md §4-§5).
Used by the driver and architecture checks to name a fix for *this* GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlkit.catalog.compat import _cuda_tag, _in_torch_range, _mm, arch_supported
from dlkit.catalog.compat_tables import load


@dataclass(frozen=True)
class WheelChoice:
    """The PyTorch build to install for a compute capability."""

    tag: str  # "cu128"
    torch_from: str
    torch_to: str | None  # None: still built by the newest release the table covers
    channel: str  # pip | conda
    current: bool  # the newest covered torch has it

    def install(self) -> str:
        """The command to paste."""
        if self.channel == "pip" and self.current:
            return f"pip install torch --index-url https://download.pytorch.org/whl/{self.tag}"
        last = self.torch_to or self.torch_from
        if self.channel == "pip":
            return f"pip install 'torch=={last}.*' --index-url https://download.pytorch.org/whl/{self.tag}"
        return (f"conda install pytorch={last} pytorch-cuda={self.tag[2:-1]}.{self.tag[-1]} -c pytorch -c nvidia"
                if self.tag >= "cu117" else f"conda install pytorch={last} cudatoolkit={self.tag[2:-1]}.{self.tag[-1]} -c pytorch")


def wheel_for_cc(cc: str | None) -> WheelChoice | None:
    """The newest PyTorch build with kernels for ``cc`` (§4 rule, §5 lists): the newest torch
    release first, then the newest CUDA tag, pip before conda. For a GPU that current
    wheels dropped (Kepler) it is the last release that still built for it. None when no
    row of the table covers ``cc``."""
    if not cc or _mm(cc) is None:
        return None
    newest = max(_mm(r["torch_to"]) for r in load("torch_arch") if r["torch_to"])  # type: ignore[type-var]
    best: tuple[tuple, WheelChoice] | None = None
    for r in load("torch_arch"):
        if arch_supported(cc, r["arch_list"].split()) is not True:
            continue
        hi = _mm(r["torch_to"]) or (999, 0)
        tag = _cuda_tag(r["cuda"]) or ""
        current = _in_torch_range(r, newest)  # type: ignore[arg-type]
        rank = (hi, r["channel"] == "pip", int(tag[2:] or 0))
        choice = WheelChoice(tag, r["torch_from"], r["torch_to"] or None, r["channel"], current)
        if best is None or rank > best[0]:
            best = (rank, choice)
    return best[1] if best else None


def driver_branch(cc: str | None) -> dict[str, str] | None:
    """The ``nvidia_branches`` row whose CC range holds ``cc`` (Kepler 3.5 → the 470 legacy
    branch), or None when the table does not cover it."""
    mm = _mm(cc) if cc else None
    if mm is None:
        return None
    for r in load("nvidia_branches"):
        lo, hi = _mm(r["first_cc"]), _mm(r["last_cc"])
        if lo is not None and hi is not None and lo <= mm <= hi:
            return dict(r)
    return None
