"""``tenant forget`` on PostgreSQL leaves no row version of the tenant in the store's files
(issue 13, point 7): a canary planted in the tenant's repository id, request ids,
idempotency keys and endpoints is found, after import and catch-up, in the table files of
the store's schema; after ``tenant forget`` it is in none of them — heap, index or TOAST,
old or rewritten — while the other tenant is untouched. (A plain ``VACUUM`` left 44
copies of the request ids in ``audit_publish``: dead row versions stay in the heap.)

The test reads the server's data directory, so it needs the server on this machine and
the right to read its files (it runs as root beside the test server); without them it is
skipped — and under CI=true that is a failure, like every PostgreSQL test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsledger import Operations
from opsledger.store.url import parse_store_url, pg_connect

CANARY = "zqcanary5e1d"
SAMPLE = Path(__file__).resolve().parents[2] / "opsledger" / "samples"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "opsledger.cli", *args, "--db", url],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def _audit_lines(path: Path) -> None:
    """The bundled sample twice: as ``acme`` with the canary in every free field the
    Pumuki line has, and as ``globex`` unchanged but for the tenant and event ids."""
    lines = []
    for raw in (SAMPLE / "saas-ingestion-audit.ndjson").read_text().splitlines():
        record = json.loads(raw)
        other = {**record, "tenant_id": "globex", "event_id": record["event_id"] + "-g"}
        record.update(tenant_id="acme", event_id=record["event_id"] + "-a",
                      repository_id=f"{CANARY}-{record['repository_id']}",
                      request_id=f"{CANARY}-{record.get('request_id') or 'none'}",
                      idempotency_key=f"{CANARY}-{record['idempotency_key']}",
                      endpoint=f"https://{CANARY}.example/v1")
        lines += [json.dumps(record), json.dumps(other)]
    path.write_text("\n".join(lines) + "\n")


def _relation_files(url: str) -> dict[str, list[Path]]:
    """Every file of every table, index, sequence and TOAST table (with its index) of the
    store's schema and its views', by relation name: the main fork and its 1 GB segments."""
    store = parse_store_url(url)
    with pg_connect(store) as conn:
        data = Path(conn.execute("SELECT current_setting('data_directory')").fetchone()[0])
        rows = conn.execute(
            "WITH own AS (SELECT c.oid, c.reltoastrelid FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname IN (%s, %s)), "
            "rel AS (SELECT oid FROM own UNION SELECT reltoastrelid FROM own "
            "WHERE reltoastrelid <> 0 UNION SELECT i.indexrelid FROM pg_index i JOIN own "
            "ON i.indrelid = own.reltoastrelid) "
            "SELECT c.relname, pg_relation_filepath(c.oid) FROM rel JOIN pg_class c "
            "ON c.oid = rel.oid WHERE pg_relation_filepath(c.oid) IS NOT NULL",
            (store.schema, f"{store.schema}_views")).fetchall()  # (the views' schema too)
    found: dict[str, list[Path]] = {}
    for name, relative in rows:
        main = data / relative
        found[name] = [main, *sorted(main.parent.glob(f"{main.name}.[0-9]*"))]
    return found


def _holding(files: dict[str, list[Path]]) -> dict[str, int]:
    """How many times each relation's files hold the canary."""
    counts = {name: sum(p.read_bytes().count(CANARY.encode()) for p in paths if p.exists())
              for name, paths in files.items()}
    return {name: n for name, n in counts.items() if n}


def _require_data_directory(url: str) -> None:
    with pg_connect(parse_store_url(url)) as conn:
        data = Path(conn.execute("SELECT current_setting('data_directory')").fetchone()[0])
    try:
        readable = (data / "PG_VERSION").read_text().strip() != ""
    except OSError as exc:
        readable, why = False, str(exc)
    else:
        why = ""
    if not readable:
        message = (f"the PostgreSQL data directory {data} is not readable here ({why}): "
                   "the canary scan needs the server's files on this machine")
        if IN_CI:
            pytest.fail(message + " — CI=true requires it")
        pytest.skip(message)


def _checkpoint(url: str) -> None:
    with pg_connect(parse_store_url(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


@pytest.mark.policy("5.retention_privacy")
def test_forget_leaves_no_row_version_of_the_tenant_in_any_table_file(
    pg_url: str, tmp_path: Path,
) -> None:
    _require_data_directory(pg_url)
    audit = tmp_path / "audit.ndjson"
    _audit_lines(audit)
    _cli(pg_url, "import", "pumuki-audit", str(audit), "--register-unknown", "--json")
    _cli(pg_url, "projections", "catch-up")
    with Operations.open(pg_url) as ops:
        globex_rows = ops.sql.fetch(f"SELECT * FROM {ops.sql.table('audit_publish')} "
                                    "WHERE tenant_id = 'globex' ORDER BY operation_id")
    _checkpoint(pg_url)  # so the canary is in the files, not only in shared buffers
    before = _relation_files(pg_url)
    held = _holding(before)
    assert "audit_publish" in held and sum(held.values()) > 500, held

    report = json.loads(_cli(pg_url, "tenant", "forget", "acme", "--yes", "--json").stdout)

    assert report["key_deleted"] is True and report["purged"]["audit_publish"] == 571
    assert {"audit_publish", "slo_freshness", "alert_process"} <= set(report["rewritten"])
    after = _relation_files(pg_url)
    assert _holding(after) == {}
    assert _holding(before) == {}  # the files the rows were in: gone or rewritten
    with Operations.open(pg_url) as ops:
        assert ops.sql.fetch(f"SELECT * FROM {ops.sql.table('audit_publish')} "
                             "WHERE tenant_id = 'globex' ORDER BY operation_id") == globex_rows
        assert ops.verify_chain().ok
        stats = ops.sql.fetch("SELECT CAST(most_common_vals AS TEXT) AS v FROM pg_stats "
                              "WHERE schemaname = ?", [ops.store.schema])
    assert not any(CANARY in (row["v"] or "") for row in stats)  # planner statistics too
