"""CLI for incidents (policy §3), SLA compliance and the foreground scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import click
from rich.table import Table

from opsledger.application import Operations
from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    emit_json_stream,
    open_ops,
    parse_time,
    run_command,
    safe,
)
from opsledger.domain.incident import CAUSES

__all__ = ["incident_group", "register", "sla_cmd"]


def _show(incident: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(incident)
        return
    console.print(f"[bold]{safe(incident['id'])}[/bold] {safe(incident['severity'])} "
                  f"{safe(incident['state'])} tenant={safe(incident['tenant'] or '(platform)')} "
                  f"cause={safe(incident['cause'])}")
    console.print(f"  {safe(incident['title'])}")
    table = Table("deadline", "due", "status", "met/missed at")
    for d in incident["deadlines"]:
        colour = {"met": "green", "missed": "red"}.get(d["status"], "yellow")
        table.add_row(safe(d["kind"]), safe(d["due_at"] or "(sprint flow)"),
                      f"[{colour}]{safe(d['status'])}[/{colour}]",
                      safe(d["met_at"] or d["missed_at"] or ""))
    console.print(table)


def _write(name: str, help_text: str, extra: list[Any],
           action: Callable[[Operations, str, dict[str, Any]], dict[str, Any]]) -> Any:
    """A write command on one incident: ID, --by, --at, --json, plus ``extra`` options."""
    def command(incident_id: str, db: str | None, by: str, at: str | None, as_json: bool,
                **extra_values: Any) -> None:
        with open_ops(db) as ops:
            when = parse_time(at)
            _show(action(ops, incident_id, {"by": by, "at": when, **extra_values}), as_json)

    command.__doc__ = help_text
    decorated: Any = run_command(command)
    for option in reversed([*extra, click.option("--json", "as_json", is_flag=True),
                            click.option("--at", help="business time (default now)"),
                            click.option("--by", required=True), db_option,
                            click.argument("incident_id")]):
        decorated = option(decorated)
    return incident_group.command(name)(decorated)


@click.group("incident")
def incident_group() -> None:
    """Incidents and their response-SLA clocks (policy §3)."""


@incident_group.command("open")
@db_option
@click.option("--severity", type=click.Choice(["SEV1", "SEV2", "SEV3"]), required=True)
@click.option("--title", required=True)
@click.option("--cause", type=click.Choice(CAUSES), required=True)
@click.option("--tenant", help="the tenant (omit for a platform-wide incident)")
@click.option("--alert", "alerts", multiple=True, help="linked alert id (repeatable)")
@click.option("--by", required=True)
@click.option("--at")
@click.option("--json", "as_json", is_flag=True)
@run_command
def incident_open(db: str | None, severity: str, title: str, cause: str, tenant: str | None,
                  alerts: tuple[str, ...], by: str, at: str | None, as_json: bool) -> None:
    """Open an incident; its deadlines follow from the severity and the policy."""
    with open_ops(db) as ops:
        _show(ops.open_incident(severity=severity, title=title, cause=cause, by=by,
                                tenant_id=tenant, alert_ids=list(alerts), at=parse_time(at)),
              as_json)


_write("ack", "Acknowledge.", [], lambda ops, i, kw: ops.acknowledge(i, **kw))
_write("mitigate", "Mitigation started.", [], lambda ops, i, kw: ops.start_mitigation(i, **kw))
_write("update", "Post a status update (customer-facing unless --internal).",
       [click.option("--message", required=True), click.option("--internal", is_flag=True)],
       lambda ops, i, kw: ops.post_status_update(
           i, message=kw["message"], customer_facing=not kw["internal"], by=kw["by"],
           at=kw["at"]))
_write("severity", "Change the severity (open deadlines are recomputed).",
       [click.option("--to", "severity", type=click.Choice(["SEV1", "SEV2", "SEV3"]),
                     required=True), click.option("--reason", required=True)],
       lambda ops, i, kw: ops.change_severity(i, **kw))
_write("resolve", "Resolve (starts the RCA clock).", [click.option("--summary", required=True)],
       lambda ops, i, kw: ops.resolve_incident(i, **kw))
_write("rca", "Publish the RCA.", [click.option("--link", required=True)],
       lambda ops, i, kw: ops.publish_rca(i, **kw))
_write("schedule-fix", "SEV3: schedule the fix in a sprint.",
       [click.option("--sprint", required=True)], lambda ops, i, kw: ops.schedule_fix(i, **kw))
_write("close", "Close.", [], lambda ops, i, kw: ops.close_incident(i, **kw))


@incident_group.command("show")
@click.argument("incident_id")
@db_option
@click.option("--as-of", "as_of", help="as it stood at this time")
@click.option("--json", "as_json", is_flag=True)
@run_command
def incident_show(incident_id: str, db: str | None, as_of: str | None, as_json: bool) -> None:
    """One incident with each deadline."""
    with open_ops(db) as ops:
        _show(ops.incident(incident_id, as_of=parse_time(as_of, "--as-of")), as_json)


@incident_group.command("timeline")
@click.argument("incident_id")
@db_option
@click.option("--json", "as_json", is_flag=True)
@run_command
def incident_timeline(incident_id: str, db: str | None, as_json: bool) -> None:
    """The incident's transitions, deadlines met or missed, and its alerts, in order."""
    with open_ops(db) as ops:
        entries = ops.incident_timeline(incident_id)
    _print_entries(entries, as_json)


@incident_group.command("list")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True)
@click.option("--state", type=click.Choice(["open", "acknowledged", "mitigating", "resolved",
                                            "closed"]))
@click.option("--as-of", "as_of", help="the incidents as they stood at this time")
@click.option("--json", "as_json", is_flag=True)
@run_command
def incident_list(db: str | None, tenant: str | None, all_tenants: bool, state: str | None,
                  as_of: str | None, as_json: bool) -> None:
    """Incidents in scope."""
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        rows = ops.incidents(tenant_id=tenant, all_tenants=all_tenants, state=state,
                             as_of=parse_time(as_of, "--as-of"))
    if as_json:
        emit_json(rows)
        return
    table = Table("opened_at", "id", "severity", "state", "tenant", "cause", "missed")
    for r in rows:
        missed = sum(1 for d in r["deadlines"] if d["status"] == "missed")
        table.add_row(*(safe(v) for v in (r["opened_at"], r["id"], r["severity"], r["state"],
                                           r.get("tenant") or "", r["cause"])), str(missed))
    console.print(table)


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@click.command("sla")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True)
@click.option("--month", help="incidents opened in this month, e.g. 2026-11 (default now)")
@click.option("--json", "as_json", is_flag=True)
@run_command
def sla_cmd(db: str | None, tenant: str | None, all_tenants: bool, month: str | None,
            as_json: bool) -> None:
    """SLA compliance per severity: deadlines met, MTTA, time to mitigation, MTTR."""
    from opsledger.services.slo import Period

    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        period = Period.month(month or ops.clock.now().strftime("%Y-%m"))
        rows = ops.sla(period.start, period.end, tenant_id=tenant, all_tenants=all_tenants)
    if as_json:
        emit_json(rows)
        return
    table = Table("severity", "incidents", "deadlines met", "MTTA min", "mitigation min",
                  "MTTR min", "status cadence")
    for r in rows:
        met = ", ".join(f"{k} {v['met']}/{v['met'] + v['missed']}"
                        for k, v in r["deadlines"].items())
        table.add_row(safe(r["severity"]), str(r["incidents"]), safe(met),
                      _minutes(r["mtta_minutes"]),
                      _minutes(r["time_to_mitigation_minutes"]), _minutes(r["mttr_minutes"]),
                      {None: "-", True: "kept", False: "broken"}[r["status_cadence_kept"]])
    console.print(table)


@click.command("run")
@db_option
@click.option("--once", is_flag=True, help="catch up to --now (default: the clock) and exit")
@click.option("--now", help="with --once: sweep as of this time")
@click.option("--json", "as_json", is_flag=True)
@run_command
def scheduler_run(db: str | None, once: bool, now: str | None, as_json: bool) -> None:
    """Record deadlines as they fall due (foreground), or once and exit."""
    with open_ops(db) as ops:
        if once:
            recorded = ops.advance(parse_time(now, "--now"))
            if as_json:
                emit_json(recorded)
            else:
                console.print(safe(", ".join(f"{k}: {v}" for k, v in recorded.items())))
            return
        if now:
            raise click.UsageError("--now only goes with --once")
        from opsledger.scheduler.driver import Driver

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        Driver(ops, ops.clock.now).start()


@click.command("replay")
@db_option
@click.option("--tenant", required=True)
@click.option("--from", "since", required=True)
@click.option("--to", "until", required=True)
@click.option("--json", "as_json", is_flag=True)
@run_command
def replay_cmd(db: str | None, tenant: str, since: str, until: str, as_json: bool) -> None:
    """One ordered RCA timeline: publish minutes, alerts, incidents, deadlines, changes."""
    start, end = parse_time(since, "--from"), parse_time(until, "--to")
    assert start is not None and end is not None
    with open_ops(db) as ops:
        _print_entries(ops.replay_stream(tenant, start, end), as_json)  # printed as read


def register(main: click.Group, scheduler: click.Group) -> None:
    """Attach the incident, SLA, replay and scheduler commands."""
    main.add_command(replay_cmd)
    main.add_command(incident_group)
    main.add_command(sla_cmd)
    scheduler.add_command(scheduler_run, "run")


def _print_entries(entries: Iterable[dict[str, Any]], as_json: bool) -> None:
    """A timeline (an incident's or a tenant's replay): JSON, or one line per entry;
    printed entry by entry."""
    if as_json:
        emit_json_stream(entries)
        return
    for entry in entries:
        rest = {k: v for k, v in entry.items() if k not in ("at", "kind")}
        console.print(f"{safe(entry['at'])}  [bold]{safe(entry['kind'])}[/bold]  {safe(rest)}")
