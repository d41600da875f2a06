"""CLI commands that move data: imports, audit queries, simulation, demo, projections."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from opsledger._cli_common import (
    console,
    db_option,
    emit_json,
    err_console,
    open_ops,
    parse_time,
    run_command,
)
from opsledger._lines import count_lines
from opsledger.application import Operations
from opsledger.importer import ImportSummary, import_pumuki_audit
from opsledger.projections import AuditQuery

__all__ = ["audit", "import_group", "print_import", "projections", "simulate_cmd", "table"]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    )


def _count_lines(paths: list[str]) -> int | None:
    if "-" in paths:
        return None
    return sum(count_lines(p) for p in paths)


def _input_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def print_import(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        emit_json(summary.to_dict())
        return
    d = summary.to_dict()
    console.print(
        f"lines {d['lines']}  imported {d['imported']}  duplicates {d['duplicates']}  "
        f"retries {d['retries']}  collisions {d['collisions']}  key missing {d['key_missing']}  "
        f"rejected {len(d['rejected'])}"
    )
    for item in d["rejected"][:20]:
        console.print(f"  {item['file']}: line {item['line']}: {item['error']}", markup=False,
                      highlight=False)
    if len(d["rejected"]) > 20:
        console.print(f"  … {len(d['rejected']) - 20} more (use --json for all)")


def _import_files(
    ops: Operations, paths: list[str], strict: bool, register_unknown: bool
) -> ImportSummary:
    with ExitStack() as stack, _progress() as bar:
        sources: list[IO[bytes]] = [
            sys.stdin.buffer if p == "-" else stack.enter_context(open(p, "rb")) for p in paths
        ]
        task = bar.add_task("importing", total=_count_lines(paths))
        return import_pumuki_audit(
            ops, sources, strict=strict, register_unknown=register_unknown,
            progress=lambda n: bar.advance(task, n), names=[_input_name(p) for p in paths],
        )


@click.group("import")
def import_group() -> None:
    """Import real inputs."""


@import_group.command("pumuki-audit")
@click.argument("files", nargs=-1, required=True)
@db_option
@click.option("--strict", is_flag=True, help="refuse the whole input on the first bad line")
@click.option("--register-unknown", is_flag=True,
              help="register unseen tenants/repositories (SaaS mode, default retention)")
@click.option("--json", "as_json", is_flag=True)
@run_command
def import_pumuki(files: tuple[str, ...], db: str | None, strict: bool, register_unknown: bool,
                  as_json: bool) -> None:
    """Import Pumuki's saas-ingestion-audit.ndjson (FILE may be - for stdin)."""
    with open_ops(db) as ops:
        summary = _import_files(ops, list(files), strict, register_unknown)
        ops.advance_by_event_time()
    print_import(summary, as_json)


def _query_options(func: Any) -> Any:
    for decorator in reversed([
        db_option,
        click.option("--tenant"),
        click.option("--all-tenants", is_flag=True, help="operator scope: every tenant"),
        click.option("--repo"),
        click.option("--from", "since"),
        click.option("--to", "until"),
        click.option("--outcome", type=click.Choice(["success", "error"])),
        click.option("--error-code"),
        click.option("--key"),
        click.option("--limit", type=int),
        click.option("--json", "as_json", is_flag=True),
    ]):
        func = decorator(func)
    return func


def _query(kw: dict[str, Any]) -> AuditQuery:
    if not kw["tenant"] and not kw["all_tenants"]:
        raise click.UsageError("give --tenant T, or --all-tenants for the operator scope")
    return AuditQuery(
        tenant_id=kw["tenant"], all_tenants=kw["all_tenants"], repository_id=kw["repo"],
        since=parse_time(kw["since"], "--from"), until=parse_time(kw["until"], "--to"),
        outcome=kw["outcome"], error_code=kw["error_code"], idempotency_key=kw["key"],
        limit=kw["limit"],
    )


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


@click.group()
def audit() -> None:
    """The audit trail: publish attempts and outcomes, refusals, operator actions."""


@audit.command("list")
@_query_options
@run_command
def audit_list(**kw: Any) -> None:
    """Publish operations in scope, in business-time order."""
    with open_ops(kw["db"]) as ops:
        rows = ops.audit(_query(kw))
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["occurred_at", "tenant_id", "repository_id", "idempotency_key", "outcome",
                      "error_code", "attempts", "latency_ms", "collision"])


@audit.command("summary")
@_query_options
@run_command
def audit_summary(**kw: Any) -> None:
    """Counts per tenant, outcome and error code."""
    with open_ops(kw["db"]) as ops:
        rows = ops.audit_summary(_query(kw))
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["tenant_id", "outcome", "error_code", "operations", "collisions",
                      "key_missing", "first_at", "last_at"])


@audit.command("refusals")
@_query_options
@run_command
def audit_refusals(**kw: Any) -> None:
    """Refused commands (scope violations) with their reasons."""
    with open_ops(kw["db"]) as ops:
        rows = ops.audit_refusals(_query(kw))
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["occurred_at", "tenant_id", "repository_id", "reason", "subject_id"])


@audit.command("export")
@db_option
@click.option("--tenant", required=True)
@click.option("--from", "since")
@click.option("--to", "until")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ndjson"]), default="csv")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@run_command
def audit_export(db: str | None, tenant: str, since: str | None, until: str | None, fmt: str,
                 out: Path) -> None:
    """Compliance export of one tenant (privacy switches applied); prints the row count."""
    from opsledger.export import export_rows, render

    with open_ops(db) as ops:
        rows = export_rows(ops, tenant, parse_time(since, "--from"), parse_time(until, "--to"))
    out.write_bytes(render(rows, fmt))
    console.print(f"{len(rows)} rows written to {out}")


@audit.command("actions")
@_query_options
@run_command
def audit_actions(**kw: Any) -> None:
    """Operator actions with their actors."""
    with open_ops(kw["db"]) as ops:
        rows = ops.audit_actions(_query(kw))
    if kw["as_json"]:
        emit_json(rows)
    else:
        table(rows, ["occurred_at", "tenant_id", "action", "actor", "details"])


@click.command("simulate")
@click.option("--days", type=int, default=1, show_default=True)
@click.option("--tenants", type=int, default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ops-per-day", type=int, default=1000, show_default=True,
              help="publish operations per tenant per day (average)")
@click.option("--start", default="2026-11-02T00:00:00Z", show_default=True)
@click.option("--episodes/--no-episodes", default=True, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--snapshots", type=click.Path(dir_okay=False, path_type=Path),
              help="also write downstream-snapshot records here")
@run_command
def simulate_cmd(days: int, tenants: int, seed: int, ops_per_day: int, start: str,
                 episodes: bool, out: Path, snapshots: Path | None) -> None:
    """Write realistic Pumuki-format audit lines (and matching snapshots)."""
    from opsledger.simulate import SimulationConfig, default_episodes, simulate

    begin = parse_time(start, "--start")
    assert begin is not None
    config = SimulationConfig(days=days, tenants=tenants, seed=seed, start=begin,
                              operations_per_day=ops_per_day)
    if episodes:
        config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    with ExitStack() as stack:
        audit_out = stack.enter_context(open(out, "wb"))
        snap_out = stack.enter_context(open(snapshots, "wb")) if snapshots else None
        summary = simulate(config, audit_out, snap_out)
    console.print(f"wrote {summary.lines} audit lines to {out}"
                  + (f" and {summary.snapshots} snapshots to {snapshots}" if snapshots else ""))


@click.group()
def projections() -> None:
    """The read models: status, catch-up, rebuild from zero."""


@projections.command("status")
@db_option
@click.option("--json", "as_json", is_flag=True)
@run_command
def projections_status(db: str | None, as_json: bool) -> None:
    """Each view's position against the newest event."""
    with open_ops(db) as ops:
        head = ops.views.head()
        rows = [{"view": v.name, "position": ops.views.position(v), "head": head}
                for v in ops.views.views]
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["view", "position", "head"])


@projections.command("catch-up")
@db_option
@run_command
def projections_catch_up(db: str | None) -> None:
    """Apply every new event to the views."""
    with open_ops(db) as ops, _progress() as bar:
        task = bar.add_task("catching up", total=ops.views.head())
        applied = ops.catch_up(progress=lambda pos, head: bar.update(task, completed=pos))
    console.print(f"applied {applied} events")


@projections.command("verify")
@db_option
@click.option("--json", "as_json", is_flag=True)
def projections_verify(db: str | None, as_json: bool) -> None:
    """Rebuild every view from the events in a scratch store and compare: exit 0 when
    identical, 1 with the first differing view table and row."""
    from opsledger.verify import verify_views

    with open_ops(db) as ops:
        result = verify_views(ops)
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        console.print(f"views identical to a rebuild from {result.events_checked} events")
    else:
        console.print(f"[red]{result.table} differs[/red]\n  live:    {result.live_row}\n"
                      f"  rebuilt: {result.rebuilt_row}")
    if not result.ok:
        raise SystemExit(1)


@projections.command("rebuild")
@db_option
@run_command
def projections_rebuild(db: str | None) -> None:
    """Clear every view and apply the whole history again."""
    with open_ops(db) as ops, _progress() as bar:
        task = bar.add_task("rebuilding", total=ops.views.head())
        applied = ops.rebuild_views(progress=lambda pos, head: bar.update(task, completed=pos))
    console.print(f"applied {applied} events")
