"""The runner's side of a stopped view, on every backend: a view that fails during a load
from zero (rows staged, indexes deferred) or in a batch that reaches the head stops alone,
and a retry after the fault is gone ends where an uninterrupted run ends, row for row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opsledger.projections import Fact, SloView, SqlStore
from opsledger.projections.retention import RetentionView

from opsledger import Operations, import_pumuki_audit
from opsledger.reports.verify import verify_views

# The PostgreSQL variant runs in the slow tier; memory/SQLite stay in the default one.
POSTGRES_SLOW = pytest.param("postgres", marks=pytest.mark.slow)


class Broken(ValueError):
    """The injected view bug."""


def _break(monkeypatch: pytest.MonkeyPatch, view: type[Any], at: list[int]) -> None:
    """Make ``view.apply`` fail on any batch holding the event at ``at[0]`` (while set)."""
    original = view.apply

    def apply(self: Any, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        if at and any(f.position == at[0] for f in facts):
            raise Broken("x" * 500)  # a long message is cut in the status
        original(self, sql, cursor, facts)

    monkeypatch.setattr(view, "apply", apply)


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_a_view_failing_in_a_load_from_zero_stops_alone_and_resumes(
    store_url: str, sample_audit: Path, snapshot: Any, monkeypatch: pytest.MonkeyPatch,
    bulk: bool
) -> None:
    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        ops.advance_by_event_time()
        ops.catch_up()
        uninterrupted = snapshot(ops)
        head = ops.views.head()
        at = [head - 5]
        _break(monkeypatch, SloView, at)
        ops.views.bulk_from = 1 if bulk else 10**9
        ops.views.rebuild(batch_size=100)

        status = {s.view: s for s in ops.view_status()}
        slo = status["slo"]
        assert (slo.stopped, slo.failed_at, slo.error_type) == (True, head - 5, "Broken")
        assert slo.position < head - 5 and slo.message is not None
        assert len(slo.message) <= 200
        assert status["retention"].stopped and status["retention"].failed_at == head - 5
        assert all(not status[v].stopped and status[v].lag == 0
                   for v in ("audit", "alerts", "incidents"))
        assert ops.catch_up() == 0  # a stopped view is not retried by a plain catch-up
        assert ops.view_status()[1].stopped

        ops.views.rebuild(views=["audit"], batch_size=100)  # another view rebuilds meanwhile
        assert {s.view for s in ops.view_status() if s.stopped} == {"slo", "retention"}

        at.clear()
        ops.catch_up(retry=True)
        assert not any(s.stopped or s.lag for s in ops.view_status())
        assert snapshot(ops) == uninterrupted
        assert verify_views(ops).ok  # every view table equals a rebuild from zero


def test_views_must_follow_the_views_they_depend_on(store_url: str) -> None:
    with Operations.open(store_url) as ops:
        views = list(ops.views.views)
        with pytest.raises(ValueError, match="retention"):
            type(ops.views)(ops.app.recorder, ops.sql,
                            [views[-1], *views[:-1]], decode=ops.events.decode_state)
        assert isinstance(views[-1], RetentionView)


@pytest.mark.parametrize("store_url", ["memory", "sqlite", POSTGRES_SLOW], indirect=True)
def test_forgetting_a_tenant_while_a_view_is_stopped_leaves_none_of_its_rows(
    store_url: str, sample_audit: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention waits while slo is stopped, but the erasure still purges every view: the
    stopped one resumes without the tenant (its events can no longer be opened)."""
    from opsledger.projections.retention import PURGED

    with Operations.open(store_url) as ops:
        import_pumuki_audit(ops, [sample_audit.read_bytes().splitlines()],
                            register_unknown=True)
        at = [ops.views.head() - 50]
        _break(monkeypatch, SloView, at)
        ops.catch_up()
        assert {s.view for s in ops.view_status() if s.stopped} == {"slo", "retention"}
        ops.forget_tenant("tenant-solo", by="dpo", reason="contract ended")

        def left() -> dict[str, int]:
            counts = {}
            for table, column, extra in PURGED:
                rows = ops.sql.fetch(f"SELECT COUNT(*) AS n FROM {ops.sql.table(table)} "
                                     f"WHERE {column} = ?{extra}", ("tenant-solo",))
                counts[table] = int(rows[0]["n"])
            return {t: n for t, n in counts.items() if n}

        assert left() == {}
        at.clear()
        ops.catch_up(retry=True)
        assert not any(s.stopped or s.lag for s in ops.view_status())
        assert left() == {}
        assert verify_views(ops).ok
