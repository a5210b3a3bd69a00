"""``dlkit bench --plot FILE.png|.svg|.html``: bars per kernel, CPU vs GPU.

matplotlib is the optional extra ``dlkit[plot]``, imported only here and only when asked,
through its object API (as ``cloud_plot``). ``.html`` is one self-contained page with the SVG
inline: no network assets.
"""

from __future__ import annotations

import html
import io
from typing import Any

from dlkit.render.cloud_plot import PlotUnavailable

FORMATS = ("png", "svg", "html")
_BANDWIDTH = ("copy", "triad", "h2d", "d2h", "bidir")


def plot_format(path: str) -> str | None:
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return ext if ext in FORMATS else None


def bars(results: list[dict[str, Any]]) -> tuple[list[tuple[str, dict[str, float]]], list[tuple[str, dict[str, float]]]]:
    """(compute bars in TFLOP/s, bandwidth bars in GB/s): the best value per kernel+dtype per device.

    >>> bars([{"kernel": "matmul", "device": "cpu", "dtype": "float32", "tflops": 0.2},
    ...       {"kernel": "matmul", "device": "cuda", "dtype": "float32", "tflops": 50.0, "math": "ieee"}])[0]
    [('matmul float32', {'cpu': 0.2, 'cuda': 50.0})]
    """
    compute: dict[str, dict[str, float]] = {}
    bandwidth: dict[str, dict[str, float]] = {}
    for r in results:
        dt = "tf32" if r.get("math") == "tf32" else r["dtype"]
        if r["kernel"] in _BANDWIDTH and r.get("gbps"):
            key = r["kernel"] + (" pageable" if r.get("pinned") is False else "")
            cell, v = bandwidth.setdefault(key, {}), r["gbps"]
        elif r.get("tflops"):
            key = f"{r['kernel']} {dt}" + (f" b{r['batch']}" if r["kernel"] == "mlp" else "")
            cell, v = compute.setdefault(key, {}), r["tflops"]
        else:
            continue
        cell[r["device"]] = max(cell.get(r["device"], 0.0), v)
    return list(compute.items()), list(bandwidth.items())


def render_bench_plot(res: Any, fmt: str) -> bytes:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'dlkit[plot]'") from None
    compute, bandwidth = bars(res.results)
    panels = [(t, u, d) for t, u, d in (("Compute (best per kernel)", "TFLOP/s (log)", compute),
                                         ("Bandwidth", "GB/s (log)", bandwidth)) if d]
    fig = Figure(figsize=(10, 4.2 * max(1, len(panels))), dpi=110)
    axes = fig.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
    colours = {"cpu": "#1f77b4", "cuda": "#76b900"}
    for ax, (title, unit, data) in zip(axes, panels):
        width = 0.4
        for j, dev in enumerate(("cpu", "cuda")):
            xs = [i + (j - 0.5) * width for i in range(len(data))]
            vals = [d.get(dev, 0.0) for _, d in data]
            ax.bar(xs, vals, width, label=dev, color=colours[dev])
            for x, v in zip(xs, vals):
                if v:
                    ax.annotate(f"{v:.3g}", (x, v), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(data)))
        ax.set_xticklabels([k for k, _ in data], rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    gpu = (res.environment.get("gpu") or {}).get("name") or "no GPU"
    fig.suptitle(f"dlkit bench: {res.environment.get('cpu', {}).get('model')} vs {gpu}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    kind = "svg" if fmt == "html" else fmt
    fig.savefig(buf, format=kind, metadata={"Date": None} if kind == "svg" else {"Software": None})
    if fmt != "html":
        return buf.getvalue()
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG in HTML
    title = html.escape(f"dlkit bench — {gpu}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n"
            f"<body style=\"font-family:sans-serif\"><h1>{title}</h1>\n{svg}\n"
            f"<p>Created {html.escape(str(res.environment.get('created')))} by dlkit {html.escape(str(res.environment.get('dlkit_version')))}; "
            f"TFLOP/s counts FLOP, not MAC.</p></body></html>\n").encode("utf-8")
