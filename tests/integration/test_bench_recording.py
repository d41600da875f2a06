"""``python -m bench --postgres URL`` adds the single-record row on PostgreSQL, each run in a
fresh schema that is dropped after."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import __main__ as bench_main


@pytest.mark.slow  # the whole default bench, start-up row included (~10 s)
def test_the_single_row_runs_on_postgresql_and_leaves_no_schema(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    used: list[str] = []
    fresh = bench_main._Schemas.fresh

    def recorded(self: bench_main._Schemas, label: str) -> str:
        used.append(fresh(self, label))
        return used[-1]

    monkeypatch.setattr(bench_main._Schemas, "fresh", recorded)
    report = bench_main.run(bench_main.parse_args(
        ["--lines", "40", "--single", "15", "--repeat", "1", "--dir", str(tmp_path),
         "--postgres", pg_url, "--json"]))
    rows = {c.name: c for c in report.comparisons}
    assert set(rows) == {"bulk", "single", "single-pg"}
    pg = rows["single-pg"]
    assert pg.events == 15 and len(pg.opsledger_seconds) == len(pg.library_seconds) == 1
    assert pg.ratio > 0 and "single-pg" in report.to_dict()["results"]
    assert len(used) == 2
    with psycopg.connect(pg_url.split("?", 1)[0]) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                            (used,)).fetchall()
    assert left == []
