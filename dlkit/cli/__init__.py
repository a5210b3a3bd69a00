"""The ``dlkit`` command line (typer). One module per command."""

from __future__ import annotations

import sys

import typer
import typer.core

from dlkit import __version__


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class RejectBlank:
    """Mixin for commands: an option given as an empty string (``--python ''``, ``--gpu ""``)
    is a usage error, never read as if it were not given."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        rest = super().parse_args(ctx, args)  # type: ignore[misc]
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            value = ctx.params.get(param.name)
            values = value if isinstance(value, (list, tuple)) else (value,)
            if any(isinstance(v, str) and not v.strip() for v in values):
                raise typer.BadParameter("an empty value is not allowed", ctx=ctx, param=param)
        return rest


class StrictCommand(RejectBlank, typer.core.TyperCommand):
    pass


class StrictGroup(RejectBlank, typer.core.TyperGroup):
    pass


def _interrupt_code() -> int:
    """128 + the signal that stopped us (SIGTERM: 143); a Ctrl-C that reached no handler: 130."""
    from dlkit.host import proc

    sig = proc.received_signal()
    return 128 + sig if sig else EXIT_INTERRUPTED


class OneLineErrors(StrictGroup):
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
                typer.echo("dlkit: interrupted", err=True)
                sys.exit(_interrupt_code())
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
    """The ``dlkit`` entry point: guarded streams, signals that clean up, one exit code."""
    from dlkit.host import proc, streams

    out, err = streams.guard_standard_streams()
    proc.install_signal_handlers()
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:  # a signal outside click's own handling
        err.write("dlkit: interrupted\n")
        code = _interrupt_code()
    finally:
        proc.terminate_all()  # no tool outlives dlkit, whatever ended it
    if code == EXIT_INTERRUPTED:  # typer reports every KeyboardInterrupt as 130: say which signal
        code = _interrupt_code()
    sys.exit(streams.finish(out, err, code))
