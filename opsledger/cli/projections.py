"""``opsledger projections status|catch-up|verify|rebuild`` and ``opsledger doctor``."""

from __future__ import annotations

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    progress_bar,
    run_command,
    safe,
)

__all__ = ["doctor", "projections"]


@click.group()
def projections() -> None:
    """The read models: status, catch-up, verify, rebuild from zero."""


@projections.command("status")
@db_option
@json_option
@run_command
def projections_status(db: str | None, as_json: bool) -> None:
    """Each view's position, lag behind the newest event and, if it stopped, where (the
    event position) and why; the alert process's position too."""
    from opsledger.reports.doctor import alert_process_status

    with open_ops(db) as ops:
        rows = [s.to_dict() for s in ops.view_status()]
        process = alert_process_status(ops)
        late = ops.late_alert_facts()
    if process is not None:
        rows.append({**process.to_dict(), "late_facts": late})
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("view", "position", "head", "lag", "state")
    for r in rows:
        state = (f"[red]stopped at {r['failed_at']}[/red]: {safe(r['error_type'])}: "
                 f"{safe(r['message'])}" if r["stopped"] else "running")
        table.add_row(r["view"], str(r["position"]), str(r["head"]), str(r["lag"]), state)
    console.print(table)
    for tenant, counts in late.to_dict().items():
        console.print(f"late facts of {safe(tenant)}: {counts['late']} "
                      f"({counts['pending']} waiting for re-evaluation)")


@projections.command("catch-up")
@db_option
@click.option("--retry", is_flag=True,
              help="let stopped views run again first (after the cause was fixed)")
@json_option
@run_command
def projections_catch_up(db: str | None, retry: bool, as_json: bool) -> None:
    """Apply every new event to the running views (a view that fails stops alone)."""
    with open_ops(db) as ops, progress_bar() as bar:
        task = bar.add_task("catching up", total=ops.views.head())
        applied = ops.catch_up(progress=lambda pos, head: bar.update(task, completed=pos),
                               retry=retry)
    _applied(applied, as_json)


@projections.command("verify")
@db_option
@json_option
def projections_verify(db: str | None, as_json: bool) -> None:
    """Rebuild every view from the events in a scratch store and compare: exit 0 when
    identical, 1 with the first differing view table and row (or a stopped view)."""
    from opsledger.reports.verify import verify_views

    with open_ops(db) as ops:
        result = verify_views(ops)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        console.print(f"views identical to a rebuild from {result.events_checked} events")
    elif result.stopped:
        console.print(f"[red]stopped views[/red]: {safe(', '.join(result.stopped))} "
                      "(see `opsledger doctor`)")
    else:
        console.print(f"[red]{safe(result.table)} differs[/red]\n"
                      f"  live:    {safe(result.live_row)}\n  rebuilt: {safe(result.rebuilt_row)}")
    if not result.ok:
        raise SystemExit(1)


@projections.command("rebuild")
@db_option
@click.option("--view", "views", multiple=True,
              help="rebuild only this view (repeatable; views that depend on it follow)")
@json_option
@run_command
def projections_rebuild(db: str | None, views: tuple[str, ...], as_json: bool) -> None:
    """Clear the views (all, or the named ones) and apply the whole history again; a
    rebuilt view that had stopped runs again."""
    with open_ops(db) as ops, progress_bar() as bar:
        task = bar.add_task("rebuilding", total=ops.views.head())
        applied = ops.rebuild_views(progress=lambda pos, head: bar.update(task, completed=pos),
                                    views=list(views) or None)
    _applied(applied, as_json)


def _applied(applied: int, as_json: bool) -> None:
    if as_json:
        emit_json({"applied": applied})
    else:
        console.print(f"applied {applied} events")


@click.command("doctor")
@db_option
@click.option("--full", is_flag=True, help="walk the whole hash chain (default: its newest "
              "links)")
@json_option
@run_command
def doctor(db: str | None, full: bool, as_json: bool) -> None:
    """Check the store: stopped or lagging views, the hash chain, the key store, the schema;
    each finding with its fix. Exit 0 when healthy, 1 when something needs action."""
    from opsledger.reports.doctor import diagnose

    with open_ops(db) as ops:
        result = diagnose(ops, full=full)
    if as_json:
        emit_json(result.to_dict())
    else:
        marks = {"ok": "[green]ok[/green]", "info": "[cyan]info[/cyan]",
                 "action": "[red]ACTION[/red]"}
        for f in result.findings:
            console.print(f"{marks[f.level]:>6} {f.check}: {safe(f.message)}")
            if f.fix and f.level != "ok":
                console.print(f"         fix: {safe(f.fix)}")
        console.print("healthy" if result.healthy else "[red]needs action[/red]")
    if not result.healthy:
        raise SystemExit(1)
