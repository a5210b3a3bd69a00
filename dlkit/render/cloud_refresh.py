"""``dlkit cloud-cost refresh``: its progress bars (stderr), its JSON and its console table."""

from __future__ import annotations

from typing import Optional

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlkit.catalog import refresh as sky_refresh
from dlkit.host.sky_cache import SKY_LAYOUT, Entry
from dlkit.host.safefile import size_text
from dlkit.render.cloud import SCHEMA


class RefreshProgress:
    """A rich progress bar per file, on stderr; the command uses it only when stderr is a terminal."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.bars = Progress(TextColumn("{task.description:<8}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                             console=console)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "RefreshProgress":
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def start(self, cloud: str, total_bytes: Optional[int]) -> None:
        self.tasks[cloud] = self.bars.add_task(cloud, total=total_bytes)

    def advance(self, cloud: str, n_bytes: int) -> None:
        self.bars.advance(self.tasks[cloud], n_bytes)

    def finish(self, cloud: str, ok: bool) -> None:
        if cloud in self.tasks:
            task = self.tasks[cloud]
            self.bars.update(task, description=f"{cloud} {'ok' if ok else 'failed'}")
            if ok:
                self.bars.update(task, total=self.bars.tasks[task].completed)


def _entry_dict(e: Optional[Entry]) -> Optional[dict]:
    return None if e is None else {"fetched_at": e.fetched_at, "size_bytes": e.size_bytes, "sha256": e.sha256,
                                   "rows": e.rows, "url": e.url}


def refresh_dict(res: sky_refresh.RefreshResult) -> dict:
    return {
        "schema": SCHEMA, "kind": "refresh", "cache_dir": res.cache_dir, "base_url": res.base_url,
        "layout": SKY_LAYOUT, "timeout_s": res.timeout_s, "exit_code": res.exit_code,
        "refreshed": sum(o.ok for o in res.outcomes), "failed": sum(not o.ok for o in res.outcomes),
        "clouds": [{"cloud": o.cloud, "status": "refreshed" if o.ok else "failed", "url": o.url, "path": o.path,
                    **({k: v for k, v in _entry_dict(o.entry).items() if k != "url"} if o.ok else
                       {"fetched_at": None, "size_bytes": None, "sha256": None, "rows": None}),
                    "error": o.error, "kept": _entry_dict(o.kept)} for o in res.outcomes],
    }


def render_refresh_console(res: sky_refresh.RefreshResult, console: Console) -> None:
    console.print(Text(f"SkyPilot catalogs (layout {SKY_LAYOUT}) from {res.base_url}", style="bold"))
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name, justify in (("cloud", "left"), ("status", "left"), ("GPU rows", "right"), ("size", "right"),
                          ("sha256", "left"), ("fetched (UTC)", "left")):
        t.add_column(name, justify=justify, no_wrap=True)
    for o in res.outcomes:
        if o.ok:
            e = o.entry
            t.add_row(o.cloud, "refreshed", f"{e.rows:,}", size_text(e.size_bytes), e.sha256[:12] + "…",
                      e.fetched_at[:16].replace("T", " "))
        else:
            kept = f"kept {o.kept.fetched_date}" if o.kept else "none cached"
            t.add_row(o.cloud, "failed", "—", "—", "—", kept, style="yellow")
    console.print(t)
    good = sum(o.ok for o in res.outcomes)
    console.print(Text(f"{good} of {len(res.outcomes)} refreshed into {res.cache_dir}; "
                       "dlkit cloud-cost reads them from now on, offline (--no-skypilot: the shipped catalog only)",
                       style="dim"))
