"""Tamper evidence, by mutation: 1,200 random tamperings, each on a fresh copy of one small
SQLite store (built once), every one detected at the position it was made.

Kinds: a flipped byte or edited value in an event (state, topic, originator id, version),
a deleted event row, a deleted or edited chain link, two events' states swapped, two whole
rows swapped, the tail truncated (against a checkpoint taken before) — all found by the
chain — and an edited view row, found by ``projections verify`` (the chain does not cover
derived state, and holds).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.reports.verify import VIEW_TABLES, verify_views
from opsledger.store.chain import Checkpoint
from opsledger.store.views_db import ViewsFile

KEY = b"mutation-test-key"
CHAIN_TAMPERINGS = 1200
VIEW_TAMPERINGS = 40
Tamper = Callable[[sqlite3.Connection, random.Random, int], int]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The store (events, chain, views all current), WAL checkpointed into the file."""
    sample_dir = Path(__file__).resolve().parents[2] / "opsledger" / "samples"
    path = tmp_path_factory.mktemp("chain") / "pristine.db"
    with Operations.open(f"sqlite:///{path}") as ops:
        import_pumuki_audit(ops, [(sample_dir / "saas-ingestion-audit.ndjson").read_bytes()
                                  .splitlines()], register_unknown=True)
        import_snapshots(ops, [(sample_dir / "downstream-snapshots.ndjson").read_bytes()
                               .splitlines()])
        ops.advance_by_event_time()
        ops.catch_up()
        head = ops.views.head()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, head


def _fresh_copy(pristine: Path, target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, target)
    shutil.copyfile(f"{pristine}.keys", f"{target}.keys")  # the tenants' keys, kept apart
    views, copied = ViewsFile(str(pristine)), ViewsFile(str(target))  # and the views' file
    generation = views.generation()
    if generation is not None:
        for suffix in ("-wal", "-shm"):
            Path(f"{copied.path(generation)}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(views.path(generation), copied.path(generation))
        shutil.copyfile(views.pointer, copied.pointer)


def _row(conn: sqlite3.Connection, n: int) -> tuple[Any, ...]:
    row = conn.execute("SELECT originator_id, originator_version, topic, state "
                       "FROM stored_events WHERE rowid = ?", (n,)).fetchone()
    assert row is not None
    return tuple(row)


def flip_state_byte(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    state = bytearray(_row(conn, n)[3])
    state[rng.randrange(len(state))] ^= rng.randint(1, 255)
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), n))
    return n


def flip_topic_char(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    topic = list(_row(conn, n)[2])
    i = rng.randrange(len(topic))
    topic[i] = chr(ord(topic[i]) ^ rng.choice((1, 2, 4, 8, 16)))
    conn.execute("UPDATE stored_events SET topic = ? WHERE rowid = ?", ("".join(topic), n))
    return n


def flip_originator_digit(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    oid = list(_row(conn, n)[0])
    i = rng.randrange(len(oid))
    oid[i] = rng.choice([c for c in "0123456789abcdef" if c != oid[i]])
    conn.execute("UPDATE stored_events SET originator_id = ? WHERE rowid = ?", ("".join(oid), n))
    return n


def change_version(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    conn.execute("UPDATE stored_events SET originator_version = originator_version + ? "
                 "WHERE rowid = ?", (rng.randint(10**6, 10**9), n))
    return n


def delete_event_row(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    conn.execute("DELETE FROM stored_events WHERE rowid = ?", (n,))
    return n


def delete_chain_link(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    conn.execute("DELETE FROM opsledger_chain WHERE notification_id = ?", (n,))
    return n


def edit_chain_link(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    n = rng.randint(1, head)
    (digest,) = conn.execute("SELECT hash FROM opsledger_chain WHERE notification_id = ?",
                             (n,)).fetchone()
    edited = bytearray(digest)
    edited[rng.randrange(32)] ^= rng.randint(1, 255)
    conn.execute("UPDATE opsledger_chain SET hash = ? WHERE notification_id = ?",
                 (bytes(edited), n))
    return n


def swap_states(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    i, j = sorted(rng.sample(range(1, head + 1), 2))
    a, b = _row(conn, i)[3], _row(conn, j)[3]
    assert a != b
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (b, i))
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (a, j))
    return i


def swap_rows(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    i, j = sorted(rng.sample(range(1, head + 1), 2))
    conn.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = ?", (i,))
    conn.execute("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (i, j))
    conn.execute("UPDATE stored_events SET rowid = ? WHERE rowid = -1", (j,))
    return i


def truncate_tail(conn: sqlite3.Connection, rng: random.Random, head: int) -> int:
    k = rng.randint(1, head)
    conn.execute("DELETE FROM stored_events WHERE rowid >= ?", (k,))
    conn.execute("DELETE FROM opsledger_chain WHERE notification_id >= ?", (k,))
    return k


KINDS: list[Tamper] = [flip_state_byte, flip_topic_char, flip_originator_digit, change_version,
                       delete_event_row, delete_chain_link, edit_chain_link, swap_states,
                       swap_rows, truncate_tail]


@pytest.mark.policy("5.audit_trail")
def test_an_untampered_copy_verifies(pristine: tuple[Path, int], tmp_path: Path) -> None:
    path, head = pristine
    _fresh_copy(path, tmp_path / "copy.db")
    with Operations.open(f"sqlite:///{tmp_path / 'copy.db'}") as ops:
        point = ops.checkpoint(KEY)
        report = ops.verify_chain(checkpoint=Checkpoint.load(point.to_json(), KEY))
        assert (report.ok, report.events_checked, report.first_bad_position) == (True, head, None)
        assert point.n == head
        assert verify_views(ops).ok


@pytest.mark.policy("5.audit_trail")
@pytest.mark.slow  # edits of single rows stay default: test_verify_tamper, the view-row test below
def test_every_random_tampering_of_the_events_or_chain_is_found_where_it_was_made(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path, head = pristine
    with Operations.open(f"sqlite:///{path}") as ops:  # taken before any tampering
        point = Checkpoint.load(ops.checkpoint(KEY).to_json(), KEY)
    rng = random.Random(20261128)
    copy = tmp_path / "copy.db"
    missed: list[tuple[str, int, Any]] = []
    done: Counter[str] = Counter()
    for _ in range(CHAIN_TAMPERINGS):
        tamper = rng.choice(KINDS)
        _fresh_copy(path, copy)
        with sqlite3.connect(copy, isolation_level=None) as conn:
            expected = tamper(conn, rng, head)
        conn.close()
        with Operations.open(f"sqlite:///{copy}") as ops:
            report = ops.verify_chain(checkpoint=point)
        done[tamper.__name__] += 1
        if report.ok or report.first_bad_position != expected:
            missed.append((tamper.__name__, expected, report))
    assert missed == []
    assert sum(done.values()) == CHAIN_TAMPERINGS and set(done) == {k.__name__ for k in KINDS}


@pytest.mark.policy("5.audit_trail")
def test_every_edited_view_row_is_found_by_projections_verify_and_the_chain_still_holds(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path, _ = pristine
    rng = random.Random(8)
    copy = tmp_path / "copy.db"
    tables = [t for t in VIEW_TABLES if t != "slo_policy"]
    missed = []
    for _ in range(VIEW_TAMPERINGS):
        _fresh_copy(path, copy)
        with sqlite3.connect(str(ViewsFile(str(copy)).current_path()),
                             isolation_level=None) as conn:
            conn.row_factory = sqlite3.Row
            table = rng.choice([t for t in tables
                                if conn.execute(f"SELECT 1 FROM {t}").fetchone()])
            row = rng.choice(conn.execute(f"SELECT rowid, * FROM {table}").fetchall())
            column = rng.choice([c for c in row.keys()  # noqa: SIM118 (Row iterates values)
                                 if c not in ("rowid", "notification_id", "position")])
            value = row[column]
            edited = value + 1 if isinstance(value, int | float) else f"{value}~"
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                         (edited, row["rowid"]))
        conn.close()
        with Operations.open(f"sqlite:///{copy}") as ops:
            views = verify_views(ops)
            chain = ops.verify_chain()
        if views.ok or views.table != table or not chain.ok:
            missed.append((table, column, value, views.table, chain))
    assert missed == []
