"""Tests of the deterministic Pumuki audit-log simulator (opsledger.sim.simulate)."""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsledger.sim.simulate import (
    Episode,
    SimulationConfig,
    SimulationSummary,
    default_episodes,
    simulate,
)

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
EVENT_ID_RE = re.compile(r"^saas-ingestion-[0-9a-f]{24}$")
KEY_RE = re.compile(r"^(pumuki-hotspots-v1-[0-9a-f]{32}|ci-repo-\d{2}-[a-z]+-run-\d+)$")
COMMON_KEYS = [
    "event_id",
    "event_at",
    "tenant_id",
    "repository_id",
    "endpoint",
    "idempotency_key",
    "payload_hash",
    "outcome",
    "attempts",
    "latency_ms",
]
# Key orders seen in Pumuki's own sample (opsledger/samples/saas-ingestion-audit.ndjson).
SUCCESS_KEYS = [*COMMON_KEYS, "request_id", "status"]
HTTP_ERROR_KEYS = [*COMMON_KEYS, "status", "error_code", "retryable"]
OTHER_ERROR_KEYS = [*COMMON_KEYS, "error_code", "retryable"]
SNAPSHOT_KEYS = ["tenant_id", "repository_id", "payload_hash", "idempotency_key", "visible_at"]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class Run:
    config: SimulationConfig
    summary: SimulationSummary
    audit: bytes
    snapshots: bytes

    @property
    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.audit.splitlines()]

    @property
    def snapshot_records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.snapshots.splitlines()]


def run(config: SimulationConfig, *, with_snapshots: bool = True) -> Run:
    audit = io.BytesIO()
    snaps = io.BytesIO() if with_snapshots else None
    summary = simulate(config, audit, snaps)
    return Run(config, summary, audit.getvalue(), snaps.getvalue() if snaps else b"")


def with_defaults(config: SimulationConfig) -> SimulationConfig:
    return replace(config, episodes=default_episodes(config))


@pytest.fixture(scope="module")
def standard() -> Run:
    return run(with_defaults(SimulationConfig(days=2, tenants=3, seed=7)))


def in_window(record: dict[str, Any], episode: Episode) -> bool:
    return bool(
        record["tenant_id"] == episode.tenant_id
        and episode.start <= ts(record["event_at"]) < episode.end
    )


def the_episode(config: SimulationConfig, kind: str) -> Episode:
    (episode,) = [e for e in config.episodes if e.kind == kind]
    return episode


# --- determinism ---------------------------------------------------------------------------


def test_same_config_gives_identical_bytes() -> None:
    config = with_defaults(SimulationConfig(tenants=2, seed=3))
    first, second = run(config), run(config)
    assert first.audit == second.audit
    assert first.snapshots == second.snapshots
    assert first.summary == second.summary


def test_different_seed_gives_different_bytes() -> None:
    config = with_defaults(SimulationConfig(seed=1))
    assert run(config).audit != run(replace(config, seed=2)).audit


def test_audit_bytes_do_not_depend_on_snapshot_output() -> None:
    config = with_defaults(SimulationConfig(seed=5))
    with_snaps, without = run(config), run(config, with_snapshots=False)
    assert with_snaps.audit == without.audit
    assert with_snaps.summary == without.summary


# --- line format ---------------------------------------------------------------------------


def check_record(record: dict[str, Any]) -> None:
    for key in ("event_id", "event_at", "tenant_id", "repository_id", "endpoint"):
        assert isinstance(record[key], str)
    assert EVENT_ID_RE.match(record["event_id"])
    assert TS_RE.match(record["event_at"])
    assert KEY_RE.match(record["idempotency_key"])
    assert HEX64_RE.match(record["payload_hash"])
    assert record["endpoint"].endswith("/v1/ingest/hotspots")
    assert record["tenant_id"] in {"tenant-01", "tenant-02", "tenant-03"}
    assert record["repository_id"].startswith("repo-" + record["tenant_id"][-2:] + "-")
    for key in ("attempts", "latency_ms"):
        assert type(record[key]) is int and record[key] >= 0
    assert record["outcome"] in ("success", "error")
    others = {k: v for k, v in record.items() if k != "event_id"}
    digest = hashlib.sha256(orjson.dumps(others, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert record["event_id"] == "saas-ingestion-" + digest[:24]
    if record["outcome"] == "success":
        assert list(record) == SUCCESS_KEYS
        assert record["status"] in (200, 202)
        assert re.match(r"^req-[0-9a-f]{20}$", record["request_id"])
        assert 1 <= record["attempts"] <= 3
        return
    assert type(record["retryable"]) is bool
    if record["error_code"] == "HTTP_STATUS":
        assert list(record) == HTTP_ERROR_KEYS
        assert record["status"] in (409, 429, 500, 502, 503)
        assert record["attempts"] == (1 if record["status"] == 409 else 3)
    else:
        assert list(record) == OTHER_ERROR_KEYS
        assert record["error_code"] in ("AUTH_POLICY_VIOLATION", "ISOLATION_VIOLATION", "NETWORK")
    if record["error_code"] in ("AUTH_POLICY_VIOLATION", "ISOLATION_VIOLATION"):
        assert record["attempts"] == 0
        assert record["latency_ms"] <= 5
        assert record["retryable"] is False


def test_every_line_is_a_compact_complete_pumuki_record(standard: Run) -> None:
    assert standard.audit.endswith(b"\n")
    lines = standard.audit.split(b"\n")[:-1]
    assert len(lines) == standard.summary.lines > 1000
    for line in lines:
        record = orjson.loads(line)
        assert orjson.dumps(record) == line  # compact, keys in written order
        check_record(record)


def test_event_ids_are_distinct(standard: Run) -> None:
    ids = Counter(r["event_id"] for r in standard.records)
    assert max(ids.values()) == 1


def test_retried_successes_include_back_off_in_latency(standard: Run) -> None:
    for record in standard.records:
        if record["outcome"] == "success" and record["attempts"] == 3:
            assert record["latency_ms"] >= 750
        elif record["attempts"] == 2:
            assert record["latency_ms"] >= 250


def test_snapshot_lines_have_the_downstream_shape(standard: Run) -> None:
    for line in standard.snapshots.splitlines():
        record = orjson.loads(line)
        assert orjson.dumps(record) == line
        assert list(record) == SNAPSHOT_KEYS
        assert TS_RE.match(record["visible_at"])


# --- completion order ----------------------------------------------------------------------


def max_lag(records: list[dict[str, Any]]) -> timedelta:
    worst, latest = timedelta(0), None
    for record in records:
        at = ts(record["event_at"])
        if latest is not None:
            worst = max(worst, latest - at)
        latest = at if latest is None else max(latest, at)
    return worst


def test_lines_are_late_but_never_beyond_max_lateness(standard: Run) -> None:
    lag = max_lag(standard.records)
    assert timedelta(0) < lag <= timedelta(seconds=standard.config.max_lateness_s)


@pytest.mark.parametrize("lateness", [0.0, 0.5, 30.0])
def test_lateness_bound_is_honoured_for_small_bounds(lateness: float) -> None:
    config = with_defaults(SimulationConfig(seed=11, tenants=2, max_lateness_s=lateness))
    assert max_lag(run(config).records) <= timedelta(seconds=lateness)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    lateness=st.floats(0.0, 600.0),
    tenants=st.integers(1, 3),
    ops=st.integers(0, 400),
    dup=st.floats(0.0, 0.3),
)
def test_property_lines_valid_and_bounded(
    seed: int, lateness: float, tenants: int, ops: int, dup: float
) -> None:
    config = with_defaults(
        SimulationConfig(
            seed=seed,
            tenants=tenants,
            operations_per_day=ops,
            duplicate_rate=dup,
            max_lateness_s=lateness,
        )
    )
    result = run(config)
    records = result.records
    for record in records:
        check_record(record)
    assert max_lag(records) <= timedelta(seconds=lateness)
    assert result.summary.lines == len(records)
    start = config.start
    assert all(start <= ts(r["event_at"]) < start + timedelta(days=1) for r in records)


# --- snapshots -----------------------------------------------------------------------------


def first_accepts(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    accepted: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r["event_at"]):
        triple = (record["tenant_id"], record["idempotency_key"], record["payload_hash"])
        if record["outcome"] == "success" and triple not in accepted:
            accepted[triple] = record
    return accepted


def test_one_snapshot_per_first_accepted_payload_minus_never_visible(standard: Run) -> None:
    accepted = first_accepts(standard.records)
    snaps = standard.snapshot_records
    triples = [(s["tenant_id"], s["idempotency_key"], s["payload_hash"]) for s in snaps]
    assert len(triples) == len(set(triples)) == standard.summary.snapshots
    assert set(triples) <= set(accepted)
    never_visible = len(accepted) - len(triples)
    assert 0 < never_visible <= 0.02 * len(accepted)
    for snap, triple in zip(snaps, triples, strict=True):
        assert snap["repository_id"] == accepted[triple]["repository_id"]


def test_first_acceptance_is_202_and_replays_are_200(standard: Run) -> None:
    accepted = first_accepts(standard.records)
    first_ids = {r["event_id"] for r in accepted.values()}
    for record in standard.records:
        if record["outcome"] == "success":
            assert record["status"] == (202 if record["event_id"] in first_ids else 200)


def test_snapshot_delays_normal_and_in_freshness_window(standard: Run) -> None:
    config = standard.config
    fresh = the_episode(config, "freshness_delay")
    accepted = first_accepts(standard.records)
    delayed = 0
    for snap in standard.snapshot_records:
        origin = accepted[(snap["tenant_id"], snap["idempotency_key"], snap["payload_hash"])]
        delay = ts(snap["visible_at"]) - ts(origin["event_at"])
        if in_window(origin, fresh):
            delayed += 1
            assert timedelta(minutes=20) <= delay <= timedelta(minutes=45)
        else:
            assert timedelta(seconds=30) <= delay <= timedelta(minutes=10)
    assert delayed > 5
    visible = [s["visible_at"] for s in standard.snapshot_records]
    assert visible == sorted(visible)


# --- episodes ------------------------------------------------------------------------------


def test_default_episodes_are_in_working_hours_and_inside_the_period() -> None:
    config = SimulationConfig(days=10, tenants=5)
    episodes = default_episodes(config)
    assert episodes == default_episodes(config)
    assert {e.kind for e in episodes} == {
        "outage",
        "slow",
        "error_burst",
        "auth_failures",
        "isolation",
        "collisions",
        "freshness_delay",
    }
    outage = the_episode(replace(config, episodes=episodes), "outage")
    assert outage.end - outage.start == timedelta(minutes=45)
    end = config.start + timedelta(days=config.days)
    for e in episodes:
        assert config.start <= e.start < e.end <= end
        assert e.start.tzinfo is not None
        assert e.start.hour >= 7 and e.end.hour <= 19
        assert e.tenant_id in ("tenant-01", "tenant-02", "tenant-03")
    assert len({e.start.date() for e in episodes}) > 1


def test_outage_window_has_no_success_but_traffic_continues(standard: Run) -> None:
    outage = the_episode(standard.config, "outage")
    inside = [r for r in standard.records if in_window(r, outage)]
    assert len(inside) >= 10
    assert all(r["outcome"] == "error" for r in inside)
    assert all(r["error_code"] in ("HTTP_STATUS", "NETWORK") for r in inside)
    assert all(r["attempts"] == 3 and r["retryable"] for r in inside)


def test_failed_batches_are_republished_with_same_key_and_hash(standard: Run) -> None:
    outage = the_episode(standard.config, "outage")
    failed = {
        (r["idempotency_key"], r["payload_hash"]) for r in standard.records if in_window(r, outage)
    }
    later_ok = {
        (r["idempotency_key"], r["payload_hash"])
        for r in standard.records
        if r["outcome"] == "success" and ts(r["event_at"]) >= outage.end
    }
    assert len(failed & later_ok) >= 0.3 * len(failed)


def test_slow_phase_and_error_burst(standard: Run) -> None:
    slow = the_episode(standard.config, "slow")
    inside = [r for r in standard.records if in_window(r, slow)]
    slow_count = sum(r["latency_ms"] >= 3500 for r in inside)
    assert 0.4 * len(inside) <= slow_count and all(r["latency_ms"] <= 20_000 for r in inside)
    burst = the_episode(standard.config, "error_burst")
    inside = [r for r in standard.records if in_window(r, burst)]
    failed = [r for r in inside if r.get("status") == 500]
    assert 0.15 * len(inside) <= len(failed) <= 0.75 * len(inside)
    assert all(r["attempts"] == 3 and r["error_code"] == "HTTP_STATUS" for r in failed)
    outside = [r for r in standard.records if r.get("status") == 500 and not in_window(r, burst)]
    assert outside == []


def test_auth_and_isolation_failures(standard: Run) -> None:
    records = standard.records
    auth = [r for r in records if r.get("error_code") == "AUTH_POLICY_VIOLATION"]
    isolation = [r for r in records if r.get("error_code") == "ISOLATION_VIOLATION"]
    assert len(auth) == 8 and len(isolation) == 2
    auth_ep = the_episode(standard.config, "auth_failures")
    assert all(in_window(r, auth_ep) for r in auth)
    assert all("status" not in r for r in auth + isolation)
    iso_ep = the_episode(standard.config, "isolation")
    assert all(in_window(r, iso_ep) for r in isolation)


def key_hashes(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["event_at"]):
        groups[(record["tenant_id"], record["idempotency_key"])].append(record)
    return groups


def test_collisions_differ_in_hash_while_duplicates_share_it(standard: Run) -> None:
    episode = the_episode(standard.config, "collisions")
    collisions, duplicates = [], []
    for group in key_hashes(standard.records).values():
        first = group[0]
        for later in group[1:]:
            assert later["repository_id"] == first["repository_id"]
            if later["payload_hash"] != first["payload_hash"]:
                collisions.append(later)
            else:
                duplicates.append(later)
    assert len(collisions) >= 2
    assert all(in_window(r, episode) for r in collisions)
    assert any(r.get("status") == 409 and r["attempts"] == 1 for r in collisions)
    assert len(duplicates) >= 0.01 * len(standard.records)
    assert any(in_window(r, episode) for r in duplicates)


def test_no_collisions_without_a_collisions_episode() -> None:
    records = run(SimulationConfig(days=2, tenants=2, seed=9, duplicate_rate=0.1)).records
    duplicates = 0
    for group in key_hashes(records).values():
        assert len({r["payload_hash"] for r in group}) == 1
        duplicates += len(group) - 1
    assert duplicates > 50
    assert not any(r.get("status") == 409 for r in records)


# --- summary and configuration -------------------------------------------------------------


def test_summary_counts_equal_recount_from_file(standard: Run) -> None:
    records = standard.records
    summary = standard.summary
    assert summary.lines == len(records)
    assert summary.snapshots == len(standard.snapshot_records)
    assert summary.successes == sum(r["outcome"] == "success" for r in records)
    assert summary.errors == sum(r["outcome"] == "error" for r in records)
    assert summary.errors_by_code == dict(
        Counter(r["error_code"] for r in records if r["outcome"] == "error")
    )
    assert summary.tenants == ("tenant-01", "tenant-02", "tenant-03")
    assert summary.repositories["tenant-02"] == ("repo-02-a", "repo-02-b", "repo-02-c")
    seen = {(r["tenant_id"], r["repository_id"]) for r in records}
    assert seen == {(t, repo) for t, repos in summary.repositories.items() for repo in repos}


def test_volume_and_diurnal_shape() -> None:
    config = SimulationConfig(days=3, tenants=2, seed=4, operations_per_day=2000)
    records = run(config).records
    assert 0.9 * 12_000 <= len(records) <= 1.1 * 12_000
    by_hour = Counter(ts(r["event_at"]).hour for r in records)
    day = sum(by_hour[h] for h in range(7, 19))
    assert day > 2 * (len(records) - day)
    assert all(by_hour[h] > 0 for h in range(24))


def test_many_repositories_get_distinct_names() -> None:
    summary = run(SimulationConfig(repositories_per_tenant=30, operations_per_day=10)).summary
    repos = summary.repositories["tenant-01"]
    assert len(set(repos)) == 30 and repos[26] == "repo-01-aa"


def test_invalid_configurations_are_rejected() -> None:
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    stranger = Episode("outage", "tenant-09", start, start + timedelta(hours=1))
    with pytest.raises(ValueError, match="unknown tenant"):
        simulate(SimulationConfig(episodes=(stranger,)), io.BytesIO())
    empty = Episode("outage", "tenant-01", start, start)
    with pytest.raises(ValueError):
        simulate(SimulationConfig(episodes=(empty,)), io.BytesIO())
    naive = Episode("slow", "tenant-01", datetime(2026, 11, 2, 8), datetime(2026, 11, 2, 9))
    with pytest.raises(ValueError, match="naive"):
        simulate(SimulationConfig(episodes=(naive,)), io.BytesIO())
    with pytest.raises(ValueError):
        simulate(SimulationConfig(days=0), io.BytesIO())
