"""CLI commands that move data: imports, audit queries, simulation, demo, projections."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from opsledger import ImportSummary, import_pumuki_audit
from opsledger.application import Operations
from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    emit_json_stream,
    err_console,
    existing_folder,
    open_ops,
    parse_time,
    run_command,
    safe,
    table,
)
from opsledger.projections import AuditQuery
from opsledger.services.lines import count_lines

__all__ = ["audit", "import_group", "print_import", "simulate_cmd", "table"]


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
    for tenant, n in d.get("late_facts", {}).items():
        console.print(f"  late: {n} facts of {safe(tenant)} arrived behind its event time; "
                      "re-evaluated, alerts found so are flagged backfilled")
    for item in d["rejected"][:20]:
        console.print(f"  {safe(item['file'])}: line {item['line']}: "
                      f"{safe(item['error'])}")
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
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
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
        before = ops.late_alert_facts()
        summary = _import_files(ops, list(files), strict, register_unknown)
        ops.advance_by_event_time()
        summary.late_facts = {t: c["late"] - before.get(t, {}).get("late", 0)
                              for t, c in ops.late_alert_facts().items()
                              if c["late"] > before.get(t, {}).get("late", 0)}
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


@click.group()
def audit() -> None:
    """The audit trail: publish attempts and outcomes, refusals, operator actions."""


@audit.command("list")
@_query_options
@run_command
def audit_list(**kw: Any) -> None:
    """Publish operations in scope, in business-time order."""
    with open_ops(kw["db"]) as ops:
        rows = ops.audit_stream(_query(kw))  # read as printed: memory flat in the rows
        if kw["as_json"]:
            emit_json_stream(rows)
        else:
            table(rows, ["occurred_at", "tenant_id", "repository_id", "idempotency_key",
                         "outcome", "error_code", "attempts", "latency_ms", "collision"])


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
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder)
@run_command
def audit_export(db: str | None, tenant: str, since: str | None, until: str | None, fmt: str,
                 out: Path) -> None:
    """Compliance export of one tenant (privacy switches applied); prints the row count."""
    from opsledger.reports.export import iter_export, render_chunks
    from opsledger.store.files import open_private

    count = 0

    def counted(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    with open_ops(db) as ops:
        rows = iter_export(ops, tenant, parse_time(since, "--from"), parse_time(until, "--to"))
        with open_private(out) as handle:  # written as read: memory flat in the rows
            for chunk in render_chunks(counted(rows), fmt):
                handle.write(chunk)
    console.print(f"{count} rows written to {safe(out)}")


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
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder)
@click.option("--snapshots", type=click.Path(dir_okay=False, path_type=Path),
              callback=existing_folder,
              help="also write downstream-snapshot records here")
@run_command
def simulate_cmd(days: int, tenants: int, seed: int, ops_per_day: int, start: str,
                 episodes: bool, out: Path, snapshots: Path | None) -> None:
    """Write realistic Pumuki-format audit lines (and matching snapshots)."""
    from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

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
    console.print(f"wrote {summary.lines} audit lines to {safe(out)}"
                  + (f" and {summary.snapshots} snapshots to {safe(snapshots)}"
                     if snapshots else ""))
