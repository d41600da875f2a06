"""Hypothesis over each field of a Pumuki line: a hostile value in one field of an otherwise
valid line, imported through the CLI into one store that keeps growing. The line is
refused with its number when the value is out of bounds, imported when it is fine, and
either way the store still verifies and its views still answer (issue 13, points 1-5)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

H = sys.modules["opsledger_fuzz_hostile"]
S = sys.modules["opsledger_fuzz_strategies"]
F = sys.modules["opsledger_fuzz_harness"]

_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow, HealthCheck.data_too_large])


def _one_value(fuzz: Any, tmp: Path, counter: Any, field: str, value: Any, expect: str) -> None:
    if fuzz.hung:  # a runaway command is reported once; the store is not worth more
        return
    generator = H.HostileAudit(next(counter), extra_tenants=0)
    record = generator.valid()
    if field == "event_id" and expect == "good":
        value = f"{value}-{next(counter)}"  # a fresh id: a reused one is another case
    record[field] = value
    lines = [H.Line(H.dump_record(generator.valid()), "good", "valid"),
             H.Line(H.dump_record(record), expect, f"{field}={str(value)[:40]!r}")]
    path = H.write_file(tmp / "one.ndjson", lines)
    fuzz.import_batch({path: lines}, subprocess_=False, label=f"{field}={str(value)[:60]!r}")
    tenant = record["tenant_id"] if expect == "good" else "fz-alpha"
    for args in (["projections", "verify"], ["audit", "list", "--all-tenants", "--limit", "3"],
                 ["slo", "--tenant", tenant, "--month", F.MONTH]):
        fuzz.must_pass(args, subprocess_=False, label=f"after {field}={str(value)[:60]!r}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def test_a_hostile_value_in_any_field_is_refused_or_imported_never_a_crash(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    db = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    fuzz = F.Fuzz(db, tmp_path, import_seconds=30, read_seconds=30)
    fuzz.must_pass(["tenant", "add", "fz-alpha", "--repo", "repo-a1", "--repo", "repo-a2",
                    "--default-retention"], subprocess_=False, label="setup")
    counter = itertools.count(1)

    @_SETTINGS
    @given(S.field_value())
    def check(case: tuple[str, Any, str]) -> None:
        _one_value(fuzz, tmp_path, counter, *case)

    check()
    fuzz.must_pass(["verify"], subprocess_=True, label="at the end")
    assert not fuzz.problems, fuzz.report()
