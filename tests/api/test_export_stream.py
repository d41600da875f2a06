"""``GET /v1/tenants/{id}/export`` streams the fast path's bytes (issue 19, point 5): the
rich store of tests/export_support.py, exported over a live API with a tenant's read token
and with an operator token, equals the typed path's bytes (privacy switches applied)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from opsledger import FrozenClock, Operations
from opsledger.reports.export import export_rows, render


def _support() -> Any:
    """tests/export_support.py, loaded once by path."""
    name = "opsledger_test_export"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).parents[1] / "export_support.py")
        assert spec and spec.loader
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


support = _support()


@pytest.mark.policy("5.audit_trail")
def test_the_export_route_streams_the_typed_paths_bytes_in_both_scopes(
    tmp_path: Path, api_factory: Callable[..., Any],
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Operations.open(url, clock=FrozenClock(support.T0 + timedelta(hours=2))) as ops:
        support.build(ops)
    live = api_factory(url)
    tenant = live.auth(live.token("read", "umbrella"))
    operator = live.auth(live.token("operator"))
    since = support.T0 + timedelta(minutes=2)
    for fmt in ("csv", "ndjson"):
        expected = live.setup(lambda f=fmt: render(export_rows(live.ops, "umbrella", since,
                                                               None), f))
        for headers in (tenant, operator):
            with live.http.stream("GET", "/v1/tenants/umbrella/export", headers=headers,
                                  params={"format": fmt, "from": "2026-11-03T09:02:00Z"}
                                  ) as answer:
                assert answer.status_code == 200
                assert answer.read() == expected
    other = live.http.get("/v1/tenants/acme/export", headers=tenant)
    assert other.status_code == 404  # another tenant: as if it did not exist
