"""The notification outbox: what someone must be told, derived from the log (policy §3, §4, §7).

Every alert triggered, resolved or withdrawn, every incident opened, acknowledged, changed in
severity, escalated (a missed acknowledgement: to the *secondary* owner) or resolved, every
other missed response deadline (a missed SEV1 status update re-notifies), every refused
go-live activation and compliance breach, and every failed chain verification becomes one
row of ``notifications``, written with the view's tracking position in one transaction: a
crash never loses or doubles one, and a rebuild writes the same rows again.

A row's ``id`` is its **dedup key**: the subject (``alert/<id>``, ``incident/<id>``,
``gate/<environment>``, ``chain``) and the transition, stable across rebuilds and stores
(``alert/<id>/triggered``, ``incident/<id>/missed/status_update/<due>``). ``position`` is
the source event's place in the log: the order in which the notifications of one subject are
delivered (a resolve is never delivered before its trigger).

Delivery state (routes, attempts, backoff) lives in tables the view does not own
(:mod:`opsledger.services.outbox_store`): a rebuild clears and rewrites ``notifications``
but never the record of what was delivered, so nothing is sent twice because of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from opsledger.domain import topics
from opsledger.projections._facts import Fact, iso
from opsledger.projections._sql import SqlStore, create_index

__all__ = ["KINDS", "LEVELS", "NOTIFICATION_COLUMNS", "SEVERITY_LEVELS", "OutboxView"]

#: Every kind of notification (a public contract: routes filter on these).
KINDS = (
    "alert.triggered", "alert.resolved", "alert.withdrawn",
    "incident.opened", "incident.acknowledged", "incident.severity_changed",
    "incident.escalated", "incident.deadline_missed", "incident.resolved",
    "gate.activation_refused", "gate.compliance_breached",
    "integrity.chain_failed",
)
#: Notification levels, most urgent first: the policy's alert levels (an incident's is its
#: severity's: SEV1 critical, SEV2 high, SEV3 medium).
LEVELS = ("critical", "high", "medium")
SEVERITY_LEVELS = {"SEV1": "critical", "SEV2": "high", "SEV3": "medium"}

NOTIFICATION_COLUMNS = ("id", "position", "subject", "kind", "tenant", "level", "audience",
                        "rule", "occurred_at", "summary", "details")
_SUBJECTS = "outbox_subjects"  # subject -> tenant, level, rule, title (later events lack them)
_T = topics


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _time(value: Any) -> str | None:
    return iso(value) if value else None


class OutboxView:
    """Table ``notifications``: one row per notification, keyed by its dedup key."""

    name = "outbox"
    #: Bump when the tables or the rows written change: stores rebuild the view on open
    #: (delivery state is not the view's and survives).
    version: int = 1
    tables: tuple[str, ...] = ("notifications", _SUBJECTS)
    indexes = (("notifications_order", "notifications", "position"),)

    def create_tables(self, sql: SqlStore, cursor: Any) -> None:
        """Create the tables if missing."""
        types = {"position": "BIGINT NOT NULL"}
        cols = ", ".join(f"{c} {types.get(c, 'TEXT')}" for c in NOTIFICATION_COLUMNS)
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table('notifications')} "
                            f"({cols}, PRIMARY KEY (id))")
        sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS {sql.table(_SUBJECTS)} (subject TEXT "
                            "PRIMARY KEY, tenant TEXT, level TEXT, rule TEXT, title TEXT)")
        for index in self.indexes:
            sql.execute(cursor, create_index(sql, *index))

    def clear(self, sql: SqlStore, cursor: Any) -> None:
        """Delete every row (delivery state stays)."""
        sql.execute(cursor, f"DELETE FROM {sql.table('notifications')}")
        sql.execute(cursor, f"DELETE FROM {sql.table(_SUBJECTS)}")

    def apply(self, sql: SqlStore, cursor: Any, facts: Sequence[Fact]) -> None:
        """Turn the batch's events into notifications (a dedup key seen before is kept as
        first written)."""
        batch = _Batch(sql, cursor)
        for fact in facts:
            handler = _HANDLERS.get(fact.topic)
            if handler is not None:
                handler(batch, fact)
            elif fact.topic == _T.ERASURE_TENANT_FORGOTTEN:
                batch.flush()
                _forget(sql, cursor, str(fact.state["tenant_id"]))
        batch.flush()


class _Batch:
    """The rows of one batch, and the subjects it has seen (read from the table once)."""

    def __init__(self, sql: SqlStore, cursor: Any) -> None:
        self.sql, self.cursor = sql, cursor
        self.rows: list[tuple[Any, ...]] = []
        self.subjects: dict[str, tuple[str | None, str, str | None, str | None]] = {}
        self.changed: set[str] = set()

    def subject(self, key: str) -> tuple[str | None, str, str | None, str | None]:
        """(tenant, level, rule, title) of a subject seen before (unknown: medium, none)."""
        known = self.subjects.get(key)
        if known is None:
            row = self.sql.fetch_one(self.cursor, f"SELECT tenant, level, rule, title FROM "
                                                  f"{self.sql.table(_SUBJECTS)} WHERE subject = ?",
                                     (key,))
            known = (row["tenant"], row["level"], row["rule"], row["title"]) if row else \
                (None, "medium", None, None)
            self.subjects[key] = known
        return known

    def remember(self, key: str, tenant: str | None, level: str, rule: str | None,
                 title: str | None) -> None:
        """Record what later events of the subject will not carry."""
        self.subjects[key] = (tenant, level, rule, title)
        self.changed.add(key)

    def add(self, fact: Fact, key: str, subject: str, kind: str, summary: str,
            details: dict[str, Any], audience: str = "primary", at: Any = None) -> None:
        """One notification of ``subject`` (its tenant, level and rule as last remembered)
        that occurred at ``at`` (default: the event's ``occurred_at``)."""
        tenant, level, rule, _ = self.subject(subject)
        self.rows.append((key, fact.position, subject, kind, tenant, level, audience, rule,
                          iso(at or fact.state["occurred_at"]), summary[:1000],
                          _json(details)))

    def flush(self) -> None:
        """Write the rows and the subjects changed."""
        sql, cursor = self.sql, self.cursor
        sql.executemany(cursor, f"INSERT INTO {sql.table('notifications')} VALUES "
                                f"({', '.join('?' * len(NOTIFICATION_COLUMNS))}) "
                                "ON CONFLICT (id) DO NOTHING", self.rows)
        sql.executemany(cursor, f"INSERT INTO {sql.table(_SUBJECTS)} VALUES (?, ?, ?, ?, ?) "
                                "ON CONFLICT (subject) DO UPDATE SET tenant = excluded.tenant, "
                                "level = excluded.level, rule = excluded.rule, "
                                "title = excluded.title",
                        [(k, *self.subjects[k]) for k in sorted(self.changed)])
        self.rows, self.changed = [], set()


def _forget(sql: SqlStore, cursor: Any, tenant: str) -> None:
    """A forgotten tenant's notifications go, with what the outbox held of their delivery."""
    for table in ("notifications", _SUBJECTS):
        sql.execute(cursor, f"DELETE FROM {sql.table(table)} WHERE tenant = ?", (tenant,))
    if sql.table_exists(cursor, "notification_deliveries"):
        sql.execute(cursor, f"DELETE FROM {sql.table('notification_attempts')} WHERE "
                            f"delivery_id IN (SELECT id FROM "
                            f"{sql.table('notification_deliveries')} WHERE tenant = ?)", (tenant,))
        sql.execute(cursor, f"DELETE FROM {sql.table('notification_deliveries')} "
                            "WHERE tenant = ?", (tenant,))


# ---- events -> notifications ------------------------------------------------------------
def _alert_triggered(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"alert/{f.stream_id}"
    b.remember(subject, s["tenant_id"], s["level"], s["rule"], None)
    details = s.get("details") or {}
    b.add(f, f"{subject}/triggered", subject, "alert.triggered",
          f"{s['level']} alert {s['rule']} for tenant {s['tenant_id']}: observed "
          f"{_num(s['observed'])} vs threshold {_num(s['threshold'])}",
          {"alert_id": f.stream_id, "observed": s["observed"], "threshold": s["threshold"],
           "window_start": _time(s["window_start"]), "window_end": _time(s["window_end"]),
           "repository": s["repository_id"], "backfilled": bool(details.get("backfilled"))})


def _alert_resolved(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"alert/{f.stream_id}"
    b.add(f, f"{subject}/resolved", subject, "alert.resolved",
          f"resolved: alert {s['rule']} for tenant {s['tenant_id']} ({s['reason']})",
          {"alert_id": f.stream_id, "reason": s["reason"]})


def _alert_revised(b: _Batch, f: Fact) -> None:
    """A revision has no ``occurred_at``: it happened when it was found (``found_at``)."""
    s, subject = f.state, f"alert/{f.stream_id}"
    if s["withdrawn"]:
        b.add(f, f"{subject}/withdrawn", subject, "alert.withdrawn",
              f"withdrawn: alert {s['rule']} for tenant {s['tenant_id']} never held "
              f"({s['reason']})", {"alert_id": f.stream_id, "reason": s["reason"]},
              at=s["found_at"])
    elif s["resolved_at"]:
        b.add(f, f"{subject}/resolved", subject, "alert.resolved",
              f"resolved: alert {s['rule']} for tenant {s['tenant_id']} ({s['reason']})",
              {"alert_id": f.stream_id, "reason": s["reason"],
               "resolved_at": _time(s["resolved_at"])}, at=s["found_at"])


def _incident_opened(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"incident/{f.stream_id}"
    b.remember(subject, s["tenant_id"], SEVERITY_LEVELS[s["severity"]], None, s["title"])
    b.add(f, f"{subject}/opened", subject, "incident.opened",
          f"{s['severity']} incident opened: {s['title']}",
          {"incident_id": f.stream_id, "severity": s["severity"], "title": s["title"],
           "cause": s["cause"], "alert_ids": list(s["alert_ids"]), "by": s["by"],
           "deadlines": {k: _time(d["due_at"]) for k, d in sorted(s["deadlines"].items())}})


def _incident_acknowledged(b: _Batch, f: Fact) -> None:
    subject = f"incident/{f.stream_id}"
    title = b.subject(subject)[3]
    b.add(f, f"{subject}/acknowledged", subject, "incident.acknowledged",
          f"acknowledged by {f.state['by']}: {title}",
          {"incident_id": f.stream_id, "title": title, "by": f.state["by"]})


def _incident_severity(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"incident/{f.stream_id}"
    tenant, _, rule, title = b.subject(subject)
    b.remember(subject, tenant, SEVERITY_LEVELS[s["severity"]], rule, title)
    b.add(f, f"{subject}/severity/{iso(s['occurred_at'])}", subject,
          "incident.severity_changed", f"{s['previous']} -> {s['severity']}: {title}",
          {"incident_id": f.stream_id, "title": title, "previous": s["previous"],
           "severity": s["severity"], "reason": s["reason"], "by": s["by"]})


def _incident_missed(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"incident/{f.stream_id}"
    title, kind, due = b.subject(subject)[3], s["kind"], iso(s["due_at"])
    details = {"incident_id": f.stream_id, "title": title, "deadline": kind, "due_at": due}
    if kind == "acknowledge":  # policy §7: the secondary owner is told
        b.add(f, f"{subject}/escalated/{due}", subject, "incident.escalated",
              f"escalated to {s['escalated_to']}: not acknowledged by {due}: {title}",
              dict(details, escalated_to=s["escalated_to"]), audience="secondary")
    else:
        b.add(f, f"{subject}/missed/{kind}/{due}", subject, "incident.deadline_missed",
              f"missed {kind} deadline (due {due}): {title}", details)


def _incident_resolved(b: _Batch, f: Fact) -> None:
    s, subject = f.state, f"incident/{f.stream_id}"
    title = b.subject(subject)[3]
    b.add(f, f"{subject}/resolved", subject, "incident.resolved",
          f"resolved by {s['by']}: {title}",
          {"incident_id": f.stream_id, "title": title, "summary": s["summary"], "by": s["by"]})


def _gate_refused(b: _Batch, f: Fact) -> None:
    s = f.state
    subject = f"gate/{s['environment']}"
    b.remember(subject, None, "high", None, None)
    b.add(f, f"{subject}/refused/{iso(s['occurred_at'])}", subject, "gate.activation_refused",
          f"SaaS activation of {s['version']} refused in {s['environment']} "
          f"({len(s['refusals'])} check(s) not passed)",
          {"environment": s["environment"], "version": s["version"], "by": s["by"],
           "refusals": list(s["refusals"])})


def _gate_breached(b: _Batch, f: Fact) -> None:
    s = f.state
    subject = f"gate/{s['environment']}"
    b.remember(subject, None, "high", None, None)
    due = iso(s["due_at"])
    b.add(f, f"{subject}/breach/{s['kind']}/{due}", subject, "gate.compliance_breached",
          f"compliance breached in {s['environment']}: {s['kind']} not done by {due}",
          {"environment": s["environment"], "constraint": s["kind"], "due_at": due})


def _chain_failed(b: _Batch, f: Fact) -> None:
    s, at = f.state, iso(f.state["occurred_at"])
    b.remember("chain", None, "critical", None, None)
    b.add(f, f"chain/failed/{s['first_bad_position']}/{f.stream_id}", "chain",
          "integrity.chain_failed",
          f"hash chain verification failed at position {s['first_bad_position']}: "
          f"{s['reason']}",
          {"first_bad_position": s["first_bad_position"], "reason": s["reason"],
           "events_checked": s["events_checked"], "found_at": at})


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


_HANDLERS = {
    _T.ALERT_TRIGGERED: _alert_triggered,
    _T.ALERT_RESOLVED: _alert_resolved,
    _T.ALERT_REVISED: _alert_revised,
    _T.INCIDENT_OPENED: _incident_opened,
    _T.INCIDENT_ACKNOWLEDGED: _incident_acknowledged,
    _T.INCIDENT_SEVERITY_CHANGED: _incident_severity,
    _T.INCIDENT_DEADLINE_MISSED: _incident_missed,
    _T.INCIDENT_RESOLVED: _incident_resolved,
    _T.GO_LIVE_GATE_ACTIVATION_REFUSED: _gate_refused,
    _T.GO_LIVE_GATE_COMPLIANCE_BREACHED: _gate_breached,
    _T.INTEGRITY_ALARM_CHAIN_FAILED: _chain_failed,
}
