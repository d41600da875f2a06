"""Benchmarks: opsledger's recording path against the eventsourcing library's own rates.

Run ``python -m bench --help`` from the repository root (venv active). See
:mod:`bench.__main__` for what is compared and why the figures are ratios.
"""
