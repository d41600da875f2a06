"""The go-live gate (policy §6, §8, §1, §7) through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.domain.gate import ActivationRefused
from opsledger_test_support import EVIDENCE

from opsledger import (
    AuditQuery,
    FrozenClock,
    Governance,
    IllegalTransition,
    Mode,
    Operations,
)
from opsledger.services.slo import Period

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def evidence(ops: Operations, at: datetime = T0, skip: tuple[str, ...] = (),
             **overrides: dict[str, Any]) -> None:
    for check, details in EVIDENCE.items():
        if check not in skip:
            ops.record_gate_evidence(check, result="pass", by="release", at=at,
                                     details={**details, **overrides.get(check, {})})


def refusals(ops: Operations, version: str = "1.0.0", at: datetime = T0) -> dict[str, str]:
    with pytest.raises(ActivationRefused) as caught:
        ops.activate_saas(version, by="release", at=at)
    return {r["check"]: r["state"] for r in caught.value.refusals}


@pytest.mark.policy("6.saas_ingestion_tests")
@pytest.mark.policy("6.typecheck")
@pytest.mark.policy("6.token_rotation")
@pytest.mark.policy("6.oncall_escalation")
@pytest.mark.policy("6.rollback_to_local")
def test_activation_needs_all_five_checks_and_every_refusal_is_audited(store_url: str) -> None:
    with Operations.open(store_url, clock=FrozenClock(T0)) as ops:
        assert refusals(ops) == {c: "missing" for c in EVIDENCE}
        evidence(ops)
        ops.record_gate_evidence("typecheck", result="fail", by="ci", at=T0,
                                 details=EVIDENCE["typecheck"])
        assert refusals(ops) == {"typecheck": "failed"}  # a later fail supersedes the pass
        evidence(ops)
        assert refusals(ops, version="1.1.0") == {"saas_ingestion_tests": "other_version",
                                                  "typecheck": "other_version"}
        ops.activate_saas("1.0.0", by="release", at=T0)
        status = ops.gate_status(at=T0)
        assert (status["mode"], status["version"]) == ("saas", "1.0.0")
        actions = [a["action"] for a in ops.audit_actions(AuditQuery(all_tenants=True))]
        assert actions.count("GoLiveGate.ActivationRefused") == 3
        assert actions[-1] == "GoLiveGate.Activated"


@pytest.mark.policy("6.saas_ingestion_tests")
def test_evidence_older_than_14_days_is_stale_and_local_evidence_needs_a_constraint() -> None:
    with Operations.open("memory://") as ops:
        evidence(ops, at=T0 - timedelta(days=15))
        assert set(refusals(ops).values()) == {"stale"}
        local = {"source": "local"}
        evidence(ops, saas_ingestion_tests=local, typecheck=local)
        assert refusals(ops) == {"saas_ingestion_tests": "failed", "typecheck": "failed"}


@pytest.mark.policy("1.local_authoritative")
@pytest.mark.policy("6.rollback_to_local")
@pytest.mark.policy("1.saas_only")
def test_rollback_returns_tenants_to_local_only_and_their_records_leave_slos_and_alerts(
) -> None:
    clock = FrozenClock(T0)
    with Operations.open("memory://", clock=clock) as ops:
        evidence(ops)
        ops.activate_saas("1.0.0", by="release")
        for tenant in ("acme", "globex"):
            ops.register_tenant(tenant, repositories=["web"], governance=Governance(), by="t",
                                mode=Mode.SAAS, token_rotation_owner="carol")
        with pytest.raises(IllegalTransition, match="already local_only"):
            ops.rollback_to_local(reason="x", by="a", environment="staging")
        ops.rollback_to_local(reason="ingestion endpoint unstable", by="release",
                              at=T0 + timedelta(minutes=5))
        assert {ops.tenant(t).mode for t in ("acme", "globex")} == {"local_only"}
        for n in range(20):  # a burst of failures after the rollback
            ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key=f"k{n}",
                               payload_hash=f"{n:064x}", outcome="error",
                               error_code="HTTP_STATUS", attempts=3, latency_ms=9000,
                               occurred_at=T0 + timedelta(minutes=10, seconds=n))
        ops.advance(T0 + timedelta(hours=2))
        row = ops.slo(Period.day("2026-11-03"), tenant_id="acme", now=T0 + timedelta(hours=2))[0]
        assert (row["operations"], row["local_only_excluded"]) == (0, 20)
        assert ops.alerts(tenant_id="acme") == []
        audit = ops.audit(AuditQuery(tenant_id="acme"))
        assert {r["tenant_mode"] for r in audit} == {"local_only"}  # kept, and flagged


@pytest.mark.policy("8.current_constraint")
def test_a_lifted_constraint_without_remote_evidence_is_a_breach_recorded_once() -> None:
    clock = FrozenClock(T0)
    with Operations.open("memory://", clock=clock) as ops:
        ops.declare_constraint("remote_ci_unavailable", reason="runners down", by="release")
        local = {"source": "local"}
        evidence(ops, saas_ingestion_tests=local, typecheck=local)
        status = ops.activate_saas("1.0.0", by="release")
        waived = {c["check"] for c in status["checks"] if c["state"] == "waived"}
        assert waived == {"saas_ingestion_tests", "typecheck"}
        lifted_at = T0 + timedelta(days=2)
        clock.set(lifted_at)  # the commands below happen as time passes
        ops.lift_constraint("remote_ci_unavailable", reason="runners back", by="release",
                            at=lifted_at)
        due = lifted_at + timedelta(hours=72)
        # Remote evidence replaces one of the two waived checks within the grace.
        clock.set(due - timedelta(hours=1))
        ops.record_gate_evidence("typecheck", result="pass", by="ci", at=due - timedelta(hours=1),
                                 details=EVIDENCE["typecheck"])
        assert ops.advance(due - timedelta(seconds=1))["gate_deadlines_settled"] == 0
        assert ops.advance(due)["gate_deadlines_settled"] == 1
        assert ops.advance(due + timedelta(days=1))["gate_deadlines_settled"] == 0  # once
        breaches = [a for a in ops.audit_actions(AuditQuery(all_tenants=True))
                    if a["action"] == "GoLiveGate.ComplianceBreached"]
        assert len(breaches) == 1
        assert breaches[0]["occurred_at"] == datetime(2026, 11, 8, 9, 0, tzinfo=UTC)  # deadline
        assert breaches[0]["details"]["checks"] == ["saas_ingestion_tests"]


@pytest.mark.policy("7.owners")
def test_a_missed_acknowledgement_escalates_to_the_gates_secondary_owner() -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        ops.assign_owners(primary="backend maintainers", secondary="dana (release on duty)",
                          by="lead")
        incident = ops.open_incident(severity="SEV1", title="t", cause="other", by="a")
        ops.advance(T0 + timedelta(minutes=16))
        assert ops.incident(incident["id"])["escalated_to"] == "dana (release on duty)"
        assert ops.gate_status()["owners"]["primary"] == "backend maintainers"


@pytest.mark.policy("6.token_rotation")
def test_gate_cli_refusal_json_exit_code_and_status(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.db'}"
    run = [sys.executable, "-m", "opsledger.cli", "gate"]
    refused = subprocess.run([*run, "activate", "--version", "1.0.0", "--json", "--db", db],
                             capture_output=True, text=True)
    assert refused.returncode == 1
    body = json.loads(refused.stdout)
    assert body["activated"] is False
    assert [r["check"] for r in body["refusals"]] == list(EVIDENCE)
    subprocess.run([*run, "record", "token_rotation", "--owner", "carol", "--process-doc",
                    "docs/tokens.md", "--db", db], check=True, capture_output=True)
    status = json.loads(subprocess.run([*run, "status", "--json", "--db", db], check=True,
                                       capture_output=True, text=True).stdout)
    assert set(status) >= {"environment", "mode", "version", "checks", "constraints"}
    states = {c["check"]: c["state"] for c in status["checks"]}
    assert states["token_rotation"] == "passed" and states["typecheck"] == "missing"
