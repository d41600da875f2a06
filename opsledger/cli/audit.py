"""``opsledger audit list|summary|refusals|actions|export``: the audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    emit_json_stream,
    existing_folder,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    table,
)

if TYPE_CHECKING:
    from opsledger import AuditQuery

__all__ = ["audit"]


def _query_options(func: Any) -> Any:
    for decorator in reversed([
        db_option,
        click.option("--tenant"),
        click.option("--all-tenants", is_flag=True, help="operator scope: every tenant"),
        click.option("--repo"),
        click.option("--from", "since", help="from this time (or date) on"),
        click.option("--to", "until", help="before this time (or date)"),
        click.option("--outcome", type=click.Choice(["success", "error"])),
        click.option("--error-code"),
        click.option("--key"),
        click.option("--limit", type=click.IntRange(min=1, max=2**63 - 1)),
        json_option,
    ]):
        func = decorator(func)
    return func


def _query(kw: dict[str, Any]) -> AuditQuery:
    from opsledger import AuditQuery

    if not kw["tenant"] and not kw["all_tenants"]:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    since, until = parse_time(kw["since"], "--from"), parse_time(kw["until"], "--to")
    if since is not None and until is not None and since > until:
        raise click.BadParameter("--from is later than --to", param_hint="--from")
    return AuditQuery(
        tenant_id=kw["tenant"], all_tenants=kw["all_tenants"], repository_id=kw["repo"],
        since=since, until=until, outcome=kw["outcome"], error_code=kw["error_code"],
        idempotency_key=kw["key"], limit=kw["limit"],
    )


@click.group()
def audit() -> None:
    """The audit trail: publish attempts and outcomes, refusals, operator actions."""


@audit.command("list")
@_query_options
@run_command
def audit_list(**kw: Any) -> None:
    """Publish operations in scope, in business-time order."""
    with open_ops(kw["db"]) as ops:  # the store first: a bad --db is the first thing said
        rows = ops.audit_stream(_query(kw))  # read as printed: memory flat in the rows
        if kw["as_json"]:
            emit_json_stream(rows)
        else:
            table(rows, ["occurred_at", "tenant_id", "repository_id", "idempotency_key",
                         "outcome", "error_code", "attempts", "latency_ms", "collision"])


@audit.command("summary")
@_query_options
@run_command
def audit_summary(**kw: Any) -> None:
    """Counts per tenant, outcome and error code."""
    with open_ops(kw["db"]) as ops:
        query = _query(kw)
        rows = ops.audit_summary(query)
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["tenant_id", "outcome", "error_code", "operations", "collisions",
                     "key_missing", "first_at", "last_at"])


@audit.command("refusals")
@_query_options
@run_command
def audit_refusals(**kw: Any) -> None:
    """Refused commands (scope violations) with their reasons."""
    with open_ops(kw["db"]) as ops:
        query = _query(kw)
        rows = ops.audit_refusals(query)
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["occurred_at", "tenant_id", "repository_id", "reason", "subject_id"])


@audit.command("actions")
@_query_options
@run_command
def audit_actions(**kw: Any) -> None:
    """Operator actions with their actors."""
    with open_ops(kw["db"]) as ops:
        query = _query(kw)
        rows = ops.audit_actions(query)
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["occurred_at", "tenant_id", "action", "actor", "details"])


@audit.command("export")
@db_option
@click.option("--tenant", required=True)
@click.option("--from", "since", help="from this time (or date) on")
@click.option("--to", "until", help="before this time (or date)")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]), default="csv")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder)
@json_option
@run_command
def audit_export(db: str | None, tenant: str, since: str | None, until: str | None, fmt: str,
                 out: Path, as_json: bool) -> None:
    """Compliance export of one tenant (privacy switches applied); prints the row count."""
    from opsledger.reports.outputs import open_private

    start, end = parse_time(since, "--from"), parse_time(until, "--to")
    if start is not None and end is not None and start > end:
        raise click.BadParameter("--from is later than --to", param_hint="--from")
    with open_ops(db) as ops:
        rows = ops.export_stream(tenant, start, end)
        with open_private(out) as handle:  # written as read: memory flat in the rows
            for chunk in rows.chunks(fmt):  # the views' rows straight to bytes
                handle.write(chunk)
        count = rows.rows
    if as_json:
        emit_json({"rows": count, "out": str(out), "format": fmt})
    else:
        console.print(f"{count} rows written to {safe(out)}")
