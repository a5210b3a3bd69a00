"""What every command shares: the one-line usage error (spec §2: one line on stderr, exit 2)."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    # One line, whatever the message holds.
    typer.echo(f"dlkit: error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(2)
