"""Planners (installed as ``dlkit.recipes``): pure functions over catalog rows.

``plan-build`` and ``cloud-cost`` land here with their own issues.
"""
