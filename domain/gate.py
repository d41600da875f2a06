"""The go-live gate (policy §6, §8, §7 owners): SaaS activation backed by evidence.

Five checks, each satisfied only by recorded evidence; a later failing result supersedes
an earlier pass; test evidence must be for the version being activated and from remote CI,
unless a declared constraint (policy §8: remote CI or scanning unavailable) waives that —
then local evidence counts, marked waived. Lifting the constraint starts a grace period
(default 72 h); a waived check not backed by remote evidence by its end is a compliance
breach, recorded once at the deadline's time. Refusals are facts too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.domain import topics
from opsledger.domain.errors import ActivationRefused, IllegalTransition, InvalidInput
from opsledger.domain.ids import NAMESPACE
from opsledger.domain.policy import OperationsPolicy

__all__ = ["CHECKS", "CONSTRAINTS", "ActivationRefused", "GoLiveGate", "check_states",
           "gate_uuid"]

CHECKS = ("saas_ingestion_tests", "typecheck", "token_rotation", "oncall_escalation",
          "rollback_to_local")
TEST_CHECKS = ("saas_ingestion_tests", "typecheck")
CONSTRAINTS = {"remote_ci_unavailable": TEST_CHECKS, "remote_security_scanning_unavailable": ()}
REQUIRED = {
    "saas_ingestion_tests": ("version", "commit", "source", "run_ref"),
    "typecheck": ("version", "commit", "source", "run_ref"),
    "token_rotation": ("owner", "process_doc"),
    "oncall_escalation": ("path_doc",),
    "rollback_to_local": (),
}


def gate_uuid(environment: str) -> UUID:
    """One gate per environment."""
    return uuid5(NAMESPACE, f"gate/{environment}")


def check_states(evidence: dict[str, dict[str, Any]], constraints: dict[str, Any], at: datetime,
                 version: str | None, policy: OperationsPolicy) -> list[dict[str, Any]]:
    """Each check's state at ``at`` (for ``version`` if given): passed, failed, missing,
    stale, waived or other_version, with why and the evidence."""
    max_age = timedelta(days=policy.gate.evidence_max_age_days)
    waivable = {c for kind in constraints for c in CONSTRAINTS[kind]}
    states = []
    for check in CHECKS:
        e = evidence.get(check)
        if e is None:
            state, why = "missing", "no evidence recorded"
        elif e["result"] != "pass":
            state, why = "failed", f"latest result is {e['result']} ({e['at'].isoformat()})"
        elif e["at"] < at - max_age:
            state, why = "stale", f"older than {policy.gate.evidence_max_age_days} days"
        elif check in TEST_CHECKS and version is not None and e["details"]["version"] != version:
            state, why = "other_version", f"evidence is for {e['details']['version']}"
        elif check in TEST_CHECKS and e["details"]["source"] != "remote_ci":
            if check in waivable:
                state, why = "waived", "local evidence accepted: remote CI unavailable (§8)"
            else:
                state, why = "failed", "local evidence counts only under a declared constraint"
        else:
            state, why = "passed", "evidence recorded"
        states.append({"check": check, "state": state, "why": why, "evidence": e})
    return states


class GoLiveGate(Aggregate):
    """SaaS activation for one environment, its owners, constraints and waivers."""

    TOPIC = topics.GO_LIVE_GATE_AGGREGATE

    class Created(Aggregate.Created):
        TOPIC = topics.GO_LIVE_GATE_CREATED

    @staticmethod
    def create_id(environment: str) -> UUID:
        """See :func:`gate_uuid`."""
        return gate_uuid(environment)

    @event("Opened", topic=topics.GO_LIVE_GATE_OPENED)
    def __init__(self, environment: str, primary_owner: str, secondary_owner: str) -> None:
        self.environment = environment
        self.primary_owner = primary_owner
        self.secondary_owner = secondary_owner
        self.mode = "local_only"
        self.active_version: str | None = None
        self.evidence: dict[str, dict[str, Any]] = {}
        self.constraints: dict[str, dict[str, Any]] = {}
        self.grace: dict[str, dict[str, Any]] = {}  # lifted constraint -> deadline

    def record_evidence(self, check: str, result: str, details: dict[str, Any], by: str,
                        at: datetime) -> None:
        """Evidence for one check (the latest result counts)."""
        if check not in CHECKS:
            raise InvalidInput(f"check {check!r}: expected one of {', '.join(CHECKS)}")
        if result not in ("pass", "fail"):
            raise InvalidInput(f"result {result!r}: expected pass or fail")
        missing = [f for f in REQUIRED[check] if not details.get(f)]
        if missing:
            raise InvalidInput(f"{check} evidence needs {', '.join(missing)}")
        if check in TEST_CHECKS and details["source"] not in ("remote_ci", "local"):
            raise InvalidInput("source must be remote_ci or local")
        self._record_evidence(environment=self.environment, check=check, result=result,
                              details=details, by=by, occurred_at=at)

    @event("EvidenceRecorded", topic=topics.GO_LIVE_GATE_EVIDENCE_RECORDED)
    def _record_evidence(self, environment: str, check: str, result: str,
                         details: dict[str, Any], by: str, occurred_at: datetime) -> None:
        self.evidence[check] = {"result": result, "details": details, "by": by,
                                "at": occurred_at}

    def activate(self, version: str, by: str, at: datetime,
                 policy: OperationsPolicy) -> list[dict[str, Any]]:
        """Switch to SaaS mode if every check passes (or is waived); otherwise record the
        refusal and return the refusals (the caller raises :class:`ActivationRefused`)."""
        states = check_states(self.evidence, self.constraints, at, version, policy)
        refusals = [{"check": s["check"], "state": s["state"], "why": s["why"]}
                    for s in states if s["state"] not in ("passed", "waived")]
        if refusals:
            self._refuse(environment=self.environment, version=version, refusals=refusals,
                         by=by, occurred_at=at)
        else:
            self._activate(environment=self.environment, version=version, by=by,
                           occurred_at=at,
                           waived=[s["check"] for s in states if s["state"] == "waived"])
        return refusals

    @event("ActivationRefused", topic=topics.GO_LIVE_GATE_ACTIVATION_REFUSED)
    def _refuse(self, environment: str, version: str, refusals: list[dict[str, str]], by: str,
                occurred_at: datetime) -> None:
        pass

    @event("Activated", topic=topics.GO_LIVE_GATE_ACTIVATED)
    def _activate(self, environment: str, version: str, by: str, occurred_at: datetime,
                  waived: list[str]) -> None:
        self.mode = "saas"
        self.active_version = version

    def rollback(self, reason: str, by: str, at: datetime) -> None:
        """Back to local-only (policy §1: local operation stays authoritative)."""
        if self.mode != "saas":
            raise IllegalTransition(f"environment {self.environment}", "roll back",
                                    "already local_only")
        if not reason.strip():
            raise InvalidInput("a rollback needs a reason")
        self._rollback(environment=self.environment, reason=reason, by=by, occurred_at=at)

    @event("RolledBack", topic=topics.GO_LIVE_GATE_ROLLED_BACK)
    def _rollback(self, environment: str, reason: str, by: str, occurred_at: datetime) -> None:
        self.mode = "local_only"

    def declare_constraint(self, kind: str, reason: str, by: str, at: datetime) -> None:
        """Policy §8: remote CI or scanning is unavailable for now."""
        if kind not in CONSTRAINTS:
            raise InvalidInput(f"constraint {kind!r}: expected one of {', '.join(CONSTRAINTS)}")
        if kind in self.constraints:
            raise IllegalTransition(f"constraint {kind}", "declare", "already declared")
        self._declare(environment=self.environment, kind=kind, reason=reason, by=by,
                      occurred_at=at)

    @event("ConstraintDeclared", topic=topics.GO_LIVE_GATE_CONSTRAINT_DECLARED)
    def _declare(self, environment: str, kind: str, reason: str, by: str,
                 occurred_at: datetime) -> None:
        self.constraints[kind] = {"reason": reason, "declared_at": occurred_at}

    def lift_constraint(self, kind: str, reason: str, by: str, at: datetime,
                        policy: OperationsPolicy) -> datetime:
        """The constraint is over: waived checks need remote evidence within the grace."""
        if kind not in self.constraints:
            raise IllegalTransition(f"constraint {kind}", "lift", "not declared")
        waived = [s["check"] for s in check_states(self.evidence, self.constraints, at, None,
                                                   policy) if s["state"] == "waived"]
        due = at + timedelta(hours=policy.gate.constraint_grace_hours)
        self._lift(environment=self.environment, kind=kind, reason=reason, by=by,
                   occurred_at=at, due_at=due, waived=waived)
        return due

    @event("ConstraintLifted", topic=topics.GO_LIVE_GATE_CONSTRAINT_LIFTED)
    def _lift(self, environment: str, kind: str, reason: str, by: str, occurred_at: datetime,
              due_at: datetime, waived: list[str]) -> None:
        del self.constraints[kind]
        self.grace[kind] = {"due_at": due_at, "waived": waived, "status": "pending"}

    def settle_grace(self, kind: str, now: datetime) -> bool:
        """At the grace deadline: breach unless remote evidence replaced every waived check;
        recorded once, at the deadline's time. False if not due or already settled."""
        grace = self.grace.get(kind)
        if grace is None or grace["status"] != "pending" or grace["due_at"] > now:
            return False
        due = grace["due_at"]
        unreplaced = [c for c in grace["waived"]
                      if not (c in self.evidence and self.evidence[c]["result"] == "pass"
                              and self.evidence[c]["details"].get("source") == "remote_ci"
                              and self.evidence[c]["at"] <= due)]
        if unreplaced:
            self._breach(environment=self.environment, kind=kind, due_at=due,
                         occurred_at=due, checks=unreplaced)
        else:
            self._grace_met(environment=self.environment, kind=kind, due_at=due,
                            occurred_at=due)
        return True

    @event("ComplianceBreached", topic=topics.GO_LIVE_GATE_COMPLIANCE_BREACHED)
    def _breach(self, environment: str, kind: str, due_at: datetime, occurred_at: datetime,
                checks: list[str]) -> None:
        self.grace[kind]["status"] = "breached"

    @event("GraceMet", topic=topics.GO_LIVE_GATE_GRACE_MET)
    def _grace_met(self, environment: str, kind: str, due_at: datetime,
                   occurred_at: datetime) -> None:
        self.grace[kind]["status"] = "met"

    def assign_owners(self, primary: str, secondary: str, by: str, at: datetime) -> None:
        """Policy §7: primary owner and the secondary (release operator on duty)."""
        if not primary.strip() or not secondary.strip():
            raise InvalidInput("both owners are needed")
        self._owners(environment=self.environment, primary_owner=primary,
                     secondary_owner=secondary, by=by, occurred_at=at)

    @event("OwnersAssigned", topic=topics.GO_LIVE_GATE_OWNERS_ASSIGNED)
    def _owners(self, environment: str, primary_owner: str, secondary_owner: str, by: str,
                occurred_at: datetime) -> None:
        self.primary_owner = primary_owner
        self.secondary_owner = secondary_owner
