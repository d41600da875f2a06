"""Streamed outputs run in memory flat in their length (issue 13, finding 6: ``replay`` of
a year took 1.86 GB, ``audit list`` without a limit 729 MB). Each command runs in a fresh
process over a store with N rows and one with 10 N; its peak resident set (VmHWM) must
not grow with the rows. A memory bound, not a timing.

The default tier fills the views directly (the rows a real import writes, copied with new
ids and times: quick to build); the slow tier imports simulated Pumuki lines for real.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsledger import FrozenClock, Governance, Operations

START = datetime(2026, 1, 1, tzinfo=UTC)
#: The child runs the CLI in-process and reports its own peak resident set (kB).
PEAK = """
import runpy, sys
sys.argv = ["opsledger", *sys.argv[1:]]
try:
    runpy.run_module("opsledger.cli", run_name="__main__")
except SystemExit as done:
    if done.code:
        raise
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(line.split()[1], file=sys.stderr)
"""
RATIO = 1.3


def _fill(url: str, rows: int) -> None:
    """A tenant with ``rows`` publish operations, one a minute from ``START``, written as
    view rows (templates taken from one real recorded operation)."""
    with Operations.open(url, clock=FrozenClock(START)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="t")
        ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key="k",
                           payload_hash="a" * 64, outcome="success", attempts=1,
                           latency_ms=120, occurred_at=START)
        ops.catch_up()
        sql = ops.sql
        with sql.transaction(commit=True) as cursor:
            for table, vary in (("audit_publish", _publish), ("slo_minute", _minute),
                                ("slo_latency", _minute)):
                sql.execute(cursor, f"SELECT * FROM {sql.table(table)}")
                template = dict(cursor.fetchone())
                columns = list(template)
                marks = ", ".join("?" * len(columns))
                statement = f"INSERT INTO {sql.table(table)} ({', '.join(columns)}) " \
                            f"VALUES ({marks})"
                for first in range(1, rows, 5000):
                    batch = [vary(template, n) for n in range(first, min(rows, first + 5000))]
                    sql.executemany(cursor, statement, [[r[c] for c in columns] for r in batch])


def _publish(template: dict[str, Any], n: int) -> dict[str, Any]:
    at = START + timedelta(minutes=n)
    return {**template, "operation_id": f"op-{n:08d}", "idempotency_key": f"k{n}",
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "latency_ms": 100 + n % 900}


def _minute(template: dict[str, Any], n: int) -> dict[str, Any]:
    return {**template, "minute": (START + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M")}


def _peak_kb(tmp_path: Path, url: str, args: list[str]) -> int:
    script = tmp_path / "peak.py"
    script.write_text(PEAK)
    done = subprocess.run([sys.executable, str(script), *args, "--db", url],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    return int(done.stderr.strip().splitlines()[-1])


COMMANDS = {
    "audit list": ["audit", "list", "--tenant", "acme", "--json"],
    "audit list (text)": ["audit", "list", "--tenant", "acme"],
    "replay": ["replay", "--tenant", "acme", "--from", "2026-01-01T00:00:00Z",
               "--to", "2027-01-01T00:00:00Z", "--json"],
    "audit export": ["audit", "export", "--tenant", "acme", "--format", "json"],
}


def _ratios(tmp_path: Path, urls: tuple[str, str], names: list[str]) -> dict[str, float]:
    ratios = {}
    for name in names:
        args = list(COMMANDS[name])
        peaks = []
        for index, url in enumerate(urls):
            extra = ["--out", str(tmp_path / f"export-{index}.json")] if "export" in name else []
            peaks.append(_peak_kb(tmp_path, url, args + extra))
        ratios[name] = peaks[1] / peaks[0]
    return ratios


@pytest.mark.parametrize("names", [["audit list", "replay"], ["audit export"]])
def test_peak_memory_does_not_grow_with_the_rows(tmp_path: Path, names: list[str]) -> None:
    small, large = (f"sqlite:///{tmp_path / f'{n}.db'}" for n in ("small", "large"))
    _fill(small, 2_000)
    _fill(large, 20_000)
    ratios = _ratios(tmp_path, (small, large), names)
    assert all(r < RATIO for r in ratios.values()), ratios


@pytest.mark.slow
def test_peak_memory_is_flat_on_postgres_and_for_text(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    large = pg_url
    base, _, schema = pg_url.partition("?schema=")
    small = f"{base}?schema={schema}_s"
    try:
        _fill(small, 5_000)
        _fill(large, 50_000)
        ratios = _ratios(tmp_path, (small, large), list(COMMANDS))
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_s" CASCADE')
    assert all(r < RATIO for r in ratios.values()), ratios


@pytest.mark.slow
def test_peak_memory_is_flat_after_a_real_import(tmp_path: Path) -> None:
    from opsledger.simulate import SimulationConfig, simulate

    urls = []
    for name, days in (("small", 4), ("large", 40)):
        lines = tmp_path / f"{name}.ndjson"
        with lines.open("wb") as out:
            simulate(SimulationConfig(days=days, tenants=1, seed=1, start=START,
                                      operations_per_day=1250), out)
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        subprocess.run([sys.executable, "-m", "opsledger.cli", "import", "pumuki-audit",
                        str(lines), "--register-unknown", "--db", url], check=True,
                       capture_output=True)
        urls.append(url)
    commands = {"audit list": ["audit", "list", "--tenant", "tenant-01", "--json"],
                "replay": ["replay", "--tenant", "tenant-01", "--from", "2026-01-01T00:00:00Z",
                           "--to", "2027-01-01T00:00:00Z", "--json"]}
    ratios = {name: _peak_kb(tmp_path, urls[1], args) / _peak_kb(tmp_path, urls[0], args)
              for name, args in commands.items()}
    assert all(r < RATIO for r in ratios.values()), ratios
