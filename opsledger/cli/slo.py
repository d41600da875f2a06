"""``opsledger slo``: availability, p95 latency, freshness, integrity and error budget."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    fmt_ms,
    fmt_percent,
    fmt_time,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    to_jsonable,
    usage_of,
)

if TYPE_CHECKING:
    from opsledger import Period

__all__ = ["print_slo_rows", "slo_cmd"]


def period_of(month: str | None, week: str | None, day: str | None, rolling: str | None,
              since: str | None, until: str | None, now: datetime) -> Period:
    """The period chosen by exactly one of the period options (default: ``now``'s month);
    a malformed or empty one is a usage error naming the option."""
    from opsledger import Period

    chosen = [x for x in (month, week, day, rolling, since or until) if x]
    if len(chosen) > 1:
        raise click.UsageError("give one of --month, --week, --day, --rolling, --from/--to")
    if since or until:
        start, end = parse_time(since, "--from"), parse_time(until, "--to")
        if start is None or end is None:
            raise click.UsageError("--from and --to go together")
        if start >= end:
            raise click.BadParameter("--from must be earlier than --to", param_hint="--from")
        with usage_of("--from/--to"):
            return Period.between(start, end)
    for hint, value, make in (("--month", month, Period.month), ("--week", week, Period.week),
                              ("--day", day, Period.day)):
        if value:
            with usage_of(hint):
                return make(value)
    if rolling:
        with usage_of("--rolling"):
            return Period.rolling(rolling, now)
    return Period.month(now.strftime("%Y-%m"))


def _met(value: bool | None) -> str:
    if value is None:
        return "[dim]-[/dim]"
    return "[green]met[/green]" if value else "[red]missed[/red]"


def print_slo_rows(rows: list[Any]) -> None:
    """The SLO table, met/missed in colour, every column under a header."""
    from rich.table import Table

    table = Table("tenant", "mode", "repository", "ops", "availability", "availability SLO",
                  "p95 latency", "latency SLO", "freshness", "freshness SLO",
                  "open isolation", "budget left")
    for r in rows:
        table.add_row(
            safe(r["tenant"] or "(all)"), safe(r.get("tenant_mode") or "-"),
            safe(r["repository"] or "(total)"),
            str(r["operations"]), fmt_percent(r["availability"], 3),
            _met(r["availability_met"]), fmt_ms(r["latency_p95_ms"]), _met(r["latency_met"]),
            fmt_percent(r["freshness"]), _met(r["freshness_met"]),
            str(r["unresolved_critical_isolation_incidents"]),
            fmt_percent(r["error_budget_remaining"], 1),
        )
    if rows:
        first = rows[0]
        console.print(f"period {_time(first['period_start'])} .. {_time(first['period_end'])} "
                      f"(as of {_time(first['as_of'])})")
        if any(r.get("tenant_mode") == "local_only" for r in rows):
            console.print("[yellow]a local_only tenant's publishes count in no SLO (policy §1): "
                          "its report stays empty until it is switched to saas[/yellow]")
    console.print(table)


def _time(value: Any) -> str:
    return fmt_time(value) if isinstance(value, datetime) else safe(value)


@click.command("slo")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True, help="operator scope: every tenant")
@click.option("--repo")
@click.option("--month", help="calendar month, e.g. 2026-11 (default: this month)")
@click.option("--week", help="ISO week, e.g. 2026-W47")
@click.option("--day", help="UTC day, e.g. 2026-11-03")
@click.option("--rolling", help="the last N days, e.g. 30d")
@click.option("--from", "since", help="period start (time, or date: midnight UTC)")
@click.option("--to", "until", help="period end (time, or date: midnight UTC)")
@click.option("--as-of", "as_of", help="the state as it stood at this time (default: now)")
@click.option("--now", "as_of", hidden=True, help="old name of --as-of")
@json_option
@run_command
def slo_cmd(db: str | None, tenant: str | None, all_tenants: bool, repo: str | None,
            month: str | None, week: str | None, day: str | None, rolling: str | None,
            since: str | None, until: str | None, as_of: str | None, as_json: bool) -> None:
    """Availability, p95 latency, freshness, integrity and error budget (policy §2)."""
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    moment = parse_time(as_of, "--as-of")
    with open_ops(db) as ops:
        moment = moment or ops.clock.now()
        period = period_of(month, week, day, rolling, since, until, moment)
        rows = ops.slo(period, tenant_id=tenant, all_tenants=all_tenants, repository_id=repo,
                       now=moment)
    if as_json:
        emit_json(rows)
    else:
        print_slo_rows(to_jsonable(rows))
