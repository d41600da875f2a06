"""``opsledger incident …`` (policy §3) and ``opsledger sla`` (SLA compliance); the text
form of a timeline (:func:`print_entries`), shared with ``replay``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    emit_json,
    emit_json_stream,
    fmt_number,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    table,
    text,
    value_of,
)

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["incident_group", "print_entries", "sla_cmd"]

_SEVERITIES = click.Choice(["SEV1", "SEV2", "SEV3"])



def _show(incident: Any, as_json: bool) -> None:
    if as_json:
        emit_json(incident)
        return
    console.print(f"[bold]{safe(incident['id'])}[/bold] {safe(incident['severity'])} "
                  f"{safe(incident['state'])} tenant={safe(incident['tenant'] or '(platform)')} "
                  f"cause={safe(incident['cause'])}")
    console.print(f"  {safe(incident['title'])}")
    table(({"deadline": d["kind"], "due": d["due_at"] or "(sprint flow)",
            "status": d["status"], "met/missed at": d["met_at"] or d["missed_at"]}
           for d in incident["deadlines"]), ["deadline", "due", "status", "met/missed at"])


def _write(name: str, help_text: str, extra: list[Any],
           action: Callable[[Operations, str, dict[str, Any]], Any]) -> Any:
    """A write command on one incident: ID, --by, --at, --json, plus ``extra`` options."""
    def command(incident_id: str, db: str | None, by: str, at: str | None, as_json: bool,
                **extra_values: Any) -> None:
        when = parse_time(at)
        with open_ops(db) as ops:
            _show(action(ops, incident_id, {"by": by, "at": when, **extra_values}), as_json)

    command.__doc__ = help_text
    decorated: Any = run_command(command)
    for option in reversed([*extra, json_option,
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
@click.option("--severity", type=_SEVERITIES, required=True)
@click.option("--title", required=True)
@click.option("--cause", type=LazyChoice("opsledger.domain.incident:CAUSES"), required=True)
@click.option("--tenant", help="the tenant (omit for a platform-wide incident)")
@click.option("--alert", "alerts", multiple=True, help="linked alert id (repeatable)")
@click.option("--by", required=True)
@click.option("--at")
@json_option
@run_command
def incident_open(db: str | None, severity: str, title: str, cause: str, tenant: str | None,
                  alerts: tuple[str, ...], by: str, at: str | None, as_json: bool) -> None:
    """Open an incident; its deadlines follow from the severity and the policy."""
    when = parse_time(at)
    with open_ops(db) as ops:
        _show(ops.open_incident(severity=severity, title=title, cause=cause, by=by,
                                tenant_id=tenant, alert_ids=list(alerts), at=when),
              as_json)


_write("ack", "Acknowledge.", [], lambda ops, i, kw: ops.acknowledge(i, **kw))
_write("mitigate", "Mitigation started.", [], lambda ops, i, kw: ops.start_mitigation(i, **kw))
_write("update", "Post a status update (customer-facing unless --internal).",
       [click.option("--message", required=True), click.option("--internal", is_flag=True)],
       lambda ops, i, kw: ops.post_status_update(
           i, message=kw["message"], customer_facing=not kw["internal"], by=kw["by"],
           at=kw["at"]))
_write("severity", "Change the severity (open deadlines are recomputed).",
       [click.option("--to", "severity", type=_SEVERITIES, required=True),
        click.option("--reason", required=True)],
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
@json_option
@run_command
def incident_show(incident_id: str, db: str | None, as_of: str | None, as_json: bool) -> None:
    """One incident with each deadline."""
    moment = parse_time(as_of, "--as-of")
    with open_ops(db) as ops:
        _show(ops.incident(incident_id, as_of=moment), as_json)


@incident_group.command("timeline")
@click.argument("incident_id")
@db_option
@json_option
@run_command
def incident_timeline(incident_id: str, db: str | None, as_json: bool) -> None:
    """The incident's transitions, deadlines met or missed, and its alerts, in order."""
    with open_ops(db) as ops:
        entries = ops.incident_timeline(incident_id)
    print_entries(entries, as_json)


@incident_group.command("list")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True)
@click.option("--state", type=click.Choice(["open", "acknowledged", "mitigating", "resolved",
                                            "closed"]))
@click.option("--as-of", "as_of", help="the incidents as they stood at this time")
@json_option
@run_command
def incident_list(db: str | None, tenant: str | None, all_tenants: bool, state: str | None,
                  as_of: str | None, as_json: bool) -> None:
    """Incidents in scope."""
    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    moment = parse_time(as_of, "--as-of")
    with open_ops(db) as ops:
        rows = ops.incidents(tenant_id=tenant, all_tenants=all_tenants, state=state,
                             as_of=moment)
    if as_json:
        emit_json(rows)
        return
    table(({"opened_at": r["opened_at"], "id": r["id"], "severity": r["severity"],
            "state": r["state"], "tenant": r["tenant"], "cause": r["cause"],
            "missed": sum(1 for d in r["deadlines"] if d["status"] == "missed")} for r in rows),
          ["opened_at", "id", "severity", "state", "tenant", "cause", "missed"])


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} min"


@click.command("sla")
@db_option
@click.option("--tenant")
@click.option("--all-tenants", is_flag=True)
@click.option("--month", help="incidents opened in this month, e.g. 2026-11 (default now)")
@click.option("--as-of", "as_of", help="as it stood at this time: deadlines decided, "
              "incidents acknowledged and resolved before it (a review's figures use the "
              "month's end)")
@json_option
@run_command
def sla_cmd(db: str | None, tenant: str | None, all_tenants: bool, month: str | None,
            as_of: str | None, as_json: bool) -> None:
    """SLA compliance per severity: deadlines met, MTTA, time to mitigation, MTTR."""
    from opsledger import Period
    from opsledger.cli.common import usage_of

    if not tenant and not all_tenants:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    with open_ops(db) as ops:
        with usage_of("--month"):
            period = Period.month(month or ops.clock.now().strftime("%Y-%m"))
        rows = ops.sla(period.start, period.end, tenant_id=tenant, all_tenants=all_tenants,
                       as_of=parse_time(as_of, "--as-of"))
    if as_json:
        emit_json(rows)
        return
    columns = ["severity", "incidents", "deadlines met", "MTTA", "time to mitigation", "MTTR",
               "status cadence"]
    table(({"severity": r["severity"], "incidents": r["incidents"],
            "deadlines met": ", ".join(f"{d.kind} {d.met}/{d.met + d.missed}"
                                       for d in r.deadlines),
            "MTTA": _minutes(r["mtta_minutes"]),
            "time to mitigation": _minutes(r["time_to_mitigation_minutes"]),
            "MTTR": _minutes(r["mttr_minutes"]),
            "status cadence": {None: "-", True: "kept", False: "broken"}[
                r["status_cadence_kept"]]} for r in rows), columns)


def print_entries(entries: Iterable[Any], as_json: bool) -> None:
    """A timeline (an incident's or a tenant's replay): JSON, or one line per entry (time,
    kind, summary); printed entry by entry."""
    if as_json:
        emit_json_stream(entries)
        return
    for entry in entries:
        console.print(f"{text(value_of(entry, 'at'))}  [bold]{safe(value_of(entry, 'kind'))}"
                      f"[/bold]  {safe(summary(entry))}", soft_wrap=True)


#: Keys of an entry that its line shows already (time, kind) or that say nothing.
_SHOWN = frozenset({"at", "kind"})


def summary(entry: Any) -> str:
    """An entry's facts as ``key=value`` pairs: nested facts flattened with dots, zero
    counts and empty values left out, times in the one format, numbers without exponent."""
    from opsledger.serialize import to_jsonable

    data = to_jsonable(entry)
    pairs = _pairs({k: v for k, v in data.items() if k not in _SHOWN}, "")
    return " ".join(f"{k}={v}" for k, v in pairs)


def _pairs(data: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs += _pairs(value, name + ".")
        elif value in (None, "", [], 0) and not isinstance(value, bool):
            continue
        elif isinstance(value, list):
            pairs.append((name, ",".join(str(v) for v in value)))
        elif isinstance(value, float):
            pairs.append((name, fmt_number(value)))
        else:
            pairs.append((name, str(value)))
    return pairs
