"""``dlkit doctor``: probe the machine (or replay a capture) and judge it."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer
from rich.console import Console

from dlkit.checks import REGISTRY
from dlkit.cli import StrictCommand, app
from dlkit.cli.common import fail as _fail
from dlkit.engine import DEFAULT_TIMEOUT_S, SelectionError, doctor as run_doctor, select_checks
from dlkit.host import CaptureError, LiveHost, RecordingHost, Redactor, ReplayHost, check_target, write_capture
from dlkit.host.importers import load_input
from dlkit.probes.frameworks import validate_python
from dlkit.render import render_console, render_json, render_markdown


def _list_checks() -> None:
    for code in sorted(REGISTRY):
        typer.echo(f"{code:28} {REGISTRY[code].description}")


@app.command(cls=StrictCommand)
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print one dlkit.doctor/1 JSON document."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print Markdown to paste into a bug report."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Also show checks that passed, were skipped or are info."),
    capture: Optional[str] = typer.Option(None, "--capture", metavar="PATH",
                                          help="Also write what was read to PATH (a directory, or *.tar.gz)."),
    from_: Optional[str] = typer.Option(None, "--from", metavar="PATH",
                                        help="Replay a capture (directory or *.tar.gz), or read a collect_env report or an "
                                             "nvidia-smi -q / -q -x file, instead of probing this machine."),
    python: Optional[str] = typer.Option(None, "--python", metavar="PATH",
                                         help="The Python whose frameworks to probe (default: the active venv/conda env, else python3 on PATH)."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Keep hostnames, users, addresses, serials and secrets: in the "
                                                               "--capture and in the --json / --markdown report."),
    force: bool = typer.Option(False, "--force", help="With --capture: replace PATH if it exists."),
    timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", min=0.1, max=600, metavar="SECONDS",
                                  help="Time limit for each probe."),
    list_checks: bool = typer.Option(False, "--list-checks", help="List every check code and exit."),
    only: List[str] = typer.Option([], "--only", metavar="CODE", help="Run only these checks (a code or an area like 'pcie'); repeatable."),
    skip: List[str] = typer.Option([], "--skip", metavar="CODE", help="Do not run these checks; repeatable."),
) -> None:
    """Probe this machine (or a capture) and report what blocks or slows deep learning.

    Exit code: 0 ok, 1 warnings, 2 errors (and usage errors)."""
    if list_checks:
        _list_checks()
        raise typer.Exit(0)
    if as_json and as_markdown:
        _fail("--json and --markdown cannot be combined")
    if capture and from_:
        _fail("--capture and --from cannot be combined (a capture is made live)")
    try:
        select_checks(only, skip)
    except SelectionError as exc:
        _fail(str(exc))
    if capture is not None:
        try:
            check_target(capture, force)
        except CaptureError as exc:
            _fail(str(exc))

    if from_ is not None:
        try:
            cap = load_input(from_)
        except CaptureError as exc:
            _fail(str(exc))
        kind = cap.manifest.get("imported_from")
        host = ReplayHost(cap, description=f"{kind} {from_}" if kind else f"capture {from_}")
        source = f"read from {kind} report {from_}" if kind else f"replayed from {from_}"
    else:
        # a RecordingHost remembers the environment it read, which the report's redactor must know
        host = RecordingHost() if capture is not None or ((as_json or as_markdown) and not no_redact) else LiveHost()
        source = "this machine (live)"
        if python is not None:
            problem = validate_python(LiveHost(), python)
            if problem:
                _fail(problem)

    report = run_doctor(host, timeout_s=timeout, only=only, skip=skip, python=python)

    redactor = None  # one redactor for the capture and the report: the same placeholders in both
    if not no_redact and (capture is not None or as_json or as_markdown):
        redactor = Redactor.for_capture(cap) if from_ is not None else Redactor.for_host(host)
    if capture is not None:
        try:
            write_capture(host.to_capture(redactor), capture, force=force)
        except (CaptureError, OSError) as exc:
            _fail(f"could not write the capture: {exc}")
        typer.echo(f"capture written to {capture}" + ("" if no_redact else " (redacted; see manifest.json)"), err=True)

    if as_json:
        sys.stdout.write(render_json(report, redactor, redactions=True) + "\n")
    elif as_markdown:
        sys.stdout.write(render_markdown(report, source, redactor, redactions=True))
    else:
        render_console(report, Console(), source, verbose=verbose)
    raise typer.Exit(report.exit_code)
