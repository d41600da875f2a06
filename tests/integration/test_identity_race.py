"""Two processes racing the same operation ids of one tenant into different batches: each
id is recorded exactly once and refused once (``operation_id_reused``), on a SQLite file
and on PostgreSQL — the identity table is written in the batch's own transaction."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opsledger_test_support import saas_tenant

from opsledger import AuditQuery, Operations

RACER = r"""
import json, sys, time
from datetime import UTC, datetime
from opsledger import Operations, OperationIdReused
url, name, start, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
ops = Operations.open(url)
while time.time() < start:
    time.sleep(0.001)
out = []
for k in range(count):
    try:
        r = ops.record_publish(tenant_id="acme", repository_id="web",
                               idempotency_key=f"{name}-key-{k}", payload_hash="a" * 64,
                               outcome="success", attempts=1, latency_ms=10 + k,
                               occurred_at=datetime(2026, 11, 3, 9, 0, k % 60, tzinfo=UTC),
                               operation_id=f"op-{k}")
        out.append(r.status)
    except OperationIdReused as refused:
        out.append(refused.code)
ops.close()
print(json.dumps(out))
"""


def _race(url: str, count: int = 25) -> None:
    with Operations.open(url) as ops:
        saas_tenant(ops, "acme", ["web"])
    start = time.time() + 3.0
    racers = [subprocess.Popen([sys.executable, "-c", RACER, url, name, str(start), str(count)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in ("p1", "p2")]
    outputs = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err  # no error leaks out of a lost race
        outputs.append(json.loads(out))
    for k in range(count):
        assert sorted([outputs[0][k], outputs[1][k]]) == ["operation_id_reused", "recorded"]
    with Operations.open(url) as ops:
        rows = ops.audit(AuditQuery(tenant_id="acme"))
        refusals = ops.audit_refusals(AuditQuery(tenant_id="acme"))
        identities = ops.sql.fetch(f"SELECT * FROM {ops.sql.table('publish_identity')}")
        assert ops.verify_chain().ok
    assert sorted(r["operation_id"] for r in rows) == sorted(f"op-{k}" for k in range(count))
    assert sorted(r["subject_id"] for r in refusals) == sorted(f"op-{k}" for k in range(count))
    winners = {r["operation_id"]: r["batch_id"] for r in rows}
    assert {i["operation_id"]: i["batch_id"] for i in identities} == winners


@pytest.mark.policy("5.idempotency_key")
def test_two_processes_racing_one_operation_id_into_two_batches_on_postgresql(
        pg_url: str) -> None:
    _race(pg_url)


@pytest.mark.policy("5.idempotency_key")
def test_two_processes_racing_one_operation_id_into_two_batches_on_a_sqlite_file(
        tmp_path: Path) -> None:
    _race(f"sqlite:///{tmp_path / 'race.db'}")
