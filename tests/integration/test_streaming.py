"""Streamed reads (``audit list``, ``replay``, ``audit export``) give exactly what reading
everything and sorting it gave, on SQLite and PostgreSQL — ids whose order differs between
a locale's collation and code points included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from opsledger.domain.errors import RepositoryOutOfScope
from opsledger.domain.governance import RetentionPolicy
from opsledger.projections import AuditQuery
from opsledger.projections.timeline import iter_timeline

from opsledger import FrozenClock, Governance, Operations, PrivacySettings
from opsledger.cli.common import json_array_chunks
from opsledger.cli.main import main
from opsledger.reports.export import COLUMNS, export_rows, render
from opsledger.serialize import dumps

START = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
#: Operation ids a locale collation orders differently from code points.
IDS = ["b", "B", "a-c", "ab", "a_b", "Ä", "z", "_x", "a b", "10", "9", "éclair", "Eclair"]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


def _populate(url: str) -> None:
    with Operations.open(url, clock=FrozenClock(START)) as ops:
        privacy = PrivacySettings(redact_repository_id=True, hash_payload_hashes=True)
        ops.register_tenant("acme", repositories=["web", "api"], by="t",
                            governance=Governance(retention=RetentionPolicy(), privacy=privacy))
        ops.register_tenant("other", repositories=["web", "api"], governance=Governance(), by="t")
        for n, operation in enumerate(IDS * 3):
            at = START + timedelta(seconds=(n % 7) * 20)  # many ties on the time
            for tenant in ("acme", "other"):
                ops.record_publish(
                    tenant_id=tenant, repository_id="web" if n % 2 else "api",
                    idempotency_key=f"k{n % 5}", payload_hash=f"{n % 3:x}" * 64,
                    outcome="error" if n % 4 == 0 else "success", attempts=1 + n % 2,
                    latency_ms=100 + n, occurred_at=at, operation_id=f"{operation}{n}{tenant[0]}",
                    error_code="TIMEOUT" if n % 4 == 0 else None)
        with pytest.raises(RepositoryOutOfScope):  # audited: an export row
            ops.record_publish(tenant_id="acme", repository_id="nope", idempotency_key="k",
                               payload_hash="f" * 64, outcome="success", attempts=1,
                               latency_ms=1, occurred_at=START)
        ops.open_incident(severity="SEV2", title="slow", cause="latency", by="sre",
                          tenant_id="acme", at=START + timedelta(minutes=1))
        ops.advance(START + timedelta(hours=2))


def _old_timeline(ops: Operations, tenant: str, start: str, end: str) -> list[dict[str, Any]]:
    """Reference: every entry read whole, then sorted (what replay did before streaming)."""
    entries = list(iter_timeline(ops.sql, tenant, "", "9999"))  # content of every source
    chosen = [e for e in entries if e["at"] and start <= e["at"] < end]
    keyed = [(orjson.dumps(e, option=orjson.OPT_SORT_KEYS), e) for e in chosen]
    return [e for _, e in sorted(keyed, key=lambda pair: (pair[1]["at"], pair[0]))]


def test_streamed_reads_equal_whole_reads(url: str) -> None:
    _populate(url)
    with Operations.open(url) as ops:
        query = AuditQuery(all_tenants=True)
        streamed = list(ops.audit_stream(query))
        whole = ops.audit(query)
        key = [(r["occurred_at"], r["tenant_id"], r["operation_id"]) for r in streamed]
        assert key == sorted(key)  # code-point order on both backends
        assert sorted(map(orjson.dumps, streamed)) == sorted(map(orjson.dumps, whole))
        assert len(streamed) == 2 * 3 * len(IDS)
        assert list(ops.audit_stream(AuditQuery(all_tenants=True, limit=5))) == streamed[:5]

        start, end = "2026-11-03T09:00:20", "2026-11-03T10:30:00"
        replay = list(iter_timeline(ops.sql, "acme", start, end))
        assert replay == _old_timeline(ops, "acme", start, end)
        assert {e["kind"] for e in replay} >= {"publish_minute", "incident_opened"}

        rows = export_rows(ops, "acme", None, None)
        reference = sorted(rows, key=lambda r: (r["at"], r["kind"], str(r["subject"])))
        assert rows == reference
        assert {r["kind"] for r in rows} >= {"publish", "refused", "Incident.Opened"}
        assert all(r["repository"] in (None, "[redacted]") for r in rows)
        for fmt in ("json", "ndjson", "csv"):
            assert render(iter(rows), fmt) == _old_render(rows, fmt)


def _old_render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "json":
        return orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if fmt == "ndjson":
        return b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in rows)
    import csv
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "details": orjson.dumps(r["details"],
                                                      option=orjson.OPT_SORT_KEYS).decode()})
    return text.getvalue().encode()


def test_cli_streams_equal_the_python_api(url: str, tmp_path: Path) -> None:
    _populate(url)
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(main, [*args, "--db", url], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output

    with Operations.open(url) as ops:
        listed = ops.audit(AuditQuery(tenant_id="acme"))
        replay = ops.replay("acme", START, START + timedelta(hours=3))
        exported = export_rows(ops, "acme", None, None)
    assert json.loads(run("audit", "list", "--tenant", "acme", "--json")) == json.loads(
        dumps(listed))  # the CLI's JSON is the one serializer's output of the typed rows
    assert json.loads(run("replay", "--tenant", "acme", "--from", "2026-11-03T09:00:00Z",
                          "--to", "2026-11-03T12:00:00Z", "--json")) == json.loads(dumps(replay))
    out = tmp_path / "export.json"
    printed = run("audit", "export", "--tenant", "acme", "--format", "json", "--out", str(out))
    assert json.loads(out.read_bytes()) == exported
    assert printed.startswith(f"{len(exported)} rows written")
    text = run("audit", "list", "--tenant", "acme")
    assert text.count("acme") == len(listed)


def test_json_array_chunks_are_the_bytes_of_one_dump() -> None:
    for items in ([], [1], [{"a": [1, {"b": "x\ny"}]}, {"c": None}], [[], {}]):
        whole = orjson.dumps(items, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        assert b"".join(json_array_chunks(iter(items))) == whole
