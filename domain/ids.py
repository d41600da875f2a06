"""Deterministic identifiers: the namespace every opsledger uuid5 lives in."""

from __future__ import annotations

from uuid import UUID

__all__ = ["NAMESPACE"]

NAMESPACE = UUID("6f1d3c2a-9a53-4a0e-8f2b-5d0c7e1b4a10")
