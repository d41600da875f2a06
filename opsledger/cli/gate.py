"""CLI for the go-live gate (policy §6, §8): ``opsledger gate …``."""

from __future__ import annotations

from typing import Any

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    emit_json,
    err_console,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
)

__all__ = ["gate_group"]


def _common(func: Any) -> Any:
    for option in reversed([db_option, click.option("--env", "environment", default="production",
                                                     show_default=True),
                            click.option("--by", default="cli"),
                            click.option("--at", help="business time (default now)")]):
        func = option(func)
    return func


def _print_status(status: Any, as_json: bool) -> None:
    if as_json:
        emit_json(status)
        return
    from rich.table import Table

    console.print(f"[bold]{safe(status['environment'])}[/bold] mode={safe(status['mode'])} "
                  f"version={safe(status['version'] or '-')} owners: {_owners(status['owners'])}")
    table = Table("check", "state", "why")
    for c in status["checks"]:
        colour = {"passed": "green", "waived": "yellow"}.get(c["state"], "red")
        table.add_row(safe(c["check"]), f"[{colour}]{safe(c['state'])}[/{colour}]",
                      safe(c["why"]))
    console.print(table)
    for c in status["constraints"]:
        console.print(f"constraint {safe(c['kind'])} since {safe(c['declared_at'])}: "
                      f"{safe(c['reason'])}")
    for g in status["grace"]:
        console.print(f"grace for {safe(g['kind'])}: due {safe(g['due_at'])} "
                      f"({safe(g['status'])}); waived {safe(', '.join(g['waived']) or 'nothing')}")


def _owners(owners: Any) -> str:
    """``primary=… secondary=…`` (owners as a mapping or a result object)."""
    from opsledger.serialize import to_jsonable

    data = to_jsonable(owners)
    if not isinstance(data, dict):
        return safe(data or "-")
    return " ".join(f"{safe(k)}={safe(v)}" for k, v in data.items()) or "-"


@click.group("gate")
def gate_group() -> None:
    """The go-live gate for SaaS activation (policy §6)."""


@gate_group.command("record")
@click.argument("check", type=LazyChoice("opsledger.domain.gate:CHECKS"))
@_common
@click.option("--result", type=click.Choice(["pass", "fail"]), default="pass")
@click.option("--version")
@click.option("--commit")
@click.option("--source", type=click.Choice(["remote_ci", "local"]))
@click.option("--run-ref")
@click.option("--owner")
@click.option("--process-doc")
@click.option("--path-doc")
@click.option("--reachability", type=click.Choice(["pass", "fail"]))
@json_option
@run_command
def gate_record(check: str, db: str | None, environment: str, by: str, at: str | None,
                result: str, reachability: str | None, as_json: bool, **details: Any) -> None:
    """Record evidence for one check."""
    if check == "oncall_escalation" and reachability is not None:
        result = reachability  # the reachability verification is the check's result
    values = {k: v for k, v in details.items() if v is not None}
    with open_ops(db) as ops:
        status = ops.record_gate_evidence(check, result=result, by=by, details=values,
                                          at=parse_time(at), environment=environment)
    _print_status(status, as_json)


@gate_group.command("activate")
@_common
@click.option("--version", required=True)
@json_option
def gate_activate(db: str | None, environment: str, by: str, at: str | None, version: str,
                  as_json: bool) -> None:
    """Enable SaaS mode; exit 1 (and the refusal recorded) unless every check passes."""
    from opsledger import ActivationRefused

    when = parse_time(at)
    with open_ops(db) as ops:
        try:
            ops.activate_saas(version, by=by, at=when, environment=environment)
        except ActivationRefused as refused:
            if as_json:
                emit_json({"activated": False, "refusals": refused.refusals})
            else:
                err_console.print(f"[red]refused[/red] {safe(refused)}")
            raise SystemExit(1) from None
    if as_json:
        emit_json({"activated": True, "refusals": []})
    else:
        console.print(f"{safe(environment)}: SaaS mode active for {safe(version)}")


@gate_group.command("rollback")
@_common
@click.option("--reason", required=True)
@json_option
@run_command
def gate_rollback(db: str | None, environment: str, by: str, at: str | None, reason: str,
                  as_json: bool) -> None:
    """Back to local-only mode, the environment and its tenants (policy §1)."""
    with open_ops(db) as ops:
        _print_status(ops.rollback_to_local(reason=reason, by=by, at=parse_time(at),
                                            environment=environment), as_json)


@gate_group.command("constraint")
@click.argument("action", type=click.Choice(["declare", "lift"]))
@click.argument("kind", type=LazyChoice("opsledger.domain.gate:CONSTRAINTS", sort=True))
@_common
@click.option("--reason", required=True)
@json_option
@run_command
def gate_constraint(action: str, kind: str, db: str | None, environment: str, by: str,
                    at: str | None, reason: str, as_json: bool) -> None:
    """Declare or lift the policy's current constraint (§8)."""
    with open_ops(db) as ops:
        command = ops.declare_constraint if action == "declare" else ops.lift_constraint
        _print_status(command(kind, reason=reason, by=by, at=parse_time(at),
                              environment=environment), as_json)


@gate_group.command("owners")
@_common
@click.option("--primary", required=True)
@click.option("--secondary", required=True)
@json_option
@run_command
def gate_owners(db: str | None, environment: str, by: str, at: str | None, primary: str,
                secondary: str, as_json: bool) -> None:
    """Record the primary owner and the secondary (release operator on duty), policy §7."""
    when = parse_time(at)
    with open_ops(db) as ops:
        ops.assign_owners(primary=primary, secondary=secondary, by=by, at=when,
                          environment=environment)
    if as_json:
        emit_json({"environment": environment, "primary": primary, "secondary": secondary})
    else:
        console.print("owners recorded")


@gate_group.command("status")
@db_option
@click.option("--env", "environment", default="production", show_default=True)
@click.option("--as-of", "as_of", help="the gate as it stood at this time, its evidence "
              "aged to then (default now)")
@click.option("--at", hidden=True, help="old: age the evidence to this time only")
@json_option
@run_command
def gate_status(db: str | None, environment: str, at: str | None, as_of: str | None,
                as_json: bool) -> None:
    """Mode, version and each check's state with its evidence."""
    moment = parse_time(as_of, "--as-of")
    evaluated = parse_time(at) or moment
    with open_ops(db) as ops:
        _print_status(ops.gate_status(environment, at=evaluated, as_of=moment), as_json)
