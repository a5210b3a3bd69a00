"""Probes (installed as ``dlkit.probes``): one module per domain, each
``collect(host) -> facts`` through the host seam only, parsing in pure ``parse_*``
functions with a real sample in the docstring."""
