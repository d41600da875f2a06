"""``opsledger retention apply`` and ``opsledger tenant forget`` (policy §5)."""

from __future__ import annotations

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    open_ops,
    parse_time,
    run_command,
    safe,
)

__all__ = ["retention_group", "tenant_forget"]


@click.group("retention")
def retention_group() -> None:
    """Apply each tenant's retention policy to the views and exports."""


@retention_group.command("apply")
@db_option
@click.option("--tenant", help="only this tenant (default: every tenant)")
@click.option("--by", default="operator", show_default=True, help="who applies it (audited)")
@click.option("--at", help="business time of the run (default now)")
@click.option("--dry-run", is_flag=True, help="report what would be removed; change nothing")
@click.option("--json", "as_json", is_flag=True)
@run_command
def retention_apply(db: str | None, tenant: str | None, by: str, at: str | None,
                    dry_run: bool, as_json: bool) -> None:
    """Remove rows past each tenant's audit/metrics TTL; report what was removed."""
    when = parse_time(at)
    with open_ops(db) as ops:
        reports = ops.apply_retention(by=by, dry_run=dry_run, tenant_id=tenant, at=when)
    if as_json:
        emit_json({"dry_run": dry_run, "tenants": [r.to_dict() for r in reports]})
        return
    from rich.table import Table

    table = Table("tenant", "audit before", "metrics before", "removed", "recorded",
                  title="retention (dry run)" if dry_run else "retention")
    for r in reports:
        detail = ", ".join(f"{k} {v}" for k, v in r.removed.items() if v) or "nothing"
        table.add_row(safe(r.tenant_id), safe(r.audit_before), safe(r.metrics_before), detail,
                      "yes" if r.recorded else "no")
    console.print(table)


@click.command("forget")
@click.argument("tenant_id")
@db_option
@click.option("--yes", is_flag=True, help="confirm: the tenant's history becomes unreadable")
@click.option("--by", default="operator", show_default=True, help="who forgets it (audited)")
@click.option("--reason", default="erasure request", show_default=True)
@click.option("--at", help="business time of the erasure (default now)")
@click.option("--json", "as_json", is_flag=True)
@run_command
def tenant_forget(tenant_id: str, db: str | None, yes: bool, by: str, reason: str,
                  at: str | None, as_json: bool) -> None:
    """Crypto-shred a tenant: delete its key, purge its views; irreversible."""
    if not yes:
        raise click.UsageError(f"forgetting {tenant_id!r} cannot be undone: pass --yes")
    when = parse_time(at)
    with open_ops(db) as ops:
        report = ops.forget_tenant(tenant_id, by=by, reason=reason, at=when)
    if as_json:
        emit_json(report.to_dict())
        return
    console.print(f"tenant {safe(tenant_id)} forgotten at {safe(report.forgotten_at)}: key "
                  f"{'deleted' if report.key_deleted else 'already gone'}, "
                  f"{sum(report.purged.values())} view rows purged")

