"""The embedding API refuses what it cannot answer with a typed error, never a bare one
(found trying the change as a new user): naive times, reversed ranges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opsledger import FrozenClock, InvalidInput, NaiveDatetime, Operations, Period

T0 = datetime(2026, 11, 3, tzinfo=UTC)


def test_a_naive_or_empty_period_is_refused_with_a_typed_error() -> None:
    with pytest.raises(NaiveDatetime):
        Period(datetime(2026, 11, 3), datetime(2026, 11, 4))
    with pytest.raises(InvalidInput):
        Period(T0, T0)
    assert Period(T0, datetime(2026, 11, 4, tzinfo=UTC)).start == T0


def test_replay_and_sla_refuse_naive_times_and_replay_a_reversed_range() -> None:
    with Operations.open("memory://", clock=FrozenClock(T0)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=None, by="a")
        naive = datetime(2026, 11, 3)
        with pytest.raises(NaiveDatetime):
            ops.replay("acme", naive, naive)
        with pytest.raises(NaiveDatetime):
            ops.sla(naive, naive, tenant_id="acme")
        with pytest.raises(InvalidInput):
            ops.replay("acme", datetime(2026, 11, 4, tzinfo=UTC), T0)
        (registered,) = ops.replay("acme", T0, datetime(2026, 11, 4, tzinfo=UTC))
        assert (registered.kind, registered.at) == ("Tenant.Registered", T0)
