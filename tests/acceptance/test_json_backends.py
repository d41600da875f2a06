"""Every ``--json`` read gives the same JSON on SQLite and PostgreSQL for the same imported
data: the same types (integers stay integers — PostgreSQL's ``SUM`` is a decimal) and the
same values, apart from what is random or stamped by the recording clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opsledger.cli.main import main

AT = "2026-11-03T12:00:00Z"

#: Read commands with --json (a tenant's scope, or the operator's).
READS = [
    ["tenant", "list"],
    ["tenant", "show", "tenant-solo"],
    ["audit", "list", "--tenant", "tenant-solo", "--limit", "50"],
    ["audit", "list", "--all-tenants"],
    ["audit", "summary", "--all-tenants"],
    ["audit", "summary", "--tenant", "tenant-solo", "--outcome", "error"],
    ["audit", "refusals", "--all-tenants"],
    ["audit", "actions", "--all-tenants"],
    ["slo", "--tenant", "tenant-solo", "--day", "2026-11-03", "--as-of", AT],
    ["slo", "--all-tenants", "--day", "2026-11-03", "--as-of", AT],
    ["sla", "--all-tenants", "--month", "2026-11"],
    ["alerts", "--all-tenants"],
    ["alerts", "--tenant", "tenant-solo", "--as-of", "2026-11-03T08:00:00Z"],
    ["incident", "list", "--all-tenants"],
    ["replay", "--tenant", "tenant-solo", "--from", "2026-11-03T07:00:00Z",
     "--to", "2026-11-03T09:00:00Z"],
    ["gate", "status"],
    ["policy", "show"],
    ["projections", "status"],
    ["review", "weekly", "--week", "2026-W45", "--format", "json"],
    ["review", "monthly", "--month", "2026-11", "--format", "json"],
]
#: Values stamped by the recording clock or made at random (uuid4), per backend.
VOLATILE = {"registered_at", "id", "incident_id", "alert_id", "stream_id", "batch_id",
            "refusal_id", "notification_id", "position", "head", "subject_id"}


def _run(db: str, args: list[str]) -> str:
    done = CliRunner().invoke(main, [*args, "--db", db], catch_exceptions=False)
    assert done.exit_code == 0, (args, done.output[-2000:])
    return done.output


def _json(db: str, args: list[str]) -> Any:
    return json.loads(_run(db, args if "--format" in args else [*args, "--json"]))


def _shape(value: Any, key: str = "") -> Any:
    """The value with its JSON types kept and volatile values replaced by their type."""
    if isinstance(value, dict):
        return {k: _shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v, key) for v in value]
    if key in VOLATILE:
        return type(value).__name__
    if isinstance(value, bool | int | float):
        return (type(value).__name__, value)
    return value


@pytest.mark.policy("5.audit_trail")
def test_json_reads_are_identical_on_sqlite_and_postgres(
    tmp_path: Path, pg_url: str, sample_audit: Path
) -> None:
    stores = [f"sqlite:///{tmp_path / 's.db'}", pg_url]
    outputs = []
    for db in stores:
        _run(db, ["import", "pumuki-audit", str(sample_audit), "--register-unknown"])
        _run(db, ["incident", "open", "--severity", "SEV2", "--title", "t", "--cause",
                  "latency", "--tenant", "tenant-solo", "--by", "sre", "--at", AT])
        outputs.append({" ".join(args): _shape(_json(db, args)) for args in READS})
    sqlite, postgres = outputs
    for command in sqlite:
        assert sqlite[command] == postgres[command], command
    summary = sqlite["audit summary --all-tenants"]
    assert summary and all(row["operations"][0] == "int" for row in summary)
