"""The main job as an operations team lives it (issue 17 point 4): ``opsledger demo``'s
month has an on-call team that acknowledges, updates, mitigates, resolves, publishes RCAs,
judges alerts and adopts one threshold change mid-month, so the review reads like a real
month: SLA compliance with MTTA/MTTR per severity, precision per rule before and after the
adoption, and a recommendation whose replay removes noise and loses no actionable alert.
Deterministic: the same seed gives the same review in another store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN = [sys.executable, "-m", "opsledger.cli"]


def _demo(tmp_path: Path, name: str, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    db = f"sqlite:///{tmp_path / name}.db"
    done = subprocess.run([*RUN, "demo", "--db", db, "--out", str(tmp_path / name), "--json",
                           *args], check=True, capture_output=True, text=True, timeout=540)
    review = subprocess.run([*RUN, "review", "monthly", "--month", "2026-11", "--format",
                             "json", "--db", db], check=True, capture_output=True, text=True,
                            timeout=300)
    return json.loads(done.stdout), json.loads(review.stdout)


@pytest.mark.slow
@pytest.mark.policy("7.monthly_review")
@pytest.mark.policy("3.SEV2.ack")
def test_the_demo_month_reads_like_a_month_an_operations_team_lived(tmp_path: Path) -> None:
    demo, review = _demo(tmp_path, "month")
    acted = demo["operators"]
    assert acted["alerts judged noise"] > 50 and acted["alerts judged actionable"] > 0
    assert acted["incidents acknowledged late"] > 0 and acted["RCAs published"] > 0
    assert demo["adopted"]  # one change, adopted mid-month
    for severity in review["sla"]:
        ack = severity["deadlines"]["acknowledge"]
        assert ack["met"] > 0 and severity["mtta_minutes"] is not None
        assert severity["mttr_minutes"] is not None
    assert any(s["deadlines"]["acknowledge"]["missed"] for s in review["sla"])  # some late
    before, after = review["precision_by_policy"]
    assert before["to"] == after["from"] == review["threshold_tuning"][0]["effective_at"]
    assert all(r["precision"] is not None for s in (before, after) for r in s["rules"])
    chosen = review["tuning"]["recommendation"]
    assert chosen is not None and chosen["removed_noise"] > 0
    replayed = next(c for c in review["tuning"]["candidates"] if c["name"] == chosen["name"])
    assert replayed["lost_actionable"] == 0 and replayed["missed_days_added"] == 0
    assert (tmp_path / "month" / "tuned-policy.toml").is_file()


@pytest.mark.slow
@pytest.mark.policy("7.monthly_review")
def test_the_demo_is_deterministic_the_same_seed_gives_the_same_review(tmp_path: Path) -> None:
    first = _demo(tmp_path, "one", "--days", "6", "--tenants", "2")
    second = _demo(tmp_path, "two", "--days", "6", "--tenants", "2")
    assert first[1] == second[1]
    assert first[0]["operators"] == second[0]["operators"]
