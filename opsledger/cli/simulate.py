"""``opsledger simulate``: realistic Pumuki-format input, written to files."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from opsledger.cli.common import (
    console,
    emit_json,
    existing_folder,
    json_option,
    required_time,
    run_command,
    safe,
)

__all__ = ["simulate_cmd"]


@click.command("simulate")
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--tenants", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ops-per-day", type=click.IntRange(min=1), default=1000, show_default=True,
              help="publish operations per tenant per day (average)")
@click.option("--start", default="2026-11-02T00:00:00Z", show_default=True,
              help="first simulated time (or a date: midnight UTC)")
@click.option("--episodes/--no-episodes", default=True, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder)
@click.option("--snapshots", type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder,
              help="also write downstream-snapshot records here")
@json_option
@run_command
def simulate_cmd(days: int, tenants: int, seed: int, ops_per_day: int, start: str,
                 episodes: bool, out: Path, snapshots: Path | None, as_json: bool) -> None:
    """Write realistic Pumuki-format audit lines (and matching snapshots)."""
    from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

    begin = required_time(start, "--start")
    config = SimulationConfig(days=days, tenants=tenants, seed=seed, start=begin,
                              operations_per_day=ops_per_day)
    if episodes:
        config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    with ExitStack() as stack:
        audit_out = stack.enter_context(open(out, "wb"))
        snap_out = stack.enter_context(open(snapshots, "wb")) if snapshots else None
        summary = simulate(config, audit_out, snap_out)
    if as_json:
        emit_json({"lines": summary.lines, "out": str(out), "snapshots": summary.snapshots,
                   "snapshots_out": None if snapshots is None else str(snapshots)})
        return
    console.print(f"wrote {summary.lines} audit lines to {safe(out)}"
                  + (f" and {summary.snapshots} snapshots to {safe(snapshots)}"
                     if snapshots else ""))
