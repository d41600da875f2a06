"""View versions: which layout and rules of each view built the rows a store holds.

Every view class declares ``version: int`` and the ``tables`` it owns. The runner keeps
``opsledger_view_versions`` (view name -> version) beside ``opsledger_tracking``; a view
whose recorded version differs from its class's is *outdated*: its tables are dropped and
created again (so a new or changed column never needs a hand migration), its tracking goes
back to zero and it is applied again from the first event, with the views that write into
its tables (``depends_on``). A view with no recorded version was built before versions
existed: it counts as version 1, the version every view had then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opsledger.projections import _status
from opsledger.projections._isolation import TRACKING, with_dependents
from opsledger.projections._sql import SqlStore

__all__ = ["UNVERSIONED", "VERSIONS", "create_table", "drop_tables", "outdated", "read",
           "record", "reset_outdated"]

VERSIONS = "opsledger_view_versions"
#: The version of a view built before views declared one.
UNVERSIONED = 1


def create_table(sql: SqlStore, cursor: Any) -> None:
    """Create the versions table if missing."""
    sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(VERSIONS)} "
                        "(view_name TEXT PRIMARY KEY, version BIGINT NOT NULL)")


def read(sql: SqlStore, cursor: Any) -> dict[str, int]:
    """Every recorded view version (empty when the store has no versions table)."""
    if not sql.table_exists(cursor, VERSIONS):
        return {}
    sql.execute(cursor, f"SELECT view_name, version FROM {sql.table(VERSIONS)}")
    return {str(r["view_name"]): int(r["version"]) for r in cursor.fetchall()}


def outdated(views: Sequence[Any], recorded: dict[str, int]) -> list[str]:
    """The names of ``views`` whose recorded version is not their class's."""
    return [v.name for v in views if recorded.get(v.name, UNVERSIONED) != v.version]


def record(sql: SqlStore, cursor: Any, views: Sequence[Any], *, only_new: bool = False
           ) -> None:
    """Record each view's version (with ``only_new``, only for views the store does not
    track yet: a view tracked before versions existed stays unversioned)."""
    for view in views:
        if only_new:
            sql.execute(cursor, f"INSERT INTO {sql.table(VERSIONS)} SELECT ?, ? WHERE NOT "
                                f"EXISTS (SELECT 1 FROM {sql.table(TRACKING)} "
                                "WHERE view_name = ?) ON CONFLICT (view_name) DO NOTHING",
                        (view.name, view.version, view.name))
        else:
            sql.execute(cursor, f"INSERT INTO {sql.table(VERSIONS)} VALUES (?, ?) ON CONFLICT "
                                "(view_name) DO UPDATE SET version = excluded.version",
                        (view.name, view.version))


def drop_tables(sql: SqlStore, cursor: Any, view: Any) -> None:
    """Drop the tables ``view`` owns (their indexes go with them)."""
    for table in view.tables:
        sql.execute(cursor, f"DROP TABLE IF EXISTS {sql.table(table)}")


def reset_outdated(sql: SqlStore, cursor: Any, views: Sequence[Any]) -> list[str]:
    """In the caller's transaction: drop and create again the tables of every outdated
    view, clear the views that depend on one, put all of them back to position zero and
    running, and record every view's version. Returns the names of the views reset."""
    stale = outdated(views, read(sql, cursor))
    chosen = with_dependents(views, stale) if stale else []
    _status.create_table(sql, cursor)
    create_table(sql, cursor)
    for view in chosen:
        if view.name in stale:
            drop_tables(sql, cursor, view)
        view.create_tables(sql, cursor)
        view.clear(sql, cursor)
        sql.execute(cursor, f"INSERT INTO {sql.table(TRACKING)} VALUES (?, 0) "
                            "ON CONFLICT (view_name) DO UPDATE SET notification_id = 0",
                    (view.name,))
    _status.clear(sql, cursor, [v.name for v in chosen])
    record(sql, cursor, views)
    return [v.name for v in chosen]
