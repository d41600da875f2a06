"""PublishBatch: retries vs idempotency collisions, independent of arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.domain.publish import PublishBatch, batch_uuid

T0 = datetime(2026, 11, 3, 13, 0, tzinfo=UTC)


def op(op_id: str, payload_hash: str) -> dict[str, Any]:
    return {"operation_id": op_id, "payload_hash": payload_hash, "outcome": "success",
            "attempts": 1, "latency_ms": 100, "source": "test", "tenant_mode": "saas"}


def start(op_id: str, payload_hash: str, at: datetime) -> PublishBatch:
    return PublishBatch(tenant_id="t", repository_id="r", idempotency_key="k", key_missing=False,
                        occurred_at=at, operation=op(op_id, payload_hash))


def test_the_batch_id_is_deterministic_per_tenant_repository_and_key() -> None:
    assert batch_uuid("t", "r", "k", "op1") == batch_uuid("t", "r", "k", "op2")
    assert batch_uuid("t", "r", "k", "op1") != batch_uuid("t", "r2", "k", "op1")
    assert start("op1", "a" * 64, T0).id == batch_uuid("t", "r", "k", "op1")


def test_unknown_keys_get_one_batch_per_operation() -> None:
    assert batch_uuid("t", "r", "unknown", "op1") != batch_uuid("t", "r", "unknown", "op2")


@pytest.mark.policy("5.idempotency_key")
def test_same_key_same_hash_is_a_retry() -> None:
    batch = start("op1", "a" * 64, T0)
    assert batch.record(T0 + timedelta(seconds=5), op("op2", "a" * 64)) == "retry"
    assert batch.operations["op2"][2] is False


@pytest.mark.policy("4.high.idempotency_collision_rate")
def test_same_key_different_hash_is_a_collision() -> None:
    batch = start("op1", "a" * 64, T0)
    assert batch.record(T0 + timedelta(seconds=5), op("op2", "b" * 64)) == "collision"


@pytest.mark.policy("4.high.idempotency_collision_rate")
def test_a_late_arriving_earlier_operation_reclassifies_the_collision() -> None:
    batch = start("op-late-hash", "b" * 64, T0 + timedelta(minutes=2))
    # The true original (earlier occurred_at) arrives second: the first arrival is the collision.
    assert batch.record(T0, op("op-original", "a" * 64)) == "original"
    assert batch.payload_hash == "a" * 64
    assert batch.operations["op-late-hash"][2] is True
    events = batch.collect_events()
    assert events[-1].reclassified == [  # type: ignore[attr-defined]
        {"operation_id": "op-late-hash", "occurred_at": (T0 + timedelta(minutes=2)).isoformat(),
         "collision": True}
    ]


def test_recording_the_same_operation_twice_is_refused() -> None:
    batch = start("op1", "a" * 64, T0)
    assert batch.has_operation("op1")
    with pytest.raises(ValueError, match="already recorded"):
        batch.record(T0, op("op1", "a" * 64))


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 600), st.sampled_from(["a" * 64, "b" * 64, "c" * 64])),
        min_size=1, max_size=8, unique_by=lambda x: x[0],
    ),
    data=st.data(),
)
def test_collisions_do_not_depend_on_arrival_order(ops: list[tuple[int, str]], data: Any) -> None:
    items = [(f"op{i}", T0 + timedelta(seconds=s), h) for i, (s, h) in enumerate(ops)]
    earliest = min(items, key=lambda x: (x[1], x[0]))
    expected = {oid: h != earliest[2] for oid, _, h in items}
    order = data.draw(st.permutations(items))
    first, *rest = order
    batch = start(first[0], first[2], first[1])
    for oid, at, h in rest:
        batch.record(at, op(oid, h))
    assert {oid: flags[2] for oid, flags in batch.operations.items()} == expected
    # Replaying the events gives the same state.
    replayed = None
    for e in batch.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.operations == batch.operations
