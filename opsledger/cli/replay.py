"""``opsledger replay``: one ordered RCA timeline of a tenant."""

from __future__ import annotations

import click

from opsledger.cli.common import db_option, json_option, open_ops, required_time, run_command
from opsledger.cli.incidents import print_entries

__all__ = ["replay_cmd"]


@click.command("replay")
@db_option
@click.option("--tenant", required=True)
@click.option("--from", "since", required=True, help="from this time (or date: midnight UTC)")
@click.option("--to", "until", required=True, help="to this time (or date: midnight UTC)")
@json_option
@run_command
def replay_cmd(db: str | None, tenant: str, since: str, until: str, as_json: bool) -> None:
    """One ordered RCA timeline: publish minutes, alerts, incidents, deadlines, changes."""
    start, end = required_time(since, "--from"), required_time(until, "--to")
    if start > end:
        raise click.BadParameter("--from is later than --to", param_hint="--from")
    with open_ops(db) as ops:
        print_entries(ops.replay_stream(tenant, start, end), as_json)  # printed as read
