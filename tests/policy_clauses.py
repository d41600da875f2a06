"""The clause ids tests may cite with ``@pytest.mark.policy`` (from shared/policy-clauses.md)."""

POLICY_CLAUSES = frozenset({
    "1.saas_only", "1.local_authoritative",
    "2.availability", "2.latency", "2.freshness", "2.integrity",
    "3.SEV1.ack", "3.SEV1.mitigation", "3.SEV1.status_updates", "3.SEV1.rca",
    "3.SEV2.ack", "3.SEV2.mitigation", "3.SEV2.rca", "3.SEV3.ack", "3.SEV3.fix_scheduled",
    "4.critical.no_successful_ingestion", "4.critical.tenant_boundary_violation",
    "4.high.publish_error_rate", "4.high.auth_scope_failures",
    "4.high.idempotency_collision_rate", "4.medium.publish_latency_p95",
    "4.medium.freshness_under_target",
    "5.scoping", "5.auth_validation", "5.idempotency_key", "5.audit_trail",
    "5.retention_privacy",
    "6.saas_ingestion_tests", "6.typecheck", "6.token_rotation", "6.oncall_escalation",
    "6.rollback_to_local",
    "7.owners", "7.weekly_review", "7.monthly_review",
    "8.current_constraint",
})
