"""A store whose alert process ran on the first, store-wide watermark (issue 13 finding 3:
all 571 facts of tenant-solo skipped as late behind another tenant's clock) is migrated
on its next evaluation: the skipped facts are evaluated at last, their alerts recorded
as backfilled, their incidents opened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from opsledger.domain.rule_state import new_tenant
from opsledger.domain.rules import to_us

from opsledger import Operations, import_pumuki_audit

OTHER_AT = datetime(2026, 11, 4, 7, 3, 3, 583000, tzinfo=UTC)


@pytest.mark.policy("4.high.publish_error_rate")
@pytest.mark.policy("4.critical.no_successful_ingestion")
def test_a_store_wide_state_with_skipped_facts_is_migrated_and_they_are_evaluated(
    store_url: str, sample_audit: Path
) -> None:
    record = json.loads(sample_audit.read_bytes().splitlines()[0])
    record.update(event_id="other-1", tenant_id="other", repository_id="repo-other",
                  event_at="2026-11-04T07:03:03.583Z")
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [[json.dumps(record).encode()]], register_unknown=True)
        import_pumuki_audit(ops, [sample_audit.open("rb")], register_unknown=True)
        head = ops.views.head()
        # What main's process left: one watermark for the store, tenant-solo's facts late.
        other = {k: v for k, v in new_tenant().items() if k not in (
            "buffer", "max_publish", "max_visible", "publish_wm", "visible_wm", "rerun",
            "rerun_wm", "rerun_from")}
        other["last_fact"] = to_us(OTHER_AT)
        wm = to_us(OTHER_AT - timedelta(minutes=5))
        v1 = {"buffer": [], "max_publish": to_us(OTHER_AT), "max_visible": None,
              "publish_wm": wm, "visible_wm": None, "tenants": {"other": other}}
        lines = [json.loads(line) for line in sample_audit.read_bytes().splitlines()]
        with ops.sql.transaction(commit=True) as cursor:
            ops.sql.execute(cursor, f"UPDATE {ops.sql.table('alert_process')} SET "
                                    "position = ?, state = ? WHERE name = 'rules'",
                            (head, orjson.dumps(v1).decode()))
            ops.sql.executemany(cursor, f"INSERT INTO {ops.sql.table('alert_late_facts')} "
                                        "VALUES (?, ?, ?, ?)",
                                [(r["event_id"], "tenant-solo", r["event_at"], 0)
                                 for r in lines])
        alerts = ops.alerts(tenant_id="tenant-solo")
        assert len(alerts) == 10 and all(a["backfilled"] for a in alerts)
        assert len(ops.incidents(tenant_id="tenant-solo")) == 9
        assert ops.alerts(tenant_id="other") == []
        assert ops.evaluate_alerts() == 0  # migrated once; nothing more to find
