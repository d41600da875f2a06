"""``opsledger tenant …``: register tenants, their scope, governance and mode (``tenant
forget`` lives with retention in :mod:`opsledger.cli.compliance`)."""

from __future__ import annotations

from typing import Any

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    emit_json,
    fmt_time,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    table,
    value_of,
)

__all__ = ["tenant"]

_MODES = LazyChoice("opsledger.domain.tenant:Mode")


@click.group()
def tenant() -> None:
    """Register tenants and manage their scope, governance and mode."""


def _print_tenant(state: Any, as_json: bool) -> None:
    if as_json:
        emit_json(state)
        return
    gov = state.governance
    imported = " (observed in imported history)" if state.observed_in_import else ""
    console.print(
        f"[bold]{safe(state.tenant_id)}[/bold] mode={safe(state.mode)} "
        f"repositories={safe(', '.join(state.repositories) or '-')}\n"
        f"  retention: {_kv(gov.retention) if gov else 'MISSING (records refused)'}\n"
        f"  privacy:   {_kv(gov.privacy) if gov else '-'}\n"
        f"  token owner: {safe(state.token_rotation_owner or '-')}\n"
        f"  registered {fmt_time(state.registered_at)}{imported}"
    )


def _kv(model: Any) -> str:
    """A settings model as ``key=value`` pairs."""
    from opsledger.serialize import to_jsonable

    return safe(" ".join(f"{k}={v}" for k, v in to_jsonable(model).items()))


def _write_options(func: Any) -> Any:
    for option in reversed([db_option, click.option("--by", default="cli"),
                            click.option("--at", help="business time of the change "
                                         "(default now)"), json_option]):
        func = option(func)
    return func


@tenant.command("add")
@click.argument("tenant_id")
@click.option("--repo", "repos", multiple=True, help="repository in scope (repeatable)")
@click.option("--name")
@click.option("--mode", type=_MODES, default="local_only", show_default=True)
@click.option("--audit-days", type=click.IntRange(min=1, max=36500),
              help="retention of audit rows (days)")
@click.option("--metrics-days", type=click.IntRange(min=1, max=36500))
@click.option("--contracts-days", type=click.IntRange(min=1, max=36500))
@click.option("--default-retention", is_flag=True, help="use the policy's retention defaults")
@click.option("--token-owner", help="who rotates the tenant's tokens (needed for SaaS mode)")
@click.option("--redact-tenant", is_flag=True)
@click.option("--redact-repository", is_flag=True)
@click.option("--hash-payload-hashes", is_flag=True)
@_write_options
@run_command
def tenant_add(
    tenant_id: str, db: str | None, repos: tuple[str, ...], name: str | None, mode: str,
    audit_days: int | None, metrics_days: int | None, contracts_days: int | None,
    default_retention: bool, token_owner: str | None, redact_tenant: bool,
    redact_repository: bool, hash_payload_hashes: bool, by: str, at: str | None, as_json: bool,
) -> None:
    """Register a tenant. Without a retention policy it cannot receive publish records."""
    from opsledger import Governance, Mode, PrivacySettings, RetentionPolicy

    when = parse_time(at)
    with open_ops(db) as ops:
        governance = None
        if default_retention or any(v is not None for v in (audit_days, metrics_days,
                                                               contracts_days)):
            defaults = ops.policy_at(when).retention
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
            mode=Mode(mode), token_rotation_owner=token_owner, at=when,
        )
    _print_tenant(state, as_json)


@tenant.command("show")
@click.argument("tenant_id")
@db_option
@click.option("--as-of", "as_of", help="the tenant as it stood at this time")
@json_option
@run_command
def tenant_show(tenant_id: str, db: str | None, as_of: str | None, as_json: bool) -> None:
    """Show one tenant."""
    moment = parse_time(as_of, "--as-of")
    with open_ops(db) as ops:
        _print_tenant(ops.tenant(tenant_id, as_of=moment), as_json)


@tenant.command("list")
@db_option
@json_option
@run_command
def tenant_list(db: str | None, as_json: bool) -> None:
    """List every tenant."""
    with open_ops(db) as ops:
        states = ops.tenants()
    if as_json:
        emit_json(states)
        return
    table(({"tenant": s.tenant_id, "mode": s.mode, "repositories": ", ".join(s.repositories),
            "retention": "set" if s.governance else "missing",
            "registered_at": s.registered_at} for s in states),
          ["tenant", "mode", "repositories", "retention", "registered_at"])


@tenant.command("add-repo")
@click.argument("tenant_id")
@click.argument("repository_id")
@_write_options
@run_command
def tenant_add_repo(tenant_id: str, repository_id: str, db: str | None, by: str,
                    at: str | None, as_json: bool) -> None:
    """Bring a repository into a tenant's scope."""
    when = parse_time(at)
    with open_ops(db) as ops:
        _print_tenant(ops.add_repository(tenant_id, repository_id, by=by, at=when), as_json)


@tenant.command("remove-repo")
@click.argument("tenant_id")
@click.argument("repository_id")
@_write_options
@run_command
def tenant_remove_repo(tenant_id: str, repository_id: str, db: str | None, by: str,
                       at: str | None, as_json: bool) -> None:
    """Take a repository out of a tenant's scope."""
    when = parse_time(at)
    with open_ops(db) as ops:
        _print_tenant(ops.remove_repository(tenant_id, repository_id, by=by, at=when),
                      as_json)


@tenant.command("mode")
@click.argument("tenant_id")
@click.argument("mode", type=_MODES)
@click.option("--reason", required=True)
@_write_options
@run_command
def tenant_mode(tenant_id: str, mode: str, db: str | None, reason: str, by: str,
                at: str | None, as_json: bool) -> None:
    """Switch a tenant to SaaS (needs the active gate and a token owner) or local-only."""
    from opsledger import Mode

    when = parse_time(at)
    with open_ops(db) as ops:
        _print_tenant(ops.set_tenant_mode(tenant_id, Mode(mode), reason=reason, by=by,
                                          at=when), as_json)


@tenant.command("token-owner")
@click.argument("tenant_id")
@click.argument("owner")
@_write_options
@run_command
def tenant_token_owner(tenant_id: str, owner: str, db: str | None, by: str,
                       at: str | None, as_json: bool) -> None:
    """Name the tenant's token-rotation owner (policy §6)."""
    when = parse_time(at)
    with open_ops(db) as ops:
        _print_tenant(ops.assign_token_rotation_owner(tenant_id, owner, by=by, at=when),
                      as_json)


@tenant.command("confirm-violation")
@click.argument("tenant_id")
@click.option("--evidence", required=True)
@click.option("--repo")
@_write_options
@run_command
def tenant_confirm_violation(tenant_id: str, db: str | None, evidence: str, repo: str | None,
                             by: str, at: str | None, as_json: bool) -> None:
    """Record a confirmed tenant boundary violation (policy §4 critical)."""
    when = parse_time(at)
    with open_ops(db) as ops:
        violation = ops.confirm_boundary_violation(
            tenant_id, evidence=evidence, by=by, repository_id=repo, at=when)
    result = {"violation_id": violation} if isinstance(violation, str) else violation
    if as_json:
        emit_json(result)
    else:
        console.print(safe(value_of(result, "violation_id", violation)))
