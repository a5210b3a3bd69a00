"""The ``dlkit`` command line (typer). One module per command."""

from __future__ import annotations

import sys

import typer
import typer.core

from dlkit import __version__


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors as one line on stderr and exit code 2, never a usage box or a traceback."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        # Typer >= 0.25 vendors click as typer._click, older releases use click itself:
        # recognise click's exceptions by shape rather than by import.
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except Exception as exc:
            kind = type(exc).__name__
            if kind == "NoArgsIsHelpError":  # bare `dlkit`: the help, as a user expects
                typer.echo(exc.format_message())
                sys.exit(0)
            if kind == "Abort":
                typer.echo("dlkit: aborted", err=True)
                sys.exit(130)
            if callable(getattr(exc, "format_message", None)) and hasattr(exc, "exit_code"):
                typer.echo(f"dlkit: error: {' '.join(exc.format_message().split())}", err=True)
                sys.exit(2)
            raise
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="dlkit: get a machine ready for deep learning, and keep it that way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """dlkit: get a machine ready for deep learning, and keep it that way."""


from dlkit.cli import doctor as _doctor  # noqa: E402,F401  (registers the command)
from dlkit.cli import cloud_cost as _cloud_cost  # noqa: E402,F401
from dlkit.cli import plan_build as _plan_build  # noqa: E402,F401
from dlkit.cli import bench as _bench  # noqa: E402,F401


def main() -> None:
    app()
