"""Compressed event states (issue 19, a smaller store): each state is compressed (zstd with
the store's dictionary) before it is sealed and chained. A store written before — plain
JSON states, no dictionary table, schema version 6 — still reads, verifies and rebuilds,
and takes compressed events beside its old ones; the views of a compressed store are the
same, byte for byte, as those of an uncompressed store given the same input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import zstandard

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.reports.verify import VIEW_TABLES, verify_views
from opsledger.store import events as store_events
from opsledger.store.compress import DICTIONARY_TABLE, MAGIC, StateCodec
from opsledger.store.keys import MAGIC as SEALED


def _import(ops: Operations, sample_dir: Path, tenant: str | None = None) -> None:
    lines = (sample_dir / "saas-ingestion-audit.ndjson").read_bytes().splitlines()
    snapshots = (sample_dir / "downstream-snapshots.ndjson").read_bytes().splitlines()
    if tenant is not None:
        lines, snapshots = ([json.dumps({**json.loads(raw), "tenant_id": tenant}).encode()
                             for raw in source] for source in (lines, snapshots))
    summary = import_pumuki_audit(ops, [lines], register_unknown=True)
    assert summary.imported > 500 and not summary.rejected
    import_snapshots(ops, [snapshots])
    ops.advance_by_event_time()


def _states(ops: Operations) -> list[bytes]:
    """Every stored state, opened with its tenant's key but not decompressed."""
    sql = ops.sql
    rows = sql.fetch(f"SELECT {sql.state_bytes()} AS state FROM {sql.table(sql.events_table)} "
                     f"ORDER BY {sql.position_column()}")
    return [ops.keyring.open(bytes(row["state"])) or b"" for row in rows]


def _sealed(ops: Operations) -> tuple[list[bytes], list[bytes]]:
    """The states sealed with a tenant's key (opened), and the plain ones."""
    sql = ops.sql
    rows = sql.fetch(f"SELECT {sql.state_bytes()} AS state FROM {sql.table(sql.events_table)}")
    states = [bytes(row["state"]) for row in rows]
    return ([ops.keyring.open(s) or b"" for s in states if s.startswith(SEALED)],
            [s for s in states if not s.startswith(SEALED)])


def _views(ops: Operations) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table (log positions included), in key order."""
    ops.catch_up()
    return {table: [tuple(row.values()) for row in ops.sql.fetch(
        f"SELECT * FROM {ops.sql.table(table)} ORDER BY {order}, 1")]
        for table, order in VIEW_TABLES.items()}


def _make_older(db: str) -> None:
    """The layout before compression: no dictionary table, schema version 6."""
    with Operations.open(db) as ops:
        sql = ops.sql
        with sql.transaction(commit=True) as cursor:
            sql.execute(cursor, f"DROP TABLE {sql.table(DICTIONARY_TABLE)}")
            sql.execute(cursor, f"UPDATE {sql.table('opsledger_schema')} SET version = 6")


@contextmanager
def _uncompressed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stores opened inside write plain JSON states, as before compression."""
    with monkeypatch.context() as patch:
        patch.setattr(store_events, "StateCodec", partial(StateCodec, compress=False))
        yield


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_store_written_before_compression_reads_verifies_and_rebuilds(
        db: str, sample_dir: Path, snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with _uncompressed(monkeypatch), Operations.open(db) as ops:
        _import(ops, sample_dir)
    _make_older(db)
    with Operations.open(db) as ops:
        old = _states(ops)
        assert old and all(state.startswith(b"{") for state in old)
        tables = ops.sql.fetch(f"SELECT dict_id FROM {ops.sql.table(DICTIONARY_TABLE)}")
        assert len(tables) == 1  # the upgrade wrote the dictionary
        before = snapshot(ops)  # decodes every old event
        assert ops.verify_chain().ok and verify_views(ops).ok
        _import(ops, sample_dir, tenant="tenant-after")
        retries = [json.dumps({**line, "event_id": "retry-" + line["event_id"]}).encode()
                   for line in map(json.loads, (sample_dir / "saas-ingestion-audit.ndjson")
                                   .read_bytes().splitlines()[:50])]
        summary = import_pumuki_audit(ops, [retries])  # appended to the old batches' streams
        assert summary.imported == 50 and not summary.rejected
        mixed = _states(ops)
        assert mixed[:len(old)] == old
        assert all(state.startswith(MAGIC) for state in mixed[len(old):])
        assert ops.verify_chain().ok and verify_views(ops).ok
        grown = snapshot(ops)
        assert grown["views"] != before["views"]
        ops.views.rebuild()
        assert snapshot(ops) == grown
    with Operations.open(db) as ops:  # a later process reads both kinds from the start
        assert snapshot(ops) == grown and ops.verify_chain().ok


def test_compressed_views_are_byte_identical_to_uncompressed_ones(
        tmp_path: Path, sample_dir: Path, snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with _uncompressed(monkeypatch), Operations.open(f"sqlite:///{tmp_path / 'plain.db'}") as plain:
        _import(plain, sample_dir)
        plain_views, plain_snapshot = _views(plain), snapshot(plain)
        plain_size = sum(map(len, _states(plain)))
    with Operations.open(f"sqlite:///{tmp_path / 'small.db'}") as small:
        _import(small, sample_dir)
        assert sum(map(len, _states(small))) * 2 < plain_size
        assert _views(small) == plain_views
        assert snapshot(small) == plain_snapshot
        small.record_gate_evidence("typecheck", result="pass", by="lead", details={
            "version": "1", "commit": "c0ffee", "source": "remote_ci", "run_ref": "run-1"})
        sealed, plain = _sealed(small)
        assert sealed and all(state.startswith(MAGIC) for state in sealed)
        assert plain and all(state.startswith(b"{") for state in plain)  # no tenant's
        assert small.verify_chain().ok and verify_views(small).ok


def test_compressed_state_is_sealed_with_the_tenants_key(tmp_path: Path,
                                                         sample_dir: Path) -> None:
    with Operations.open(f"sqlite:///{tmp_path / 'store.db'}") as ops:
        _import(ops, sample_dir)
        sql = ops.sql
        rows = sql.fetch(f"SELECT topic, {sql.state_bytes()} AS state FROM "
                         f"{sql.table(sql.events_table)}")
        published = [bytes(r["state"]) for r in rows if r["topic"].endswith("Started")]
        assert published and all(state.startswith(SEALED) for state in published)
        opened = ops.keyring.open(published[0])
        assert opened is not None and opened.startswith(MAGIC)
        assert ops.events.decode_state(published[0])["tenant_id"]  # type: ignore[index]


def test_a_later_dictionary_is_read_from_the_store() -> None:
    samples = [json.dumps({"n": i, "kind": "later", "text": "abc" * (i % 7)}).encode()
               for i in range(400)]
    later = zstandard.train_dictionary(1024, samples, dict_id=0x4F4C7777)
    frame = zstandard.ZstdCompressor(dict_data=later).compress(samples[3])
    asked: list[int] = []

    def loader() -> dict[int, bytes]:
        asked.append(1)
        return {0x4F4C7777: later.as_bytes()}

    codec = StateCodec(loader)
    assert codec.decompress(frame) == samples[3]
    assert codec.decompress(frame) == samples[3] and len(asked) == 1  # held once loaded
    assert codec.decompress(b'{"plain": 1}') == b'{"plain": 1}'
    with pytest.raises(LookupError, match=DICTIONARY_TABLE):
        StateCodec(lambda: {}).decompress(frame)


def test_a_frame_claiming_a_huge_state_is_refused() -> None:
    codec = StateCodec()
    frame = codec.compress(b'{"a": 1}')
    assert codec.decompress(frame) == b'{"a": 1}'
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    unsized = stream.compress(b"{}") + stream.flush()
    with pytest.raises(ValueError, match="claims"):
        codec.decompress(unsized)
