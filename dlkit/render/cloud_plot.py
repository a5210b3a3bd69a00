"""``dlkit cloud-cost breakeven --plot FILE``: cumulative cost, own build vs cloud, as PNG or SVG.

matplotlib is the optional extra ``dlkit[plot]``: imported only here and only when asked,
through its object API (no pyplot, so no global state and no display needed).
"""

from __future__ import annotations

import io

from dlkit.recipes.breakeven import BreakevenResult

FORMATS = ("png", "svg")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot_format(path: str) -> str | None:
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return ext if ext in FORMATS else None


def render_breakeven_plot(res: BreakevenResult, fmt: str) -> bytes:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'dlkit[plot]'") from None
    days = [p.day for p in res.series]
    fig = Figure(figsize=(8, 4.5), dpi=120)
    ax = fig.subplots()
    ax.plot(days, [p.own_usd for p in res.series], label="own build (price − resale + electricity)", color="#1f77b4")
    ax.plot(days, [p.cloud_usd for p in res.series], label=f"cloud: {res.cloud.label}" + (
        f", {res.cloud_usd_per_h_effective:.4g} USD/h with overhead and speedup"
        if abs(res.cloud_usd_per_h_effective - res.cloud.price_usd_per_h) > 1e-9 else ""), color="#d62728")
    if res.breakeven_days is not None:
        ax.axvline(res.breakeven_days, color="grey", linestyle="--", linewidth=1)
        ax.annotate(f"break-even: {res.breakeven_hours:,.0f} h of use\n= {res.breakeven_days:,.0f} days",
                    (res.breakeven_days, res.cost_at(res.breakeven_days).own_usd), textcoords="offset points",
                    xytext=(8, -28), fontsize=8)
    ax.set_xlabel(f"calendar days (at {res.utilization:.0%} utilization)")
    ax.set_ylabel("cumulative cost (USD)")
    ax.set_title("Own build vs cloud: cumulative cost", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    buf = io.BytesIO()
    # No timestamps in the file, so the same inputs give the same bytes.
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buf.getvalue()
