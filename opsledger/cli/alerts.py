"""CLI for alerts: the history (``opsledger alerts``) and a live feed (``alerts watch``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    fmt_ms,
    fmt_number,
    fmt_percent,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    text,
    to_jsonable,
    value_of,
)

__all__ = ["alerts_group", "fmt_observed", "print_alerts"]

#: How each rule's observed value and threshold read: a ratio, milliseconds, minutes, a count
#: or a burn rate.
_UNITS: dict[str, Callable[[float], str]] = {
    "publish_error_rate": fmt_percent,
    "idempotency_collision_rate": fmt_percent,
    "freshness_under_target": fmt_percent,
    "publish_latency_p95": fmt_ms,
    "no_successful_ingestion": lambda v: f"{fmt_number(v, 1)} min",
    "availability_burn_page": lambda v: f"{fmt_number(v, 1)} x",
    "availability_burn_ticket": lambda v: f"{fmt_number(v, 1)} x",
}


def fmt_observed(rule: str, value: float | None) -> str:
    """An alert's observed value or threshold in the rule's unit (``10790 ms``, ``8.33 %``)."""
    if value is None:
        return ""
    return _UNITS.get(rule, fmt_number)(value)


def print_alerts(rows: list[Any]) -> None:
    """The alert table, level in colour, open alerts in bold."""
    from rich.table import Table

    table = Table("triggered_at", "tenant", "rule", "level", "observed", "threshold",
                  "resolved_at", "flags")
    for r in rows:
        colour = {"critical": "red", "high": "yellow"}.get(r["level"], "cyan")
        table.add_row(safe(r["triggered_at"]), safe(r["tenant"]), safe(r["rule"]),
                      f"[{colour}]{safe(r['level'])}[/{colour}]",
                      fmt_observed(r["rule"], r["observed"]),
                      fmt_observed(r["rule"], r["threshold"]),
                      safe(r["resolved_at"]) if r["resolved_at"] else "[bold]open[/bold]",
                      _flags(r))
    console.print(table)


def _flags(row: Any) -> str:
    """backfilled (found at …) / withdrawn: how late facts shaped this alert."""
    flags = []
    if value_of(row, "backfilled"):
        flags.append(f"backfilled (found {text(value_of(row, 'found_at'))})")
    if value_of(row, "withdrawn"):
        flags.append(f"withdrawn ({value_of(row, 'resolution')})")
    return safe("; ".join(flags))


@click.group("alerts", invoke_without_command=True)
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True, help="operator scope: every tenant")
@click.option("--rule", type=LazyChoice("opsledger.domain.alert:RULES", sort=True))
@click.option("--open", "open_only", is_flag=True, help="only alerts not yet resolved")
@click.option("--from", "since", help="triggered from this time (or date) on")
@click.option("--to", "until", help="triggered before this time (or date)")
@click.option("--as-of", "as_of", help="the alerts as they stood at this time")
@click.option("--withdrawn", "include_withdrawn", is_flag=True,
              help="also alerts that late facts showed never held (flagged withdrawn)")
@json_option
@click.pass_context
@run_command
def alerts_group(ctx: click.Context, db: str | None, tenant: str | None, all_tenants: bool,
                 rule: str | None, open_only: bool, since: str | None, until: str | None,
                 as_of: str | None, include_withdrawn: bool, as_json: bool) -> None:
    """The alert history (policy §4): every alert, open or resolved; alerts found by
    re-evaluating late facts are flagged backfilled."""
    from opsledger.cli.common import emit_json

    if ctx.invoked_subcommand is not None:
        return
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    start, end = parse_time(since, "--from"), parse_time(until, "--to")
    if start is not None and end is not None and start > end:
        raise click.BadParameter("--from is later than --to", param_hint="--from")
    moment = parse_time(as_of, "--as-of")
    with open_ops(db) as ops:
        rows = ops.alerts(tenant_id=tenant, all_tenants=all_tenants, rule=rule,
                          open_only=open_only, since=start, until=end, as_of=moment,
                          include_withdrawn=include_withdrawn)
    if as_json:
        emit_json(rows)
    else:
        print_alerts(to_jsonable(rows))


@alerts_group.command("watch")
@db_option
@click.option("--interval", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="seconds between sweeps")
@click.option("--count", type=click.IntRange(min=0), default=0,
              help="stop after this many sweeps (0: never)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@run_command
def alerts_watch(db: str | None, interval: float, count: int, as_json: bool) -> None:
    """Print alert events as they are recorded (sweeping deadlines by the clock)."""
    import orjson

    from opsledger.serialize import to_jsonable

    with open_ops(db) as ops:
        def show(event: Any) -> None:
            if as_json:
                click.echo(orjson.dumps(to_jsonable(event), option=orjson.OPT_SORT_KEYS)
                           .decode())
            else:
                console.print(f"{text(value_of(event, 'occurred_at'))}  "
                              f"{safe(value_of(event, 'kind'))} "
                              f"{safe(value_of(event, 'tenant_id'))} "
                              f"{safe(value_of(event, 'rule'))}")

        ops.subscribe(show)
        sweeps = 0
        while True:
            ops.advance()
            sweeps += 1
            if count and sweeps >= count:
                return
            time.sleep(interval)
