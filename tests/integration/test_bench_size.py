"""``python -m bench size`` accounts for every page of the store it measures, per table and
index, and shows the compressed event states."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench._size import measure_store, opsledger_store, run, simulated_inputs
from opsledger.store.views_db import ViewsFile


def test_size_report_accounts_for_every_page_of_both_stores(tmp_path: Path) -> None:
    report = run(300, 7, tmp_path)
    assert report.publishes == 300 and 0 < report.snapshots <= 300
    ours = report.opsledger.objects
    assert ours["stored_events"][0] == "table"
    assert ours["sqlite_autoindex_stored_events_1"][:2] == ("index", "stored_events")
    assert {"opsledger_chain", "opsledger_dictionaries", "audit_publish"} <= ours.keys()
    assert report.opsledger.total == report.opsledger.file_bytes  # every page, WAL emptied
    assert "stored_events" in report.library.objects
    started = report.opsledger.topics["opsledger.PublishBatch.Started"]
    assert started[0] >= 290 and started[1] < 400  # compressed, then sealed
    data = report.to_dict()
    assert data["opsledger"]["x_raw"] == round(report.opsledger.total / report.raw_bytes, 3)
    assert "stored_events" in report.render()


def test_measured_pages_match_sqlites_own_page_count(tmp_path: Path) -> None:
    audit, snapshots = simulated_inputs(200, 3)
    assert audit.count(b"\n") == 200
    path = tmp_path / "store.db"
    assert opsledger_store(f"sqlite:///{path}", audit, snapshots) == 200
    size = measure_store(path)
    total = 0
    for file in (path, ViewsFile(str(path)).current_path()):  # the events' and the views'
        with sqlite3.connect(str(file)) as connection:
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            total += pages * connection.execute("PRAGMA page_size").fetchone()[0]
    assert size.total == total
