"""CLI for the §7 reviews: ``opsledger review weekly|monthly``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    json_option,
    open_ops,
    run_command,
    safe,
    usage_of,
)

__all__ = ["review_group"]


def _emit(review: dict[str, Any], fmt: str, out: Path | None, as_json: bool) -> None:
    """The review as JSON on stdout (``--json``, or ``--format json`` without ``--out``), or
    written under ``--out`` (the path printed, as JSON with ``--json``)."""
    if out is None and (as_json or fmt == "json"):
        emit_json(review)
        return
    from opsledger.reports.render import write_review

    path = write_review(review, fmt, out or Path("review"))
    if as_json:
        emit_json({"written": str(path), "format": fmt})
    else:
        console.print(f"wrote {safe(path)}")


@click.group("review")
def review_group() -> None:
    """The policy's weekly and monthly reviews (§7)."""


@review_group.command("weekly")
@db_option
@click.option("--week", help="ISO week, e.g. 2026-W45 (default: last week)")
@click.option("--tenant")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path))
@json_option
@run_command
def review_weekly(db: str | None, week: str | None, tenant: str | None, fmt: str,
                  out: Path | None, as_json: bool) -> None:
    """Error rate, p95 latency, freshness and isolation events against last week."""
    from opsledger import Period
    from opsledger.reports.review import weekly_review

    with open_ops(db) as ops:
        with usage_of("--week"):
            period = Period.week(week or (ops.clock.now() - timedelta(days=7))
                                 .strftime("%G-W%V"))
        _emit(weekly_review(ops, period, tenant), fmt, out, as_json)


@review_group.command("monthly")
@db_option
@click.option("--month", help="e.g. 2026-11 (default: this month)")
@click.option("--tenant")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--what-if", "candidate", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="candidate thresholds (policy TOML) to replay the month under")
@json_option
@run_command
def review_monthly(db: str | None, month: str | None, tenant: str | None, fmt: str,
                   out: Path | None, candidate: Path | None, as_json: bool) -> None:
    """SLO and SLA compliance, alerts per rule, incidents, threshold tuning (charts)."""
    from opsledger import OperationsPolicy, Period
    from opsledger.reports.review import monthly_review

    with open_ops(db) as ops:
        with usage_of("--month"):
            period = Period.month(month or ops.clock.now().strftime("%Y-%m"))
        review = monthly_review(ops, period, tenant)
        if candidate is not None:
            from opsledger.reports.whatif import what_if

            review["what_if"] = what_if(ops, OperationsPolicy.from_toml(candidate),
                                        period.start, period.end)
        _emit(review, fmt, out, as_json)
