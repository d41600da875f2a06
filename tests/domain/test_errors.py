"""One error hierarchy (issue 14, point 4): every public error lives in
``opsledger.domain.errors`` under ``OpsledgerError`` with a stable code of its own, and a
public call refuses bad input with a typed error, never a bare ``ValueError``."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from opsledger.domain import errors
from opsledger.domain.errors import InvalidInput, OpsledgerError
from opsledger.domain.time import BusinessCalendar
from opsledger.projections.audit import AuditQuery

from opsledger.services.slo import Period


def _project_errors() -> list[type[OpsledgerError]]:
    """Every subclass of OpsledgerError defined in the project (all modules imported)."""
    for package in ("opsledger", "opsledger.domain", "opsledger.projections",
                    "opsledger.scheduler"):
        path = importlib.import_module(package).__path__
        for module in pkgutil.walk_packages(path, f"{package}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    found: list[type[OpsledgerError]] = []
    todo = [OpsledgerError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__.startswith("opsledger.")]


ERRORS = _project_errors()


def test_every_project_error_is_defined_in_domain_errors_and_exported_there() -> None:
    elsewhere = sorted(f"{c.__module__}.{c.__name__}" for c in ERRORS
                       if c.__module__ != "opsledger.domain.errors")
    assert elsewhere == []
    assert {c.__name__ for c in ERRORS} <= set(errors.__all__)
    for cls in ERRORS:
        assert getattr(errors, cls.__name__) is cls


def test_every_error_has_a_code_of_its_own() -> None:
    codes = [c.__dict__.get("code") for c in ERRORS]
    assert all(isinstance(code, str) and code for code in codes)
    assert len(set(codes)) == len(codes)
    assert len(ERRORS) >= 25  # the hierarchy of errors.py, not an empty walk


def test_an_error_renders_its_code_and_message() -> None:
    refused = errors.TenantNotReady("tenant-a", ["the go-live gate has not passed"])
    assert refused.to_dict() == {
        "code": "tenant_not_ready",
        "message": "tenant 'tenant-a' cannot enter SaaS mode: the go-live gate has not passed"}
    assert isinstance(errors.InvalidRecord([("field", "x" * 99, "too long")]), ValueError)


BAD_CALLS: dict[str, Callable[[], object]] = {
    "month 13": lambda: Period.month("2026-13"),
    "month past year 9999": lambda: Period.month("9999-12"),
    "week past year 9999": lambda: Period.week("9999-W52"),
    "day past year 9999": lambda: Period.day("9999-12-31"),
    "rolling past year 1": lambda: Period.rolling("999999999d", datetime(2026, 1, 1, tzinfo=UTC)),
    "audit query without scope": lambda: AuditQuery().where(),
    "negative business days": lambda: BusinessCalendar().add_business_days(
        datetime(2026, 1, 1, tzinfo=UTC), -1),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_input_to_a_public_call_is_a_typed_error(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput):
        call()
