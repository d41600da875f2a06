"""The pure rule engine on per-tenant event time: isolation, total fact order, re-runs of
late facts, and the migration of the first (store-wide) state shape."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.domain.alert import alert_uuid
from opsledger.domain.rule_state import STATE_VERSION, migrate
from opsledger.domain.rules import Change, RuleEngine, from_us, to_us

from opsledger import OperationsPolicy

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
FAR = T0 + timedelta(days=2)


def fact(seconds: float, *, ok: bool = True, latency: int = 100, code: str | None = None,
         tenant: str = "acme", n: int = 0) -> dict[str, Any]:
    return {"kind": "publish", "at": to_us(T0 + timedelta(seconds=seconds)),
            "tiebreak": f"op{n:06d}", "tenant": tenant, "repository": "web",
            "idempotency_key": f"k{n}", "payload_hash": f"h{n}", "ok": ok, "latency_ms": latency,
            "error_code": code if not ok else None, "collision": False, "accepted": False,
            "local_only": False}


def run(facts: list[dict[str, Any]]) -> list[Change]:
    e = engine()
    for f in facts:
        e.ingest(f)
    return e.advance(to_us(FAR))


def engine() -> RuleEngine:
    policy = OperationsPolicy()
    return RuleEngine(None, lambda _at: policy)


def history(changes: list[Change]) -> dict[str, tuple[int, int | None]]:
    found: dict[str, tuple[int, int | None]] = {}
    for c in changes:
        key = str(alert_uuid(c.tenant, c.rule, from_us(c.triggered_at)))
        found[key] = (c.triggered_at, c.at if c.kind == "resolved" else None)
    return found


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("4.high.publish_error_rate")
def test_another_tenants_later_fact_neither_delays_nor_makes_late_nor_fires() -> None:
    burst = [fact(i * 20, ok=i >= 3, code="HTTP_STATUS", n=i) for i in range(10)]
    alone = run(burst)
    assert [c.rule for c in alone if c.kind == "triggered"] == ["publish_error_rate"]
    e = engine()
    assert e.ingest(fact(86_400, tenant="other", n=99))  # a day ahead, first
    e.advance()
    assert all(e.ingest(f) for f in burst)  # none late: acme has its own time
    assert e.advance(to_us(FAR)) == alone  # other's one success fires nothing
    assert e.pending_reruns() == []


@pytest.mark.parametrize("tenants", [("acme", "acme"), ("acme", "globex")])
def test_equal_time_and_operation_id_never_compare_two_dicts(
    tenants: tuple[str, str],
) -> None:
    # Finding 1: the same event_id at the same instant (two tenants, or a reused id) made
    # the heap compare two dicts (TypeError). The order is total and arrival-independent.
    a = fact(60, ok=False, code="HTTP_STATUS", tenant=tenants[0], n=7)
    b = {**fact(60, latency=4000, tenant=tenants[1], n=7), "repository": "api"}
    results = []
    for pair in ([a, b], [b, a]):
        e = engine()
        for f in pair:
            assert e.ingest(f)
        results.append(e.advance(to_us(FAR)))
    assert results[0] == results[1]


def test_a_late_fact_marks_only_its_tenant_for_a_rerun() -> None:
    e = engine()
    assert e.ingest(fact(600, n=1))
    assert e.ingest(fact(600, tenant="globex", n=2))
    e.advance()
    assert not e.ingest(fact(299, ok=False, code="HTTP_STATUS", n=3))  # acme wm = 300 s
    assert e.ingest(fact(299, tenant="globex", n=4)) is False
    assert e.ingest(fact(301, ok=False, code="HTTP_STATUS", n=5))
    assert e.pending_reruns() == ["acme", "globex"]


@pytest.mark.policy("4.high.publish_error_rate")
@pytest.mark.policy("4.critical.no_successful_ingestion")
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batches=st.integers(2, 8))
def test_any_arrival_order_with_reruns_ends_in_the_in_order_alerts(seed: int,
                                                                   batches: int) -> None:
    rng = random.Random(seed)
    facts = [fact(i * 40 + rng.random(), ok=rng.random() > 0.25, code="HTTP_STATUS",
                  latency=rng.choice([100, 4000]), n=i) for i in range(120)]
    expected = history(run(facts))
    arrived = facts[:]
    rng.shuffle(arrived)
    e = engine()
    recorded: dict[str, tuple[int, int | None]] = {}
    seen: list[dict[str, Any]] = []
    size = -(-len(arrived) // batches)
    for start in range(0, len(arrived), size):
        for f in arrived[start:start + size]:
            e.ingest(f)
            seen.append(f)
        recorded.update(history(e.advance()))
        for tenant in e.pending_reruns():
            recorded = history(e.rerun(tenant, seen))  # what the process reconciles to
            assert e.pending_reruns() == []
    recorded.update(history(e.advance(to_us(FAR))))
    assert recorded == expected


def test_the_first_state_shape_is_migrated_per_tenant() -> None:
    e = engine()
    for f in (fact(600, n=1), fact(900, tenant="globex", n=2)):
        e.ingest(f)
    e.advance()
    v2 = e.state
    queued = fact(700, ok=False, code="HTTP_STATUS", n=3)
    v1 = {"buffer": [[queued["at"], queued["tiebreak"], queued]],
          "max_publish": v2["tenants"]["globex"]["max_publish"], "max_visible": None,
          "publish_wm": v2["tenants"]["globex"]["publish_wm"], "visible_wm": None,
          "tenants": {name: {k: v for k, v in t.items() if k not in (
              "buffer", "max_publish", "max_visible", "publish_wm", "visible_wm", "rerun")}
              for name, t in v2["tenants"].items()}}
    migrated = migrate(orjson.loads(orjson.dumps(v1)), late_tenants={"solo"})
    assert migrated["v"] == STATE_VERSION
    assert sorted(migrated["tenants"]) == ["acme", "globex", "solo"]
    assert [entry[3]["tiebreak"] for entry in migrated["tenants"]["acme"]["buffer"]] == [
        "op000003"]
    assert migrated["tenants"]["solo"]["rerun"] and not migrated["tenants"]["acme"]["rerun"]
    assert {t["publish_wm"] for t in migrated["tenants"].values()} == {v1["publish_wm"]}
    resumed = RuleEngine(migrated, lambda _at: OperationsPolicy())
    resumed.advance(to_us(FAR))  # the migrated state runs
    assert migrate(migrated) is migrated


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batches=st.integers(4, 12))
def test_a_rerun_from_a_checkpoint_before_the_late_facts_equals_one_from_zero(
    seed: int, batches: int
) -> None:
    rng = random.Random(seed)
    facts = [fact(i * 40 + rng.random(), ok=rng.random() > 0.25, code="HTTP_STATUS",
                  latency=rng.choice([100, 4000]), n=i) for i in range(150)]
    expected = history(run(facts))
    arrived = sorted(facts, key=lambda f: f["at"])
    held = arrived[60::7]  # some facts come last, behind the watermark
    arrived = [f for f in arrived if f not in held] + held
    e = engine()
    recorded: dict[str, tuple[int, int | None]] = {}
    checkpoints: list[tuple[int, dict[str, Any]]] = []  # (facts seen, state)
    seen: list[dict[str, Any]] = []
    size = -(-len(arrived) // batches)
    for start in range(0, len(arrived), size):
        for f in arrived[start:start + size]:
            e.ingest(f)
            seen.append(f)
        recorded.update(history(e.advance()))
        for tenant in e.pending_reruns():
            since = e.rerun_from(tenant)["publish"]
            usable = [(n, s) for n, s in checkpoints if s["publish_wm"] is None
                      or s["publish_wm"] < since]
            n, base = usable[-1] if usable else (0, None)
            changes = e.rerun(tenant, seen[n:], base)
            keep = {k for k, v in recorded.items() if base is None or v[0] <= base["publish_wm"]}
            recorded = {k: v for k, v in recorded.items() if k in keep} | history(changes)
            checkpoints = [(m, s) for m, s in checkpoints if m <= n]
        state = e.checkpoint("acme")
        if state is not None:
            checkpoints.append((len(seen), state))
    recorded.update(history(e.advance(to_us(FAR))))
    assert recorded == expected
