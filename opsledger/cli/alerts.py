"""CLI for alerts: the history (``opsledger alerts``) and a live feed (``alerts watch``)."""

from __future__ import annotations

import time
from typing import Any

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
from opsledger.domain.alert import RULES

__all__ = ["alerts_group", "print_alerts"]


def print_alerts(rows: list[dict[str, Any]]) -> None:
    """The alert table, level in colour, open alerts in bold."""
    table = Table("triggered_at", "tenant", "rule", "level", "observed", "threshold",
                  "resolved_at", "flags")
    for r in rows:
        colour = {"critical": "red", "high": "yellow"}.get(r["level"], "cyan")
        table.add_row(safe(r["triggered_at"]), safe(r["tenant"]), safe(r["rule"]),
                      f"[{colour}]{safe(r['level'])}[/{colour}]",
                      "" if r["observed"] is None else f"{r['observed']:.4g}",
                      "" if r["threshold"] is None else f"{r['threshold']:.4g}",
                      safe(r["resolved_at"]) if r["resolved_at"] else "[bold]open[/bold]",
                      _flags(r))
    console.print(table)


def _flags(row: dict[str, Any]) -> str:
    """backfilled (found at …) / withdrawn: how late facts shaped this alert."""
    flags = []
    if row.get("backfilled"):
        flags.append(f"backfilled (found {row.get('found_at')})")
    if row.get("withdrawn"):
        flags.append(f"withdrawn ({row.get('resolution')})")
    return "; ".join(flags)


@click.group("alerts", invoke_without_command=True)
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True, help="operator scope: every tenant")
@click.option("--rule", type=click.Choice(sorted(RULES)))
@click.option("--open", "open_only", is_flag=True, help="only alerts not yet resolved")
@click.option("--from", "since")
@click.option("--to", "until")
@click.option("--as-of", "as_of", help="the alerts as they stood at this time")
@click.option("--withdrawn", "include_withdrawn", is_flag=True,
              help="also alerts that late facts showed never held (flagged withdrawn)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@run_command
def alerts_group(ctx: click.Context, db: str | None, tenant: str | None, all_tenants: bool,
                 rule: str | None, open_only: bool, since: str | None, until: str | None,
                 as_of: str | None, include_withdrawn: bool, as_json: bool) -> None:
    """The alert history (policy §4): every alert, open or resolved; alerts found by
    re-evaluating late facts are flagged backfilled."""
    if ctx.invoked_subcommand is not None:
        return
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        rows = ops.alerts(tenant_id=tenant, all_tenants=all_tenants, rule=rule,
                          open_only=open_only, since=parse_time(since, "--from"),
                          until=parse_time(until, "--to"), as_of=parse_time(as_of, "--as-of"),
                          include_withdrawn=include_withdrawn)
    if as_json:
        emit_json(rows)
    else:
        print_alerts(rows)


@alerts_group.command("watch")
@db_option
@click.option("--interval", type=float, default=5.0, show_default=True,
              help="seconds between sweeps")
@click.option("--count", type=int, default=0, help="stop after this many sweeps (0: never)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@run_command
def alerts_watch(db: str | None, interval: float, count: int, as_json: bool) -> None:
    """Print alert events as they are recorded (sweeping deadlines by the clock)."""
    import orjson

    with open_ops(db) as ops:
        def show(event: dict[str, Any]) -> None:
            if as_json:
                click.echo(orjson.dumps(event, default=str).decode())
            else:
                console.print(f"{safe(event['kind'])} {safe(event.get('tenant_id'))} "
                              f"{safe(event.get('rule'))} at {safe(event.get('occurred_at'))}")

        ops.subscribe(show)
        sweeps = 0
        while True:
            ops.advance()
            sweeps += 1
            if count and sweeps >= count:
                return
            time.sleep(interval)
