"""Several processes on one store: schema creation, and racing the same idempotency key."""

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
from opsledger import Operations
url, name, start, keys, payload_seed = sys.argv[1:6]
start, keys = float(start), int(keys)
ops = Operations.open(url)
while time.time() < start:
    time.sleep(0.001)
out = []
for k in range(keys):
    same = k % 2 == 0
    h = ("a" if same else payload_seed) * 64
    r = ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=f"key-{k}",
                           payload_hash=h, outcome="success", attempts=1, latency_ms=10 + k,
                           occurred_at=datetime(2026, 11, 3, 9, 0, k % 60, tzinfo=UTC),
                           operation_id=f"{name}-{k}")
    out.append([r.status, r.retry, r.collision])
ops.close()
print(json.dumps(out))
"""

OPENER = r"""
import sys, time
from datetime import UTC, datetime
from opsledger import Operations
url, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
with Operations.open(url) as ops:
    ops.adopt_policy(__import__("opsledger").OperationsPolicy(), by=name, reason="open race",
                     effective_at=datetime(2026, 1, 1, tzinfo=UTC))
print("ok")
"""


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _race_same_keys(url: str) -> None:

    with Operations.open(url) as ops:
        saas_tenant(ops, "acme", ["web"])
    keys = 30
    start = time.time() + 3.0
    racers = [_spawn(RACER, url, name, str(start), str(keys), seed)
              for name, seed in (("p1", "b"), ("p2", "c"))]
    outputs = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err  # no error leaks out of a lost race
        outputs.append(json.loads(out))
    with Operations.open(url) as ops:
        rows = ops.audit(AuditQuery(tenant_id="acme"))
        chain = ops.verify_chain()  # two writers appended links one transaction at a time
    assert chain.ok and chain.events_checked > 2 * keys, chain
    for k in range(keys):
        key_rows = [r for r in rows if r["idempotency_key"] == f"key-{k}"]
        assert len(key_rows) == 2 and len({r["batch_id"] for r in key_rows}) == 1
        results = sorted([outputs[0][k], outputs[1][k]], key=lambda r: (r[1], r[2]))
        if k % 2 == 0:
            # Same payload hash in both processes: a retry of the batch — unless the
            # later-ordered operation (p2's) won the race, then p1's is the new original.
            assert results[0] == ["recorded", False, False], (k, results)
            assert results[1] in (["recorded", True, False], ["recorded", False, False])
            assert sum(r["collision"] for r in key_rows) == 0
        else:
            # Different payload hashes under one key: an idempotency collision. Both share
            # occurred_at, so the original is p1's (smaller operation id) whoever won the
            # race; if p2 wrote first, p1's arrival reclassifies p2's operation.
            assert all(r[0] == "recorded" and not r[1] for r in results), (k, results)
            assert [r["operation_id"] for r in key_rows if r["collision"]] == [f"p2-{k}"]


@pytest.mark.policy("5.idempotency_key")
def test_two_processes_racing_the_same_keys_on_postgresql(pg_url: str) -> None:
    _race_same_keys(pg_url)


@pytest.mark.policy("5.idempotency_key")
def test_two_processes_racing_the_same_keys_on_a_sqlite_file(sqlite_url: str) -> None:
    _race_same_keys(sqlite_url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_schema_creation_is_safe_when_processes_start_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite" else request.getfixturevalue(
        "pg_url")
    start = time.time() + 2.5
    openers = [_spawn(OPENER, url, f"proc{i}", str(start)) for i in range(4)]
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
        assert out.strip() == "ok"
    with Operations.open(url) as ops:
        adoptions = [a for a in ops.audit_actions(AuditQuery(all_tenants=True))]
        assert ops.verify_chain().ok
    assert 1 <= len(adoptions) <= 4  # the same policy: later adopters may find it in force
