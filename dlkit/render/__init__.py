"""Renderers: the only code that prints a report (pipx's ``render_result``)."""

from dlkit.render.console import render_console
from dlkit.render.jsonout import render_json
from dlkit.render.markdown import render_markdown

__all__ = ["render_console", "render_json", "render_markdown"]
