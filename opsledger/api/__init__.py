"""``opsledger serve``: the engine as an HTTP service (FastAPI on uvicorn) with tenant
tokens, Prometheus metrics and one background scheduler. Built on the facade and the
public types only, as the CLI is."""

from __future__ import annotations

__all__: list[str] = []
