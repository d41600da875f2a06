"""CLI for the SLO views: ``slo``, ``import snapshots``, ``record visibility`` and the
deadline sweep ``scheduler run --once``."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import IO, Any

import click
from rich.table import Table

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    open_ops,
    parse_time,
    run_command,
    safe,
)
from opsledger.services.slo import Period

__all__ = ["print_slo_rows", "register"]


def _period(month: str | None, week: str | None, day: str | None, rolling: str | None,
            since: str | None, until: str | None, now: datetime) -> Period:
    chosen = [x for x in (month, week, day, rolling, since or until) if x]
    if len(chosen) > 1:
        raise click.UsageError("give one of --month, --week, --day, --rolling, --from/--to")
    if month:
        return Period.month(month)
    if week:
        return Period.week(week)
    if day:
        return Period.day(day)
    if rolling:
        return Period.rolling(rolling, now)
    if since or until:
        start, end = parse_time(since, "--from"), parse_time(until, "--to")
        if start is None or end is None:
            raise click.UsageError("--from and --to go together")
        return Period.between(start, end)
    return Period.month(now.strftime("%Y-%m"))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _met(value: bool | None) -> str:
    if value is None:
        return "[dim]-[/dim]"
    return "[green]met[/green]" if value else "[red]missed[/red]"


def print_slo_rows(rows: list[dict[str, Any]]) -> None:
    """The SLO table, met/missed in colour."""
    table = Table("tenant", "repository", "ops", "availability", "", "p95 ms", "",
                  "freshness", "", "isolation", "budget left")
    for r in rows:
        table.add_row(
            safe(r["tenant"] or "(all)"), safe(r["repository"] or "(total)"),
            str(r["operations"]),
            _fmt(r["availability"], 6), _met(r["availability_met"]), _fmt(r["latency_p95_ms"]),
            _met(r["latency_met"]), _fmt(r["freshness"]), _met(r["freshness_met"]),
            str(r["unresolved_critical_isolation_incidents"]), _fmt(r["error_budget_remaining"]),
        )
    if rows:
        console.print(f"period {rows[0]['period_start']} .. {rows[0]['period_end']} "
                      f"(as of {rows[0]['as_of']})")
    console.print(table)


@click.command("slo")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True, help="operator scope: every tenant")
@click.option("--repo")
@click.option("--month", help="calendar month, e.g. 2026-11 (default: this month)")
@click.option("--week", help="ISO week, e.g. 2026-W47")
@click.option("--day", help="UTC day, e.g. 2026-11-03")
@click.option("--rolling", help="the last N days, e.g. 30d")
@click.option("--from", "since")
@click.option("--to", "until")
@click.option("--now", "--as-of", "now", help="the state as it stood at this time (default: now)")
@click.option("--json", "as_json", is_flag=True)
@run_command
def slo_cmd(db: str | None, tenant: str | None, all_tenants: bool, repo: str | None,
            month: str | None, week: str | None, day: str | None, rolling: str | None,
            since: str | None, until: str | None, now: str | None, as_json: bool) -> None:
    """Availability, p95 latency, freshness, integrity and error budget (policy §2)."""
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        moment = parse_time(now, "--now") or ops.clock.now()
        period = _period(month, week, day, rolling, since, until, moment)
        rows = ops.slo(period, tenant_id=tenant, all_tenants=all_tenants, repository_id=repo,
                       now=moment)
    if as_json:
        emit_json(rows)
    else:
        print_slo_rows(rows)


@click.command("snapshots")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@db_option
@click.option("--strict", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@run_command
def import_snapshots_cmd(files: tuple[str, ...], db: str | None, strict: bool,
                         as_json: bool) -> None:
    """Import downstream-snapshot records (freshness); FILE may be - for stdin."""
    import sys

    with ExitStack() as stack, open_ops(db) as ops:
        sources: list[IO[bytes]] = [
            sys.stdin.buffer if p == "-" else stack.enter_context(open(p, "rb")) for p in files
        ]
        summary = ops.import_snapshots(
            sources, strict=strict, names=["<stdin>" if p == "-" else p for p in files])
    if as_json:
        emit_json(summary)
    else:
        console.print(f"lines {summary['lines']}  recorded {summary['recorded']}  duplicates "
                      f"{summary['duplicates']}  stale (deadline missed) {summary['missed']}  "
                      f"rejected {len(summary['rejected'])}")
        for item in summary["rejected"][:20]:
            console.print(f"  {safe(item['file'])}: line {item['line']}: "
                          f"{safe(item['error'])}")


@click.command("visibility")
@db_option
@click.option("--tenant", required=True)
@click.option("--repo", required=True)
@click.option("--key", required=True)
@click.option("--payload-hash", required=True)
@click.option("--at", required=True, help="when it became visible downstream")
@run_command
def record_visibility_cmd(db: str | None, tenant: str, repo: str, key: str, payload_hash: str,
                          at: str) -> None:
    """Record when an accepted payload became visible downstream."""
    visible_at = parse_time(at)
    assert visible_at is not None
    with open_ops(db) as ops:
        new = ops.record_visibility(tenant_id=tenant, repository_id=repo, idempotency_key=key,
                                    payload_hash=payload_hash, visible_at=visible_at)
    console.print("recorded" if new else "already known: nothing recorded")


@click.group("scheduler")
def scheduler_group() -> None:
    """Record deadlines as they fall due."""


def register(main: click.Group, import_group: click.Group, record: click.Group) -> None:
    """Attach the SLO and alert commands to the CLI."""
    from opsledger.cli.alerts import alerts_group
    from opsledger.cli.gate import gate_group
    from opsledger.cli.incidents import register as register_incidents
    from opsledger.cli.review import review_group

    main.add_command(gate_group)
    main.add_command(review_group)
    main.add_command(alerts_group)
    main.add_command(slo_cmd)
    main.add_command(scheduler_group)
    register_incidents(main, scheduler_group)
    import_group.add_command(import_snapshots_cmd)
    record.add_command(record_visibility_cmd)
