"""``dlkit bench``: matmul, convolution, memory and PCIe bandwidth, CPU vs GPU, % of peak.

Parses and checks options (before anything runs: a bad --compare file or --plot path must not
cost a benchmark), runs ``dlkit.benchmarks.report.bench`` under a progress bar on stderr and
hands the result to one renderer. torch is imported only inside the benchmark package, so
``dlkit`` itself works without it.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dlkit.cli import StrictCommand, app
from dlkit.cli.common import fail
from dlkit.host.userfiles import UserFileError, check_output, read_user_json, write_user_file

EXIT_INTERRUPTED = 130


def _dtypes(values: List[str]) -> tuple[str, ...] | None:
    from dlkit.benchmarks.kernels import parse_dtype
    out: list[str] = []
    for v in values:
        for part in v.split(","):
            if part.strip():
                try:
                    d = parse_dtype(part)
                except ValueError as exc:
                    fail(f"--dtype: {exc}")
                if d not in out:
                    out.append(d)
    if values and not out:
        fail(f"--dtype {','.join(values)!r} names no dtype: give fp32, tf32, fp16, bf16 or fp8")
    return tuple(out) or None


def _sizes(values: List[int]) -> tuple[int, ...] | None:
    for v in values:
        if not 16 <= v <= 65536:
            fail(f"--size {v}: give a square matmul size between 16 and 65536")
    return tuple(dict.fromkeys(values)) or None


@app.command("bench", cls=StrictCommand)
def bench(
    device: str = typer.Option("all", "--device", metavar="cpu|cuda|all", help="Where to run: cpu, cuda or all (default)."),
    quick: bool = typer.Option(False, "--quick", help="A short suite (about 30 s): fp32 CPU matmul, bf16/tf32/fp32 GPU matmul at 8192, one conv, memory, PCIe, MLP."),
    dtype: List[str] = typer.Option([], "--dtype", metavar="DTYPE", help="Matmul/conv dtypes: fp32, tf32, fp16, bf16, fp8 (repeatable or comma-separated)."),
    size: List[int] = typer.Option([], "--size", metavar="N", help="Square matmul size N (N×N×N); repeatable. Turns the shape search off."),
    threads: Optional[int] = typer.Option(None, "--threads", metavar="N", help="CPU threads (default: physical cores)."),
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.bench/1 JSON document."),
    compare: Optional[str] = typer.Option(None, "--compare", metavar="OLD.json", help="Compare with an earlier --json result: SAME / FASTER / SLOWER / UNCLEAR."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE", help="Write bars per kernel, CPU vs GPU: FILE.png, .svg or .html."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --plot file."),
) -> None:
    """Measure matmul, conv2d, memory and host↔device bandwidth on CPU and GPU, next to the
    datasheet and clock-adjusted peaks and the published healthy range for the GPU.

    Examples: dlkit bench --quick; dlkit bench --device cpu --json > cpu.json;
    dlkit bench --compare cpu.json --plot bench.png"""
    from dlkit.benchmarks import compare as C
    from dlkit.benchmarks.report import bench as run_bench
    from dlkit.benchmarks.suite import BenchUnavailable, Options
    from dlkit.render import bench as render
    from dlkit.render.bench_plot import PlotUnavailable, plot_format, render_bench_plot

    devices = {"cpu": ("cpu",), "cuda": ("cuda",), "gpu": ("cuda",), "all": ("cpu", "cuda")}.get(device.lower())
    if devices is None:
        fail(f"--device {device!r}: use cpu, cuda or all")
    if threads is not None and threads < 1:
        fail(f"--threads {threads}: give at least 1")
    opts = Options(devices=devices, quick=quick, dtypes=_dtypes(dtype), sizes=_sizes(size), threads=threads)
    old = None
    try:
        if plot is not None:
            if plot_format(plot) is None:
                fail(f"--plot {plot}: the file name must end in .png, .svg or .html")
            check_output(plot, force)
        if compare is not None:
            old = C.check_document(read_user_json(compare, "bench result"), compare)
    except (UserFileError, C.CompareInputError) as exc:
        fail(str(exc))

    err = Console(stderr=True)
    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    try:
        with progress:
            task = progress.add_task("starting", total=None)

            def tick(i: int, n: int, label: str) -> None:
                progress.update(task, completed=i, total=n, description=label[:60])
            res = run_bench(opts, tick)
    except BenchUnavailable as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # SIGINT, or SIGTERM/SIGHUP (dlkit.host.proc.Interrupted)
        typer.echo("dlkit: interrupted before any measurement", err=True)
        raise typer.Exit(EXIT_INTERRUPTED)  # main() reports 128 + the signal

    if old is not None:
        res.comparison = C.compare(old, res.results, compare or "")
    write_failed = None
    if plot is not None:
        try:
            write_user_file(plot, render_bench_plot(res, plot_format(plot) or "png"), force)
        except PlotUnavailable as exc:
            res.warnings.append(f"--plot not written: {exc}")
        except UserFileError as exc:  # the measurements still print; the command failed
            write_failed = str(exc)
            res.warnings.append(f"--plot not written: {exc}")
        else:
            res.notes.append(f"plot written to {plot}")
    if as_json:
        typer.echo(render.render_json(res))
    else:
        out = Console()
        # Piped or redirected: a wide table rather than one truncated to 80 columns.
        render.render_console(res, out if out.is_terminal else Console(width=160))
    if write_failed:
        fail(write_failed)
    if res.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    slower = res.comparison is not None and res.comparison.counts()["SLOWER"] > 0
    raise typer.Exit(1 if res.warnings or slower else 0)


__all__ = ["bench", "sys"]
