"""CLI for alerts: the history (``opsledger alerts``), a live feed (``alerts watch``) and
operators' judgement (``alerts ack``, ``alerts judge``, ``alerts link``)."""

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
    table,
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
                  "resolved_at", "verdict", "flags")
    for r in rows:
        colour = {"critical": "red", "high": "yellow"}.get(r["level"], "cyan")
        table.add_row(safe(r["triggered_at"]), safe(r["tenant"]), safe(r["rule"]),
                      f"[{colour}]{safe(r['level'])}[/{colour}]",
                      fmt_observed(r["rule"], r["observed"]),
                      fmt_observed(r["rule"], r["threshold"]),
                      safe(r["resolved_at"]) if r["resolved_at"] else "[bold]open[/bold]",
                      _verdict(r), _flags(r))
    console.print(table)


def _verdict(row: Any) -> str:
    """actionable / noise as judged; unjudged, ``actionable (incident)`` when linked."""
    verdict = value_of(row, "verdict")
    if verdict:
        return safe(verdict)
    return "actionable (incident)" if value_of(row, "incident_id") else ""


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


def _show(alert: Any, as_json: bool) -> None:
    """One alert after an operator's command: JSON, or a line and its judgement."""
    from opsledger.cli.common import emit_json

    if as_json:
        emit_json(alert)
        return
    row = to_jsonable(alert)
    console.print(f"[bold]{safe(row['id'])}[/bold] {safe(row['tenant'])} {safe(row['rule'])} "
                  f"triggered {safe(row['triggered_at'])}")
    console.print(f"  acknowledged: {safe(row['acknowledged_at'] or '-')} "
                  f"by {safe(row['acknowledged_by'] or '-')}; verdict: "
                  f"{_verdict(row) or '-'}"
                  + (f" ({safe(row['verdict_reason'])})" if row["verdict_reason"] else "")
                  + (f" by {safe(row['judged_by'])}" if row["judged_by"] else "")
                  + f"; incident: {safe(row['incident_id'] or '-')}")


def _judgement_command(name: str, help_text: str, extra: list[Any],
                       action: Callable[[Any, str, dict[str, Any]], Any]) -> None:
    """``alerts NAME ALERT_ID`` with --by, --at, --json, plus ``extra`` arguments/options."""
    def command(alert_id: str, db: str | None, by: str, at: str | None, as_json: bool,
                **extra_values: Any) -> None:
        when = parse_time(at)
        with open_ops(db) as ops:
            _show(action(ops, alert_id, {"by": by, "at": when, **extra_values}), as_json)

    command.__doc__ = help_text
    decorated: Any = run_command(command)
    for option in reversed([click.argument("alert_id"), *extra, db_option,
                            click.option("--by", required=True),
                            click.option("--at", help="business time (default now)"),
                            json_option]):
        decorated = option(decorated)
    alerts_group.command(name)(decorated)


def _judge(ops: Any, alert_id: str, kw: dict[str, Any]) -> Any:
    if kw["actionable"] == kw["noise"]:
        raise click.UsageError("give one of --actionable or --noise")
    return ops.judge_alert(alert_id, "actionable" if kw["actionable"] else "noise",
                           reason=kw["reason"], by=kw["by"], at=kw["at"])


_judgement_command("ack", "Acknowledge an alert: someone has seen it.", [],
                   lambda ops, i, kw: ops.acknowledge_alert(i, **kw))
_judgement_command(
    "judge", "Mark an alert actionable or noise (noise needs --reason); a later judgement "
    "replaces an earlier one. Threshold tuning (policy §7) counts these.",
    [click.option("--actionable", is_flag=True, help="it was worth having"),
     click.option("--noise", is_flag=True, help="it was not (say why with --reason)"),
     click.option("--reason", help="why (required for --noise)")], _judge)
_judgement_command("link", "Link an alert to an incident (unjudged, it then counts as "
                   "actionable).", [click.argument("incident_id")],
                   lambda ops, i, kw: ops.link_alert(i, kw.pop("incident_id"), **kw))


@alerts_group.command("quality")
@db_option
@click.option("--month", help="alerts triggered in this month, e.g. 2026-11 (default: now)")
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True, help="operator scope: every tenant")
@json_option
@run_command
def alerts_quality(db: str | None, month: str | None, tenant: str | None, all_tenants: bool,
                   as_json: bool) -> None:
    """Detection quality per rule and tenant: precision (actionable / all), missed
    detections, time to detect — as the month stood at its end (policy §7 tuning)."""
    from opsledger import Period
    from opsledger.cli.common import emit_json, usage_of
    from opsledger.reports.quality import alert_quality

    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        with usage_of("--month"):
            period = Period.month(month or ops.clock.now().strftime("%Y-%m"))
        report = alert_quality(ops, period, tenant)
    if as_json:
        emit_json(report)
        return
    rows = [{**r, "precision": "-" if r["precision"] is None else f"{r['precision']:.0%}",
             "time to detect (median s)": "-" if r["time_to_detect_median_s"] is None
             else f"{r['time_to_detect_median_s']:g}"} for r in report["rules"]]
    table(rows, ["tenant", "rule", "alerts", "actionable", "noise", "unjudged", "precision",
                 "missed", "time to detect (median s)"])
    for miss in report["missed"]:
        incident = f" (incident {safe(miss['incident_id'])})" if miss["incident_id"] else ""
        console.print(f"missed: {safe(miss['tenant'])} {safe(miss['rule'])} — "
                      f"{safe(miss['kind'])} at {safe(miss['at'])}{incident}", soft_wrap=True)
