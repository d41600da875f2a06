"""The ``opsledger`` command line. Only this layer reads the environment (OPSLEDGER_DB)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from opsledger.application import TenantState
from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    open_ops,
    parse_time,
    run_command,
    safe,
)
from opsledger.cli.compliance import register as register_compliance
from opsledger.cli.data import audit, import_group, simulate_cmd
from opsledger.cli.demo import demo
from opsledger.cli.integrity import checkpoint, verify
from opsledger.cli.projections import doctor, projections
from opsledger.cli.slo import register as register_slo
from opsledger.domain.governance import Governance, PrivacySettings, RetentionPolicy
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.tenant import Mode
from opsledger.services.records import ERROR_CODES, PublishRecord

__all__ = ["main"]


@click.group()
@click.version_option(package_name="opsledger")
def main() -> None:
    """opsledger — run the SaaS Production Operations Policy on an event-sourced ledger."""


main.add_command(import_group)
main.add_command(audit)
main.add_command(simulate_cmd)
main.add_command(demo)
main.add_command(projections)
main.add_command(verify)
main.add_command(checkpoint)
main.add_command(doctor)


# ---- policy ---------------------------------------------------------------------------
@main.group()
def policy() -> None:
    """Show, validate and adopt the operations policy."""


@policy.command("show")
@db_option
@click.option("--at", "at", help="the policy in force at this business time (default now)")
@click.option("--json", "as_json", is_flag=True)
@run_command
def policy_show(db: str | None, at: str | None, as_json: bool) -> None:
    """Print the policy in force (every number of the policy, with its field name)."""
    with open_ops(db) as ops:
        current = ops.policy_at(parse_time(at))
    if as_json:
        emit_json(current.model_dump(mode="json"))
    else:
        click.echo(current.to_toml())


@policy.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@run_command
def policy_validate(file: Path) -> None:
    """Check a policy TOML file; names the key, the value and why on failure."""
    OperationsPolicy.from_toml(file)
    console.print(f"{safe(file)}: valid")


@policy.command("adopt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@click.option("--by", required=True)
@click.option("--reason", required=True)
@click.option("--effective-at", help="business time from which it applies (default now)")
@click.option("--at", help="when the decision was recorded (default now)")
@run_command
def policy_adopt(
    file: Path, db: str | None, by: str, reason: str, effective_at: str | None, at: str | None
) -> None:
    """Adopt a policy file (a threshold-tuning decision is an event)."""
    candidate = OperationsPolicy.from_toml(file)
    with open_ops(db) as ops:
        changed = ops.adopt_policy(
            candidate, by=by, reason=reason,
            effective_at=parse_time(effective_at, "--effective-at"), at=parse_time(at),
        )
    console.print("adopted" if changed else "already in force: nothing recorded")


# ---- tenants --------------------------------------------------------------------------
@main.group()
def tenant() -> None:
    """Register tenants and manage their scope, governance and mode."""


def _print_tenant(state: TenantState, as_json: bool) -> None:
    if as_json:
        emit_json(state.__dict__)
        return
    gov = state.governance
    console.print(
        f"[bold]{safe(state.tenant_id)}[/bold] mode={safe(state.mode)} "
        f"repositories={safe(', '.join(state.repositories) or '-')}\n"
        f"  retention: {safe(gov.retention.model_dump()) if gov else 'MISSING (records refused)'}"
        f"\n  privacy:   {safe(gov.privacy.model_dump()) if gov else '-'}\n"
        f"  registered {state.registered_at.isoformat()}"
        f"{' (observed in imported history)' if state.observed_in_import else ''}"
    )


@tenant.command("add")
@click.argument("tenant_id")
@db_option
@click.option("--repo", "repos", multiple=True, help="repository in scope (repeatable)")
@click.option("--name")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.LOCAL_ONLY.value)
@click.option("--audit-days", type=int, help="retention of audit rows (days)")
@click.option("--metrics-days", type=int)
@click.option("--contracts-days", type=int)
@click.option("--default-retention", is_flag=True, help="use the policy's retention defaults")
@click.option("--token-owner", help="who rotates the tenant's tokens (needed for SaaS mode)")
@click.option("--redact-tenant", is_flag=True)
@click.option("--redact-repository", is_flag=True)
@click.option("--hash-payload-hashes", is_flag=True)
@click.option("--by", default="cli")
@click.option("--at")
@click.option("--json", "as_json", is_flag=True)
@run_command
def tenant_add(
    tenant_id: str, db: str | None, repos: tuple[str, ...], name: str | None, mode: str,
    audit_days: int | None, metrics_days: int | None, contracts_days: int | None,
    default_retention: bool, token_owner: str | None, redact_tenant: bool,
    redact_repository: bool, hash_payload_hashes: bool, by: str, at: str | None, as_json: bool,
) -> None:
    """Register a tenant. Without a retention policy it cannot receive publish records."""
    with open_ops(db) as ops:
        governance = None
        if default_retention or any(v is not None for v in (audit_days, metrics_days,
                                                               contracts_days)):
            defaults = ops.policy_at(parse_time(at)).retention
            retention = RetentionPolicy(
                audit_days=audit_days or defaults.audit_days,
                metrics_days=metrics_days or defaults.metrics_days,
                contracts_days=contracts_days or defaults.contracts_days,
            )
            privacy = PrivacySettings(
                redact_tenant_id=redact_tenant, redact_repository_id=redact_repository,
                hash_payload_hashes=hash_payload_hashes,
            )
            governance = Governance(retention=retention, privacy=privacy)
        state = ops.register_tenant(
            tenant_id, repositories=list(repos), governance=governance, by=by, name=name,
            mode=Mode(mode), token_rotation_owner=token_owner, at=parse_time(at),
        )
    _print_tenant(state, as_json)


@tenant.command("show")
@click.argument("tenant_id")
@db_option
@click.option("--as-of", "as_of", help="the tenant as it stood at this time")
@click.option("--json", "as_json", is_flag=True)
@run_command
def tenant_show(tenant_id: str, db: str | None, as_of: str | None, as_json: bool) -> None:
    """Show one tenant."""
    with open_ops(db) as ops:
        _print_tenant(ops.tenant(tenant_id, as_of=parse_time(as_of, "--as-of")), as_json)


@tenant.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True)
@run_command
def tenant_list(db: str | None, as_json: bool) -> None:
    """List every tenant."""
    with open_ops(db) as ops:
        states = ops.tenants()
    if as_json:
        emit_json([s.__dict__ for s in states])
        return
    table = Table("tenant", "mode", "repositories", "retention")
    for s in states:
        table.add_row(safe(s.tenant_id), safe(s.mode), safe(", ".join(s.repositories)),
                      "set" if s.governance else "[red]missing[/red]")
    console.print(table)


@tenant.command("add-repo")
@click.argument("tenant_id")
@click.argument("repository_id")
@db_option
@click.option("--by", default="cli")
@click.option("--at")
@run_command
def tenant_add_repo(tenant_id: str, repository_id: str, db: str | None, by: str,
                    at: str | None) -> None:
    """Bring a repository into a tenant's scope."""
    with open_ops(db) as ops:
        _print_tenant(ops.add_repository(tenant_id, repository_id, by=by, at=parse_time(at)),
                      False)


@tenant.command("remove-repo")
@click.argument("tenant_id")
@click.argument("repository_id")
@db_option
@click.option("--by", default="cli")
@click.option("--at")
@run_command
def tenant_remove_repo(tenant_id: str, repository_id: str, db: str | None, by: str,
                       at: str | None) -> None:
    """Take a repository out of a tenant's scope."""
    with open_ops(db) as ops:
        _print_tenant(ops.remove_repository(tenant_id, repository_id, by=by,
                                            at=parse_time(at)), False)


@tenant.command("mode")
@click.argument("tenant_id")
@click.argument("mode", type=click.Choice([m.value for m in Mode]))
@db_option
@click.option("--reason", required=True)
@click.option("--by", default="cli")
@click.option("--at")
@run_command
def tenant_mode(tenant_id: str, mode: str, db: str | None, reason: str, by: str,
                at: str | None) -> None:
    """Switch a tenant to SaaS (needs the active gate and a token owner) or local-only."""
    with open_ops(db) as ops:
        _print_tenant(ops.set_tenant_mode(tenant_id, Mode(mode), reason=reason, by=by,
                                          at=parse_time(at)), False)


@tenant.command("token-owner")
@click.argument("tenant_id")
@click.argument("owner")
@db_option
@click.option("--by", default="cli")
@click.option("--at")
@run_command
def tenant_token_owner(tenant_id: str, owner: str, db: str | None, by: str,
                       at: str | None) -> None:
    """Name the tenant's token-rotation owner (policy §6)."""
    with open_ops(db) as ops:
        _print_tenant(ops.assign_token_rotation_owner(tenant_id, owner, by=by,
                                                      at=parse_time(at)), False)


@tenant.command("confirm-violation")
@click.argument("tenant_id")
@db_option
@click.option("--evidence", required=True)
@click.option("--repo")
@click.option("--by", default="cli")
@click.option("--at")
@run_command
def tenant_confirm_violation(tenant_id: str, db: str | None, evidence: str, repo: str | None,
                             by: str, at: str | None) -> None:
    """Record a confirmed tenant boundary violation (policy §4 critical)."""
    with open_ops(db) as ops:
        violation = ops.confirm_boundary_violation(
            tenant_id, evidence=evidence, by=by, repository_id=repo, at=parse_time(at))
    console.print(safe(violation))


# ---- record ---------------------------------------------------------------------------
@main.group()
def record() -> None:
    """Record facts one at a time."""


@record.command("publish")
@db_option
@click.option("--tenant", required=True)
@click.option("--repo", required=True)
@click.option("--key", default=None, help="idempotency key (mandatory; policy §5)")
@click.option("--payload-hash", required=True)
@click.option("--outcome", type=click.Choice(["success", "error"]), required=True)
@click.option("--latency-ms", type=int, required=True)
@click.option("--attempts", type=int, required=True)
@click.option("--at", required=True, help="when the operation finished (ISO-8601 with offset)")
@click.option("--error-code", type=click.Choice(ERROR_CODES))
@click.option("--status", type=int)
@click.option("--request-id")
@click.option("--operation-id")
@click.option("--json", "as_json", is_flag=True)
@run_command
def record_publish(
    db: str | None, tenant: str, repo: str, key: str | None, payload_hash: str, outcome: str,
    latency_ms: int, attempts: int, at: str, error_code: str | None, status: int | None,
    request_id: str | None, operation_id: str | None, as_json: bool,
) -> None:
    """Record one publish operation."""
    rec = PublishRecord.create(
        tenant_id=tenant, repository_id=repo, idempotency_key=key, payload_hash=payload_hash,
        outcome=outcome, latency_ms=latency_ms, attempts=attempts, occurred_at=parse_time(at),
        error_code=error_code, status=status, request_id=request_id, operation_id=operation_id,
    )
    with open_ops(db) as ops:
        result = ops.record_publish(rec, by="cli")
    if as_json:
        emit_json(result.__dict__)
    else:
        kind = "collision" if result.collision else "retry" if result.retry else "first"
        console.print(f"{safe(result.status)} {safe(result.operation_id)} ({kind})")


register_slo(main, import_group, record)
register_compliance(main, tenant)

if __name__ == "__main__":
    main()
