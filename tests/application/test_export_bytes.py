"""The compliance export's fast path (issue 19, point 5): ``export_stream(...).chunks(fmt)``
writes the views' rows straight to bytes, and those bytes are exactly the typed path's —
the typed rows (``export_stream`` iterated, :class:`opsledger.ExportRow`) written by
:func:`opsledger.serialize.export_chunks`, which is what the export wrote before the fast
path — for every format, privacy switch and range, on every store; the CLI and the HTTP
API write them.

The store is rich on purpose: several tenants with each privacy switch, repository ids that
contain the tenant id or a part of ``publish``/``refused``/``[redacted]``, ids and keys that
read as times (the export rewrites every time it finds into the output form), operation
ids a locale collation orders differently, many rows on one time, refusals, operator
actions, alerts, incidents, freshness rows, a tenant whose id is all digits (its redaction
could reach into a time's text: the fast path takes the typed path's rows), and a forgotten
tenant."""

from __future__ import annotations

import csv
import heapq
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from opsledger import FrozenClock, Operations, TenantForgotten, UnknownTenant
from opsledger.reports.export import export_rows, render
from opsledger.services.export_fast import csv_field, merge


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
T0, TENANTS, BROKEN, FORMATS, RANGES, build = (support.T0, support.TENANTS, support.BROKEN,
                                               support.FORMATS, support.RANGES, support.build)


def fast(ops: Operations, tenant: str, since: datetime | None, until: datetime | None,
         fmt: str) -> tuple[bytes, int]:
    """The fast path's bytes and its count of rows."""
    stream = ops.export_stream(tenant, since, until)
    data = b"".join(stream.chunks(fmt))
    return data, stream.rows


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The rich store in a SQLite file (built once for the module)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'store.db'}"
    with Operations.open(url, clock=FrozenClock(T0 + timedelta(hours=2))) as ops:
        build(ops)
    yield url


@pytest.mark.policy("5.audit_trail")
@pytest.mark.parametrize("backend", ["memory", "sqlite",
                                     pytest.param("postgres", marks=pytest.mark.slow)])
def test_the_fast_bytes_are_the_typed_paths_bytes_on_every_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """(PostgreSQL in the slow tier: its collation orders text differently; the rich store
    takes a while to record there.)"""
    url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'store.db'}"}.get(
        backend) or str(request.getfixturevalue("pg_url"))
    with Operations.open(url, clock=FrozenClock(T0 + timedelta(hours=2))) as ops:
        build(ops)
        kinds: set[str] = set()
        for tenant in TENANTS:
            for since, until in RANGES:
                rows = export_rows(ops, tenant, since, until)
                kinds |= {r["kind"] for r in rows}
                for fmt in FORMATS:
                    data, count = fast(ops, tenant, since, until, fmt)
                    assert data == render(rows, fmt), (tenant, since, until, fmt)
                    assert count == len(rows)
        assert kinds >= {"publish", "refused", "alert_triggered", "Incident.Opened",
                         "Incident.Resolved", "Tenant.GovernanceSet"}
        for fmt in FORMATS:  # the JSON array of nothing, the CSV header alone
            assert fast(ops, "acme", T0, T0, fmt)[0] == render([], fmt)
        for fmt in FORMATS:
            with pytest.raises(ValueError, match="isoformat"):
                render(export_rows(ops, BROKEN, None, None), fmt)
            with pytest.raises(ValueError, match="isoformat"):
                fast(ops, BROKEN, None, None, fmt)
        for missing, error in (("gone", TenantForgotten), ("nobody", UnknownTenant)):
            with pytest.raises(error):
                ops.export_stream(missing, None, None)


@pytest.mark.policy("5.retention_privacy")
def test_the_switches_reach_every_field_of_the_fast_path(rich: str) -> None:
    with Operations.open(rich) as ops:
        text = fast(ops, "acme", None, None, "ndjson")[0].decode()
        rows = [json.loads(line) for line in text.splitlines()]
        assert "acme" not in text and "ish" not in text
        publish = [r for r in rows if r["kind"].startswith("publ[")]  # "ish" is redacted
        assert publish and {r["tenant"] for r in publish} == {"[redacted]"}
        assert all(r["details"]["payload_hash"].startswith("sha256:") for r in publish)
        plain = [json.loads(line) for line in fast(ops, "hooli", None, None, "ndjson")[0]
                 .decode().splitlines()]
        assert {r["details"].get("idempotency_key") for r in plain} >= {
            "2026-11-03T10:00:00.000Z"}  # a key that reads as a time: in the output form
        assert {r["subject"] for r in plain} >= {"2026-11-03T09:00:00.000Z"}
        keys = [(r["at"], r["kind"]) for r in plain]
        assert keys == sorted(keys)


def test_chunks_are_instead_of_the_typed_rows(rich: str) -> None:
    with Operations.open(rich) as ops:
        stream = ops.export_stream("globex", None, None)
        first = next(stream)
        assert first.kind and first.at.tzinfo is not None
        with pytest.raises(RuntimeError):
            stream.chunks("csv")
        with pytest.raises(ValueError, match="format"):
            ops.export_stream("globex", None, None).chunks("xml")
        chunks = list(ops.export_stream("globex", None, None).chunks("csv"))
        assert len(chunks) >= 1 and all(chunks)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_cli_writes_the_fast_bytes(rich: str, tmp_path: Path, fmt: str) -> None:
    from opsledger.cli.main import main

    out = tmp_path / f"export.{fmt}"
    done = CliRunner().invoke(main, ["audit", "export", "--tenant", "acme", "--from",
                                     "2026-11-03T09:01:00Z", "--to", "2026-11-03T09:40:00Z",
                                     "--format", fmt, "--out", str(out), "--db", rich],
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    with Operations.open(rich) as ops:
        rows = export_rows(ops, "acme", T0 + timedelta(minutes=1), T0 + timedelta(minutes=40))
    assert out.read_bytes() == render(rows, fmt)
    assert done.output.startswith(f"{len(rows)} rows written")
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == len(rows)


def test_the_fast_lines_follow_the_typed_rows(rich: str) -> None:
    """One NDJSON line per typed row, in the typed rows' order."""
    with Operations.open(rich) as ops:
        typed = [row.to_dict() for row in ops.export_stream("hooli", None, None)]
        lines = fast(ops, "hooli", None, None, "ndjson")[0].splitlines()
    assert len(lines) == len(typed)
    assert [orjson.loads(line)["subject"] for line in lines] == [r["subject"] for r in typed]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(), st.booleans(), st.floats(),
                                 st.text(alphabet=st.sampled_from(list('ab ,"\r\n\t;\'Ä')))),
                       min_size=2, max_size=8))
def test_a_csv_field_is_written_as_the_csv_module_writes_it(values: list[Any]) -> None:
    text = io.StringIO()
    csv.writer(text).writerow(values)
    assert ",".join(csv_field(v) for v in values) + "\r\n" == text.getvalue()


@settings(max_examples=200, deadline=None)
@given(streams=st.lists(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xy"),
                                           st.sampled_from("pq")), max_size=12),
                        min_size=1, max_size=3),
       size=st.integers(1, 4))
def test_the_merge_of_batches_is_the_stable_merge_of_the_rows(
    streams: list[list[tuple[str, str, str]]], size: int,
) -> None:
    """Each stream in key order, the first in batches of ``size``: ties keep the streams'
    order, as :func:`opsledger.projections._stream.merge_ordered` does."""
    tagged = [sorted((*key, (n, i)) for i, key in enumerate(rows))
              for n, rows in enumerate(streams)]
    batches = [[row for row in tagged[0][i:i + size]]
               for i in range(0, len(tagged[0]), size)]
    others = [iter([rows] if rows else []) for rows in tagged[1:]]
    merged = [row for batch in merge(iter(batches), others) for row in batch]
    assert merged == list(heapq.merge(*tagged, key=lambda row: row[:3]))
