"""``opsledger record publish|visibility``: facts one at a time."""

from __future__ import annotations

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    required_time,
    run_command,
    safe,
)

__all__ = ["record"]


@click.group()
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
@click.option("--error-code", type=LazyChoice("opsledger.services.records:ERROR_CODES"))
@click.option("--status", type=int)
@click.option("--request-id")
@click.option("--operation-id")
@json_option
@run_command
def record_publish(
    db: str | None, tenant: str, repo: str, key: str | None, payload_hash: str, outcome: str,
    latency_ms: int, attempts: int, at: str, error_code: str | None, status: int | None,
    request_id: str | None, operation_id: str | None, as_json: bool,
) -> None:
    """Record one publish operation."""
    from opsledger import PublishRecord

    occurred_at = required_time(at, "--at")
    rec = PublishRecord.create(
        tenant_id=tenant, repository_id=repo, idempotency_key=key, payload_hash=payload_hash,
        outcome=outcome, latency_ms=latency_ms, attempts=attempts, occurred_at=occurred_at,
        error_code=error_code, status=status, request_id=request_id, operation_id=operation_id,
    )
    with open_ops(db) as ops:
        result = ops.record_publish(rec, by="cli")
    if as_json:
        emit_json(result)
    else:
        kind = "collision" if result.collision else "retry" if result.retry else "first"
        console.print(f"{safe(result.status)} {safe(result.operation_id)} ({kind})")


@record.command("visibility")
@db_option
@click.option("--tenant", required=True)
@click.option("--repo", required=True)
@click.option("--key", required=True)
@click.option("--payload-hash", required=True)
@click.option("--at", required=True, help="when it became visible downstream")
@json_option
@run_command
def record_visibility(db: str | None, tenant: str, repo: str, key: str, payload_hash: str,
                      at: str, as_json: bool) -> None:
    """Record when an accepted payload became visible downstream."""
    visible_at = required_time(at, "--at")
    with open_ops(db) as ops:
        new = ops.record_visibility(tenant_id=tenant, repository_id=repo, idempotency_key=key,
                                    payload_hash=payload_hash, visible_at=visible_at)
    if as_json:
        emit_json({"recorded": bool(new)})
    else:
        console.print("recorded" if new else "already known: nothing recorded")
