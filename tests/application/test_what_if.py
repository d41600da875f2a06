"""What-if replay for threshold tuning (policy §7 monthly review)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsledger import Operations, OperationsPolicy, import_pumuki_audit
from opsledger.reports.whatif import what_if

DAY = (datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))


@pytest.fixture
def imported(sample_audit: Path) -> Operations:
    ops = Operations.open("memory://")
    import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()], register_unknown=True)
    ops.advance_by_event_time()
    return ops


@pytest.mark.policy("7.monthly_review")
def test_the_policys_own_thresholds_reproduce_exactly_the_recorded_alerts(
    imported: Operations,
) -> None:
    with imported as ops:
        report = what_if(ops, OperationsPolicy(), *DAY)
    assert report["identical"] and report["only_recorded"] == report["only_candidate"] == []
    assert all(d["earlier_by_s"] == 0 for d in report["detections"])
    assert report["rules"]["publish_error_rate"] == {"fired": 6, "would_fire": 6, "same": 6}


@pytest.mark.policy("7.monthly_review")
def test_looser_error_threshold_would_miss_the_small_bursts(imported: Operations) -> None:
    looser = OperationsPolicy.from_toml("[alerts]\nerror_rate_threshold = 0.2\n")
    with imported as ops:
        report = what_if(ops, looser, *DAY)
    rule = report["rules"]["publish_error_rate"]
    assert rule["fired"] == 6 and rule["would_fire"] < 6
    missed = [d for d in report["detections"]
              if d["rule"] == "publish_error_rate" and d["would_trigger_at"] is None]
    assert missed  # the 8-12% burst (S3) goes unnoticed at 20%
    assert not report["identical"]
