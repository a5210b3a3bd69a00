"""Checks: importing this package registers every check (see registry.py)."""

from dlkit.checks import build, driver, env, framework, gpu, memory, nouveau, pcie, power  # noqa: F401  (registration)
from dlkit.checks.registry import REGISTRY, Check

__all__ = ["REGISTRY", "Check"]
