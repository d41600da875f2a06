"""The rich store of the export tests (tests/application/test_export_bytes.py, and the
HTTP API's in tests/api/test_export_stream.py), loaded by path as ``opsledger_test_export``
(the tests run with ``--import-mode=importlib``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from opsledger_test_support import saas_tenant

from opsledger import (
    Governance,
    Operations,
    PrivacySettings,
    RepositoryOutOfScope,
    RetentionPolicyMissing,
)

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
FORMATS = ("csv", "ndjson", "json")
ALL = PrivacySettings(redact_tenant_id=True, redact_repository_id=True,
                      hash_payload_hashes=True)
#: tenant -> (repositories, governance)
TENANTS: dict[str, tuple[list[str], Governance | None]] = {
    "acme": (["acme-web", "ish", "red"], Governance(privacy=ALL)),
    "globex": (["globex-web", "api"], None),
    "initech": (["web", "initech-api"], Governance()),
    "umbrella": (["umbrella-web"], Governance(privacy=PrivacySettings(
        redact_repository_id=True, hash_payload_hashes=True))),
    "hooli": (["hooli-web"], Governance(privacy=PrivacySettings(hash_payload_hashes=True))),
    "7777": (["7777-11", "web"], Governance(privacy=ALL)),
}
#: A tenant id that occurs in the times themselves: redacting it breaks the times, and the
#: export fails (before the fast path as now, the same way on both paths).
BROKEN = "2026"
#: Operation ids a locale collation orders differently from code points, and ids that
#: read as times.
IDS = ["b", "B", "a-c", "ab", "a_b", "Ä", "z", "_x", "a b", "10", "9", "éclair",
       "2026-11-03T09:00:00Z", "2026-11-03T09:00:00.5+01:00"]
RANGES: list[tuple[datetime | None, datetime | None]] = [
    (None, None), (T0 + timedelta(minutes=3), None), (None, T0 + timedelta(minutes=40)),
    (T0 + timedelta(minutes=2), T0 + timedelta(minutes=52)),
    (T0 + timedelta(days=3), T0 + timedelta(days=4)), (T0, T0),
]


def _publish(ops: Operations, tenant: str, repo: str, n: int, *, at: datetime,
             operation: str | None = None, ok: bool = True) -> None:
    keys = (f"{tenant}-key-{n}", "2026-11-03T10:00:00Z", f"k{n % 3}", f"{repo}:{n}")
    ops.record_publish(
        tenant_id=tenant, repository_id=repo, idempotency_key=keys[n % len(keys)],
        payload_hash=f"{n % 4:x}" * 64, outcome="success" if ok else "error",
        error_code=None if ok else ("HTTP_STATUS" if n % 2 else "TIMEOUT"),
        attempts=1 + n % 3, latency_ms=100 + n, occurred_at=at,
        operation_id=operation if operation is not None else f"{tenant}-op-{n}",
        request_id=f"req-{tenant}-{n}")


def build(ops: Operations) -> None:
    """The rich store (see the module docstring)."""
    for tenant, (repos, governance) in TENANTS.items():
        if governance is None:  # no policy: local mode
            ops.register_tenant(tenant, repositories=repos, governance=None, by="t",
                                at=T0 - timedelta(days=1))
        else:
            saas_tenant(ops, tenant, repos, at=T0 - timedelta(days=1), governance=governance)
    saas_tenant(ops, "gone", ["gone-web"], at=T0 - timedelta(days=1))
    saas_tenant(ops, BROKEN, ["web"], at=T0 - timedelta(days=1), governance=Governance(
        privacy=ALL))
    _publish(ops, BROKEN, "web", 1, at=T0 + timedelta(minutes=1))
    for tenant, (repos, governance) in TENANTS.items():
        if governance is None:  # no policy: no publish is taken (and none is audited)
            with pytest.raises(RetentionPolicyMissing):
                _publish(ops, tenant, repos[0], 1, at=T0)
            ops.open_incident(severity="SEV3", title=f"{tenant} quiet", cause="other",
                              by="oncall", tenant_id=tenant, at=T0 + timedelta(minutes=7))
            continue
        for n, operation in enumerate(IDS * 2):
            at = T0 + timedelta(seconds=(n % 5) * 20)  # many rows on one time
            _publish(ops, tenant, repos[n % len(repos)], n, at=at,
                     operation=f"{operation}{n}" if n >= len(IDS) else operation)
        for n in range(40):
            _publish(ops, tenant, repos[0], 100 + n, at=T0 + timedelta(minutes=1 + n),
                     ok=not 10 <= n < 22)  # an error burst: alerts, an incident
            ops.record_visibility(tenant_id=tenant, repository_id=repos[0],
                                  idempotency_key=f"{tenant}-key-{100 + n}",
                                  payload_hash=f"{n % 4:x}" * 64,
                                  visible_at=T0 + timedelta(minutes=3 + n))
        for n, repo in enumerate([f"{tenant}-other", "nope"]):
            with pytest.raises(RepositoryOutOfScope):  # refused, audited
                _publish(ops, tenant, repo, 900 + n, at=T0 + timedelta(minutes=5 + n))
        incident = ops.open_incident(severity="SEV2", title=f"{tenant} {repos[0]} down",
                                     cause="ingestion_outage", by="oncall",
                                     tenant_id=tenant, at=T0 + timedelta(minutes=20))
        ops.acknowledge(incident["id"], by="oncall", at=T0 + timedelta(minutes=21))
        ops.post_status_update(incident["id"], message=f"{repos[-1]} at 2026-11-03T09:30:00Z",
                               by="oncall", at=T0 + timedelta(minutes=25))
        ops.resolve_incident(incident["id"], summary=f"{tenant} back", by="oncall",
                             at=T0 + timedelta(minutes=45))
    ops.set_governance("initech", Governance(privacy=PrivacySettings(
        hash_payload_hashes=False)), by="dpo", at=T0 + timedelta(minutes=30))
    _publish(ops, "gone", "gone-web", 1, at=T0 + timedelta(minutes=1))
    ops.advance(T0 + timedelta(hours=2))
    ops.forget_tenant("gone", by="dpo", reason="contract ended", at=T0 + timedelta(hours=2))

