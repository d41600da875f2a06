"""The bench's fast store builder writes the log an import of the same lines writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._rebuild_fast import fast_import
from opsledger import Operations, import_pumuki_audit
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate


def _log(path: Path) -> list[tuple[Any, ...]]:
    with Operations.open(f"sqlite:///{path}") as ops:
        rows = ops.sql.fetch(f"SELECT originator_id, originator_version, topic, state FROM "
                             f"{ops.sql.events_table} ORDER BY rowid")
        out = []
        for row in rows:
            state = ops.events.decode_state(bytes(row["state"]))  # sealed with the tenant's key
            assert state is not None
            state.pop("timestamp")  # when stored: differs between any two imports
            out.append((row["originator_id"], row["originator_version"], row["topic"], state))
    return out


def test_fast_import_stores_the_events_an_import_of_the_same_lines_stores(
        tmp_path: Path) -> None:
    config = SimulationConfig(days=2, tenants=3, seed=5, operations_per_day=1500)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit = tmp_path / "audit.ndjson"
    with audit.open("wb") as out:
        simulate(config, out)
    imported, fast = tmp_path / "imported.db", tmp_path / "fast.db"
    with Operations.open(f"sqlite:///{imported}") as ops, audit.open("rb") as lines:
        expected = import_pumuki_audit(ops, [lines], register_unknown=True)
    with Operations.open(f"sqlite:///{fast}") as ops, audit.open("rb") as lines:
        # a tiny memory bound: batches that come back are loaded from the store
        summary = fast_import(ops, lines, chunks_per_transaction=3, keep=50)
    assert summary.to_dict() == expected.to_dict()
    assert expected.retries and expected.collisions  # the episodes exercise both
    assert _log(fast) == _log(imported)
    assert _identities(fast) == _identities(imported)


def _identities(db: Path) -> list[dict[str, Any]]:
    """The recording path's (tenant, operation id) table: the same rows either way."""
    with Operations.open(f"sqlite:///{db}") as ops:
        return ops.sql.fetch(f"SELECT * FROM {ops.sql.table('publish_identity')} "
                             "ORDER BY tenant_id, operation_id")
