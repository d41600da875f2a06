"""The §7 reviews through the CLI: numbers equal ``slo``/``sla``; HTML and markdown carry
their charts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'review.db'}"
    subprocess.run([sys.executable, "-m", "opsledger.cli", "demo", "--sample", "--db", db],
                   check=True,
                   capture_output=True)
    return db


def cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "opsledger.cli", *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.policy("7.monthly_review")
def test_monthly_json_equals_slo_and_sla_for_the_same_period(demo_db: str) -> None:
    review = json.loads(cli("review", "monthly", "--month", "2026-11", "--format", "json",
                            "--db", demo_db))
    slo = json.loads(cli("slo", "--tenant", "tenant-solo", "--month", "2026-11", "--as-of",
                         "2026-12-01T00:00:00Z", "--json", "--db", demo_db))
    sla = json.loads(cli("sla", "--all-tenants", "--month", "2026-11", "--json", "--db",
                         demo_db))
    quality = json.loads(cli("alerts", "quality", "--all-tenants", "--month", "2026-11",
                             "--json", "--db", demo_db))
    (tenant,) = review["tenants"]
    assert tenant["slo"] == slo[0]
    assert review["sla"] == sla
    assert review["quality"] == quality and quality["rules"]
    assert review["alerts_per_rule"]["publish_error_rate"] == 6
    assert sum(day["operations"] for day in tenant["daily"]) == slo[0]["operations"] == 571


@pytest.mark.policy("7.weekly_review")
def test_weekly_review_compares_with_the_previous_week(demo_db: str) -> None:
    review = json.loads(cli("review", "weekly", "--week", "2026-W45", "--format", "json",
                            "--db", demo_db))
    (tenant,) = review["tenants"]
    this, last = tenant["this_week"], tenant["last_week"]
    assert (this["operations"], last["operations"]) == (571, 0)
    assert this["error_rate"] == pytest.approx(45 / 571)
    assert (this["latency_p95_ms"], this["isolation_blocked"]) == (3017, 2)


@pytest.mark.policy("7.monthly_review")
def test_html_and_markdown_reviews_carry_non_empty_charts(demo_db: str, tmp_path: Path) -> None:
    html_dir, md_dir = tmp_path / "html", tmp_path / "md"
    cli("review", "monthly", "--month", "2026-11", "--format", "html", "--out", str(html_dir),
        "--db", demo_db)
    page = (html_dir / "index.html").read_text()
    pngs = sorted(html_dir.glob("*.png"))
    # four SLO series, deadlines met and missed, alert precision, the alert timeline
    assert len(pngs) == 7 and all(p.stat().st_size > 2000 for p in pngs)
    assert page.count("data:image/png;base64,") == 7
    assert "True" not in page and "False" not in page  # met / not met, in words
    assert "not met" in page and "sla.png" in page
    cli("review", "monthly", "--month", "2026-11", "--format", "md", "--out", str(md_dir),
        "--db", demo_db)
    markdown = (md_dir / "index.md").read_text()
    for png in md_dir.glob("*.png"):
        assert f"]({png.name})" in markdown
