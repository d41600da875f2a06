"""``opsledger policy show|validate|adopt``."""

from __future__ import annotations

from pathlib import Path

import click

from opsledger.cli.common import (
    EXIT_REFUSED,
    console,
    db_option,
    emit_json,
    is_refusal,
    json_option,
    open_ops,
    parse_time,
    report_error,
    run_command,
    safe,
)

__all__ = ["policy"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def policy() -> None:
    """Show, validate and adopt the operations policy."""


@policy.command("show")
@db_option
@click.option("--as-of", "as_of", help="the policy in force at this time (default now)")
@click.option("--at", "as_of", hidden=True, help="old name of --as-of")
@json_option
@run_command
def policy_show(db: str | None, as_of: str | None, as_json: bool) -> None:
    """Print the policy in force (every number of the policy, with its field name)."""
    with open_ops(db) as ops:
        current = ops.policy_at(parse_time(as_of, "--as-of"))
    if as_json:
        emit_json(current)
    else:
        click.echo(current.to_toml())


@policy.command("validate")
@click.argument("file", type=_FILE)
@json_option
def policy_validate(file: Path, as_json: bool) -> None:
    """Check a policy TOML file; names the key, the value and why on failure (exit 1)."""
    from opsledger import OperationsPolicy

    try:
        OperationsPolicy.from_toml(file)
    except Exception as exc:
        if not is_refusal(exc):
            raise
        if as_json:
            emit_json({"file": str(file), "valid": False, "error": exc.to_dict()})  # type: ignore[attr-defined]
            raise SystemExit(EXIT_REFUSED) from None
        raise SystemExit(report_error(exc)) from None
    if as_json:
        emit_json({"file": str(file), "valid": True, "error": None})
    else:
        console.print(f"{safe(file)}: valid")


@policy.command("adopt")
@click.argument("file", type=_FILE)
@db_option
@click.option("--by", required=True)
@click.option("--reason", required=True)
@click.option("--effective-at", help="business time from which it applies (default now)")
@click.option("--at", help="when the decision was recorded (default now)")
@json_option
@run_command
def policy_adopt(file: Path, db: str | None, by: str, reason: str, effective_at: str | None,
                 at: str | None, as_json: bool) -> None:
    """Adopt a policy file (a threshold-tuning decision is an event)."""
    from opsledger import OperationsPolicy

    candidate = OperationsPolicy.from_toml(file)
    effective, when = parse_time(effective_at, "--effective-at"), parse_time(at)
    with open_ops(db) as ops:
        changed = ops.adopt_policy(candidate, by=by, reason=reason, effective_at=effective,
                                   at=when)
    if as_json:
        emit_json({"adopted": bool(changed)})
    else:
        console.print("adopted" if changed else "already in force: nothing recorded")
