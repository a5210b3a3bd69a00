"""Checks: importing this package registers every check (see registry.py)."""

from dlkit.checks import driver, env, framework, gpu, memory, nouveau, pcie  # noqa: F401  (registration)
from dlkit.checks.registry import REGISTRY, Check

__all__ = ["REGISTRY", "Check"]
