"""Property (issue 13, point 3): a tenant's alerts and incidents are identical whether
other tenants' data is imported before, after, interleaved, concurrently (two processes)
or not at all — whatever the other tenant's clock says. Generated Pumuki lines, imported
the way the CLI does (import, then advance by event time), on a SQLite file (and
PostgreSQL in the slow profile)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsledger import Operations, import_pumuki_audit

T0 = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
CODES = ["HTTP_STATUS", "TIMEOUT", "AUTH_POLICY_VIOLATION"]


def lines_for(tenant: str, rng: random.Random, count: int, start: datetime,
              error_rate: float) -> list[bytes]:
    """``count`` Pumuki lines of ``tenant`` from ``start``, written in completion order
    (each at most four minutes out of time order: within the allowed lateness)."""
    at, records = start, []
    for n in range(count):
        at += timedelta(seconds=rng.choice([5, 30, 90, 400, 1900]))
        error = rng.random() < error_rate
        record = {
            "event_id": f"{tenant}-{n}", "event_at": at.isoformat().replace("+00:00", "Z"),
            "tenant_id": tenant, "repository_id": f"repo-{tenant}",
            "endpoint": "http://127.0.0.1:18787/v1/ingest/hotspots",
            "idempotency_key": f"{tenant}-run-{n // 2}", "payload_hash": f"{n:064x}",
            "outcome": "error" if error else "success", "attempts": 1,
            "latency_ms": rng.choice([90, 400, 3500, 9000]), "request_id": f"r-{n}",
            "status": 503 if error else 202}
        if error:
            record["error_code"] = rng.choice(CODES)
        records.append((at.timestamp() + rng.uniform(0, 240), json.dumps(record).encode()))
    return [line for _, line in sorted(records)]


def import_files(url: str, *files: list[bytes]) -> None:
    with Operations.open(url) as ops:
        for lines in files:
            import_pumuki_audit(ops, [lines], register_unknown=True)
            ops.advance_by_event_time()


def seen_by(url: str, tenant: str) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """A tenant's alerts, incidents (with their deadlines) and late facts."""
    with Operations.open(url) as ops:
        alerts = [(a["rule"], a["triggered_at"], a["resolved_at"], a["backfilled"],
                   a["observed"]) for a in ops.alerts(tenant_id=tenant, include_withdrawn=True)]
        incidents = sorted(
            (i["severity"], i["opened_at"], i["state"],
             tuple((d["kind"], d["status"], d["missed_at"]) for d in i["deadlines"]))
            for i in ops.incidents(tenant_id=tenant))
        return alerts, incidents, ops.late_alert_facts().to_dict().get(tenant, {})


def concurrently(url: str, first: list[bytes], second: list[bytes], folder: Path) -> None:
    with Operations.open(url):
        pass  # the schema exists before two processes race to use it
    script = ("import sys; from opsledger import Operations, import_pumuki_audit\n"
              "with Operations.open(sys.argv[1]) as ops:\n"
              "    import_pumuki_audit(ops, [open(sys.argv[2], 'rb')], register_unknown=True)\n"
              "    ops.advance_by_event_time()\n")
    paths = []
    for n, lines in enumerate((first, second)):
        path = folder / f"c{n}.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(path)
    runs = [subprocess.Popen([sys.executable, "-c", script, url, str(p)],
                             stderr=subprocess.PIPE) for p in paths]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()[-2000:]
    import_files(url)  # a last sweep once both are in (as the next command would)


def check_isolation(seed: int, offset_hours: int, counts: tuple[int, int],
                    error_rate: float, fresh_url: Any, concurrent: bool) -> None:
    rng = random.Random(seed)
    mine = lines_for("acme", rng, counts[0], T0, error_rate)
    theirs = lines_for("globex", rng, counts[1], T0 + timedelta(hours=offset_hours), 0.3)
    sides = [True] * len(mine) + [False] * len(theirs)
    rng.shuffle(sides)  # interleaved, each tenant's own lines kept in their order
    mine_iter, theirs_iter = iter(mine), iter(theirs)
    interleaved = [next(mine_iter) if side else next(theirs_iter) for side in sides]
    alone = fresh_url()
    import_files(alone, mine)
    expected = seen_by(alone, "acme")
    assert expected[2] == {}  # within the allowed lateness: none of acme's facts is late
    if error_rate >= 0.3:
        assert expected[0] and expected[1]  # something to lose: alerts and incidents
    arrangements = {"before": [theirs, mine], "after": [mine, theirs],
                    "interleaved": [interleaved]}
    for name, files in arrangements.items():
        url = fresh_url()
        import_files(url, *files)
        assert seen_by(url, "acme") == expected, name
    if concurrent:
        with tempfile.TemporaryDirectory() as folder:
            url = fresh_url()
            concurrently(url, theirs, mine, Path(folder))
            assert seen_by(url, "acme") == expected, "concurrently"


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("4.high.publish_error_rate")
@pytest.mark.policy("4.critical.no_successful_ingestion")
@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), offset=st.sampled_from([-30, -1, 0, 2, 24]),
       counts=st.tuples(st.integers(15, 40), st.integers(1, 25)),
       error_rate=st.sampled_from([0.3, 0.7]))
def test_a_tenants_alerts_do_not_depend_on_other_tenants(
    tmp_path: Path, seed: int, offset: int, counts: tuple[int, int], error_rate: float
) -> None:
    stores = iter(range(10_000))
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    check_isolation(seed, offset, counts, error_rate,
                    lambda: f"sqlite:///{folder / f's{next(stores)}.db'}", concurrent=False)
    # (two processes at once: the slow profile here, and the acceptance test on the sample)


@pytest.mark.slow
@pytest.mark.policy("5.scoping")
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), offset=st.integers(-72, 72),
       counts=st.tuples(st.integers(10, 150), st.integers(1, 150)),
       error_rate=st.floats(0.0, 0.9))
def test_a_tenants_alerts_do_not_depend_on_other_tenants_at_scale_on_postgresql(
    pg_url: str, seed: int, offset: int, counts: tuple[int, int], error_rate: float
) -> None:
    import psycopg

    base, schema = pg_url.rsplit("?schema=", 1)
    made: list[str] = []

    def fresh() -> str:
        made.append(f"{schema}_{len(made)}")
        return f"{base}?schema={made[-1]}"

    try:
        check_isolation(seed, offset, counts, error_rate, fresh, concurrent=True)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}_views" CASCADE')
