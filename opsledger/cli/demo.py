"""``opsledger demo``: the main job. A simulated month of three tenants with the
policy's episodes (outage, slow phase, error burst, auth failures, collisions, isolation,
freshness degradation), imported, swept on event time, and written up as the monthly
review (HTML with charts). ``--sample`` imports the bundled one-day Pumuki sample."""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    run_command,
    safe,
    table,
    to_jsonable,
    usage_of,
)
from opsledger.cli.imports import print_import

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["demo"]


def _sample_lines(name: str = "saas-ingestion-audit.ndjson") -> Iterator[bytes]:
    sample = resources.files("opsledger.samples") / name
    with sample.open("rb") as handle:
        yield from handle


def _sample(ops: Operations) -> dict[str, Any]:
    from opsledger import AuditQuery, Period, import_pumuki_audit, import_snapshots

    summary = import_pumuki_audit(ops, [_sample_lines()], register_unknown=True)
    snapshots = import_snapshots(ops, [_sample_lines("downstream-snapshots.ndjson")])
    ops.advance_by_event_time()
    day = Period.day("2026-11-03")
    return {"import": summary.to_dict(), "snapshots": snapshots,
            "audit": ops.audit_summary(AuditQuery(all_tenants=True)),
            "slo": ops.slo(day, tenant_id="tenant-solo", now=day.end),
            "alerts": ops.alerts(tenant_id="tenant-solo")}


def _split(lines: list[bytes], field: bytes, at: datetime) -> tuple[list[bytes], list[bytes]]:
    """Lines whose ``field`` time is before ``at``, and the rest (order kept)."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S").encode()
    marker = b'"' + field + b'":"'
    early: list[bytes] = []
    late: list[bytes] = []
    for line in lines:
        start = line.find(marker) + len(marker)
        (early if line[start:start + len(stamp)] < stamp else late).append(line)
    return early, late


def _add(totals: dict[str, Any], summary: dict[str, Any]) -> None:
    """Add one import's summary to ``totals``: counts summed, lists joined, per-tenant
    counts summed per tenant."""
    for key, value in summary.items():
        if key not in totals:
            totals[key] = value
        elif isinstance(value, dict):
            totals[key] = dict(Counter(totals[key]) + Counter(value))
        else:
            totals[key] = totals[key] + value


def _month(ops: Operations, month: str, days: int, tenants: int, out: Path) -> dict[str, Any]:
    """The month lived through in two halves: each half's facts imported and evaluated, the
    on-call team acting on its alerts and incidents, then the deadlines swept; between the
    halves the team adopts the first half's best single change of threshold."""
    from opsledger import OperationsPolicy, Period, import_pumuki_audit, import_snapshots
    from opsledger.cli.demo_operator import LEAD, act_as_operators
    from opsledger.reports.render import write_review
    from opsledger.reports.review import monthly_review
    from opsledger.reports.tuning import tune
    from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

    period = Period.month(month)
    config = SimulationConfig(days=days, tenants=tenants, seed=2026, start=period.start,
                              operations_per_day=400)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit, snapshots = io.BytesIO(), io.BytesIO()
    simulate(config, audit, snapshots)
    end = min(period.start + timedelta(days=days), period.end)
    until = min(end, ops.clock.now())
    middle = period.start + timedelta(days=max(1, days // 2))
    halves = zip(_split(audit.getvalue().splitlines(), b"event_at", middle),
                 _split(snapshots.getvalue().splitlines(), b"visible_at", middle),
                 ((period.start, middle), (middle, end)), strict=True)
    totals: dict[str, Any] = {}
    acted: Counter[str] = Counter()
    adopted = None
    for index, (lines, seen, (start, stop)) in enumerate(halves):
        _add(totals, import_pumuki_audit(ops, [lines], register_unknown=True).to_dict())
        import_snapshots(ops, [seen])
        ops.evaluate_alerts()
        acted.update(act_as_operators(ops, config.episodes, start, stop, until))
        ops.advance_by_event_time()
        if index == 0 and middle < end:
            # one change at a time, so the second half shows what it did
            chosen = tune(ops, Period(start, stop))["one_change"]
            if chosen is not None:
                adopted = chosen["name"]
                ops.adopt_policy(OperationsPolicy.from_toml(chosen["policy_toml"]), by=LEAD,
                                 reason=f"tuning from the first half: {adopted}",
                                 effective_at=middle, at=middle)
    review = monthly_review(ops, period)
    page = write_review(review, "html", out)
    return {"import": totals, "operators": dict(sorted(acted.items())),
            "adopted": adopted, "review": str(page),
            "slo": [t["slo"] for t in review["tenants"]],
            "alerts_per_rule": review["alerts_per_rule"], "sla": review["sla"],
            "recommendation": (review["tuning"]["recommendation"] or {}).get("name")}


@click.command("demo")
@db_option
@click.option("--month", default="2026-11", show_default=True)
@click.option("--days", type=click.IntRange(min=1, max=31), default=30, show_default=True)
@click.option("--tenants", type=click.IntRange(min=1, max=100), default=3, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("opsledger-demo"), show_default=True,
              help="where the monthly review (index.html and its charts) goes")
@click.option("--sample", is_flag=True, help="the bundled one-day Pumuki sample instead")
@json_option
@run_command
def demo(db: str | None, month: str, days: int, tenants: int, out: Path, sample: bool,
         as_json: bool) -> None:
    """Simulate a month, run the policy on it and write the monthly review."""
    from opsledger import ImportSummary, Period
    from opsledger.cli.alerts import print_alerts
    from opsledger.cli.slo import print_slo_rows

    with usage_of("--month"):
        Period.month(month)  # a bad month is a usage error before any work
    started = time.monotonic()
    with open_ops(db) as ops:
        result = _sample(ops) if sample else _month(ops, month, days, tenants, out)
    if as_json:
        emit_json(result)
        return
    print_import(ImportSummary(**result["import"]), False)
    if sample:
        table(result["audit"], ["tenant_id", "outcome", "error_code", "operations",
                                "collisions", "first_at", "last_at"])
        print_slo_rows(to_jsonable(result["slo"]))
        print_alerts(to_jsonable(result["alerts"]))
        return
    print_slo_rows(result["slo"])
    acted = ", ".join(f"{what} {n}" for what, n in result["operators"].items())
    console.print(f"on call: {safe(acted or 'nothing to do')}")
    if result["adopted"]:
        console.print(f"adopted mid-month: {safe(result['adopted'])}")
    per_rule = ", ".join(f"{rule} {n}" for rule, n in result["alerts_per_rule"].items())
    console.print(f"alerts per rule: {safe(per_rule or 'none')}")
    console.print(f"monthly review written to {safe(result['review'])} "
                  f"({time.monotonic() - started:.0f} s)")
    if result["recommendation"]:
        console.print(f"tuning recommended: {safe(result['recommendation'])} — "
                      f"{safe(Path(result['review']).parent / 'tuned-policy.toml')}")
