"""``opsledger doctor``: check a store and say, for each finding, what to do about it.

Checks (read-only: the doctor changes nothing): stopped views (where and why), views and
the alert process behind the newest event, the hash chain (its newest
:data:`CHAIN_TAIL` links, or all of it with ``full``), the tenant key store (present; on
SQLite a key file readable by group or others is flagged) and the schema version. Each
finding is a :class:`Finding`; :class:`Diagnosis` is healthy when none needs action.
"""

from __future__ import annotations

import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.persistence import PersistenceError

from opsledger.projections import ViewStatus

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = ["CHAIN_TAIL", "Diagnosis", "Finding", "alert_process_status", "diagnose",
           "key_file_finding"]

#: How many of the newest chain links the quick chain check walks.
CHAIN_TAIL = 1000
Level = Literal["ok", "info", "action"]


@dataclass(frozen=True)
class Finding:
    """One check's result: ``level`` is ``ok``, ``info`` (worth knowing) or ``action``
    (needs someone to act); ``fix`` says how when there is something to do."""

    check: str
    level: Level
    message: str
    fix: str | None = None
    subject: str | None = None
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Diagnosis:
    """Every finding; ``healthy`` when none needs action (the CLI's exit 0)."""

    findings: tuple[Finding, ...]

    @property
    def healthy(self) -> bool:
        """True when no finding needs action."""
        return all(f.level != "action" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``healthy`` and the findings."""
        return {"healthy": self.healthy, "findings": [f.to_dict() for f in self.findings]}


def diagnose(ops: Operations, *, full: bool = False) -> Diagnosis:
    """Run every check on the open store (``full``: walk the whole hash chain)."""
    findings = [*_views(ops), _alert_process(ops), _chain(ops, full), _keys(ops),
                _schema(ops)]
    return Diagnosis(tuple(findings))


def _views(ops: Operations) -> list[Finding]:
    found = []
    for s in ops.view_status():
        if s.stopped:
            found.append(Finding(
                "view", "action", f"view {s.view!r} stopped at event {s.failed_at} "
                f"({s.error_type}: {s.message}); it answers from its rows up to {s.position}",
                _fix(s.view, s.error_type), s.view, s.failed_at))
        elif s.lag:
            found.append(Finding(
                "view", "info", f"view {s.view!r} is {s.lag} events behind the head "
                f"({s.position} of {s.head})",
                "run `opsledger projections catch-up` (any read catches up too)",
                s.view, s.position))
        else:
            found.append(Finding("view", "ok", f"view {s.view!r} is at the head ({s.head})",
                                 subject=s.view, position=s.position))
    return found


def _fix(view: str, error_type: str | None) -> str:
    if error_type == "ViewStopped":  # waits for a view whose tables it writes into
        return ("it resumes with the view it waits for: fix that one, then `opsledger "
                "projections catch-up --retry` resumes both")
    return (f"run `opsledger projections rebuild --view {view}` after upgrading (or fixing "
            "the cause); `opsledger projections catch-up --retry` resumes it where it stopped")


def alert_process_status(ops: Operations) -> ViewStatus | None:
    """The alert process follows the log like a view: its position (from its own state
    table) against the head; None when the store has no such state."""
    from opsledger.services import alerting
    try:
        position = alerting.position(ops.events)
    except PersistenceError:  # a store without (this shape of) the table
        return None
    return ViewStatus("alert-process", position, ops.views.head())


def _alert_process(ops: Operations) -> Finding:
    status = alert_process_status(ops)
    if status is None:
        return Finding("alert-process", "info", "alert process position unknown",
                       subject="alert-process")
    if status.lag:
        return Finding("alert-process", "info", f"the alert process has evaluated up to "
                       f"event {status.position} of {status.head}", "run `opsledger alerts "
                       "--all-tenants` (it evaluates the new facts)", "alert-process",
                       status.position)
    return Finding("alert-process", "ok", f"the alert process is at the head ({status.head})",
                   subject="alert-process", position=status.position)


def _chain(ops: Operations, full: bool) -> Finding:
    head = ops.views.head()
    start = None if full else max(head - CHAIN_TAIL + 1, 1)
    report = ops.verify_chain(start)
    scope = "every link" if full or not start or start == 1 else \
        f"the newest {report.events_checked} links"
    if report.ok:
        return Finding("chain", "ok", f"hash chain holds ({scope} checked)",
                       None if full else "run `opsledger verify` for the whole chain "
                       "(with `--checkpoint FILE` against a signed checkpoint)")
    return Finding("chain", "action", f"hash chain broken at event {report.first_bad_position}:"
                   f" {report.reason}", "the stored history was altered: run `opsledger verify "
                   "--json`, restore the store from a backup and compare", "chain",
                   report.first_bad_position)


def key_file_finding(path: Path) -> Finding:
    """The SQLite key file: missing, readable by group/others, or fine (never changes it)."""
    if not path.exists():
        return Finding("keys", "action", f"key store {path} is missing: encrypted tenants' "
                       "events cannot be read", "restore the key file from a backup")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Finding("keys", "action", f"key store {path} is readable by group or others "
                       f"(mode {mode:04o}): the tenants' keys are exposed",
                       f"run `chmod 600 {path}`")
    return Finding("keys", "ok", f"key store {path} is private (mode {mode:04o})")


def _keys(ops: Operations) -> Finding:
    store = ops.store
    if store.kind == "sqlite" and store.path:
        return key_file_finding(Path(f"{store.path}.keys"))
    if store.kind == "postgresql":
        from opsledger.store.keys import KEYS

        try:
            ops.sql.fetch(f"SELECT COUNT(*) AS n FROM {ops.sql.table(KEYS)}")
        except PersistenceError as exc:  # the table is the key store: missing is the finding
            return Finding("keys", "action", f"key store table {KEYS} cannot be read "
                           f"({type(exc).__name__})", "restore the key table from a backup")
        return Finding("keys", "ok", f"key store table {KEYS} present")
    return Finding("keys", "ok", "in-memory store: keys live in memory")


def _schema(ops: Operations) -> Finding:
    from opsledger.store.events import SCHEMA_TABLE, SCHEMA_VERSION

    rows = ops.sql.fetch(f"SELECT version FROM {ops.sql.table(SCHEMA_TABLE)}")
    version = int(rows[0]["version"]) if rows else None
    if version != SCHEMA_VERSION:
        return Finding("schema", "action", f"schema version {version}, this opsledger "
                       f"expects {SCHEMA_VERSION}", "open the store with this version once "
                       "(any command) to upgrade it")
    return Finding("schema", "ok", f"schema version {version}")
