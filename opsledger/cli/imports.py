"""``opsledger import pumuki-audit|snapshots``: real inputs, file by file or from stdin.

An import in which every line was rejected exits 1 (nothing of it was recorded)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    EXIT_REFUSED,
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    progress_bar,
    run_command,
    safe,
    value_of,
)

if TYPE_CHECKING:
    from opsledger import ImportSummary
    from opsledger.application import Operations

__all__ = ["import_group", "print_import"]

_INPUTS = click.Path(exists=True, dir_okay=False, allow_dash=True)


def _input_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


@contextmanager
def _sources(paths: list[str]) -> Iterator[list[IO[bytes]]]:
    with ExitStack() as stack:
        yield [sys.stdin.buffer if p == "-" else stack.enter_context(open(p, "rb"))
               for p in paths]


def all_rejected(summary: Any) -> bool:
    """Whether an import read lines and rejected every one of them."""
    lines = value_of(summary, "lines", 0)
    return bool(lines) and len(value_of(summary, "rejected", ())) >= lines


def print_rejected(rejected: list[Any]) -> None:
    """The first 20 rejected lines, then how many more."""
    for item in rejected[:20]:
        console.print(f"  {safe(value_of(item, 'file'))}: line {value_of(item, 'line')}: "
                      f"{safe(value_of(item, 'error'))}")
    if len(rejected) > 20:
        console.print(f"  … {len(rejected) - 20} more (use --json for all)")


def print_import(summary: ImportSummary, as_json: bool) -> None:
    """An import summary: JSON, or its counts and its first rejected lines."""
    d = summary.to_dict()
    if as_json:
        emit_json(d)
        return
    console.print(
        f"lines {d['lines']}  imported {d['imported']}  duplicates {d['duplicates']}  "
        f"retries {d['retries']}  collisions {d['collisions']}  key missing {d['key_missing']}  "
        f"rejected {len(d['rejected'])}"
    )
    for tenant, n in d.get("late_facts", {}).items():
        console.print(f"  late: {n} facts of {safe(tenant)} arrived behind its event time; "
                      "re-evaluated, alerts found so are flagged backfilled")
    print_rejected(d["rejected"])


def _import_files(ops: Operations, paths: list[str], strict: bool,
                  register_unknown: bool) -> ImportSummary:
    from opsledger import import_pumuki_audit

    total = None if "-" in paths else sum(count_lines(p) for p in paths)
    with _sources(paths) as sources, progress_bar() as bar:
        task = bar.add_task("importing", total=total)
        return import_pumuki_audit(
            ops, sources, strict=strict, register_unknown=register_unknown,
            progress=lambda n: bar.advance(task, n), names=[_input_name(p) for p in paths],
        )


@click.group("import")
def import_group() -> None:
    """Import real inputs."""


@import_group.command("pumuki-audit")
@click.argument("files", nargs=-1, required=True, type=_INPUTS)
@db_option
@click.option("--strict", is_flag=True, help="refuse the whole input on the first bad line")
@click.option("--register-unknown", is_flag=True,
              help="register unseen tenants/repositories (SaaS mode, default retention)")
@json_option
@run_command
def import_pumuki(files: tuple[str, ...], db: str | None, strict: bool, register_unknown: bool,
                  as_json: bool) -> None:
    """Import Pumuki's saas-ingestion-audit.ndjson (FILE may be - for stdin)."""
    with open_ops(db) as ops:
        before = ops.late_alert_facts().to_dict()
        summary = _import_files(ops, list(files), strict, register_unknown)
        ops.advance_by_event_time()
        summary.late_facts = {t: c["late"] - before.get(t, {}).get("late", 0)
                              for t, c in ops.late_alert_facts().to_dict().items()
                              if c["late"] > before.get(t, {}).get("late", 0)}
    print_import(summary, as_json)
    if all_rejected(summary):
        raise SystemExit(EXIT_REFUSED)


@import_group.command("snapshots")
@click.argument("files", nargs=-1, required=True, type=_INPUTS)
@db_option
@click.option("--strict", is_flag=True)
@json_option
@run_command
def import_snapshots(files: tuple[str, ...], db: str | None, strict: bool,
                     as_json: bool) -> None:
    """Import downstream-snapshot records (freshness); FILE may be - for stdin."""
    with _sources(list(files)) as sources, open_ops(db) as ops:
        summary = ops.import_snapshots(sources, strict=strict,
                                       names=[_input_name(p) for p in files])
    if as_json:
        emit_json(summary)
    else:
        console.print(f"lines {summary['lines']}  recorded {summary['recorded']}  duplicates "
                      f"{summary['duplicates']}  stale (deadline missed) {summary['missed']}  "
                      f"rejected {len(summary['rejected'])}")
        print_rejected(list(summary["rejected"]))
    if all_rejected(summary):
        raise SystemExit(EXIT_REFUSED)


def count_lines(path: str) -> int:
    """Lines in a file, counted in 1 MiB blocks (an over-long line costs no memory)."""
    total, last = 0, b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            total += block.count(b"\n")
            last = block
    return total + (0 if last.endswith(b"\n") else 1)
