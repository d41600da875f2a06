"""``opsledger scheduler run``: record deadlines as they fall due."""

from __future__ import annotations

import logging

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
)

__all__ = ["scheduler_group"]


@click.group("scheduler")
def scheduler_group() -> None:
    """Record deadlines as they fall due."""


@scheduler_group.command("run")
@db_option
@click.option("--once", is_flag=True, help="catch up to --at (default: the clock) and exit")
@click.option("--at", "at", help="with --once: sweep up to this business time")
@click.option("--now", "at", hidden=True, help="old name of --at")
@json_option
@run_command
def scheduler_run(db: str | None, once: bool, at: str | None, as_json: bool) -> None:
    """Record deadlines as they fall due (foreground), or once and exit."""
    if at is not None and not once:
        raise click.UsageError("--at only goes with --once")
    moment = parse_time(at, "--at")
    with open_ops(db) as ops:
        if once:
            recorded = ops.advance(moment)
            if as_json:
                emit_json(recorded)
            else:
                console.print(safe(", ".join(f"{k}: {v}" for k, v in recorded.to_dict().items())))
            return
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        ops.scheduler().start()
