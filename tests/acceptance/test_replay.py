"""``opsledger replay``: one ordered, deterministic RCA timeline of the sample's outage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_outage_timeline_is_ordered_complete_and_byte_identical(
    tmp_path: Path, sample_dir: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run = [sys.executable, "-m", "opsledger.cli"]
    subprocess.run([*run, "import", "pumuki-audit", str(sample_dir / "saas-ingestion-audit.ndjson"),
                    "--register-unknown", "--db", db], check=True, capture_output=True)
    replay = [*run, "replay", "--tenant", "tenant-solo", "--from", "2026-11-03T07:25:00Z",
              "--to", "2026-11-03T08:20:00Z", "--json", "--db", db]
    first = subprocess.run(replay, check=True, capture_output=True, text=True).stdout
    entries = json.loads(first)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    kinds = [(e["kind"], e.get("rule") or e.get("deadline")) for e in entries
             if e["kind"] != "publish_minute"]
    assert ("alert_triggered", "no_successful_ingestion") in kinds
    assert ("deadline_missed", "acknowledge") in kinds
    assert ("alert_resolved", "no_successful_ingestion") in kinds
    outage = next(e for e in entries if e.get("rule") == "no_successful_ingestion")
    assert outage["at"] == "2026-11-03T07:59:52.711Z"
    minutes = [e for e in entries if e["kind"] == "publish_minute"]
    assert sum(m["operations"] for m in minutes) > 0
    assert {"at", "kind", "errors", "err_http_status", "latency_p95_ms"} <= set(minutes[0])
    second = subprocess.run(replay, check=True, capture_output=True, text=True).stdout
    assert second == first
