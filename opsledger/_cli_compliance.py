"""``opsledger retention apply`` and ``opsledger tenant forget`` (policy §5)."""

from __future__ import annotations

import click
from rich.table import Table

from opsledger._cli_common import console, db_option, emit_json, open_ops, parse_time, run_command

__all__ = ["register"]


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
    with open_ops(db) as ops:
        reports = ops.apply_retention(by=by, dry_run=dry_run, tenant_id=tenant,
                                      at=parse_time(at))
    if as_json:
        emit_json({"dry_run": dry_run, "tenants": [r.to_dict() for r in reports]})
        return
    table = Table("tenant", "audit before", "metrics before", "removed", "recorded",
                  title="retention (dry run)" if dry_run else "retention")
    for r in reports:
        detail = ", ".join(f"{k} {v}" for k, v in r.removed.items() if v) or "nothing"
        table.add_row(r.tenant_id, r.audit_before, r.metrics_before, detail,
                      "yes" if r.recorded else "no")
    console.print(table)


def register(main: click.Group) -> None:
    """Attach the retention group to the CLI."""
    main.add_command(retention_group)
