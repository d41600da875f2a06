"""A closed month's review reads the same whenever it is made (issue 17 point 5): it is
computed as of the month's end, so December's events and sweeps — an incident acknowledged
and resolved late, more status-update slots missed, a tenant registered — change nothing in
November's review, in JSON or markdown, and its SLA equals ``sla --as-of`` the month's end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations

END = datetime(2026, 12, 1, tzinfo=UTC)


def cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "opsledger.cli", *args], check=True,
                          capture_output=True, text=True).stdout


def _reviews(db: str, tmp_path: Path, name: str) -> tuple[str, str]:
    out = tmp_path / name
    cli("review", "monthly", "--month", "2026-11", "--format", "md", "--out", str(out),
        "--db", db)
    return (cli("review", "monthly", "--month", "2026-11", "--format", "json", "--db", db),
            "".join(p.read_text() for p in sorted(out.glob("*.md"))))


@pytest.mark.policy("7.monthly_review")
@pytest.mark.policy("3.SEV1.status_updates")
def test_a_closed_months_review_is_byte_identical_after_later_events_and_sweeps(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'closed.db'}"
    clock = FrozenClock(datetime(2026, 11, 2, tzinfo=UTC))
    with Operations.open(db, clock=clock) as ops:
        saas_tenant(ops, "acme", ["web"])
        opened_at = END - timedelta(hours=2)
        clock.set(opened_at)
        incident = ops.open_incident(severity="SEV1", title="web down", cause="other",
                                     by="oncall", tenant_id="acme", at=opened_at)
        clock.set(END)
        ops.advance(END)  # the month swept to its end: acknowledgement and slots missed
    first_json, first_md = _reviews(db, tmp_path, "first")
    at_end = json.loads(cli("sla", "--all-tenants", "--month", "2026-11", "--as-of",
                            "2026-12-01T00:00:00Z", "--json", "--db", db))

    with Operations.open(db, clock=clock) as ops:  # December happens
        clock.set(END + timedelta(days=2))
        ops.advance(END + timedelta(days=1))  # more status-update slots missed
        ops.acknowledge(incident["id"], by="oncall", at=END + timedelta(days=1, minutes=1))
        ops.resolve_incident(incident["id"], summary="fixed", by="oncall",
                             at=END + timedelta(days=1, hours=1))
        saas_tenant(ops, "beta", ["api"], at=END + timedelta(days=1))
        ops.advance(END + timedelta(days=2))
        now_sla = ops.sla(datetime(2026, 11, 1, tzinfo=UTC), END, all_tenants=True)
    second_json, second_md = _reviews(db, tmp_path, "second")

    assert second_json == first_json and second_md == first_md  # byte-identical
    review = json.loads(second_json)
    assert review["sla"] == at_end
    (sev1,) = review["sla"]
    assert sev1["resolved"] == 0 and sev1["mttr_minutes"] is None  # resolved in December
    missed_then = sev1["deadlines"]["status_update"]["missed"]
    (later,) = now_sla
    assert later.resolved == 1  # today's figures did move on
    assert {d.kind: d.missed for d in later.deadlines}["status_update"] > missed_then
    assert [t["tenant"] for t in review["tenants"]] == ["acme"]  # beta came in December
