"""Streamed outputs run in memory flat in their length (issue 13, finding 6: ``replay`` of
a year took 1.86 GB, ``audit list`` without a limit 729 MB). Each command runs in a fresh
process over a small store and one with many more rows; its peak resident set (VmHWM) must
not grow with the rows. A memory bound, not a timing.

The default tier fills the views directly (the rows a real import writes, copied with new
ids and times: quick to build); the slow tier imports simulated Pumuki lines for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger_test_support import saas_tenant

from opsledger import FrozenClock, Operations

START = datetime(2026, 1, 1, tzinfo=UTC)
#: The child runs CLI commands in-process, one after the other, and reports its own peak
#: resident set (kB): the largest any of them needed.
PEAK = """
import json, sys
from opsledger.cli.main import main
for args in json.loads(sys.argv[1]):
    main(args, standalone_mode=False)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(line.split()[1], file=sys.stderr)
"""
RATIO = 1.3


def _fill(url: str, rows: int) -> None:
    """A tenant with ``rows`` publish operations, one a minute from ``START``, written as
    view rows (templates taken from one real recorded operation)."""
    with Operations.open(url, clock=FrozenClock(START)) as ops:
        saas_tenant(ops, "acme", ["web"], at=START)  # SaaS: its minutes count (latency)
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


def _peak_kb(tmp_path: Path, url: str, commands: list[list[str]]) -> int:
    """Peak resident set of one fresh process running ``commands`` on ``url``."""
    script = tmp_path / "peak.py"
    script.write_text(PEAK)
    runs = [[*args, "--db", url] for args in commands]
    done = subprocess.run([sys.executable, str(script), json.dumps(runs)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    return int(done.stderr.strip().splitlines()[-1])


def _commands(tenant: str, out: Path) -> dict[str, list[str]]:
    return {
        "audit list": ["audit", "list", "--tenant", tenant, "--json"],
        "audit list (text)": ["audit", "list", "--tenant", tenant],
        "replay": ["replay", "--tenant", tenant, "--from", "2026-01-01T00:00:00Z",
                   "--to", "2027-01-01T00:00:00Z", "--json"],
        "audit export": ["audit", "export", "--tenant", tenant, "--format", "json", "--out",
                         str(out)],
    }


def _ratio(tmp_path: Path, urls: list[str], commands: list[list[str]]) -> float:
    small, large = (_peak_kb(tmp_path, url, commands) for url in urls)
    return large / small


def test_peak_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """200 against 20,000 publish rows (and minutes): one process per store runs audit
    list, a year's replay and the export (JSON); the peak stays the same. (Reading the
    20,000 rows whole, as before, raised the peak by about 75 %.)"""
    urls = [f"sqlite:///{tmp_path / f'{n}.db'}" for n in ("small", "large")]
    _fill(urls[0], 200)
    _fill(urls[1], 20_000)
    commands = [args for name, args in _commands("acme", tmp_path / "export.json").items()
                if name != "audit list (text)"]  # text: in the slow tier
    assert _ratio(tmp_path, urls, commands) < RATIO


@pytest.mark.slow
def test_peak_memory_is_flat_on_postgres_for_each_command(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    base, _, schema = pg_url.partition("?schema=")
    urls = [f"{base}?schema={schema}_s", pg_url]
    try:
        _fill(urls[0], 5_000)
        _fill(urls[1], 50_000)
        ratios = {name: _ratio(tmp_path, urls, [args]) for name, args
                  in _commands("acme", tmp_path / "export.json").items()}
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_s" CASCADE')
    assert all(r < RATIO for r in ratios.values()), ratios


@pytest.mark.slow
def test_peak_memory_is_flat_after_a_real_import(tmp_path: Path) -> None:
    """5,000 against 50,000 simulated Pumuki lines imported for real (SQLite)."""
    from opsledger.sim.simulate import SimulationConfig, simulate

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
    commands = _commands("tenant-01", tmp_path / "export.json")
    ratios = {name: _ratio(tmp_path, urls, [commands[name]])
              for name in ("audit list", "audit list (text)", "replay")}
    assert all(r < RATIO for r in ratios.values()), ratios
