"""Every parser's docstring sample is a test (insights-core style)."""

import doctest
import importlib
import pkgutil

import pytest

import dlkit.probes

MODULES = sorted(m.name for m in pkgutil.iter_modules(dlkit.probes.__path__, "dlkit.probes.")) + [
    "dlkit.catalog.names", "dlkit.catalog.cloud", "dlkit.recipes.cloud", "dlkit.benchmarks.reference",
    "dlkit.checks.buildmath", "dlkit.checks.power", "dlkit.recipes.breakeven",
    "dlkit.benchmarks.peaks", "dlkit.host.safefile", "dlkit.host.redact_rules"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
