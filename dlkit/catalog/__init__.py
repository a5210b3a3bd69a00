"""Versioned catalogs (data files under ``data/``, every row with ``source`` and ``as_of``)
and the pure functions that query them. Nothing here touches the machine.

The package re-exports the compatibility API (``compat.__all__``, listed once there); the
hardware and cloud catalogs are imported from their modules (``dlkit.catalog.hardware``,
``dlkit.catalog.cloud``).
"""

from dlkit.catalog import compat
from dlkit.catalog.compat import *  # noqa: F401,F403  (the names in compat.__all__)

__all__ = list(compat.__all__)
